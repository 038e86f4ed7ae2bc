"""Agents by name: the built-in ones, those registered by users, and `module:BuilderClass` references.

A run's config.json names its agent so that `--config`, `--resume`,
`launchers.evaluate` and the plots can rebuild it in a fresh process. A
built-in agent is named by its short name (`dqn`); any other builder by
the reference `module:Qualname`, which imports it (the way
`python:<module>:<factory>` names an environment). A name given to
`register_agent` works in the process that registered it, and the run's
config.json records the builder's importable reference beside it.
"""

from __future__ import annotations

import dataclasses
import importlib
import warnings
from typing import Any, NamedTuple

from agents.a2c import A2CBuilder
from agents.builders import ActorLearnerBuilder
from agents.dqn import DQNBuilder
from agents.impala import IMPALABuilder
from agents.nfq import NFQBuilder
from agents.ppo import PPOBuilder
from agents.r2d2 import R2D2Builder
from agents.reinforce import REINFORCEBuilder
from agents.sac import SACBuilder
from agents.td3 import TD3Builder
from components.action_bounds import action_kind
from components.specs import EnvironmentSpec


class AgentEntry(NamedTuple):
    name: str  # What config.json records: a built-in name or a module:Qualname reference.
    config_class: type
    builder_class: type[ActorLearnerBuilder]


BUILT_IN: dict[str, type[ActorLearnerBuilder]] = {
    "dqn": DQNBuilder, "nfq": NFQBuilder, "reinforce": REINFORCEBuilder, "a2c": A2CBuilder, "ppo": PPOBuilder,
    "sac": SACBuilder, "td3": TD3Builder, "r2d2": R2D2Builder, "impala": IMPALABuilder,
}
_REGISTERED: dict[str, AgentEntry] = {}


def _config_class(builder_class: type, config_class: type | None) -> type:
    config_class = config_class or getattr(builder_class, "config_class", None)
    if config_class is None or not dataclasses.is_dataclass(config_class):
        raise TypeError(f"{builder_class.__qualname__} needs a config dataclass: set the class attribute "
                        "`config_class = MyConfig` on the builder (a subclass of a built-in builder inherits "
                        f"its parent's) or pass config_class=; got {config_class!r}.")
    return config_class


def _check_builder(builder_class: Any, where: str) -> None:
    if not (isinstance(builder_class, type) and issubclass(builder_class, ActorLearnerBuilder)):
        raise TypeError(f"{where}: expected a subclass of agents.builders.ActorLearnerBuilder, got {builder_class!r}.")


def agent_reference(builder_class: type) -> str:
    """The name config.json records for `builder_class`: its built-in name, else `module:Qualname`."""
    for name, built_in in BUILT_IN.items():
        if builder_class is built_in:
            return name
    reference = f"{builder_class.__module__}:{builder_class.__qualname__}"
    if builder_class.__module__ == "__main__" or "<locals>" in builder_class.__qualname__:
        warnings.warn(f"The agent {reference} is defined in a script or a function, so --config, --resume and "
                      "launchers.evaluate cannot import it from another process; define it in an importable "
                      "module to make its runs rerunnable.", stacklevel=3)
    return reference


def register_agent(name: str, builder_class: type[ActorLearnerBuilder], config_class: type | None = None) -> None:
    """Makes `name` an agent of this process (`--agent=name`, `get_agent(name)`).

    Its runs record the builder's `module:Qualname` in config.json, so they are rebuilt in any process that can
    import it. `config_class` defaults to the builder's `config_class` attribute.
    """
    _check_builder(builder_class, f"register_agent({name!r})")
    if not name.isidentifier():
        raise ValueError(f"An agent name is an identifier (letters, digits, _), got {name!r}.")
    if name in BUILT_IN:
        raise ValueError(f"{name!r} is a built-in agent; register yours under another name.")
    config_class = _config_class(builder_class, config_class)
    _REGISTERED[name] = AgentEntry(agent_reference(builder_class), config_class, builder_class)


def _import_builder(reference: str) -> type[ActorLearnerBuilder]:
    module_name, _, qualname = reference.partition(":")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"Cannot import the module {module_name!r} of agent {reference!r}: {error}. The module "
                         "must be importable from the current folder or PYTHONPATH.") from None
    target: Any = module
    for part in qualname.split("."):
        if not hasattr(target, part):
            raise ValueError(f"Module {module_name!r} has no {qualname!r} (agent {reference!r}).")
        target = getattr(target, part)
    _check_builder(target, f"agent {reference!r}")
    return target


def get_agent(reference: str) -> AgentEntry:
    """The agent named `reference`: built-in, registered, or `module:BuilderClass`."""
    if reference in BUILT_IN:
        builder_class = BUILT_IN[reference]
        return AgentEntry(reference, builder_class.config_class, builder_class)
    if reference in _REGISTERED:
        return _REGISTERED[reference]
    if ":" not in reference:
        registered = f"; registered: {', '.join(sorted(_REGISTERED))}" if _REGISTERED else ""
        raise ValueError(f"Unknown agent {reference!r}; built-in agents: {', '.join(BUILT_IN)}{registered}; or "
                         "give your builder as module:BuilderClass.")
    builder_class = _import_builder(reference)
    return AgentEntry(reference, _config_class(builder_class, None), builder_class)


def make_builder(reference: str, config: Any) -> ActorLearnerBuilder:
    return get_agent(reference).builder_class(config)


class AgentDoesNotFit(ValueError):
    """An agent asked to act in an action spec it cannot act in."""


_KIND_NAMES = {"discrete": "discrete actions (a DiscreteArray)",
               "multi_discrete": "multi-discrete actions (an integer BoundedArray of shape (k,): gymnasium's "
                                 "MultiDiscrete or MultiBinary)",
               "bounded": "bounded continuous actions (a float BoundedArray of shape (k,) with finite bounds)",
               "unbounded": "unbounded continuous actions (a float Array of shape (k,))",
               "other": "this kind of action spec"}


def check_agent_fits(builder: ActorLearnerBuilder, spec: EnvironmentSpec, env: str) -> None:
    """Refuses an agent that cannot act in the environment's action spec, naming the built-in agents that can."""
    kind = action_kind(spec.actions)
    if kind in builder.action_kinds:
        return
    fitting = [name for name, builder_class in BUILT_IN.items() if kind in builder_class.action_kinds]
    needs = " or ".join(_KIND_NAMES[k] for k in builder.action_kinds)
    raise AgentDoesNotFit(f"{type(builder).__name__} needs {needs}; {env} has {_KIND_NAMES[kind]}: {spec.actions!r}. "
                     f"Agents for it: {', '.join(fitting) or 'none built in'}.")
