"""Checkpoints: atomic, checksummed, falling back to the previous one; runs resume where they stopped."""

from __future__ import annotations

import csv
import json
import os

import numpy as np
import pytest
import torch

from components.checkpointing import CheckpointError, Checkpointer
from launchers.experiment import experiment_from_declaration, load_declaration
from launchers.runners import run_experiment


def test_checkpointer_round_trip_keeps_the_newest_two(tmp_path):
    checkpointer = Checkpointer(str(tmp_path))
    assert checkpointer.latest() is None
    for step in (10, 20, 30):
        checkpointer.save({"weights": torch.full((3,), float(step)), "step": step}, step, {"agent": "dqn"})
    state, manifest = checkpointer.latest()
    assert manifest["step"] == 30 and manifest["agent"] == "dqn"
    torch.testing.assert_close(state["weights"], torch.full((3,), 30.0))
    assert sorted(os.listdir(tmp_path)) == ["ckpt-1.json", "ckpt-1.pt", "ckpt-2.json", "ckpt-2.pt"]


@pytest.mark.parametrize("damage", ["truncate", "flip", "delete"])
def test_a_damaged_checkpoint_is_detected_and_the_previous_one_used(tmp_path, damage):
    checkpointer = Checkpointer(str(tmp_path))
    checkpointer.save({"step": 1}, 1)
    path = checkpointer.save({"step": 2, "payload": np.arange(1000)}, 2)
    data = open(path, "rb").read()
    if damage == "truncate":
        open(path, "wb").write(data[: len(data) // 2])
    elif damage == "flip":
        open(path, "wb").write(data[:100] + bytes([data[100] ^ 0xFF]) + data[101:])
    else:
        os.remove(path)
    with pytest.warns(RuntimeWarning, match="Skipping checkpoint ckpt-1"):
        state, manifest = checkpointer.latest()
    assert state == {"step": 1} and manifest["step"] == 1


def test_no_readable_checkpoint_is_a_clear_error(tmp_path):
    checkpointer = Checkpointer(str(tmp_path))
    path = checkpointer.save({"step": 1}, 1)
    open(path, "wb").write(b"not a checkpoint")
    with pytest.warns(RuntimeWarning), pytest.raises(CheckpointError, match="No readable checkpoint"):
        checkpointer.latest()


def test_an_unfinished_write_leaves_no_checkpoint(tmp_path, monkeypatch):
    checkpointer = Checkpointer(str(tmp_path))
    checkpointer.save({"step": 1}, 1)

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(torch, "save", crash)
    with pytest.raises(OSError):
        checkpointer.save({"step": 2}, 2)
    state, manifest = checkpointer.latest()
    assert manifest["step"] == 1
    assert sorted(os.listdir(tmp_path)) == ["ckpt-0.json", "ckpt-0.pt"]


def _declaration(run_dir, **overrides):
    return {"agent": "dqn", "env": "gridworld:simple", "run_dir": str(run_dir), "torch_threads": 1,
            "log_interval": 1e9, "seed": 0, "eval_every": 500, "eval_episodes": 2,
            "agent_config": {"min_replay_size": 200}, **overrides}


def _column(path, key):
    with open(path, newline="") as f:
        return [float(r[key]) for r in csv.DictReader(f) if r.get(key)]


@pytest.mark.parametrize("checkpoint_replay", [False, True])
def test_a_stopped_run_resumes_where_it_stopped(tmp_path, checkpoint_replay):
    run_dir = tmp_path / "run"
    first = run_experiment(experiment_from_declaration(
        _declaration(run_dir, num_steps=1_000, checkpoint_replay=checkpoint_replay)))
    saved, manifest = Checkpointer(str(run_dir / "checkpoints")).latest()
    assert manifest["step"] == first["actor_steps"] == 1_000
    assert ("replay" in saved) == checkpoint_replay

    declaration = {**load_declaration(str(run_dir)), "resume": True, "num_steps": 2_000}
    resumed = run_experiment(experiment_from_declaration(declaration))
    assert resumed["actor_steps"] == 2_000
    assert resumed["learner_steps"] > first["learner_steps"]
    # The learning curve continues: evaluations every 500 steps, once each, the first run's included.
    assert [e[0] for e in resumed["evaluations"]] == [500, 1_000, 1_500, 2_000]
    assert _column(run_dir / "eval.csv", "actor_steps") == [500, 1_000, 1_500, 2_000]
    steps = _column(run_dir / "train.csv", "actor_steps")
    assert steps == sorted(steps) and steps[-1] <= 2_000 and min(np.diff(steps)) > 0
    learner_steps = _column(run_dir / "learner.csv", "learner_steps")
    assert learner_steps == sorted(learner_steps)
    # Train time continues from the first run's.
    assert resumed["train_seconds"] > first["train_seconds"]


def test_the_resumed_state_equals_the_saved_one(tmp_path):
    run_dir = tmp_path / "run"
    run_experiment(experiment_from_declaration(_declaration(run_dir, num_steps=800, checkpoint_replay=True)))
    checkpointer = Checkpointer(str(run_dir / "checkpoints"))
    saved, _ = checkpointer.latest()
    # Resume with the budget already spent: restore, take no step, checkpoint again.
    declaration = {**load_declaration(str(run_dir)), "resume": True}
    run_experiment(experiment_from_declaration(declaration))
    again, _ = checkpointer.latest()
    for name, module in saved["learner"]["modules"].items():
        for key, tensor in module.items():
            torch.testing.assert_close(again["learner"]["modules"][name][key], tensor, rtol=0, atol=0)
    assert again["learner"]["num_steps"] == saved["learner"]["num_steps"]
    assert json.dumps(again["learner"]["optimizer"]["param_groups"]) == \
        json.dumps(saved["learner"]["optimizer"]["param_groups"])
    for group, state in saved["learner"]["optimizer"]["state"].items():
        for key, value in state.items():
            torch.testing.assert_close(again["learner"]["optimizer"]["state"][group][key], value, rtol=0, atol=0)
    assert again["policies"] == saved["policies"]
    assert {k: v for k, v in again["counter"].items() if not k.startswith("eval")} == \
        {k: v for k, v in saved["counter"].items() if not k.startswith("eval")}
    for key in ("next", "size"):
        assert again["replay"][key] == saved["replay"][key]
    for stored, restored in zip(saved["replay"]["storage"], again["replay"]["storage"]):
        np.testing.assert_array_equal(stored, restored)


def test_resuming_with_another_config_or_without_checkpoints_fails_clearly(tmp_path):
    run_dir = tmp_path / "run"
    with pytest.raises(ValueError, match="has no checkpoints"):
        run_experiment(experiment_from_declaration(_declaration(run_dir, num_steps=300, resume=True)))
    run_experiment(experiment_from_declaration(_declaration(run_dir, num_steps=300)))
    declaration = load_declaration(str(run_dir))
    declaration["agent_config"]["learning_rate"] = 0.5
    with pytest.raises(ValueError, match="was written by a run with agent_config="):
        run_experiment(experiment_from_declaration({**declaration, "resume": True, "num_steps": 600}))
