"""What every benchmark script does: run a worker process for its JSON line, and write results."""

from __future__ import annotations

import json
import os
import subprocess
from typing import Any

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS_PYTHON = os.path.join(HERE, ".venv-peers", "bin", "python")


def run_json(command: list[str]) -> dict[str, Any]:
    """Runs `command` from the repository root (importable as PYTHONPATH) and parses its last stdout line."""
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_json(summary: dict[str, Any], out: str | None) -> None:
    """Writes a benchmark's results to `out` (a path under runs/bench, not committed); None skips it."""
    if not out:
        return
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as f:
        json.dump(summary, f, indent=2)
    print(f"wrote {out}")
