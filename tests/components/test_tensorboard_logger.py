"""Tests for `components.tensorboard_logger` and its use by `LoggerFactory` (tags, steps, values read back from the
event files)."""

from __future__ import annotations

import glob
import os
import sys
import threading
import time

import numpy as np
import pytest
import torch

from components import tensorboard_logger
from components.logger_factory import LoggerFactory
from components.tensorboard_logger import (
    TENSORBOARD_TAGS,
    TensorBoardLogger,
    TensorBoardUnavailable,
    TensorBoardWriter,
    tensorboard_tag,
)


@pytest.fixture
def event_accumulator():
    """Reads a folder's event files: `read(directory) -> {tag: [(step, value), ...]}`."""
    pytest.importorskip("tensorboard")
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    def read(directory) -> dict[str, list[tuple[int, float]]]:
        accumulator = EventAccumulator(str(directory), size_guidance={"scalars": 0})  # 0: keep every point.
        accumulator.Reload()
        return {tag: [(e.step, e.value) for e in accumulator.Scalars(tag)]
                for tag in accumulator.Tags()["scalars"]}

    return read


def _event_files(directory) -> list[str]:
    return glob.glob(os.path.join(str(directory), "events.out.tfevents.*"))


def _hide_tensorboard(monkeypatch) -> None:
    """Makes `torch.utils.tensorboard` and `tensorboardX` fail to import, as without the packages."""
    monkeypatch.setitem(sys.modules, "torch.utils.tensorboard", None)
    monkeypatch.setitem(sys.modules, "tensorboardX", None)


# ----------------------------------------------------------------------------
# The tag table.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("label,key,tag", [
    # Training episodes (any actor's): CleanRL's charts/.
    ("train", "episode_return", "charts/episodic_return"),
    ("train", "episode_length", "charts/episodic_length"),
    ("train", "steps_per_second", "charts/SPS"),
    ("train", "raw_score", "charts/raw_score"),
    ("train_actor1", "episode_return", "charts/episodic_return"),
    ("train", "lane", None),
    # Learner statistics: losses/<name>, except the schedules and the learner's rate.
    ("learner", "loss", "losses/loss"),
    ("learner", "policy_loss", "losses/policy_loss"),
    ("learner", "value_loss", "losses/value_loss"),
    ("learner", "td_error_abs", "losses/td_error_abs"),
    ("learner", "entropy", "losses/entropy"),
    ("learner", "approx_kl", "losses/approx_kl"),
    ("learner", "clip_fraction", "losses/clip_fraction"),
    ("learner", "explained_variance", "losses/explained_variance"),
    ("learner", "grad_norm", "losses/grad_norm"),
    ("learner", "q_mean", "losses/q_mean"),
    ("learner", "learning_rate", "charts/learning_rate"),
    ("learner", "epsilon", "charts/epsilon"),
    ("learner", "learner_steps_per_second", "charts/learner_SPS"),
    # Evaluations: eval/<name without the eval_ prefix>.
    ("eval", "eval_return_mean", "eval/return_mean"),
    ("eval", "eval_return_std", "eval/return_std"),
    ("eval", "eval_raw_score_mean", "eval/raw_score_mean"),
    ("eval", "eval_initial_value", "eval/initial_value"),
    ("eval", "epsilon", "charts/epsilon"),
    ("eval", "replay_size", "charts/replay_size"),
    ("eval", "train_seconds", "charts/train_seconds"),
    # Counters are the x axis, never a scalar.
    ("train", "actor_steps", None),
    ("train", "actor_episodes", None),
    ("learner", "learner_steps", None),
    ("eval", "eval_episodes", None),
    ("eval", "eval_steps", None),
    ("custom", "episodes", None),
    # Other labels keep their own group.
    ("custom", "x", "custom/x"),
])
def test_tensorboard_tag(label, key, tag):
    assert tensorboard_tag(label, key) == tag


