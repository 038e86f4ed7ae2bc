"""The `ray` runner: the run's nodes (replay, counter, learner, actors, evaluator) as Ray actors.

The declaration, the agent and the run driver are those of `local` and
`threads`; only the transport differs. Actor nodes send their adder calls in
batches of `SYNC_STEPS` steps to the replay node, which runs one adder per
actor and waits for the rate limiter before each write, so a fast actor is
held back by its own call. The learner node samples from the replay node and
serves weights, which actors pull at most once per batch. Counts live in a
counter node, to which each node adds in batches. Ray restarts an actor node
that dies (at most `MAX_ACTOR_RESTARTS` times each) and the run goes on; a
learner node that dies ends the run.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
import tempfile
import time
from typing import Any, Callable, Mapping

import numpy as np
import tree

from components.counting import BatchedCounter, Counter
from components.core import VariableSource
from components.devices import resolve_device
from components.forwarding import POLL_SECONDS, ForwardingAdder, WaitingSampler
from launchers.evaluator import Evaluator
from launchers.experiment import ExperimentConfig
from launchers.nodes import ActorNode, LearnerNode, ReplayNode, environment_spec, make_learner
from launchers.run import NodeFailed, Nodes, Run, make_run_logger_factory, seed_process
from launchers.threads import ADVANCE_SECONDS

SYNC_STEPS = 16  # Actor steps between an actor's batches of adder calls (and its chances to pull weights).
COUNT_SECONDS = 0.25  # Seconds between a node's count updates to the counter node.
MAX_ACTOR_RESTARTS = 3


def _ray():
    try:
        import ray
    except ImportError:
        raise ImportError("--launch=ray needs Ray: pip install -e '.[distributed]' (or pip install 'ray>=2.9').") \
            from None
    return ray


def _synced_counter(counter_node: Any) -> BatchedCounter:
    """This node's view of the counter node (increments sent every COUNT_SECONDS)."""
    return BatchedCounter(lambda increments: _ray().get(counter_node.add.remote(increments)), COUNT_SECONDS)


class RemoteVariableSource(VariableSource):
    """The learner node's weights, through Ray's object store."""

    def __init__(self, learner_node: Any) -> None:
        self._node = learner_node

    def get_variables(self, names):
        return _ray().get(self._node.get_variables.remote(list(names)))


class CounterNode(Counter):
    def add(self, counts: Mapping[str, float]) -> dict[str, float]:
        return self._add(dict(counts)) if counts else self.get_counts()


def _copy(batch: Any) -> Any:
    return None if batch is None else tree.map_structure(np.array, batch)


class RemoteLearnerNode(LearnerNode):
    """The learner node in its own process: it samples from the replay node and counts into the counter node."""

    def __init__(self, experiment: ExperimentConfig, spec: Any, replay_node: Any, counter_node: Any,
                 resumed_step: int | None) -> None:
        seed_process(experiment, flush_denormals=True)
        self._counter = _synced_counter(counter_node)
        self._loggers = make_run_logger_factory(experiment, resumed_step=resumed_step)
        logger = self._loggers("learner")
        # Arrays from the object store are read-only: the learner gets its own copy, as locally.
        batches = WaitingSampler(lambda size: _copy(_ray().get(replay_node.sample.remote(size))),
                                 lambda: self.stopping(),  # Asked when sampling, after __init__ below.
                                 lambda keys, priorities: replay_node.update_priorities.remote(keys, priorities))
        super().__init__(make_learner(experiment, spec, batches, resolve_device(experiment.device), self._counter,
                                      logger))

    def run(self) -> None:
        try:
            super().run()
        finally:
            self._counter.flush()
            self._loggers.close()


class RemoteActorNode(ActorNode):
    """An actor node in its own process, writing through a ForwardingAdder (built again when Ray restarts it)."""

    def __init__(self, experiment: ExperimentConfig, spec: Any, actor_id: int, replay_node: Any,
                 learner_node: Any, counter_node: Any, resumed_step: int | None) -> None:
        seed_process(experiment, flush_denormals=True)
        counter = _synced_counter(counter_node)
        self._loggers = make_run_logger_factory(experiment, resumed_step=resumed_step)
        adder = ForwardingAdder(lambda calls: _ray().get(replay_node.add_calls.remote(actor_id, calls)),
                                lambda: _ray().get(replay_node.reset_actor.remote(actor_id)))
        adder.reset()  # A restarted actor starts its lanes afresh.
        label = "train" if experiment.num_actors == 1 else f"train_actor{actor_id}"
        super().__init__(experiment, spec, actor_id, adder, RemoteVariableSource(learner_node), counter,
                         self._loggers(label),
                         SYNC_STEPS * experiment.num_envs, max(experiment.builder.config.variable_update_period,
                                                                SYNC_STEPS))

    def run(self) -> None:
        super().run()
        self._counter.flush()

    def close(self) -> None:
        super().close()
        self._loggers.close()


