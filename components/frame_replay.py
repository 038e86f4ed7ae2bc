"""Frame replay: Atari transitions stored as single frames, stacks rebuilt exactly at sampling time.

A stacked Atari observation (stack, H, W) shares stack - 1 frames with the
previous observation of its lane, and a transition's next observation shares
them again, so storing `observation` and `next_observation` as arrays keeps
each frame about 2 * stack times (1M transitions of (4, 84, 84) uint8: ~56 GB).
Here every frame is stored once, in a ring (`components.frame_store.FrameStore`),
with a pointer to the previous frame of its stack; replay items hold int64
frame handles and `FrameStackReplay` turns them back into stacks when it
samples (~7.5 GB).

Nothing is assumed about how an environment starts an episode: a lane's new
stack is compared with its previous one, bit for bit, and when it is not the
previous one shifted by a single frame the whole stack is written afresh
(a keyframe). So repeated first frames, zero padding and stacks that carry on
across a lost life all come back bit-identical.

A dict observation whose entry `frame_key` is the stack (an image beside a few
scalars) is stored the same way: that entry becomes the handle, the other
entries are kept as they are.

Observations that are not shifted stacks (one frame, MinAtar's object
channels) are all keyframes: correct, but the ring then holds too few
transitions and sampling spends its draws on stale items. `sample` warns once
when that happens; `frame_replay_key` only picks frame replay for specs that
say they are frame stacks (named `environments.spec_checks.FRAME_STACK`).
"""

from __future__ import annotations

import copy
import math
from typing import Any, Mapping

import numpy as np
import tree
from dm_env import specs

from components.core import Replay, save_replay
from components.frame_store import FrameStore, LaneRange
from components.replay import UniformReplay
from components.types import PrioritizedSample, Transition, transition_spec
from environments import nests
from environments.spec_checks import FRAME_STACK

HANDLE_SPEC = specs.Array((), np.int64, "frame_handle")
WHOLE = ""  # frame_key of an observation that is the stack itself.
STALE_WARNING_FRACTION = 0.05  # Redrawn items, as a fraction of items sampled, that earn the one-time warning.


def _is_stack(spec: Any) -> bool:
    return isinstance(spec, specs.Array) and spec.dtype == np.uint8 and len(spec.shape) >= 3


def frame_replay_key(mode: str, observation_spec: Any) -> str | None:
    """Which part of the observation frame replay stores, or None for none: WHOLE for a stacked-frame
    array, a key for a dict with one stacked-frame entry. 'auto' picks specs named FRAME_STACK (Atari's);
    'on' also takes any uint8 array of rank >= 3 (one entry of a dict); 'off' none."""
    if mode == "off":
        return None
    named = (lambda spec: _is_stack(spec) and spec.name == FRAME_STACK) if mode == "auto" else _is_stack
    if isinstance(observation_spec, specs.Array):
        return WHOLE if named(observation_spec) else _refuse(mode, observation_spec)
    if isinstance(observation_spec, Mapping):
        keys = [key for key, spec in observation_spec.items() if named(spec)]
        if len(keys) == 1:
            return keys[0]
        if mode == "on":
            raise ValueError(f"frame_replay=on needs one stacked-frame entry (uint8, rank >= 3) in the dict "
                             f"observation, found {keys or 'none'} among {sorted(observation_spec)}.")
    return _refuse(mode, observation_spec)


def _refuse(mode: str, observation_spec: Any) -> None:
    if mode == "on":
        raise ValueError(f"frame_replay=on needs stacked frames (a uint8 array of rank >= 3, or a dict with one "
                         f"such entry); the observation spec is {observation_spec!r}.")
    return None


def frame_transition_spec(environment_spec: Any, extras_spec: Any = (), frame_key: str = WHOLE) -> Transition:
    """The item spec of a `FrameStackReplay`'s inner replay: a Transition whose observations (or their
    `frame_key` entry) are handles."""
    observation = environment_spec.observations
    handles = HANDLE_SPEC if frame_key == WHOLE else {**observation, frame_key: HANDLE_SPEC}
    return transition_spec(environment_spec, extras_spec)._replace(observation=handles, next_observation=handles)