def test_table_tags_are_cleanrl_style():
    for table in TENSORBOARD_TAGS.values():
        for tag in table.values():
            assert tag is None or tag.split("/")[0] in ("charts", "losses", "eval")


# ----------------------------------------------------------------------------
# Event files.
# ----------------------------------------------------------------------------


def test_rows_of_every_label_read_back(tmp_path, event_accumulator):
    factory = LoggerFactory(str(tmp_path), terminal_labels=(), tensorboard=True)
    train, learner, evaluation = factory("train"), factory("learner"), factory("eval")
    for steps in (100, 200, 300):
        train.write({"actor_steps": steps, "actor_episodes": steps // 100, "learner_steps": steps // 4,
                     "episode_return": steps / 10, "episode_length": steps // 10,
                     "steps_per_second": np.float64(1234.5), "lane": 0})
        learner.write({"actor_steps": steps, "learner_steps": steps // 4, "loss": torch.tensor(0.5 / steps),
                       "grad_norm": np.float32(2.0), "learning_rate": 1e-3, "learner_steps_per_second": 50.0})
    evaluation.write({"actor_steps": 300, "learner_steps": 75, "eval_episodes": 10, "train_seconds": 12.5,
                      "eval_return_mean": 475.0, "eval_return_std": 0.0, "eval_initial_value": 3.25,
                      "epsilon": 0.05, "replay_size": 300, "note": "not a number", "missing": None})
    for logger in (train, learner, evaluation):
        logger.close()  # Closes the CSV files; the event file is the factory's.
    factory.close()

    assert len(_event_files(tmp_path)) == 1, "one writer per run folder, shared by every label"
    scalars = event_accumulator(tmp_path)
    assert set(scalars) == {
        "charts/episodic_return", "charts/episodic_length", "charts/SPS",
        "losses/loss", "losses/grad_norm", "charts/learning_rate", "charts/learner_SPS",
        "eval/return_mean", "eval/return_std", "eval/initial_value",
        "charts/epsilon", "charts/replay_size", "charts/train_seconds",
    }
    assert scalars["charts/episodic_return"] == [(100, 10.0), (200, 20.0), (300, 30.0)]
    assert scalars["charts/episodic_length"] == [(100, 10.0), (200, 20.0), (300, 30.0)]
    assert scalars["charts/SPS"] == [(s, 1234.5) for s in (100, 200, 300)]
    assert [step for step, _ in scalars["losses/loss"]] == [100, 200, 300]  # actor_steps, not learner_steps.
    assert np.allclose([v for _, v in scalars["losses/loss"]], [0.005, 0.0025, 0.5 / 300])
    assert scalars["charts/learning_rate"][0] == (100, pytest.approx(1e-3))
    assert scalars["eval/return_mean"] == [(300, 475.0)]
    assert scalars["eval/initial_value"] == [(300, 3.25)]
    assert scalars["charts/epsilon"] == [(300, pytest.approx(0.05))]
    # The CSV files are written as before.
    assert {"train.csv", "learner.csv", "eval.csv"} <= set(os.listdir(tmp_path))


def test_step_falls_back_to_learner_steps_then_to_the_row_index(tmp_path, event_accumulator):
    learner = TensorBoardLogger(str(tmp_path), "learner")
    learner.write({"learner_steps": 7, "loss": 1.0})
    learner.write({"learner_steps": 9, "loss": 2.0})
    other = TensorBoardLogger(str(tmp_path), "custom")
    other.write({"x": 1.0})
    other.write({"x": 2.0})
    learner.close()
    other.close()
    scalars = event_accumulator(tmp_path)
    assert scalars["losses/loss"] == [(7, 1.0), (9, 2.0)]
    assert scalars["custom/x"] == [(0, 1.0), (1, 2.0)]


