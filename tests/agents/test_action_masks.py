"""Action masks: no discrete agent ever takes a masked action, acting, evaluating or in its targets."""

from __future__ import annotations

import dm_env
import numpy as np
import pytest
import torch
from dm_env import specs

from agents.dqn.config import DQNConfig
from agents.dqn.learning import DQNLearner
from agents.dqn.networks import QNetwork
from components.action_masks import random_allowed
from components.distributions import CategoricalDistribution
from components.specs import EnvironmentSpec
from components.types import Transition
from environments.validation import EnvironmentSpecError, check_environment
from launchers.experiment import experiment_from_declaration
from launchers.runners import run_experiment

MASKED_TASK = "python:tests.agents.masked_env:make_masked_task"
AGENTS = {
    "nfq": ("nfq", {}), "dqn": ("dqn", {"min_replay_size": 100}),
    "rainbow": ("dqn", {"min_replay_size": 100, "num_atoms": 11, "dueling": True, "n_step": 3, "prioritized": True}),
    "reinforce": ("reinforce", {}), "a2c": ("a2c", {}), "ppo": ("ppo", {"rollout_length": 32}),
    "ppo_lstm": ("ppo", {"rollout_length": 32, "core": "lstm", "core_size": 8}),
    "r2d2": ("r2d2", {"min_replay_size": 50, "sequence_length": 8, "sequence_period": 4, "burn_in": 2, "batch_size": 8}),
}


def _run(tmp_path, agent: str, agent_config: dict, seed: int = 0, num_steps: int = 400, **run) -> dict:
    return run_experiment(experiment_from_declaration({
        "agent": agent, "env": MASKED_TASK, "seed": seed, "num_steps": num_steps, "eval_every": num_steps // 2,
        "eval_episodes": 10, "device": "cpu", "plots": False, "progress": False, "log_interval": 1e9,
        "run_dir": str(tmp_path / f"{agent}_{seed}"), **run, "agent_config": agent_config}))


@pytest.mark.parametrize("name", sorted(AGENTS))
def test_no_discrete_agent_takes_a_masked_action(tmp_path, name):
    agent, config = AGENTS[name]  # The task raises on a masked action, in training and evaluation alike.
    summary = _run(tmp_path, agent, config, num_envs=2)
    assert summary["actor_steps"] >= 400 and summary["learner_steps"] > 0
    assert len(summary["evaluations"]) == 2


@pytest.mark.learning
@pytest.mark.parametrize("agent, config", [
    # Q(s, a) depends on which actions the mask allows, so DQN reads the mask too; PPO's masked logits only need
    # the order of preference.
    ("dqn", {"min_replay_size": 200, "hidden_sizes": (32,), "epsilon_decay_steps": 1_000,
             "observation_encoders": ("action_mask:mlp",)}),
    ("ppo", {"rollout_length": 32, "hidden_sizes": (16,), "learning_rate": 3e-3})])
def test_dqn_and_ppo_learn_the_best_allowed_action(tmp_path, learning_seed, agent, config):
    summary = _run(tmp_path, agent, config, seed=learning_seed, num_steps=2_000, num_envs=4 if agent == "ppo" else 1)
    assert summary["final_eval_return"] >= 4.75, summary  # 5: the highest allowed action at every step.


class _Features(torch.nn.Module):
    output_size = 2

    def forward(self, observation):
        return observation["features"]


def _q_network_preferring(action: int) -> QNetwork:
    """A Q network whose values ignore the observation: Q(a) = a, except `action`, which is highest."""
    network = QNetwork(_Features(), 4)
    with torch.no_grad():
        network[1].weight.zero_()
        network[1].bias.copy_(torch.tensor([0.0, 1.0, 2.0, 3.0]))
        network[1].bias[action] = 10.0
    return network


