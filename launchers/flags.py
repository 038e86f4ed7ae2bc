"""absl flags shared by every launcher, and flags generated from an agent's config dataclass."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Mapping

from absl import flags

from launchers.experiment import DECLARATION_DEFAULTS
from launchers.run_fields import Declaration, base_type, flag_fields, resumable_fields
from launchers.presets import describe_presets, preset_declaration

FLAGS = flags.FLAGS

_ENV_OPTION_FLAGS = {
    "observation_type": "gridworld only: state_index, agent_onehot, grid (default) or agent_goal_pos.",
    "max_episode_length": "gridworld only: steps before an episode is truncated (default 200).",
}


def _define_run_flag(field: dataclasses.Field, default: Any) -> None:
    """One flag for a run field: its type, bounds, choices and help all come from the field."""
    base, _ = base_type(Declaration, field)
    help_text, minimum, choices = field.metadata["help"], field.metadata["minimum"], field.metadata["choices"]
    if choices:
        flags.DEFINE_enum(field.name, default, list(choices), help_text)
    elif base is bool:
        flags.DEFINE_bool(field.name, default, help_text)
    elif base is int:
        flags.DEFINE_integer(field.name, default, help_text, lower_bound=minimum)
    elif base is float:
        flags.DEFINE_float(field.name, default, help_text, lower_bound=minimum)
    else:
        flags.DEFINE_string(field.name, default, help_text)


def define_common_flags(agent: str, **defaults: Any) -> None:
    """Defines the launcher flags; `defaults` override the run fields' defaults for this agent."""
    values = {**DECLARATION_DEFAULTS, **defaults}
    flags.DEFINE_string("config", None, "A run folder or its config.json to rerun; flags given beside it override it.")
    flags.DEFINE_string("preset", None, "A named set of config values, runner settings and environment options; "
                        "flags given beside it override it. " + (describe_presets(agent) or "(none for this agent)"))
    for field in flag_fields():
        _define_run_flag(field, values[field.name])
    flags.DEFINE_string("observation_type", None, _ENV_OPTION_FLAGS["observation_type"])
    flags.DEFINE_integer("max_episode_length", None, _ENV_OPTION_FLAGS["max_episode_length"], lower_bound=1)
    flags.DEFINE_list("env_options", [], "Options for the environment's factory as key=value pairs, e.g. "
                      "--env_options=length=12,slippery=true: keyword arguments of a python:<module>:<factory> "
                      "factory or of gymnasium.make, fields of environments.atari.AtariConfig. Values are read as "
                      "int, float, true/false, none, or else kept as strings.")
    flags.DEFINE_bool("verbose", False, "Show the full traceback when a run fails (default: one readable message).")
    flags.DEFINE_string("resume", None, "A run folder to continue from its newest readable checkpoint, with its "
                        "config.json; --num_steps may raise the budget.")


def _option_value(text: str) -> Any:
    """An --env_options value: an int, a float, true/false, none, or the text itself."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered == "none":
        return None
    for kind in (int, float):
        try:
            return kind(text)
        except ValueError:
            pass
    return text


def parse_env_options(items: list[str]) -> dict[str, Any]:
    """`['key=value', ...]` (the --env_options list) as a dict of typed values."""
    options: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip().isidentifier():
            raise ValueError(f"--env_options takes key=value pairs separated by commas, e.g. "
                             f"--env_options=length=12,slippery=true; got {item!r}.")
        options[key.strip()] = _option_value(value)
    return options


def _field_type(config_class: type, field: dataclasses.Field) -> tuple[type, bool]:
    """(base type, optional) of a config field, from its annotation."""
    hint = typing.get_type_hints(config_class)[field.name]
    args = typing.get_args(hint)
    optional = type(None) in args
    if optional:
        hint = next(a for a in args if a is not type(None))
    origin = typing.get_origin(hint)
    if origin in (tuple, list):
        return tuple, optional
    if origin in (typing.Union, types.UnionType):
        raise TypeError(f"Cannot make a flag for {config_class.__name__}.{field.name}: {hint}")
    return hint, optional


def _tuple_item_type(config_class: type, field: dataclasses.Field) -> type:
    """The item type of a tuple field (tuple[str, ...] -> str)."""
    args = [a for a in typing.get_args(typing.get_type_hints(config_class)[field.name]) if a is not type(None)]
    while args and typing.get_origin(args[0]) in (tuple, list):
        args = list(typing.get_args(args[0]))
    return args[0] if args else int


def _optional_parser(base: type):
    def parse(text: str):
        return None if text.lower() in ("none", "") else base(text)
    return parse


def define_config_flags(config_class: type) -> None:
    """One flag per config field, named like the field, defaulting to the field's default."""
    docs = config_field_help(config_class)
    for field in dataclasses.fields(config_class):
        base, optional = _field_type(config_class, field)
        default = field.default
        help_text = docs[field.name]
        if base is tuple:
            flags.DEFINE_list(field.name, [str(v) for v in default], help_text + " (comma-separated)")
        elif optional:
            flags.DEFINE_string(field.name, "none" if default is None else str(default),
                                help_text + " ('none' to disable)")
        elif base is bool:
            flags.DEFINE_bool(field.name, default, help_text)
        elif base is int:
            flags.DEFINE_integer(field.name, default, help_text)
        elif base is float:
            flags.DEFINE_float(field.name, default, help_text)
        else:
            flags.DEFINE_string(field.name, default, help_text)