def test_factory_shares_one_writer_and_closes_it(tmp_path):
    factory = LoggerFactory(str(tmp_path), terminal_labels=(), tensorboard=True)
    assert factory.tensorboard_writer is None  # Nothing opened before the first logger.
    train, evaluation = factory("train"), factory("eval")
    writer = factory.tensorboard_writer
    assert isinstance(writer, TensorBoardWriter) and not writer.closed
    train.close()
    evaluation.close()
    assert not writer.closed  # The loggers do not own it: the factory does.
    factory.close()
    factory.close()  # Idempotent.
    assert writer.closed
    with pytest.raises(RuntimeError, match="closed"):
        factory("learner")


def test_a_logger_on_a_directory_owns_its_writer(tmp_path, event_accumulator):
    logger = TensorBoardLogger(str(tmp_path), "train")
    logger.write({"actor_steps": 3, "episode_return": 1.5})
    assert not logger.writer.closed
    logger.close()
    assert logger.writer.closed
    assert event_accumulator(tmp_path)["charts/episodic_return"] == [(3, 1.5)]


def test_factory_close_ends_the_run_and_drops_later_rows(tmp_path, event_accumulator):
    factory = LoggerFactory(str(tmp_path), terminal_labels=(), tensorboard=True)
    logger = factory("train")
    logger.write({"actor_steps": 1, "episode_return": 1.0})
    factory.close()
    logger.write({"actor_steps": 2, "episode_return": 2.0})  # Dropped, without an error.
    logger.close()
    assert event_accumulator(tmp_path)["charts/episodic_return"] == [(1, 1.0)]
    assert len(_event_files(tmp_path)) == 1
    with open(tmp_path / "train.csv") as f:
        assert f.read().splitlines() == ["actor_steps,episode_return", "1,1.0"]


def test_rows_reach_the_writer_in_batches_and_all_of_them_on_flush(tmp_path, event_accumulator, monkeypatch):
    monkeypatch.setattr(tensorboard_logger, "TENSORBOARD_BATCH_SECONDS", 3600.0)
    logger = TensorBoardLogger(str(tmp_path), "train")
    handed = []
    summary_writer = logger.writer.writer
    real_add_scalar = summary_writer.add_scalar
    monkeypatch.setattr(summary_writer, "add_scalar",
                        lambda tag, value, global_step=None: handed.append((tag, value, global_step))
                        or real_add_scalar(tag, value, global_step=global_step))
    for i in range(5):
        logger.write({"actor_steps": i, "episode_return": float(i)})
    assert handed == []  # Held back: no wake-up of the writer's thread per row.
    logger.flush()
    assert handed == [("charts/episodic_return", float(i), i) for i in range(5)]
    assert event_accumulator(tmp_path)["charts/episodic_return"] == [(i, float(i)) for i in range(5)]
    monkeypatch.setattr(tensorboard_logger, "TENSORBOARD_BATCH_SECONDS", 0.0)
    logger.write({"actor_steps": 5, "episode_return": 5.0})  # The batch period has passed: handed over at once.
    assert len(handed) == 6
    logger.close()


