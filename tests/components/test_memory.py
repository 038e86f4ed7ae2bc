"""Replay memory is bounded by its capacity: once full, inserting more does not grow the process."""

from __future__ import annotations

import numpy as np
import pytest
import tree
from dm_env import specs

from components.replay import UniformReplay
from components.specs import EnvironmentSpec
from components.types import transition_spec


def rss_megabytes() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    pytest.skip("no /proc/self/status")


def _spec(shape=(4, 84, 84), dtype=np.uint8) -> EnvironmentSpec:
    return EnvironmentSpec(specs.Array(shape, dtype), specs.DiscreteArray(4), specs.Array((), np.float32),
                           specs.BoundedArray((), np.float32, 0.0, 1.0))


def _items(spec: EnvironmentSpec, count: int, rng: np.random.Generator):
    return tree.map_structure(lambda s: rng.integers(0, 4, (count, *s.shape)).astype(s.dtype),
                              transition_spec(spec))


def test_a_full_replay_keeps_its_size_and_the_process_its_memory():
    spec = _spec()
    capacity = 5_000  # 5,000 x 2 x 28 KB = 282 MB preallocated.
    replay = UniformReplay(transition_spec(spec), capacity, seed=0)
    rng = np.random.default_rng(0)
    batch = _items(spec, 250, rng)
    for _ in range(capacity // 250):
        replay.insert(batch)
        replay.sample(32)
    assert replay.size() == capacity
    full = rss_megabytes()
    for _ in range(3 * capacity // 250):  # Three more capacities of inserts and samples.
        replay.insert(batch)
        replay.sample(32)
    assert replay.size() == capacity
    assert replay.nbytes == capacity * sum(int(np.prod(s.shape)) * np.dtype(s.dtype).itemsize
                                           for s in tree.flatten(transition_spec(spec)))
    assert rss_megabytes() <= 1.10 * full
