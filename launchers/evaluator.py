"""The evaluator node: greedy episodes with the learner's latest weights, one row per evaluation."""

from __future__ import annotations

from typing import Any, Callable

import dm_env
import numpy as np
import tree

from components.core import Actor, VariableSource
from components.counting import Counter
from components.environment_loop import EnvironmentLoop
from components.loggers import Logger
from launchers.artifacts import VideoRecorder, write_curves, write_diagnostics
from launchers.experiment import ExperimentConfig
from launchers.nodes import make_networks


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

    def __init__(self, experiment: ExperimentConfig, spec, learner: VariableSource, counter: Counter, logger: Logger,
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
