"""Fixtures shared by the tests: a logger that keeps its rows, the random actor, the learning seeds."""

from __future__ import annotations

from typing import Any, Callable

import pytest

from components.actors import RandomActor


class RecordingLogger:
    """A Logger that keeps every row it is given."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def write(self, data) -> None:
        self.rows.append(dict(data))

    def close(self) -> None:
        pass


@pytest.fixture
def recording_logger() -> RecordingLogger:
    return RecordingLogger()


@pytest.fixture
def random_actor() -> Callable[..., RandomActor]:
    return RandomActor


@pytest.fixture(autouse=True)
def _no_end_of_run_plots(monkeypatch):
    """In-process runs skip curves.png and diagnostics (about a second each) unless a test asks for them
    with `plots=True`; the command-line runs and tests/launchers/test_run_folder.py keep the default."""
    from launchers import experiment

    monkeypatch.setitem(experiment.DECLARATION_DEFAULTS, "plots", False)


def pytest_addoption(parser):
    parser.addoption(
        "--learning-seeds", default="1",
        help="Comma-separated seeds for the learning tests (those taking the `learning_seed` fixture), e.g. "
             "0,1,2,3,4: each learning test must reach its threshold on every one of them. The suite runs seed 1: "
             "seed 0's untrained DQN already walks gridworld:simple's optimal path, so a test on it could not fail.")


def pytest_generate_tests(metafunc):
    """Runs every test that takes `learning_seed` once per seed of --learning-seeds."""
    if "learning_seed" in metafunc.fixturenames:
        text = metafunc.config.getoption("--learning-seeds")
        try:
            seeds = [int(seed) for seed in text.split(",") if seed.strip()]
        except ValueError:
            raise pytest.UsageError(f"--learning-seeds takes comma-separated integers, got {text!r}.") from None
        metafunc.parametrize("learning_seed", seeds, ids=[f"seed{seed}" for seed in seeds])
