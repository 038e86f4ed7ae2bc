"""The nodes every runner wires (learner, actors, evaluator) and the run folder they share.

`local`, `threads` and `ray` differ only in where these nodes run and how they
wait for each other; what each node is comes from the experiment's builder here.
"""

from __future__ import annotations

import csv
import dataclasses
import glob
import inspect
import json
import os
import random
import time
from typing import Any, Callable, Mapping, Sequence

import dm_env
import numpy as np
import torch
import tree

from components.checkpointing import Checkpointer
from components.core import Actor, Learner, Replay, batch_iterator
from components.counting import Counter
from components.devices import resolve_device
from components.environment_loop import EnvironmentLoop
from components.loggers import Logger, make_logger_factory
from components.progress import ProgressBar
from environments.registry import make_lanes
from launchers.artifacts import VideoRecorder, write_curves, write_diagnostics
from launchers.experiment import ExperimentConfig


def _lanes_of(observation: Any) -> list[Any]:
    """A batched observation nest as one nest per lane."""
    count = len(tree.flatten(observation)[0])
    return [tree.map_structure(lambda x: x[i], observation) for i in range(count)]


def _stack(observations: list[Any]) -> Any:
    return tree.map_structure(lambda *xs: np.stack(xs), *observations)


class _EpisodeRows(Logger):
    """Keeps the episode rows an EnvironmentLoop writes (their `raw_score`, when the env reports one)."""

    def __init__(self) -> None:
        self.rows: list[dict[str, Any]] = []

    def write(self, data: dict[str, Any]) -> None:
        self.rows.append(dict(data))


class _FirstObservations(Actor):
    """Wraps an actor and keeps the observation each lane starts an episode with."""

    def __init__(self, actor: Actor) -> None:
        self._actor = actor
        self.observations: list[Any] = []

    def select_action(self, observation):
        return self._actor.select_action(observation)

    def observe_first(self, timestep: dm_env.TimeStep) -> None:
        self.observations.extend(_lanes_of(timestep.observation))
        self._actor.observe_first(timestep)

    def observe(self, action, next_timestep: dm_env.TimeStep) -> None:
        starts = np.flatnonzero(next_timestep.step_type == dm_env.StepType.FIRST)
        if len(starts):
            lanes = _lanes_of(next_timestep.observation)
            self.observations.extend(lanes[i] for i in starts)
        self._actor.observe(action, next_timestep)

    def update(self, wait: bool = False) -> None:
        self._actor.update(wait)


class Evaluator:
    """Runs greedy episodes with the learner's latest weights and logs their returns.

    Beside the return statistics, a row carries `eval_raw_score_*` when the
    environment reports raw game scores (Atari: whole games, unclipped),
    `eval_initial_value` (the agent's V of the episodes' first observations,
    when the builder can compute it) and whatever `diagnostics()` returns
    (e.g. the behaviour policy's epsilon and the replay's size).
    """

    def __init__(self, experiment: ExperimentConfig, spec, learner: Learner, counter: Counter, logger: Logger,
                 diagnostics: Callable[[], dict[str, Any]] | None = None) -> None:
        builder, seed = experiment.builder, experiment.seed + 10_000
        self._builder = builder
        self._networks = make_networks(experiment, spec)
        policy = builder.make_policy(self._networks, spec, evaluation=True, seed=seed)
        self._policy = policy
        self._experiment = experiment
        self._video = VideoRecorder(experiment) if experiment.video_every else None
        self._actor = builder.make_actor(policy, None, learner, self._networks)
        self._starts = _FirstObservations(self._actor)
        factory = experiment.evaluation_environment_factory or experiment.environment_factory
        environment = factory(seed)
        self._episodes_log = _EpisodeRows()
        self._loop = EnvironmentLoop(environment, self._starts, Counter(counter, "eval"), self._episodes_log,
                                     should_update=False)
        self._counter = counter
        self._logger = logger
        self._episodes = experiment.eval_episodes
        self._diagnostics = diagnostics

    def close(self) -> None:
        self._loop.environment.close()

    def evaluate(self, train_seconds: float) -> dict[str, Any]:
        """Runs the evaluation episodes; `train_seconds` (wall time so far, without evaluation) is logged."""
        self._actor.update(wait=True)
        self._loop.reset()
        self._episodes_log.rows.clear()
        self._starts.observations.clear()
        returns = np.asarray(self._loop.run(num_episodes=self._episodes))
        row = {**self._counter.get_counts(), "train_seconds": train_seconds,
               "eval_return_mean": float(returns.mean()),
               "eval_return_std": float(returns.std()), "eval_return_min": float(returns.min()),
               "eval_return_max": float(returns.max()), "eval_episodes": len(returns)}
        raw = np.asarray([r["raw_score"] for r in self._episodes_log.rows if r.get("raw_score") is not None])
        if len(raw):
            row.update(eval_raw_score_mean=float(raw.mean()), eval_raw_score_std=float(raw.std()),
                       eval_raw_score_games=len(raw))
        starts = self._starts.observations[:self._episodes]
        values = self._builder.state_values(self._networks, _stack(starts)) if starts else None
        if values is not None:
            row["eval_initial_value"] = float(np.mean(values))
        if self._diagnostics is not None:
            row.update(self._diagnostics())
        self._logger.write(row)
        if self._video is not None:
            self._video.record_if_due(self._policy, row.get("actor_steps", 0))
        return row

    @property
    def policy(self):
        """The greedy policy the evaluations act with (batch of observations -> actions)."""
        return self._policy

    def write_artifacts(self) -> list[str]:
        """At the end of a run: curves.png and value diagnostics with the latest weights (if `plots`)."""
        if not self._experiment.plots or self._experiment.run_dir is None:
            return []
        self._actor.update(wait=True)
        written = [write_curves(self._experiment.run_dir)]
        written += write_diagnostics(self._experiment, self._builder, self._networks, self._policy)
        return [path for path in written if path]


