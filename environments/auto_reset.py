"""What a batch of lanes does when one lane's episode ends: the one rule every backend follows.

* A lane's episode ends with a LAST step that carries the episode's final
  observation and reward. Its discount is 0 when the episode terminated (the
  task ended) and 1 when it was truncated (a time limit), so an adder
  bootstraps from the final observation of a truncated episode.
* The lane's next `step()` restarts it: its action is ignored, and it reports
  FIRST with the new episode's first observation, reward 0 and discount 1
  (dm_env's None does not fit in an array).
* `reset()` restarts every lane.

`sync`, `subprocess` and `gym` lanes restart through `LaneResets`; ALE's vector
engine restarts its lanes itself (its 'NextStep' mode is this rule) and maps
its flags with `end_of_episode`. `tests/environments/test_auto_reset.py` drives
the backends with the same random episode ends and checks they agree.
"""

from __future__ import annotations

from typing import Any, Sequence

import dm_env
import numpy as np

from environments import nests

FIRST, MID, LAST = (int(step_type) for step_type in dm_env.StepType)


def end_of_episode(terminated: Any, truncated: Any) -> tuple[np.ndarray, np.ndarray]:
    """(step types, discounts) for steps with gymnasium's `terminated`/`truncated` flags (scalars or arrays):
    LAST with discount 0 when terminated, LAST with discount 1 when only truncated, else MID with discount 1."""
    terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
    step_types = np.where(terminated | truncated, LAST, MID).astype(np.int8)
    return step_types, np.where(terminated, 0.0, 1.0)


def lane_end(terminated: bool, truncated: bool) -> tuple[int, float]:
    """`end_of_episode` for one lane's step, in Python scalars (the per-lane loops of in-process backends)."""
    if terminated:
        return LAST, 0.0
    return (LAST, 1.0) if truncated else (MID, 1.0)


class LaneResets:
    """Which lanes restart on the next `step()`: every lane at first, then those whose last step was LAST."""

    def __init__(self, num_lanes: int) -> None:
        self._restart = [True] * num_lanes

    def restarting(self) -> list[bool]:
        """Per lane: whether its next step restarts it (and ignores its action)."""
        return self._restart

    def reset_all(self) -> None:
        """After `reset()`: no lane restarts on the next step."""
        self._restart = [False] * len(self._restart)

    def record(self, step_types: Sequence[int]) -> None:
        """After a step: the lanes that reported LAST restart on the next one."""
        self._restart = [int(step_type) == LAST for step_type in step_types]


def batch_timestep(step_types: Sequence[int], rewards: Sequence[Any], discounts: Sequence[Any], observation: Any,
                   reward_dtype: Any, discount_dtype: Any) -> dm_env.TimeStep:
    """A batched timestep from per-lane fields; a FIRST lane's reward and discount (None) become 0 and 1."""
    return dm_env.TimeStep(
        np.asarray(step_types, np.int8),
        np.array([0.0 if reward is None else reward for reward in rewards], dtype=reward_dtype),
        np.array([1.0 if discount is None else discount for discount in discounts], dtype=discount_dtype),
        observation)


def stack_timesteps(lane_steps: Sequence[dm_env.TimeStep], reward_dtype: Any,
                    discount_dtype: Any) -> dm_env.TimeStep:
    """One batched timestep from each lane's `dm_env.TimeStep` (observations stacked on a leading lane axis)."""
    observation = nests.map_structure(lambda *leaves: np.stack(leaves), *[step.observation for step in lane_steps])
    return batch_timestep([step.step_type for step in lane_steps], [step.reward for step in lane_steps],
                          [step.discount for step in lane_steps], observation, reward_dtype, discount_dtype)
