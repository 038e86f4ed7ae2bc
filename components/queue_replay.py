"""An on-policy queue: items go out in the order they came in, each exactly once.

Policy-gradient learners (REINFORCE, A2C, PPO) must learn from what the
current policy just did, then throw it away. `OnPolicyQueue` is the replay
for them: `sample(n)` removes the n oldest items. Its `rate_limiter` (a
`QueueRateLimiter`) answers the same questions as `RateLimiter`, from the
queue's size: a learner may sample n items once n are queued, an actor may
insert n once they fit, so runners drive it like any other replay.
"""

from __future__ import annotations

import collections
import threading
from typing import Any, Deque, Mapping

import numpy as np
import tree

from components.core import Replay
from components.rate_limiters import CountingLimiter


class QueueRateLimiter(CountingLimiter):
    """`RateLimiter`'s interface for an `OnPolicyQueue`, decided by how many items are queued.

    `can_sample(n)`: at least n items are queued. `can_insert(n)`: n more
    items fit in the capacity. The `await_*` methods block until that holds
    (False on timeout). It shares the queue's lock and condition, so an answer
    is consistent with the queue at the moment it is given. `on_insert` /
    `on_sample` (called by the queue) count items and wake waiters.
    """

    def __init__(self, queue: "OnPolicyQueue") -> None:
        super().__init__(queue._condition)
        self._queue = queue

    def can_sample(self, num_items: int = 1) -> bool:
        with self._condition:
            return self._queue._size_locked() >= num_items

    def can_insert(self, num_items: int = 1) -> bool:
        with self._condition:
            return self._queue._size_locked() + num_items <= self._queue.capacity

    def await_sample(self, num_items: int, timeout: float | None = None) -> bool:
        """Blocks until `num_items` are queued; False on timeout."""
        self._check_request("sample", num_items)
        with self._condition:
            return self._condition.wait_for(lambda: self._queue._size_locked() >= num_items, timeout)

    def await_insert(self, num_items: int, timeout: float | None = None) -> bool:
        """Blocks until `num_items` more items fit; False on timeout."""
        self._check_request("insert", num_items)
        with self._condition:
            return self._condition.wait_for(
                lambda: self._queue._size_locked() + num_items <= self._queue.capacity, timeout)

    def _check_request(self, what: str, num_items: int) -> None:
        if num_items > self._queue.capacity:  # Would wait forever.
            raise ValueError(f"Cannot {what} {num_items} items at once with an OnPolicyQueue of capacity "
                             f"{self._queue.capacity}.")



