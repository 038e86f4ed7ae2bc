"""A user's environment: its errors name its class and call, its options reach it, and no time limit hangs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from environments.registry import make_environment
from environments.errors import EnvironmentCallError
from launchers.experiment import experiment_from_declaration
from launchers.local import run_local

REPO = Path(__file__).resolve().parents[2]
ENVS = "python:tests.launchers.user_envs"


def test_an_exception_in_step_names_the_class_and_the_call():
    environment = make_environment(f"{ENVS}:make_broken", fail_at=2)
    environment.reset()
    environment.step(0)
    with pytest.raises(EnvironmentCallError, match=r"user_envs\.Broken\.step\(\) call 2 .*raised IndexError") as caught:
        environment.step(1)
    assert isinstance(caught.value.__cause__, IndexError)  # The user's own traceback is kept.


def test_render_names_the_class_when_it_has_none_or_it_raises():
    from launchers.video import collect_frames

    with pytest.raises(EnvironmentCallError, match=r"user_envs\.Corridor has no render\(\) method"):
        collect_frames(make_environment(f"{ENVS}:make_corridor"), lambda observation: [0])
    with pytest.raises(EnvironmentCallError, match=r"user_envs\.PaintsBadly\.render\(\) raised KeyError: 'palette'"):
        make_environment(f"{ENVS}:make_painter").render()


def test_an_evaluation_without_a_time_limit_is_cut_with_a_warning(tmp_path, capsys):
    summary = run_local(experiment_from_declaration({
        "agent": "dqn", "env": f"{ENVS}:make_never_ending", "num_steps": 200, "eval_every": 0, "eval_episodes": 2,
        "eval_max_steps": 40, "run_dir": str(tmp_path / "run"), "progress": False, "torch_threads": 1,
        "log_interval": 1e9, "agent_config": {"min_replay_size": 50, "batch_size": 8, "hidden_sizes": (8,)}}))
    with open(tmp_path / "run" / "eval.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert int(row["eval_return_count"]) == 2
    assert float(row["eval_steps"]) == 80 and summary["final_eval_return"] == 40.0  # 40 steps paying 1 each.
    out = capsys.readouterr().out
    assert "still running after 20 steps" in out and out.count("reached eval_max_steps=40") == 2


def test_env_options_reach_a_python_factory(tmp_path):
    run_dir = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "launchers.dqn", f"--env={ENVS}:make_corridor",
                           "--env_options=length=3", "--num_steps=60", "--eval_every=0", "--eval_episodes=2",
                           "--min_replay_size=20", "--batch_size=8", "--hidden_sizes=8", "--noprogress",
                           "--log_interval=1000", f"--run_dir={run_dir}"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((run_dir / "config.json").read_text())["env_options"] == {"length": 3}
    with open(run_dir / "train.csv", newline="") as f:
        assert {row["episode_length"] for row in csv.DictReader(f)} == {"3"}


def test_an_option_the_factory_does_not_take_is_a_clear_error():
    with pytest.raises(ValueError, match=r"cannot take the options \['colour', 'seed'\].*--env_options"):
        experiment_from_declaration({"agent": "dqn", "env": f"{ENVS}:make_corridor", "env_options": {"colour": "red"}})