def config_field_help(config_class: type) -> dict[str, str]:
    """Each config field's help: its metadata's "help", else its entry in the 'Attributes:' section of the
    docstring of the class or of the nearest parent that documents it (a subclassed config keeps its parent's
    help), else its name."""
    docs: dict[str, str] = {}
    for klass in reversed(config_class.__mro__):
        docs.update(_attribute_docs(klass))
    return {f.name: f.metadata.get("help") or docs.get(f.name, f.name) for f in dataclasses.fields(config_class)}


def _attribute_docs(config_class: type) -> dict[str, str]:
    """Field descriptions from the 'Attributes:' section of one class's own docstring."""
    docs: dict[str, str] = {}
    current = None
    for line in (config_class.__dict__.get("__doc__") or "").splitlines():
        stripped = line.strip()
        name, sep, rest = stripped.partition(":")
        if sep and name.isidentifier() and line.startswith("      ") and not line.startswith("        "):
            current = name
            docs[name] = rest.strip()
        elif current and stripped and line.startswith("        "):
            docs[current] += " " + stripped
        elif not stripped:
            current = None
    return docs


def config_values_from_flags(config_class: type, only_present: bool = False) -> dict[str, Any]:
    """Config field values read from the flags (only those given on the command line, if asked)."""
    values: dict[str, Any] = {}
    for field in dataclasses.fields(config_class):
        if only_present and not FLAGS[field.name].present:
            continue
        base, optional = _field_type(config_class, field)
        raw = FLAGS[field.name].value
        if base is tuple and _tuple_item_type(config_class, field) is str:
            values[field.name] = tuple(raw)
        elif base is tuple:
            try:
                values[field.name] = tuple(int(v) for v in raw)
            except ValueError:
                raise ValueError(f"--{field.name} takes comma-separated integers, got {','.join(raw)!r}.") from None
        elif optional:
            try:
                values[field.name] = _optional_parser(base)(raw)
            except ValueError:
                raise ValueError(f"--{field.name} takes a {base.__name__} or 'none', got {raw!r}.") from None
        else:
            values[field.name] = raw
    return values


def launcher_command(agent: str) -> str:
    """The command that runs `agent`: its own launcher for a built-in one, else launchers.train."""
    from launchers.agent_registry import BUILT_IN

    return f"python -m launchers.{agent}" if agent in BUILT_IN else f"python -m launchers.train --agent={agent}"


def _check_agent(base: Mapping[str, Any], agent: str, flag: str) -> None:
    """A --config/--resume declaration must name this launcher's agent."""
    if not base.get("agent"):
        raise ValueError(f"--{flag}: its config.json names no agent, so the run cannot be rebuilt (a run folder "
                         "written before agents were recorded); start a new run instead.")
    if base["agent"] != agent:
        raise ValueError(f"--{flag} holds a {base['agent']!r} run, not {agent!r}; use "
                         f"{launcher_command(base['agent'])} --{flag}=...")


def declaration_from_flags(agent: str, config_class: type) -> dict[str, Any]:
    """The run declaration from the flags, on top of --config when given."""
    from launchers.experiment import load_declaration

    base: Mapping[str, Any] = {}
    common = [field.name for field in flag_fields()]
    if FLAGS.resume and FLAGS.config:
        raise ValueError("--resume continues a run with its own config.json; drop --config.")
    if FLAGS.resume:
        base = load_declaration(FLAGS.resume)
        _check_agent(base, agent, "resume")
        resumable = resumable_fields()
        given = [name for name in (*common, "env_options") if FLAGS[name].present and name not in resumable]
        if given or FLAGS.preset:
            raise ValueError(f"--resume keeps the run's declaration; only {sorted(resumable)} may be "
                             f"given beside it, got {given + (['preset'] if FLAGS.preset else [])}.")
        declaration = {**DECLARATION_DEFAULTS, **base, "run_dir": FLAGS.resume, "resume": True}
        for name in resumable:
            if FLAGS[name].present:
                declaration[name] = FLAGS[name].value
        return declaration
    if FLAGS.config:
        base = load_declaration(FLAGS.config)
        _check_agent(base, agent, "config")
    rerun = bool(FLAGS.config)
    if FLAGS.preset:  # Preset values sit above the flag defaults and below flags given explicitly.
        env = FLAGS.env if FLAGS["env"].present or not rerun else base.get("env", FLAGS.env)
        preset = preset_declaration(agent, FLAGS.preset, env)
        merged = {name: {**dict(base.get(name) or {}), **preset.get(name, {})}
                  for name in ("env_options", "agent_config")}
        base = {**base, **preset, **merged}
    declaration: dict[str, Any] = {**DECLARATION_DEFAULTS, **base, "agent": agent}
    for name in common:
        if FLAGS[name].present or name not in base:
            declaration[name] = FLAGS[name].value
    if rerun and not FLAGS["run_dir"].present:
        declaration["run_dir"] = None  # A rerun writes a new folder unless told otherwise.
    gridworld_options = {name: FLAGS[name].value for name in _ENV_OPTION_FLAGS if FLAGS[name].value is not None}
    if gridworld_options and not declaration["env"].startswith("gridworld:"):
        raise ValueError(f"--{', --'.join(gridworld_options)}: only for gridworld environments, "
                         f"not {declaration['env']!r}.")
    declaration["env_options"] = {**dict(declaration.get("env_options") or {}), **gridworld_options,
                                  **parse_env_options(FLAGS.env_options)}
    agent_config = dict(base.get("agent_config", {}))
    from_flags = config_values_from_flags(config_class)
    agent_config.update({name: value for name, value in from_flags.items()
                         if FLAGS[name].present or name not in agent_config})
    declaration["agent_config"] = agent_config
    return declaration
