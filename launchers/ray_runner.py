"""The `ray` runner: the nodes of a run (replay, counter, learner, actors, evaluator) as Ray actors.

The declaration and the agent are the same as under `local` and `threads`;
only the transport differs:
  - Actor nodes step their own batched environment and send their adder calls
    (first timesteps, steps and policy extras) in batches of `SYNC_STEPS` to the
    replay node, which runs one adder per actor and waits for the rate limiter
    before each write, so a fast actor is held back by its own call.
  - The learner node samples batches from the replay node and serves weights;
    actors pull them through a `VariableClient` at most once per batch of calls.
  - Counts live in a counter node; each node adds its counts in batches.
Actor nodes that die are restarted by Ray (at most `MAX_ACTOR_RESTARTS` times
per actor) and the run goes on; a learner that dies ends the run.
"""

from __future__ import annotations

import dataclasses
import os
import random
import shutil
import tempfile
import threading
import time
from typing import Any, Callable, Mapping, Sequence

import dm_env
import numpy as np
import torch
import tree

from components.checkpointing import Checkpointer
from components.core import Adder, VariableSource
from components.counting import Counter
from components.loggers import close_tensorboard
from components.environment_loop import EnvironmentLoop
from components.specs import make_environment_spec
from launchers.experiment import ExperimentConfig
from launchers.nodes import (Evaluator, describe_replay, make_environment, make_learner, make_networks, make_progress,
                             make_run_logger_factory)
from launchers.run_folder import checkpoint_metadata, load_resume_state, prepare_run_dir, write_summary
from launchers.threads import POLL_SECONDS, NodeFailed, RunStopped, wait_for_room

# Actor steps between an actor's batches of adder calls (and its chances to pull weights).
SYNC_STEPS = 16
# Seconds between a node's count updates to the counter node.
COUNT_SECONDS = 0.25
MAX_ACTOR_RESTARTS = 3


def _ray():
    try:
        import ray
    except ImportError:
        raise ImportError("--launch=ray needs Ray: pip install -e '.[distributed]' (or pip install 'ray>=2.9').") \
            from None
    return ray


# ----------------------------------------------------------------------------- proxies used inside nodes


class SyncedCounter(Counter):
    """A local view of the counter node: increments are batched and sent every COUNT_SECONDS.

    The counts it returns are the counter node's last totals plus what this
    node has added since, so log rows carry run-wide totals. Prefixed child
    counters (`Counter(synced, "actor")`) write through it as usual.
    """

    def __init__(self, node: Any) -> None:
        super().__init__()
        self._node = node
        self._pending: dict[str, float] = {}
        self._totals: dict[str, float] = {}
        self._sent = 0.0

    def _add(self, counts: dict[str, float]) -> dict[str, float]:
        with self._lock:
            for key, value in counts.items():
                self._pending[key] = self._pending.get(key, 0) + value
        if time.monotonic() - self._sent > COUNT_SECONDS:
            self.flush()
        return self._merged()

    def flush(self) -> dict[str, float]:
        """Sends the pending increments; returns the node's new totals."""
        with self._lock:
            pending, self._pending = self._pending, {}
        self._sent = time.monotonic()
        totals = _ray().get(self._node.add.remote(pending))
        with self._lock:
            self._totals = totals
        return totals

    def cached_counts(self) -> dict[str, float]:
        """The totals as last fetched plus this node's pending increments (no round trip)."""
        return self._merged()

    def _merged(self) -> dict[str, float]:
        with self._lock:
            merged = dict(self._totals)
            for key, value in self._pending.items():
                merged[key] = merged.get(key, 0) + value
            return merged

    def get_counts(self) -> dict[str, float]:
        """The run-wide totals, fetched now (with this node's pending increments sent first)."""
        self.flush()
        return self._merged()


class RemoteVariableSource(VariableSource):
    """The learner node's weights, fetched through Ray's object store."""

    def __init__(self, learner_node: Any) -> None:
        self._node = learner_node

    def get_variables(self, names: Sequence[str]) -> list[Mapping[str, Any]]:
        return _ray().get(self._node.get_variables.remote(list(names)))


