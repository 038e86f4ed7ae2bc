"""Loggers: write dicts of scalars to the terminal, CSV files, TensorBoard event files, or several places at once."""

from __future__ import annotations

import abc
import atexit
import csv
import os
import threading
import time
from typing import Any, Callable, Mapping, Sequence

import numpy as np

LoggingData = Mapping[str, Any]


def _to_scalar(value: Any) -> Any:
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
        value = _to_scalar(value)
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
    value is dropped and no rows are held in memory.
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

    def write(self, data: LoggingData) -> None:
        row = {k: _to_scalar(v) for k, v in data.items()}
        with self._lock:
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


# ----------------------------------------------------------------------------
# TensorBoard.
# ----------------------------------------------------------------------------

# Tags follow CleanRL (`charts/`, `losses/`) so dashboards and habits carry over.
# Which table a row uses depends on its logger's label: "train" and
# "train_actor<i>" rows are episodes, "learner" rows are learner statistics,
# "eval" rows are evaluations; any other label `x` gets `x/<key>`.
#
#   label    CSV key                       TensorBoard tag
#   train    episode_return                charts/episodic_return (charts/training_return with a score_key)
#            <score_key> (Atari: raw_score) charts/episodic_return (the whole game, unclipped, as CleanRL)
#            episode_length                charts/episodic_length
#            steps_per_second              charts/SPS
#            raw_score                     charts/raw_score       (Atari: unclipped game score)
#            lane                          -                      (not a scalar)
#            any other key k               charts/k
#   learner  learning_rate                 charts/learning_rate
#            epsilon                       charts/epsilon
#            beta                          charts/beta            (prioritized replay's importance exponent)
#            learner_steps_per_second      charts/learner_SPS
#            any other key k               losses/k  (loss, policy_loss, value_loss, td_error_abs, entropy,
#                                          approx_kl, clip_fraction, explained_variance, grad_norm, q_mean...;
#                                          CleanRL also files q_values and explained_variance under losses/)
#   eval     epsilon                       charts/epsilon         (the behaviour policy's, at evaluation time)
#            replay_size                   charts/replay_size
#            train_seconds                 charts/train_seconds
#            eval_<name>                   eval/<name>  (eval/return_mean, eval/return_std, eval/raw_score_mean,
#                                          eval/initial_value...)
#            any other key k               eval/k
#   any      counters: steps, episodes, *_steps, *_episodes (actor_steps, learner_steps, eval_episodes...)
#            -> not logged: they are the x axis (global step = actor_steps, else learner_steps)
TENSORBOARD_TAGS: Mapping[str, Mapping[str, str | None]] = {
    "train": {"episode_return": "charts/episodic_return", "episode_length": "charts/episodic_length",
              "steps_per_second": "charts/SPS", "raw_score": "charts/raw_score", "lane": None},
    "learner": {"learning_rate": "charts/learning_rate", "epsilon": "charts/epsilon", "beta": "charts/beta",
                "learner_steps_per_second": "charts/learner_SPS"},
    "eval": {"epsilon": "charts/epsilon", "replay_size": "charts/replay_size",
             "train_seconds": "charts/train_seconds"},
}
# Where a key outside the table goes, per kind of label.
_TENSORBOARD_DEFAULT_GROUP = {"train": "charts", "learner": "losses", "eval": "eval"}

TENSORBOARD_EXTRA_HINT = "pip install 'agentpipe[tensorboard]' (or: pip install tensorboard)"


def _is_counter(key: str) -> bool:
    return key in ("steps", "episodes") or key.endswith("_steps") or key.endswith("_episodes")


def _label_kind(label: str) -> str | None:
    """'train' for train and train_actor<i>, 'learner' and 'eval' alike; None for other labels."""
    for kind in ("train", "learner", "eval"):
        if label == kind or label.startswith(kind + "_"):
            return kind
    return None


def tensorboard_tag(label: str, key: str, score_key: str | None = None) -> str | None:
    """The TensorBoard tag of CSV column `key` in rows of the logger `label`, or None (not logged).

    See the table above `TENSORBOARD_TAGS`: CleanRL/SB3-style `charts/`,
    `losses/` and `eval/` tags; counters are never logged (they are the step).
    `score_key`: the training rows' column that holds an episode's real score,
    when the environment reports one (Atari: `raw_score`, the whole game,
    unclipped). It is then `charts/episodic_return`, as in CleanRL, and the
    return the agent trained on (Atari: per life, clipped) is `charts/training_return`.
    """
    if _is_counter(key):
        return None
    kind = _label_kind(label)
    if kind == "train" and score_key is not None:
        if key == score_key:
            return "charts/episodic_return"
        if key == "episode_return":
            return "charts/training_return"
    if kind is None:
        return f"{label}/{key}"
    table = TENSORBOARD_TAGS[kind]
    if key in table:
        return table[key]
    if kind == "eval" and key.startswith("eval_"):
        key = key[len("eval_"):]
    return f"{_TENSORBOARD_DEFAULT_GROUP[kind]}/{key}"


