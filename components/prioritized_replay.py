"""Prioritized replay (Schaul et al. 2016, proportional variant) on a preallocated ring buffer.

Items are sampled with probability P(i) = p_i / sum_k p_k, where the learner
sets p_i = (|priority_i| + epsilon)**alpha from, typically, the item's latest
TD error, and new items get the largest p seen so far so each is likely to be
seen at least once. The bias this introduces is corrected by importance
weights w_i = (N * P(i))**-beta / max_batch w, with beta annealed towards 1:
`importance_weights(probabilities, beta)`, which the learner calls with the
beta of its own step count (so a resumed run continues the schedule, as in Acme
and Dopamine, whether or not the replay itself was checkpointed).
"""

from __future__ import annotations

import threading
from typing import Any, Mapping

import numpy as np
from numpy.typing import ArrayLike

from components.core import Replay, Saveable
from components.rate_limiters import RateLimiter
from components.replay import ItemRing
from components.sum_tree import SumTree
from components.types import PrioritizedSample



def importance_weights(probabilities: ArrayLike, beta: float) -> np.ndarray:
    """w_i = (N * P(i))**-beta / max_j w_j for a batch of sampling probabilities P(i), as float32.

    N cancels in the normalisation, so w_i = (P(i) / min_j P(j))**-beta: the
    rarest item in the batch gets weight 1 and the others less.
    """
    if not (_is_real(beta) and 0.0 <= beta <= 1.0):
        raise ValueError(f"importance_weights: beta must be a number in [0, 1], got {_shown(beta)}.")
    probabilities = np.asarray(probabilities, dtype=np.float64)
    return ((probabilities / probabilities.min()) ** -float(beta)).astype(np.float32)


