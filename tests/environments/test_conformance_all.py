"""dm_env conformance of every kind of environment the registry builds, and gymnasium's check_env on the way back.

* `dm_env.test_utils.EnvironmentTestMixin` on: each GridWorld task x each
  observation type; the gymnasium adapter on Discrete/Box/Tuple/Dict spaces
  (CartPole, Pendulum, MountainCarContinuous, FrozenLake, Blackjack's Tuple
  observation, and a tiny custom env with Dict observations and actions, built
  through `python:<module>:<factory>`); Atari (a short Breakout); and a lane of
  a sync batch. Every one is built by `registry.make_environment(check=True)`,
  so the per-step spec checks (`environments.validation`) run under the mixin too.
* `gymnasium.utils.env_checker.check_env` on `DmEnvToGymnasium` around
  registry environments: every GridWorld task and observation type, CartPole,
  Pendulum and Blackjack. Only the warnings listed in `_ACCEPTED_WARNINGS` may
  appear (unbounded Box spaces of unbounded dm_env specs, missing render fps).
"""

from __future__ import annotations

import pathlib
import re
import sys
import warnings

import dm_env
import gymnasium
import numpy as np
import pytest
import tree
from absl.testing import absltest
from dm_env import test_utils
from gymnasium import spaces
from gymnasium.utils.env_checker import check_env

from environments import registry
from environments.gridworld import TASKS, ObservationType
from environments.gym_adapter import DmEnvToGymnasium, GymnasiumEnvironment
from environments.validation import SpecCheckingWrapper
from tests.environments.test_backend_semantics import LaneView

_ROOT = str(pathlib.Path(__file__).resolve().parents[2])
if _ROOT not in sys.path:  # The python: factory below is imported by name.
    sys.path.append(_ROOT)

_MODULE = "tests.environments.test_conformance_all"


# ----------------------------------------------------------------------------
# A tiny gymnasium env with Dict observations and actions (no extra dependencies).
# ----------------------------------------------------------------------------


class DictSpaceEnv(gymnasium.Env):
    """Walk a point towards a goal; Dict observations {position: Box(2), goal: Discrete(4)} and Dict actions
    {move: Discrete(3), force: Box(-1, 1, (2,))}. Episodes end after 6 steps (termination)."""

    metadata = {"render_modes": []}

    def __init__(self) -> None:
        self.observation_space = spaces.Dict({
            "position": spaces.Box(-10.0, 10.0, (2,), np.float64),
            "goal": spaces.Discrete(4),
        })
        self.action_space = spaces.Dict({"move": spaces.Discrete(3), "force": spaces.Box(-1.0, 1.0, (2,), np.float32)})
        self._position = np.zeros(2)
        self._goal = 0
        self._t = 0

    def _observation(self):
        return {"position": self._position.copy(), "goal": self._goal}

    def reset(self, *, seed=None, options=None):
        super().reset(seed=seed)
        self._position = self.np_random.uniform(-1.0, 1.0, 2)
        self._goal = int(self.np_random.integers(4))
        self._t = 0
        return self._observation(), {}

    def step(self, action):
        self._t += 1
        self._position = np.clip(self._position + 0.1 * np.asarray(action["force"]) + (action["move"] - 1), -10, 10)
        reward = -float(np.abs(self._position).sum())
        return self._observation(), reward, self._t >= 6, False, {}


def make_dict_space_env(seed: int = 0) -> dm_env.Environment:
    return GymnasiumEnvironment(DictSpaceEnv(), seed=seed)


# ----------------------------------------------------------------------------
# dm_env conformance.
# ----------------------------------------------------------------------------


class _RegistryConformance(test_utils.EnvironmentTestMixin):
    env_name = "gridworld:simple"
    options: dict = {}
    num_actions_in_sequence = 20

    def make_object_under_test(self):
        # check=True: the per-step spec checks (environments.validation) run under the mixin too.
        return registry.make_environment(self.env_name, seed=0, check=True, **self.options)

    def make_action_sequence(self):
        # Random spec-valid actions (the default repeats one) so episodes end in several ways.
        rng = np.random.default_rng(0)
        spec = self.environment.action_spec()
        for _ in range(self.num_actions_in_sequence):
            yield _random_action(spec, rng)

    def test_registry_checks_every_step_only_when_asked(self):
        self.assertIsInstance(self.environment.environment, SpecCheckingWrapper)
        self.assertEqual(self.environment.environment_name, self.env_name)
        plain = registry.make_environment(self.env_name, seed=0, **self.options)
        self.assertNotIsInstance(plain.environment, SpecCheckingWrapper)
        self.assertEqual(plain.environment_name, self.env_name)
        plain.close()


def _random_action(spec, rng: np.random.Generator):
    def leaf(s):
        if hasattr(s, "num_values"):
            return np.asarray(rng.integers(s.num_values), s.dtype)
        low = np.broadcast_to(s.minimum, s.shape)
        high = np.broadcast_to(s.maximum, s.shape)
        return rng.uniform(low, high).astype(s.dtype)

    return tree.map_structure(leaf, spec)