class EvaluatorNode(Evaluator):
    """The evaluator, in its own process, with its own loggers."""

    def __init__(self, experiment: ExperimentConfig, spec: Any, learner_node: Any, counter_node: Any,
                 replay_node: Any, resumed_step: int | None) -> None:
        seed_process(experiment, flush_denormals=True)
        self._loggers = make_run_logger_factory(experiment, resumed_step=resumed_step)
        super().__init__(experiment, spec, RemoteVariableSource(learner_node), _synced_counter(counter_node),
                         self._loggers("eval"),
                         lambda: {"replay_size": _ray().get(replay_node.size.remote())})

    def close(self) -> None:
        super().close()
        self._loggers.close()


class RayNodes(Nodes):
    """The nodes as Ray actors; the driver evaluates through the evaluator node while training goes on."""

    concurrent_evaluation = True

    def __init__(self, run: Run, on_start: Callable[[dict[str, Any]], None] | None) -> None:
        ray, experiment, step = _ray(), run.experiment, run.resumed_step
        self._ray, self._on_start, n = ray, on_start, experiment.num_actors
        spec = environment_spec(experiment)
        resources = ray.cluster_resources()
        self._gpus = 1 if resources.get("GPU", 0) >= 1 and experiment.device != "cpu" else 0
        cpus = min(1.0, resources.get("CPU", 1) / (n + 1))  # Actors and learner share the CPUs; the rest take none.
        counter = ray.remote(CounterNode).options(num_cpus=0, max_concurrency=8).remote()
        self._replay = ray.remote(ReplayNode).options(num_cpus=0, max_concurrency=n + 4).remote(experiment, spec)
        print(f"[replay] {ray.get(self._replay.describe.remote())}", flush=True)
        self._learner = ray.remote(RemoteLearnerNode).options(num_cpus=cpus, num_gpus=self._gpus, max_concurrency=4).remote(
            experiment, spec, self._replay, counter, step)
        actor = ray.remote(RemoteActorNode).options(num_cpus=cpus, max_restarts=MAX_ACTOR_RESTARTS, max_concurrency=2)
        self._actors = [actor.remote(experiment, spec, i, self._replay, self._learner, counter, step) for i in range(n)]
        self._evaluator = ray.remote(EvaluatorNode).options(num_cpus=0).remote(
            experiment, spec, self._learner, counter, self._replay, step)
        self._counter, self._counts, self._restarts, self._runs = counter, _synced_counter(counter), [0] * n, {}
        self._learner_run = None

    def counts(self) -> dict[str, float]:
        return self._counts.get_counts()

    def start(self) -> None:
        self._learner_run = self._learner.run.remote()
        self._runs = {node.run.remote(): i for i, node in enumerate(self._actors)}
        if self._on_start is not None:  # Tests use it to kill a node mid-run.
            self._on_start({"actors": self._actors, "learner": self._learner, "replay": self._replay})

    def advance(self, target_steps: int) -> None:
        ray, deadline = self._ray, time.monotonic() + ADVANCE_SECONDS
        while self._runs and time.monotonic() < deadline and self.actor_steps() < target_steps:
            done, _ = ray.wait([*self._runs, self._learner_run], num_returns=1, timeout=POLL_SECONDS * 4)
            for ref in done:
                if ref == self._learner_run:
                    self._raise_learner_failure()
                    raise NodeFailed("The learner node stopped before the actors spent the budget.")
                i = self._runs.pop(ref)
                try:
                    ray.get(ref)
                except ray.exceptions.RayActorError as error:  # Died: Ray builds it again; run it again.
                    self._restarts[i] += 1
                    if self._restarts[i] > MAX_ACTOR_RESTARTS:
                        raise NodeFailed(f"actor_{i} died {self._restarts[i]} times; giving up: {error}") from error
                    print(f"[ray] actor_{i} died ({type(error).__name__}); Ray restarts it "
                          f"({self._restarts[i]}/{MAX_ACTOR_RESTARTS}).", flush=True)
                    self._runs[self._resubmit(self._actors[i])] = i
                except ray.exceptions.RayTaskError as error:
                    raise NodeFailed(f"The actor_{i} node failed, which stopped the run: {error}") from error

    def _resubmit(self, node: Any) -> Any:
        for _ in range(1200):  # Up to two minutes for Ray to bring it back.
            try:
                self._ray.get(node.policy_state.remote())  # Answers once it is back.
                return node.run.remote()
            except self._ray.exceptions.ActorUnavailableError:
                time.sleep(0.1)
        raise NodeFailed("An actor node did not come back within two minutes of dying.")

    def _raise_learner_failure(self) -> None:
        if self._ray.wait([self._learner_run], timeout=0)[0]:
            try:
                self._ray.get(self._learner_run)
            except (self._ray.exceptions.RayTaskError, self._ray.exceptions.RayActorError) as error:
                raise NodeFailed(f"The learner node failed, which stopped the run: {error}") from error

    def evaluate(self, train_seconds: float) -> dict[str, Any]:
        return self._ray.get(self._evaluator.evaluate.remote(train_seconds))

    def get_state(self, with_replay: bool) -> dict[str, Any]:
        ray = self._ray
        return {"learner": ray.get(self._learner.save.remote()), "counter": ray.get(self._counter.add.remote({})),
                "policies": ray.get([node.policy_state.remote() for node in self._actors]),
                **ray.get(self._replay.get_state.remote(with_replay))}

    def set_state(self, state: Mapping[str, Any] | None) -> None:
        ray, policies = self._ray, list((state or {}).get("policies", []))
        if state is not None:
            ray.get([self._learner.restore.remote(state["learner"]), self._counter.restore.remote(state["counter"]),
                     self._replay.set_state.remote(state)])
        ray.get([node.restore_policy.remote(policies[i] if i < len(policies) else None)
                 for i, node in enumerate(self._actors)])

    def stop(self) -> None:
        for node in (*self._actors, self._replay, self._learner):
            node.stop.remote()
        if self._runs:  # Their last counts reach the counter node before the final checkpoint reads it.
            self._ray.wait(list(self._runs), num_returns=len(self._runs), timeout=30)
        if self._learner_run is not None:
            self._ray.wait([self._learner_run], timeout=30)
            self._raise_learner_failure()

    def write_artifacts(self) -> None:
        self._ray.get(self._evaluator.write_artifacts.remote())

    def close(self) -> None:  # Worker processes of subprocess lanes must not outlive their actor nodes.
        closing = [node.close.remote() for node in self._actors] + [self._evaluator.close.remote()]
        self._ray.wait(closing, num_returns=len(closing), timeout=30)

    def summary(self) -> dict[str, Any]:
        return {"launch": "ray", "num_actors": len(self._actors), "actor_restarts": sum(self._restarts),
                "learner_gpus": self._gpus}