class KeyedFrameStore:
    """A frame store seen through one entry of a dict observation: `add` stores that entry's stacks and
    returns each lane's observation with the entry replaced by its handle (what the adder keeps)."""

    def __init__(self, store: FrameStore | LaneRange, key: str) -> None:
        self._store = store
        self._key = key

    def add(self, observations: Mapping[str, Any], lanes: Any = None) -> list[dict[str, Any]]:
        handles = self._store.add(observations[self._key], lanes)
        others = {key: value for key, value in observations.items() if key != self._key}
        return [{**nests.map_structure(lambda x, i=i: x[i], others), self._key: handle}
                for i, handle in enumerate(handles)]

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def frame_capacity(capacity: int, num_lanes: int, stack: int, n_step: int, margin: float = 0.05) -> int:
    """Frames a `FrameStackReplay` of `capacity` transitions keeps: ceil(capacity * (1 + margin)) + lag.

    Why it suffices (the adder adds every lane once per timestep): let the
    oldest retained transition be inserted at timestep u. Its observation was
    added at u - n_step or later, and every frame of that stack at most
    stack - 1 timesteps before that. Since then the store wrote (a) at most
    n_step + stack - 1 timesteps of every lane writing at most `stack` frames,
    before u, and (b) the frames of the lane-steps from u on. Each of those is
    a step (one frame, one transition, of which at most capacity + num_lanes *
    n_step are retained or pending) or an episode start (k frames and no
    transition: k = 1 for a repeated first frame or a continued stack, 2 for
    zero padding, at most `stack` otherwise). So if the episodes since u had on
    average at least k / margin transitions (20 at the default 5%, 40 with
    zero padding), (b) is at most (1 + margin) * capacity + num_lanes *
    (2 * n_step + stack), and lag = num_lanes * (stack + 2) * (n_step + stack)
    covers the rest: no retained transition has lost a frame. With shorter
    episodes some may, and `FrameStackReplay.sample` draws again instead.
    """
    if capacity < 1 or num_lanes < 1 or stack < 1 or n_step < 1 or margin < 0:
        raise ValueError(f"frame_capacity needs positive capacity, num_lanes, stack and n_step and margin >= 0, "
                         f"got {capacity}, {num_lanes}, {stack}, {n_step}, {margin}.")
    return math.ceil(capacity * (1.0 + margin)) + num_lanes * (stack + 2) * (n_step + stack)


