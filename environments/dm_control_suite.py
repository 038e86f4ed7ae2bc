"""dm_control suite tasks as `dmc:<domain>-<task>` (e.g. dmc:walker-walk): the suite's own dm_env environment.

No gymnasium in between: the task is loaded with `suite.load(domain, task, task_kwargs={"random": seed})`,
so its seed is the suite's, and its timesteps pass through as they come (a time limit ends an episode with
LAST and discount 1, a truncation). The suite's dict observation becomes one float vector: each entry
flattened and concatenated in the order of the task's observation spec (an OrderedDict, e.g. walker's
orientations, height, velocity); `observation_keys()` gives that order and each entry's slice. With
`flatten=False` the dict stays as it is, for agents whose networks take one. Actions keep the task's bounds.

Options (`--env_options`): `action_repeat` (each action held for that many physics control steps, rewards
summed; default 1), `time_limit` (seconds per episode; the suite's default otherwise), `flatten`.

Needs the `dmc` extra (dm-control with a mujoco 3.x: dm-control 1.0.50 breaks with mujoco 4). Without a
display, rendering is switched off (MUJOCO_GL=disable) unless MUJOCO_GL names a renderer (egl, osmesa).
"""

from __future__ import annotations

import collections
import os
from typing import Any

import dm_env
import numpy as np
from dm_env import specs


def _suite():
    if "MUJOCO_GL" not in os.environ and not os.environ.get("DISPLAY"):
        os.environ["MUJOCO_GL"] = "disable"  # No display: no GLFW probe (and its warning) at import.
    try:
        from dm_control import suite
    except ImportError as error:
        raise ValueError(f"dmc:<domain>-<task> needs dm-control: pip install \"agentpipe[dmc]\" ({error}).") from None
    return suite


def suite_tasks() -> dict[str, tuple[str, ...]]:
    """Every suite domain with its tasks."""
    tasks: dict[str, list[str]] = collections.defaultdict(list)
    for domain, task in _suite().ALL_TASKS:
        tasks[domain].append(task)
    return {domain: tuple(names) for domain, names in sorted(tasks.items())}


def _parse(name: str) -> tuple[str, str]:
    """'walker-walk' -> ('walker', 'walk'), or an error listing the domains or the domain's tasks."""
    known = suite_tasks()
    domain, sep, task = name.partition("-")
    if not sep:
        raise ValueError(f"Expected dmc:<domain>-<task> (e.g. dmc:walker-walk), got dmc:{name}.")
    if domain not in known:
        raise ValueError(f"Unknown dm_control domain in dmc:{name!r}; expected dmc:<domain>-<task> with a domain "
                         f"of {', '.join(known)} (e.g. dmc:walker-walk).")
    if task not in known[domain]:
        raise ValueError(f"dm_control's {domain} has no task {task!r}; its tasks: {', '.join(known[domain])} "
                         f"(e.g. dmc:{domain}-{known[domain][0]}).")
    return domain, task


class DMControlEnvironment(dm_env.Environment):
    """A suite task with a flat float32 observation vector (or its dict), its action bounds and repeats."""

    def __init__(self, environment: dm_env.Environment, action_repeat: int = 1, flatten: bool = True) -> None:
        if action_repeat < 1:
            raise ValueError(f"action_repeat must be >= 1, got {action_repeat}.")
        self._environment = environment
        self._action_repeat = int(action_repeat)
        self._flatten = flatten
        spec = environment.observation_spec()
        self._keys = tuple(spec)
        sizes = [int(np.prod(spec[key].shape)) for key in self._keys]
        offsets = np.cumsum([0, *sizes])
        self._slices = {key: slice(int(start), int(end)) for key, start, end in zip(self._keys, offsets, offsets[1:])}
        self._size = int(offsets[-1])

    def observation_keys(self) -> dict[str, slice]:
        """Each dict entry's slice of the flat observation, in the order they are concatenated."""
        return dict(self._slices)

    def _observation(self, observation: Any) -> Any:
        if not self._flatten:
            return observation
        return np.concatenate([np.asarray(observation[key], np.float32).ravel() for key in self._keys])

    def reset(self) -> dm_env.TimeStep:
        timestep = self._environment.reset()
        return timestep._replace(observation=self._observation(timestep.observation))

    def step(self, action: Any) -> dm_env.TimeStep:
        reward = 0.0
        for _ in range(self._action_repeat):
            timestep = self._environment.step(action)
            reward += float(timestep.reward or 0.0)
            if timestep.last():
                break
        return timestep._replace(observation=self._observation(timestep.observation), reward=reward)

    def observation_spec(self) -> Any:
        if not self._flatten:
            return self._environment.observation_spec()
        return specs.Array((self._size,), np.float32, "observation")

    def action_spec(self) -> specs.BoundedArray:
        return self._environment.action_spec()

    def reward_spec(self) -> specs.Array:
        return specs.Array((), np.float64, "reward")

    def discount_spec(self) -> specs.BoundedArray:
        return specs.BoundedArray((), np.float64, 0.0, 1.0, "discount")

    def render(self, height: int = 240, width: int = 320, camera_id: int = 0) -> np.ndarray:
        """The scene as (height, width, 3) uint8 pixels (needs a renderer: MUJOCO_GL=egl or osmesa)."""
        return self._environment.physics.render(height, width, camera_id=camera_id)

    def close(self) -> None:
        close = getattr(self._environment, "close", None)
        if callable(close):
            close()


def make_dm_control(name: str, seed: int = 0, action_repeat: int = 1, time_limit: float | None = None,
                    flatten: bool = True) -> DMControlEnvironment:
    """`dmc:<domain>-<task>`'s environment, its task seeded with `seed`."""
    domain, task = _parse(name)
    task_kwargs: dict[str, Any] = {"random": int(seed)}
    if time_limit is not None:
        task_kwargs["time_limit"] = float(time_limit)
    environment = _suite().load(domain, task, task_kwargs=task_kwargs)
    return DMControlEnvironment(environment, action_repeat=action_repeat, flatten=flatten)
