"""The parts of a run every runner builds from the declaration: lanes, networks, learner, actors.

`local`, `threads` and `ray` differ only in where these parts live and how data
and weights move between them; what each part is comes from the experiment's
builder, here.
"""

from __future__ import annotations

import functools
import threading
from typing import Any, Mapping, Sequence

import dm_env
import torch

from components.actors import EpsilonGreedyPolicy
from components.core import Actor, Adder, Learner, Replay, RunStopped, VariableSource, batch_iterator
from components.counting import Counter
from components.environment_loop import EnvironmentLoop
from components.forwarding import POLL_SECONDS, PacedAdder, replay_calls
from components.learners import TorchLearner
from components.loggers import Logger
from components.specs import EnvironmentSpec, make_environment_spec
from environments.errors import qualified_name
from environments.registry import make_environment as registry_environment, make_lanes
from environments.validation import CheckedLanes, check_environment
from launchers.experiment import ExperimentConfig
from launchers.run_state import policy_states, replay_state, restore_policies, restore_replay


def make_environment(experiment: ExperimentConfig, seed: int) -> dm_env.Environment:
    """The batched training environment of one actor: `num_envs` lanes on the chosen backend, checked as
    `check_env` says (environments.validation)."""
    name = environment_name(experiment)
    if experiment.batched_environment_factory is not None:
        lanes = experiment.batched_environment_factory(experiment.num_envs, seed)
        return lanes if isinstance(lanes, CheckedLanes) else CheckedLanes(lanes, name, experiment.check_env == "full")
    factory = experiment.environment_factory
    if experiment.check_env == "full" and _names_registry_environment(factory):
        factory = functools.partial(factory, check=True)  # Checked inside the single-precision cast.
    # auto with a factory of the user's own: lanes in process.
    backend = "sync" if experiment.env_backend == "auto" else experiment.env_backend
    return make_lanes(factory, experiment.num_envs, seed, backend, name, experiment.check_env)


def _names_registry_environment(factory: Any) -> bool:
    return isinstance(factory, functools.partial) and factory.func is registry_environment


def check_run_environment(experiment: ExperimentConfig) -> EnvironmentSpec:
    """Steps one extra lane of the run's environment `CHECKED_STEPS` times with random actions, checking every
    timestep against the specs (environments.validation.check_environment), before the run starts; returns
    its specs."""
    factory = experiment.environment_factory
    if _names_registry_environment(factory):
        factory = functools.partial(factory, check=True)
    environment = factory(experiment.seed)
    spec = make_environment_spec(environment)
    check_environment(environment, environment_name(experiment), seed=experiment.seed)
    return spec


def environment_name(experiment: ExperimentConfig) -> str:
    """The run's environment as messages name it: its registry name, or its factory's qualified name."""
    return experiment.declaration.get("env") or qualified_name(experiment.environment_factory)


def environment_spec(experiment: ExperimentConfig) -> EnvironmentSpec:
    """The training lanes' specs, from a probe built and closed here (for runners whose lanes live elsewhere)."""
    probe = make_environment(experiment, experiment.seed)
    try:
        return make_environment_spec(probe)
    finally:
        probe.close()


def make_networks(experiment: ExperimentConfig, spec) -> dict[str, torch.nn.Module]:
    factory = experiment.network_factory or experiment.builder.make_networks
    return dict(factory(spec))


def make_learner(experiment: ExperimentConfig, spec, replay: Replay, device: torch.device, counter: Counter,
                 logger: Logger) -> Learner:
    """The learner node, sampling batches from `replay` (its networks on `device`)."""
    builder = experiment.builder
    networks = {name: net.to(device) for name, net in make_networks(experiment, spec).items()}
    batch_size = builder.learner_batch_size(experiment.num_envs)
    learner = builder.make_learner(networks, batch_iterator(replay, batch_size), spec, device,
                                   Counter(counter, "learner"), logger, experiment.seed, replay=replay)
    if isinstance(learner, TorchLearner):
        learner.nan_policy = experiment.nan_policy
    return learner


def make_actor(experiment: ExperimentConfig, spec, adder: Adder, variable_source: VariableSource, seed: int,
               counter: Counter, variable_update_period: int | None = None) -> tuple[Actor, Any]:
    """An acting node's actor (writing through `adder`, pulling weights from `variable_source`) and its
    policy, whose exploration schedule follows `counter`'s actor steps."""
    builder = experiment.builder
    networks = make_networks(experiment, spec)
    policy = builder.make_policy(networks, spec, evaluation=False, seed=seed,
                                 actor_steps=lambda: counter.get("actor_steps"))
    period = variable_update_period or builder.config.variable_update_period
    return builder.make_actor(policy, adder, variable_source, networks, period), policy


def acting_diagnostics(replay: Replay, policy: Any) -> dict[str, Any]:
    """What evaluation rows report about acting: the replay's size and the behaviour epsilon (if any)."""
    epsilon = {"epsilon": float(policy.epsilon)} if isinstance(policy, EpsilonGreedyPolicy) else {}
    return {"replay_size": replay.size(), **epsilon}


