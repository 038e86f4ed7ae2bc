"""Rate limiters keep acting and learning in step: a minimum fill, then a sample-to-insert ratio."""

from __future__ import annotations

import threading
from typing import Mapping


class CountingLimiter:
    """What every rate limiter keeps: the items inserted and sampled (under `condition`), counted as the
    replay reports them (waking waiters), saved and restored."""

    def __init__(self, condition: threading.Condition) -> None:
        self._condition = condition
        self._inserts = 0
        self._samples = 0

    def on_insert(self, num_items: int = 1) -> None:
        with self._condition:
            self._inserts += num_items
            self._condition.notify_all()

    def on_sample(self, num_items: int = 1) -> None:
        with self._condition:
            self._samples += num_items
            self._condition.notify_all()

    @property
    def counts(self) -> Mapping[str, int]:
        return {"inserts": self._inserts, "samples": self._samples}

    def save(self) -> Mapping[str, int]:
        return dict(self.counts)

    def restore(self, state: Mapping[str, int]) -> None:
        with self._condition:
            self._inserts, self._samples = int(state["inserts"]), int(state["samples"])
            self._condition.notify_all()


class RateLimiter(CountingLimiter):
    """Allows sampling once `min_size_to_sample` items were inserted, then about
    `samples_per_insert` sampled items per inserted item.

    `error_buffer` (in sampled items) is the tolerance band: samples may run
    ahead of the ratio by up to that much, and inserts may run ahead of it by
    up to that much before `can_insert` says no. The local runner asks
    `can_sample` to decide how many learner steps to take after each actor
    step; threaded runners block on `await_sample` / `await_insert`.
    """

    def __init__(self, samples_per_insert: float, min_size_to_sample: int, error_buffer: float | None = None) -> None:
        if samples_per_insert <= 0:
            raise ValueError(f"samples_per_insert must be > 0, got {samples_per_insert}.")
        if min_size_to_sample < 1:
            raise ValueError(f"min_size_to_sample must be >= 1, got {min_size_to_sample}.")
        self.samples_per_insert = float(samples_per_insert)
        self.min_size_to_sample = int(min_size_to_sample)
        self.error_buffer = float(error_buffer) if error_buffer is not None else max(1.0, self.samples_per_insert)
        super().__init__(threading.Condition())
        # Inserts may run ahead by at least the largest batch a sampler waits for, or both would wait.
        self._largest_request = 0

    def _allowed_samples(self) -> float:
        return self.samples_per_insert * (self._inserts - self.min_size_to_sample + 1)

    def can_sample(self, num_items: int = 1) -> bool:
        with self._condition:
            return self._can_sample(num_items)

    def _can_sample(self, num_items: int) -> bool:
        self._largest_request = max(self._largest_request, num_items)
        if self._inserts < self.min_size_to_sample:
            return False
        return self._samples + num_items <= self._allowed_samples() + self.error_buffer

    def can_insert(self, num_items: int = 1) -> bool:
        with self._condition:
            return self._can_insert(num_items)

    def _can_insert(self, num_items: int) -> bool:
        if self._inserts + num_items <= self.min_size_to_sample:
            return True
        ahead = self.samples_per_insert * (self._inserts + num_items - self.min_size_to_sample + 1) - self._samples
        return ahead <= max(self.error_buffer, self._largest_request) + self.samples_per_insert * num_items

    def await_sample(self, num_items: int, timeout: float | None = None) -> bool:
        """Blocks until sampling is allowed; False on timeout."""
        with self._condition:
            return self._condition.wait_for(lambda: self._can_sample(num_items), timeout)

    def await_insert(self, num_items: int, timeout: float | None = None) -> bool:
        """Blocks until inserting is allowed; False on timeout."""
        with self._condition:
            return self._condition.wait_for(lambda: self._can_insert(num_items), timeout)
