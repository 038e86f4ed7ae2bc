"""Batched environments whose lanes each run in a worker process.

`SubprocessBatchedEnvironment` has the semantics of `SyncBatchedEnvironment`
(see `environments.batched`): batched timesteps with a leading lane axis, FIRST
lanes carry reward 0 and discount 1, and after a lane's LAST the next `step`
restarts that lane and ignores its action. It pays off when one lane's step is
expensive (Atari: emulation, frame max, resize), since the workers step their
lanes in parallel: the parent sends every lane its action, then collects the
replies.

Observations never go through a pipe. Each observation leaf (dm-tree flattens
nested specs) has one `multiprocessing.shared_memory.SharedMemory` block,
shaped `(num_lanes, *leaf_shape)` with the spec's dtype; lane i's worker writes
row i before it replies. Only small control messages travel through pipes:
actions, step types, rewards, discounts, episode info and errors. Observations
are returned as copies, so a timestep stays valid after the next `step`. They
have the spec's dtype (a lane observation of another dtype is cast on write).

Start method: "forkserver" by default. "fork" is unsafe with torch loaded in the
parent (its OpenMP / intra-op thread pools and locks do not survive a fork, and
the child may deadlock). "forkserver" and "spawn" both start workers from a
clean interpreter that has not imported torch (unless the factory's module
does). "forkserver" starts that interpreter once and forks each worker from it,
so later environments start faster than with "spawn". "spawn" also works and is
the only choice on macOS / Windows.

Failures never hang the parent. An exception in a worker is re-raised as a
RuntimeError naming the lane, with the worker's traceback; an
`environments.validation.EnvironmentSpecError` (a lane environment that breaks
its specs, e.g. a NaN reward) is re-raised as an EnvironmentSpecError naming
the lane, with the check's message. A worker that dies raises a RuntimeError
with the lane and its exit code. A worker that does not answer within
`step_timeout` seconds (`start_timeout` while it starts and builds its
environment) raises a TimeoutError naming the lane.
After any of these the environment is closed: every worker is terminated and
every shared memory block is unlinked. `close()` is idempotent. It also runs on
garbage collection, at interpreter exit, and at the end of a `with` block.
Workers ignore SIGINT, so a Ctrl-C reaches only the parent, which then closes
them. Workers are daemonic: a lane environment cannot start processes of its own.

As with any "spawn"/"forkserver" multiprocessing, a script that builds this
environment must do so under `if __name__ == "__main__":`, since workers
re-import the main module.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import multiprocessing.connection
import pickle
import signal
import sys
import time
import traceback
import weakref
from multiprocessing import shared_memory
from typing import Any, Callable, Sequence

import dm_env
import numpy as np
import tree

from environments import nests
from environments.auto_reset import LaneResets, batch_timestep
from environments.batched import BatchedEnvironment
from environments.validation import EnvironmentSpecError

_BUILDING = "building its environment"
_JOIN_TIMEOUT = 2.0  # Seconds a worker gets to exit after "close" before it is terminated.


@dataclasses.dataclass(frozen=True)
class _Block:
    """One observation leaf's shared memory block, as a worker is told about it."""

    name: str
    shape: tuple[int, ...]  # (num_lanes, *leaf_shape)
    dtype: str


def _attach(blocks: Sequence[_Block]) -> tuple[list[shared_memory.SharedMemory], list[np.ndarray]]:
    memories, arrays = [], []
    for block in blocks:
        memory = shared_memory.SharedMemory(name=block.name)
        memories.append(memory)
        arrays.append(np.ndarray(block.shape, dtype=np.dtype(block.dtype), buffer=memory.buf))
    return memories, arrays


def _failure() -> tuple[str, str | None]:
    """What a worker sends back about the exception being handled: its traceback, and its message
    when it is an EnvironmentSpecError (re-raised as one in the parent)."""
    error = sys.exc_info()[1]
    return traceback.format_exc(), (str(error) if isinstance(error, EnvironmentSpecError) else None)


