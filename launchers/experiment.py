"""The experiment declaration: everything a runner needs to build and run one training run."""

from __future__ import annotations

import dataclasses
import datetime
import functools
import json
import os
import re
from typing import Any, Callable, Mapping

import dm_env
from torch import nn

from agents.builders import ActorLearnerBuilder
from components.devices import resolve_device
from components.specs import EnvironmentSpec, make_environment_spec
from launchers.agent_registry import get_agent, make_builder
from environments.registry import make_batched_environment, make_environment, resolve_backend
from environments.validation import probe_environment

EnvironmentFactory = Callable[[int], dm_env.Environment]  # seed -> one lane
NetworkFactory = Callable[[EnvironmentSpec], Mapping[str, nn.Module]]


LAUNCHES = ("local", "threads", "ray")
NAN_POLICIES = ("raise", "skip")  # As components.learners.NAN_POLICIES.


@dataclasses.dataclass(frozen=True)
class ExperimentConfig:
    """One run, declared: which agent, on which environment, for how long, logged where.

    Attributes:
      builder: The agent's builder (its config inside).
      environment_factory: `factory(seed)` returns one environment lane.
      evaluation_environment_factory: `factory(seed)` for the evaluator's
        environment (None: `environment_factory`). Atari uses it to score the
        full game, unclipped.
      network_factory: Optional override of the builder's networks.
      seed: Seeds networks, replay sampling, exploration and environments.
      num_steps: Budget in actor lane-steps (env steps summed over lanes).
      num_envs: Lanes in the training environment (lane i seeded seed + i).
      env_backend: How lanes are stepped: 'sync' (in process) or 'subprocess'
        (worker processes, observations through shared memory; needs a
        picklable environment_factory).
      batched_environment_factory: `factory(num_envs, seed)` for the training
        lanes; when set it replaces environment_factory + env_backend (the
        `ale` backend builds all lanes at once this way).
      eval_every: Actor steps between greedy evaluations (0: only at the end).
      eval_episodes: Episodes per evaluation.
      eval_max_steps: Steps after which an evaluation episode is cut (with a warning) and
        counts with its return so far, so an environment without a time limit cannot hang
        the run. The default is Atari's 108,000-frame cut-off (27,000 agent steps), the
        longest episode of any built-in environment.
      run_dir: Folder for config.json, CSV logs and summary.json.
      device: 'auto' (CUDA when present), 'cpu' or 'cuda'.
      torch_threads: Intra-op threads for torch (None: torch's default, one per core).
        Default 1: small RL networks gain little from more, and torch's
        busy-waiting threads slow down badly when the cores are shared with
        environments or other runs.
      log_interval: Seconds between terminal progress lines per label.
      stop_at_return: Stop early once an evaluation's mean return reaches this.
      learn_every: Actor steps (batched env steps) between learning bursts; each
        burst runs every learner step the rate limiter allows (1 = interleave).
      launch: Which runner: 'local' (one loop, acting and learning interleaved),
        'threads' (actor, learner and evaluator threads) or 'ray' (the same
        nodes as Ray actors).
      num_actors: Acting nodes under 'threads' and 'ray', each with its own
        `num_envs` lanes ('local' has one).
      ray_address: 'ray' only: a cluster to join (None: start a local one).
      checkpoint_every_minutes: Wall-clock minutes between checkpoints in
        `run_dir/checkpoints` (0: only at the end); one is also written at the
        end and when the run is interrupted.
      checkpoint_replay: Also checkpoint the replay (large for Atari), so a
        resumed run need not refill it.
      resume: Continue the run in `run_dir` from its newest readable checkpoint.
      overwrite: Delete the run already in `run_dir` before starting (without it, and
        without `resume`, a folder that holds a run is refused and left unchanged).
      tensorboard: Also write TensorBoard event files into `run_dir` (None: when
        the `tensorboard` package is installed).
      progress: Show a live progress bar (on a terminal; a line a minute otherwise).
      video_every: Actor steps between recorded greedy evaluation episodes
        (`run_dir/videos/eval_<step>.mp4`, GIF without ffmpeg; 0: none).
      plots: Write curves.png and diagnostics/ (value predictions vs returns,
        GridWorld policy and Q maps) into `run_dir` at the end.
      nan_policy: What a NaN or inf loss or gradient does: 'raise' stops the
        run with a message naming the learner step and the loss term (the
        weights stay as they were, the last checkpoint stays good), 'skip'
        drops that update and counts it (`skipped_updates` in learner.csv).
      score_key: The `episode_info` key that holds a training episode's real score, when the
        environment reports one (Atari: 'raw_score', the whole game unclipped). TensorBoard's
        charts/episodic_return then shows it, as CleanRL's does, and the return the agent
        trained on (Atari: per life, clipped) goes to charts/training_return.
      declaration: The JSON-able description written to config.json (rerunnable).
    """

    builder: ActorLearnerBuilder
    environment_factory: EnvironmentFactory
    network_factory: NetworkFactory | None = None
    evaluation_environment_factory: EnvironmentFactory | None = None
    seed: int = 0
    num_steps: int = 30_000
    num_envs: int = 1
    env_backend: str = "sync"
    batched_environment_factory: Callable[[int, int], dm_env.Environment] | None = None
    eval_every: int = 5_000
    eval_episodes: int = 10
    eval_max_steps: int = 27_000
    run_dir: str | None = None
    device: str = "auto"
    torch_threads: int | None = 1
    log_interval: float = 5.0
    stop_at_return: float | None = None
    learn_every: int = 1
    launch: str = "local"
    num_actors: int = 1
    ray_address: str | None = None
    checkpoint_every_minutes: float = 10.0
    checkpoint_replay: bool = False
    resume: bool = False
    overwrite: bool = False
    tensorboard: bool | None = None
    progress: bool = True
    nan_policy: str = "raise"
    video_every: int = 0
    plots: bool = True
    score_key: str | None = None
    declaration: Mapping[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        for name in ("num_steps", "num_envs", "eval_episodes", "eval_max_steps", "learn_every", "num_actors"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}.")
        if self.eval_every < 0:
            raise ValueError(f"eval_every must be >= 0, got {self.eval_every}.")
        if self.video_every < 0:
            raise ValueError(f"video_every must be >= 0 (0: no videos), got {self.video_every}.")
        if self.checkpoint_every_minutes < 0:
            raise ValueError(f"checkpoint_every_minutes must be >= 0, got {self.checkpoint_every_minutes}.")
        if self.resume and self.run_dir is None:
            raise ValueError("resume needs the run_dir of the run to continue.")
        if self.resume and self.overwrite:
            raise ValueError("resume continues the run in run_dir and overwrite deletes it: give one of them.")
        if self.torch_threads is not None and self.torch_threads <= 0:
            raise ValueError(f"torch_threads must be > 0, got {self.torch_threads}.")
        if self.nan_policy not in NAN_POLICIES:
            raise ValueError(f"nan_policy must be one of {NAN_POLICIES}, got {self.nan_policy!r}.")
        if self.launch not in LAUNCHES:
            raise ValueError(f"launch must be one of {LAUNCHES}, got {self.launch!r}.")
        if self.learn_every != 1 and self.builder.on_policy:
            raise ValueError(
                f"learn_every={self.learn_every}: {type(self.builder).__name__} is on-policy, so it learns from "
                "each rollout as soon as it is complete (with learn_every > 1 the actor would go on acting with "
                "old weights, or overfill the rollout queue). Drop --learn_every.")
        if self.launch == "local" and self.num_actors != 1:
            raise ValueError(f"launch='local' runs one actor; num_actors={self.num_actors} needs "
                             "launch='threads' or 'ray'.")


# The declaration's fields besides the agent's config, with their defaults.
DECLARATION_DEFAULTS: dict[str, Any] = {
    "agent": "dqn",
    "env": "gridworld:simple",
    "env_options": {},
    "seed": 0,
    "num_steps": 30_000,
    "num_envs": 1,
    "env_backend": "auto",
    "eval_every": 5_000,
    "eval_episodes": 10,
    "eval_max_steps": 27_000,
    "run_dir": None,
    "device": "auto",
    "torch_threads": 1,
    "log_interval": 5.0,
    "stop_at_return": None,
    "learn_every": 1,
    "preset": None,
    "launch": "local",
    "num_actors": 1,
    "ray_address": None,
    "checkpoint_every_minutes": 10.0,
    "checkpoint_replay": False,
    "resume": False,
    "overwrite": False,
    "tensorboard": None,
    "progress": True,
    "nan_policy": "raise",
    "video_every": 0,
    "plots": True,
}


def default_run_dir(agent: str, env: str, seed: int) -> str:
    stamp = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    return os.path.join("runs", f"{agent}_{re.sub(r'[^A-Za-z0-9_.-]+', '-', env)}_s{seed}_{stamp}")


def experiment_from_declaration(declaration: Mapping[str, Any]) -> ExperimentConfig:
    """Builds an experiment from a JSON-able declaration (as written to config.json)."""
    unknown = set(declaration) - set(DECLARATION_DEFAULTS) - {"agent_config"}
    if unknown:
        raise ValueError(f"Unknown declaration fields {sorted(unknown)}; expected {sorted(DECLARATION_DEFAULTS)} "
                         "and agent_config.")
    decl = {**DECLARATION_DEFAULTS, **declaration}
    entry = get_agent(decl["agent"])
    config = config_from_dict(entry.config_class, decl.get("agent_config", {}))
    decl["agent_config"] = dataclasses.asdict(config)
    if decl["run_dir"] is None:
        decl["run_dir"] = default_run_dir(decl["agent"], decl["env"], decl["seed"])
    resolve_device(decl["device"])
    env_name, env_options = decl["env"], dict(decl["env_options"])
    backend = resolve_backend(decl["env_backend"], env_name, decl["num_envs"], env_options)
    builder = make_builder(decl["agent"], config)
    # One reset and one valid step: a malformed environment fails here, before any run starts.
    check_compatible(builder, probe_environment(make_environment(env_name, decl["seed"], **env_options)),
                     decl["agent"], env_name)
    return ExperimentConfig(
        builder=builder,
        environment_factory=functools.partial(make_environment, env_name, **env_options),
        # ale lanes pad the first stack with zeros and resize in C++: evaluate on the same pixels.
        evaluation_environment_factory=(
            functools.partial(_make_batched, env_name, backend, {**env_options, "evaluation": True}, 1)
            if backend == "ale" else functools.partial(make_environment, env_name, evaluation=True, **env_options)),
        env_backend=backend,
        batched_environment_factory=(functools.partial(_make_batched, env_name, backend, env_options)
                                     if backend in ("ale", "gym") else None),
        seed=decl["seed"], num_steps=decl["num_steps"], num_envs=decl["num_envs"],
        eval_every=decl["eval_every"], eval_episodes=decl["eval_episodes"], eval_max_steps=decl["eval_max_steps"],
        run_dir=decl["run_dir"],
        device=decl["device"], torch_threads=decl["torch_threads"], log_interval=decl["log_interval"],
        stop_at_return=decl["stop_at_return"], learn_every=decl["learn_every"], launch=decl["launch"],
        num_actors=decl["num_actors"], ray_address=decl["ray_address"],
        checkpoint_every_minutes=decl["checkpoint_every_minutes"], checkpoint_replay=decl["checkpoint_replay"],
        resume=decl["resume"], overwrite=decl["overwrite"], tensorboard=decl["tensorboard"], progress=decl["progress"],
        nan_policy=decl["nan_policy"], video_every=decl["video_every"], plots=decl["plots"],
        score_key="raw_score" if env_name.startswith("atari:") else None, declaration=decl,
    )


def _make_batched(name: str, backend: str, options: Mapping[str, Any], num_envs: int, seed: int):
    return make_batched_environment(name, num_envs, seed, backend, **options)


def check_compatible(builder: ActorLearnerBuilder, environment: dm_env.Environment, agent: str, env: str) -> None:
    """Builds the agent's networks for the environment once, so a mismatch fails before any run starts."""
    try:
        builder.make_networks(make_environment_spec(environment))
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
