"""A thread-safe, hierarchical step counter shared by actors, learners and evaluators."""

from __future__ import annotations

import threading
from typing import Mapping

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