class ActorNode:
    """One actor with its own lanes, acting `chunk_steps` at a time until the run's budget is spent or `stop`.

    Where its data, weights and counts go is the runner's: `adder` (paced into a
    shared replay, or forwarded to another process), `variable_source` (the
    learner or a proxy of it), `counter` (the run's, or a batched view of it).
    """

    def __init__(self, experiment: ExperimentConfig, spec, actor_id: int, adder: Adder,
                 variable_source: VariableSource, counter: Counter, logger: Logger, chunk_steps: int = 1,
                 variable_update_period: int | None = None) -> None:
        self._environment = make_environment(experiment, experiment.seed + actor_id * experiment.num_envs)
        try:
            self.actor, self.policy = make_actor(experiment, spec, adder, variable_source,
                                                 experiment.seed + 1_000 * actor_id, counter, variable_update_period)
        except BaseException:
            self._environment.close()
            raise
        self._loop = EnvironmentLoop(self._environment, self.actor, Counter(counter, "actor"), logger)
        self._adder, self._counter, self._chunk = adder, counter, chunk_steps
        self._budget, self._stop = experiment.num_steps, threading.Event()

    def run(self) -> None:
        while not self._stop.is_set() and self._counter.get("actor_steps") < self._budget:
            self._loop.run(num_steps=self._chunk)
            if not self._adder.flush():
                break

    def stop(self) -> None:
        self._stop.set()

    def policy_state(self) -> Any:
        return policy_states([self.policy])[0]

    def restore_policy(self, state: Any) -> None:
        """Restores the policy's state (None: keeps it) and pulls the learner's weights."""
        restore_policies([self.policy], [state])
        self.actor.update(wait=True)

    def close(self) -> None:
        self._environment.close()


class ReplayNode:
    """The replay with one paced adder per actor: writes wait for the rate limiter, samples for data.

    Actors in this process write through `adder(i)`; actors elsewhere send their
    calls to `add_calls`. Learners sample through a `WaitingSampler` over `sample`.
    """

    def __init__(self, experiment: ExperimentConfig, spec: Any) -> None:
        builder, num_envs, lock = experiment.builder, experiment.num_envs, threading.Lock()
        self._replay = builder.make_replay(spec, experiment.seed, num_lanes=num_envs * experiment.num_actors)
        self._stopped = threading.Event()
        self._adders = [PacedAdder(builder.make_adder(self._replay.for_lanes(i * num_envs, num_envs)),
                                   self._replay.rate_limiter, num_envs, self._check, lock)
                        for i in range(experiment.num_actors)]

    @property
    def replay(self) -> Replay:
        return self._replay

    def adder(self, actor_id: int) -> Adder:
        return self._adders[actor_id]

    def describe(self) -> str:
        return self._replay.describe()

    def size(self) -> int:
        return self._replay.size()

    def add_calls(self, actor_id: int, calls: list[tuple]) -> bool:
        """Plays an actor's adder calls (waiting for room); False once the run is stopping."""
        try:
            replay_calls(self._adders[actor_id], calls)
        except RunStopped:
            return False
        return True

    def _check(self) -> None:
        if self._stopped.is_set():
            raise RunStopped()

    def reset_actor(self, actor_id: int) -> None:
        self._adders[actor_id].reset()  # A restarted actor's partial sequences are dropped.

    def sample(self, batch_size: int) -> Any:
        """A batch, or None when none was allowed within POLL_SECONDS (the caller checks for a stop)."""
        if self._stopped.is_set() or not self._replay.rate_limiter.await_sample(batch_size, timeout=POLL_SECONDS):
            return None
        return self._replay.sample(batch_size)

    def update_priorities(self, keys: Any, priorities: Any) -> None:
        self._replay.update_priorities(keys, priorities)

    def get_state(self, with_items: bool) -> dict[str, Any]:
        return replay_state(self._replay, with_items)

    def set_state(self, state: Mapping[str, Any]) -> None:
        restore_replay(self._replay, state)

    def stop(self) -> None:
        self._stopped.set()


class LearnerNode:
    """The learner, stepping as fast as its batches come (they wait for data) until `stop`, serving weights.

    Build its learner to sample through a `WaitingSampler` that watches `stopping`.
    """

    def __init__(self, learner: Learner) -> None:
        self.learner, self._stop = learner, threading.Event()

    def run(self) -> None:
        try:
            while not self._stop.is_set():
                self.learner.step()
        except RunStopped:
            pass

    def stop(self) -> None:
        self._stop.set()

    def stopping(self) -> bool:
        return self._stop.is_set()

    def get_variables(self, names: Sequence[str]) -> list[Mapping[str, Any]]:
        return self.learner.get_variables(names)

    def save(self) -> Mapping[str, Any]:
        return self.learner.save()

    def restore(self, state: Mapping[str, Any]) -> None:
        self.learner.restore(state)
