"""Two identical local runs give identical evaluations, row for row (a seeded run is reproducible end to end)."""

from __future__ import annotations

import csv

import pytest

from launchers.experiment import experiment_from_declaration
from launchers.local import run_local

# Columns that measure wall-clock time, not what the agent did.
_TIMING = ("seconds", "steps_per_second", "time", "fps", "sps")

_CASES = {
    "dqn-gridworld": {"agent": "dqn", "env": "gridworld:simple", "num_steps": 3_000, "eval_every": 1_000,
                      "agent_config": {"min_replay_size": 200, "hidden_sizes": [32], "epsilon_decay_steps": 2_000}},
    "ppo-cartpole": {"agent": "ppo", "env": "gym:CartPole-v1", "num_steps": 8_192, "eval_every": 2_048,
                     "num_envs": 4, "agent_config": {"rollout_length": 128}},
}


def _evaluations(tmp_path, name: str, case: dict) -> list[dict[str, str]]:
    run_dir = tmp_path / name
    run_local(experiment_from_declaration({
        **case, "seed": 4, "run_dir": str(run_dir), "eval_episodes": 5, "log_interval": 1e9, "progress": False,
        "plots": False, "tensorboard": False, "torch_threads": 1}))
    with open(run_dir / "eval.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return [{key: value for key, value in row.items() if not any(part in key for part in _TIMING)} for row in rows]


@pytest.mark.parametrize("case", sorted(_CASES))
def test_two_identical_runs_give_identical_evaluations(tmp_path, case):
    first = _evaluations(tmp_path, "first", _CASES[case])
    second = _evaluations(tmp_path, "second", _CASES[case])
    assert len(first) >= 3 and "eval_return_mean" in first[0]
    assert len({row["eval_return_mean"] for row in first}) > 1, "the returns never changed: nothing was learned"
    assert first == second
