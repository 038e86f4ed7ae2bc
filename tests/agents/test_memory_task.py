"""A recurrent core solves a task feed-forward cannot: remember the first observation (tests/agents/memory_env.py)."""

from __future__ import annotations

import dm_env
import pytest

from agents.ppo import PPOConfig
from agents.ppo.builder import PPOBuilder
from components.checkpointing import Checkpointer
from components.recurrent import RecurrentStochasticPolicy
from components.specs import make_environment_spec
from launchers.experiment import experiment_from_declaration
from launchers.runners import run_experiment
from tests.agents.memory_env import RememberTheCue

MEMORY_TASK = "python:tests.agents.memory_env:make_memory_task"
PPO_SETTINGS = {"core_size": 16, "hidden_sizes": (16,), "rollout_length": 16, "num_minibatches": 2,
                "num_epochs": 4, "learning_rate": 3e-3, "entropy_coef": 0.01}
FIRST, MID = int(dm_env.StepType.FIRST), int(dm_env.StepType.MID)


def _train(tmp_path, seed, core):
    return run_experiment(experiment_from_declaration({
        "agent": "ppo", "env": MEMORY_TASK, "seed": seed, "num_envs": 8, "num_steps": 4_000, "eval_every": 2_000,
        "eval_episodes": 20, "device": "cpu", "plots": False, "run_dir": str(tmp_path / core),
        "agent_config": {**PPO_SETTINGS, "core": core}}))


def _greedy_return(network, carry_state: bool, episodes: int = 60) -> float:
    """Mean greedy return; without `carry_state` the policy is told every step starts an episode."""
    policy = RecurrentStochasticPolicy(network, seed=0, deterministic=True)
    environment, total = RememberTheCue(seed=12_345), 0.0
    for _ in range(episodes):
        timestep, first = environment.reset(), True
        while True:
            policy.observe_step_types([FIRST if first or not carry_state else MID])
            timestep, first = environment.step(policy(timestep.observation[None]).action[0]), False
            total += timestep.reward
            if timestep.last():
                break
    return total / episodes


@pytest.mark.learning
def test_an_lstm_remembers_the_cue_and_needs_its_carried_state_where_feed_forward_guesses(tmp_path, learning_seed):
    recurrent = _train(tmp_path, learning_seed, "lstm")
    assert recurrent["best_eval_return"] >= 0.95, recurrent
    feed_forward = _train(tmp_path, learning_seed, "none")
    assert feed_forward["best_eval_return"] <= 0.8, feed_forward  # It sees only the query: a coin flip.

    config = PPOConfig(core="lstm", **PPO_SETTINGS)
    network = PPOBuilder(config).make_networks(make_environment_spec(RememberTheCue()))["policy"]
    saved, _ = Checkpointer(str(tmp_path / "lstm" / "checkpoints")).latest()
    network.load_state_dict(saved["learner"]["modules"]["policy"])
    assert _greedy_return(network, carry_state=True) >= 0.95
    assert _greedy_return(network, carry_state=False) <= 0.75  # The same weights, the state dropped each step.
