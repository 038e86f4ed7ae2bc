"""Tests for `components.counting.Counter`, `components.loggers` and `components.logger_factory`."""

from __future__ import annotations

import csv
import pickle
import threading

import numpy as np
import pytest
import torch

from components.counting import Counter
from components.logger_factory import LoggerFactory
from components.loggers import (
    CSVLogger,
    Dispatcher,
    Logger,
    NoOpLogger,
    TerminalLogger,
    TimeFilter,
)

# ----------------------------------------------------------------------------
# Counter.
# ----------------------------------------------------------------------------


def test_root_counter_counts():
    counter = Counter()
    assert counter.increment(steps=2) == {"steps": 2}
    assert counter.increment(steps=3, episodes=1) == {"steps": 5, "episodes": 1}
    assert counter.get("steps") == 5
    assert counter.get("missing") == 0
    assert counter.get("missing", default=-1) == -1


def test_prefixed_children_write_into_the_root():
    root = Counter()
    actor = Counter(root, "actor")
    learner = Counter(root, "learner")
    returned = actor.increment(steps=8, episodes=1)
    learner.increment(steps=1)
    assert returned == {"actor_steps": 8, "actor_episodes": 1}  # All of the root's counts so far.
    assert root.get_counts() == {"actor_steps": 8, "actor_episodes": 1, "learner_steps": 1}
    assert actor.get("steps") == 8  # A child reads its own prefixed counts...
    assert learner.get("steps") == 1
    assert actor.get_counts() == root.get_counts()  # ... and sees every node's totals.
    assert root.get("steps") == 0  # The root itself has no unprefixed count.


def test_nested_children_compose_prefixes():
    root = Counter()
    middle = Counter(root, "a")
    leaf = Counter(middle, "b")
    leaf.increment(steps=1)
    assert root.get_counts() == {"a_b_steps": 1}
    assert middle.get("b_steps") == 1


def test_increments_from_threads_are_not_lost():
    root = Counter()
    children = [Counter(root, "actor"), Counter(root, "learner")]
    per_thread = 2000

    def work(i: int) -> None:
        child = children[i % 2]
        for _ in range(per_thread):
            child.increment(steps=1)
            root.increment(total=1)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    assert root.get_counts() == {"actor_steps": 2 * per_thread, "learner_steps": 2 * per_thread,
                                 "total": 4 * per_thread}


def test_counter_save_restore():
    root = Counter()
    child = Counter(root, "actor")
    child.increment(steps=5)
    state = pickle.loads(pickle.dumps(root.save()))
    assert state == {"actor_steps": 5}
    assert child.save() == {"actor_steps": 5}  # A child saves the root's counts.

    fresh = Counter()
    fresh.restore(state)
    Counter(fresh, "actor").increment(steps=1)
    assert fresh.get_counts() == {"actor_steps": 6}
    # The restored counter does not share state with the saved dict.
    assert state == {"actor_steps": 5}
    with pytest.raises(ValueError, match="root"):
        Counter(fresh, "actor").restore(state)


# ----------------------------------------------------------------------------
# Loggers.
# ----------------------------------------------------------------------------


class ListLogger(Logger):
    def __init__(self) -> None:
        self.rows: list[dict] = []
        self.closed = False

    def write(self, data) -> None:
        self.rows.append(dict(data))

    def close(self) -> None:
        self.closed = True


def read_csv(path: str) -> tuple[list[str], list[dict[str, str]]]:
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        rows = list(reader)
        return list(reader.fieldnames or []), rows


def test_csv_logger_writes_rows(tmp_path):
    logger = CSVLogger(str(tmp_path / "logs"), "train")
    assert logger.path == str(tmp_path / "logs" / "train.csv")
    logger.write({"steps": 1, "loss": 0.5})
    logger.write({"steps": 2, "loss": np.float32(0.25)})  # numpy scalars are written as numbers.
    fields, rows = read_csv(logger.path)  # Readable before close: rows are flushed.
    assert fields == ["steps", "loss"]
    assert rows == [{"steps": "1", "loss": "0.5"}, {"steps": "2", "loss": "0.25"}]
    logger.close()


def test_csv_logger_widens_header_and_keeps_earlier_rows(tmp_path):
    logger = CSVLogger(str(tmp_path), "train")
    logger.write({"steps": 1, "loss": 0.5})
    logger.write({"steps": 2, "loss": 0.4})
    logger.write({"steps": 3, "loss": 0.3, "eval_return": 7.0})  # New key.
    logger.write({"steps": 4, "eval_return": 8.0})  # Missing key.
    logger.close()
    fields, rows = read_csv(logger.path)
    assert fields == ["steps", "loss", "eval_return"]
    assert rows == [
        {"steps": "1", "loss": "0.5", "eval_return": ""},
        {"steps": "2", "loss": "0.4", "eval_return": ""},
        {"steps": "3", "loss": "0.3", "eval_return": "7.0"},
        {"steps": "4", "loss": "", "eval_return": "8.0"},
    ]
    with open(logger.path) as f:
        assert f.read().count("steps") == 1  # One header, not one per widening.


