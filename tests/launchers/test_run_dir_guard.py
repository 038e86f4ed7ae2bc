"""A run folder that holds a run is never overwritten unasked; a resumed run's TensorBoard keeps its points."""

from __future__ import annotations

import csv
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from launchers.experiment import experiment_from_declaration
from launchers.local import run_local

REPO = Path(__file__).resolve().parents[2]
TINY = {"agent": "dqn", "env": "gridworld:simple", "num_steps": 300, "eval_every": 150, "eval_episodes": 1,
        "torch_threads": 1, "log_interval": 1e9, "progress": False, "device": "cpu",
        "agent_config": {"min_replay_size": 100, "batch_size": 16, "hidden_sizes": (16,)}}
TINY_FLAGS = ["--num_steps=300", "--eval_every=150", "--eval_episodes=1", "--torch_threads=1", "--device=cpu",
              "--log_interval=1000", "--min_replay_size=100", "--batch_size=16", "--hidden_sizes=16", "--noprogress"]


def _snapshot(folder: Path) -> dict[str, tuple[str, int]]:
    """Every file under `folder`: its SHA-256 and modification time (ns)."""
    return {str(path.relative_to(folder)): (hashlib.sha256(path.read_bytes()).hexdigest(), path.stat().st_mtime_ns)
            for path in sorted(folder.rglob("*")) if path.is_file()}


def _launch(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "launchers.dqn", *args], cwd=REPO, capture_output=True,
                          text=True, timeout=120)


def test_a_second_run_into_a_run_folder_is_refused_and_the_folder_is_unchanged(tmp_path):
    run_dir = tmp_path / "run"
    run_local(experiment_from_declaration({**TINY, "run_dir": str(run_dir)}))
    before = _snapshot(run_dir)
    assert {"config.json", "train.csv", "eval.csv", "summary.json"} <= set(before)

    done = _launch(*TINY_FLAGS, f"--run_dir={run_dir}")
    assert done.returncode != 0
    assert "--resume" in done.stderr and "--overwrite" in done.stderr and str(run_dir) in done.stderr, done.stderr
    assert _snapshot(run_dir) == before

    with pytest.raises(ValueError, match="already holds a run"):  # Programmatic runs are refused alike.
        run_local(experiment_from_declaration({**TINY, "run_dir": str(run_dir)}))
    assert _snapshot(run_dir) == before


def test_overwrite_deletes_the_old_run_and_says_so(tmp_path):
    run_dir = tmp_path / "run"
    run_local(experiment_from_declaration({**TINY, "run_dir": str(run_dir)}))
    (run_dir / "train.csv").write_text("episode_return\n12345\n")  # A marker the new run must not keep.
    done = _launch(*TINY_FLAGS, f"--run_dir={run_dir}", "--overwrite")
    assert done.returncode == 0, done.stderr
    assert f"--overwrite: deleting the run in {run_dir}" in done.stdout
    assert "12345" not in (run_dir / "train.csv").read_text()
    assert '"overwrite": false' in (run_dir / "config.json").read_text()  # Rerunning config.json refuses again.


def test_overwrite_refuses_a_folder_that_holds_no_run(tmp_path):
    folder = tmp_path / "notes"
    folder.mkdir()
    (folder / "thesis.tex").write_text("precious")
    with pytest.raises(ValueError, match="holds no run"):
        run_local(experiment_from_declaration({**TINY, "run_dir": str(folder), "overwrite": True}))
    assert (folder / "thesis.tex").read_text() == "precious"


def test_resume_and_overwrite_together_are_refused():
    with pytest.raises(ValueError, match="give one of them"):
        experiment_from_declaration({**TINY, "run_dir": "somewhere", "resume": True, "overwrite": True})


def _tensorboard_steps(run_dir: Path, tag: str) -> list[int]:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    accumulator = EventAccumulator(str(run_dir), size_guidance={"scalars": 0})
    accumulator.Reload()
    return sorted(event.step for event in accumulator.Scalars(tag))


def test_a_resumed_run_keeps_every_evaluation_point_in_tensorboard(tmp_path):
    pytest.importorskip("tensorboard")
    run_dir = tmp_path / "run"
    first = {**TINY, "run_dir": str(run_dir), "tensorboard": True}
    run_local(experiment_from_declaration(first))  # Evaluates at 150 and 300, checkpoints at 300.
    run_local(experiment_from_declaration({**first, "num_steps": 600, "resume": True}))
    with open(run_dir / "eval.csv", newline="") as f:
        eval_steps = sorted(int(float(row["actor_steps"])) for row in csv.DictReader(f))
    assert eval_steps == [150, 300, 450, 600]
    assert _tensorboard_steps(run_dir, "eval/return_mean") == eval_steps
    assert len(os.listdir(run_dir / "checkpoints")) == 4  # Two checkpoints (kept), each a .pt and a .json.
