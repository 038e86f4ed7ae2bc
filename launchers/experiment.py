"""The experiment declaration: everything a runner needs to build and run one training run."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import os
import re
import warnings
from typing import Any, Callable, Mapping

import dm_env
from torch import nn

from agents.builders import ActorLearnerBuilder
from components.devices import resolve_device
from components.specs import EnvironmentSpec, make_environment_spec
from environments.errors import qualified_name
from environments.registry import make_batched_environment, make_environment, resolve_backend
from launchers.agent_registry import AgentDoesNotFit, agent_reference, check_agent_fits, get_agent
from launchers.run_fields import Declaration, RunSettings, declaration_defaults

EnvironmentFactory = Callable[[int], dm_env.Environment]  # seed -> one lane
NetworkFactory = Callable[[EnvironmentSpec], Mapping[str, nn.Module]]


@dataclasses.dataclass(frozen=True)
class ExperimentConfig(RunSettings):
    """One run, declared from Python objects: an agent's builder and an environment factory, plus the run's
    settings (every field of `launchers.run_fields.RunSettings`: seed, num_steps, num_envs, eval_every, ...).

    Attributes:
      builder: The agent's builder (its config inside).
      environment_factory: `factory(seed)` returns one environment lane.
      network_factory: Optional override of the builder's networks.
      evaluation_environment_factory: `factory(seed)` for the evaluator's
        environment (None: `environment_factory`). Atari uses it to score the
        full game, unclipped.
      batched_environment_factory: `factory(num_envs, seed)` for the training
        lanes; when set it replaces environment_factory + env_backend. The
        `ale` and `gym` backends build all lanes at once this way: with either
        backend it is derived from an `atari:`/`gym:` environment_factory
        (`functools.partial(make_environment, name)`), and refused for a
        factory of your own, whose lanes only sync and subprocess can step.
      score_key: The `episode_info` key that holds a training episode's real score, when the
        environment reports one (Atari: 'raw_score', the whole game unclipped). TensorBoard's
        charts/episodic_return then shows it, as CleanRL's does, and the return the agent
        trained on (Atari: per life, clipped) goes to charts/training_return.
      declaration: The JSON-able description written to config.json, which `--config`, `--resume` and
        `launchers.evaluate` rebuild (see `launchers.declarations`). Left empty, it is filled in from the
        builder and these settings.
    """

    builder: ActorLearnerBuilder
    environment_factory: EnvironmentFactory
    network_factory: NetworkFactory | None = None
    evaluation_environment_factory: EnvironmentFactory | None = None
    batched_environment_factory: Callable[[int, int], dm_env.Environment] | None = None
    score_key: str | None = None
    declaration: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.learn_every != 1 and self.builder.on_policy:
            raise ValueError(
                f"learn_every={self.learn_every}: {type(self.builder).__name__} is on-policy, so it learns from "
                "each rollout as soon as it is complete (with learn_every > 1 the actor would go on acting with "
                "old weights, or overfill the rollout queue). Drop --learn_every.")
        if self.batched_environment_factory is None and self.env_backend in ("ale", "gym"):
            object.__setattr__(self, "batched_environment_factory", self._backend_lanes())
        # The declaration always holds this run's settings (also after dataclasses.replace).
        # env_backend stays as declared (e.g. auto, resolved again when the declaration is rerun).
        declaration = dict(self.declaration) or declaration_of(self)
        declaration.update({f.name: getattr(self, f.name) for f in dataclasses.fields(RunSettings)
                            if f.name != "env_backend" or "env_backend" not in declaration})
        object.__setattr__(self, "declaration", declaration)


    def _backend_lanes(self) -> Callable[[int, int], dm_env.Environment]:
        """The ale or gym backend's lanes of the environment the factory names (a user's factory is refused:
        these backends cannot build lanes with it)."""
        prefix = "atari" if self.env_backend == "ale" else "gym"
        name, options = environment_name_of(self.environment_factory)
        if name is None or not name.startswith(prefix + ":"):
            raise ValueError(
                f"env_backend={self.env_backend!r} builds its own lanes from a {prefix}:<name> environment, so it "
                f"cannot step the lanes of environment_factory={qualified_name(self.environment_factory)}. Use "
                "env_backend='sync' or 'subprocess' (or 'auto'), which build every lane with your factory, or "
                f"functools.partial(environments.registry.make_environment, '{prefix}:...') as the factory.")
        return functools.partial(_make_batched, name, self.env_backend, options, check_env=self.check_env)


# The declaration's fields besides the agent's config, with their defaults (from launchers.run_fields).
DECLARATION_DEFAULTS: dict[str, Any] = declaration_defaults()


def default_run_dir(agent: str, env: str, seed: int) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    name = agent.rpartition(":")[2].rpartition(".")[2]  # module:Builder -> Builder
    return os.path.join("runs", f"{name}_{re.sub(r'[^A-Za-z0-9_.-]+', '-', env)}_s{seed}_{stamp}")


def experiment_from_declaration(declaration: Mapping[str, Any],
                                builder: ActorLearnerBuilder | None = None) -> ExperimentConfig:
    """Builds an experiment from a JSON-able declaration (as written to config.json).

    `builder` (optional) is used as it is instead of one rebuilt from the declaration's agent and agent_config,
    for builders made in Python (see `make_experiment`).
    """
    unknown = set(declaration) - set(DECLARATION_DEFAULTS) - {"agent_config"}
    if unknown:
        raise ValueError(f"Unknown declaration fields {sorted(unknown)}; expected {sorted(DECLARATION_DEFAULTS)} "
                         "and agent_config.")
    if not declaration.get("agent"):
        raise ValueError("The declaration names no agent: give 'agent' (a built-in name such as 'dqn', a name "
                         "registered with launchers.agent_registry.register_agent, or module:BuilderClass).")
    if "env" in declaration and not declaration["env"]:
        raise ValueError("The declaration names no environment ('env' is empty): its run was built in Python "
                         "from an environment factory without an importable name (a lambda or a local "
                         "function). Give --env, or build the run with a module-level factory, recorded as "
                         "python:<module>:<factory>.")
    entry = get_agent(declaration["agent"])
    config = config_from_dict(entry.config_class, declaration.get("agent_config", {}))
    settings = Declaration(**{**DECLARATION_DEFAULTS, **declaration, "agent": entry.name,
                              "agent_config": dataclasses.asdict(config)})
    if settings.run_dir is None:
        settings = dataclasses.replace(settings, run_dir=default_run_dir(entry.name, settings.env, settings.seed))
    resolve_device(settings.device)
    env_name, env_options = settings.env, dict(settings.env_options)
    backend = resolve_backend(settings.env_backend, env_name, settings.num_envs, env_options)
    builder = builder or entry.builder_class(config)
    # The specs (checked when it is built) against the agent's networks, before any run starts; the run
    # driver steps one lane through launchers.nodes.check_run_environment.
    check_compatible(builder, make_environment(env_name, settings.seed, **env_options), entry.name, env_name)
    run_settings = {f.name: getattr(settings, f.name) for f in dataclasses.fields(RunSettings)}
    return ExperimentConfig(
        builder=builder,
        environment_factory=functools.partial(make_environment, env_name, **env_options),
        # ale lanes pad the first stack with zeros and resize in C++: evaluate on the same pixels.
        evaluation_environment_factory=(
            functools.partial(_make_batched, env_name, backend, {**env_options, "evaluation": True}, 1)
            if backend == "ale" else functools.partial(make_environment, env_name, evaluation=True, **env_options)),
        score_key="raw_score" if env_name.startswith("atari:") else None,
        declaration=dataclasses.asdict(settings),
        **{**run_settings, "env_backend": backend},
    )


def make_experiment(builder: ActorLearnerBuilder, env: str, env_options: Mapping[str, Any] | None = None,
                    **settings: Any) -> ExperimentConfig:
    """A run of `builder` on the environment named `env` (`gym:CartPole-v1`, `python:my_envs:make_env`, ...).

    `settings` are run fields (`num_steps=`, `run_dir=`, ...; see `launchers.run_fields.RunSettings`). The run's
    config.json then holds its whole declaration, so `--config`, `--resume` and `launchers.evaluate` rebuild it
    (the builder's class must be importable for that: defined in a module, not in a script).
    """
    declaration = {"agent": agent_reference(type(builder)), "agent_config": _config_dict(builder), "env": env,
                   "env_options": dict(env_options or {}), **settings}
    return experiment_from_declaration(declaration, builder=builder)


def _config_dict(builder: ActorLearnerBuilder) -> dict[str, Any]:
    config = getattr(builder, "config", None)
    if not dataclasses.is_dataclass(config):
        raise TypeError(f"{type(builder).__qualname__}.config must be a config dataclass (it is written to "
                        f"config.json), got {config!r}.")
    return dataclasses.asdict(config)


def environment_name_of(factory: Any) -> tuple[str | None, dict[str, Any]]:
    """(env name, env_options) naming an environment factory, or (None, {}) when it has no importable name."""
    if isinstance(factory, functools.partial) and factory.func is make_environment and len(factory.args) == 1:
        return factory.args[0], {k: v for k, v in factory.keywords.items() if k != "evaluation"}
    module, qualname = getattr(factory, "__module__", None), getattr(factory, "__qualname__", "")
    if module and module != "__main__" and "<" not in qualname and "." not in qualname:
        return f"python:{module}:{qualname}", {}
    return None, {}


def declaration_of(experiment: ExperimentConfig) -> dict[str, Any]:
    """The declaration of an experiment built from Python objects (what its config.json records)."""
    env, env_options = environment_name_of(experiment.environment_factory)
    if env is None:
        warnings.warn("The run's environment_factory has no importable name (a lambda or a local function), so "
                      "its config.json cannot name the environment and --config/--resume need --env; use "
                      "launchers.experiment.make_experiment or a module-level factory.", stacklevel=4)
    return {**declaration_defaults(), "agent": agent_reference(type(experiment.builder)),
            "agent_config": _config_dict(experiment.builder), "env": env, "env_options": env_options}


def _make_batched(name: str, backend: str, options: Mapping[str, Any], num_envs: int, seed: int,
                  check_env: str = "startup"):
    return make_batched_environment(name, num_envs, seed, backend, check_env=check_env, **options)


def check_compatible(builder: ActorLearnerBuilder, environment: dm_env.Environment, agent: str, env: str) -> None:
    """Checks the agent fits the environment's action spec and builds its networks for it once, so a mismatch
    fails before any run starts."""
    try:
        spec = make_environment_spec(environment)
        check_agent_fits(builder, spec, env)
        builder.make_networks(spec)
    except AgentDoesNotFit:
        raise  # Its message names the spec and the agents that fit.
    except (TypeError, ValueError) as error:
        raise ValueError(f"Agent {agent!r} cannot run on {env!r}: {error}") from None
    finally:
        environment.close()


def config_from_dict(config_class: type, values: Mapping[str, Any]) -> Any:
    """A config dataclass from a dict (JSON lists become tuples); unknown keys are an error."""
    fields = {f.name: f for f in dataclasses.fields(config_class)}
    unknown = set(values) - set(fields)
    if unknown:
        raise ValueError(f"{config_class.__name__} has no fields {sorted(unknown)}; its fields are {sorted(fields)}.")
    converted = {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
    return config_class(**converted)


def load_declaration(path: str) -> dict[str, Any]:
    """Reads a run's config.json (or the folder holding it)."""
    if os.path.isdir(path):
        path = os.path.join(path, "config.json")
    try:
        with open(path) as f:
            return json.load(f)
    except FileNotFoundError:
        raise ValueError(f"No run declaration at {path!r} (expected a run folder or its config.json).") from None
    except json.JSONDecodeError as error:
        raise ValueError(f"{path!r} is not valid JSON: {error}") from None