def _accepts(function: Callable[..., Any], name: str) -> bool:
    parameters = inspect.signature(function).parameters.values()
    return any(p.name == name or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters)


def describe_replay(replay) -> str:
    """Capacity and preallocated memory, for the start-up log."""
    describe = getattr(replay, "describe", None)
    if callable(describe):
        return describe()
    nbytes = getattr(replay, "nbytes", None)
    memory = f", {nbytes / 1e6:,.1f} MB preallocated ({nbytes / replay.capacity:,.0f} B/item)" if nbytes else ""
    return f"{type(replay).__name__}: capacity {replay.capacity:,} items{memory}."


def acting_diagnostics(replay: Replay, policy: Any) -> dict[str, Any]:
    """What evaluation rows report about acting: the replay's size and the behaviour epsilon (if any)."""
    epsilon = getattr(policy, "epsilon", None)
    return {"replay_size": replay.size(), **({"epsilon": float(epsilon)} if epsilon is not None else {})}


def make_networks(experiment: ExperimentConfig, spec):
    factory = experiment.network_factory or experiment.builder.make_networks
    return factory(spec)


def make_run_logger_factory(experiment: ExperimentConfig, progress: ProgressBar | None = None,
                            resumed_step: int | None = None, always_print: Sequence[str] = ("eval",)):
    """The loggers every node of a run writes through: CSV (continued when resuming), TensorBoard
    (per `experiment.tensorboard`), terminal lines and, in the driver, the progress bar."""
    return make_logger_factory(experiment.run_dir, experiment.log_interval, always_print=always_print,
                               append=experiment.resume, tensorboard=experiment.tensorboard,
                               tensorboard_purge_step=resumed_step, progress=progress)


def make_progress(experiment: ExperimentConfig, initial_steps: float = 0) -> ProgressBar:
    return ProgressBar(experiment.num_steps, enabled=experiment.progress, initial_steps=int(initial_steps))


@dataclasses.dataclass
class RunStart:
    """What every in-process runner sets up first (see `begin_run`)."""

    device: torch.device
    resumed_state: dict[str, Any] | None
    evaluations: list[dict[str, Any]]
    progress: ProgressBar
    logger_factory: Any


def begin_run(experiment: ExperimentConfig) -> RunStart:
    """Seeds torch, sets its threads, picks the device, writes config.json, loads the checkpoint to
    resume from (trimming the logs past it) and opens the loggers, in that order."""
    torch.manual_seed(experiment.seed)
    if experiment.torch_threads is not None:
        torch.set_num_threads(experiment.torch_threads)
    device = resolve_device(experiment.device)
    prepare_run_dir(experiment)
    state, evaluations = load_resume_state(experiment)  # Before the loggers open (and continue) the CSV files.
    resumed_step = state["counter"].get("actor_steps", 0) if state else None
    progress = make_progress(experiment, resumed_step or 0)
    return RunStart(device, state, evaluations, progress, make_run_logger_factory(experiment, progress, resumed_step))


def make_environment(experiment: ExperimentConfig, seed: int):
    """The batched training environment of one actor: `num_envs` lanes on the chosen backend."""
    if experiment.batched_environment_factory is not None:
        return experiment.batched_environment_factory(experiment.num_envs, seed)
    return make_lanes(experiment.environment_factory, experiment.num_envs, seed, experiment.env_backend)


