"""Tests for `components.prioritized_replay.PrioritizedReplay` (proportional prioritized replay)."""

from __future__ import annotations

import pickle
import sys
import threading

import numpy as np
import pytest
import tree
from dm_env import specs
from hypothesis import given, settings
from hypothesis import strategies as st

from components.prioritized_replay import PrioritizedReplay, importance_weights
from components.sum_tree import SumTree
from components.types import PrioritizedSample

PROPERTY_SETTINGS = settings(max_examples=40, deadline=None)

# ----------------------------------------------------------------------------
# Helpers.
# ----------------------------------------------------------------------------

OBS_SIZE = 16

ITEM_SPEC = {
    "observation": specs.Array((OBS_SIZE,), np.float32, "observation"),
    "action": specs.Array((), np.int64, "action"),
}


def items(ids) -> dict[str, np.ndarray]:
    """Items whose fields agree with their id k: every observation entry and the action are k."""
    ids = np.asarray(ids, dtype=np.int64)
    return {"observation": np.repeat(ids[:, None].astype(np.float32), OBS_SIZE, axis=1), "action": ids.copy()}


def assert_consistent(batch) -> None:
    """Every sampled item is whole: its fields come from the same inserted item."""
    obs = batch["observation"]
    np.testing.assert_array_equal(obs, np.repeat(obs[:, :1], OBS_SIZE, axis=1))
    np.testing.assert_array_equal(obs[:, 0].astype(np.int64), batch["action"])


def held_ids(replay: PrioritizedReplay) -> list[int]:
    state = replay.save()
    return sorted(int(a) for a in tree.unflatten_as(ITEM_SPEC, state["storage"])["action"][: state["size"]])


def leaf_priorities(replay: PrioritizedReplay) -> np.ndarray:
    """The sum tree's leaves: (|priority| + epsilon)**alpha per slot, 0 for slots never written."""
    return replay.save()["priorities"]


def filled(capacity: int, priorities=None, seed: int = 0, **kwargs) -> PrioritizedReplay:
    """A full replay holding ids 0..capacity-1 in slots 0..capacity-1, with `priorities` if given."""
    replay = PrioritizedReplay(ITEM_SPEC, capacity=capacity, seed=seed, **kwargs)
    replay.insert(items(range(capacity)))
    if priorities is not None:
        replay.update_priorities(np.arange(capacity), priorities)
    return replay


def assert_same_samples(a: PrioritizedSample, b: PrioritizedSample) -> None:
    for x, y in zip(tree.flatten(a), tree.flatten(b)):
        np.testing.assert_array_equal(x, y)


# ----------------------------------------------------------------------------
# Sampling.
# ----------------------------------------------------------------------------


def test_sample_returns_a_prioritized_sample_of_whole_items():
    replay = filled(10, seed=1)
    batch = replay.sample(32)
    assert isinstance(batch, PrioritizedSample)
    assert batch.data["observation"].shape == (32, OBS_SIZE)
    assert batch.keys.dtype == np.int64 and batch.keys.shape == (32,)
    assert batch.probabilities.dtype == np.float64 and batch.probabilities.shape == (32,)
    assert_consistent(batch.data)
    np.testing.assert_array_equal(batch.data["action"], batch.keys)  # Filled in order: slot k holds id k.
    np.testing.assert_allclose(batch.probabilities, 0.1)  # All at the initial max priority 1.
    weights = importance_weights(batch.probabilities, 0.4)
    assert weights.dtype == np.float32 and weights.shape == (32,)
    np.testing.assert_array_equal(weights, 1.0)


def test_sampling_is_stratified_over_the_total_mass():
    # Equal priorities and batch == size: each segment of the mass is exactly one item.
    replay = filled(16)
    np.testing.assert_array_equal(replay.sample(16).keys, np.arange(16))
    # One item with half the mass takes (about) half of every batch.
    replay = filled(9, priorities=[8.0] + [1.0] * 8, alpha=1.0, epsilon=0.0)
    assert np.sum(replay.sample(32).keys == 0) == 16


def test_only_held_items_are_sampled_before_the_buffer_fills():
    replay = PrioritizedReplay(ITEM_SPEC, capacity=100, seed=2)
    replay.insert(items([10, 20, 30]))
    batch = replay.sample(64)
    assert set(batch.data["action"].tolist()) == {10, 20, 30}
    assert set(batch.keys.tolist()) == {0, 1, 2}
    np.testing.assert_allclose(batch.probabilities, 1 / 3)