class RemoteAdder(Adder):
    """Queues an actor's adder calls and sends them to the replay node every SYNC_STEPS steps."""

    def __init__(self, replay_node: Any, actor_id: int) -> None:
        self._node = replay_node
        self._actor_id = actor_id
        self._calls: list[tuple] = []

    def add_first(self, timestep: dm_env.TimeStep) -> None:
        self._calls.append(("first", timestep))

    def add(self, action: Any, next_timestep: dm_env.TimeStep, extras: Any = ()) -> None:
        self._calls.append(("step", action, next_timestep, extras))
        if len(self._calls) >= SYNC_STEPS:
            self.flush()

    def flush(self) -> bool:
        """Sends the queued calls; waits while the replay node holds them back. False: the run is stopping."""
        calls, self._calls = self._calls, []
        return _ray().get(self._node.add_calls.remote(self._actor_id, calls)) if calls else True

    def reset(self) -> None:
        self._calls = []
        _ray().get(self._node.reset_actor.remote(self._actor_id))


class _RemoteReplay:
    """What a learner sees of the replay node: batches (waiting for the rate limiter) and priority updates."""

    def __init__(self, replay_node: Any, stopping: Callable[[], bool]) -> None:
        self._node = replay_node
        self._stopping = stopping

    def batches(self, batch_size: int):
        ray = _ray()
        while True:
            batch = ray.get(self._node.sample.remote(batch_size))
            if batch is not None:
                yield batch
            elif self._stopping():
                raise RunStopped()

    def update_priorities(self, keys: Any, priorities: Any) -> None:
        self._node.update_priorities.remote(keys, priorities)


# ----------------------------------------------------------------------------- the nodes


class ReplayNode:
    """Holds the replay and one adder per actor; writes wait for the rate limiter, samples for data."""

    def __init__(self, experiment: ExperimentConfig, spec: Any, num_actors: int) -> None:
        builder = experiment.builder
        self._replay = builder.make_replay(spec, experiment.seed, num_lanes=experiment.num_envs * num_actors)
        self._limiter = self._replay.rate_limiter
        self._num_envs = experiment.num_envs
        self._adders = {}
        for i in range(num_actors):
            share = (self._replay.for_lanes(i * experiment.num_envs, experiment.num_envs)
                     if hasattr(self._replay, "for_lanes") else self._replay)
            self._adders[i] = builder.make_adder(share)
        self._insert_lock = threading.Lock()
        self._stopped = threading.Event()

    def describe(self) -> str:
        return describe_replay(self._replay)

    def size(self) -> int:
        return self._replay.size()

    def add_calls(self, actor_id: int, calls: list[tuple]) -> bool:
        adder = self._adders[actor_id]
        try:
            for call in calls:
                with self._insert_lock:
                    if call[0] == "first":
                        adder.add_first(call[1])
                    else:
                        wait_for_room(self._limiter, self._num_envs, self._check)
                        adder.add(*call[1:])
        except RunStopped:
            return False
        return True

    def _check(self) -> None:
        if self._stopped.is_set():
            raise RunStopped()

    def reset_actor(self, actor_id: int) -> None:
        """Drops a (restarted) actor's partial sequences."""
        self._adders[actor_id].reset()

    def sample(self, batch_size: int) -> Any:
        """A batch, or None when none was allowed within POLL_SECONDS (the caller checks for a stop)."""
        if self._stopped.is_set() or not self._limiter.await_sample(batch_size, timeout=POLL_SECONDS):
            return None
        return self._replay.sample(batch_size)

    def update_priorities(self, keys: Any, priorities: Any) -> None:
        self._replay.update_priorities(keys, priorities)

    def save(self, with_items: bool) -> dict[str, Any]:
        """The checkpoint's replay entries: the schedule state, and the items and rate limiter `with_items`."""
        state: dict[str, Any] = {"replay_schedule": dict(self._replay.schedule_state())}
        if with_items:
            state["replay"] = self._replay.save()
            if hasattr(self._limiter, "save"):
                state["rate_limiter"] = self._limiter.save()
        return state

    def restore(self, state: Mapping[str, Any]) -> None:
        if "replay" in state:
            self._replay.restore(state["replay"])
            if "rate_limiter" in state:
                self._limiter.restore(state["rate_limiter"])
        self._replay.restore_schedule_state(state.get("replay_schedule", {}))

    def stop(self) -> None:
        self._stopped.set()


