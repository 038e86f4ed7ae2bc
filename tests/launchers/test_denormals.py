"""A run flushes subnormal floats to zero while it trains (in its threads too) and restores the setting after."""

from __future__ import annotations

import threading

import numpy as np

from launchers.experiment import experiment_from_declaration
from launchers.run import flushed_denormals
from launchers.runners import run_experiment


def _flushing() -> bool:
    return float(np.float32(1e-39) * np.float32(1.0)) == 0.0  # 1e-39 is subnormal in float32.


def test_subnormals_are_flushed_inside_the_block_and_in_threads_it_starts_then_restored():
    assert not _flushing()
    seen = []
    with flushed_denormals():
        seen.append(_flushing())
        thread = threading.Thread(target=lambda: seen.append(_flushing()))
        thread.start()
        thread.join()
    assert seen == [True, True]
    assert not _flushing()


def test_a_run_trains_with_subnormals_flushed_and_leaves_the_caller_as_it_was(tmp_path, monkeypatch):
    from components.environment_loop import EnvironmentLoop

    during = []
    original = EnvironmentLoop.run

    def run(self, *args, **kwargs):
        during.append(_flushing())
        return original(self, *args, **kwargs)

    monkeypatch.setattr(EnvironmentLoop, "run", run)
    for launch in ("local", "threads"):
        run_experiment(experiment_from_declaration({
            "agent": "dqn", "env": "gridworld:simple", "num_steps": 300, "eval_every": 0, "eval_episodes": 1,
            "launch": launch, "device": "cpu", "plots": False, "progress": False, "log_interval": 1e9,
            "run_dir": str(tmp_path / launch), "agent_config": {"min_replay_size": 100}}))
        assert during and all(during), launch  # The actors' loops, in the main thread or their own.
        assert not _flushing()
        during.clear()