def test_sampling_frequencies_follow_priorities():
    priorities = np.arange(1.0, 9.0)  # alpha = 0.5 below: P(i) ∝ sqrt(i + 1).
    replay = filled(8, priorities=priorities, seed=3, alpha=0.5, epsilon=0.0)
    expected = np.sqrt(priorities) / np.sqrt(priorities).sum()
    draws = np.concatenate([replay.sample(50).keys for _ in range(400)])
    counts = np.bincount(draws, minlength=8)
    chi_square = np.sum((counts - draws.size * expected) ** 2 / (draws.size * expected))
    assert chi_square < 24.32  # The 0.999 quantile of chi-square with 7 degrees of freedom.
    np.testing.assert_allclose(counts / draws.size, expected, atol=0.01)


def test_zero_priority_items_are_never_sampled_and_alpha_zero_is_uniform():
    replay = filled(6, priorities=[0, 1, 0, 2, 0, 0], epsilon=0.0, alpha=1.0)
    assert set(np.concatenate([replay.sample(64).keys for _ in range(20)]).tolist()) == {1, 3}
    replay = filled(6, priorities=[0, 1, 0, 2, 0, 100], alpha=0.0)
    np.testing.assert_allclose(replay.sample(64).probabilities, 1 / 6)


@PROPERTY_SETTINGS
@given(st.lists(st.floats(-100.0, 100.0), min_size=1, max_size=40),
       st.floats(0.0, 1.0), st.floats(0.0, 1.0), st.sampled_from([0.0, 1e-6, 0.1]),
       st.integers(1, 64), st.integers(0, 2**32 - 1))
def test_probabilities_and_weights_match_the_formulas(priorities, alpha, beta, epsilon, batch_size, seed):
    p = (np.abs(np.array(priorities)) + epsilon) ** alpha
    if p.sum() == 0:
        return
    replay = filled(len(priorities), priorities=priorities, seed=seed, alpha=alpha, epsilon=epsilon)
    batch = replay.sample(batch_size)
    np.testing.assert_allclose(batch.probabilities, p[batch.keys] / p.sum(), rtol=1e-12)
    assert (p[batch.keys] > 0).all()
    raw = (len(priorities) * batch.probabilities) ** -beta
    weights = importance_weights(batch.probabilities, beta)
    np.testing.assert_allclose(weights, raw / raw.max(), rtol=1e-6)
    assert weights.max() == 1.0


def test_importance_weights_at_beta_one_are_inverse_probabilities():
    replay = filled(4, priorities=[1.0, 2.0, 3.0, 4.0], alpha=1.0, epsilon=0.0)
    batch = replay.sample(8)
    assert importance_weights(batch.probabilities, 1.0).min() == pytest.approx(1 / 4)  # p from 1 to 4.
    np.testing.assert_array_equal(importance_weights(batch.probabilities, 0.0), 1.0)
    with pytest.raises(ValueError, match=r"beta must be a number in \[0, 1\], got 1.5"):
        importance_weights(batch.probabilities, 1.5)


def test_schedule_state_carries_the_max_priority_to_a_fresh_replay():
    replay = filled(4, priorities=[1.0, 7.0, 3.0, 4.0], alpha=1.0, epsilon=0.0)
    fresh = PrioritizedReplay(ITEM_SPEC, capacity=4)
    fresh.restore_schedule_state(pickle.loads(pickle.dumps(replay.schedule_state())))
    assert fresh.max_priority == replay.max_priority == 7.0
    fresh.insert(items([0]))  # A resumed run's first items start at the old max, as they would have.
    assert leaf_priorities(fresh)[0] == 7.0


# ----------------------------------------------------------------------------
# Priorities.
# ----------------------------------------------------------------------------