class TensorBoardUnavailable(ImportError):
    """TensorBoard logging was asked for, but neither `tensorboard` nor `tensorboardX` imports."""


def _summary_writer_class() -> type:
    """torch's SummaryWriter (needs the `tensorboard` package), else tensorboardX's."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as torch_error:
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise TensorBoardUnavailable(
                f"TensorBoard logging needs the `tensorboard` package: {TENSORBOARD_EXTRA_HINT}. "
                f"({torch_error})") from torch_error
    return SummaryWriter


def tensorboard_available() -> bool:
    """Whether a SummaryWriter imports (torch.utils.tensorboard, or tensorboardX)."""
    try:
        _summary_writer_class()
    except ImportError:
        return False
    return True


# Seconds between the event files' flushes to disk (SummaryWriter's default is 120).
TENSORBOARD_FLUSH_SECONDS = 10.0
# Seconds rows wait before they go to the writer's thread together. Handing over each row woke that
# thread once per row, and the GIL handovers cost a CartPole A2C run 10-20% of its wall-clock time.
TENSORBOARD_BATCH_SECONDS = 2.0


def _summary_proto(writer_class: type) -> Any:
    """The `Summary` protobuf class matching `writer_class` (None when it cannot be found)."""
    try:
        if writer_class.__module__.startswith("torch."):
            from tensorboard.compat.proto.summary_pb2 import Summary
        else:
            from tensorboardX.proto.summary_pb2 import Summary
    except ImportError:
        return None
    return Summary


class _SharedWriter:
    """One SummaryWriter per run folder, shared by every label's logger (counted by `users`).

    Rows wait in `pending` and go to the writer (and its thread) together, at most
    every TENSORBOARD_BATCH_SECONDS, and on `flush` and `close`.
    """

    def __init__(self, writer: Any) -> None:
        self.writer = writer
        self.users = 0
        self.closed = False
        self.lock = threading.Lock()
        self._summary = _summary_proto(type(writer)) if hasattr(writer, "_get_file_writer") else None
        self._pending: list[tuple[Sequence[tuple[str, float]], int]] = []
        self._handed_over = time.monotonic()

    def add_scalars(self, scalars: Sequence[tuple[str, float]], step: int) -> None:
        """Queues a row's scalars as one event (one per scalar, as `add_scalar` does, costs several times more)."""
        with self.lock:
            if self.closed:
                return
            self._pending.append((scalars, step))
            if time.monotonic() - self._handed_over >= TENSORBOARD_BATCH_SECONDS:
                self._hand_over()

    def _hand_over(self) -> None:
        """Gives the pending rows to the writer (the lock is held)."""
        for scalars, step in self._pending:
            if self._summary is not None:
                values = [self._summary.Value(tag=tag, simple_value=value) for tag, value in scalars]
                self.writer._get_file_writer().add_summary(self._summary(value=values), global_step=step)
            else:
                for tag, value in scalars:
                    self.writer.add_scalar(tag, value, global_step=step)
        self._pending.clear()
        self._handed_over = time.monotonic()

    def flush(self) -> None:
        """Writes every row so far to the event file."""
        with self.lock:
            if not self.closed:
                self._hand_over()
                self.writer.flush()

    def close(self) -> None:
        with self.lock:
            if not self.closed:
                self._hand_over()
                self.closed = True
                self.writer.close()


_WRITERS: dict[str, _SharedWriter] = {}
_WRITERS_LOCK = threading.Lock()


def _acquire_writer(directory: str, purge_step: int | None) -> _SharedWriter:
    key = os.path.realpath(directory)
    with _WRITERS_LOCK:
        shared = _WRITERS.get(key)
        if shared is None:
            writer_class = _summary_writer_class()
            os.makedirs(directory, exist_ok=True)
            shared = _SharedWriter(writer_class(log_dir=directory, purge_step=purge_step,
                                                flush_secs=TENSORBOARD_FLUSH_SECONDS))
            _WRITERS[key] = shared
        shared.users += 1
        return shared


def _release_writer(directory: str) -> None:
    key = os.path.realpath(directory)
    with _WRITERS_LOCK:
        shared = _WRITERS.get(key)
        if shared is None:
            return
        shared.users -= 1
        if shared.users <= 0:
            del _WRITERS[key]
            shared.close()


