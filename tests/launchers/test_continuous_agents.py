"""SAC and TD3 from a declaration: they learn Pendulum, fit only bounded continuous actions, and resume."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from components.checkpointing import Checkpointer
from launchers.experiment import experiment_from_declaration
from launchers.runners import run_experiment

COMMON = {"env": "gym:Pendulum-v1", "torch_threads": 1, "log_interval": 1e9, "progress": False,
          "tensorboard": False, "device": "cpu"}
SMALL = {"hidden_sizes": (32, 32), "batch_size": 64, "learning_starts": 200}


def _run(tmp_path: Path, name: str = "run", **declaration) -> dict:
    return run_experiment(experiment_from_declaration({**COMMON, "run_dir": str(tmp_path / name), **declaration}))


@pytest.mark.learning
@pytest.mark.parametrize("agent, num_steps, agent_config", [
    ("sac", 4_000, {"hidden_sizes": (64, 64), "batch_size": 128, "learning_starts": 500, "learning_rate": 1e-3}),
    ("td3", 8_000, {"hidden_sizes": (64, 64), "batch_size": 128, "learning_starts": 1_000, "discount": 0.98,
                    "exploration_noise": 0.2}),
])
def test_learns_pendulum(tmp_path, learning_seed, agent, num_steps, agent_config):
    # A random policy scores about -1,200 a 200-step episode; swinging up and holding scores above -400.
    # Seeds 0-4 reached -127 to -201 (SAC, 4k steps) and -127 to -206 (TD3, 8k steps).
    summary = _run(tmp_path, seed=learning_seed, agent=agent, agent_config=agent_config, num_steps=num_steps,
                   eval_every=num_steps // 2, eval_episodes=5)
    assert summary["final_eval_return"] > -400, summary["evaluations"]


@pytest.mark.parametrize("agent, env, message", [
    ("sac", "gym:CartPole-v1", r"SACBuilder needs bounded continuous actions .*gym:CartPole-v1 has discrete "
                               r"actions .*Agents for it: dqn, nfq, reinforce, a2c, ppo, r2d2, impala\."),
    ("dqn", "gym:Pendulum-v1", r"DQNBuilder needs discrete actions .*gym:Pendulum-v1 has bounded continuous "
                               r"actions .*Agents for it: reinforce, a2c, ppo, sac, td3, impala\."),
])
def test_an_agent_that_does_not_fit_the_actions_is_refused_before_anything_is_built(tmp_path, agent, env, message):
    with pytest.raises(ValueError, match=message):
        _run(tmp_path, agent=agent, env=env, num_steps=100)
    assert not (tmp_path / "run").exists()


def _rows(path: Path, key: str) -> dict[int, dict[str, float]]:
    with open(path, newline="") as f:
        return {int(float(row[key])): {k: float(v) for k, v in row.items() if v} for row in csv.DictReader(f)}


def test_a_resumed_sac_run_continues_with_its_replay_and_temperature(tmp_path):
    run = dict(agent="sac", seed=2, eval_every=300, eval_episodes=1, checkpoint_replay=True,
               agent_config={**SMALL, "alpha_learning_rate": 1e-2})
    _run(tmp_path, num_steps=600, **run)
    saved, _ = Checkpointer(str(tmp_path / "run" / "checkpoints")).latest()
    saved_alpha = float(saved["learner"]["modules"]["temperature"]["log_alpha"].exp())
    assert saved_alpha < 0.5  # Learned well away from its start at 1, so a reset would show.
    _run(tmp_path, num_steps=900, resume=True, **run)
    evaluations = _rows(tmp_path / "run" / "eval.csv", "actor_steps")
    assert evaluations[900]["replay_size"] == 900  # The 600 transitions before the checkpoint are still there.
    learner = _rows(tmp_path / "run" / "learner.csv", "learner_steps")
    first_after = min(step for step in learner if step > saved["learner"]["num_steps"])
    # A hundred updates on from the checkpoint, alpha is far nearer the saved value than the start's 1.
    moved = abs(math.log(learner[first_after]["alpha"]) - math.log(saved_alpha))
    assert moved < 0.5 * abs(math.log(saved_alpha)), (learner[first_after]["alpha"], saved_alpha)


@pytest.mark.parametrize("agent", ["sac", "td3"])
def test_prioritized_n_step_replay_through_a_run(tmp_path, agent):
    summary = _run(tmp_path, agent=agent, seed=0, num_steps=400, eval_every=0, eval_episodes=1,
                   agent_config={**SMALL, "prioritized": True, "n_step": 3, "importance_sampling_anneal_steps": 400})
    assert summary["learner_steps"] > 0 and math.isfinite(summary["final_eval_return"])
    learner = _rows(tmp_path / "run" / "learner.csv", "learner_steps")
    betas = [row["beta"] for _, row in sorted(learner.items())]
    assert 0.4 <= betas[0] < betas[-1] <= 1.0 and all(row["importance_weight_mean"] <= 1.0 for row in learner.values())


@pytest.mark.parametrize("env", ["gym:HalfCheetah-v5", "dmc:cartpole-balance", "dmc:walker-walk"])
@pytest.mark.parametrize("agent, agent_config", [
    ("sac", {"hidden_sizes": (16,), "batch_size": 32, "learning_starts": 50}),
    ("td3", {"hidden_sizes": (16,), "batch_size": 32, "learning_starts": 50}),
    ("ppo", {"hidden_sizes": (16,), "rollout_length": 32, "num_minibatches": 2}),
])
def test_runs_on_mujoco_and_dm_control(tmp_path, agent, agent_config, env):
    summary = _run(tmp_path, agent=agent, env=env, agent_config=agent_config, num_steps=200, eval_every=0,
                   eval_episodes=1, eval_max_steps=100)
    assert summary["actor_steps"] == 200 and summary["learner_steps"] > 0
    assert math.isfinite(summary["final_eval_return"])
