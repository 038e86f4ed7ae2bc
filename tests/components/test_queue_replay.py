"""Tests for `OnPolicyQueue` and its `QueueRateLimiter`: FIFO, exactly once, bounded, thread-safe."""

from __future__ import annotations

import pickle
import threading
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from components.core import batch_iterator
from components.queue_replay import OnPolicyQueue
from components.types import Trajectory
from tests.support import run_threads


def items(ids) -> dict:
    """A batch of items whose ids are `ids`: {'id': (n,), 'obs': (n, 3)}."""
    ids = np.asarray(ids, dtype=np.int64)
    return {"id": ids, "obs": np.stack([ids, ids * 2, ids * 3], axis=-1).astype(np.float32)}


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["insert", "sample"]), st.integers(1, 5)), max_size=40),
       st.integers(1, 12))
def test_fifo_and_exactly_once_against_a_list(operations, capacity):
    queue = OnPolicyQueue(capacity)
    model: list[int] = []
    next_id, consumed = 0, []
    for op, n in operations:
        if op == "insert":
            fits = len(model) + n <= capacity
            assert queue.rate_limiter.can_insert(n) == fits
            if fits:
                queue.insert(items(range(next_id, next_id + n)))
                model.extend(range(next_id, next_id + n))
                next_id += n
            else:
                message = (f"{n} items can never fit" if n > capacity
                           else f"full: size {len(model)} \\+ {n} new items > capacity {capacity}")
                with pytest.raises(ValueError, match=message):
                    queue.insert(items(range(n)))
        else:
            assert queue.rate_limiter.can_sample(n) == (len(model) >= n)
            if len(model) >= n:
                batch = queue.sample(n)
                np.testing.assert_array_equal(batch["id"], model[:n])
                np.testing.assert_array_equal(batch["obs"][:, 2], np.float32(model[:n]) * 3)
                consumed.extend(batch["id"].tolist())
                del model[:n]
            else:
                message = "can never be met" if n > capacity else f"asked for {n} items but only {len(model)}"
                with pytest.raises(ValueError, match=message):
                    queue.sample(n)
        assert queue.size() == len(model)
    assert consumed == list(range(len(consumed)))  # Oldest first, none twice, none skipped.
    counts = queue.rate_limiter.counts
    assert counts == {"inserts": next_id, "samples": len(consumed)}


def test_items_of_different_lengths_come_back_as_a_list():
    queue = OnPolicyQueue(10)
    for length in (3, 5, 3):
        queue.insert(Trajectory(np.zeros((1, length + 1, 2)), np.zeros((1, length)), np.zeros((1, length)),
                                np.ones((1, length)), np.zeros((1, length + 1), np.int8), ()))
    batch = queue.sample(2)
    assert isinstance(batch, list) and [b.action.shape for b in batch] == [(3,), (5,)]
    assert isinstance(batch[0], Trajectory) and batch[0].extras == ()
    single = queue.sample(1)  # One item is trivially stackable.
    assert isinstance(single, Trajectory) and single.observation.shape == (1, 4, 2)


def test_inserted_arrays_are_copied():
    queue = OnPolicyQueue(4)
    batch = items([1, 2])
    queue.insert(batch)
    batch["id"][:] = -1
    np.testing.assert_array_equal(queue.sample(2)["id"], [1, 2])


def test_bare_array_items():
    queue = OnPolicyQueue(4)
    queue.insert(np.arange(3))
    np.testing.assert_array_equal(queue.sample(2), [0, 1])


def test_clear_errors():
    with pytest.raises(ValueError, match="positive integer, got 0"):
        OnPolicyQueue(0)
    queue = OnPolicyQueue(3)
    with pytest.raises(ValueError, match="4 items can never fit in capacity 3"):
        queue.insert(items(range(4)))
    with pytest.raises(ValueError, match="field 'obs' has shape \\(1, 3\\)"):
        queue.insert({"id": np.zeros(2), "obs": np.zeros((1, 3))})
    queue.insert(items([0]))
    with pytest.raises(ValueError, match="structure of the first insert"):
        queue.insert({"id": np.zeros(1)})
    with pytest.raises(ValueError, match="batch_size 4 can never be met with capacity 3"):
        queue.sample(4)
    with pytest.raises(ValueError, match="Cannot sample 4 items at once with an OnPolicyQueue of capacity 3"):
        queue.rate_limiter.await_sample(4, timeout=0)
    assert queue.size() == 1  # Failed calls change nothing.