def _worker(connection, factory: Callable[[int], dm_env.Environment], seed: int, lane: int) -> None:
    """A lane's process: builds `factory(seed)`, then serves requests until "close"."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle.
    environment = None
    memories: list[shared_memory.SharedMemory] = []
    arrays: list[np.ndarray] = []

    def write(observation) -> None:
        if len(arrays) == 1 and not tree.is_nested(observation):
            arrays[0][lane] = observation
            return
        for array, leaf in zip(arrays, tree.flatten(observation)):
            array[lane] = leaf

    def timestep_reply(ts: dm_env.TimeStep) -> tuple[int, Any, Any]:
        write(ts.observation)
        return int(ts.step_type), ts.reward, ts.discount

    try:
        try:
            environment = factory(seed)
            specs = (
                environment.observation_spec(),
                environment.action_spec(),
                environment.reward_spec(),
                environment.discount_spec(),
            )
            connection.send(("ok", specs))
        except Exception:  # noqa: BLE001 - every failure goes back to the parent.
            connection.send(("error", _failure()))
            return
        while True:
            try:
                command, payload = connection.recv()
            except EOFError:  # The parent is gone.
                return
            if command == "close":
                connection.send(("ok", None))
                return
            try:
                if command == "step":
                    result = timestep_reply(environment.step(payload))
                elif command == "reset":
                    result = timestep_reply(environment.reset())
                elif command == "attach":
                    memories, arrays = _attach(payload)
                    result = None
                elif command == "episode_info":
                    info = getattr(environment, "episode_info", None)
                    result = dict(info()) if callable(info) else {}
                elif command == "render":
                    result = environment.render()
                else:
                    raise ValueError(f"Unknown command {command!r}.")
            except Exception:  # noqa: BLE001
                connection.send(("error", _failure()))
                return
            connection.send(("ok", result))
    finally:
        arrays.clear()  # Drop the views before closing the memory they point into.
        for memory in memories:
            memory.close()
        if environment is not None:
            try:
                environment.close()
            except Exception:  # noqa: BLE001 - the worker exits anyway.
                pass
        connection.close()


class _Resources:
    """Everything that must be released; held apart from the environment so that
    `weakref.finalize` can release it without keeping the environment alive."""

    def __init__(self) -> None:
        self.processes: list[multiprocessing.process.BaseProcess] = []
        self.connections: list[multiprocessing.connection.Connection] = []
        self.memories: list[shared_memory.SharedMemory] = []
        self.arrays: list[np.ndarray] = []
        self.closed = False

    def release(self, graceful: bool = True) -> None:
        if self.closed:
            return
        self.closed = True
        if graceful:
            for process, connection in zip(self.processes, self.connections):
                if process.is_alive():
                    try:
                        connection.send(("close", None))
                    except (OSError, ValueError):
                        pass
            deadline = time.monotonic() + _JOIN_TIMEOUT
            for process in self.processes:
                process.join(max(0.0, deadline - time.monotonic()))
        for process in self.processes:
            if process.is_alive():
                process.terminate()
        for process in self.processes:
            process.join(1.0)
            if process.is_alive():
                process.kill()
                process.join(1.0)
        for process in self.processes:
            if process.exitcode is not None:
                process.close()
        for connection in self.connections:
            connection.close()
        self.arrays.clear()
        for memory in self.memories:
            memory.close()
            try:
                memory.unlink()
            except FileNotFoundError:
                pass
        self.processes, self.connections, self.memories = [], [], []


class SubprocessBatchedEnvironment(BatchedEnvironment):
    """`num_lanes` lanes, lane i built as `factory(seed + i)` in its own worker process.

    `step_timeout`: seconds a lane may take to answer a reset, step or other
    request; `start_timeout`: seconds a worker may take to start and build its
    environment (imports, ROM loading); None waits forever.
    """

    def __init__(
        self,
        factory: Callable[[int], dm_env.Environment],
        num_lanes: int,
        seed: int = 0,
        step_timeout: float | None = 60.0,
        start_method: str = "forkserver",
        start_timeout: float | None = 300.0,
    ) -> None:
        if num_lanes < 1:
            raise ValueError(f"SubprocessBatchedEnvironment needs at least one lane, got num_lanes={num_lanes}.")
        for timeout_name, timeout in (("step_timeout", step_timeout), ("start_timeout", start_timeout)):
            if timeout is not None and timeout <= 0:
                raise ValueError(f"{timeout_name} must be positive or None, got {timeout}.")
        try:
            pickle.dumps(factory)
        except Exception as error:  # noqa: BLE001 - PicklingError, AttributeError, TypeError...
            raise ValueError(
                f"The environment factory {factory!r} cannot be pickled, so it cannot be sent to a worker "
                f"process ({type(error).__name__}: {error}). Pass a module-level function, or a "
                "functools.partial of one (e.g. functools.partial(make_environment, 'atari:Breakout')), "
                "instead of a lambda or a locally defined function."
            ) from error
        self._num_lanes = num_lanes
        self._step_timeout = step_timeout
        self._start_timeout = start_timeout
        self._resources = resources = _Resources()
        self._finalizer = weakref.finalize(self, resources.release)
        context = multiprocessing.get_context(start_method)
        try:
            for lane in range(num_lanes):
                parent_end, child_end = context.Pipe(duplex=True)
                process = context.Process(
                    target=_worker,
                    args=(child_end, factory, seed + lane, lane),
                    name=f"SubprocessBatchedEnvironment-lane{lane}",
                    daemon=True,
                )
                resources.connections.append(parent_end)
                process.start()
                resources.processes.append(process)
                child_end.close()
            lane_specs = self._receive(range(num_lanes), _BUILDING, starting=True)
            first = lane_specs[0]
            for lane, lane_spec in enumerate(lane_specs[1:], start=1):
                if lane_spec[:2] != first[:2]:
                    raise ValueError(
                        f"Lane {lane} has specs {lane_spec[0]!r} / {lane_spec[1]!r}, "
                        f"lane 0 has {first[0]!r} / {first[1]!r}: all lanes must match."
                    )
            self._observation_spec, self._action_spec, self._reward_spec, self._discount_spec = first
            self._nested = tree.is_nested(self._observation_spec)
            self._reward_dtype = np.dtype(self._reward_spec.dtype)
            self._discount_dtype = np.dtype(self._discount_spec.dtype)
            blocks = []
            for spec in tree.flatten(self._observation_spec):
                shape = (num_lanes, *spec.shape)
                dtype = np.dtype(spec.dtype)
                size = max(1, int(np.prod(shape)) * dtype.itemsize)
                memory = shared_memory.SharedMemory(create=True, size=size)
                resources.memories.append(memory)
                resources.arrays.append(np.ndarray(shape, dtype=dtype, buffer=memory.buf))
                blocks.append(_Block(memory.name, shape, dtype.str))
            self._request({lane: ("attach", blocks) for lane in range(num_lanes)}, "attaching shared memory")
        except BaseException:
            self.close(graceful=False)
            raise
        self._resets = LaneResets(num_lanes)

    # -- Messaging --------------------------------------------------------------

    def _request(self, commands: dict[int, tuple[str, Any]], what: str) -> list[Any]:
        """Sends every lane its command, then collects the replies, in lane order."""
        if self._resources.closed:
            raise RuntimeError("SubprocessBatchedEnvironment is closed.")
        try:
            for lane, command in commands.items():
                try:
                    self._resources.connections[lane].send(command)
                except (BrokenPipeError, ConnectionResetError):
                    self._raise_dead(lane, what)
            return self._receive(list(commands), what)
        except BaseException:
            self.close(graceful=False)
            raise

    def _receive(self, lanes, what: str, starting: bool = False) -> list[Any]:
        """The lanes' replies in order; `starting`: while workers build their environments (start_timeout)."""
        timeout_name = "start_timeout" if starting else "step_timeout"
        timeout_seconds = self._start_timeout if starting else self._step_timeout
        lanes = list(lanes)
        connections = self._resources.connections
        processes = self._resources.processes
        replies: dict[int, Any] = {}
        pending = set(lanes)
        deadline = None if timeout_seconds is None else time.monotonic() + timeout_seconds
        while pending:
            waitables = {connections[lane]: lane for lane in pending}
            waitables.update({processes[lane].sentinel: lane for lane in pending})
            timeout = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready = multiprocessing.connection.wait(list(waitables), timeout)
            if not ready:
                lane, *others = sorted(pending)
                also = f" (lanes {', '.join(map(str, others))} did not answer either)" if others else ""
                raise TimeoutError(
                    f"Lane {lane}'s worker process did not answer within {timeout_name}={timeout_seconds} s "
                    f"while {what}{also}."
                )
            for lane in sorted({waitables[r] for r in ready}):
                if lane not in pending:
                    continue
                connection = connections[lane]
                if not connection.poll():  # Only the sentinel is ready: the process died without replying.
                    self._raise_dead(lane, what)
                try:
                    status, payload = connection.recv()
                except (EOFError, OSError):
                    self._raise_dead(lane, what)
                if status == "error":
                    text, spec_message = payload
                    if spec_message is not None:
                        raise EnvironmentSpecError(f"Lane {lane}, while {what}: {spec_message}")
                    raise RuntimeError(f"Lane {lane}'s environment raised an exception while {what}:\n{text}")
                replies[lane] = payload
                pending.discard(lane)
        return [replies[lane] for lane in lanes]

    def _raise_dead(self, lane: int, what: str):
        process = self._resources.processes[lane]
        process.join(1.0)
        hint = ""
        if what == _BUILDING:
            hint = (
                " Its traceback is on stderr. Common causes: the factory's module is not importable by name "
                "from the parent's sys.path, or the main script starts environments at import time "
                "(guard it with `if __name__ == \"__main__\":`)."
            )
        raise RuntimeError(
            f"Lane {lane}'s worker process (pid {process.pid}) died with exit code {process.exitcode} "
            f"while {what}.{hint}"
        )

    def _timestep(self, replies: Sequence[tuple[int, Any, Any]]) -> dm_env.TimeStep:
        leaves = [array.copy() for array in self._resources.arrays]
        observation = tree.unflatten_as(self._observation_spec, leaves) if self._nested else leaves[0]
        step_types, rewards, discounts = zip(*replies)
        return batch_timestep(step_types, rewards, discounts, observation, self._reward_dtype, self._discount_dtype)

    # -- dm_env.Environment -----------------------------------------------------

    @property
    def num_lanes(self) -> int:
        return self._num_lanes

    def reset(self) -> dm_env.TimeStep:
        replies = self._request({lane: ("reset", None) for lane in range(self._num_lanes)}, "resetting")
        self._resets.reset_all()
        return self._timestep(replies)

    def step(self, action) -> dm_env.TimeStep:
        leaf = tree.flatten(action)[0]
        if np.ndim(leaf) == 0 or len(leaf) != self._num_lanes:
            raise ValueError(f"Expected a batch of {self._num_lanes} actions (one per lane), got {action!r}.")
        commands = {lane: ("reset", None) if restart else ("step", nests.map_structure(lambda a: a[lane], action))
                    for lane, restart in enumerate(self._resets.restarting())}
        replies = self._request(commands, "stepping")
        self._resets.record([reply[0] for reply in replies])
        return self._timestep(replies)

    def observation_spec(self):
        return self._observation_spec

    def action_spec(self):
        return self._action_spec

    def reward_spec(self):
        return self._reward_spec

    def discount_spec(self):
        return self._discount_spec

    def episode_info(self, lane: int) -> dict[str, float]:
        if not 0 <= lane < self._num_lanes:
            raise IndexError(f"Lane {lane} out of range for {self._num_lanes} lanes.")
        return self._request({lane: ("episode_info", None)}, "reading episode_info")[0]

    def render(self):
        """Renders lane 0 (the frame is pickled back: meant for occasional use)."""
        return self._request({0: ("render", None)}, "rendering")[0]

    @property
    def closed(self) -> bool:
        return self._resources.closed

    def close(self, graceful: bool = True) -> None:
        """Stops the workers (terminating any that do not exit in time) and unlinks shared memory."""
        self._resources.release(graceful)
        self._finalizer.detach()

    def __enter__(self) -> "SubprocessBatchedEnvironment":
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
