"""The run's fields, declared once: each with its default, its help and its bounds.

`RunSettings` holds what every run has (budget, evaluation, runner, logging);
`ExperimentConfig` (a run built from Python objects) and `Declaration` (the
JSON-able form written to config.json, with the agent and environment by name)
both inherit it. The launchers' flags, their `--helpfull` text, the checks on
values and the README's table of run fields are all read from these fields'
metadata (`flag_fields`, `markdown_table`), so they cannot drift apart.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, Mapping, Sequence

from environments.registry import BACKENDS
from environments.validation import CHECK_MODES, CHECKED_STEPS


def run_field(default: Any = dataclasses.MISSING, help: str = "", *, minimum: float | None = None,
              choices: Sequence[str] | None = None, resumable: bool = False, flag: bool = True,
              default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field with the facts flags, checks and docs need.

    Args:
      minimum: Smallest allowed value (a flag's lower bound and a check in `__post_init__`).
      choices: The allowed values (an enum flag and a check).
      resumable: May change when a run is resumed (the rest must match its checkpoint).
      flag: Whether the launchers define a flag of the same name.
    """
    metadata = {"help": help, "minimum": minimum, "choices": tuple(choices) if choices else None,
                "resumable": resumable, "flag": flag}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


LAUNCHES = ("local", "threads", "ray")
NAN_POLICIES = ("raise", "skip")  # As components.learners.NAN_POLICIES.
DEVICES = ("auto", "cpu", "cuda")


@dataclasses.dataclass(frozen=True, kw_only=True)
class RunSettings:
    """What every run declares besides its agent and environment (see each field's help)."""

    seed: int = run_field(0, "Random seed for networks, replay, exploration and environments.")
    num_steps: int = run_field(30_000, "Training budget in actor steps (environment steps summed over lanes).",
                               minimum=1, resumable=True)
    num_envs: int = run_field(1, "Environment lanes stepped together by the actor (one network call per step; "
                                 "lane i is seeded seed + i).", minimum=1)
    env_backend: str = run_field(
        "auto", "How lanes are stepped: sync (in process), subprocess (worker processes, frames through shared "
                "memory), ale (atari only: ale-py's native vector engine), gym (gym:<id>, dict and tuple "
                "observations too, batched in process) or auto (ale for Atari, subprocess/sync when an Atari option "
                "needs a crop, gym for gymnasium spaces it batches, sync for everything else, and for your own "
                "environment factory).",
        choices=BACKENDS)
    check_env: str = run_field(
        "startup", f"How the environment is checked against its specs: startup (one extra lane stepped "
                   f"{CHECKED_STEPS} times with random actions before the run, every timestep checked; then only "
                   "the batch of actions against the action spec and the rewards for NaN/inf, once per step) or "
                   "full (every lane's every action and timestep, for debugging an environment; slower).",
        choices=CHECK_MODES, resumable=True)
    eval_every: int = run_field(5_000, "Actor steps between greedy evaluations (0: evaluate only at the end).",
                                minimum=0, resumable=True)
    eval_episodes: int = run_field(10, "Episodes per evaluation.", minimum=1, resumable=True)
    eval_max_steps: int = run_field(
        27_000, "Steps after which an evaluation episode is cut, with a warning, and counts with its return so far "
                "(an environment without a time limit cannot hang the run). Default: Atari's 108,000-frame "
                "cut-off, 27,000 agent steps.", minimum=1, resumable=True)
    run_dir: str | None = run_field(None, "Run folder (config.json, CSV logs, summary.json). Default: "
                                          "runs/<agent>_<env>_s<seed>_<time>.")
    device: str = run_field("auto", "Learner device: auto (CUDA when present), cpu or cuda.", choices=DEVICES,
                            resumable=True)
    torch_threads: int | None = run_field(
        1, "torch intra-op threads. 1 by default: small networks gain little from more, and busy-waiting threads "
           "collapse when cores are shared; raise it for large CPU networks.", minimum=1, resumable=True)
    log_interval: float = run_field(5.0, "Seconds between progress lines on the terminal.", minimum=0,
                                    resumable=True)
    stop_at_return: float | None = run_field(
        None, "Stop early once an evaluation's mean return reaches this (default: run the full budget).",
        resumable=True)
    learn_every: int = run_field(
        1, "Actor steps between learning bursts (1: learn after every step; larger values, e.g. 256 like SB3's "
           "train_freq, run the same learner steps in bursts, which is faster on a CPU). Refused for on-policy "
           "agents, which learn from each rollout as soon as it is complete.", minimum=1)
    launch: str = run_field(
        "local", "Runner: local (one loop, acting and learning interleaved), threads (actor threads, a learner "
                 "thread and an evaluator thread sharing one replay) or ray (the same nodes as Ray actors; needs "
                 "the distributed extra: pip install -e '.[distributed]').", choices=LAUNCHES)
    num_actors: int = run_field(1, "Acting nodes under --launch=threads or ray, each stepping its own --num_envs "
                                   "lanes.", minimum=1)
    ray_address: str | None = run_field(None, "--launch=ray only: the address of a Ray cluster to join (default: "
                                              "start a local one with this machine's CPUs).")
    checkpoint_every_minutes: float = run_field(
        10.0, "Wall-clock minutes between checkpoints in RUN_DIR/checkpoints (0: only at the end); one is also "
              "written at the end and on Ctrl-C.", minimum=0, resumable=True)
    checkpoint_replay: bool = run_field(False, "Also checkpoint the replay, so a resumed run need not refill it "
                                               "(large for Atari).")
    resume: bool = run_field(False, "Continue the run in run_dir from its newest readable checkpoint (the flag "
                                    "--resume=RUN_DIR takes the folder).", flag=False)
    overwrite: bool = run_field(False, "Delete the run already in --run_dir before starting. Without it (and "
                                       "without --resume), a run folder that holds a run is refused and left "
                                       "unchanged.")
    tensorboard: bool | None = run_field(
        None, "Write TensorBoard event files into the run folder (default: when the tensorboard package is "
              "installed; --tensorboard fails clearly without it, --notensorboard switches them off).",
        resumable=True)
    progress: bool = run_field(True, "Show a live progress bar on an interactive terminal (a plain line a minute "
                                     "in logs); --noprogress switches it off.", resumable=True)
    nan_policy: str = run_field(
        "raise", "A NaN or inf loss or gradient: raise (stop, naming the learner step and loss term; the weights "
                 "and the last checkpoint stay good) or skip (drop the update, count it in learner.csv).",
        choices=NAN_POLICIES, resumable=True)
    video_every: int = run_field(0, "Actor steps between recorded greedy evaluation episodes, written to "
                                    "RUN_DIR/videos as MP4 (GIF without ffmpeg); 0: no videos.", minimum=0,
                                 resumable=True)
    plots: bool = run_field(True, "Write curves.png and diagnostics/ (predicted values vs returns; GridWorld "
                                  "policy and Q maps) into the run folder at the end.", resumable=True)

    def __post_init__(self) -> None:
        for field in dataclasses.fields(RunSettings):
            check_value(field, getattr(self, field.name))
        if self.resume and self.run_dir is None:
            raise ValueError("resume needs the run_dir of the run to continue.")
        if self.resume and self.overwrite:
            raise ValueError("resume continues the run in run_dir and overwrite deletes it: give one of them.")
        if self.launch == "local" and self.num_actors != 1:
            raise ValueError(f"launch='local' runs one actor; num_actors={self.num_actors} needs "
                             "launch='threads' or 'ray'.")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Declaration(RunSettings):
    """A run by names: the JSON-able form written to config.json, which `--config` and `--resume` rebuild."""

    agent: str = run_field("dqn", "The agent: a built-in name (dqn, nfq, reinforce, a2c, ppo, sac, td3, r2d2), a name given to "
                                  "launchers.agent_registry.register_agent, or module:BuilderClass.", flag=False)
    env: str = run_field("gridworld:simple", "Environment name: gridworld:<task>, gym:<id>, atari:<Game>, "
                                             "dmc:<domain>-<task>, minatar:<game> or python:<module>:<factory>.")
    env_options: Mapping[str, Any] = run_field(
        help="Options for the environment's factory (--env_options=key=value,...).", flag=False,
        default_factory=dict)
    preset: str | None = run_field(None, "A named set of config values, runner settings and environment options.",
                                   flag=False)
    agent_config: Mapping[str, Any] = run_field(help="The agent's config fields.", flag=False,
                                                default_factory=dict)