def make_learner(experiment: ExperimentConfig, spec, replay: Replay, device: torch.device, counter: Counter,
                 logger: Logger) -> Learner:
    """The learner node, sampling batches from `replay` (its networks on `device`)."""
    builder = experiment.builder
    networks = {name: net.to(device) for name, net in make_networks(experiment, spec).items()}
    batch_size = builder.learner_batch_size(experiment.num_envs)
    # Builders written before make_learner took `replay` keep working without it.
    extra = {"replay": replay} if _accepts(builder.make_learner, "replay") else {}
    learner = builder.make_learner(networks, batch_iterator(replay, batch_size), spec, device,
                                   Counter(counter, "learner"), logger, experiment.seed, **extra)
    if hasattr(learner, "nan_policy"):
        learner.nan_policy = experiment.nan_policy
    return learner


def make_actor(experiment: ExperimentConfig, spec, replay: Replay, learner, seed: int,
               variable_update_period: int | None = None) -> tuple[Actor, Any]:
    """An acting node's actor (writing into `replay`, pulling weights from `learner`) and its policy."""
    builder = experiment.builder
    networks = make_networks(experiment, spec)
    policy = builder.make_policy(networks, spec, evaluation=False, seed=seed)
    period = variable_update_period or builder.config.variable_update_period
    return builder.make_actor(policy, builder.make_adder(replay), learner, networks, period), policy


def prepare_run_dir(experiment: ExperimentConfig) -> None:
    """Creates the run folder and writes the declaration to `config.json`."""
    if experiment.run_dir is None:
        return
    os.makedirs(experiment.run_dir, exist_ok=True)
    with open(os.path.join(experiment.run_dir, "config.json"), "w") as f:
        # Written with resume off: rerunning a folder's config.json starts a new run.
        json.dump({**experiment.declaration, "resume": False}, f, indent=2, sort_keys=True, default=str)