def test_dispatcher_writes_to_every_logger_and_closes_them():
    a, b = ListLogger(), ListLogger()
    dispatcher = Dispatcher([a, b])
    dispatcher.write({"x": 1})
    dispatcher.write({"x": 2})
    assert a.rows == b.rows == [{"x": 1}, {"x": 2}]
    dispatcher.close()
    assert a.closed and b.closed


def test_noop_logger_accepts_rows():
    NoOpLogger().write({"x": 1})
    NoOpLogger().close()


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_time_filter_passes_at_most_one_row_per_interval():
    clock = FakeClock()
    inner = ListLogger()
    logger = TimeFilter(inner, interval=5.0, clock=clock)
    logger.write({"i": 0})  # The first row always passes.
    clock.now += 4.9
    logger.write({"i": 1})
    clock.now += 0.1  # 5.0 s after the last passed row.
    logger.write({"i": 2})
    clock.now += 1.0
    logger.write({"i": 3})
    clock.now += 10.0
    logger.write({"i": 4})
    assert [row["i"] for row in inner.rows] == [0, 2, 4]
    logger.close()
    assert inner.closed


def test_time_filter_with_zero_interval_passes_everything():
    clock = FakeClock()
    inner = ListLogger()
    logger = TimeFilter(inner, interval=0.0, clock=clock)
    for i in range(3):
        logger.write({"i": i})
    assert len(inner.rows) == 3


def test_terminal_logger_formatting():
    lines: list[str] = []
    logger = TerminalLogger("train", print_line=lines.append)
    logger.write({
        "b": np.float32(0.123456),
        "a": 3,
        "c": 123456.7,
        "d": np.int64(5),
        "e": "text",
        "f": torch.tensor(2.5),
    })
    assert lines == ["[train] a = 3 | b = 0.1235 | c = 123457 | d = 5 | e = text | f = 2.5"]


def test_terminal_logger_without_label_prints_to_stdout(capsys):
    TerminalLogger().write({"x": 1.0})
    assert capsys.readouterr().out == "x = 1\n"


def test_logger_factory_writes_csv_and_terminal(tmp_path, capsys):
    factory = LoggerFactory(str(tmp_path), terminal_interval=1e9, always_print=("eval",))
    train, evaluation = factory("train"), factory("eval")
    for i in range(3):
        train.write({"step": i})
        evaluation.write({"step": i})
    factory.close()
    out = capsys.readouterr().out.splitlines()
    # "train" is time-filtered (only its first row shows); "eval" always prints.
    assert out.count("[train] step = 0") == 1
    assert not any(line.startswith("[train] step = 1") for line in out)
    assert [line for line in out if line.startswith("[eval]")] == [f"[eval] step = {i}" for i in range(3)]
    # Every row reaches the CSV files.
    assert [r["step"] for r in read_csv(str(tmp_path / "train.csv"))[1]] == ["0", "1", "2"]
    assert [r["step"] for r in read_csv(str(tmp_path / "eval.csv"))[1]] == ["0", "1", "2"]


def test_logger_factory_without_directory_or_terminal(tmp_path, capsys):
    quiet = LoggerFactory(None, terminal_labels=("eval",))("train")
    quiet.write({"x": 1})
    assert capsys.readouterr().out == ""  # Not a terminal label, and no directory: nowhere.

    with LoggerFactory(str(tmp_path), terminal_labels=(), tensorboard=False) as factory:
        factory("train").write({"x": 1})
    assert capsys.readouterr().out == ""
    assert read_csv(str(tmp_path / "train.csv"))[1] == [{"x": "1"}]

    terminal_only = LoggerFactory(None, terminal_interval=0.0)("train")
    terminal_only.write({"x": 1})
    terminal_only.write({"x": 2})
    assert capsys.readouterr().out == "[train] x = 1\n[train] x = 2\n"


def test_csv_rows_after_close_are_dropped(tmp_path):
    logger = CSVLogger(str(tmp_path), "train")
    logger.write({"x": 1})
    logger.close()
    logger.write({"x": 2})  # A late row: dropped, without an error.
    logger.close()
    assert read_csv(str(tmp_path / "train.csv"))[1] == [{"x": "1"}]