class FrameStackReplay(Replay):
    """A replay of Transitions with stacked-frame observations, stored as frames and handles.

    `inner` holds the items with int64 handles for observation/next_observation
    (spec from `frame_transition_spec`) and does the sampling: a UniformReplay,
    or a replay whose `sample` returns a `PrioritizedSample`, whose other fields
    are kept and whose `update_priorities` is forwarded. The adder writes the
    frames: `NStepTransitionAdder(replay, n, gamma, observation_store=replay.store)`
    (one adder, `num_lanes` lanes, per replay).

    Stale items (a frame of theirs overwritten in the ring, only possible when
    episodes are shorter than `frame_capacity` allows for) are never returned:
    `sample` draws replacements from `inner` for them, up to `max_redraws`
    rounds, then raises. Redrawn items count toward `inner`'s rate limiter and
    are counted in `redrawn_items`; each redraw's PrioritizedSample fields
    (probabilities, weights) come with the replacement items.
    """

    def __init__(self, inner: Replay, observation_spec: Any, num_lanes: int, n_step: int,
                 margin: float = 0.05, frame_channels: int = 1, capacity_frames: int | None = None,
                 max_redraws: int = 64, frame_key: str = WHOLE) -> None:
        if frame_key != WHOLE:
            if not isinstance(observation_spec, Mapping) or frame_key not in observation_spec:
                raise ValueError(f"FrameStackReplay: frame_key {frame_key!r} is not an entry of the observation "
                                 f"spec {observation_spec!r}.")
            observation_spec = observation_spec[frame_key]
        shape = tuple(getattr(observation_spec, "shape", ()))
        if not shape:
            raise ValueError(f"FrameStackReplay needs stacked observations (stack, ...), got spec {observation_spec!r}.")
        self._inner = inner
        self._frame_key = frame_key
        self._observation_spec = observation_spec
        self._sampled_items = 0
        self._warned = False
        stack = shape[0] // max(1, frame_channels)
        if capacity_frames is None:
            capacity_frames = frame_capacity(inner.capacity, num_lanes, stack, n_step, margin)
        self._store = FrameStore(shape, capacity_frames, observation_spec.dtype, frame_channels, num_lanes)
        self._max_redraws = int(max_redraws)
        self.redrawn_items = 0

    @classmethod
    def uniform(cls, environment_spec: Any, capacity: int, num_lanes: int, n_step: int, seed: int | None = None,
                rate_limiter: Any = None, extras_spec: Any = (), frame_key: str = WHOLE,
                **kwargs: Any) -> FrameStackReplay:
        """A FrameStackReplay over a UniformReplay of `capacity` handle transitions."""
        inner = UniformReplay(frame_transition_spec(environment_spec, extras_spec, frame_key), capacity, seed=seed,
                              rate_limiter=rate_limiter)
        return cls(inner, environment_spec.observations, num_lanes, n_step, frame_key=frame_key, **kwargs)

    @property
    def store(self) -> FrameStore | LaneRange | KeyedFrameStore:
        """The frame store the adder writes observations to (keyed by `frame_key` for a dict observation)."""
        return self._store if self._frame_key == WHOLE else KeyedFrameStore(self._store, self._frame_key)

    def for_lanes(self, first_lane: int, num_lanes: int) -> FrameStackReplay:
        """This replay as seen by one of several actors: its adder's lanes 0..num_lanes-1 are the
        store's lanes first_lane.. (items, frames and sampling stay shared)."""
        total = self._store.num_lanes
        if first_lane < 0 or num_lanes < 1 or total is None or first_lane + num_lanes > total:
            raise ValueError(f"for_lanes: lanes [{first_lane}, {first_lane + num_lanes}) do not fit the "
                             f"{total} lanes this FrameStackReplay was made for.")
        view = copy.copy(self)
        view._store = LaneRange(self._store, first_lane, num_lanes)
        return view

    @property
    def inner(self) -> Replay:
        return self._inner

    @property
    def capacity(self) -> int:
        return self._inner.capacity

    @property
    def rate_limiter(self) -> Any:
        return getattr(self._inner, "rate_limiter", None)

    @property
    def nbytes(self) -> int:
        """Bytes held by the frame store and the inner replay's storage."""
        return self._store.nbytes + int(getattr(self._inner, "nbytes", 0))

    def size(self) -> int:
        """Items in the inner replay (stale ones included: they are only skipped when drawn)."""
        return self._inner.size()

    def describe(self) -> str:
        """One line for the start-up log: capacity, bytes and bytes per transition (vs two stored stacks)."""
        store, capacity = self._store, self.capacity
        obs_bytes = math.prod(store.stack_shape) * store.dtype.itemsize
        where = f"'{self._frame_key}' entries" if self._frame_key != WHOLE else "observations"
        return (f"FrameStackReplay: {capacity:,} transitions of {store.stack_shape} {store.dtype} {where} "
                f"in {self.nbytes / 1e9:.2f} GB ({self.nbytes / capacity:,.0f} B/transition, "
                f"vs {2 * obs_bytes:,} B for two stacks), {store.capacity_frames:,} frames, "
                f"inner {type(self._inner).__name__}.")

    @property
    def update_priorities(self) -> Any:
        """The inner replay's `update_priorities(keys, priorities)`; absent (AttributeError) when it has none."""
        try:
            return self._inner.update_priorities  # type: ignore[attr-defined]
        except AttributeError:
            raise AttributeError(f"{type(self._inner).__name__} (inner replay of FrameStackReplay) "
                                 "has no update_priorities.") from None

    def insert(self, items: Transition) -> None:
        """Inserts Transitions whose observation/next_observation are frame handles (from the adder)."""
        for name in ("observation", "next_observation"):
            value = getattr(items, name, None)
            if self._frame_key != WHOLE and isinstance(value, Mapping):
                value = value.get(self._frame_key)
            value = np.asarray(value)
            if value.ndim != 1 or not np.issubdtype(value.dtype, np.integer):
                raise ValueError(
                    f"FrameStackReplay.insert: expected '{name}' to be int64 frame handles shaped (num_items,), "
                    f"got shape {value.shape} and dtype {value.dtype}; give the adder "
                    "observation_store=replay.store.")
        self._inner.insert(items)

    def _rebuild(self, batch: Any) -> tuple[Any, np.ndarray]:
        """`batch` with its handles replaced by stacks, and which rows are valid."""
        data = batch.data if isinstance(batch, PrioritizedSample) else batch
        if not hasattr(data, "_replace") or not hasattr(data, "next_observation"):
            raise TypeError(f"FrameStackReplay: the inner replay returned {type(data).__name__}, "
                            "expected Transitions of handles (or a PrioritizedSample of them).")
        key = self._frame_key
        handles = [data.observation, data.next_observation]
        if key != WHOLE:
            handles = [observation[key] for observation in handles]
        count = len(handles[0])
        stacks, ok = self._store.gather(np.concatenate(handles))
        if key == WHOLE:
            data = data._replace(observation=stacks[:count], next_observation=stacks[count:])
        else:
            data = data._replace(observation={**data.observation, key: stacks[:count]},
                                 next_observation={**data.next_observation, key: stacks[count:]})
        ok = ok[:count] & ok[count:]
        return (batch._replace(data=data) if isinstance(batch, PrioritizedSample) else data), ok

    def sample(self, batch_size: int) -> Any:
        """Draws from the inner replay and rebuilds the stacks; stale items are replaced by new draws."""
        batch, ok = self._rebuild(self._inner.sample(batch_size))
        redraws = 0
        while not ok.all():
            missing = np.flatnonzero(~ok)
            if redraws == self._max_redraws:
                raise RuntimeError(
                    f"FrameStackReplay.sample: {len(missing)} of {batch_size} items still stale after "
                    f"{redraws} redraws: the frame ring ({self._store.capacity_frames:,} frames) is too small "
                    f"for {self.size():,} items; raise margin (episodes are short).")
            redraws += 1
            self.redrawn_items += len(missing)
            extra, extra_ok = self._rebuild(self._inner.sample(len(missing)))
            take = np.flatnonzero(extra_ok)
            rows = missing[take]
            leaves = [np.array(leaf) for leaf in tree.flatten(batch)]  # Copies: inner arrays may be read-only.
            for leaf, new in zip(leaves, tree.flatten(extra)):
                leaf[rows] = np.asarray(new)[take]
            batch = tree.unflatten_as(batch, leaves)
            ok[rows] = True
        self._sampled_items += batch_size
        self._warn_if_mostly_stale()
        return batch

    def _warn_if_mostly_stale(self) -> None:
        """One notice when many draws are stale: the observations are likely not shifted frame stacks."""
        if self._warned or self._sampled_items < 10_000:
            return
        if self.redrawn_items > STALE_WARNING_FRACTION * self._sampled_items:
            self._warned = True
            print(f"[replay] warning: {self.redrawn_items:,} of {self._sampled_items:,} sampled items were stale "
                  f"and drawn again: the frame ring ({self._store.capacity_frames:,} frames) holds fewer "
                  "transitions than the replay's capacity. Are the observations stacks of frames, each the "
                  "previous one shifted by a frame? If not, use --frame_replay=off.", flush=True)

    def save(self, copy: bool = True) -> dict[str, Any]:
        return {"inner": save_replay(self._inner, copy), "store": self._store.save(copy),
                "redrawn_items": self.redrawn_items}

    def restore(self, state: dict[str, Any]) -> None:
        self._inner.restore(state["inner"])  # type: ignore[attr-defined]
        self._store.restore(state["store"])
        self.redrawn_items = int(state.get("redrawn_items", 0))

    def schedule_state(self) -> Mapping[str, Any]:
        return self._inner.schedule_state()

    def restore_schedule_state(self, state: Mapping[str, Any]) -> None:
        self._inner.restore_schedule_state(state)
