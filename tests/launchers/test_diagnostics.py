"""launchers.diagnostics: GridWorld Q/V/policy maps of a trained DQN and value-vs-return pairs."""

from __future__ import annotations

import dataclasses

import dm_env
import numpy as np
import pytest
import torch
from dm_env import specs

matplotlib_image = pytest.importorskip("matplotlib.image")

from agents.dqn import DQNBuilder, DQNConfig  # noqa: E402
from components.specs import make_environment_spec  # noqa: E402
from environments.gridworld import WALL  # noqa: E402
from environments.registry import make_environment  # noqa: E402
from launchers import diagnostics  # noqa: E402
from launchers.experiment import experiment_from_declaration  # noqa: E402
from launchers.local import run_local  # noqa: E402


def _check_png(path, inches):
    image = matplotlib_image.imread(path)
    assert image.shape[:2] == (round(inches[1] * diagnostics.DPI), round(inches[0] * diagnostics.DPI))
    rgb = image[..., :3]
    colours = np.unique((rgb.reshape(-1, 3) * 255).round().astype(np.uint8), axis=0)
    assert rgb.std() > 0.05 and len(colours) > 30, f"{path} looks blank"


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A DQN trained briefly on gridworld:simple (seeded); its run folder and its Q network."""
    run_dir = str(tmp_path_factory.mktemp("diagnostics") / "dqn_run")
    experiment = experiment_from_declaration({
        "agent": "dqn", "env": "gridworld:simple", "seed": 0, "num_steps": 3000, "eval_every": 1000,
        "eval_episodes": 2, "run_dir": run_dir, "device": "cpu", "log_interval": 1e9, "torch_threads": 1,
        "agent_config": {}})  # DQN's defaults find the optimal path in 3,000 steps (tests/agents).
    made = []

    def keep_networks(spec):
        networks = experiment.builder.make_networks(spec)
        made.append(networks)
        return networks

    run_local(dataclasses.replace(experiment, network_factory=keep_networks))
    # Every copy was synced from the learner at the final evaluation; the first is the learner's own.
    return run_dir, experiment.builder, made[0]["q"].cpu()


def _observation_by_hand(observation_type, layout, cell, goal):
    if observation_type == "grid":
        obs = np.zeros((3, *layout.shape), np.float32)
        obs[0] = layout == WALL
        obs[1][cell] = 1.0
        obs[2][goal] = 1.0
        return obs
    if observation_type == "agent_goal_pos":
        return np.array([*cell, *goal], np.float32)
    return np.int32(cell[0] * layout.shape[1] + cell[1])  # state_index


def test_trained_dqn_gridworld_pictures(trained, tmp_path):
    _, _, q_network = trained
    environment = make_environment("gridworld:simple", seed=0)
    paths = diagnostics.gridworld_diagnostics(q_network, environment, str(tmp_path / "pictures"))
    assert [p.rsplit("/", 1)[1] for p in paths] == ["greedy_policy.png", "q_values.png", "state_values.png"]
    for path, inches in zip(paths, (diagnostics.POLICY_INCHES, diagnostics.Q_VALUES_INCHES,
                                    diagnostics.STATE_VALUES_INCHES)):
        _check_png(path, inches)


@pytest.mark.parametrize("observation_type", ["grid", "agent_goal_pos", "state_index"])
def test_q_map_matches_the_network_on_a_hand_built_observation(trained, observation_type):
    environment = make_environment("gridworld:simple", seed=0, observation_type=observation_type)
    if observation_type == "grid":
        network = trained[2]
    else:  # An untrained network of the right input shape.
        torch.manual_seed(0)
        network = DQNBuilder(DQNConfig(hidden_sizes=(16,))).make_networks(make_environment_spec(environment))["q"]
    q_map = diagnostics.q_value_map(network, environment)
    gridworld = diagnostics.find_gridworld(environment)
    layout = gridworld.layout
    assert np.isnan(q_map[layout == WALL]).all() and np.isfinite(q_map[layout != WALL]).all()
    for cell in [(1, 1), (5, 6), gridworld.start_state]:
        observation = _observation_by_hand(observation_type, layout, cell, gridworld.goal_state)
        with torch.no_grad():
            direct = network(torch.as_tensor(observation[None])).numpy()[0]
        np.testing.assert_allclose(q_map[cell], direct, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(diagnostics.state_value_map(q_map), np.max(q_map, axis=-1))
    np.testing.assert_allclose(diagnostics.state_value_map(q_map, 0.5),
                               0.5 * q_map.max(axis=-1) + 0.5 * q_map.mean(axis=-1))


def test_trained_dqn_value_diagnostics(trained, tmp_path):
    run_dir, builder, q_network = trained
    environment = make_environment("gridworld:simple", seed=5, evaluation=True)
    spec = make_environment_spec(environment)
    networks = {"q": q_network}
    policy = builder.make_policy(networks, spec, evaluation=True, seed=0)
    pairs = diagnostics.collect_value_pairs(environment, policy, lambda obs: builder.state_values(networks, obs),
                                            discount=builder.config.discount, num_episodes=2, max_steps=50)
    assert len(pairs) == len(pairs.returns) == len(pairs.episodes) == pairs.observations.shape[0]
    assert pairs.observations.shape[1:] == (3, 9, 10)
    with torch.no_grad():
        direct = q_network(torch.as_tensor(pairs.observations[:1])).max(-1).values.numpy()
    np.testing.assert_allclose(pairs.values[:1], direct, rtol=1e-5)
    paths = diagnostics.value_diagnostics(run_dir, pairs, out_dir=str(tmp_path))
    assert [p.rsplit("/", 1)[1] for p in paths] == ["initial_value.png", "value_scatter.png"]
    _check_png(paths[0], diagnostics.INITIAL_VALUE_INCHES)
    _check_png(paths[1], diagnostics.SCATTER_INCHES)


class ScriptedEnv(dm_env.Environment):
    """Three steps with rewards 1, 2, 3 and discount `step_discount`, then termination."""

    def __init__(self, step_discount: float = 1.0) -> None:
        self._t, self._d = 0, step_discount

    def reset(self):
        self._t = 0
        return dm_env.restart(np.array([0.0], np.float32))

    def step(self, action):
        self._t += 1
        observation, reward = np.array([float(self._t)], np.float32), float(self._t)
        if self._t == 3:
            return dm_env.termination(reward, observation)
        return dm_env.transition(reward, observation, self._d)

    def observation_spec(self):
        return specs.Array((1,), np.float32)

    def action_spec(self):
        return specs.DiscreteArray(2)


def _zeros(observations):
    return np.zeros(len(observations), np.int64)


def test_collect_value_pairs_matches_a_hand_computation():
    pairs = diagnostics.collect_value_pairs(ScriptedEnv(), _zeros, lambda obs: 10 * obs[:, 0], discount=0.5,
                                            num_episodes=2)
    # G_2 = 3; G_1 = 2 + 0.5 * 3 = 3.5; G_0 = 1 + 0.5 * 2 + 0.25 * 3 = 2.75.
    np.testing.assert_allclose(pairs.returns, [2.75, 3.5, 3.0] * 2)
    np.testing.assert_allclose(pairs.values, [0.0, 10.0, 20.0] * 2)
    np.testing.assert_array_equal(pairs.episodes, [0, 0, 0, 1, 1, 1])
    assert not pairs.truncated.any()
    # The environment's discounts multiply the agent's: G_1 = 2 + 0.5 * 0.9 * 3 = 3.35, G_0 = 1 + 0.45 * 3.35.
    discounted = diagnostics.collect_value_pairs(ScriptedEnv(0.9), _zeros, lambda obs: obs[:, 0], discount=0.5,
                                                 num_episodes=1)
    np.testing.assert_allclose(discounted.returns, [1 + 0.45 * 3.35, 3.35, 3.0])
    # Cut after two steps: the return misses the third reward, and the pairs say so.
    cut = diagnostics.collect_value_pairs(ScriptedEnv(0.9), _zeros, lambda obs: obs[:, 0], discount=0.5,
                                          num_episodes=1, max_steps=2)
    np.testing.assert_allclose(cut.returns, [1 + 0.45 * 2, 2.0])
    assert cut.truncated.all()


def test_clear_errors(tmp_path):
    with pytest.raises(ValueError, match="Expected a GridWorld"):
        diagnostics.q_value_map(lambda obs: np.zeros((len(obs), 4)), ScriptedEnv())
    with pytest.raises(ValueError, match=r"shape \(50, 4\)"):
        diagnostics.q_value_map(lambda obs: np.zeros((len(obs), 3)), make_environment("gridworld:simple"))
    with pytest.raises(ValueError, match=r"epsilon must be in \[0, 1\]"):
        diagnostics.gridworld_diagnostics(lambda obs: np.zeros((len(obs), 4)), make_environment("gridworld:simple"),
                                          str(tmp_path / "pictures"), epsilon=1.5)
    assert not (tmp_path / "pictures").exists()  # Nothing is written before the arguments are checked.
    with pytest.raises(ValueError, match="one value per observation"):
        diagnostics.collect_value_pairs(ScriptedEnv(), _zeros, lambda obs: np.zeros(1), discount=0.9)
    (tmp_path / "eval.csv").write_text("actor_steps,eval_return_mean\n100,1.0\n")
    with pytest.raises(ValueError, match="no eval_initial_value values"):
        diagnostics.value_diagnostics(str(tmp_path))