def test_concurrent_writers_lose_no_row(tmp_path, event_accumulator):
    factory = LoggerFactory(str(tmp_path), terminal_labels=(), tensorboard=True)
    actors = [factory(f"train_actor{i}") for i in range(4)]
    rows_per_actor = 200

    def act(i: int) -> None:
        for j in range(rows_per_actor):
            actors[i].write({"actor_steps": j * 4 + i, "episode_return": float(i)})

    threads = [threading.Thread(target=act, args=(i,)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    factory.close()
    points = event_accumulator(tmp_path)["charts/episodic_return"]
    assert sorted(step for step, _ in points) == list(range(4 * rows_per_actor))
    assert all(value == step % 4 for step, value in points)


def test_purge_step_hides_the_interrupted_runs_later_points(tmp_path, event_accumulator):
    first = TensorBoardLogger(str(tmp_path), "train")
    for step in range(10):
        first.write({"actor_steps": step, "episode_return": 0.0})
    first.close()
    # Event files are read in name order: time in whole seconds, then a per-process writer count (which sorts
    # "10" before "9"). A resumed run starts in a later second, as here.
    started = int(time.time())
    while int(time.time()) == started:
        time.sleep(0.02)
    resumed = TensorBoardLogger(str(tmp_path), "train", purge_step=5)
    for step in range(5, 8):
        resumed.write({"actor_steps": step, "episode_return": 1.0})
    resumed.close()
    points = event_accumulator(tmp_path)["charts/episodic_return"]
    assert points == [(s, 0.0) for s in range(5)] + [(s, 1.0) for s in range(5, 8)]


# ----------------------------------------------------------------------------
# On, off, and the package missing.
# ----------------------------------------------------------------------------


def test_default_turns_tensorboard_on_when_it_imports(tmp_path):
    pytest.importorskip("tensorboard")
    with LoggerFactory(str(tmp_path), terminal_labels=()) as factory:
        factory("train").write({"actor_steps": 1, "episode_return": 1.0})
    assert len(_event_files(tmp_path)) == 1


def test_false_turns_tensorboard_off(tmp_path):
    with LoggerFactory(str(tmp_path), terminal_labels=(), tensorboard=False) as factory:
        factory("train").write({"actor_steps": 1, "episode_return": 1.0})
    assert _event_files(tmp_path) == []
    assert os.listdir(tmp_path) == ["train.csv"]


def test_no_directory_writes_no_event_file(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with LoggerFactory(None, terminal_labels=(), tensorboard=True) as factory:
        factory("train").write({"actor_steps": 1, "episode_return": 1.0})
    assert os.listdir(tmp_path) == []


def test_missing_package_asked_for_names_the_extra(tmp_path, monkeypatch):
    _hide_tensorboard(monkeypatch)
    assert not tensorboard_logger.tensorboard_available()
    with pytest.raises(TensorBoardUnavailable, match=r"agentpipe\[tensorboard\]"):
        LoggerFactory(str(tmp_path), tensorboard=True)
    with pytest.raises(ImportError, match="tensorboard"):  # TensorBoardUnavailable is an ImportError.
        TensorBoardLogger(str(tmp_path), "train")
    assert _event_files(tmp_path) == []


def test_missing_package_by_default_keeps_the_csv_files(tmp_path, monkeypatch):
    _hide_tensorboard(monkeypatch)
    with LoggerFactory(str(tmp_path), terminal_labels=()) as factory:
        factory("train").write({"actor_steps": 1, "episode_return": 1.0})
    assert os.listdir(tmp_path) == ["train.csv"]


def test_atari_episodic_return_is_the_whole_game_raw_score(tmp_path, event_accumulator):
    """As in CleanRL: charts/episodic_return is the unclipped game score, once per game; the clipped
    per-life return the agent trained on keeps its own tag."""
    assert tensorboard_tag("train", "raw_score", score_key="raw_score") == "charts/episodic_return"
    assert tensorboard_tag("train_actor1", "episode_return", score_key="raw_score") == "charts/training_return"
    assert tensorboard_tag("eval", "eval_return_mean", score_key="raw_score") == "eval/return_mean"
    factory = LoggerFactory(str(tmp_path), terminal_labels=(), tensorboard=True, score_key="raw_score")
    logger = factory("train")
    logger.write({"actor_steps": 100, "episode_return": 3.0})  # A life lost: no game score yet.
    logger.write({"actor_steps": 250, "episode_return": 2.0, "raw_score": 410.0})  # The game's last life.
    factory.close()
    scalars = event_accumulator(tmp_path)
    assert scalars["charts/episodic_return"] == [(250, 410.0)]
    assert scalars["charts/training_return"] == [(100, 3.0), (250, 2.0)]


def test_atari_runs_declare_raw_score_as_their_score():
    from launchers.experiment import experiment_from_declaration

    pytest.importorskip("ale_py")
    assert experiment_from_declaration({"agent": "dqn", "env": "atari:Pong", "num_envs": 1}).score_key == "raw_score"
    assert experiment_from_declaration({"agent": "dqn", "env": "gridworld:simple"}).score_key is None