class PrioritizedReplay(Replay, Saveable):
    """A fixed-capacity ring buffer of items (nests of arrays), sampled in proportion to their priorities.

    Storage and item checks are `UniformReplay`'s (`ItemRing`), as are
    locking and rate-limiter reports. `sample` returns a `PrioritizedSample` whose `keys` are the
    int64 slot indices to pass back to `update_priorities`.

    The importance weights are the learner's (`importance_weights`), so the
    beta schedule follows the learner's checkpointed step count. What a resumed
    run keeps of the replay even when its items are not checkpointed is
    `schedule_state()`: the largest priority so far, which new items get.

    Stale keys: a key names a slot, not an item. If the slot was overwritten
    between `sample` and `update_priorities`, the update sets the priority of
    the item now in the slot. Nothing is corrupted (the value is checked, the
    sums are recomputed, the max stays a max); that new item just starts from
    the old item's priority instead of the max. With capacity >> batch size
    this touches only the few slots at the write head.
    """

    def __init__(self, item_spec: Any, capacity: int, seed: int | None = None,
                 rate_limiter: RateLimiter | None = None, *, alpha: float = 0.6, epsilon: float = 1e-6) -> None:
        self._ring = ItemRing(item_spec, capacity)
        _check_finite_at_least_zero("alpha", alpha)
        _check_finite_at_least_zero("epsilon", epsilon)
        self._alpha, self._epsilon = float(alpha), float(epsilon)
        self._capacity = self._ring.capacity
        self._tree = SumTree(self._capacity)  # Slots never written keep priority 0: they are never sampled.
        self._max_priority = 1.0
        self._rng = np.random.default_rng(seed)
        self._lock = threading.Lock()
        self.rate_limiter = rate_limiter

    @property
    def capacity(self) -> int:
        return self._capacity

    @property
    def nbytes(self) -> int:
        """Bytes held by the preallocated storage and the sum tree."""
        return self._ring.nbytes + self._tree.nbytes

    @property
    def max_priority(self) -> float:
        """The priority new items get: the largest (|priority| + epsilon)**alpha set so far, at least 1."""
        return self._max_priority

    def size(self) -> int:
        return self._ring.size

    def describe(self) -> str:
        return (f"{type(self).__name__}: capacity {self.capacity:,} items, {self.nbytes / 1e6:,.1f} MB preallocated "
                f"({self.nbytes / self.capacity:,.0f} B/item).")

    def insert(self, items: Any) -> None:
        """Writes a batch of items over the oldest slots, each with the current max priority."""
        leaves = self._ring.check(items)
        if len(leaves[0]) == 0:
            return
        with self._lock:
            slots = self._ring.write(leaves)
            if isinstance(slots, slice):
                slots = np.arange(slots.start, slots.stop)
            self._tree.update(slots, self._max_priority)
        if self.rate_limiter is not None:
            self.rate_limiter.on_insert(len(slots))

    def sample(self, batch_size: int) -> PrioritizedSample:
        """A batch drawn in proportion to priority, one draw per equal segment of the total mass.

        Stratifying the draws lowers the variance of a batch's make-up; items
        come back in slot order. The same slot can appear more than once.
        """
        if int(batch_size) != batch_size or batch_size < 1:
            raise ValueError(f"PrioritizedReplay.sample: batch_size must be a positive integer, got {batch_size!r}.")
        batch_size = int(batch_size)
        with self._lock:
            if self._ring.size == 0:
                raise ValueError("Cannot sample from an empty replay; insert items first.")
            total = self._tree.total
            if total <= 0.0:
                raise ValueError("Cannot sample: every held item has priority 0 (set epsilon > 0 to avoid this).")
            targets = (np.arange(batch_size) + self._rng.random(batch_size)) * (total / batch_size)
            np.minimum(targets, total, out=targets)  # Rounding may overshoot by an ulp.
            keys = self._tree.find_prefix_sum(targets)
            probabilities = self._tree.get(keys) / total
            data = self._ring.gather(keys)
        if self.rate_limiter is not None:
            self.rate_limiter.on_sample(batch_size)
        return PrioritizedSample(data=data, keys=keys, probabilities=probabilities)

    def update_priorities(self, keys: ArrayLike, priorities: ArrayLike) -> None:
        """Sets the priority of slots `keys` to (|priorities| + epsilon)**alpha.

        Keys come from `sample`; a key repeated in one call keeps its last
        priority. See the class docstring for keys whose slot was overwritten.
        """
        key = np.asarray(keys)
        priority = np.asarray(priorities, dtype=np.float64)
        if key.ndim != 1 or priority.shape != key.shape:
            raise ValueError(f"update_priorities: expected 1-D keys and priorities of the same length, "
                             f"got shapes {key.shape} and {priority.shape}.")
        if key.size == 0:
            return
        if key.dtype.kind not in "iu":
            raise ValueError(f"update_priorities: expected integer keys (from sample), got dtype {key.dtype}.")
        not_finite = ~np.isfinite(priority)
        if not_finite.any():
            raise ValueError(f"update_priorities: {int(not_finite.sum())} of {priority.size} priorities are NaN "
                             f"or infinite (e.g. {float(priority[not_finite][0])!r} at position "
                             f"{int(np.flatnonzero(not_finite)[0])}); no priority was changed.")
        value = (np.abs(priority) + self._epsilon) ** self._alpha
        with self._lock:
            outside = (key < 0) | (key >= self._ring.size)
            if outside.any():
                raise ValueError(f"update_priorities: keys must be slots holding items, in [0, {self._ring.size}), "
                                 f"got {int(outside.sum())} outside (e.g. {key[outside][0]}); "
                                 f"no priority was changed.")
            self._tree.update(key, value)
            self._max_priority = max(self._max_priority, float(value.max()))

    def save(self, copy: bool = True) -> dict[str, Any]:
        with self._lock:
            return {**self._ring.save(copy), "priorities": self._tree.values(), "max_priority": self._max_priority,
                    "rng": self._rng.bit_generator.state}

    def restore(self, state: Mapping[str, Any]) -> None:
        """Restores a `save`d state; the tree is rebuilt from the saved leaves, bit for bit."""
        if np.shape(state["priorities"]) != (self._capacity,):
            raise ValueError(f"PrioritizedReplay.restore: the state holds {np.shape(state['priorities'])} "
                             f"priorities, this replay has capacity {self._capacity}.")
        with self._lock:
            self._tree.set_all(state["priorities"])  # First: it checks the priorities before changing anything.
            self._ring.restore(state)
            self._max_priority = float(state["max_priority"])
            self._rng.bit_generator.state = state["rng"]

    def schedule_state(self) -> dict[str, Any]:
        """What a resumed run keeps without the items: the max priority (new items start there)."""
        with self._lock:
            return {"max_priority": self._max_priority}

    def restore_schedule_state(self, state: Mapping[str, Any]) -> None:
        if "max_priority" in state:
            with self._lock:
                self._max_priority = float(state["max_priority"])


def _check_finite_at_least_zero(name: str, value: float) -> None:
    if not (_is_real(value) and np.isfinite(value) and value >= 0):
        raise ValueError(f"PrioritizedReplay {name} must be finite and >= 0, got {_shown(value)}.")


def _is_real(value: Any) -> bool:
    return isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)


def _shown(value: Any) -> str:
    """`value` for an error message: numpy scalars as plain numbers, not np.float64(...)."""
    return repr(value.item() if isinstance(value, np.generic) else value)
