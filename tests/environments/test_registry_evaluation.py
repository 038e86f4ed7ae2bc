"""`evaluation=True` reaches factories that take it; the evaluator builds its environment that way."""

from __future__ import annotations

import sys
import textwrap

import pytest

from environments.registry import make_environment
from launchers.experiment import experiment_from_declaration

FACTORY_MODULE = textwrap.dedent('''
    from environments.gridworld import build_gridworld_task

    CALLS = []

    def make_env(seed=0, evaluation=False):
        CALLS.append({"seed": seed, "evaluation": evaluation})
        return build_gridworld_task("simple", observation_type="agent_goal_pos", seed=seed)

    def make_env_without_flag(seed=0):
        return build_gridworld_task("simple", seed=seed)
''')


@pytest.fixture
def factories(tmp_path, monkeypatch):
    (tmp_path / "eval_factories.py").write_text(FACTORY_MODULE)
    monkeypatch.syspath_prepend(str(tmp_path))
    import eval_factories
    eval_factories.CALLS.clear()
    yield eval_factories
    sys.modules.pop("eval_factories", None)


def test_evaluation_flag_reaches_factories_that_take_it(factories):
    make_environment("python:eval_factories:make_env", seed=3, evaluation=True)
    make_environment("python:eval_factories:make_env", seed=4)
    assert factories.CALLS == [{"seed": 3, "evaluation": True}, {"seed": 4, "evaluation": False}]
    make_environment("python:eval_factories:make_env_without_flag", evaluation=True)  # Ignored, no error.


def test_experiment_builds_the_evaluator_environment_in_evaluation_mode(factories, tmp_path):
    experiment = experiment_from_declaration({
        "agent": "dqn", "env": "python:eval_factories:make_env", "seed": 7, "run_dir": str(tmp_path / "run")})
    factories.CALLS.clear()
    experiment.environment_factory(7)
    experiment.evaluation_environment_factory(10_007)
    assert factories.CALLS == [{"seed": 7, "evaluation": False}, {"seed": 10_007, "evaluation": True}]
