"""Agents take dict observations: a torso per key, and a task whose best action needs both keys."""

from __future__ import annotations

import gymnasium
import pytest

from environments.gym_adapter import DmEnvToGymnasium
from launchers.experiment import experiment_from_declaration
from launchers.runners import run_experiment
from tests.agents.dict_env import SideAndFlip

DICT_TASK = "python:tests.agents.dict_env:make_dict_task"
SETTINGS = {"ppo": ({"num_envs": 4}, {"rollout_length": 32, "hidden_sizes": (32,), "learning_rate": 3e-3}),
            "dqn": ({}, {"min_replay_size": 200, "hidden_sizes": (32,), "epsilon_decay_steps": 1_000})}
gymnasium.register("AgentpipeSideAndFlipAgents-v0", entry_point=lambda: DmEnvToGymnasium(SideAndFlip(seed=4)),
                   max_episode_steps=50)


def _train(tmp_path, agent: str, seed: int, encoders: tuple[str, ...] = (), **run) -> dict:
    run_config, agent_config = SETTINGS[agent]
    return run_experiment(experiment_from_declaration({
        "agent": agent, "env": DICT_TASK, "seed": seed, "num_steps": 2_000, "eval_every": 1_000,
        "eval_episodes": 20, "device": "cpu", "plots": False, "progress": False, "log_interval": 1e9,
        "run_dir": str(tmp_path / f"{agent}{len(encoders)}"), **run_config, **run,
        "agent_config": {**agent_config, "observation_encoders": encoders}}))


@pytest.mark.learning
@pytest.mark.parametrize("agent, blind", [("ppo", "flip:skip"), ("dqn", "image:skip")])
def test_the_agent_reads_both_keys_and_fails_without_one(tmp_path, learning_seed, agent, blind):
    summary = _train(tmp_path, agent, learning_seed)
    assert summary["final_eval_return"] >= 3.8, summary  # 4 is every step right.
    one_key = _train(tmp_path, agent, learning_seed, encoders=(blind,))
    assert one_key["best_eval_return"] <= 3.0, one_key  # One key alone: right half of the time (2).


# SAC on the same task with an action in [-1, 1]: 1 - |action - target| / 2 pays, so reading both keys scores
# 4 and one key 2 on average, whatever the action.
def _train_sac(tmp_path, seed: int, encoders: tuple[str, ...] = ()) -> dict:
    return run_experiment(experiment_from_declaration({
        "agent": "sac", "env": DICT_TASK, "env_options": {"continuous": True}, "seed": seed, "num_steps": 3_000,
        "eval_every": 1_000, "eval_episodes": 20, "device": "cpu", "plots": False, "progress": False,
        "log_interval": 1e9, "run_dir": str(tmp_path / f"sac{len(encoders)}"),
        "agent_config": {"learning_rate": 3e-3, "hidden_sizes": (32, 32), "learning_starts": 200, "batch_size": 64,
                         "observation_encoders": encoders}}))


@pytest.mark.learning
def test_sac_reads_both_keys_of_a_dict_observation_and_fails_without_one(tmp_path, learning_seed):
    summary = _train_sac(tmp_path, learning_seed)
    assert summary["final_eval_return"] >= 3.6, summary
    one_key = _train_sac(tmp_path, learning_seed, encoders=("image:skip",))
    assert one_key["best_eval_return"] <= 2.7, one_key


def test_td3_runs_on_a_dict_observation(tmp_path):
    summary = run_experiment(experiment_from_declaration({
        "agent": "td3", "env": DICT_TASK, "env_options": {"continuous": True}, "num_steps": 400, "eval_every": 0,
        "eval_episodes": 2, "device": "cpu", "plots": False, "progress": False, "log_interval": 1e9,
        "run_dir": str(tmp_path / "td3"), "agent_config": {"hidden_sizes": (16,), "learning_starts": 100,
                                                          "batch_size": 16}}))
    assert summary["actor_steps"] >= 400 and summary["learner_steps"] > 0
    assert 0.0 <= summary["final_eval_return"] <= 4.0


@pytest.mark.parametrize("agent", ["nfq", "reinforce", "a2c", "r2d2"])
def test_every_discrete_agent_runs_on_a_dict_observation(tmp_path, agent):
    configs = {"r2d2": {"min_replay_size": 50, "sequence_length": 8, "sequence_period": 4, "burn_in": 2,
                        "batch_size": 8}, "nfq": {}, "reinforce": {}, "a2c": {}}
    summary = run_experiment(experiment_from_declaration({
        "agent": agent, "env": DICT_TASK, "num_steps": 300, "eval_every": 0, "eval_episodes": 2, "device": "cpu",
        "plots": False, "progress": False, "log_interval": 1e9, "run_dir": str(tmp_path / agent),
        "agent_config": configs[agent]}))
    assert summary["actor_steps"] >= 300 and summary["learner_steps"] > 0


@pytest.mark.parametrize("env, backend", [(DICT_TASK, "subprocess"), ("gym:AgentpipeSideAndFlipAgents-v0", "gym")])
def test_ppo_trains_on_a_dict_observation_from_every_backend(tmp_path, env, backend):
    summary = run_experiment(experiment_from_declaration({
        "agent": "ppo", "env": env, "env_backend": backend, "num_envs": 2, "num_steps": 256, "eval_every": 0,
        "eval_episodes": 2, "device": "cpu", "plots": False, "progress": False, "log_interval": 1e9,
        "run_dir": str(tmp_path / backend), "agent_config": {"rollout_length": 32}}))
    assert summary["actor_steps"] >= 256 and summary["learner_steps"] > 0


def test_observation_normalisation_refuses_a_dict_observation(tmp_path):
    with pytest.raises(ValueError, match="one vector observation; this one is a nest"):
        run_experiment(experiment_from_declaration({
            "agent": "ppo", "env": DICT_TASK, "num_steps": 64, "device": "cpu", "plots": False, "progress": False,
            "run_dir": str(tmp_path / "n"), "agent_config": {"normalize_observations": True}}))


def test_an_override_for_a_key_the_observation_lacks_names_the_keys(tmp_path):
    with pytest.raises(ValueError, match=r"names \['wheel'\].*its keys are \['flip', 'image'\]"):
        run_experiment(experiment_from_declaration({
            "agent": "dqn", "env": DICT_TASK, "num_steps": 64, "device": "cpu", "plots": False, "progress": False,
            "run_dir": str(tmp_path / "o"), "agent_config": {"observation_encoders": ("wheel:mlp",)}}))