def test_new_items_get_the_running_max_priority():
    replay = PrioritizedReplay(ITEM_SPEC, capacity=8, seed=0, alpha=0.5, epsilon=0.0)
    replay.insert(items(range(3)))
    np.testing.assert_array_equal(leaf_priorities(replay)[:3], 1.0)  # The initial max.
    replay.update_priorities([0, 1], [9.0, 0.25])
    assert replay.max_priority == 3.0  # sqrt(9).
    replay.update_priorities([0], [0.0])  # Lowering the top item does not lower the running max.
    assert replay.max_priority == 3.0
    replay.insert(items([3, 4]))
    np.testing.assert_array_equal(leaf_priorities(replay)[:6], [0.0, 0.5, 1.0, 3.0, 3.0, 0.0])


def test_update_priorities_applies_abs_epsilon_and_alpha_and_last_duplicate_wins():
    replay = filled(4, alpha=0.5, epsilon=0.01)
    replay.update_priorities(np.array([2, 1, 2]), np.array([-0.99, 3.99, 0.15]))
    np.testing.assert_allclose(leaf_priorities(replay), [1.0, 2.0, 0.4, 1.0])


def test_ring_overwrite_replaces_the_oldest_and_resets_priority_to_max():
    replay = PrioritizedReplay(ITEM_SPEC, capacity=5, seed=0, alpha=1.0, epsilon=0.0)
    replay.insert(items(range(5)))
    replay.update_priorities(np.arange(5), [0.0, 0.0, 4.0, 1.0, 1.0])
    replay.insert(items([5, 6]))  # Overwrites slots 0 and 1 (ids 0 and 1).
    assert held_ids(replay) == [2, 3, 4, 5, 6]
    np.testing.assert_array_equal(leaf_priorities(replay), [4.0, 4.0, 4.0, 1.0, 1.0])
    replay.insert(items(range(7, 20)))  # More than capacity: only the newest 5 stay.
    assert held_ids(replay) == [15, 16, 17, 18, 19]
    np.testing.assert_array_equal(leaf_priorities(replay), 4.0)
    assert_consistent(replay.sample(64).data)


def test_stale_keys_update_the_item_now_in_the_slot_without_corrupting_sums():
    replay = filled(4, seed=5, alpha=1.0, epsilon=0.0)
    batch = replay.sample(4)
    replay.insert(items([100, 101]))  # Overwrites slots 0 and 1 after they were sampled.
    replay.update_priorities(batch.keys, np.full(4, 0.5))
    np.testing.assert_array_equal(leaf_priorities(replay), 0.5)  # Documented: the new occupants get it.
    fresh = replay.sample(8)
    np.testing.assert_allclose(fresh.probabilities, 0.25)
    assert set(fresh.data["action"].tolist()) <= {100, 101, 2, 3}


# ----------------------------------------------------------------------------
# Save and restore, rate limiter, sizes.
# ----------------------------------------------------------------------------


def test_save_restore_gives_identical_future_samples():
    def make(seed):
        return PrioritizedReplay(ITEM_SPEC, capacity=6, seed=seed, alpha=0.7)

    replay = make(3)
    replay.insert(items(range(8)))  # Wrapped: holds 2..7, next slot is 2.
    replay.update_priorities(replay.sample(4).keys, [0.1, 5.0, 2.0, 0.3])
    replay.sample(3)
    state = pickle.loads(pickle.dumps(replay.save()))

    restored = make(999)
    restored.restore(state)
    assert restored.size() == replay.size() == 6
    assert held_ids(restored) == held_ids(replay) == [2, 3, 4, 5, 6, 7]
    assert restored.max_priority == replay.max_priority
    for step in range(4):  # Same rng, tree and write position from here on.
        a, b = replay.sample(5), restored.sample(5)
        assert_same_samples(a, b)
        for r in (replay, restored):
            r.update_priorities(a.keys, np.arange(5.0) + step)
            r.insert(items([100 + step]))
    np.testing.assert_array_equal(leaf_priorities(restored), leaf_priorities(replay))
    # The saved state is a copy: later inserts and updates do not change it.
    assert sorted(tree.unflatten_as(ITEM_SPEC, state["storage"])["action"].tolist()) == [2, 3, 4, 5, 6, 7]


def test_restore_rejects_a_state_of_another_capacity():
    state = filled(4).save()
    with pytest.raises(ValueError, match="capacity 5"):
        PrioritizedReplay(ITEM_SPEC, capacity=5).restore(state)


def test_sizes():
    replay = PrioritizedReplay(ITEM_SPEC, capacity=37)
    tree_bytes = SumTree(37).nbytes
    assert replay.nbytes == 37 * (4 * OBS_SIZE + 8) + tree_bytes
    assert replay.capacity == 37 and replay.size() == 0
    replay.insert(items(range(5)))
    assert replay.size() == 5


