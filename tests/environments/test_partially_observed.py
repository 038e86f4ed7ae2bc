"""The NoVel ids: registered on import, velocities zero, positions those of the base task, same dynamics."""

import gymnasium
import numpy as np
import pytest

import environments  # noqa: F401  (registers the ids)
from environments.partially_observed import VELOCITY_INDICES, MaskVelocity, no_velocity_id
from environments.registry import make_environment


@pytest.mark.parametrize("base_id", sorted(VELOCITY_INDICES))
def test_no_velocity_task_hides_exactly_the_velocities_of_the_same_trajectory(base_id):
    base, masked = gymnasium.make(base_id), gymnasium.make(no_velocity_id(base_id))
    indices = list(VELOCITY_INDICES[base_id])
    kept = [i for i in range(base.observation_space.shape[0]) if i not in indices]
    full, _ = base.reset(seed=3)
    hidden, _ = masked.reset(seed=3)
    base.action_space.seed(0)
    moved = False
    for _ in range(30):
        action = base.action_space.sample()
        np.testing.assert_array_equal(hidden[indices], 0.0)
        np.testing.assert_array_equal(hidden[kept], full[kept])
        moved |= bool(np.any(full[indices] != 0))
        full, reward, terminated, truncated, _ = base.step(action)
        hidden, masked_reward, masked_terminated, masked_truncated, _ = masked.step(action)
        assert (reward, terminated, truncated) == (masked_reward, masked_terminated, masked_truncated)
        if terminated or truncated:
            break
    assert moved, "the base task's velocities never left 0, so the mask was not tested"
    assert masked.spec.max_episode_steps == base.spec.max_episode_steps


def test_the_launchers_reach_them_through_the_gym_prefix():
    env = make_environment("gym:CartPoleNoVel-v1", seed=0)
    assert env.observation_spec().shape == (4,)
    observation = env.reset().observation
    assert observation[1] == 0 and observation[3] == 0 and observation[0] != 0


def test_mask_indices_outside_the_observation_are_refused():
    with pytest.raises(ValueError, match=r"outside the observation of size 4"):
        MaskVelocity(gymnasium.make("CartPole-v1"), (1, 7))
