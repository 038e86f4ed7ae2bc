"""Tests for `components.replay.UniformReplay` and `components.rate_limiters.RateLimiter`."""

from __future__ import annotations

import pickle
import sys
import threading

import numpy as np
import pytest
import tree
from dm_env import specs

from components.prioritized_replay import PrioritizedReplay
from components.rate_limiters import RateLimiter
from components.replay import UniformReplay
from tests.support import run_threads

# ----------------------------------------------------------------------------
# Helpers.
# ----------------------------------------------------------------------------

OBS_SIZE = 64  # Wide enough that an unlocked copy could be caught half-written.

ITEM_SPEC = {
    "observation": specs.Array((OBS_SIZE,), np.float32, "observation"),
    "action": specs.Array((), np.int64, "action"),
    "next_observation": specs.Array((OBS_SIZE,), np.float32, "next_observation"),
}


def items(ids) -> dict[str, np.ndarray]:
    """Items whose fields all agree with their id k: obs = k, action = k, next_obs = k + 1."""
    ids = np.asarray(ids, dtype=np.int64)
    observation = np.repeat(ids[:, None].astype(np.float32), OBS_SIZE, axis=1)
    return {"observation": observation, "action": ids.copy(), "next_observation": observation + 1}


def assert_consistent(batch) -> None:
    """Every sampled item is whole: its fields come from the same inserted item."""
    obs, action, next_obs = batch["observation"], batch["action"], batch["next_observation"]
    np.testing.assert_array_equal(obs, np.repeat(obs[:, :1], OBS_SIZE, axis=1))
    np.testing.assert_array_equal(obs[:, 0].astype(np.int64), action)
    np.testing.assert_array_equal(next_obs, obs + 1)


def held_ids(replay: UniformReplay) -> list[int]:
    """The ids of the items the replay holds (read from its saved storage)."""
    state = replay.save()
    leaves = tree.unflatten_as(ITEM_SPEC, state["storage"])
    return sorted(int(a) for a in leaves["action"][: state["size"]])


# ----------------------------------------------------------------------------
# UniformReplay.
# ----------------------------------------------------------------------------


def test_ring_buffer_keeps_exactly_the_newest_items():
    replay = UniformReplay(ITEM_SPEC, capacity=5, seed=0)
    replay.insert(items([0, 1, 2]))
    assert replay.size() == 3
    assert held_ids(replay) == [0, 1, 2]
    replay.insert(items([3, 4, 5]))  # Wraps: 0 is overwritten.
    assert replay.size() == 5
    assert held_ids(replay) == [1, 2, 3, 4, 5]
    replay.insert(items([6]))
    assert held_ids(replay) == [2, 3, 4, 5, 6]
    # Sampling sees exactly the held items (1000 draws from 5 miss none).
    sampled = set(replay.sample(1000)["action"].tolist())
    assert sampled == {2, 3, 4, 5, 6}


def test_batch_larger_than_capacity_keeps_its_newest_items():
    replay = UniformReplay(ITEM_SPEC, capacity=5, seed=0)
    replay.insert(items([100]))
    replay.insert(items(range(12)))
    assert replay.size() == 5
    assert held_ids(replay) == [7, 8, 9, 10, 11]
    # Later inserts still overwrite the oldest item first.
    replay.insert(items([12]))
    assert held_ids(replay) == [8, 9, 10, 11, 12]


def test_sampling_returns_only_inserted_items():
    replay = UniformReplay(ITEM_SPEC, capacity=100, seed=1)
    replay.insert(items([10, 20, 30]))
    batch = replay.sample(64)
    assert batch["observation"].shape == (64, OBS_SIZE)
    assert batch["action"].shape == (64,)
    assert set(batch["action"].tolist()) <= {10, 20, 30}
    assert_consistent(batch)  # Not the zero-filled storage either: next_obs == obs + 1.


def test_same_seed_same_samples():
    def sampled(seed):
        replay = UniformReplay(ITEM_SPEC, capacity=50, seed=seed)
        replay.insert(items(range(40)))
        return [replay.sample(8)["action"].tolist() for _ in range(3)]

    assert sampled(7) == sampled(7)
    assert sampled(7) != sampled(8)


