"""absl flags shared by every launcher, and flags generated from an agent's config dataclass."""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Mapping

from absl import flags

from environments.registry import BACKENDS
from launchers.experiment import DECLARATION_DEFAULTS
from launchers.presets import describe_presets, preset_declaration

FLAGS = flags.FLAGS

# Declaration fields that are flags, with their help text.
_COMMON_HELP = {
    "env": "Environment name: gridworld:<task>, gym:<id>, atari:<Game> or python:<module>:<factory>.",
    "seed": "Random seed for networks, replay, exploration and environments.",
    "num_steps": "Training budget in actor steps (environment steps summed over lanes).",
    "num_envs": "Environment lanes stepped together by the actor (one network call per step).",
    "env_backend": "How lanes are stepped: sync (in process), subprocess (worker processes, frames through "
                   "shared memory), ale (atari only: ale-py's native vector engine), gym (gym:<id> with flat "
                   "spaces, batched in process) or auto (ale for Atari, subprocess/sync when an Atari option "
                   "needs a crop, gym for flat gymnasium spaces, sync for everything else).",
    "eval_every": "Actor steps between greedy evaluations (0: evaluate only at the end).",
    "eval_episodes": "Episodes per evaluation.",
    "eval_max_steps": "Steps after which an evaluation episode is cut, with a warning, and counts with its "
                      "return so far (an environment without a time limit cannot hang the run). Default: "
                      "Atari's 108,000-frame cut-off, 27,000 agent steps.",
    "run_dir": "Run folder (config.json, CSV logs, summary.json). Default: runs/<agent>_<env>_s<seed>_<time>.",
    "device": "Learner device: auto (CUDA when present), cpu or cuda.",
    "torch_threads": "torch intra-op threads. 1 by default: small networks gain little from more, and "
                     "busy-waiting threads collapse when cores are shared; raise it for large CPU networks.",
    "log_interval": "Seconds between progress lines on the terminal.",
    "learn_every": "Actor steps between learning bursts (1: learn after every step; larger values, e.g. 256 "
                   "like SB3's train_freq, run the same learner steps in bursts, which is faster on a CPU).",
    "stop_at_return": "Stop early once an evaluation's mean return reaches this (default: run the full budget).",
    "launch": "Runner: local (one loop, acting and learning interleaved), threads (actor threads, a learner "
              "thread and an evaluator thread sharing one replay) or ray (the same nodes as Ray actors; needs "
              "the distributed extra: pip install -e '.[distributed]').",
    "checkpoint_every_minutes": "Wall-clock minutes between checkpoints in RUN_DIR/checkpoints (0: only at the "
                                "end); one is also written at the end and on Ctrl-C.",
    "overwrite": "Delete the run already in --run_dir before starting. Without it (and without --resume), a run "
                 "folder that holds a run is refused and left unchanged.",
    "checkpoint_replay": "Also checkpoint the replay, so a resumed run need not refill it (large for Atari).",
    "tensorboard": "Write TensorBoard event files into the run folder (default: when the tensorboard package is "
                   "installed; --tensorboard fails clearly without it, --notensorboard switches them off).",
    "progress": "Show a live progress bar on an interactive terminal (a plain line a minute in logs); "
                "--progress=false switches it off.",
    "nan_policy": "A NaN or inf loss or gradient: raise (stop, naming the learner step and loss term; the "
                  "weights and the last checkpoint stay good) or skip (drop the update, count it).",
    "video_every": "Actor steps between recorded greedy evaluation episodes, written to RUN_DIR/videos as MP4 "
                   "(GIF without ffmpeg); 0: no videos.",
    "plots": "Write curves.png and diagnostics/ (predicted values vs returns; GridWorld policy and Q maps) "
             "into the run folder at the end.",
    "num_actors": "Acting nodes under --launch=threads or ray, each stepping its own --num_envs lanes.",
    "ray_address": "--launch=ray only: the address of a Ray cluster to join (default: start a local one "
                   "with this machine's CPUs).",
}
# What may change when a run is resumed (the rest must match its checkpoint).
_RESUME_OVERRIDES = ("num_steps", "eval_every", "eval_episodes", "eval_max_steps", "log_interval",
                     "checkpoint_every_minutes",
                     "stop_at_return", "device", "torch_threads", "tensorboard", "progress", "nan_policy",
                     "video_every", "plots")
