"""What `make demo` leaves in its run folder: every file the README promises, and a playable video."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def _demo_command() -> list[str]:
    recipe = re.search(r"^demo:.*?\n((?:\t.*\n)+)", (REPO / "Makefile").read_text(), flags=re.M).group(1)
    words = " ".join(line.strip().rstrip("\\") for line in recipe.splitlines()).split()
    assert words[:3] == ["$(PY)", "-m", "launchers.dqn"], words
    return [sys.executable, *words[1:]]


def test_the_demo_run_folder_holds_logs_events_curves_checkpoint_and_video(tmp_path):
    import imageio.v3 as iio
    import matplotlib.image

    run_dir = tmp_path / "demo"
    # The demo's own flags, with a smaller budget (later flags win).
    command = _demo_command() + ["--num_steps=1500", "--eval_every=500", "--video_every=1500",
                                 f"--run_dir={run_dir}"]
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    names = {p.name for p in run_dir.iterdir()}
    assert {"config.json", "train.csv", "eval.csv", "learner.csv", "summary.json", "curves.png"} <= names
    assert any(name.startswith("events.out.tfevents") for name in names)
    manifest = json.loads((run_dir / "checkpoints" / "ckpt-0.json").read_text())
    assert manifest["step"] == 1500 and (run_dir / "checkpoints" / manifest["file"]).exists()
    image = matplotlib.image.imread(run_dir / "curves.png")
    assert image.shape[1] == 1000 and image.std() > 0.05
    video = run_dir / "videos" / "eval_1500.mp4"
    frames = iio.imread(video)
    assert frames.ndim == 4 and frames.shape[-1] == 3 and len(frames) >= 2  # Frame counts: test_video.py.
    assert {"greedy_policy.png", "q_values.png", "state_values.png", "value_scatter.png"} <= \
        {p.name for p in (run_dir / "diagnostics").iterdir()}
