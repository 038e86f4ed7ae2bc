"""The frame store: a ring of single frames from which stacked observations are rebuilt bit for bit.

`FrameStore` holds every frame once, with a pointer to the previous frame of its stack, and hands out
int64 handles; `FrameStore.stacks(handles)` (or `gather`) rebuilds the stacks. `LaneRange` is one
actor's share of a store's lanes. `components.frame_replay.FrameStackReplay` keeps handles as replay
items and rebuilds their stacks when it samples.
"""

from __future__ import annotations

import math
import threading
from typing import Any, Sequence

import numpy as np


def _compare_dtype(frame_bytes: int) -> np.dtype:
    """The widest unsigned word that tiles a frame's bytes: bitwise frame comparison, fewer elements."""
    for size in (8, 4, 2):
        if frame_bytes % size == 0:
            return np.dtype(f"u{size}")
    return np.dtype(np.uint8)


class FrameStore:
    """A ring of single frames that rebuilds stacked observations exactly.

    `stack_shape` is one observation's shape, frames first: (stack * frame_channels,
    *frame_dims), e.g. (4, 84, 84), or (12, 84, 84) for 4 RGB frames with
    `frame_channels=3` (the channels of a frame adjacent, oldest frame first).

    Slot `handle % capacity_frames` holds frame `handle` and the handle of the
    frame before it in its stack (a chain start points at itself). Handles are
    a monotonic int64 counter, so the ring holds exactly the handles in
    [written - capacity_frames, written): the counter itself is the stamp that
    tells a live handle from an overwritten one, and no per-slot stamp is kept.
    A stack is valid while every frame of its chain is still in the ring.

    `add` takes one stacked observation per lane and returns, per lane, the
    handle of its newest frame (the handle of that observation). Lane state is
    the previous stack of the lane: a stack equal to it shifted by one frame
    costs one frame; any other stack is a keyframe, written as a new chain, and
    its leading run of equal frames (a repeated first frame, zero padding) is
    stored once, as a chain start pointing at itself.

    Thread-safe: `add` (actor) and `gather`/`stacks` (learner) may run at once;
    a rebuilt stack is never a torn mix of old and new frames (see `gather`).
    """

    def __init__(self, stack_shape: Sequence[int], capacity_frames: int, dtype: Any = np.uint8,
                 frame_channels: int = 1, num_lanes: int | None = None) -> None:
        stack_shape = tuple(int(d) for d in stack_shape)
        if not stack_shape or min(stack_shape) < 1:
            raise ValueError(f"stack_shape must be a non-empty shape of positive sizes, got {stack_shape}.")
        if frame_channels < 1 or stack_shape[0] % frame_channels:
            raise ValueError(f"stack_shape[0]={stack_shape[0]} must be a positive multiple of "
                             f"frame_channels={frame_channels}.")
        self._stack = stack_shape[0] // frame_channels
        if int(capacity_frames) < self._stack:
            raise ValueError(f"capacity_frames must be at least the stack size {self._stack}, got {capacity_frames}.")
        if num_lanes is not None and int(num_lanes) < 1:
            raise ValueError(f"num_lanes must be a positive integer or None, got {num_lanes}.")
        self._stack_shape = stack_shape
        self._dtype = np.dtype(dtype)
        self._frame_size = frame_channels * math.prod(stack_shape[1:])
        self._capacity = int(capacity_frames)
        self._word = _compare_dtype(self._frame_size * self._dtype.itemsize)
        self._frames = np.zeros((self._capacity, self._frame_size), self._dtype)
        self._prev = np.zeros(self._capacity, np.int64)
        self._next = 0  # Handle of the next frame written = frames written so far.
        self._lock = threading.Lock()
        self._num_lanes: int | None = None
        self._last = np.zeros((0, self._stack, self._frame_size), self._dtype)  # Each lane's previous stack.
        self._chains = np.zeros((0, self._stack), np.int64)  # Its frames' handles, oldest first; -1: none yet.
        if num_lanes is not None:
            self._set_lanes(int(num_lanes))

    # Properties.

    @property
    def stack_shape(self) -> tuple[int, ...]:
        return self._stack_shape

    @property
    def dtype(self) -> np.dtype:
        return self._dtype

    @property
    def stack(self) -> int:
        """Frames per observation."""
        return self._stack

    @property
    def capacity_frames(self) -> int:
        return self._capacity

    @property
    def num_lanes(self) -> int | None:
        """Lanes fixed at construction or by the first `add` (None until then)."""
        return self._num_lanes

    @property
    def frames_written(self) -> int:
        """Frames written so far (the next handle)."""
        return self._next

    @property
    def bytes_per_frame(self) -> int:
        """Bytes of one ring slot: the frame and its previous-frame pointer."""
        return self._frame_size * self._dtype.itemsize + np.dtype(np.int64).itemsize

    @property
    def nbytes(self) -> int:
        """Bytes held: the ring plus each lane's previous stack and chain."""
        return self._frames.nbytes + self._prev.nbytes + self._last.nbytes + self._chains.nbytes

    # Writing.

    def _set_lanes(self, num_lanes: int) -> None:
        self._num_lanes = num_lanes
        self._last = np.zeros((num_lanes, self._stack, self._frame_size), self._dtype)
        self._chains = np.full((num_lanes, self._stack), -1, np.int64)

    def _check_observations(self, observations: Any) -> np.ndarray:
        array = np.asarray(observations)
        if array.dtype != self._dtype:
            raise ValueError(f"FrameStore.add: expected observations of dtype {self._dtype}, got {array.dtype}.")
        if array.shape[1:] != self._stack_shape or array.ndim != len(self._stack_shape) + 1:
            raise ValueError(f"FrameStore.add: expected a batch of observations shaped (num_lanes, "
                             f"*{self._stack_shape}), got shape {array.shape}.")
        return np.ascontiguousarray(array).reshape(len(array), self._stack, self._frame_size)

    def _lane_index(self, lanes: Any, count: int) -> np.ndarray | slice:
        """Rows of the lane state for `lanes` (a slice for all lanes: views, not copies)."""
        if self._num_lanes is None:
            if lanes is not None:
                raise ValueError("FrameStore.add: the first call without num_lanes given at construction "
                                 "must pass every lane (lanes=None).")
            self._set_lanes(count)
        if lanes is None:
            if count != self._num_lanes:
                raise ValueError(f"FrameStore.add: expected observations for {self._num_lanes} lanes, got {count}.")
            return slice(None)
        index = np.asarray(lanes)
        if index.shape != (count,) or not np.issubdtype(index.dtype, np.integer):
            raise ValueError(f"FrameStore.add: expected lanes as {count} integers (one per observation), "
                             f"got {lanes!r}.")
        if count and (index.min() < 0 or index.max() >= self._num_lanes or len(np.unique(index)) != count):
            raise ValueError(f"FrameStore.add: lanes must be distinct integers in [0, {self._num_lanes}), "
                             f"got {lanes!r}.")
        return index.astype(np.int64)

    def _leading_runs(self, words: np.ndarray) -> np.ndarray:
        """Per stack, how many of its first frames equal its first frame (1..stack)."""
        if self._stack == 1:
            return np.ones(len(words), np.int64)
        equal_to_first = (words[:, 1:] == words[:, :1]).all(axis=2)
        return 1 + np.cumprod(equal_to_first, axis=1).sum(axis=1)

    def add(self, observations: Any, lanes: Any = None) -> np.ndarray:
        """Stores one stacked observation per lane; returns their handles (int64, one per row).

        Row i belongs to lane `lanes[i]` (default: lane i, and every lane must be given).
        """
        obs = self._check_observations(observations)
        count, stack = len(obs), self._stack
        with self._lock:
            index = self._lane_index(lanes, count)
            if count == 0:
                return np.zeros(0, np.int64)
            chains = self._chains[index].copy()
            words = obs.view(self._word)  # Compare bits, not values (-0.0 == 0.0, nan != nan).
            shifted = chains[:, -1] >= 0
            if stack > 1:
                shifted &= (words[:, :-1] == self._last[index, 1:].view(self._word)).all(axis=(1, 2))
            start = self._next
            # A shifted lane keeps stack - 1 old frames, which must outlive this write. They do
            # unless the lane sat out a whole ring (lanes=...): then its stack is written afresh.
            if shifted.all() and (stack == 1 or int(chains[:, 1].min()) >= start + count - self._capacity):
                handles = start + np.arange(count)  # The usual step: one new frame per lane.
                self._write(start, obs[:, -1], chains[:, -1])
                chains[:, :-1] = chains[:, 1:]
                chains[:, -1] = handles
            else:
                handles, chains = self._add_keyframes(obs, words, chains, shifted)
            self._chains[index] = chains
            self._last[index] = obs
            return handles

    def _add_keyframes(self, obs: np.ndarray, words: np.ndarray, chains: np.ndarray,
                       shifted: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """`add` when some lane needs a keyframe: newest handles and new chains per lane. Hold the lock."""
        count, stack, start = len(obs), self._stack, self._next
        run = self._leading_runs(words)
        oldest_kept = chains[:, 1] if stack > 1 else np.full(count, np.iinfo(np.int64).max)
        while True:  # Turning a lane into a keyframe writes more, which may cost another lane its frames.
            counts = np.where(shifted, 1, stack - run + 1)
            total = int(counts.sum())
            lost = shifted & (oldest_kept < start + total - self._capacity)
            if not lost.any():
                break
            shifted &= ~lost
        if total > self._capacity:
            raise ValueError(f"FrameStore.add: {total} new frames do not fit in a ring of "
                             f"{self._capacity}; give it at least num_lanes * stack frames.")
        ends = np.cumsum(counts)
        starts = ends - counts
        owner = np.repeat(np.arange(count), counts)
        within = np.arange(total) - starts[owner]
        prev = start + np.arange(total) - 1
        prev[starts] = np.where(shifted, chains[:, -1], start + starts)  # Chain starts point at themselves.
        self._write(start, obs[owner, stack - counts[owner] + within], prev)
        roots = start + starts
        fresh = roots[:, None] + np.maximum(0, np.arange(stack)[None, :] - run[:, None] + 1)
        continued = np.concatenate([chains[:, 1:], (start + ends - 1)[:, None]], axis=1)
        return start + ends - 1, np.where(shifted[:, None], continued, fresh)

    def _write(self, start: int, frames: np.ndarray, prev: np.ndarray) -> None:
        """Writes frames with handles start, start + 1, ... and their previous-frame pointers. Hold the lock."""
        total = len(frames)
        slot = start % self._capacity
        if slot + total <= self._capacity:
            self._frames[slot:slot + total] = frames
            self._prev[slot:slot + total] = prev
        else:
            slots = (start + np.arange(total)) % self._capacity
            self._frames[slots] = frames
            self._prev[slots] = prev
        self._next = start + total

    # Reading.

    def _chase(self, handles: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Each handle's chain (oldest frame first) and whether all of it is still in the ring. Hold the lock."""
        low, high = max(0, self._next - self._capacity), self._next
        chain = np.empty((len(handles), self._stack), np.int64)
        chain[:, -1] = handles
        ok = (handles >= low) & (handles < high)
        for j in range(self._stack - 2, -1, -1):
            chain[:, j] = self._prev[chain[:, j + 1] % self._capacity]
            ok &= chain[:, j] >= low  # Past a stale link the chain is garbage, but already marked.
        return chain, ok

    def _check_handles(self, handles: Any) -> np.ndarray:
        array = np.asarray(handles)
        if array.ndim != 1 or not (np.issubdtype(array.dtype, np.integer) or array.size == 0):
            raise ValueError(f"FrameStore: expected a 1-D array of integer handles, got shape {array.shape} "
                             f"and dtype {array.dtype}.")
        return array.astype(np.int64, copy=False)

    def valid(self, handles: Any) -> np.ndarray:
        """Whether each handle's whole stack is still in the ring (bool, one per handle)."""
        handles = self._check_handles(handles)
        with self._lock:
            return self._chase(handles)[1]

    def gather(self, handles: Any) -> tuple[np.ndarray, np.ndarray]:
        """The stacks of `handles` (B, *stack_shape) and their validity; invalid rows are zeros.

        The frames are copied without holding the lock, so an actor's `add` need not wait for
        a large batch: the chains are read under the lock, and afterwards (under the lock
        again, so any `add` that overlapped the copy has finished) a row stays valid only if
        none of its frames was overwritten meanwhile. A valid row is exactly what was added.
        """
        handles = self._check_handles(handles)
        out = np.empty((len(handles), self._stack, self._frame_size), self._dtype)
        with self._lock:
            chain, ok = self._chase(handles)
        np.take(self._frames, chain.ravel(), axis=0, out=out.reshape(-1, self._frame_size), mode="wrap")
        with self._lock:
            low = self._next - self._capacity
        if len(handles) and low > 0:
            ok &= chain.min(axis=1) >= low
        if not ok.all():
            out[~ok] = 0
        return out.reshape((len(handles),) + self._stack_shape), ok

    def stacks(self, handles: Any) -> np.ndarray:
        """The stacked observations of `handles`, bit-identical to what was added; stale handles raise."""
        out, ok = self.gather(handles)
        if not ok.all():
            bad = np.asarray(handles)[~ok]
            raise ValueError(f"FrameStore.stacks: {len(bad)} handle(s) are stale (their frames were "
                             f"overwritten) or were never written, e.g. {bad[:5].tolist()}; the ring holds "
                             f"handles [{max(0, self._next - self._capacity)}, {self._next}).")
        return out

    # Saveable.

    def save(self, copy: bool = True) -> dict[str, Any]:
        """The ring and its pointers; `copy=False` hands out the live frames and links (see `Ring.save`)."""
        with self._lock:
            frames, prev = (self._frames.copy(), self._prev.copy()) if copy else (self._frames, self._prev)
            return {"frames": frames, "prev": prev, "next": self._next,
                    "num_lanes": self._num_lanes, "last": self._last.copy(), "chains": self._chains.copy()}

    def restore(self, state: dict[str, Any]) -> None:
        if np.shape(state["frames"]) != self._frames.shape or np.asarray(state["frames"]).dtype != self._dtype:
            raise ValueError(f"FrameStore.restore: saved frames are {np.shape(state['frames'])} "
                             f"{np.asarray(state['frames']).dtype}, this store holds {self._frames.shape} {self._dtype}.")
        with self._lock:
            np.copyto(self._frames, state["frames"])
            np.copyto(self._prev, state["prev"])
            self._next = int(state["next"])
            self._num_lanes = state["num_lanes"]
            self._last = np.array(state["last"], self._dtype)
            self._chains = np.array(state["chains"], np.int64)


class LaneRange:
    """A contiguous range of a FrameStore's lanes, addressed from 0: one actor's share of the store."""

    def __init__(self, store: FrameStore, first_lane: int, num_lanes: int) -> None:
        self.store = store
        self._lanes = np.arange(first_lane, first_lane + num_lanes)

    @property
    def num_lanes(self) -> int:
        return len(self._lanes)

    def add(self, observations: Any, lanes: Any = None) -> np.ndarray:
        """`FrameStore.add` for this range's lanes (default: all of them, in order)."""
        return self.store.add(observations, self._lanes if lanes is None else self._lanes[np.asarray(lanes)])

    def __getattr__(self, name: str) -> Any:
        return getattr(self.store, name)