_ENV_OPTION_FLAGS = {
    "observation_type": "gridworld only: state_index, agent_onehot, grid (default) or agent_goal_pos.",
    "max_episode_length": "gridworld only: steps before an episode is truncated (default 200).",
}


def define_common_flags(agent: str, **defaults: Any) -> None:
    """Defines the launcher flags; `defaults` override DECLARATION_DEFAULTS for this agent."""
    values = {**DECLARATION_DEFAULTS, **defaults}
    flags.DEFINE_string("config", None, "A run folder or its config.json to rerun; flags given beside it override it.")
    flags.DEFINE_string("preset", None, "A named set of config values, runner settings and environment options; "
                        "flags given beside it override it. " + (describe_presets(agent) or "(none for this agent)"))
    flags.DEFINE_string("env", values["env"], _COMMON_HELP["env"])
    flags.DEFINE_string("observation_type", None, _ENV_OPTION_FLAGS["observation_type"])
    flags.DEFINE_integer("max_episode_length", None, _ENV_OPTION_FLAGS["max_episode_length"], lower_bound=1)
    flags.DEFINE_list("env_options", [], "Options for the environment's factory as key=value pairs, e.g. "
                      "--env_options=length=12,slippery=true: keyword arguments of a python:<module>:<factory> "
                      "factory or of gymnasium.make, fields of environments.atari.AtariConfig. Values are read as "
                      "int, float, true/false, none, or else kept as strings.")
    flags.DEFINE_integer("seed", values["seed"], _COMMON_HELP["seed"])
    flags.DEFINE_integer("num_steps", values["num_steps"], _COMMON_HELP["num_steps"], lower_bound=1)
    flags.DEFINE_integer("num_envs", values["num_envs"], _COMMON_HELP["num_envs"], lower_bound=1)
    flags.DEFINE_enum("env_backend", values["env_backend"], list(BACKENDS), _COMMON_HELP["env_backend"])
    flags.DEFINE_integer("eval_every", values["eval_every"], _COMMON_HELP["eval_every"], lower_bound=0)
    flags.DEFINE_integer("eval_episodes", values["eval_episodes"], _COMMON_HELP["eval_episodes"], lower_bound=1)
    flags.DEFINE_integer("eval_max_steps", values["eval_max_steps"], _COMMON_HELP["eval_max_steps"], lower_bound=1)
    flags.DEFINE_string("run_dir", values["run_dir"], _COMMON_HELP["run_dir"])
    flags.DEFINE_enum("device", values["device"], ["auto", "cpu", "cuda"], _COMMON_HELP["device"])
    flags.DEFINE_integer("torch_threads", values["torch_threads"], _COMMON_HELP["torch_threads"], lower_bound=1)
    flags.DEFINE_float("log_interval", values["log_interval"], _COMMON_HELP["log_interval"], lower_bound=0)
    flags.DEFINE_float("stop_at_return", values["stop_at_return"], _COMMON_HELP["stop_at_return"])
    flags.DEFINE_integer("learn_every", values["learn_every"], _COMMON_HELP["learn_every"], lower_bound=1)
    flags.DEFINE_enum("launch", values["launch"], ["local", "threads", "ray"], _COMMON_HELP["launch"])
    flags.DEFINE_integer("num_actors", values["num_actors"], _COMMON_HELP["num_actors"], lower_bound=1)
    flags.DEFINE_string("ray_address", values["ray_address"], _COMMON_HELP["ray_address"])
    flags.DEFINE_float("checkpoint_every_minutes", values["checkpoint_every_minutes"],
                       _COMMON_HELP["checkpoint_every_minutes"], lower_bound=0)
    flags.DEFINE_bool("overwrite", values["overwrite"], _COMMON_HELP["overwrite"])
    flags.DEFINE_bool("checkpoint_replay", values["checkpoint_replay"], _COMMON_HELP["checkpoint_replay"])
    flags.DEFINE_bool("tensorboard", values["tensorboard"], _COMMON_HELP["tensorboard"])
    flags.DEFINE_bool("progress", values["progress"], _COMMON_HELP["progress"])
    flags.DEFINE_enum("nan_policy", values["nan_policy"], ["raise", "skip"], _COMMON_HELP["nan_policy"])
    flags.DEFINE_integer("video_every", values["video_every"], _COMMON_HELP["video_every"], lower_bound=0)
    flags.DEFINE_bool("plots", values["plots"], _COMMON_HELP["plots"])
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