class OnPolicyQueue(Replay):
    """A thread-safe FIFO of at most `capacity` items (nests of arrays), each sampled exactly once.

    `insert(items)` takes a batch of items along axis 0 of every leaf
    (`TrajectoryAdder` inserts N equal-length items at once, `EpisodeAdder`
    one item of its own length at a time); every insert must have the nest
    structure of the first. An insert that does not fit raises (naming size
    and capacity) unless room appears within its `timeout`; actors that
    should block instead wait on `rate_limiter.await_insert` first.

    `sample(batch_size)` removes the `batch_size` oldest items and returns
    them stacked on a new leading axis (`tree.map_structure(np.stack)`) when
    all their leaves have equal shapes, or else as a list of per-item nests,
    oldest first (e.g. whole episodes of different lengths). It raises when
    fewer than `batch_size` items arrive within its `timeout`.
    """

    def __init__(self, capacity: int) -> None:
        if int(capacity) != capacity or capacity < 1:
            raise ValueError(f"OnPolicyQueue capacity must be a positive integer, got {capacity!r}.")
        self._capacity = int(capacity)
        # Each item as (the leaves of the batch it came in, its index there): a batch sampled exactly as
        # it was inserted (the on-policy case) goes back out without being split and stacked again.
        self._items: Deque[tuple[list[np.ndarray], int]] = collections.deque()
        self._structure: Any = None  # The nest structure of every item, set by the first insert.
        self._condition = threading.Condition()
        self.rate_limiter = QueueRateLimiter(self)

    @property
    def capacity(self) -> int:
        return self._capacity

    def size(self) -> int:
        with self._condition:
            return len(self._items)

    def _size_locked(self) -> int:
        return len(self._items)

    def describe(self) -> str:
        """One line for the start-up log."""
        return f"OnPolicyQueue: capacity {self._capacity:,} items (FIFO, each item sampled once)."

    def insert(self, items: Any, timeout: float | None = 0.0) -> None:
        """Appends a batch of items (leading axis = items); waits up to `timeout` seconds (None: forever) for room."""
        leaves = self._leaves(items)
        count = len(leaves[0])
        if count == 0:
            return
        if count > self._capacity:
            raise ValueError(f"OnPolicyQueue.insert: {count} items can never fit in capacity {self._capacity}.")
        # One copy per leaf, so later changes to the caller's arrays cannot reach queued items.
        leaves = [np.array(leaf, copy=True) for leaf in leaves]
        with self._condition:
            if not self._wait(lambda: len(self._items) + count <= self._capacity, timeout):
                raise ValueError(
                    f"OnPolicyQueue is full: size {len(self._items)} + {count} new items > capacity "
                    f"{self._capacity}. Sample first, or wait with rate_limiter.await_insert({count}).")
            if self._structure is None:
                self._structure = tree.map_structure(lambda _: None, items)
            self._items.extend((leaves, i) for i in range(count))
        self.rate_limiter.on_insert(count)

    def _leaves(self, items: Any) -> list[np.ndarray]:
        """The items' leaves, after checking structure and the shared leading (item) axis."""
        if self._structure is not None:
            try:
                tree.assert_same_structure(self._structure, items, check_types=True)
            except (ValueError, TypeError) as error:
                raise ValueError(f"OnPolicyQueue.insert: items must have the structure of the first insert, "
                                 f"{self._structure!r}; got {tree.map_structure(lambda _: None, items)!r}. "
                                 f"({error})") from None
        paths_leaves = tree.flatten_with_path(items)
        if not paths_leaves:
            raise ValueError("OnPolicyQueue.insert: items have no arrays (an empty nest).")
        count = None
        for path, leaf in paths_leaves:
            shape = np.shape(leaf)
            if not shape or (count is not None and shape[0] != count):
                raise ValueError(
                    f"OnPolicyQueue.insert: every leaf needs the same leading item axis of {count}; field "
                    f"'{'/'.join(map(str, path)) or 'item'}' has shape {shape}.")
            count = shape[0] if count is None else count
        return [leaf for _, leaf in paths_leaves]

    def _wait(self, predicate, timeout: float | None) -> bool:
        """Waits (holding the condition) for `predicate`; timeout 0 only checks it."""
        if predicate():
            return True
        if timeout is not None and timeout <= 0:
            return False
        return self._condition.wait_for(predicate, timeout)

    def sample(self, batch_size: int, timeout: float | None = 0.0) -> Any:
        """Removes and returns the `batch_size` oldest items (stacked, or a list when shapes differ)."""
        if batch_size < 1:
            raise ValueError(f"OnPolicyQueue.sample: batch_size must be >= 1, got {batch_size}.")
        if batch_size > self._capacity:
            raise ValueError(f"OnPolicyQueue.sample: batch_size {batch_size} can never be met with capacity "
                             f"{self._capacity}.")
        with self._condition:
            if not self._wait(lambda: len(self._items) >= batch_size, timeout):
                raise ValueError(f"OnPolicyQueue.sample: asked for {batch_size} items but only "
                                 f"{len(self._items)} are queued (capacity {self._capacity}); check "
                                 f"rate_limiter.can_sample({batch_size}) first.")
            batch = [self._items.popleft() for _ in range(batch_size)]
            structure = self._structure
        self.rate_limiter.on_sample(batch_size)
        chunk = batch[0][0]
        if batch[0][1] == 0 and len(chunk[0]) == batch_size and all(leaves is chunk for leaves, _ in batch):
            return tree.unflatten_as(structure, chunk)  # Whole and in order: the inserted arrays themselves.
        items = [[leaf[i] for leaf in leaves] for leaves, i in batch]
        first = items[0]
        if all(leaf.shape == ref.shape for item in items[1:] for leaf, ref in zip(item, first)):
            return tree.unflatten_as(structure, [np.stack(leaves) for leaves in zip(*items)])
        return [tree.unflatten_as(structure, item) for item in items]

    def save(self) -> dict[str, Any]:
        """The queued items (oldest first, as nests) and the limiter's counts."""
        with self._condition:
            items = [tree.unflatten_as(self._structure, [np.copy(leaf[i]) for leaf in leaves])
                     for leaves, i in self._items]
            return {"items": items, "rate_limiter": self.rate_limiter.save()}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Replaces the queue's contents with a `save`d state."""
        items = state["items"]
        if len(items) > self._capacity:
            raise ValueError(f"OnPolicyQueue.restore: the state holds {len(items)} items, more than this "
                             f"queue's capacity {self._capacity}.")
        with self._condition:
            self._items.clear()
            self._structure = tree.map_structure(lambda _: None, items[0]) if items else self._structure
            for item in items:
                self._items.append(([np.copy(leaf)[None] for leaf in tree.flatten(item)], 0))
            self._condition.notify_all()
        self.rate_limiter.restore(state["rate_limiter"])
