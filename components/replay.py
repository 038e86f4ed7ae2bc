"""Uniform replay: a preallocated numpy ring buffer shaped by the item's specs."""

from __future__ import annotations

import threading
from typing import Any, Mapping

import numpy as np
import tree
from dm_env import specs

from components.core import Replay
from components.rate_limiters import RateLimiter


def _subtrees(nest: Any) -> list[Any]:
    nodes: list[Any] = []
    tree.traverse(lambda node: nodes.append(node), nest)
    return nodes


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
        if capacity <= 0:
            raise ValueError(f"Replay capacity must be a positive integer, got {capacity}.")
        self._spec = item_spec
        self._leaf_specs = tree.flatten(item_spec)
        self._paths = [path for path, _ in tree.flatten_with_path(item_spec)]
        # Dict keys can be misnamed without changing the leaf count, so nests with mappings get a path check.
        self._check_paths = any(isinstance(node, Mapping) for node in _subtrees(item_spec))
        self._capacity = int(capacity)
        # Flat list of leaves: dm-tree's flatten is fast, rebuilding nests is not.
        self._storage = [np.zeros((self._capacity,) + tuple(s.shape), dtype=s.dtype) for s in self._leaf_specs]
        self._next = 0
        self._size = 0
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self.rate_limiter = rate_limiter

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def nbytes(self) -> int:
        """Bytes held by the preallocated storage."""
        return sum(a.nbytes for a in self._storage)

    def size(self) -> int:
        return self._size

    def insert(self, items: Any) -> None:
        leaves = self._check(items)
        count = len(leaves[0])
        if count == 0:
            return
        if count > self._capacity:  # Only the newest `capacity` items can survive anyway.
            leaves = [leaf[-self._capacity:] for leaf in leaves]
            count = self._capacity
        with self._lock:
            if self._next + count <= self._capacity:  # Contiguous: a slice is cheaper than an index array.
                index = slice(self._next, self._next + count)
            else:
                index = (self._next + np.arange(count)) % self._capacity
            for store, leaf in zip(self._storage, leaves):
                store[index] = leaf
            self._next = (self._next + count) % self._capacity
            self._size = min(self._size + count, self._capacity)
        if self.rate_limiter is not None:
            self.rate_limiter.on_insert(count)

    def _check(self, items: Any) -> list[np.ndarray]:
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

    def sample(self, batch_size: int) -> Any:
        with self._lock:
            if self._size == 0:
                raise ValueError("Cannot sample from an empty replay; insert items first.")
            index = self._rng.integers(0, self._size, size=batch_size)
            leaves = [store[index] for store in self._storage]
        if self.rate_limiter is not None:
            self.rate_limiter.on_sample(batch_size)
        return tree.unflatten_as(self._spec, leaves)

    def save(self) -> dict[str, Any]:
        with self._lock:
            return {"storage": [np.copy(store) for store in self._storage], "next": self._next,
                    "size": self._size, "rng": self._rng.bit_generator.state}

    def restore(self, state: dict[str, Any]) -> None:
        with self._lock:
            for store, saved in zip(self._storage, state["storage"]):
                np.copyto(store, saved)
            self._next, self._size = state["next"], state["size"]
            self._rng.bit_generator.state = state["rng"]
