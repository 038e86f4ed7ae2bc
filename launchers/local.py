"""The `local` runner: one process, acting and learning interleaved by the rate limiter."""

from __future__ import annotations

import time
from typing import Any

import dm_env
import torch

from components.core import Actor, Learner
from components.counting import Counter
from components.environment_loop import EnvironmentLoop
from components.loggers import close_tensorboard
from components.rate_limiters import RateLimiter
from components.specs import make_environment_spec
from launchers.experiment import ExperimentConfig
from launchers.nodes import (Evaluator, RunCheckpoints, acting_diagnostics, begin_run, describe_replay, make_actor,
                             make_environment, make_learner)
from launchers.run_folder import write_summary

# Actor steps between looks at the checkpoint clock.
CHECK_STEPS = 2_000


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


def _train(experiment: ExperimentConfig, environment, device: torch.device, counter: Counter,
           logger_factory, resumed: tuple[dict[str, Any] | None, list[dict[str, Any]]]
           ) -> tuple[list[dict[str, Any]], float, float]:
    """Builds the agent around `environment` and runs the train/evaluate/checkpoint cycle.

    Returns the evaluations, the training seconds (wall clock, carried over a resume) and the
    CPU seconds this process spent in the training loop in this invocation (unlike wall time,
    CPU time does not count the time other processes, or a VM's neighbours, took the core).
    """
    builder = experiment.builder
    spec = make_environment_spec(environment)
    replay = builder.make_replay(spec, experiment.seed, num_lanes=experiment.num_envs)
    print(f"[replay] {describe_replay(replay)}", flush=True)
    learner = make_learner(experiment, spec, replay, device, counter, logger_factory("learner"))
    actor, policy = make_actor(experiment, spec, replay, learner, experiment.seed, counter)
    batch_size = builder.learner_batch_size(experiment.num_envs)
    learning_actor = LearningActor(actor, learner, replay.rate_limiter, batch_size, experiment.learn_every)
    train_loop = EnvironmentLoop(environment, learning_actor,
                                 Counter(counter, "actor"), logger_factory("train"))
    evaluator = Evaluator(experiment, spec, learner, counter, logger_factory("eval"),
                          lambda: acting_diagnostics(replay, policy))
    checkpoints = RunCheckpoints(experiment, learner, counter, [policy], replay)
    state, evaluations = resumed
    train_seconds = checkpoints.restore(state)
    actor.update(wait=True)  # Act with the restored weights.

    train_cpu_seconds = 0.0
    eval_every = experiment.eval_every or experiment.num_steps
    next_eval = (int(counter.get("actor_steps")) // eval_every + 1) * eval_every
    try:
        while (done := int(counter.get("actor_steps"))) < experiment.num_steps:
            train_start, cpu_start = time.perf_counter(), time.process_time()
            target_steps = min(next_eval, experiment.num_steps)
            train_loop.run(num_steps=min(target_steps - done, CHECK_STEPS))
            train_seconds += time.perf_counter() - train_start
            train_cpu_seconds += time.process_time() - cpu_start
            done = int(counter.get("actor_steps"))
            if done >= target_steps:
                evaluations.append(evaluator.evaluate(train_seconds))
                next_eval += eval_every
                target = experiment.stop_at_return
                if target is not None and evaluations[-1]["eval_return_mean"] >= target:
                    break
            if checkpoints.due():
                checkpoints.save(train_seconds)
        if not evaluations:  # A resumed run that had already spent its budget.
            evaluations.append(evaluator.evaluate(train_seconds))
        checkpoints.save(train_seconds)
        evaluator.write_artifacts()
    except KeyboardInterrupt:
        checkpoints.save(train_seconds)
        raise
    finally:
        evaluator.close()
    return evaluations, train_seconds, train_cpu_seconds


def run_local(experiment: ExperimentConfig) -> dict[str, Any]:
    """Trains until `num_steps` actor steps, evaluating every `eval_every`; returns the summary."""
    start = time.perf_counter()
    run = begin_run(experiment)
    device, progress, logger_factory = run.device, run.progress, run.logger_factory
    resumed = (run.resumed_state, run.evaluations)
    counter = Counter()
    environment = make_environment(experiment, experiment.seed)
    try:
        evaluations, train_seconds, train_cpu_seconds = _train(experiment, environment, device, counter,
                                                               logger_factory, resumed)
    finally:  # Worker processes and log files must not outlive a failed run.
        environment.close()
        progress.close()
        close_tensorboard(experiment.run_dir)
    return write_summary(experiment, evaluations, counter, train_seconds, time.perf_counter() - start, device,
                         train_cpu_seconds=round(train_cpu_seconds, 3))