def test_nested_dict_observations():
    spec = {
        "observation": {"position": specs.Array((2,), np.float32), "grid": specs.Array((3, 4, 4), np.uint8)},
        "action": specs.Array((), np.int32),
    }
    replay = UniformReplay(spec, capacity=10, seed=0)
    n = 4
    replay.insert({
        "observation": {
            "position": np.arange(n, dtype=np.float32)[:, None].repeat(2, axis=1),
            "grid": np.arange(n, dtype=np.uint8)[:, None, None, None].repeat(3, 1).repeat(4, 2).repeat(4, 3),
        },
        "action": np.arange(n, dtype=np.int32),
    })
    batch = replay.sample(16)
    assert set(batch) == {"observation", "action"}
    assert set(batch["observation"]) == {"position", "grid"}
    assert batch["observation"]["position"].shape == (16, 2)
    assert batch["observation"]["grid"].shape == (16, 3, 4, 4)
    assert batch["observation"]["grid"].dtype == np.uint8
    assert batch["action"].dtype == np.int32
    # Leaves of one sampled item stay together.
    np.testing.assert_array_equal(batch["observation"]["position"][:, 0], batch["action"])
    np.testing.assert_array_equal(batch["observation"]["grid"][:, 2, 3, 1], batch["action"])


NESTED_SPEC = {
    "observation": {"pos": specs.Array((2,), np.float32), "vel": specs.Array((2,), np.float32)},
    "action": specs.Array((), np.int32),
}


def nested_items(n=3, pos_shape=(2,), vel_shape=(2,), vel_n=None):
    return {
        "observation": {"pos": np.zeros((n, *pos_shape), np.float32),
                        "vel": np.zeros((vel_n if vel_n is not None else n, *vel_shape), np.float32)},
        "action": np.zeros(n, np.int32),
    }


def test_wrong_item_shape_names_the_field():
    replay = UniformReplay(NESTED_SPEC, capacity=4)
    with pytest.raises(ValueError, match="observation/vel") as error:
        replay.insert(nested_items(vel_shape=(3,)))
    assert "(3, 3)" in str(error.value)
    assert replay.size() == 0  # Nothing half-inserted.


def test_mismatched_item_counts_name_the_field():
    replay = UniformReplay(NESTED_SPEC, capacity=4)
    with pytest.raises(ValueError, match="observation/vel"):
        replay.insert(nested_items(n=3, vel_n=2))
    assert replay.size() == 0


def test_unbatched_item_is_rejected_with_the_field_name():
    replay = UniformReplay(NESTED_SPEC, capacity=4)
    single = tree.map_structure(lambda x: x[0], nested_items())  # pos (2,), not (1, 2).
    with pytest.raises(ValueError, match=r"field '(action|observation/pos|observation/vel)'"):
        replay.insert(single)


def test_missing_field_is_rejected_naming_it():
    replay = UniformReplay(NESTED_SPEC, capacity=4)
    bad = nested_items()
    del bad["observation"]["vel"]
    with pytest.raises((ValueError, TypeError), match="vel"):
        replay.insert(bad)
    assert replay.size() == 0


def test_renamed_field_is_rejected():
    replay = UniformReplay(NESTED_SPEC, capacity=4)
    bad = nested_items()
    bad["observation"]["speed"] = bad["observation"].pop("vel")
    with pytest.raises((ValueError, TypeError), match="speed|vel"):
        replay.insert(bad)


def test_unbatched_scalar_item_is_rejected_with_a_clear_error():
    spec = {"action": specs.Array((), np.int32), "reward": specs.Array((), np.float32)}
    replay = UniformReplay(spec, capacity=4)
    with pytest.raises(ValueError, match="action"):
        replay.insert({"action": np.int32(1), "reward": np.float32(0.5)})


def test_sampling_an_empty_replay_raises():
    replay = UniformReplay(ITEM_SPEC, capacity=4)
    with pytest.raises(ValueError, match="empty"):
        replay.sample(1)


def test_capacity_must_be_positive():
    with pytest.raises(ValueError, match="capacity"):
        UniformReplay(ITEM_SPEC, capacity=0)


def test_nbytes_is_capacity_times_item_bytes():
    capacity = 37
    replay = UniformReplay(ITEM_SPEC, capacity=capacity)
    item_bytes = 4 * OBS_SIZE + 8 + 4 * OBS_SIZE  # float32 obs, int64 action, float32 next obs.
    assert replay.nbytes == capacity * item_bytes
    assert replay.capacity == capacity
    replay.insert(items(range(5)))
    assert replay.nbytes == capacity * item_bytes  # Preallocated: does not grow.


def test_save_restore_round_trip():
    replay = UniformReplay(ITEM_SPEC, capacity=6, seed=3)
    replay.insert(items(range(8)))  # Wrapped: holds 2..7, next slot is 2.
    state = pickle.loads(pickle.dumps(replay.save()))

    restored = UniformReplay(ITEM_SPEC, capacity=6, seed=999)
    restored.restore(state)
    assert restored.size() == replay.size() == 6
    assert held_ids(restored) == held_ids(replay) == [2, 3, 4, 5, 6, 7]
    # Same RNG state: the same samples follow.
    for _ in range(3):
        a, b = replay.sample(5), restored.sample(5)
        for key in ITEM_SPEC:
            np.testing.assert_array_equal(a[key], b[key])
    # Same write position: the next insert overwrites the same oldest item.
    replay.insert(items([8]))
    restored.insert(items([8]))
    assert held_ids(restored) == held_ids(replay) == [3, 4, 5, 6, 7, 8]
    # The saved state is a copy: later inserts do not change it.
    assert sorted(int(a) for a in tree.unflatten_as(ITEM_SPEC, state["storage"])["action"]) == [2, 3, 4, 5, 6, 7]


