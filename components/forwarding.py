"""Adders that stand between an actor and a replay it shares: paced by the rate limiter, or forwarded."""

from __future__ import annotations

import threading
from typing import Any, Callable

import dm_env

from components.core import Adder, RunStopped

POLL_SECONDS = 0.05  # How long a wait lasts before the stop check runs again.


def wait_for_room(rate_limiter: Any, num_items: int, check: Callable[[], None]) -> None:
    """Blocks until `rate_limiter` allows inserting `num_items`, calling `check` (which may raise) meanwhile."""
    while not rate_limiter.await_insert(num_items, timeout=POLL_SECONDS):
        check()


class PacedAdder(Adder):
    """Waits until the rate limiter has room for a step of `num_lanes` items before each write.

    `lock` is shared by every actor writing into one replay: waiting and writing
    happen under it, so two actors cannot both see room for one batch and
    overfill an on-policy queue. `check` raises to abandon a wait (the run stops).
    """

    def __init__(self, adder: Adder, rate_limiter: Any, num_lanes: int, check: Callable[[], None],
                 lock: threading.Lock) -> None:
        self._adder, self._limiter, self._lanes, self._check, self._lock = adder, rate_limiter, num_lanes, check, lock

    def add_first(self, timestep: dm_env.TimeStep) -> None:
        with self._lock:
            self._adder.add_first(timestep)

    def add(self, action: Any, next_timestep: dm_env.TimeStep, extras: Any = ()) -> None:
        with self._lock:
            wait_for_room(self._limiter, self._lanes, self._check)
            self._adder.add(action, next_timestep, extras)

    def reset(self) -> None:
        self._adder.reset()


class ForwardingAdder(Adder):
    """Queues an actor's adder calls and hands them to `send(calls) -> bool` together, on `flush`.

    For an adder that lives elsewhere (another process): the calls are
    ('first', timestep) and ('step', action, timestep, extras); `send` returns
    False once the run is stopping. `reset` drops the queue and calls `on_reset`.
    """

    def __init__(self, send: Callable[[list[tuple]], bool], on_reset: Callable[[], None]) -> None:
        self._send, self._on_reset, self._calls = send, on_reset, []

    def add_first(self, timestep: dm_env.TimeStep) -> None:
        self._calls.append(("first", timestep))

    def add(self, action: Any, next_timestep: dm_env.TimeStep, extras: Any = ()) -> None:
        self._calls.append(("step", action, next_timestep, extras))

    def flush(self) -> bool:
        """Sends the queued calls; False once the run is stopping."""
        calls, self._calls = self._calls, []
        return self._send(calls) if calls else True

    def reset(self) -> None:
        self._calls = []
        self._on_reset()


class WaitingSampler:
    """What a learner samples from when batches may not be allowed yet: `try_sample(batch_size)` gives a
    batch or None (none within a short wait); `sample` asks again until one comes, raising `RunStopped`
    once `stopped()`. `update_priorities` goes to `update`."""

    def __init__(self, try_sample: Callable[[int], Any], stopped: Callable[[], bool],
                 update: Callable[[Any, Any], None] | None = None) -> None:
        self._try, self._stopped, self._update = try_sample, stopped, update

    def sample(self, batch_size: int) -> Any:
        while (batch := self._try(batch_size)) is None:
            if self._stopped():
                raise RunStopped()
        return batch

    def update_priorities(self, keys: Any, priorities: Any) -> None:
        self._update(keys, priorities)


def replay_calls(adder: Adder, calls: list[tuple]) -> None:
    """Plays a `ForwardingAdder`'s calls into `adder`."""
    for call in calls:
        if call[0] == "first":
            adder.add_first(call[1])
        else:
            adder.add(*call[1:])
