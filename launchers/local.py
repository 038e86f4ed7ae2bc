"""The `local` runner: one process, acting and learning interleaved by the rate limiter."""

from __future__ import annotations

import inspect
import json
import os
import time
from typing import Any, Callable

import dm_env
import numpy as np
import torch
import tree

from components.core import Actor, Learner, batch_iterator
from components.counting import Counter
from components.devices import resolve_device
from components.environment_loop import EnvironmentLoop
from components.loggers import Logger, make_logger_factory
from components.rate_limiters import RateLimiter
from components.specs import make_environment_spec
from environments.registry import make_lanes
from launchers.experiment import ExperimentConfig


class LearningActor(Actor):
    """Wraps an actor so that its `update` also runs every learner step the rate limiter allows.

    With `learn_every` > 1 the learner runs only on every `learn_every`-th
    update, catching up in one burst (like SB3's train_freq): the same number
    of learner steps, with staler data but warmer caches, which is faster on a CPU.
    """

    def __init__(self, actor: Actor, learner: Learner, rate_limiter: RateLimiter, batch_size: int,
                 learn_every: int = 1) -> None:
        self._actor = actor
        self._learner = learner
        self._limiter = rate_limiter
        self._batch_size = batch_size
        self._learn_every = learn_every
        self._updates = 0

    def select_action(self, observation):
        return self._actor.select_action(observation)

    def observe_first(self, timestep: dm_env.TimeStep) -> None:
        self._actor.observe_first(timestep)

    def observe(self, action, next_timestep: dm_env.TimeStep) -> None:
        self._actor.observe(action, next_timestep)

    def update(self, wait: bool = False) -> None:
        self._updates += 1
        stepped = False
        while self._updates % self._learn_every == 0 and self._limiter.can_sample(self._batch_size):
            self._learner.step()
            stepped = True
        if stepped or wait:
            self._actor.update(wait)


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
        self._networks = _make_networks(experiment, spec)
        policy = builder.make_policy(self._networks, spec, evaluation=True, seed=seed)
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
        return row


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


def _make_networks(experiment: ExperimentConfig, spec):
    factory = experiment.network_factory or experiment.builder.make_networks
    return factory(spec)


def _train(experiment: ExperimentConfig, environment, device: torch.device, counter: Counter,
           logger_factory) -> tuple[list[dict[str, Any]], float]:
    """Builds the agent around `environment` and runs the train/evaluate cycle."""
    builder = experiment.builder
    spec = make_environment_spec(environment)
    replay = builder.make_replay(spec, experiment.seed, num_lanes=experiment.num_envs)
    print(f"[replay] {describe_replay(replay)}", flush=True)
    learner_networks = {name: net.to(device) for name, net in _make_networks(experiment, spec).items()}
    batch_size = builder.learner_batch_size(experiment.num_envs)
    # Builders written before make_learner took `replay` keep working without it.
    extra = {"replay": replay} if _accepts(builder.make_learner, "replay") else {}
    learner = builder.make_learner(learner_networks, batch_iterator(replay, batch_size), spec, device,
                                   Counter(counter, "learner"), logger_factory("learner"), experiment.seed,
                                   **extra)
    actor_networks = _make_networks(experiment, spec)
    policy = builder.make_policy(actor_networks, spec, evaluation=False, seed=experiment.seed)
    actor = builder.make_actor(policy, builder.make_adder(replay), learner, actor_networks,
                               builder.config.variable_update_period)
    learning_actor = LearningActor(actor, learner, replay.rate_limiter, batch_size, experiment.learn_every)
    train_loop = EnvironmentLoop(environment, learning_actor,
                                 Counter(counter, "actor"), logger_factory("train"))
    def diagnostics() -> dict[str, Any]:
        epsilon = getattr(policy, "epsilon", None)
        return {"replay_size": replay.size(), **({"epsilon": float(epsilon)} if epsilon is not None else {})}

    evaluator = Evaluator(experiment, spec, learner, counter, logger_factory("eval"), diagnostics)

    evaluations: list[dict[str, Any]] = []
    eval_every = experiment.eval_every or experiment.num_steps
    train_seconds = 0.0
    try:
        while (done := counter.get("actor_steps")) < experiment.num_steps:
            train_start = time.perf_counter()
            train_loop.run(num_steps=min(eval_every, experiment.num_steps - int(done)))
            train_seconds += time.perf_counter() - train_start
            evaluations.append(evaluator.evaluate(train_seconds))
            target = experiment.stop_at_return
            if target is not None and evaluations[-1]["eval_return_mean"] >= target:
                break
    finally:
        evaluator.close()
    return evaluations, train_seconds


def run_local(experiment: ExperimentConfig) -> dict[str, Any]:
    """Trains until `num_steps` actor steps, evaluating every `eval_every`; returns the summary."""
    start = time.perf_counter()
    torch.manual_seed(experiment.seed)
    if experiment.torch_threads is not None:
        torch.set_num_threads(experiment.torch_threads)
    device = resolve_device(experiment.device)
    run_dir = experiment.run_dir
    if run_dir is not None:
        os.makedirs(run_dir, exist_ok=True)
        with open(os.path.join(run_dir, "config.json"), "w") as f:
            json.dump(dict(experiment.declaration), f, indent=2, sort_keys=True, default=str)
    logger_factory = make_logger_factory(run_dir, experiment.log_interval, always_print=("eval",))
    counter = Counter()

    if experiment.batched_environment_factory is not None:
        environment = experiment.batched_environment_factory(experiment.num_envs, experiment.seed)
    else:
        environment = make_lanes(experiment.environment_factory, experiment.num_envs, experiment.seed,
                                 experiment.env_backend)
    try:
        evaluations, train_seconds = _train(experiment, environment, device, counter, logger_factory)
    finally:  # Worker processes and log files must not outlive a failed run.
        environment.close()

    counts = counter.get_counts()
    summary = {
        "final_eval_return": evaluations[-1]["eval_return_mean"],
        "best_eval_return": max(e["eval_return_mean"] for e in evaluations),
        "actor_steps": int(counts.get("actor_steps", 0)),
        "actor_episodes": int(counts.get("actor_episodes", 0)),
        "learner_steps": int(counts.get("learner_steps", 0)),
        "wall_seconds": round(time.perf_counter() - start, 3),
        "train_seconds": round(train_seconds, 3),
        "evaluations": [[int(e.get("actor_steps", 0)), e["eval_return_mean"], round(e["train_seconds"], 3)]
                        for e in evaluations],
        "device": str(device),
        "run_dir": run_dir,
    }
    if run_dir is not None:
        with open(os.path.join(run_dir, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
    return summary