def close_tensorboard(directory: str | None = None) -> None:
    """Flushes and closes the TensorBoard writer of `directory` (every open one when None).

    For runners, at the end of a run: its loggers need not be closed one by
    one, and the writer's thread and file do not outlive the run. Rows written
    afterwards to that folder's TensorBoardLoggers are dropped.
    """
    with _WRITERS_LOCK:
        if directory is None:
            writers = list(_WRITERS.values())
            _WRITERS.clear()
        else:
            shared = _WRITERS.pop(os.path.realpath(directory), None)
            writers = [] if shared is None else [shared]
    for shared in writers:
        shared.close()


atexit.register(close_tensorboard)  # Loggers never closed still get their last events onto disk.


class TensorBoardLogger(Logger):
    """Writes a row's scalars as TensorBoard events in `directory`, under the tags of `tensorboard_tag(label, key)`.

    Every label's logger for one folder shares one writer (so one event file
    per process), which is closed when the last of them closes (or at exit).
    The global step is the row's `actor_steps`, else its `learner_steps`, else
    the row's index. Values that are not numbers are skipped. `purge_step`:
    a resumed run passes the step it resumes from, and TensorBoard then hides
    the earlier run's events from that step on. Thread-safe.
    """

    def __init__(self, directory: str, label: str, purge_step: int | None = None,
                 score_key: str | None = None) -> None:
        self.directory = directory
        self._label = label
        self._score_key = score_key
        self._shared = _acquire_writer(directory, purge_step)
        self._rows = 0
        self._closed = False
        self._close_lock = threading.Lock()

    def write(self, data: LoggingData) -> None:
        step = data.get("actor_steps", data.get("learner_steps"))
        step = self._rows if step is None else int(_to_scalar(step))
        self._rows += 1
        scalars = []
        for key, value in data.items():
            value = _to_scalar(value)
            if value is None or isinstance(value, str) or not isinstance(value, (int, float, np.number, bool)):
                continue
            tag = tensorboard_tag(self._label, key, self._score_key)
            if tag is not None:
                scalars.append((tag, float(value)))
        if scalars:
            self._shared.add_scalars(scalars, step)

    def flush(self) -> None:
        self._shared.flush()

    def close(self) -> None:
        with self._close_lock:
            if self._closed:
                return
            self._closed = True
        _release_writer(self.directory)


class _Unclosed(Logger):
    """Passes rows on but not `close` (a sink shared by several loggers, closed by its owner)."""

    def __init__(self, logger: Logger) -> None:
        self._logger = logger

    def write(self, data: LoggingData) -> None:
        self._logger.write(data)


LoggerFactory = Callable[[str], Logger]


def make_logger_factory(
    directory: str | None,
    terminal_interval: float = 5.0,
    terminal_labels: Sequence[str] | None = None,
    always_print: Sequence[str] = (),
    append: bool = False,
    tensorboard: bool | None = None,
    tensorboard_purge_step: int | None = None,
    progress: Logger | None = None,
    print_line: Callable[[str], None] | None = None,
    score_key: str | None = None,
) -> LoggerFactory:
    """Returns `factory(label)`: CSV under `directory` plus a time-filtered terminal line.

    Every row reaches the CSV file; the terminal gets at most one line per
    `terminal_interval` seconds per label, except labels in `always_print`
    (labels outside `terminal_labels`, when given, stay off the terminal).
    `append` continues existing CSV files (a resumed run) instead of starting them afresh.

    `tensorboard`: also write TensorBoard event files into `directory` (one
    writer shared by all labels; tags from `tensorboard_tag`). None: when the
    `tensorboard` package imports; False: never; True: always, raising
    `TensorBoardUnavailable` (naming the `tensorboard` extra) here when it is
    missing. Without a `directory` nothing is written. A resumed run passes the
    actor step it resumes from as `tensorboard_purge_step`. `score_key`: see `tensorboard_tag`.

    `progress`: a sink (the progress bar) that gets the rows of the training
    labels ("train", "train_actor<i>") and of "eval"; it is not closed here.
    `print_line`: how terminal lines are printed (see `TerminalLogger`).
    """
    use_tensorboard = directory is not None and tensorboard is not False
    if use_tensorboard:
        if tensorboard:
            _summary_writer_class()  # Raises TensorBoardUnavailable, naming the extra, before any run starts.
        else:
            use_tensorboard = tensorboard_available()

    def factory(label: str) -> Logger:
        sinks: list[Logger] = []
        if directory is not None:
            sinks.append(CSVLogger(directory, label, append=append))
        if use_tensorboard:
            sinks.append(TensorBoardLogger(directory, label, purge_step=tensorboard_purge_step, score_key=score_key))
        if progress is not None and _label_kind(label) in ("train", "eval"):
            sinks.append(_Unclosed(progress))
        if terminal_labels is None or label in terminal_labels:
            interval = 0.0 if label in always_print else terminal_interval
            sinks.append(TimeFilter(TerminalLogger(label, print_line), interval))
        return Dispatcher(sinks)

    return factory
