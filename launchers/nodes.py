"""The nodes every runner wires (learner, actors, evaluator) and the run folder they share.

`local`, `threads` and `ray` differ only in where these nodes run and how they
wait for each other; what each node is comes from the experiment's builder here.
"""

from __future__ import annotations

import dataclasses
import inspect
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
from launchers.run_folder import checkpoint_metadata, load_resume_state, prepare_run_dir


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

    A row carries the run's counters (`eval_episodes` and `eval_steps` count every evaluation
    so far, as in every CSV), the return statistics over this evaluation's `eval_return_count`
    episodes, `eval_raw_score_*` when the
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
        returns = np.asarray(self._run_episodes())
        row = {**self._counter.get_counts(), "train_seconds": train_seconds,
               "eval_return_mean": float(returns.mean()),
               "eval_return_std": float(returns.std()), "eval_return_min": float(returns.min()),
               "eval_return_max": float(returns.max()), "eval_return_count": len(returns)}
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

    def _run_episodes(self) -> list[float]:
        """`eval_episodes` returns; an episode that reaches `eval_max_steps` is cut there (with a warning)
        and counts with its return so far, so an environment without a time limit cannot hang a run."""
        limit, returns, warned = self._experiment.eval_max_steps, [], False
        while len(returns) < self._episodes:
            longest = int(self._loop.episode_lengths.max())
            chunk = limit - longest if warned or longest >= limit // 2 else limit // 2 - longest
            returns += self._loop.run(num_episodes=self._episodes - len(returns), num_steps=max(chunk, 1))
            lengths = self._loop.episode_lengths
            if len(returns) >= self._episodes:
                break
            if lengths.max() >= limit:
                lane = int(lengths.argmax())
                returns.append(float(self._loop.episode_returns[lane]))
                print(f"[eval] warning: an evaluation episode reached eval_max_steps={limit:,} without ending; it "
                      "was cut there and counts with its return so far. Does the environment have a time limit? "
                      "(--eval_max_steps changes the cut.)", flush=True)
                self._loop.reset()
                warned = False
            elif not warned and lengths.max() >= limit // 2:
                print(f"[eval] warning: an evaluation episode is still running after {int(lengths.max()):,} steps; "
                      f"it will be cut at eval_max_steps={limit:,}.", flush=True)
                warned = True
        return returns[:self._episodes]

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
    # TensorBoard hides events at and after its purge step; the CSVs keep rows up to the resumed step, so
    # the purge starts one step later (the evaluation written with the checkpoint stays, as in eval.csv).
    purge_step = None if resumed_step is None else int(resumed_step) + 1
    return make_logger_factory(experiment.run_dir, experiment.log_interval, always_print=always_print,
                               append=experiment.resume, tensorboard=experiment.tensorboard,
                               tensorboard_purge_step=purge_step, progress=progress,
                               score_key=experiment.score_key)


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
    resumed_step = int(state["counter"].get("actor_steps", 0)) if state else None
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


def make_actor(experiment: ExperimentConfig, spec, replay: Replay, learner, seed: int, counter: Counter,
               variable_update_period: int | None = None) -> tuple[Actor, Any]:
    """An acting node's actor (writing into `replay`, pulling weights from `learner`) and its policy,
    whose exploration schedule follows `counter`'s actor steps."""
    builder = experiment.builder
    networks = make_networks(experiment, spec)
    policy = builder.make_policy(networks, spec, evaluation=False, seed=seed,
                                 actor_steps=lambda: counter.get("actor_steps"))
    period = variable_update_period or builder.config.variable_update_period
    return builder.make_actor(policy, builder.make_adder(replay), learner, networks, period), policy


def run_state(learner: Learner, counter: Counter, policies: list[Any], replay: Replay,
              train_seconds: float, with_replay: bool) -> dict[str, Any]:
    """Everything a resumed run needs: learner (networks, optimizer, schedules' step), counts, the
    behaviour policies' state (e.g. epsilon's step and exploration RNG), global RNGs, the replay's
    schedule state (e.g. its max priority) and, `with_replay`, the replay's items with its rate limiter."""
    state = {
        "learner": learner.save(),
        "counter": counter.save(),
        "policies": [p.save() if hasattr(p, "save") else None for p in policies],
        "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()},
        "train_seconds": train_seconds,
        "replay_schedule": dict(replay.schedule_state()),
    }
    if with_replay:
        state["replay"] = replay.save()
        limiter = getattr(replay, "rate_limiter", None)
        if limiter is not None and hasattr(limiter, "save"):
            state["rate_limiter"] = limiter.save()
    return state


def restore_run_state(state: Mapping[str, Any], learner: Learner, counter: Counter, policies: list[Any],
                      replay: Replay) -> float:
    """Restores what `run_state` saved (the replay's items only if they were saved); returns the train
    seconds so far."""
    learner.restore(state["learner"])
    counter.restore(state["counter"])
    for policy, saved in zip(policies, state["policies"]):
        if saved is not None and hasattr(policy, "restore"):
            policy.restore(saved)
    torch.set_rng_state(state["rng"]["torch"])
    np.random.set_state(state["rng"]["numpy"])
    random.setstate(state["rng"]["python"])
    if "replay" in state:
        replay.restore(state["replay"])
        if "rate_limiter" in state:
            replay.rate_limiter.restore(state["rate_limiter"])
    replay.restore_schedule_state(state.get("replay_schedule", {}))
    return float(state.get("train_seconds", 0.0))


class RunCheckpoints:
    """Saves a run's state every `checkpoint_every_minutes` of wall time, at the end and on interrupt."""

    def __init__(self, experiment: ExperimentConfig, learner: Learner, counter: Counter, policies: list[Any],
                 replay: Replay) -> None:
        self._experiment = experiment
        self._checkpointer = (Checkpointer(os.path.join(experiment.run_dir, "checkpoints"))
                              if experiment.run_dir is not None else None)
        self._parts = (learner, counter, policies, replay)
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
        state = run_state(learner, counter, policies, replay, train_seconds, self._experiment.checkpoint_replay)
        step = int(state["counter"].get("actor_steps", 0))
        self.last_path = self._checkpointer.save(state, step, checkpoint_metadata(self._experiment))
        self._last = time.monotonic()
        return self.last_path
