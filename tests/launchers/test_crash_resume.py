"""kill -9 at a random moment loses at most one checkpoint interval, and --resume continues from there."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time

from components.checkpointing import Checkpointer

INTERVAL_MINUTES = 0.02  # 1.2 s


def test_a_run_killed_at_a_random_moment_resumes_from_its_last_complete_checkpoint(tmp_path):
    run_dir = tmp_path / "run"
    command = [sys.executable, "-m", "launchers.dqn", "--env=gridworld:simple", "--num_steps=10000000",
               "--eval_every=0", f"--run_dir={run_dir}", "--log_interval=1000", "--noprogress",
               f"--checkpoint_every_minutes={INTERVAL_MINUTES}", "--checkpoint_replay", "--min_replay_size=200"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    checkpoints = Checkpointer(str(run_dir / "checkpoints"))
    try:
        deadline = time.monotonic() + 120
        while len(checkpoints.manifests()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        assert len(checkpoints.manifests()) >= 2, "no checkpoints were written"
        time.sleep(random.Random(os.getpid()).uniform(0.0, 2 * INTERVAL_MINUTES * 60))
        process.send_signal(signal.SIGKILL)
        killed_at = time.time()
        process.wait(timeout=30)
    finally:
        process.kill()
    assert process.returncode == -signal.SIGKILL

    state, manifest = checkpoints.latest()
    newest = os.path.getmtime(run_dir / "checkpoints" / manifest["file"])
    # At most one interval (plus the time one checkpoint takes to write) is lost.
    assert killed_at - newest <= INTERVAL_MINUTES * 60 + 5
    step = manifest["step"]
    resumed = subprocess.run([sys.executable, "-m", "launchers.dqn", f"--resume={run_dir}",
                              f"--num_steps={step + 500}", "--noprogress"],
                             capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert f"at actor step {step:,}" in resumed.stdout
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["actor_steps"] >= step + 500
    assert not [n for n in os.listdir(run_dir / "checkpoints") if ".tmp-" in n]
