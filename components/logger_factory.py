"""`LoggerFactory`: the loggers of one run (CSV, TensorBoard, terminal lines, progress), and what they opened."""

from __future__ import annotations

import threading
from typing import Callable, Sequence

from components.loggers import CSVLogger, Dispatcher, Logger, TerminalLogger, TimeFilter, Unclosed
from components.tensorboard_logger import (
    TensorBoardLogger,
    TensorBoardWriter,
    label_kind,
    summary_writer_class,
    tensorboard_available,
)


class LoggerFactory:
    """`factory(label) -> Logger`: CSV under `directory` plus a time-filtered terminal line; `close()` ends them.

    Every row reaches the CSV file; the terminal gets at most one line per
    `terminal_interval` seconds per label, except labels in `always_print`
    (labels outside `terminal_labels`, when given, stay off the terminal).
    `append` continues existing CSV files (a resumed run) instead of starting them afresh.

    `tensorboard`: also write TensorBoard event files into `directory`,
    through one `SummaryWriter` shared by every label's logger (so one event
    file per factory; tags from `tensorboard_tag`). None: when the
    `tensorboard` package imports; False: never; True: always, raising
    `TensorBoardUnavailable` (naming the `tensorboard` extra) here when it is
    missing. Without a `directory` nothing is written. A resumed run passes
    the step from which the earlier run's events are hidden as
    `tensorboard_purge_step`. `score_key`: see `tensorboard_tag`.

    `progress`: a sink (the progress bar) that gets the rows of the training
    labels ("train", "train_actor<i>") and of "eval"; it is not closed here.
    `print_line`: how terminal lines are printed (see `TerminalLogger`).

    The factory owns what its loggers open: `close()` (idempotent) flushes and
    closes every CSV file and the event file; rows written afterwards are
    dropped. Closing one logger it made closes that logger's CSV file only.
    """

    def __init__(self, directory: str | None, terminal_interval: float = 5.0,
                 terminal_labels: Sequence[str] | None = None, always_print: Sequence[str] = (),
                 append: bool = False, tensorboard: bool | None = None, tensorboard_purge_step: int | None = None,
                 progress: Logger | None = None, print_line: Callable[[str], None] | None = None,
                 score_key: str | None = None) -> None:
        self.directory = directory
        self._terminal_interval = terminal_interval
        self._terminal_labels = None if terminal_labels is None else tuple(terminal_labels)
        self._always_print = tuple(always_print)
        self._append = append
        self._purge_step = tensorboard_purge_step
        self._progress = progress
        self._print_line = print_line
        self._score_key = score_key
        self._use_tensorboard = directory is not None and tensorboard is not False
        if self._use_tensorboard:
            if tensorboard:
                summary_writer_class()  # Raises TensorBoardUnavailable, naming the extra, before any run starts.
            else:
                self._use_tensorboard = tensorboard_available()
        self._writer: TensorBoardWriter | None = None  # Opened with the first logger.
        self._loggers: list[Logger] = []
        self._lock = threading.Lock()
        self.closed = False

    def __call__(self, label: str) -> Logger:
        with self._lock:
            if self.closed:
                raise RuntimeError("LoggerFactory: closed; it makes no more loggers.")
            sinks: list[Logger] = []
            if self.directory is not None:
                sinks.append(CSVLogger(self.directory, label, append=self._append))
            if self._use_tensorboard:
                if self._writer is None:
                    self._writer = TensorBoardWriter(self.directory, self._purge_step)
                sinks.append(TensorBoardLogger(self._writer, label, score_key=self._score_key))
            if self._progress is not None and label_kind(label) in ("train", "eval"):
                sinks.append(Unclosed(self._progress))
            if self._terminal_labels is None or label in self._terminal_labels:
                interval = 0.0 if label in self._always_print else self._terminal_interval
                sinks.append(TimeFilter(TerminalLogger(label, self._print_line), interval))
            logger = Dispatcher(sinks)
            self._loggers.append(logger)
            return logger

    @property
    def tensorboard_writer(self) -> TensorBoardWriter | None:
        """The shared TensorBoard writer (None before the first logger, or without TensorBoard)."""
        return self._writer

    def close(self) -> None:
        """Closes every logger made here and the TensorBoard writer (its last rows reach the event file)."""
        with self._lock:
            if self.closed:
                return
            self.closed = True
            loggers, writer = self._loggers, self._writer
            self._loggers = []
        try:
            for logger in loggers:
                logger.close()
        finally:
            if writer is not None:
                writer.close()

    def __enter__(self) -> "LoggerFactory":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
