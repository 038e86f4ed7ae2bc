"""`python -m launchers.evaluate`: a run's latest checkpoint, evaluated without training."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from launchers.evaluate import evaluate_run
from launchers.experiment import experiment_from_declaration
from launchers.runners import run_experiment


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory):
    run_dir = tmp_path_factory.mktemp("evaluate") / "run"
    summary = run_experiment(experiment_from_declaration({
        "agent": "dqn", "env": "gridworld:simple", "env_options": {"observation_type": "grid"}, "seed": 1,
        "num_steps": 3_000, "eval_every": 0, "eval_episodes": 5, "run_dir": str(run_dir), "torch_threads": 1,
        "log_interval": 1e9, "progress": False}))
    return run_dir, summary


def test_evaluation_reproduces_the_final_greedy_return(trained_run):
    run_dir, summary = trained_run
    result = evaluate_run(str(run_dir), episodes=5)
    assert result["episodes"] == 5
    assert result["checkpoint_step"] == summary["actor_steps"]
    # gridworld:simple is deterministic from its start: the greedy policy gets the same return.
    assert result["return_mean"] == pytest.approx(summary["final_eval_return"])
    assert json.loads((run_dir / "evaluation.json").read_text()) == result


def test_the_evaluate_command_prints_mean_and_std(trained_run):
    run_dir, _ = trained_run
    done = subprocess.run([sys.executable, "-m", "launchers.evaluate", f"--run_dir={run_dir}", "--episodes=3"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "3 episodes" in done.stdout and "+-" in done.stdout
    assert json.loads(done.stdout.strip().splitlines()[-1])["episodes"] == 3


@pytest.mark.parametrize("make_dir", ["missing", "no_checkpoint"])
def test_a_folder_without_a_checkpoint_fails_clearly(tmp_path, make_dir):
    run_dir = tmp_path / "run"
    if make_dir == "no_checkpoint":
        run_dir.mkdir()
        (run_dir / "config.json").write_text(json.dumps({"agent": "dqn", "env": "gridworld:simple"}))
    done = subprocess.run([sys.executable, "-m", "launchers.evaluate", f"--run_dir={run_dir}"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode != 0
    assert "Traceback" not in done.stderr
    assert ("No run declaration" if make_dir == "missing" else "has no checkpoints") in done.stderr


def test_evaluate_records_a_playable_video(trained_run):
    import imageio.v3 as iio

    run_dir, _ = trained_run
    result = evaluate_run(str(run_dir), episodes=1, video=True)
    frames = iio.imread(result["video"])
    assert frames.ndim == 4 and frames.shape[-1] == 3 and len(frames) >= 2
