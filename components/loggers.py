"""Loggers: write dicts of scalars to the terminal, CSV files, or several places at once.

TensorBoard's logger is in `components.tensorboard_logger`; the loggers of a run (CSV, TensorBoard,
terminal, progress) are made by `components.logger_factory.LoggerFactory`."""

from __future__ import annotations

import abc
import csv
import os
import threading
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

LoggingData = Mapping[str, Any]


def to_scalar(value: Any) -> Any:
    """numpy / torch scalars become Python numbers so every sink prints them alike."""
    if hasattr(value, "item") and getattr(value, "ndim", 0) == 0:
        return value.item()
    return value


class Logger(abc.ABC):
    """Writes one row of named values."""

    @abc.abstractmethod
    def write(self, data: LoggingData) -> None:
        """Writes a row."""

    def close(self) -> None:
        """Flushes and releases resources."""


class NoOpLogger(Logger):
    """Discards everything (for fast tests and quiet nodes)."""

    def write(self, data: LoggingData) -> None:
        pass


def print_to_stdout(line: str) -> None:
    """The default `print_line`: one line on stdout, flushed."""
    print(line, flush=True)


class TerminalLogger(Logger):
    """Hands `[label] key = value | ...` lines to `print_line` (default: stdout; a progress bar passes its own,
    which prints them so they do not collide with the bar)."""

    def __init__(self, label: str = "", print_line: Callable[[str], None] | None = None) -> None:
        self._label = label
        self._print_line = print_line or print_to_stdout

    @staticmethod
    def _format(value: Any) -> str:
        value = to_scalar(value)
        if isinstance(value, float):
            return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"
        return str(value)

    def write(self, data: LoggingData) -> None:
        body = " | ".join(f"{k} = {self._format(v)}" for k, v in sorted(data.items()))
        prefix = f"[{self._label}] " if self._label else ""
        self._print_line(prefix + body)


class CSVLogger(Logger):
    """Appends rows to `directory/label.csv`.

    A row with keys the header lacks widens the header: the file is rewritten
    once with the new columns (rare: keys settle after the first rows), so no
    value is dropped and no rows are held in memory. Rows written after
    `close` are dropped (a late row of a node the run already closed).
    """

    def __init__(self, directory: str, label: str, append: bool = False) -> None:
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, f"{label}.csv")
        self._fields: list[str] = []
        self._lock = threading.Lock()
        if append and os.path.exists(self.path):  # A resumed run continues the file under its header.
            with open(self.path, newline="") as f:
                self._fields = list(csv.DictReader(f).fieldnames or [])
        self._file = open(self.path, "a" if self._fields else "w", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=self._fields, restval="")
        self._closed = False

    def write(self, data: LoggingData) -> None:
        row = {k: to_scalar(v) for k, v in data.items()}
        with self._lock:
            if self._closed:
                return
            new_keys = [k for k in row if k not in self._fields]
            if new_keys:
                self._widen(new_keys)
            self._writer.writerow(row)
            self._file.flush()

    def _widen(self, new_keys: list[str]) -> None:
        self._file.close()
        with open(self.path, newline="") as f:
            old_rows = list(csv.DictReader(f))
        self._fields = self._fields + new_keys
        self._file = open(self.path, "w", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=self._fields, restval="")
        self._writer.writeheader()
        self._writer.writerows(old_rows)

    def close(self) -> None:
        with self._lock:
            self._closed = True
            self._file.close()


class Dispatcher(Logger):
    """Writes every row to several loggers."""

    def __init__(self, loggers: Sequence[Logger]) -> None:
        self._loggers = list(loggers)

    def write(self, data: LoggingData) -> None:
        for logger in self._loggers:
            logger.write(data)

    def close(self) -> None:
        for logger in self._loggers:
            logger.close()


class TimeFilter(Logger):
    """Passes a row on at most once every `interval` seconds (0 passes all)."""

    def __init__(self, logger: Logger, interval: float, clock: Callable[[], float] = time.monotonic) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._last = -np.inf

    def write(self, data: LoggingData) -> None:
        now = self._clock()
        if now - self._last >= self._interval:
            self._last = now
            self._logger.write(data)

    def close(self) -> None:
        self._logger.close()


class Unclosed(Logger):
    """Passes rows on but not `close` (a sink shared by several loggers, closed by its owner)."""

    def __init__(self, logger: Logger) -> None:
        self._logger = logger

    def write(self, data: LoggingData) -> None:
        self._logger.write(data)
