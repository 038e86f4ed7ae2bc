"""Uniform replay: a preallocated numpy ring buffer shaped by the item's specs."""

from __future__ import annotations

import threading
from typing import Any, Mapping

import numpy as np
import tree

from components.core import Replay
from components.rate_limiters import RateLimiter


def _subtrees(nest: Any) -> list[Any]:
    nodes: list[Any] = []
    tree.traverse(lambda node: nodes.append(node), nest)
    return nodes


class ItemRing:
    """Preallocated storage for `capacity` items shaped by `item_spec`, written as a ring.

    The part uniform and prioritized replay share: item checks with errors that
    name the field, the ring write (newest items over the oldest), gathers, and
    save/restore. It holds no lock: the replay that owns it does.
    """

    def __init__(self, item_spec: Any, capacity: int) -> None:
        if capacity <= 0:
            raise ValueError(f"Replay capacity must be a positive integer, got {capacity}.")
        self.spec = item_spec
        self._leaf_specs = tree.flatten(item_spec)
        self._paths = [path for path, _ in tree.flatten_with_path(item_spec)]
        # Dict keys can be misnamed without changing the leaf count, so nests with mappings get a path check.
        self._check_paths = any(isinstance(node, Mapping) for node in _subtrees(item_spec))
        self.capacity = int(capacity)
        # Flat list of leaves: dm-tree's flatten is fast, rebuilding nests is not.
        self.storage = [np.zeros((self.capacity,) + tuple(s.shape), dtype=s.dtype) for s in self._leaf_specs]
        self.next = 0
        self.size = 0

    @property
    def nbytes(self) -> int:
        return sum(a.nbytes for a in self.storage)

    def check(self, items: Any) -> list[np.ndarray]:
        """The items' leaves, after checking them against the item spec."""
        leaves = tree.flatten(items)
        if len(leaves) != len(self._leaf_specs) or (
                self._check_paths and [p for p, _ in tree.flatten_with_path(items)] != self._paths):
            raise ValueError(
                f"Replay insert: item fields {[p for p, _ in tree.flatten_with_path(items)]} do not match "
                f"the replay's item spec fields {self._paths}.")
        for i, (leaf, spec) in enumerate(zip(leaves, self._leaf_specs)):
            shape = np.shape(leaf)
            if not shape or shape[1:] != spec.shape or shape[:1] != np.shape(leaves[0])[:1]:
                path = "/".join(map(str, self._paths[i])) or "item"
                raise ValueError(
                    f"Replay insert: field '{path}' has shape {np.shape(leaf)}, expected "
                    f"(num_items, *{spec.shape}) from its spec {spec!r}."
                )
        return leaves

    def write(self, leaves: list[np.ndarray]) -> slice | np.ndarray:
        """Writes checked leaves over the oldest slots; returns the slots written (call under a lock)."""
        count = len(leaves[0])
        if count > self.capacity:  # Only the newest `capacity` items can survive anyway.
            leaves = [leaf[-self.capacity:] for leaf in leaves]
            count = self.capacity
        if self.next + count <= self.capacity:  # Contiguous: a slice is cheaper than an index array.
            index: slice | np.ndarray = slice(self.next, self.next + count)
        else:
            index = (self.next + np.arange(count)) % self.capacity
        for store, leaf in zip(self.storage, leaves):
            store[index] = leaf
        self.next = (self.next + count) % self.capacity
        self.size = min(self.size + count, self.capacity)
        return index

    def gather(self, index: np.ndarray) -> Any:
        """The items in slots `index`, as a nest like the item spec with a leading batch axis."""
        return tree.unflatten_as(self.spec, [store[index] for store in self.storage])

    def save(self, copy: bool = True) -> dict[str, Any]:
        """The slots and pointers; `copy=False` hands out the live arrays (for a caller that writes them
        before anything inserts again: no second copy of a large ring in RAM)."""
        storage = [np.copy(store) for store in self.storage] if copy else list(self.storage)
        return {"storage": storage, "next": self.next, "size": self.size}

    def restore(self, state: Mapping[str, Any]) -> None:
        for store, saved in zip(self.storage, state["storage"]):
            np.copyto(store, saved)
        self.next, self.size = int(state["next"]), int(state["size"])


class UniformReplay(Replay):
    """A fixed-capacity ring buffer of items (nests of arrays), sampled uniformly.

    Storage is allocated once from `item_spec` (a nest of `dm_env.specs.Array`),
    so memory is bounded by the capacity from the first insert on. Inserts and
    samples take a lock, so actor and learner threads may share one buffer.
    A `rate_limiter`, when given, is told of every insert and sample; runners
    ask it (not the replay) whether to act or learn next.
    """

    def __init__(self, item_spec: Any, capacity: int, seed: int | None = None,
                 rate_limiter: RateLimiter | None = None) -> None:
        self._ring = ItemRing(item_spec, capacity)
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self.rate_limiter = rate_limiter

    @property
    def capacity(self) -> int:
        return self._ring.capacity

    @property
    def nbytes(self) -> int:
        """Bytes held by the preallocated storage."""
        return self._ring.nbytes

    def size(self) -> int:
        return self._ring.size

    def insert(self, items: Any) -> None:
        leaves = self._ring.check(items)
        count = len(leaves[0])
        if count == 0:
            return
        with self._lock:
            self._ring.write(leaves)
        if self.rate_limiter is not None:
            self.rate_limiter.on_insert(min(count, self._ring.capacity))

    def sample(self, batch_size: int) -> Any:
        with self._lock:
            if self._ring.size == 0:
                raise ValueError("Cannot sample from an empty replay; insert items first.")
            index = self._rng.integers(0, self._ring.size, size=batch_size)
            items = self._ring.gather(index)
        if self.rate_limiter is not None:
            self.rate_limiter.on_sample(batch_size)
        return items

    def describe(self) -> str:
        return (f"{type(self).__name__}: capacity {self.capacity:,} items, {self.nbytes / 1e6:,.1f} MB preallocated "
                f"({self.nbytes / self.capacity:,.0f} B/item).")

    def save(self, copy: bool = True) -> dict[str, Any]:
        with self._lock:
            return {**self._ring.save(copy), "rng": self._rng.bit_generator.state}

    def restore(self, state: dict[str, Any]) -> None:
        with self._lock:
            self._ring.restore(state)
            self._rng.bit_generator.state = state["rng"]