def test_waiting_with_timeouts():
    queue = OnPolicyQueue(2)
    start = time.monotonic()
    assert not queue.rate_limiter.await_sample(1, timeout=0.05)
    with pytest.raises(ValueError, match="only 0 are queued"):
        queue.sample(1, timeout=0.05)
    queue.insert(items([0, 1]))
    assert not queue.rate_limiter.await_insert(1, timeout=0.05)
    with pytest.raises(ValueError, match="full: size 2 \\+ 1 new items > capacity 2"):
        queue.insert(items([2]), timeout=0.05)
    assert 0.15 <= time.monotonic() - start < 2.0
    assert queue.rate_limiter.await_sample(2, timeout=0) and queue.rate_limiter.await_insert(0, timeout=0)


def test_blocked_insert_resumes_when_a_learner_samples():
    queue = OnPolicyQueue(2)
    queue.insert(items([0, 1]))
    done = threading.Event()

    def actor():
        assert queue.rate_limiter.await_insert(2, timeout=5.0)
        queue.insert(items([2, 3]))
        done.set()

    thread = threading.Thread(target=actor)
    thread.start()
    time.sleep(0.05)
    assert not done.is_set()  # Still blocked: the queue is full.
    np.testing.assert_array_equal(queue.sample(2)["id"], [0, 1])
    thread.join(timeout=5.0)
    assert done.is_set()
    np.testing.assert_array_equal(queue.sample(2, timeout=1.0)["id"], [2, 3])


def test_threads_see_every_item_exactly_once_in_order():
    queue = OnPolicyQueue(capacity=7)
    producers, per_producer, batch = 3, 60, 3
    received: list[list[int]] = []

    def produce(p: int) -> None:
        for k in range(per_producer // 2):
            ids = [p * 1000 + 2 * k, p * 1000 + 2 * k + 1]
            queue.insert(items(ids), timeout=10.0)

    def consume() -> None:
        for _ in range(producers * per_producer // batch // 2):
            received.append(queue.sample(batch, timeout=10.0)["id"].tolist())

    threads = [threading.Thread(target=produce, args=(p,)) for p in range(producers)]
    threads += [threading.Thread(target=consume) for _ in range(2)]
    run_threads(threads, timeout=20.0)
    flat = [i for b in received for i in b]
    assert sorted(flat) == sorted(p * 1000 + k for p in range(producers) for k in range(per_producer))
    for p in range(producers):  # Each producer's items leave in the order it inserted them.
        own = [i for i in flat if i // 1000 == p]
        # Two consumers may append their batches out of order, so check within batches only.
        for b in received:
            mine = [i for i in b if i // 1000 == p]
            assert mine == sorted(mine)
        assert len(own) == per_producer
    assert queue.size() == 0


def test_save_and_restore_the_queued_items():
    queue = OnPolicyQueue(5)
    queue.insert(Trajectory(np.arange(6).reshape(2, 3), np.zeros((2, 2)), np.zeros((2, 2)), np.ones((2, 2)),
                            np.zeros((2, 3), np.int8), {"log_prob": np.array([[0.5, 0.25], [1.0, 2.0]])}))
    queue.sample(1)
    state = pickle.loads(pickle.dumps(queue.save()))
    queue.sample(1)
    restored = OnPolicyQueue(5)
    restored.restore(state)
    assert restored.size() == 1 and restored.rate_limiter.counts == {"inserts": 2, "samples": 1}
    item = restored.sample(1)
    np.testing.assert_array_equal(item.observation, [[3, 4, 5]])
    np.testing.assert_array_equal(item.extras["log_prob"], [[1.0, 2.0]])
    with pytest.raises(ValueError, match="holds 2 items, more than this queue's capacity"):
        OnPolicyQueue(1).restore({"items": state["items"] * 2, "rate_limiter": state["rate_limiter"]})


def test_works_with_batch_iterator_and_the_local_runner_loop():
    """What `launchers.local.LearningActor` does: learn while the limiter allows a batch, never blocking."""
    queue = OnPolicyQueue(capacity=6)
    batches = batch_iterator(queue, 4)
    learned = []
    for step in range(6):  # An actor inserting 2 lanes' items per write.
        queue.insert(items([2 * step, 2 * step + 1]))
        while queue.rate_limiter.can_sample(4):
            learned.append(next(batches)["id"].tolist())
    assert learned == [[0, 1, 2, 3], [4, 5, 6, 7], [8, 9, 10, 11]]
    assert queue.size() == 0
