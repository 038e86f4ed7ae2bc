"""EnvironmentLoop: runs an actor in a (batched) environment, counting and logging episodes."""

from __future__ import annotations

import time

import dm_env
import numpy as np

from components.core import Actor, Worker
from components.counting import Counter
from components.loggers import Logger, NoOpLogger
from environments.batched import BatchedEnvironment, as_batched

_FIRST, _LAST = int(dm_env.StepType.FIRST), int(dm_env.StepType.LAST)


class EnvironmentLoop(Worker):
    """Steps every lane of an environment with one actor call per step.

    Episodes run across `run` calls: a budget ends a call, not an episode
    (call `reset` to start fresh episodes, as evaluation does). Each finished
    episode writes a row with `episode_return`, `episode_length`,
    `steps_per_second`, the counter's totals and whatever the lane's
    environment reports in `episode_info` (e.g. `raw_score`). Steps are lane-steps: one
    `step` of N lanes counts N, less the lanes whose step only began a new episode (FIRST after
    a LAST), so `steps` counts environment transitions.
    """

    def __init__(self, environment: dm_env.Environment, actor: Actor, counter: Counter | None = None,
                 logger: Logger | None = None, should_update: bool = True, label: str = "actor") -> None:
        self._env: BatchedEnvironment = as_batched(environment)
        self._actor = actor
        self._counter = counter if counter is not None else Counter(prefix=label)
        self._logger = logger if logger is not None else NoOpLogger()
        self._should_update = should_update
        self._timestep: dm_env.TimeStep | None = None
        num_lanes = self._env.num_lanes
        self._returns = np.zeros(num_lanes, dtype=np.float64)
        self._lengths = np.zeros(num_lanes, dtype=np.int64)
        self._rate_steps = 0
        self._rate_seconds = 0.0  # Time spent inside run() since the rate was last reported.
        self._run_start = 0.0

    @property
    def environment(self) -> BatchedEnvironment:
        return self._env

    def reset(self) -> None:
        """Starts fresh episodes in every lane at the next `run` (the unfinished ones are dropped)."""
        self._timestep = None
        self._returns[:] = 0.0
        self._lengths[:] = 0

    @property
    def episode_lengths(self) -> np.ndarray:
        """Steps each lane's current (unfinished) episode has taken so far."""
        return self._lengths.copy()

    @property
    def episode_returns(self) -> np.ndarray:
        """Each lane's return so far in its current (unfinished) episode."""
        return self._returns.copy()

    def _start(self) -> None:
        self._timestep = self._env.reset()
        self._actor.observe_first(self._timestep)
        self._returns[:] = 0.0
        self._lengths[:] = 0

    def run(self, num_steps: int | None = None, num_episodes: int | None = None) -> list[float]:
        """Runs until `num_steps` lane-steps or `num_episodes` episodes; returns the finished episodes' returns."""
        if num_steps is None and num_episodes is None:
            raise ValueError("EnvironmentLoop.run needs num_steps or num_episodes (or both).")
        finished: list[float] = []
        steps = 0
        self._run_start = time.perf_counter()
        if self._timestep is None:
            self._start()
        while (num_steps is None or steps < num_steps) and (num_episodes is None or len(finished) < num_episodes):
            action = self._actor.select_action(self._timestep.observation)
            timestep = self._env.step(action)
            self._actor.observe(action, timestep)
            if self._should_update:
                self._actor.update()
            self._timestep = timestep
            # A lane's step after its LAST only starts a new episode (its action is ignored): it is not
            # an environment step, so it is not counted (a 1,000-step episode costs 1,000 of a budget).
            stepping = timestep.step_type != _FIRST
            num_stepped = int(np.count_nonzero(stepping))
            steps += num_stepped
            self._rate_steps += num_stepped
            self._returns += np.where(stepping, timestep.reward, 0.0)
            self._lengths += stepping
            ended = np.flatnonzero(timestep.step_type == _LAST)
            counts = self._counter.increment(steps=num_stepped, episodes=len(ended))
            if len(ended):
                rate = self._steps_per_second()
            for lane in ended:
                finished.append(float(self._returns[lane]))
                self._logger.write({
                    **counts,
                    "episode_return": float(self._returns[lane]),
                    "episode_length": int(self._lengths[lane]),
                    "steps_per_second": rate,
                    "lane": int(lane),
                    **self._env.episode_info(lane),
                })
            if len(ended):  # Lanes that restart next step begin counting afresh.
                self._returns[ended] = 0.0
                self._lengths[ended] = 0
        now = time.perf_counter()
        self._rate_seconds += now - self._run_start
        self._run_start = now
        return finished[:num_episodes] if num_episodes is not None else finished

    def _steps_per_second(self) -> float:
        """Lane-steps per second of time inside `run` since the last report."""
        now = time.perf_counter()
        rate = self._rate_steps / max(self._rate_seconds + now - self._run_start, 1e-9)
        self._rate_steps, self._rate_seconds, self._run_start = 0, 0.0, now
        return rate
