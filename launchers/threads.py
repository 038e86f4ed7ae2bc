"""The `threads` runner: actor threads and a learner thread around one replay; the driver evaluates.

Each actor thread steps its own batched environment and writes through its
own adder into the shared replay; the learner thread samples from it. The
replay's rate limiter paces both sides: actors wait while they are too far
ahead of the learner, the learner waits for data. Any thread's exception
stops every thread and is raised in the main thread as `NodeFailed`, with the
thread's own traceback as its cause.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Mapping

from components.counting import Counter
from components.forwarding import POLL_SECONDS, WaitingSampler
from launchers.evaluator import Evaluator
from launchers.experiment import ExperimentConfig
from launchers.nodes import ActorNode, LearnerNode, ReplayNode, acting_diagnostics, environment_spec, make_learner
from components.core import RunStopped
from launchers.run import NodeFailed, Nodes, Run
from launchers.run_state import components_state, restore_components

# How long `stop` waits for each thread to finish.
JOIN_SECONDS = 30.0
# The longest `advance` waits before handing back to the driver (its checkpoint clock).
ADVANCE_SECONDS = 1.0


class Stop:
    """The stop flag every thread watches, and the first error any of them raised."""

    def __init__(self) -> None:
        self.event = threading.Event()
        self.error: tuple[str, BaseException] | None = None
        self._lock = threading.Lock()

    def fail(self, node: str, error: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = (node, error)
        self.event.set()

    def check(self) -> None:
        if self.event.is_set():
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

    def raise_failure(self) -> None:
        if self.error is not None:
            node, error = self.error
            raise NodeFailed(f"The {node} thread failed, which stopped the run: {type(error).__name__}: {error}") \
                from error


class ThreadNodes(Nodes):
    """`num_actors` actor threads and a learner thread in this process; the driver's thread evaluates."""

    concurrent_evaluation = True

    def __init__(self, run: Run) -> None:
        experiment, loggers = run.experiment, run.loggers
        self._stop, self._counter = Stop(), Counter()
        self._num_actors = experiment.num_actors
        self._actors: list[ActorNode] = []
        try:
            spec = environment_spec(experiment)
            self._replay = ReplayNode(experiment, spec)
            print(f"[replay] {self._replay.describe()}", flush=True)
            self._learner = LearnerNode(make_learner(
                experiment, spec, WaitingSampler(self._replay.sample, lambda: self._learner.stopping(),
                                                 self._replay.update_priorities),
                run.device, self._counter, loggers("learner")))
            self._threads = []
            for i in range(self._num_actors):
                node = ActorNode(experiment, spec, i, self._replay.adder(i), self._learner.learner, self._counter,
                                 loggers("train" if self._num_actors == 1 else f"train_actor{i}"))
                self._actors.append(node)
                self._threads.append(self._stop.thread(f"actor_{i}", node.run))
            self._threads.append(self._stop.thread("learner", self._learner.run))
            self._evaluator = Evaluator(experiment, spec, self._learner.learner, self._counter, loggers("eval"),
                                        lambda: acting_diagnostics(self._replay.replay, self._actors[0].policy))
        except BaseException:
            for node in self._actors:
                node.close()
            raise

    def counts(self) -> dict[str, float]:
        return self._counter.get_counts()

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    def advance(self, target_steps: int) -> None:
        deadline = time.monotonic() + ADVANCE_SECONDS
        actors = self._threads[:self._num_actors]
        while (self.actor_steps() < target_steps and any(t.is_alive() for t in actors)
               and not self._stop.event.is_set() and time.monotonic() < deadline):
            self._stop.event.wait(POLL_SECONDS)
        if self._stop.error is not None:
            self.stop()

    def evaluate(self, train_seconds: float) -> dict[str, Any]:
        return self._evaluator.evaluate(train_seconds)

    def get_state(self, with_replay: bool) -> dict[str, Any]:
        return components_state(self._learner.learner, self._counter, [a.policy for a in self._actors],
                                self._replay.replay, with_replay)

    def set_state(self, state: Mapping[str, Any] | None) -> None:
        if state is not None:
            restore_components(state, self._learner.learner, self._counter, [a.policy for a in self._actors],
                               self._replay.replay)
        for node in self._actors:
            node.restore_policy(None)  # Act with the (restored) learner's weights.

    def stop(self) -> None:
        """Stops and joins every thread; raises `NodeFailed` when one of them failed."""
        self._stop.event.set()
        for node in (*self._actors, self._replay, self._learner):
            node.stop()
        for thread in self._threads:
            if thread.ident is not None:  # Started.
                thread.join(JOIN_SECONDS)
        stuck = [t.name for t in self._threads if t.is_alive()]
        if stuck:
            print(f"[threads] warning: {stuck} did not stop within {JOIN_SECONDS:.0f} s.", flush=True)
        self._stop.raise_failure()

    def write_artifacts(self) -> None:
        self._evaluator.write_artifacts()

    def close(self) -> None:
        self._stop.event.set()
        for node in (*self._actors, self._replay, self._learner):
            node.stop()
        for thread in self._threads:
            if thread.ident is not None and thread.is_alive():
                thread.join(JOIN_SECONDS)
        try:
            self._evaluator.close()
        finally:
            for node in self._actors:
                node.close()

    def summary(self) -> dict[str, Any]:
        return {"launch": "threads", "num_actors": self._num_actors}



def run_threads(experiment: ExperimentConfig,
                on_evaluation: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
    """Trains with `experiment.num_actors` actor threads until `num_steps` actor steps; returns the summary."""
    return Run(experiment).drive(ThreadNodes, on_evaluation)