def check_value(field: dataclasses.Field, value: Any) -> None:
    """Raises a ValueError naming the field when `value` is outside its `minimum` or `choices`."""
    minimum, choices = field.metadata.get("minimum"), field.metadata.get("choices")
    if minimum is not None and value is not None and value < minimum:
        raise ValueError(f"{field.name} must be >= {minimum:g}, got {value}.")
    if choices and value not in choices:
        raise ValueError(f"{field.name} must be one of {', '.join(choices)}, got {value!r}.")


def declaration_defaults() -> dict[str, Any]:
    """Every declaration field but agent_config, with its default."""
    return {f.name: (f.default_factory() if f.default is dataclasses.MISSING else f.default)
            for f in dataclasses.fields(Declaration) if f.name != "agent_config"}


def flag_fields() -> list[dataclasses.Field]:
    """The declaration fields that are flags of every launcher: --env first, then in declaration order."""
    fields = [f for f in dataclasses.fields(Declaration) if f.metadata.get("flag", False)]
    return sorted(fields, key=lambda f: f.name != "env")


def resumable_fields() -> tuple[str, ...]:
    """The fields that may change when a run is resumed."""
    return tuple(f.name for f in dataclasses.fields(Declaration) if f.metadata.get("resumable"))


def base_type(owner: type, field: dataclasses.Field) -> tuple[Any, bool]:
    """(type without None, whether None is allowed) of a field's annotation."""
    hint = typing.get_type_hints(owner)[field.name]
    args = typing.get_args(hint)
    optional = type(None) in args
    if optional:
        rest = [a for a in args if a is not type(None)]
        hint = rest[0] if len(rest) == 1 else typing.Union[tuple(rest)]
    return hint, optional


def _default_text(field: dataclasses.Field) -> str:
    default = field.default
    if default is None:
        return "none"
    if isinstance(default, bool):
        return str(default).lower()
    if isinstance(default, int):
        return f"{default:,}".replace(",", "_") if default >= 10_000 else str(default)
    return str(default)


def markdown_table() -> str:
    """The README's table of run flags (`python -m launchers.run_fields` prints it)."""
    rows = ["| flag | default | what |", "|---|---|---|"]
    for field in flag_fields():
        rows.append(f"| `--{field.name}` | `{_default_text(field)}` | {field.metadata['help']} |")
    return "\n".join(rows)


if __name__ == "__main__":
    print(markdown_table())
