"""A2C and PPO with a recurrent core run whole runs (discrete and continuous, lanes, checkpoint and resume)."""

import csv
from pathlib import Path

import pytest

from launchers.experiment import experiment_from_declaration
from launchers.runners import run_experiment


def _run(tmp_path: Path, name: str = "run", **declaration) -> dict:
    common = {"eval_every": 0, "eval_episodes": 2, "device": "cpu", "plots": False}
    return run_experiment(experiment_from_declaration({**common, "run_dir": str(tmp_path / name), **declaration}))


@pytest.mark.parametrize("agent", ["a2c", "ppo"])
@pytest.mark.parametrize("env, core", [("gym:CartPoleNoVel-v1", "lstm"), ("gym:PendulumNoVel-v1", "gru")])
def test_recurrent_agents_run_on_the_partially_observed_tasks(tmp_path, agent, env, core):
    summary = _run(tmp_path, agent=agent, env=env, num_steps=600, num_envs=3,
                   agent_config={"core": core, "core_size": 16, "hidden_sizes": (16,), "rollout_length": 20})
    assert summary["actor_steps"] >= 600 and summary["learner_steps"] >= 9
    assert summary["final_eval_return"] == summary["final_eval_return"]  # Not NaN.


@pytest.mark.xfail(strict=True, reason="known gap (issue 19, open): a resumed recurrent PPO run's updates drift "
                                       "from the uninterrupted run's; not yet traced")
def test_a_resumed_recurrent_run_carries_its_core_states(tmp_path):
    declaration = dict(agent="ppo", env="gym:CartPoleNoVel-v1", num_envs=2, seed=3,
                       agent_config={"core": "lstm", "core_size": 8, "hidden_sizes": (16,), "rollout_length": 16})
    whole = _run(tmp_path, "whole", num_steps=640, **declaration)
    _run(tmp_path, "parts", num_steps=320, **declaration)
    resumed = _run(tmp_path, "parts", num_steps=640, resume=True, **declaration)
    assert resumed["actor_steps"] == whole["actor_steps"]
    assert resumed["final_eval_return"] == whole["final_eval_return"]
    # The last update's loss depends on every core state the actor started a rollout from.
    last = [list(csv.DictReader((tmp_path / name / "learner.csv").open()))[-1] for name in ("whole", "parts")]
    assert (last[0]["learner_steps"], last[0]["loss"]) == (last[1]["learner_steps"], last[1]["loss"])
