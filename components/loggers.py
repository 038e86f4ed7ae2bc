"""Loggers: write dicts of scalars to the terminal, CSV files, or several places at once."""

from __future__ import annotations

import abc
import csv
import os
import sys
import threading
import time
from typing import Any, Callable, Mapping, Sequence, TextIO

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


class TerminalLogger(Logger):
    """Prints `[label] key = value | ...` lines."""

    def __init__(self, label: str = "", stream: TextIO | None = None) -> None:
        self._label = label
        self._stream = stream

    @staticmethod
    def _format(value: Any) -> str:
        value = _to_scalar(value)
        if isinstance(value, float):
            return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"
        return str(value)

    def write(self, data: LoggingData) -> None:
        body = " | ".join(f"{k} = {self._format(v)}" for k, v in sorted(data.items()))
        prefix = f"[{self._label}] " if self._label else ""
        print(prefix + body, file=self._stream or sys.stdout, flush=True)


class CSVLogger(Logger):
    """Appends rows to `directory/label.csv`.

    A row with keys the header lacks widens the header: the file is rewritten
    once with the new columns (rare: keys settle after the first rows), so no
    value is dropped and no rows are held in memory.
    """

    def __init__(self, directory: str, label: str) -> None:
        os.makedirs(directory, exist_ok=True)
        self.path = os.path.join(directory, f"{label}.csv")
        self._fields: list[str] = []
        self._lock = threading.Lock()
        self._file = open(self.path, "w", newline="")
        self._writer = csv.DictWriter(self._file, fieldnames=self._fields)

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


LoggerFactory = Callable[[str], Logger]


def make_logger_factory(
    directory: str | None,
    terminal_interval: float = 5.0,
    terminal_labels: Sequence[str] | None = None,
    always_print: Sequence[str] = (),
) -> LoggerFactory:
    """Returns `factory(label)`: CSV under `directory` plus a time-filtered terminal line.

    Every row reaches the CSV file; the terminal gets at most one line per
    `terminal_interval` seconds per label, except labels in `always_print`
    (labels outside `terminal_labels`, when given, stay off the terminal).
    """

    def factory(label: str) -> Logger:
        sinks: list[Logger] = []
        if directory is not None:
            sinks.append(CSVLogger(directory, label))
        if terminal_labels is None or label in terminal_labels:
            interval = 0.0 if label in always_print else terminal_interval
            sinks.append(TimeFilter(TerminalLogger(label), interval))
        return Dispatcher(sinks)

    return factory
