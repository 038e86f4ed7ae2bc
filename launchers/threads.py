"""The `threads` runner: actor threads, a learner thread and an evaluator thread around one replay.

Each actor thread steps its own batched environment and writes through its
own adder into the shared replay; the learner thread samples from it. The
replay's rate limiter paces both sides: actors wait while they are too far
ahead of the learner, the learner waits for data. Any thread's exception
stops every thread and is re-raised in the main thread, with its traceback.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable

import dm_env

from components.core import Actor
from components.counting import Counter
from components.environment_loop import EnvironmentLoop
from components.loggers import close_tensorboard
from components.specs import make_environment_spec
from launchers.experiment import ExperimentConfig
from launchers.nodes import (Evaluator, RunCheckpoints, acting_diagnostics, begin_run, describe_replay, make_actor,
                             make_environment, make_learner)
from launchers.run_folder import write_summary

# How long a waiting thread sleeps before it looks at the stop flag again.
POLL_SECONDS = 0.05
# How long the main thread waits for each thread to finish once the run stops.
JOIN_SECONDS = 30.0


class RunStopped(Exception):
    """Raised inside a node to leave its loop once the run is stopping."""


class NodeFailed(RuntimeError):
    """A node thread raised; the original exception (with its traceback) is the `__cause__`."""


class _Run:
    """The stop flag every thread watches, and the first error any of them raised."""

    def __init__(self) -> None:
        self.stop = threading.Event()
        self.error: tuple[str, BaseException] | None = None
        self._lock = threading.Lock()

    def fail(self, node: str, error: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = (node, error)
        self.stop.set()

    def check(self) -> None:
        if self.stop.is_set():
            raise RunStopped()

    def thread(self, name: str, body: Callable[[], None]) -> threading.Thread:
        def target() -> None:
            try:
                body()
            except RunStopped:
                pass
            except BaseException as error:  # noqa: BLE001 - every failure must reach the main thread.
                self.fail(name, error)

        return threading.Thread(target=target, name=name, daemon=True)


class PacedActor(Actor):
    """An actor that waits for the rate limiter before each step's writes and stops at the budget.

    `insert_lock` is shared by every actor of a run: waiting and writing happen
    under it, so two actors cannot both see room for one batch and overfill an
    on-policy queue.
    """

    def __init__(self, actor: Actor, rate_limiter, num_lanes: int, run: _Run, counter: Counter, num_steps: int,
                 insert_lock: threading.Lock) -> None:
        self._actor = actor
        self._limiter = rate_limiter
        self._lanes = num_lanes
        self._run = run
        self._counter = counter
        self._num_steps = num_steps
        self._insert_lock = insert_lock

    def select_action(self, observation):
        self._run.check()
        if self._counter.get("actor_steps") >= self._num_steps:
            raise RunStopped()
        return self._actor.select_action(observation)

    def observe_first(self, timestep: dm_env.TimeStep) -> None:
        with self._insert_lock:
            self._wait_for_room()
            self._actor.observe_first(timestep)

    def observe(self, action, next_timestep: dm_env.TimeStep) -> None:
        with self._insert_lock:
            self._wait_for_room()
            self._actor.observe(action, next_timestep)

    def _wait_for_room(self) -> None:
        wait_for_room(self._limiter, self._lanes, self._run.check)

    def update(self, wait: bool = False) -> None:
        self._actor.update(wait)


def wait_for_room(rate_limiter, num_items: int, check: Callable[[], None]) -> None:
    """Blocks until `rate_limiter` allows inserting `num_items`, calling `check` (which may raise) meanwhile."""
    while not rate_limiter.await_insert(num_items, timeout=POLL_SECONDS):
        check()


def _learn(learner, rate_limiter, batch_size: int, run: _Run) -> None:
    while True:
        run.check()
        if rate_limiter.await_sample(batch_size, timeout=POLL_SECONDS):
            learner.step()


def run_threads(experiment: ExperimentConfig) -> dict[str, Any]:
    """Trains with `experiment.num_actors` actor threads until `num_steps` actor steps; returns the summary.

    Evaluations run in their own thread every `eval_every` actor steps (as the
    counter sees them), and once more after every thread has stopped. The main
    thread writes checkpoints every `checkpoint_every_minutes`, at the end and
    after Ctrl-C, once every thread has stopped.
    """
    start = time.perf_counter()
    begun = begin_run(experiment)
    device, progress, logger_factory = begun.device, begun.progress, begun.logger_factory
    resumed_state, evaluations = begun.resumed_state, begun.evaluations
    counter = Counter()
    run = _Run()
    num_actors = experiment.num_actors
    environments = []
    evaluator = None
    threads: list[threading.Thread] = []
    interrupted = False
    try:
        # Actor i's lanes are seeded from seed + i * num_envs, so no two lanes share a seed.
        for i in range(num_actors):
            environments.append(make_environment(experiment, experiment.seed + i * experiment.num_envs))
        spec = make_environment_spec(environments[0])
        builder = experiment.builder
        replay = builder.make_replay(spec, experiment.seed, num_lanes=experiment.num_envs * num_actors)
        print(f"[replay] {describe_replay(replay)}", flush=True)
        learner = make_learner(experiment, spec, replay, device, counter, logger_factory("learner"))
        batch_size = builder.learner_batch_size(experiment.num_envs)
        insert_lock = threading.Lock()
        actors, policies = [], []
        for i, environment in enumerate(environments):
            # A frame replay keeps per-lane state: each actor writes to its own range of lanes.
            share = (replay.for_lanes(i * experiment.num_envs, experiment.num_envs)
                     if hasattr(replay, "for_lanes") else replay)
            actor, policy = make_actor(experiment, spec, share, learner, experiment.seed + 1_000 * i, counter)
            actors.append(actor)
            policies.append(policy)
            paced = PacedActor(actor, replay.rate_limiter, experiment.num_envs, run, counter, experiment.num_steps,
                               insert_lock)
            loop = EnvironmentLoop(environment, paced, Counter(counter, "actor"),
                                   logger_factory("train" if num_actors == 1 else f"train_actor{i}"))
            threads.append(run.thread(f"actor_{i}", lambda loop=loop: _act(loop, run)))
        threads.append(run.thread("learner", lambda: _learn(learner, replay.rate_limiter, batch_size, run)))
        checkpoints = RunCheckpoints(experiment, learner, counter, policies, replay)
        seconds_before = checkpoints.restore(resumed_state)
        for actor in actors:
            actor.update(wait=True)  # Act with the restored weights.

        evaluator = Evaluator(experiment, spec, learner, counter, logger_factory("eval"),
                              lambda: acting_diagnostics(replay, policies[0]))
        threads.append(run.thread("evaluator", lambda: _evaluate_periodically(
            evaluator, experiment, counter, run, lambda: seconds_before + time.perf_counter() - train_start,
            evaluations)))

        train_start = time.perf_counter()
        for thread in threads:
            thread.start()
        try:
            _wait_for_actors(threads[:num_actors], run, checkpoints,
                             lambda: seconds_before + time.perf_counter() - train_start)
        except KeyboardInterrupt:
            print("[threads] interrupted: stopping every thread.", flush=True)
            interrupted = True
        train_seconds = seconds_before + time.perf_counter() - train_start
    finally:
        run.stop.set()
        stuck = [t.name for t in threads if _join(t, None if t.name == "evaluator" else JOIN_SECONDS)]
        for environment in environments:
            environment.close()
        progress.close()
    if run.error is not None:
        node, error = run.error
        close_tensorboard(experiment.run_dir)
        if evaluator is not None:
            evaluator.close()
        raise NodeFailed(f"The {node} thread failed, which stopped the run: {type(error).__name__}: {error}") \
            from error
    if stuck:
        print(f"[threads] warning: {stuck} did not stop within {JOIN_SECONDS:.0f} s.", flush=True)
    try:
        if interrupted:
            path = checkpoints.save(train_seconds)
            print(f"[threads] checkpoint written: {path}", flush=True)
            raise KeyboardInterrupt
        if not evaluations or evaluations[-1].get("actor_steps", 0) < counter.get("actor_steps"):
            evaluations.append(evaluator.evaluate(train_seconds))
        checkpoints.save(train_seconds)
        evaluator.write_artifacts()
    finally:
        evaluator.close()
        close_tensorboard(experiment.run_dir)
    return write_summary(experiment, evaluations, counter, train_seconds, time.perf_counter() - start, device,
                         launch="threads", num_actors=num_actors)


def _act(loop: EnvironmentLoop, run: _Run) -> None:
    while True:
        loop.run(num_steps=10_000)
        run.check()


def _evaluate_periodically(evaluator: Evaluator, experiment: ExperimentConfig, counter: Counter, run: _Run,
                           train_seconds: Callable[[], float], evaluations: list[dict[str, Any]]) -> None:
    """Evaluates each time the actors pass another `eval_every` steps; stops the run at `stop_at_return`."""
    if not experiment.eval_every:
        return
    next_eval = (int(counter.get("actor_steps")) // experiment.eval_every + 1) * experiment.eval_every
    while next_eval < experiment.num_steps:
        while counter.get("actor_steps") < next_eval:
            run.check()
            time.sleep(POLL_SECONDS)
        evaluations.append(evaluator.evaluate(train_seconds()))
        next_eval += experiment.eval_every
        target = experiment.stop_at_return
        if target is not None and evaluations[-1]["eval_return_mean"] >= target:
            run.stop.set()
            return


def _wait_for_actors(actors: list[threading.Thread], run: _Run, checkpoints: RunCheckpoints,
                     train_seconds: Callable[[], float]) -> None:
    """Returns when every actor thread has finished (budget spent) or the run was stopped; checkpoints
    meanwhile when they are due."""
    while any(t.is_alive() for t in actors) and not run.stop.is_set():
        run.stop.wait(POLL_SECONDS)
        if checkpoints.due():
            checkpoints.save(train_seconds())


def _join(thread: threading.Thread, timeout: float | None) -> bool:
    """Joins a started thread; True if it is still running after `timeout` seconds.

    The evaluator is always waited for (it finishes its episodes), so the final
    evaluation never runs beside it.
    """
    if thread.ident is None:
        return False
    thread.join(timeout)
    return thread.is_alive()
