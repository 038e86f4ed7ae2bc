"""DQN runs on 8 lanes of atari:Breakout through the launcher (a smoke test, kept short)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

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