# Each GridWorld task x each observation type.
for _task in TASKS:
    for _obs_type in ObservationType:
        _name = f"GridWorld{_task.title().replace('_', '')}{_obs_type.name.title().replace('_', '')}Test"
        globals()[_name] = type(_name, (_RegistryConformance, absltest.TestCase), {
            "env_name": f"gridworld:{_task}",
            "options": {"observation_type": _obs_type.value, "max_episode_length": 8},
        })


class CartPoleTest(_RegistryConformance, absltest.TestCase):  # Discrete actions, Box observations.
    env_name = "gym:CartPole-v1"
    num_actions_in_sequence = 60


class PendulumTest(_RegistryConformance, absltest.TestCase):  # Box actions.
    env_name = "gym:Pendulum-v1"
    options = {"max_episode_steps": 10}


class MountainCarContinuousTest(_RegistryConformance, absltest.TestCase):  # float32 Box actions, tight bounds.
    env_name = "gym:MountainCarContinuous-v0"
    options = {"max_episode_steps": 10}


class FrozenLakeTest(_RegistryConformance, absltest.TestCase):  # Discrete observations.
    env_name = "gym:FrozenLake-v1"


class BlackjackTest(_RegistryConformance, absltest.TestCase):  # Tuple(Discrete, Discrete, Discrete) observations.
    env_name = "gym:Blackjack-v1"


class DictSpaceTest(_RegistryConformance, absltest.TestCase):  # Dict observations and actions, via python:.
    env_name = f"python:{_MODULE}:make_dict_space_env"


class AtariBreakoutTest(_RegistryConformance, absltest.TestCase):
    env_name = "atari:Breakout"
    options = {"max_episode_frames": 200}  # 50 agent steps: episodes end within the sequence.
    num_actions_in_sequence = 60


class SyncLaneTest(test_utils.EnvironmentTestMixin, absltest.TestCase):
    """Lane 1 of two sync lanes of CartPole, seen as a plain dm_env."""

    def make_object_under_test(self):
        return LaneView(registry.make_batched_environment("gym:CartPole-v1", 2, seed=3, backend="sync"), lane=1)

    def make_action_sequence(self):
        yield from np.random.default_rng(1).integers(0, 2, 60)


# ----------------------------------------------------------------------------
# gymnasium's check_env on the dm_env -> gymnasium adapter.
# ----------------------------------------------------------------------------

# Warnings check_env may give about these environments, and why they are fine:
_ACCEPTED_WARNINGS = (
    # GridWorld's grid / one-hot / position observations have unbounded dm_env specs (Array), hence Box(-inf, inf).
    r"A Box observation space (minimum|maximum) value is -?infinity",
    # Neither dm_env nor GridWorld has a frame rate.
    r"No render fps was declared",
    r"Not able to test alternative render modes due to the environment not having a spec",
    # Pendulum's own action bounds are [-2, 2].
    r"For Box action spaces, we recommend using a symmetric and normalized space",
)

_CHECK_ENV_CASES = [
    ("gridworld:" + task, {"observation_type": obs.value}) for task in TASKS for obs in ObservationType
] + [("gym:CartPole-v1", {}), ("gym:Pendulum-v1", {}), ("gym:Blackjack-v1", {})]


@pytest.mark.parametrize("name, options", _CHECK_ENV_CASES, ids=[f"{n}-{o}" for n, o in _CHECK_ENV_CASES])
def test_check_env_passes_on_the_dm_env_to_gymnasium_adapter(name, options):
    env = DmEnvToGymnasium(registry.make_environment(name, seed=0, **options))
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        check_env(env)
    unexpected = [str(w.message) for w in caught
                  if not any(re.search(pattern, str(w.message)) for pattern in _ACCEPTED_WARNINGS)]
    assert unexpected == []
    env.close()


def test_seeded_resets_through_the_adapter_are_reproducible():
    env = DmEnvToGymnasium(registry.make_environment("gridworld:random_goal", seed=0))
    first = [env.reset(seed=5)[0] for _ in range(2)]
    np.testing.assert_array_equal(first[0], first[1])  # reset(seed=5) reseeds the goal sampling.
    cartpole = DmEnvToGymnasium(registry.make_environment("gym:CartPole-v1", seed=0))
    a, b = cartpole.reset(seed=7)[0], cartpole.reset(seed=7)[0]
    c = cartpole.reset(seed=8)[0]
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)


def test_discrete_observations_come_out_as_int64_scalars():
    env = DmEnvToGymnasium(registry.make_environment("gridworld:simple", seed=0, observation_type="state_index"))
    observation, _ = env.reset(seed=0)
    assert type(observation) is np.int64 and env.observation_space.contains(observation)


def test_render_mode_follows_the_adapted_gymnasium_env():
    assert DmEnvToGymnasium(registry.make_environment("gym:FrozenLake-v1")).render_mode is None
    rendering = DmEnvToGymnasium(registry.make_environment("gym:FrozenLake-v1", render_mode="rgb_array"))
    assert rendering.render_mode == "rgb_array"
    rendering.reset(seed=0)
    assert rendering.render().ndim == 3
    assert DmEnvToGymnasium(registry.make_environment("gridworld:simple")).render_mode == "rgb_array"


if __name__ == "__main__":
    absltest.main()