@pytest.mark.parametrize("replay_class", [UniformReplay, PrioritizedReplay])
def test_replay_reports_inserts_and_samples_to_its_rate_limiter(replay_class):
    limiter = RateLimiter(samples_per_insert=1.0, min_size_to_sample=1)
    replay = replay_class(ITEM_SPEC, capacity=5, seed=0, rate_limiter=limiter)
    replay.insert(items(range(3)))
    replay.insert(items(range(9)))  # Only the newest 5 fit: 5 are counted.
    replay.sample(4)
    assert limiter.counts == {"inserts": 8, "samples": 4}


def test_concurrent_inserts_and_samples_never_tear_items():
    # Switch threads far more often than the default 5 ms, so races show up in a short run.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)
    try:
        _run_concurrent_inserts_and_samples()
    finally:
        sys.setswitchinterval(previous)


def _run_concurrent_inserts_and_samples():
    capacity = 100
    replay = UniformReplay(ITEM_SPEC, capacity=capacity, seed=0)
    num_writers, batches_per_writer, batch = 4, 40, 5
    first_insert = threading.Event()
    errors: list[BaseException] = []
    sampled_batches = [0]

    def writer(w: int) -> None:
        try:
            for b in range(batches_per_writer):
                start = (w * batches_per_writer + b) * batch
                replay.insert(items(range(start, start + batch)))
                first_insert.set()
        except BaseException as e:  # noqa: BLE001 - reported by the main thread.
            errors.append(e)

    def reader() -> None:
        try:
            assert first_insert.wait(timeout=10)
            for _ in range(150):
                assert_consistent(replay.sample(16))
                sampled_batches[0] += 1
        except BaseException as e:  # noqa: BLE001
            errors.append(e)

    threads = [threading.Thread(target=writer, args=(w,)) for w in range(num_writers)]
    threads += [threading.Thread(target=reader) for _ in range(2)]
    run_threads(threads, timeout=30)
    assert not errors, errors[0]
    assert sampled_batches[0] == 300
    assert replay.size() == capacity
    ids = held_ids(replay)
    total = num_writers * batches_per_writer * batch
    assert len(set(ids)) == capacity  # No slot written twice / lost by racing writers.
    assert all(0 <= i < total for i in ids)
    assert_consistent(replay.sample(256))


# ----------------------------------------------------------------------------
# RateLimiter.
# ----------------------------------------------------------------------------


def test_rate_limiter_validates_arguments():
    with pytest.raises(ValueError, match="samples_per_insert"):
        RateLimiter(0, 1)
    with pytest.raises(ValueError, match="min_size_to_sample"):
        RateLimiter(1, 0)


def test_no_sampling_below_min_size():
    limiter = RateLimiter(samples_per_insert=2.0, min_size_to_sample=5)
    for _ in range(4):
        limiter.on_insert()
        assert not limiter.can_sample(1)
    limiter.on_insert()
    assert limiter.can_sample(1)


def test_inserts_are_always_allowed_up_to_min_size():
    limiter = RateLimiter(samples_per_insert=1.0, min_size_to_sample=10)
    assert limiter.can_insert(10)
    limiter.on_insert(9)
    assert limiter.can_insert(1)


def test_can_insert_blocks_when_inserts_run_ahead_and_sampling_unblocks():
    limiter = RateLimiter(samples_per_insert=1.0, min_size_to_sample=1, error_buffer=1.0)
    assert limiter.can_insert()
    limiter.on_insert()
    assert limiter.can_insert()  # 1 sample owed: within the buffer.
    limiter.on_insert()
    assert not limiter.can_insert()  # 2 samples owed: too far ahead.
    assert limiter.can_sample(2)
    limiter.on_sample(1)
    assert limiter.can_insert()


def test_can_sample_blocks_when_samples_run_ahead():
    limiter = RateLimiter(samples_per_insert=1.0, min_size_to_sample=1, error_buffer=1.0)
    limiter.on_insert()
    assert limiter.can_sample(2)  # 1 allowed + buffer 1.
    assert not limiter.can_sample(3)
    limiter.on_sample(2)
    assert not limiter.can_sample(1)
    limiter.on_insert()
    assert limiter.can_sample(1)


