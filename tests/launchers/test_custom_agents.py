"""A user's agent is first-class: named in config.json, rebuilt by --config, --resume, evaluate and plots."""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
import re
import subprocess
import sys

import pytest

from agents.dqn import DQNBuilder, DQNConfig
from environments.registry import make_environment
from launchers import agent_registry
from launchers.experiment import (DECLARATION_DEFAULTS, ExperimentConfig, experiment_from_declaration,
                                  load_declaration, make_experiment)
from launchers.flags import config_field_help
from launchers.local import run_local

ROOT = pathlib.Path(__file__).resolve().parents[2]
TINY = {"num_steps": 300, "eval_every": 0, "eval_episodes": 1, "log_interval": 1e9, "progress": False,
        "plots": False}


def _readme_agents_module() -> str:
    blocks = re.findall(r"```python\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    return next(b for b in blocks if b.startswith("# my_agents.py"))


@pytest.fixture
def my_agents(tmp_path, monkeypatch):
    """The README's my_agents.py, importable; the registry as it was before the test."""
    (tmp_path / "my_agents.py").write_text(_readme_agents_module())
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr(agent_registry, "_REGISTERED", {})
    sys.modules.pop("my_agents", None)
    yield tmp_path
    sys.modules.pop("my_agents", None)


def _launch(module: str, *args: str, cwd: pathlib.Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", module, *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=300)


def test_a_module_builder_is_rebuilt_by_config_resume_and_evaluate(my_agents):
    run = my_agents / "run"
    common = ["--noprogress", "--noplots", "--log_interval=1e9"]
    first = _launch("launchers.train", "--agent=my_agents:MeanBootstrapBuilder", "--env=gridworld:simple",
                    "--num_steps=400", "--min_replay_size=100", "--eval_every=0", "--eval_episodes=1",
                    f"--run_dir={run}", *common, cwd=my_agents)
    assert first.returncode == 0, first.stderr[-3000:]
    config = json.loads((run / "config.json").read_text())
    assert config["agent"] == "my_agents:MeanBootstrapBuilder" and config["agent_config"]["min_replay_size"] == 100

    resumed = _launch("launchers.train", f"--resume={run}", "--num_steps=600", *common, cwd=my_agents)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert json.loads(resumed.stdout.strip().splitlines()[-1])["actor_steps"] == 600

    rerun = _launch("launchers.train", f"--config={run}", f"--run_dir={my_agents / 'rerun'}", "--num_steps=200",
                    *common, cwd=my_agents)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert json.loads((my_agents / "rerun" / "config.json").read_text())["agent"] == config["agent"]

    evaluated = _launch("launchers.evaluate", f"--run_dir={run}", "--episodes=2", cwd=my_agents)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert json.loads((run / "evaluation.json").read_text())["checkpoint_step"] == 600

    wrong_launcher = _launch("launchers.dqn", f"--config={run}", *common, cwd=my_agents)
    assert wrong_launcher.returncode != 0
    assert "python -m launchers.train --agent=my_agents:MeanBootstrapBuilder" in wrong_launcher.stderr


def test_a_registered_name_runs_and_records_the_importable_reference(my_agents):
    import my_agents as module  # Registers "mean_bootstrap".

    assert agent_registry.get_agent("mean_bootstrap").builder_class is module.MeanBootstrapBuilder
    experiment = experiment_from_declaration({"agent": "mean_bootstrap", "run_dir": str(my_agents / "run"),
                                              "agent_config": {"min_replay_size": 100}, **TINY})
    assert isinstance(experiment.builder, module.MeanBootstrapBuilder)
    run_local(experiment)
    recorded = load_declaration(str(my_agents / "run"))
    assert recorded["agent"] == "my_agents:MeanBootstrapBuilder"
    rebuilt = experiment_from_declaration({**recorded, "run_dir": str(my_agents / "again")})
    assert type(rebuilt.builder) is module.MeanBootstrapBuilder and rebuilt.builder.config == experiment.builder.config


def test_a_programmatic_run_writes_its_whole_declaration(tmp_path):
    config = DQNConfig(min_replay_size=100, hidden_sizes=(32,))
    run_local(ExperimentConfig(builder=DQNBuilder(config), environment_factory=functools.partial(
        make_environment, "gridworld:simple", observation_type="grid"), run_dir=str(tmp_path / "run"), seed=3,
        **TINY))
    recorded = load_declaration(str(tmp_path / "run"))
    assert set(recorded) == set(DECLARATION_DEFAULTS) | {"agent_config"}
    assert (recorded["agent"], recorded["env"], recorded["env_options"], recorded["seed"]) == (
        "dqn", "gridworld:simple", {"observation_type": "grid"}, 3)
    rebuilt = experiment_from_declaration({**recorded, "run_dir": str(tmp_path / "again")})
    assert rebuilt.builder.config == config and rebuilt.num_steps == 300


def test_make_experiment_declares_the_run_by_names(tmp_path):
    experiment = make_experiment(DQNBuilder(DQNConfig(min_replay_size=100)), "gridworld:simple",
                                 run_dir=str(tmp_path / "run"), **TINY)
    assert experiment.declaration["agent"] == "dqn" and experiment.declaration["env"] == "gridworld:simple"
    assert experiment.declaration["agent_config"]["min_replay_size"] == 100


def test_a_lambda_factory_cannot_be_named_and_its_rerun_asks_for_an_env(tmp_path):
    with pytest.warns(UserWarning, match="no importable name"):
        experiment = ExperimentConfig(builder=DQNBuilder(DQNConfig()),
                                      environment_factory=lambda seed: make_environment("gridworld:simple", seed),
                                      run_dir=str(tmp_path / "run"))
    assert experiment.declaration["env"] is None
    with pytest.raises(ValueError, match="names no environment.*Give --env"):
        experiment_from_declaration(experiment.declaration)


def test_a_declaration_without_an_agent_is_refused():
    with pytest.raises(ValueError, match="names no agent"):
        experiment_from_declaration({"env": "gridworld:simple"})


@pytest.mark.parametrize("reference,message", [
    ("bogus", r"Unknown agent 'bogus'; built-in agents: dqn, nfq"),
    ("no_such_module_here:Builder", r"Cannot import the module 'no_such_module_here'"),
    ("agents.dqn:NoSuchBuilder", r"has no 'NoSuchBuilder'"),
    ("collections:OrderedDict", r"expected a subclass of agents.builders.ActorLearnerBuilder"),
])
def test_an_agent_that_cannot_be_found_is_a_clear_error(reference, message):
    with pytest.raises((ValueError, TypeError), match=message):
        agent_registry.get_agent(reference)


def test_register_agent_refuses_builtin_names_and_builders_without_a_config(monkeypatch):
    monkeypatch.setattr(agent_registry, "_REGISTERED", {})
    with pytest.raises(ValueError, match="built-in agent"):
        agent_registry.register_agent("dqn", DQNBuilder)

    class Bare(agent_registry.ActorLearnerBuilder):  # No config_class.
        pass

    with pytest.raises(TypeError, match="needs a config dataclass"):
        agent_registry.register_agent("bare", Bare)


@dataclasses.dataclass(frozen=True)
class ScaledConfig(DQNConfig):
    """DQN with one more knob.

    Attributes:
      reward_scale: Factor on every reward the learner sees.
    """

    reward_scale: float = 1.0
    clip: float = dataclasses.field(default=5.0, metadata={"help": "Clip of the scaled reward."})


def test_a_subclassed_config_keeps_its_parents_help():
    parent, child = config_field_help(DQNConfig), config_field_help(ScaledConfig)
    assert child["learning_rate"] == parent["learning_rate"] != "learning_rate"
    assert child["reward_scale"] == "Factor on every reward the learner sees."
    assert child["clip"] == "Clip of the scaled reward."