def write_summary(experiment: ExperimentConfig, evaluations: list[dict[str, Any]], counter: Counter,
                  train_seconds: float, wall_seconds: float, device: torch.device,
                  **extra: Any) -> dict[str, Any]:
    """The run's summary (returned, and written to `summary.json` in the run folder)."""
    counts = counter.get_counts()
    summary = {
        "final_eval_return": evaluations[-1]["eval_return_mean"],
        "best_eval_return": max(e["eval_return_mean"] for e in evaluations),
        "actor_steps": int(counts.get("actor_steps", 0)),
        "actor_episodes": int(counts.get("actor_episodes", 0)),
        "learner_steps": int(counts.get("learner_steps", 0)),
        "wall_seconds": round(wall_seconds, 3),
        "train_seconds": round(train_seconds, 3),
        "evaluations": [[int(e.get("actor_steps", 0)), e["eval_return_mean"], round(e["train_seconds"], 3)]
                        for e in evaluations],
        "device": str(device),
        "run_dir": experiment.run_dir,
        **extra,
    }
    if experiment.run_dir is not None:
        with open(os.path.join(experiment.run_dir, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
    return summary


def run_state(learner: Learner, counter: Counter, policies: list[Any], replay: Replay | None,
              train_seconds: float) -> dict[str, Any]:
    """Everything a resumed run needs: learner (networks, optimizer, schedules' step), counts, the
    behaviour policies' state (e.g. epsilon's step and exploration RNG), global RNGs, and the replay
    with its rate limiter when given."""
    state = {
        "learner": learner.save(),
        "counter": counter.save(),
        "policies": [p.save() if hasattr(p, "save") else None for p in policies],
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
        "train_seconds": train_seconds,
    }
    if replay is not None:
        state["replay"] = replay.save()
        limiter = getattr(replay, "rate_limiter", None)
        if limiter is not None and hasattr(limiter, "save"):
            state["rate_limiter"] = limiter.save()
    return state


def restore_run_state(state: Mapping[str, Any], learner: Learner, counter: Counter, policies: list[Any],
                      replay: Replay | None) -> float:
    """Restores what `run_state` saved (the replay only if it was saved); returns the train seconds so far."""
    learner.restore(state["learner"])
    counter.restore(state["counter"])
    for policy, saved in zip(policies, state["policies"]):
        if saved is not None and hasattr(policy, "restore"):
            policy.restore(saved)
    torch.set_rng_state(state["rng"]["torch"])
    np.random.set_state(state["rng"]["numpy"])
    random.setstate(state["rng"]["python"])
    if replay is not None and "replay" in state:
        replay.restore(state["replay"])
        if "rate_limiter" in state:
            replay.rate_limiter.restore(state["rate_limiter"])
    return float(state.get("train_seconds", 0.0))


def checkpoint_metadata(experiment: ExperimentConfig) -> dict[str, Any]:
    """What a checkpoint records about its run, so it is never restored into another agent or config."""
    declaration = experiment.declaration
    return {"agent": declaration.get("agent"), "agent_config": declaration.get("agent_config"),
            "env": declaration.get("env")}


def check_checkpoint(manifest: Mapping[str, Any], experiment: ExperimentConfig) -> None:
    """Raises a clear error when a checkpoint comes from another agent, config or environment."""
    expected = json.loads(json.dumps(checkpoint_metadata(experiment), default=str))
    for key, value in expected.items():
        saved = manifest.get(key)
        if saved != value:
            raise ValueError(f"The checkpoint in {experiment.run_dir} was written by a run with {key}={saved!r}; "
                             f"this run has {key}={value!r}. Resume it with its own config.json.")


def trim_logs(run_dir: str, actor_steps: float) -> list[dict[str, Any]]:
    """Drops CSV rows logged after `actor_steps` (a resumed run logs them again); returns eval.csv's rows.

    Rows without `actor_steps` (e.g. learner rows before any acting) are kept.
    """
    evaluations: list[dict[str, Any]] = []
    for path in glob.glob(os.path.join(run_dir, "*.csv")):
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            fields, rows = reader.fieldnames or [], list(reader)
        kept = [r for r in rows if r.get("actor_steps") in (None, "") or float(r["actor_steps"]) <= actor_steps]
        if len(kept) != len(rows):
            temporary = path + ".tmp"
            with open(temporary, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=fields)
                writer.writeheader()
                writer.writerows(kept)
            os.replace(temporary, path)
        if os.path.basename(path) == "eval.csv":
            evaluations = [{k: float(v) for k, v in r.items() if v not in (None, "")} for r in kept]
    return evaluations


def check_resumable(experiment: ExperimentConfig) -> None:
    """For `resume`: fails early, with a clear message, when the run folder has no checkpoint of this run."""
    if not experiment.resume:
        return
    manifests = Checkpointer(os.path.join(experiment.run_dir, "checkpoints")).manifests()
    if not manifests:
        raise ValueError(f"Cannot resume {experiment.run_dir!r}: it has no checkpoints/ckpt-*.json "
                         "(was the run started with a run_dir, and did it get past its first checkpoint?).")
    check_checkpoint(manifests[0], experiment)


def load_resume_state(experiment: ExperimentConfig) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """For `resume`: the newest readable checkpoint's state and the evaluations logged up to it.

    Call it before any logger opens the run's CSV files: rows logged after
    the checkpoint are dropped, so the resumed run's rows continue the curve.
    """
    if not experiment.resume:
        return None, []
    check_resumable(experiment)
    state, manifest = Checkpointer(os.path.join(experiment.run_dir, "checkpoints")).latest()
    check_checkpoint(manifest, experiment)
    evaluations = trim_logs(experiment.run_dir, state["counter"].get("actor_steps", 0))
    print(f"[checkpoint] resuming {experiment.run_dir} from {manifest['file']} at actor step "
          f"{int(manifest['step']):,}", flush=True)
    return state, evaluations


class RunCheckpoints:
    """Saves a run's state every `checkpoint_every_minutes` of wall time, at the end and on interrupt."""

    def __init__(self, experiment: ExperimentConfig, learner: Learner, counter: Counter, policies: list[Any],
                 replay: Replay) -> None:
        self._experiment = experiment
        self._checkpointer = (Checkpointer(os.path.join(experiment.run_dir, "checkpoints"))
                              if experiment.run_dir is not None else None)
        self._parts = (learner, counter, policies, replay if experiment.checkpoint_replay else None)
        self._interval = experiment.checkpoint_every_minutes * 60.0
        self._last = time.monotonic()
        self.last_path: str | None = None

    def restore(self, state: Mapping[str, Any] | None) -> float:
        """Restores a resumed run's state (None: a fresh run); returns the train seconds so far."""
        if state is None:
            return 0.0
        if self._experiment.checkpoint_replay and "replay" not in state:
            print("[checkpoint] the checkpoint holds no replay: it refills before learning resumes.", flush=True)
        return restore_run_state(state, *self._parts)

    def due(self) -> bool:
        return self._interval > 0 and time.monotonic() - self._last >= self._interval

    def save(self, train_seconds: float) -> str | None:
        """Writes a checkpoint now (nothing without a run folder); returns its path."""
        if self._checkpointer is None:
            return None
        learner, counter, policies, replay = self._parts
        state = run_state(learner, counter, policies, replay, train_seconds)
        step = int(state["counter"].get("actor_steps", 0))
        self.last_path = self._checkpointer.save(state, step, checkpoint_metadata(self._experiment))
        self._last = time.monotonic()
        return self.last_path