def test_the_dqn_target_maximises_over_the_next_states_allowed_actions_only():
    network = _q_network_preferring(3)  # Q = [0, 1, 2, 10]: action 3 is the best, if allowed.
    observation = {"features": torch.zeros(2, 2), "action_mask": torch.ones(2, 4, dtype=torch.int8)}
    next_observation = {"features": torch.zeros(2, 2),
                        "action_mask": torch.tensor([[1, 1, 0, 0], [1, 1, 1, 1]], dtype=torch.int8)}
    batch = Transition(observation, torch.tensor([0, 1]), torch.zeros(2), torch.ones(2), next_observation)
    config = DQNConfig(double_q=False, loss="mse", learning_rate=1e-9)
    learner = DQNLearner(network, iter([batch]), config, torch.device("cpu"))
    _, q_taken, td_error = learner._scalar_losses(batch)
    # y = 0 + 1 * max over allowed: lane 0 may take {0, 1} (max 1), lane 1 any action (max 10).
    torch.testing.assert_close(td_error + q_taken, torch.tensor([1.0, 10.0]))
    masked = network({"features": torch.zeros(1, 2), "action_mask": torch.tensor([[1, 0, 1, 0]])})
    assert masked.argmax(-1).item() == 2


def test_a_masked_categorical_samples_only_allowed_actions_and_its_entropy_is_over_them():
    mask = torch.tensor([[0, 1, 0, 1, 1]] * 4000)
    distribution = CategoricalDistribution(torch.zeros(4000, 5)).masked(mask)
    raw, log_prob = distribution.sample_numpy(np.random.default_rng(0))
    assert set(np.unique(raw)) == {1, 3, 4}
    assert np.allclose(log_prob, np.log(1 / 3), atol=1e-6)
    drawn = distribution.sample(torch.Generator().manual_seed(0))
    assert set(drawn.unique().tolist()) == {1, 3, 4}
    torch.testing.assert_close(distribution.entropy(), torch.full((4000,), float(np.log(3))))
    assert distribution.mode()[0].item() in (1, 3, 4)


def test_exploration_draws_uniformly_among_the_allowed_actions():
    mask = np.array([[0, 1, 0, 1]] * 20_000)
    draws = random_allowed(np.random.default_rng(0), 4, 20_000, mask)
    counts = np.bincount(draws, minlength=4)
    assert counts[0] == counts[2] == 0 and abs(counts[1] - counts[3]) < 600


class _BadMask(dm_env.Environment):
    """A masked task whose mask is the wrong length, or allows nothing on MID steps."""

    def __init__(self, length: int = 4, empty: bool = False) -> None:
        self._length, self._empty = length, empty

    def _observation(self):
        return {"x": np.zeros(1, np.float32), "action_mask": np.zeros(self._length, np.int8) if self._empty
                else np.ones(self._length, np.int8)}

    def reset(self):
        return dm_env.restart(self._observation())

    def step(self, action):
        return dm_env.transition(0.0, self._observation())

    def observation_spec(self):
        return {"x": specs.Array((1,), np.float32, "x"),
                "action_mask": specs.BoundedArray((self._length,), np.int8, 0, 1, "action_mask")}

    def action_spec(self):
        return specs.DiscreteArray(3, name="a")


@pytest.mark.parametrize("agent", ["dqn", "ppo", "r2d2"])
def test_a_mask_of_the_wrong_length_fails_before_anything_is_built_naming_the_key(tmp_path, agent):
    from components.specs import make_environment_spec
    from launchers.agent_registry import get_agent, make_builder

    builder = make_builder(agent, get_agent(agent).config_class())
    with pytest.raises(ValueError, match=r"'action_mask' has spec .*expected shape \(3,\), one 0/1 entry per action"):
        builder.make_networks(make_environment_spec(_BadMask(length=4)))


def test_a_mask_on_continuous_actions_is_refused():
    from components.action_masks import check_action_mask

    spec = EnvironmentSpec({"x": specs.Array((1,), np.float32), "action_mask": specs.Array((2,), np.int8)},
                           specs.BoundedArray((2,), np.float32, -1, 1), specs.Array((), np.float32),
                           specs.BoundedArray((), np.float32, 0, 1))
    with pytest.raises(ValueError, match="masks discrete actions"):
        check_action_mask(spec)


def test_a_mask_that_allows_nothing_on_a_mid_step_fails_the_environment_check():
    with pytest.raises(EnvironmentSpecError, match=r"observation\['action_mask'\].*allows no action"):
        check_environment(_BadMask(length=3, empty=True), "bad-mask")