# ----------------------------------------------------------------------------
# Errors.
# ----------------------------------------------------------------------------


def test_constructor_rejects_bad_arguments():
    with pytest.raises(ValueError, match="capacity"):
        PrioritizedReplay(ITEM_SPEC, capacity=0)
    with pytest.raises(ValueError, match="alpha must be finite and >= 0, got -0.5"):
        PrioritizedReplay(ITEM_SPEC, capacity=4, alpha=-0.5)
    with pytest.raises(ValueError, match="epsilon must be finite and >= 0, got nan"):
        PrioritizedReplay(ITEM_SPEC, capacity=4, epsilon=float("nan"))


def test_sample_errors():
    replay = PrioritizedReplay(ITEM_SPEC, capacity=4)
    with pytest.raises(ValueError, match="empty"):
        replay.sample(1)
    replay.insert(items([1]))
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        replay.sample(0)
    replay = filled(2, priorities=[0.0, 0.0], epsilon=0.0)
    with pytest.raises(ValueError, match="priority 0"):
        replay.sample(1)


def test_update_priorities_rejects_non_finite_priorities_naming_the_count():
    replay = filled(4)
    with pytest.raises(ValueError, match=r"2 of 4 priorities are NaN or infinite \(e\.g\. nan at position 1\)"):
        replay.update_priorities([0, 1, 2, 3], [1.0, np.nan, np.inf, 2.0])
    np.testing.assert_array_equal(leaf_priorities(replay), 1.0)  # Nothing changed.


def test_update_priorities_rejects_keys_of_empty_slots_and_bad_shapes():
    replay = PrioritizedReplay(ITEM_SPEC, capacity=10)
    replay.insert(items(range(3)))
    with pytest.raises(ValueError, match=r"in \[0, 3\), got 2 outside \(e\.g\. 3\)"):
        replay.update_priorities([0, 3, -1], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match=r"same length, got shapes \(2,\) and \(3,\)"):
        replay.update_priorities([0, 1], [1.0, 1.0, 1.0])
    with pytest.raises(ValueError, match="integer keys"):
        replay.update_priorities(np.array([0.0]), [1.0])
    np.testing.assert_array_equal(leaf_priorities(replay)[:3], 1.0)


def test_wrong_item_shape_names_the_field():
    replay = PrioritizedReplay(ITEM_SPEC, capacity=4)
    bad = items([1, 2])
    bad["observation"] = bad["observation"][:, :3]
    with pytest.raises(ValueError, match=r"field 'observation' has shape \(2, 3\)"):
        replay.insert(bad)
    assert replay.size() == 0


# ----------------------------------------------------------------------------
# Threads.
# ----------------------------------------------------------------------------


def test_concurrent_inserts_samples_and_updates_keep_items_and_sums_whole():
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # Switch threads often, so races show up in a short run.
    try:
        _run_concurrently()
    finally:
        sys.setswitchinterval(previous)


def _run_concurrently():
    replay = PrioritizedReplay(ITEM_SPEC, capacity=50, seed=0)
    replay.insert(items([0]))
    errors: list[BaseException] = []

    def writer(w: int) -> None:
        try:
            for b in range(30):
                replay.insert(items(range(1000 * w + 5 * b, 1000 * w + 5 * b + 5)))
        except BaseException as e:  # noqa: BLE001 - reported by the main thread.
            errors.append(e)

    def learner(seed: int) -> None:
        rng = np.random.default_rng(seed)
        try:
            for _ in range(60):
                batch = replay.sample(16)
                assert_consistent(batch.data)
                replay.update_priorities(batch.keys, rng.random(16) * 10)
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(3)]
    threads += [threading.Thread(target=learner, args=(s,)) for s in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert not any(t.is_alive() for t in threads)
    assert not errors, errors[0]
    # The incrementally updated tree equals one rebuilt from its leaves, so its sums are whole.
    state = replay.save()
    rebuilt = SumTree(50)
    rebuilt.set_all(state["priorities"])
    batch = replay.sample(50)
    np.testing.assert_array_equal(batch.probabilities, state["priorities"][batch.keys] / rebuilt.total)
