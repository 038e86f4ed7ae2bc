"""Large arrays in a checkpoint go to their own checksummed .npy files, written from the live replay."""

from __future__ import annotations

import collections
import os

import numpy as np
import pytest
import torch
from dm_env import specs

from components import checkpointing
from components.checkpointing import ArrayFile, Checkpointer
from components.replay import UniformReplay
from launchers.experiment import experiment_from_declaration, load_declaration
from launchers.runners import run_experiment
from tests.launchers.test_checkpoints import _declaration


@pytest.fixture
def small_array_files(monkeypatch):
    monkeypatch.setattr(checkpointing, "ARRAY_FILE_BYTES", 1024)


def _state(step: int) -> dict:
    return {"step": step, "weights": torch.full((3,), float(step)),
            "replay": {"storage": [np.full((500, 4), step, np.float32), np.arange(10)], "next": 3},
            "optimizer": collections.OrderedDict([(0, {"m": np.ones(2)}), (1, {"m": np.zeros(2)})])}


def test_large_arrays_are_separate_files_loaded_back_equal_and_dropped_with_their_checkpoint(
        tmp_path, small_array_files):
    checkpointer = Checkpointer(str(tmp_path))
    for step in (1, 2, 3):
        checkpointer.save(_state(step), step)
    state, manifest = checkpointer.latest()
    assert list(manifest["array_files"]) == ["ckpt-2.arrays/0.npy"]  # Only the 8 KB array: 80 B stay inline.
    stored = torch.load(os.path.join(tmp_path, "ckpt-2.pt"), weights_only=False)
    assert isinstance(stored["replay"]["storage"][0], ArrayFile)
    loaded = state["replay"]["storage"][0]
    assert isinstance(loaded, np.memmap) and not loaded.flags.writeable  # Mapped, not read into RAM.
    np.testing.assert_array_equal(loaded, np.full((500, 4), 3, np.float32))
    np.testing.assert_array_equal(state["replay"]["storage"][1], np.arange(10))
    assert list(state["optimizer"]) == [0, 1] and state["step"] == 3
    assert sorted(p for p in os.listdir(tmp_path) if p.endswith(".arrays")) == ["ckpt-1.arrays", "ckpt-2.arrays"]


def test_what_holds_no_large_array_comes_back_as_torch_saved_it(tmp_path, small_array_files):
    """A module's state_dict keeps its `_metadata` (the versions `load_state_dict` reads) next to array files."""
    module = torch.nn.Linear(2, 2)
    Checkpointer(str(tmp_path)).save({"module": module.state_dict(), **_state(1)}, 1)
    state, manifest = Checkpointer(str(tmp_path)).latest()
    assert manifest["array_files"] and state["module"]._metadata == module.state_dict()._metadata
    torch.nn.Linear(2, 2).load_state_dict(state["module"])


def test_a_damaged_array_file_falls_back_to_the_previous_checkpoint(tmp_path, small_array_files):
    checkpointer = Checkpointer(str(tmp_path))
    checkpointer.save(_state(1), 1)
    checkpointer.save(_state(2), 2)
    path = os.path.join(tmp_path, "ckpt-1.arrays", "0.npy")
    data = open(path, "rb").read()
    open(path, "wb").write(data[:-10])
    with pytest.warns(RuntimeWarning, match="ckpt-1.*0.npy does not match its checksum"):
        state, manifest = checkpointer.latest()
    assert manifest["step"] == 1 and float(state["replay"]["storage"][0][0, 0]) == 1.0


def test_a_replay_hands_out_its_live_arrays_only_when_asked():
    from components.core import save_replay
    from components.frame_replay import FrameStackReplay
    from components.specs import EnvironmentSpec

    replay = UniformReplay(specs.Array((4,), np.float32), 100, seed=0)
    replay.insert(np.ones((10, 4), np.float32))
    live, copied = replay.save(copy=False)["storage"][0], replay.save()["storage"][0]
    assert np.shares_memory(live, replay.save(copy=False)["storage"][0]) and not np.shares_memory(copied, live)
    spec = EnvironmentSpec(specs.Array((4, 2, 2), np.uint8), specs.DiscreteArray(2), specs.Array((), np.float32),
                           specs.Array((), np.float32))
    frames = FrameStackReplay.uniform(spec, 50, 1, 1)
    live = save_replay(frames, copy=False)
    assert np.shares_memory(live["store"]["frames"], frames.store.save(copy=False)["frames"])
    assert not np.shares_memory(save_replay(frames)["store"]["frames"], live["store"]["frames"])


def test_a_run_checkpoints_its_replay_as_files_and_resumes_it_equal(tmp_path, small_array_files):
    run_dir = tmp_path / "run"
    run_experiment(experiment_from_declaration(_declaration(run_dir, num_steps=800, checkpoint_replay=True)))
    checkpointer = Checkpointer(str(run_dir / "checkpoints"))
    saved, manifest = checkpointer.latest()
    assert manifest["array_files"], manifest  # The replay's storage went to .npy files.
    run_experiment(experiment_from_declaration({**load_declaration(str(run_dir)), "resume": True}))
    again, _ = checkpointer.latest()  # Restored into the live replay, then written again, no step between.
    assert (again["replay"]["next"], again["replay"]["size"]) == (saved["replay"]["next"], saved["replay"]["size"])
    for stored, restored in zip(saved["replay"]["storage"], again["replay"]["storage"]):
        np.testing.assert_array_equal(stored, restored)
    assert again["replay"]["rng"] == saved["replay"]["rng"]