class CounterNode:
    """The run's counts."""

    def __init__(self) -> None:
        self._counter = Counter()

    def add(self, counts: Mapping[str, float]) -> dict[str, float]:
        return self._counter._add(dict(counts)) if counts else self._counter.get_counts()

    def restore(self, counts: Mapping[str, float]) -> None:
        self._counter.restore(counts)


def _node_setup(experiment: ExperimentConfig) -> None:
    import torch

    torch.manual_seed(experiment.seed)
    if experiment.torch_threads is not None:
        torch.set_num_threads(experiment.torch_threads)


class LearnerNode:
    """The learner, stepping as fast as the replay node hands out batches, serving weights meanwhile."""

    def __init__(self, experiment: ExperimentConfig, spec: Any, replay_node: Any, counter_node: Any,
                 resumed_step: int | None = None) -> None:
        from components.devices import resolve_device

        _node_setup(experiment)
        self._run_dir = experiment.run_dir
        self._stop = threading.Event()
        self._counter = SyncedCounter(counter_node)
        remote = _RemoteReplay(replay_node, self._stop.is_set)
        logger = make_run_logger_factory(experiment, resumed_step=resumed_step)("learner")
        # make_learner samples through batch_iterator(replay, ...): hand it the remote replay's batches.
        self._learner = make_learner(experiment, spec, _BatchSource(remote), resolve_device(experiment.device),
                                     self._counter, logger)

    def run(self) -> int:
        """Steps until `stop`; returns the learner steps taken."""
        try:
            while not self._stop.is_set():
                self._learner.step()
        except RunStopped:
            pass
        finally:
            close_tensorboard(self._run_dir)
        self._counter.flush()
        return self._learner.num_steps if hasattr(self._learner, "num_steps") else 0

    def get_variables(self, names: list[str]) -> list[Mapping[str, Any]]:
        return self._learner.get_variables(names)

    def save(self) -> dict[str, Any]:
        return self._learner.save()

    def restore(self, state: Mapping[str, Any]) -> None:
        self._learner.restore(state)

    def stop(self) -> None:
        self._stop.set()

    def ping(self) -> bool:
        return True


class _BatchSource:
    """A replay-shaped object whose `sample` draws from the replay node (for `make_learner`)."""

    def __init__(self, remote: _RemoteReplay) -> None:
        self._remote = remote
        self._iterators: dict[int, Any] = {}

    def sample(self, batch_size: int) -> Any:
        iterator = self._iterators.setdefault(batch_size, self._remote.batches(batch_size))
        # Arrays from the object store are read-only views; learners get their own copy, as locally.
        return tree.map_structure(np.array, next(iterator))

    def update_priorities(self, keys: Any, priorities: Any) -> None:
        self._remote.update_priorities(keys, priorities)


class ActorNode:
    """One actor with its own batched environment, writing through a RemoteAdder.

    Built empty and then `setup` by the driver, which calls `setup` again after Ray restarts the
    node: a restartable actor whose constructor took arguments would keep them pinned for restarts.
    """

    def setup(self, experiment: ExperimentConfig, spec: Any, actor_id: int, replay_node: Any,
              learner_node: Any, counter_node: Any, num_actors: int, resumed_step: int | None = None) -> None:
        _node_setup(experiment)
        self._experiment = experiment
        self._actor_id = actor_id
        self._counter = SyncedCounter(counter_node)
        self._environment = make_environment(experiment, experiment.seed + actor_id * experiment.num_envs)
        self._adder = RemoteAdder(replay_node, actor_id)
        self._adder.reset()  # A restarted actor starts its lanes afresh.
        builder = experiment.builder
        networks = make_networks(experiment, spec)
        # The schedule follows the run's actor steps as this node last saw them (no round trip per step).
        policy = builder.make_policy(networks, spec, evaluation=False, seed=experiment.seed + 1_000 * actor_id,
                                     actor_steps=lambda: self._counter.cached_counts().get("actor_steps", 0))
        self._policy = policy
        self._actor = None
        period = max(builder.config.variable_update_period, SYNC_STEPS)
        actor = builder.make_actor(policy, self._adder, RemoteVariableSource(learner_node), networks, period)
        self._actor = actor
        label = "train" if num_actors == 1 else f"train_actor{actor_id}"
        logger = make_run_logger_factory(experiment, resumed_step=resumed_step)(label)
        self._loop = EnvironmentLoop(self._environment, actor, Counter(self._counter, "actor"), logger)
        self._stop = threading.Event()

    def run(self) -> int:
        """Acts until the run's budget is spent or `stop`; returns this actor's node-local steps."""
        steps = 0
        budget = self._experiment.num_steps
        chunk = SYNC_STEPS * self._experiment.num_envs
        # The counts are at most COUNT_SECONDS old; fetching them would cost a round trip per chunk.
        while not self._stop.is_set() and self._counter.cached_counts().get("actor_steps", 0) < budget:
            self._loop.run(num_steps=chunk)
            steps += chunk
            if not self._adder.flush():
                break
        self._counter.flush()
        return steps

    def stop(self) -> None:
        self._stop.set()

    def ping(self) -> bool:
        return True

    def policy_state(self) -> Any:
        return self._policy.save() if hasattr(self._policy, "save") else None

    def restore_policy(self, state: Any) -> None:
        if state is not None and hasattr(self._policy, "restore"):
            self._policy.restore(state)
        self._actor.update(wait=True)  # Act with the (restored) learner's weights.

    def close(self) -> None:
        self._environment.close()
        close_tensorboard(self._experiment.run_dir)


