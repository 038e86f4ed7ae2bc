"""A thread-safe, hierarchical step counter shared by actors, learners and evaluators."""

from __future__ import annotations

import threading
import time
from typing import Callable, Mapping

from components.core import Saveable


class Counter(Saveable):
    """Counts named events; a child counter writes `prefix_name` into its parent.

    `Counter(parent, 'actor').increment(steps=8)` adds 8 to the parent's
    `actor_steps`, so one root counter holds every node's totals.
    """

    def __init__(self, parent: "Counter | None" = None, prefix: str = "") -> None:
        self._parent = parent
        self._prefix = prefix
        self._counts: dict[str, float] = {}
        self._lock = threading.Lock()

    def _key(self, name: str) -> str:
        return f"{self._prefix}_{name}" if self._prefix else name

    def increment(self, **counts: float) -> dict[str, float]:
        """Adds the given amounts (keys get this counter's prefix) and returns all counts."""
        return self._add({self._key(k): v for k, v in counts.items()})

    def _add(self, counts: dict[str, float]) -> dict[str, float]:
        if self._parent is not None:
            return self._parent._add({self._parent._key(k): v for k, v in counts.items()})
        with self._lock:
            for key, value in counts.items():
                self._counts[key] = self._counts.get(key, 0) + value
            return dict(self._counts)

    def get_counts(self) -> dict[str, float]:
        """Returns every count of the root counter."""
        if self._parent is not None:
            return self._parent.get_counts()
        with self._lock:
            return dict(self._counts)

    def get(self, name: str, default: float = 0) -> float:
        """Returns one count of this counter (prefix applied)."""
        return self.get_counts().get(self._key(name), default)

    def save(self) -> Mapping[str, float]:
        return self.get_counts()

    def restore(self, state: Mapping[str, float]) -> None:
        if self._parent is not None:
            raise ValueError("Restore the root counter, not a prefixed child.")
        with self._lock:
            self._counts = dict(state)


class BatchedCounter(Counter):
    """A counter whose totals live elsewhere (another process): increments go out in batches.

    `send(increments) -> totals` adds a dict of increments to the shared totals
    and returns them; it is called at most every `interval` seconds (and on
    `flush`). `get` and `cached_counts()` read the last totals plus what this
    side added since, with no call (at most `interval` old); `get_counts()`
    flushes first.
    """

    def __init__(self, send: Callable[[dict[str, float]], dict[str, float]], interval: float = 0.25) -> None:
        super().__init__()
        self._send, self._interval = send, interval
        self._pending: dict[str, float] = {}
        self._totals: dict[str, float] = {}
        self._sent = 0.0

    def _add(self, counts: dict[str, float]) -> dict[str, float]:
        with self._lock:
            for key, value in counts.items():
                self._pending[key] = self._pending.get(key, 0) + value
        if time.monotonic() - self._sent > self._interval:
            self.flush()
        return self.cached_counts()

    def flush(self) -> None:
        """Sends the pending increments now."""
        with self._lock:
            pending, self._pending = self._pending, {}
        self._sent = time.monotonic()
        totals = self._send(pending)
        with self._lock:
            self._totals = dict(totals)

    def cached_counts(self) -> dict[str, float]:
        with self._lock:
            return {k: self._totals.get(k, 0) + self._pending.get(k, 0) for k in {*self._totals, *self._pending}}

    def get_counts(self) -> dict[str, float]:
        self.flush()
        return self.cached_counts()

    def get(self, name: str, default: float = 0) -> float:
        return self.cached_counts().get(self._key(name), default)