@pytest.mark.parametrize("samples_per_insert, min_size, error_buffer, batch", [
    (1.0, 1, None, 1),
    (0.5, 5, None, 1),
    (4.0, 10, 32.0, 32),
    (8.0, 100, 32.0, 32),
])
def test_ratio_is_respected_over_many_steps(samples_per_insert, min_size, error_buffer, batch):
    limiter = RateLimiter(samples_per_insert, min_size, error_buffer)
    buffer = limiter.error_buffer
    for _ in range(3000):
        if limiter.can_insert(1):
            limiter.on_insert(1)
        while limiter.can_sample(batch):
            limiter.on_sample(batch)
        inserts, samples = limiter.counts["inserts"], limiter.counts["samples"]
        if inserts >= min_size:
            owed = samples_per_insert * (inserts - min_size + 1)
            assert abs(samples - owed) <= buffer
    inserts, samples = limiter.counts["inserts"], limiter.counts["samples"]
    assert inserts == 3000  # Sampling kept up: inserts were never blocked.
    assert samples / (inserts - min_size + 1) == pytest.approx(samples_per_insert, rel=0.02)


def _in_thread(fn):
    result: dict[str, object] = {}
    thread = threading.Thread(target=lambda: result.setdefault("value", fn()))
    thread.start()
    return thread, result


def test_await_sample_times_out_when_blocked():
    limiter = RateLimiter(samples_per_insert=1.0, min_size_to_sample=2)
    limiter.on_insert()
    assert limiter.await_sample(1, timeout=0.05) is False


def test_await_sample_returns_true_when_an_insert_unblocks_it():
    limiter = RateLimiter(samples_per_insert=1.0, min_size_to_sample=2)
    limiter.on_insert()
    thread, result = _in_thread(lambda: limiter.await_sample(1, timeout=10))
    thread.join(timeout=0.1)
    assert thread.is_alive()  # Still blocked.
    limiter.on_insert()
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert result["value"] is True


def test_await_insert_times_out_when_blocked():
    limiter = RateLimiter(samples_per_insert=1.0, min_size_to_sample=1, error_buffer=1.0)
    limiter.on_insert(2)
    assert limiter.await_insert(1, timeout=0.05) is False


def test_await_insert_returns_true_when_a_sample_unblocks_it():
    limiter = RateLimiter(samples_per_insert=1.0, min_size_to_sample=1, error_buffer=1.0)
    limiter.on_insert(2)
    thread, result = _in_thread(lambda: limiter.await_insert(1, timeout=10))
    thread.join(timeout=0.1)
    assert thread.is_alive()
    limiter.on_sample(1)
    thread.join(timeout=10)
    assert not thread.is_alive()
    assert result["value"] is True


def test_rate_limiter_save_restore_wakes_waiters():
    limiter = RateLimiter(samples_per_insert=1.0, min_size_to_sample=3)
    limiter.on_insert(2)
    limiter.on_sample(0)
    assert limiter.save() == {"inserts": 2, "samples": 0}
    thread, result = _in_thread(lambda: limiter.await_sample(1, timeout=10))
    thread.join(timeout=0.1)
    assert thread.is_alive()
    limiter.restore({"inserts": 5, "samples": 1})
    thread.join(timeout=10)
    assert result["value"] is True
    assert limiter.counts == {"inserts": 5, "samples": 1}


def test_default_error_buffer_never_deadlocks_batched_sampling():
    limiter = RateLimiter(samples_per_insert=1.0, min_size_to_sample=1)  # Default error buffer.
    batch = 32
    for _ in range(200):
        assert limiter.can_insert(1) or limiter.can_sample(batch), f"deadlock at {limiter.counts}"
        if limiter.can_insert(1):
            limiter.on_insert(1)
        while limiter.can_sample(batch):
            limiter.on_sample(batch)


# ----------------------------------------------------------------------------
# Property: the ring holds exactly the newest `capacity` items.
# ----------------------------------------------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402


@settings(max_examples=60, deadline=None)
@given(capacity=st.integers(1, 12), batches=st.lists(st.integers(1, 20), max_size=15),
       sample_size=st.integers(1, 8))
def test_the_ring_holds_the_newest_capacity_items(capacity, batches, sample_size):
    replay = UniformReplay(ITEM_SPEC, capacity, seed=0)
    inserted: list[int] = []
    for count in batches:
        ids = list(range(len(inserted), len(inserted) + count))
        replay.insert(items(ids))
        inserted += ids
        assert replay.size() == min(len(inserted), capacity)
        held = set(inserted[-capacity:])
        batch = replay.sample(sample_size)
        drawn = batch["action"].tolist()
        assert set(drawn) <= held
        assert_consistent(batch)  # Each row is one item, never a mix of two.
        assert sorted(held_ids(replay)) == sorted(held)
