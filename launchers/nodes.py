"""The nodes every runner wires (learner, actors, evaluator) and the run folder they share.

`local`, `threads` and `ray` differ only in where these nodes run and how they
wait for each other; what each node is comes from the experiment's builder here.
"""

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

from components.core import Actor, Learner, Replay, batch_iterator
from components.counting import Counter
from components.environment_loop import EnvironmentLoop
from components.loggers import Logger
from environments.registry import make_lanes
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


def acting_diagnostics(replay: Replay, policy: Any) -> dict[str, Any]:
    """What evaluation rows report about acting: the replay's size and the behaviour epsilon (if any)."""
    epsilon = getattr(policy, "epsilon", None)
    return {"replay_size": replay.size(), **({"epsilon": float(epsilon)} if epsilon is not None else {})}


def make_networks(experiment: ExperimentConfig, spec):
    factory = experiment.network_factory or experiment.builder.make_networks
    return factory(spec)


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
    return builder.make_learner(networks, batch_iterator(replay, batch_size), spec, device,
                                Counter(counter, "learner"), logger, experiment.seed, **extra)


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
        json.dump(dict(experiment.declaration), f, indent=2, sort_keys=True, default=str)


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