def _optional_parser(base: type):
    def parse(text: str):
        return None if text.lower() in ("none", "") else base(text)
    return parse


def define_config_flags(config_class: type) -> None:
    """One flag per config field, named like the field, defaulting to the field's default."""
    docs = _attribute_docs(config_class)
    for field in dataclasses.fields(config_class):
        base, optional = _field_type(config_class, field)
        default = field.default
        help_text = docs.get(field.name, field.name)
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


def _attribute_docs(config_class: type) -> dict[str, str]:
    """Field descriptions from the 'Attributes:' section of the config's docstring."""
    docs: dict[str, str] = {}
    current = None
    for line in (config_class.__doc__ or "").splitlines():
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
        if base is tuple:
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


def declaration_from_flags(agent: str, config_class: type) -> dict[str, Any]:
    """The run declaration from the flags, on top of --config when given."""
    from launchers.experiment import load_declaration

    base: Mapping[str, Any] = {}
    if FLAGS.resume and FLAGS.config:
        raise ValueError("--resume continues a run with its own config.json; drop --config.")
    if FLAGS.resume:
        base = load_declaration(FLAGS.resume)
        if base.get("agent", agent) != agent:
            raise ValueError(f"--resume holds a {base['agent']!r} run; resume it with launchers.{base['agent']}.")
        given = [name for name in (*_COMMON_HELP, "env_options") if FLAGS[name].present
                 and name not in _RESUME_OVERRIDES]
        if given or FLAGS.preset:
            raise ValueError(f"--resume keeps the run's declaration; only {sorted(_RESUME_OVERRIDES)} may be "
                             f"given beside it, got {given + (['preset'] if FLAGS.preset else [])}.")
        declaration = {**DECLARATION_DEFAULTS, **base, "agent": agent, "run_dir": FLAGS.resume, "resume": True}
        for name in _RESUME_OVERRIDES:
            if FLAGS[name].present:
                declaration[name] = FLAGS[name].value
        return declaration
    if FLAGS.config:
        base = load_declaration(FLAGS.config)
        if base.get("agent", agent) != agent:
            raise ValueError(f"--config holds a {base['agent']!r} run; rerun it with launchers.{base['agent']}.")
    rerun = bool(FLAGS.config)
    if FLAGS.preset:  # Preset values sit above the flag defaults and below flags given explicitly.
        env = FLAGS.env if FLAGS["env"].present or not rerun else base.get("env", FLAGS.env)
        preset = preset_declaration(agent, FLAGS.preset, env)
        merged = {name: {**dict(base.get(name) or {}), **preset.get(name, {})}
                  for name in ("env_options", "agent_config")}
        base = {**base, **preset, **merged}
    declaration: dict[str, Any] = {**DECLARATION_DEFAULTS, **base, "agent": agent}
    for name in _COMMON_HELP:
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
