"""A binary sum tree over non-negative leaf values, updated and searched in batches with numpy.

Prioritized replay needs two operations on `capacity` priorities: change some of
them, and find the leaves whose cumulative ranges contain given targets. A sum
tree does both in O(log capacity) per item; here each batch walks the tree one
level at a time with vectorised numpy, so the Python cost is O(log capacity)
calls per batch whatever the batch size.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike


class SumTree:
    """`capacity` non-negative float64 leaves under a complete binary tree of partial sums.

    Layout: one flat array `_nodes` of size 2 * P, P = capacity rounded up to a
    power of two. Node 1 is the root; node i has children 2i and 2i + 1; leaf j
    is node P + j; node 0 and leaves >= capacity are unused and stay 0.

    Every parent is always recomputed as `left + right` from its children (never
    adjusted by a delta), so sums do not drift with floating-point error and the
    whole tree is a deterministic function of its leaves.

    Not thread-safe: callers (the replay) hold a lock around it.
    """

    def __init__(self, capacity: int) -> None:
        if int(capacity) != capacity or capacity <= 0:
            raise ValueError(f"SumTree capacity must be a positive integer, got {capacity!r}.")
        self._capacity = int(capacity)
        self._depth = max(self._capacity - 1, 0).bit_length()  # Levels between the root and the leaves.
        self._first_leaf = 1 << self._depth  # P: the node index of leaf 0.
        self._nodes = np.zeros(2 * self._first_leaf, dtype=np.float64)

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def total(self) -> float:
        """The sum of all leaves (the root)."""
        return float(self._nodes[1])

    @property
    def nbytes(self) -> int:
        return self._nodes.nbytes

    def get(self, indices: ArrayLike) -> np.ndarray:
        """The leaf values at `indices` (same shape as `indices`)."""
        index = self._check_indices(indices, "get")
        return self._nodes[self._first_leaf + index]

    def values(self) -> np.ndarray:
        """A copy of all `capacity` leaf values."""
        return self._nodes[self._first_leaf:self._first_leaf + self._capacity].copy()

    def update(self, indices: ArrayLike, values: ArrayLike) -> None:
        """Sets leaves `indices` to `values` (broadcast to `indices`' shape) and refreshes their ancestors.

        When an index appears more than once, the last of its values wins (as
        for a sequence of single updates).
        """
        index = self._check_indices(indices, "update").reshape(-1)
        try:
            value = np.broadcast_to(np.asarray(values, dtype=np.float64), np.shape(indices)).reshape(-1)
        except ValueError:
            raise ValueError(f"SumTree.update: values of shape {np.shape(values)} do not match "
                             f"indices of shape {np.shape(indices)}.") from None
        self._check_values(value)
        if index.size == 0:
            return
        # numpy does not promise which write wins for repeated fancy indices, so keep each index's last value
        # ourselves: a stable sort keeps equal indices in call order, and the last of each run wins.
        order = np.argsort(index, kind="stable")
        index, value = index[order], value[order]
        last = np.empty(index.shape, dtype=bool)
        last[-1] = True
        np.not_equal(index[1:], index[:-1], out=last[:-1])
        leaves = self._first_leaf + index[last]
        self._nodes[leaves] = value[last]
        self._refresh_ancestors(leaves)

    def set_all(self, values: ArrayLike) -> None:
        """Replaces every leaf with `values` (length `capacity`) and rebuilds all sums in O(capacity)."""
        value = np.asarray(values, dtype=np.float64)
        if value.shape != (self._capacity,):
            raise ValueError(f"SumTree.set_all: expected {self._capacity} values (shape ({self._capacity},)), "
                             f"got shape {value.shape}.")
        self._check_values(value)
        self._nodes[:] = 0.0
        self._nodes[self._first_leaf:self._first_leaf + self._capacity] = value
        level_start = self._first_leaf
        while level_start > 1:  # Each parent level from its children, as update() would compute it.
            parent_start = level_start // 2
            children = self._nodes[level_start:2 * level_start]
            self._nodes[parent_start:level_start] = children[0::2] + children[1::2]
            level_start = parent_start

    def find_prefix_sum(self, targets: ArrayLike) -> np.ndarray:
        """For each target t in [0, total], the leaf j with sum(leaves[:j]) <= t < sum(leaves[:j + 1]).

        Only leaves with a positive value are ever returned: when rounding puts
        a target on or past the end of a subtree's mass (t == total included),
        the walk keeps to the last positive leaf instead of stepping into an
        empty subtree. Returns int64 leaf indices with the shape of `targets`.
        """
        target = np.array(targets, dtype=np.float64)  # A copy: the walk subtracts from it.
        shape = target.shape
        target = target.reshape(-1)
        total = self._nodes[1]
        if total <= 0.0:
            raise ValueError("SumTree.find_prefix_sum: the tree is empty (total is 0); "
                             "set some positive leaves first.")
        bad = ~((target >= 0.0) & (target <= total))  # Also catches NaN.
        if bad.any():
            raise ValueError(f"SumTree.find_prefix_sum: targets must lie in [0, total={float(total)!r}], "
                             f"got {int(bad.sum())} outside (e.g. {float(target[bad][0])!r}).")
        leaf = self._descend(target, guarded=False)
        empty = self._nodes[self._first_leaf + leaf] <= 0.0
        if empty.any():  # Rare: a target on a boundary walked into an empty subtree. Redo those carefully.
            leaf[empty] = self._descend(np.array(targets, dtype=np.float64).reshape(-1)[empty], guarded=True)
        return leaf.reshape(shape)

    def _descend(self, target: np.ndarray, guarded: bool) -> np.ndarray:
        """Walks every target from the root to a leaf, one level per step; `target` is consumed.

        At each level a target goes right when it is at least the left child's
        sum, less that sum. `guarded` also refuses to enter a right child whose
        sum is 0, so the walk always ends on a positive leaf (slower: the fast
        unguarded walk is checked afterwards instead).
        """
        left = np.full(target.shape, 2, dtype=np.int64)  # Node index of the current node's left child.
        zero = np.zeros_like(target)
        # Mixed-dtype numpy arithmetic (bool into int or float) is slow on small arrays: keep each step same-typed.
        for _ in range(self._depth):
            left_sum = self._nodes.take(left)
            rest = target - left_sum
            go_right = rest >= zero  # Same as target >= left_sum: a float difference keeps its sign.
            if guarded:
                go_right &= self._nodes.take(left + 1) > zero
            np.putmask(target, go_right, rest)
            left += go_right.astype(np.int64)
            left += left  # The chosen child's own left child.
        return (left >> 1) - self._first_leaf

    def _refresh_ancestors(self, nodes: np.ndarray) -> None:
        """Recomputes every ancestor of the distinct leaf-level `nodes`, one level at a time, bottom up.

        Parents shared by several nodes are written several times, always with
        the same value (their children are final by then), so no dedupe is needed.
        """
        children = self._nodes.reshape(-1, 2)  # Row i holds nodes 2i and 2i + 1: the children of node i.
        parents = nodes.copy()
        for _ in range(self._depth):
            parents >>= 1
            pair = children.take(parents, axis=0)
            self._nodes[parents] = pair[:, 0] + pair[:, 1]

    def _check_indices(self, indices: ArrayLike, method: str) -> np.ndarray:
        index = np.asarray(indices)
        if index.dtype.kind not in "iu":
            raise ValueError(f"SumTree.{method}: expected integer indices in [0, {self._capacity}), "
                             f"got dtype {index.dtype}.")
        bad = (index < 0) | (index >= self._capacity)
        if bad.any():
            raise ValueError(f"SumTree.{method}: expected indices in [0, {self._capacity}), "
                             f"got {int(bad.sum())} outside (e.g. {index[bad][0]}).")
        return index.astype(np.int64, copy=False)

    @staticmethod
    def _check_values(value: np.ndarray) -> None:
        bad = ~((value >= 0.0) & (value < np.inf))  # Negative, NaN or infinite.
        if bad.any():
            raise ValueError(f"SumTree values must be finite and >= 0, got {int(bad.sum())} that are not "
                             f"(e.g. {float(value[bad][0])!r}).")
