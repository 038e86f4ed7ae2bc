"""A run that fails mid-way prints one readable message and exits 1; --verbose shows the traceback."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

BROKEN_ENV = textwrap.dedent("""
    import dm_env
    import numpy as np
    from dm_env import specs

    class Breaks(dm_env.Environment):
        def __init__(self, seed=0):
            self._steps = 0
        def reset(self):
            return dm_env.restart(np.zeros(3, np.float32))
        def step(self, action):
            self._steps += 1
            if self._steps == 150:
                raise RuntimeError("the simulator lost its connection")
            return dm_env.transition(0.0, np.zeros(3, np.float32))
        def observation_spec(self):
            return specs.Array((3,), np.float32)
        def action_spec(self):
            return specs.DiscreteArray(2)

    def make(seed=0):
        return Breaks(seed)
""")


@pytest.mark.parametrize("launch", ["local", "threads"])
@pytest.mark.parametrize("verbose", [False, True])
def test_a_failing_environment_gives_one_message_or_the_traceback(tmp_path, launch, verbose):
    (tmp_path / "breaking_env.py").write_text(BROKEN_ENV)
    command = [sys.executable, "-m", "launchers.dqn", "--env=python:breaking_env:make", "--num_steps=1000",
               "--eval_every=0", f"--run_dir={tmp_path / 'run'}", "--noprogress", f"--launch={launch}"]
    if verbose:
        command.append("--verbose")
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, timeout=180,
                          env={**os.environ, "PYTHONPATH": REPO})
    assert done.returncode == 1, done.stderr[-3000:]
    assert "the simulator lost its connection" in done.stderr
    if verbose:
        assert "Traceback" in done.stderr
    else:
        assert "Traceback" not in done.stderr, done.stderr[-3000:]
        assert "failed:" in done.stderr and "--verbose" in done.stderr