class EvaluatorNode:
    """Greedy evaluations with the learner's latest weights, on request."""

    def __init__(self, experiment: ExperimentConfig, spec: Any, learner_node: Any, counter_node: Any,
                 replay_node: Any, resumed_step: int | None = None) -> None:
        _node_setup(experiment)
        logger = make_run_logger_factory(experiment, resumed_step=resumed_step)("eval")
        self._run_dir = experiment.run_dir
        ray = _ray()
        self._evaluator = Evaluator(experiment, spec, RemoteVariableSource(learner_node),
                                    SyncedCounter(counter_node), logger,
                                    lambda: {"replay_size": ray.get(replay_node.size.remote())})

    def evaluate(self, train_seconds: float) -> dict[str, Any]:
        return self._evaluator.evaluate(train_seconds)

    def write_artifacts(self) -> list[str]:
        return self._evaluator.write_artifacts()

    def close(self) -> None:
        self._evaluator.close()
        close_tensorboard(self._run_dir)


# ----------------------------------------------------------------------------- the driver


def run_ray(experiment: ExperimentConfig, on_start: Callable[[dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """Trains with `experiment.num_actors` actor nodes on a Ray cluster; returns the summary.

    Starts a local cluster with this machine's CPUs (temporary files in a
    folder removed at the end) unless `experiment.ray_address` names one to
    join. `on_start(nodes)`, if given, sees the node handles once all run (tests
    use it to kill an actor).
    """
    ray = _ray()
    start = time.perf_counter()
    if experiment.run_dir is not None:  # Nodes may run in another working directory.
        experiment = dataclasses.replace(experiment, run_dir=os.path.abspath(experiment.run_dir))
    prepare_run_dir(experiment)
    temp_dir = None
    if experiment.ray_address is None:
        os.environ.setdefault("RAY_AUTH_MODE", "disabled")
        temp_dir = tempfile.mkdtemp(prefix="agentpipe-ray-")
        ray.init(num_cpus=os.cpu_count(), include_dashboard=False, _temp_dir=temp_dir,
                 configure_logging=False, log_to_driver=True)
    else:
        ray.init(address=experiment.ray_address, configure_logging=False)
    try:
        return _drive(ray, experiment, start, on_start)
    finally:
        ray.shutdown()
        if temp_dir is not None:
            shutil.rmtree(temp_dir, ignore_errors=True)


def _drive(ray, experiment: ExperimentConfig, start: float, on_start) -> dict[str, Any]:
    num_actors = experiment.num_actors
    resumed_state, evaluations = load_resume_state(experiment)  # Before the nodes open the CSV files.
    resumed_step = int(resumed_state["counter"].get("actor_steps", 0)) if resumed_state else None
    probe = make_environment(experiment, experiment.seed)
    try:
        spec = make_environment_spec(probe)
    finally:
        probe.close()
    resources = ray.cluster_resources()
    gpus = 1 if resources.get("GPU", 0) >= 1 and experiment.device != "cpu" else 0
    # Actors and the learner share the CPUs; small nodes (replay, counter, evaluator) take none.
    cpus = min(1.0, resources.get("CPU", 1) / (num_actors + 1))
    counter_node = ray.remote(CounterNode).options(num_cpus=0, max_concurrency=8).remote()
    replay_node = ray.remote(ReplayNode).options(num_cpus=0, max_concurrency=num_actors + 4).remote(
        experiment, spec, num_actors)
    print(f"[replay] {ray.get(replay_node.describe.remote())}", flush=True)
    learner_node = ray.remote(LearnerNode).options(num_cpus=cpus, num_gpus=gpus, max_concurrency=4).remote(
        experiment, spec, replay_node, counter_node, resumed_step)
    ray.get(learner_node.ping.remote())
    actor_class = ray.remote(ActorNode).options(num_cpus=cpus, max_restarts=MAX_ACTOR_RESTARTS,
                                                max_concurrency=2)
    actor_nodes = [actor_class.remote() for _ in range(num_actors)]

    def setup(i: int):
        return actor_nodes[i].setup.remote(experiment, spec, i, replay_node, learner_node, counter_node, num_actors,
                                           resumed_step)

    ray.get([setup(i) for i in range(num_actors)])
    evaluator_node = ray.remote(EvaluatorNode).options(num_cpus=0).remote(
        experiment, spec, learner_node, counter_node, replay_node, resumed_step)
    counts = SyncedCounter(counter_node)
    checkpoints = _RayCheckpoints(ray, experiment, learner_node, counter_node, actor_nodes, replay_node)
    seconds_before = checkpoints.restore(resumed_state)
    progress = make_progress(experiment, counts.get("actor_steps"))

    learner_run = learner_node.run.remote()
    actor_runs = {actor_nodes[i].run.remote(): i for i in range(num_actors)}
    if on_start is not None:
        on_start({"actors": actor_nodes, "learner": learner_node, "replay": replay_node})
    restarts = [0] * num_actors
    eval_every = experiment.eval_every or experiment.num_steps
    next_eval = (int(counts.get("actor_steps")) // eval_every + 1) * eval_every
    train_start = time.perf_counter()
    interrupted = False
    try:
        while actor_runs:
            done, _ = ray.wait(list(actor_runs) + [learner_run], num_returns=1, timeout=POLL_SECONDS * 4)
            for ref in done:
                if ref == learner_run:
                    _raise_node_failure(ray, "learner", ref)
                    raise NodeFailed("The learner node stopped before the actors spent the budget.")
                i = actor_runs.pop(ref)
                try:
                    ray.get(ref)
                except ray.exceptions.RayActorError as error:
                    restarts[i] += 1
                    if restarts[i] > MAX_ACTOR_RESTARTS:
                        raise NodeFailed(f"actor_{i} died {restarts[i]} times; giving up: {error}") from error
                    print(f"[ray] actor_{i} died ({type(error).__name__}); Ray restarts it "
                          f"({restarts[i]}/{MAX_ACTOR_RESTARTS}).", flush=True)
                    actor_runs[_resubmit(ray, actor_nodes[i], lambda i=i: setup(i))] = i
                except ray.exceptions.RayTaskError as error:
                    raise NodeFailed(f"The actor_{i} node failed, which stopped the run: {error}") from error
            steps = counts.get("actor_steps")
            progress.update(int(steps))
            if experiment.eval_every and steps >= next_eval and steps < experiment.num_steps:
                evaluations.append(ray.get(evaluator_node.evaluate.remote(
                    seconds_before + time.perf_counter() - train_start)))
                while next_eval <= steps:
                    next_eval += experiment.eval_every
                target = experiment.stop_at_return
                if target is not None and evaluations[-1]["eval_return_mean"] >= target:
                    break
            if checkpoints.due():
                checkpoints.save(seconds_before + time.perf_counter() - train_start)
    except KeyboardInterrupt:
        print("[ray] interrupted: stopping every node.", flush=True)
        interrupted = True
    finally:
        train_seconds = seconds_before + time.perf_counter() - train_start
        for node in actor_nodes:
            node.stop.remote()
        replay_node.stop.remote()
        learner_node.stop.remote()
        ray.wait([learner_run], timeout=30)
        progress.close()
    _raise_node_failure(ray, "learner", learner_run)
    if interrupted:
        print(f"[ray] checkpoint written: {checkpoints.save(train_seconds)}", flush=True)
        raise KeyboardInterrupt
    final_steps = counts.get("actor_steps")
    if not evaluations or evaluations[-1].get("actor_steps", 0) < final_steps:
        evaluations.append(ray.get(evaluator_node.evaluate.remote(train_seconds)))
    checkpoints.save(train_seconds)
    ray.get(evaluator_node.write_artifacts.remote())
    # Worker processes of subprocess lanes must not outlive their actor nodes.
    ray.wait([node.close.remote() for node in actor_nodes] + [evaluator_node.close.remote()],
             num_returns=num_actors + 1, timeout=30)
    counter = Counter()
    counter.restore(counts.get_counts())
    return write_summary(experiment, evaluations, counter, train_seconds, time.perf_counter() - start,
                         _learner_device(experiment, gpus), launch="ray", num_actors=num_actors,
                         actor_restarts=sum(restarts))


class _RayCheckpoints:
    """`launchers.nodes.RunCheckpoints` for nodes that live in other processes: the same state, gathered
    by remote calls (so a checkpoint of a `ray` run resumes under any runner)."""

    def __init__(self, ray, experiment: ExperimentConfig, learner_node, counter_node, actor_nodes,
                 replay_node) -> None:
        self._ray = ray
        self._experiment = experiment
        self._nodes = (learner_node, counter_node, actor_nodes, replay_node)
        self._checkpointer = (Checkpointer(os.path.join(experiment.run_dir, "checkpoints"))
                              if experiment.run_dir is not None else None)
        self._interval = experiment.checkpoint_every_minutes * 60.0
        self._last = time.monotonic()

    def due(self) -> bool:
        return self._interval > 0 and time.monotonic() - self._last >= self._interval

    def save(self, train_seconds: float) -> str | None:
        if self._checkpointer is None:
            return None
        ray = self._ray
        learner_node, counter_node, actor_nodes, replay_node = self._nodes
        state = {"learner": ray.get(learner_node.save.remote()), "counter": ray.get(counter_node.add.remote({})),
                 "policies": ray.get([node.policy_state.remote() for node in actor_nodes]),
                 "rng": {"torch": torch.get_rng_state(), "numpy": np.random.get_state(),
                         "python": random.getstate()},
                 "train_seconds": train_seconds}
        state.update(ray.get(replay_node.save.remote(self._experiment.checkpoint_replay)))
        self._last = time.monotonic()
        return self._checkpointer.save(state, int(state["counter"].get("actor_steps", 0)),
                                       checkpoint_metadata(self._experiment))

    def restore(self, state: Mapping[str, Any] | None) -> float:
        """Restores a resumed run into the nodes (None: a fresh run); returns the train seconds so far."""
        ray = self._ray
        learner_node, counter_node, actor_nodes, replay_node = self._nodes
        if state is None:
            return 0.0
        ray.get([learner_node.restore.remote(state["learner"]), counter_node.restore.remote(state["counter"])])
        ray.get(replay_node.restore.remote({k: state[k] for k in ("replay", "rate_limiter", "replay_schedule")
                                            if k in state}))
        policies = list(state.get("policies", []))
        ray.get([node.restore_policy.remote(policies[i] if i < len(policies) else None)
                 for i, node in enumerate(actor_nodes)])
        return float(state.get("train_seconds", 0.0))


def _resubmit(ray, actor_node, setup: Callable[[], Any], timeout: float = 120.0):
    """The run task of a restarted actor node, submitted once Ray has brought the node back and it is set up."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            ray.get(actor_node.ping.remote(), timeout=timeout)
            ray.get(setup(), timeout=timeout)
            return actor_node.run.remote()
        except ray.exceptions.ActorUnavailableError:  # Still restarting.
            if time.monotonic() > deadline:
                raise
            time.sleep(POLL_SECONDS)


def _raise_node_failure(ray, name: str, ref) -> None:
    ready, _ = ray.wait([ref], timeout=0)
    if not ready:
        return
    try:
        ray.get(ref)
    except (ray.exceptions.RayTaskError, ray.exceptions.RayActorError) as error:
        raise NodeFailed(f"The {name} node failed, which stopped the run: {error}") from error


def _learner_device(experiment: ExperimentConfig, gpus: int) -> str:
    return "cuda" if gpus else "cpu"
