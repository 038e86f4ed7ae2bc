"""DQN runs on 8 lanes of atari:Breakout through the launcher (a smoke test, kept short)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def test_dqn_on_eight_breakout_lanes_runs_through_the_launcher(tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "launchers.dqn", "--env=atari:Breakout", "--num_envs=8",
               "--num_steps=2400", "--min_replay_size=2000", "--batch_size=32", "--hidden_sizes=256",
               "--eval_every=0", "--eval_episodes=1", "--log_interval=1000", f"--run_dir={run_dir}"]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert summary["actor_steps"] >= 2400 and summary["learner_steps"] > 0
    config = json.loads((run_dir / "config.json").read_text())
    assert config["num_envs"] == 8 and config["env_backend"] == "auto"
    rows = (run_dir / "train.csv").read_text().splitlines()
    assert len(rows) > 1 and "raw_score" in rows[0]  # Whole games ended and were scored.


def test_dqn_trains_on_the_ale_vector_backend(tmp_path):
    from launchers.experiment import experiment_from_declaration
    from launchers.local import run_local

    summary = run_local(experiment_from_declaration({
        "agent": "dqn", "env": "atari:Breakout", "num_envs": 4, "env_backend": "ale", "num_steps": 400,
        "eval_every": 0, "eval_episodes": 1, "log_interval": 1e9, "run_dir": str(tmp_path / "run"),
        "agent_config": {"min_replay_size": 300, "batch_size": 32, "hidden_sizes": [64]}}))
    assert summary["actor_steps"] >= 400 and summary["learner_steps"] > 0
    assert json.loads((tmp_path / "run" / "config.json").read_text())["env_backend"] == "ale"
    # Seed 001's evaluation and diagnostics: whole games scored unclipped, V of the first observations,
    # the behaviour policy's epsilon and the replay's size.
    header, row = (tmp_path / "run" / "eval.csv").read_text().splitlines()[:2]
    evaluation = dict(zip(header.split(","), row.split(",")))
    assert float(evaluation["eval_raw_score_mean"]) == float(evaluation["eval_return_mean"])  # Unclipped games.
    assert int(evaluation["eval_raw_score_games"]) == 1
    assert abs(float(evaluation["eval_initial_value"])) < 100.0
    assert 0.0 < float(evaluation["epsilon"]) <= 1.0
    assert int(evaluation["replay_size"]) >= 300


def test_ale_backend_refuses_non_atari_environments(tmp_path):
    from launchers.experiment import experiment_from_declaration

    with pytest.raises(ValueError, match=r"atari:<Game>.*gridworld:simple"):
        experiment_from_declaration({"agent": "dqn", "env": "gridworld:simple", "env_backend": "ale", "num_envs": 2,
                                     "run_dir": str(tmp_path / "run")})


def test_rainbow_preset_runs_on_breakout_with_frame_replay(tmp_path, capsys):
    """C51 + Dueling + Double + 3-step + prioritized replay over stacked-frame replay, through a run."""
    from launchers.experiment import experiment_from_declaration
    from launchers.local import run_local
    from launchers.presets import preset_declaration

    declaration = preset_declaration("dqn", "rainbow", "atari:Breakout")
    declaration["agent_config"].update(replay_capacity=5_000, min_replay_size=200, batch_size=8)
    declaration.update(agent="dqn", env="atari:Breakout", num_envs=4, num_steps=400, eval_every=0,
                       eval_episodes=1, log_interval=1e9, run_dir=str(tmp_path / "run"))
    summary = run_local(experiment_from_declaration(declaration))
    assert summary["learner_steps"] > 0
    startup = capsys.readouterr().out
    assert "FrameStackReplay: 5,000 transitions" in startup and "inner PrioritizedReplay" in startup
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["preset"] == "rainbow" and config["agent_config"]["num_atoms"] == 51


@pytest.mark.parametrize("agent,preset,overrides", [
    ("ppo", "seed003", {"rollout_length": 16, "num_minibatches": 2, "num_epochs": 1}),
    ("a2c", "seed000", {}),
])
def test_policy_gradient_presets_run_on_eight_breakout_lanes(tmp_path, agent, preset, overrides):
    """Seed 003's PPO and seed 000's A2C on 8 ale lanes of Breakout, shrunk to a few hundred steps."""
    from launchers.experiment import experiment_from_declaration
    from launchers.local import run_local
    from launchers.presets import preset_declaration

    declaration = preset_declaration(agent, preset, "atari:Breakout")
    declaration["agent_config"].update(overrides)
    declaration.update(agent=agent, env="atari:Breakout", num_steps=640, eval_every=0, eval_episodes=1,
                       log_interval=1e9, run_dir=str(tmp_path / "run"))
    summary = run_local(experiment_from_declaration(declaration))
    config = json.loads((tmp_path / "run" / "config.json").read_text())
    assert config["num_envs"] == 8 and config["env_backend"] == "auto" and config["preset"] == preset
    assert summary["learner_steps"] >= 640 // (8 * config["agent_config"]["rollout_length"])
    header, row = (tmp_path / "run" / "eval.csv").read_text().splitlines()[:2]
    evaluation = dict(zip(header.split(","), row.split(",")))
    assert "eval_raw_score_mean" in evaluation and "eval_initial_value" in evaluation