def run_ray(experiment: ExperimentConfig, on_start: Callable[[dict[str, Any]], None] | None = None,
            on_evaluation: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
    """Trains with `experiment.num_actors` actor nodes on a Ray cluster; returns the summary.

    Starts a local cluster with this machine's CPUs (temporary files in a folder removed at the end)
    unless `experiment.ray_address` names one to join.
    """
    ray = _ray()
    if experiment.run_dir is not None:  # Nodes may run in another working directory.
        experiment = dataclasses.replace(experiment, run_dir=os.path.abspath(experiment.run_dir))
    run, temp_dir = Run(experiment), None
    try:
        if experiment.ray_address is None:
            os.environ.setdefault("RAY_AUTH_MODE", "disabled")
            # Ray's documented RAY_TMPDIR puts the local cluster's files in a folder of this run's.
            temp_dir = tempfile.mkdtemp(prefix="apr")  # Short: Ray's socket paths must fit 107 bytes.
            previous = os.environ.get("RAY_TMPDIR")
            os.environ["RAY_TMPDIR"] = temp_dir
            try:
                ray.init(num_cpus=os.cpu_count(), include_dashboard=False, configure_logging=False,
                         log_to_driver=True)
            finally:
                os.environ.pop("RAY_TMPDIR") if previous is None else os.environ.update(RAY_TMPDIR=previous)
        else:
            ray.init(address=experiment.ray_address, configure_logging=False)
    except BaseException:
        run.close()  # The loggers and the progress bar opened by Run.
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
        raise
    try:
        return run.drive(lambda run: RayNodes(run, on_start), on_evaluation)
    finally:
        ray.shutdown()
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)
