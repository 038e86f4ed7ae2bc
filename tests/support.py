"""Helpers shared by tests: a replay that records what adders write, and threads run to completion."""

from __future__ import annotations

import threading
from typing import Any, Sequence

from components.core import Replay


class RecordingReplay(Replay):
    """Keeps every inserted batch (transitions or trajectories, each with a `reward` field), in order."""

    def __init__(self) -> None:
        self.batches: list[Any] = []

    def insert(self, items) -> None:
        self.batches.append(items)

    def sample(self, batch_size):
        raise NotImplementedError

    def size(self) -> int:
        return sum(len(batch.reward) for batch in self.batches)

    @property
    def capacity(self) -> int:
        return 10**9


def run_threads(threads: Sequence[threading.Thread], timeout: float) -> None:
    """Starts every thread and waits for all of them; fails if one is still running after `timeout` seconds."""
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    assert not any(thread.is_alive() for thread in threads)


# A small R2D2 for runs that only check wiring (sequences of 12 steps, burn-in 4, 3-step targets).
SMALL_R2D2 = {"core_size": 16, "hidden_sizes": (16,), "sequence_length": 12, "sequence_period": 6, "burn_in": 4,
              "n_step": 3, "batch_size": 8, "min_replay_size": 8, "samples_per_insert": 8.0}


def assert_identical_timesteps(a: Any, b: Any) -> None:
    """Two dm_env timesteps (batched or not, nested observations too) equal field by field, leaf by leaf, in
    structure, dtype, shape and value."""
    import dm_env
    import numpy as np
    import tree

    for field in dm_env.TimeStep._fields:
        tree.assert_same_structure(getattr(a, field), getattr(b, field))
        for x, y in zip(tree.flatten(getattr(a, field)), tree.flatten(getattr(b, field))):
            x, y = np.asarray(x), np.asarray(y)
            assert x.dtype == y.dtype and x.shape == y.shape, field
            np.testing.assert_array_equal(x, y, err_msg=field)
