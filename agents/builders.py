"""The builder contract: an agent declares its components; runners wire them."""

from __future__ import annotations

import abc
from typing import Any, Callable, Iterator, Mapping

import torch
from torch import nn

from components.actors import FeedForwardActor, Policy
from components.core import Actor, Adder, Learner, Replay, VariableSource
from components.counting import Counter
from components.importance import PriorityUpdater
from components.loggers import Logger
from components.prioritized_replay import PrioritizedReplay
from components.rate_limiters import RateLimiter
from components.replay import UniformReplay
from components.specs import EnvironmentSpec
from components.variable_utils import VariableClient

Networks = Mapping[str, nn.Module]


class ActorLearnerBuilder(abc.ABC):
    """Says which networks, replay, adder, learner and policy an agent uses.

    It holds no training loop: a runner calls these factories once per node
    (learner, each actor, the evaluator) and connects them. Actors get their
    own copies of the networks (from `make_networks`) and pull the learner's
    weights through a `VariableClient`.
    """

    #: Names of the networks an actor needs (pulled from the learner).
    actor_network_names: tuple[str, ...] = ()
    #: Whether the learner must see each rollout right after it is acted (on-policy): runners then learn
    #: after every actor step, and `learn_every` > 1 is refused.
    on_policy: bool = False
    #: The config dataclass the builder takes (launchers make one flag per field, and rebuild it from
    #: config.json). A subclass of a built-in builder inherits its parent's. Runners read the config's
    #: `variable_update_period`: subclass `agents.configs.AgentConfig` (or a family's config) to have it.
    config_class: type | None = None
    #: Whether the agent learns action values (plots then call its loss the TD loss).
    value_based: bool = False
    #: The kinds of action spec the agent can act in (`components.action_bounds.action_kind`): a run on
    #: any other is refused before anything is built, naming the agents that fit.
    action_kinds: tuple[str, ...] = ("discrete", "bounded", "unbounded")

    def __init__(self, config: Any) -> None:
        self.config = config

    @abc.abstractmethod
    def make_networks(self, spec: EnvironmentSpec) -> Networks:
        """Fresh, randomly initialised networks by name."""

    @abc.abstractmethod
    def make_replay(self, spec: EnvironmentSpec, seed: int, num_lanes: int = 1) -> Replay:
        """The replay, with its rate limiter attached (`replay.rate_limiter`), fed by `num_lanes` lanes."""

    @abc.abstractmethod
    def make_adder(self, replay: Replay) -> Adder:
        """The adder actors write through."""

    @abc.abstractmethod
    def make_learner(self, networks: Networks, iterator: Iterator[Any], spec: EnvironmentSpec,
                     device: torch.device, counter: Counter, logger: Logger, seed: int,
                     replay: Replay | None = None) -> Learner:
        """The learner, owning `networks` (already on `device`) and consuming `iterator`.

        `replay` is the buffer the iterator samples from, for learners that write
        back to it (prioritized replay's priorities); others ignore it.
        """

    @abc.abstractmethod
    def make_policy(self, networks: Networks, spec: EnvironmentSpec, evaluation: bool, seed: int,
                    actor_steps: Callable[[], float] | None = None) -> Policy:
        """The behaviour policy (or the evaluation policy when `evaluation`).

        `actor_steps()` is the run's actor-step count (checkpointed), which exploration schedules follow,
        so a resumed run explores as the uninterrupted one would have; None: the policy counts its calls.
        """

    def learner_batch_size(self, num_lanes: int) -> int:
        """Items the learner takes per step (transitions, or trajectories/episodes for on-policy agents)."""
        return self.config.batch_size

    def state_values(self, networks: Networks, observations: Any) -> Any | None:
        """V(s) of a batch of observations under the agent's networks, for diagnostics (None: not defined)."""
        return None

    def greedy_head(self, networks: Networks, spec: EnvironmentSpec) -> nn.Module:
        """The greedy (evaluation) policy as one torch module over an observation nest, for export: one of
        `components.greedy`'s heads, with `output_names` ('action' first)."""
        raise NotImplementedError(f"{type(self).__name__} has no exportable greedy policy.")

    def make_actor(self, policy: Policy, adder: Adder | None, variable_source: VariableSource | None,
                   networks: Networks, variable_update_period: int = 1) -> Actor:
        """A feed-forward actor that refreshes `networks` from `variable_source`."""
        client = None
        if variable_source is not None:
            modules = {name: networks[name] for name in self.actor_network_names}
            client = VariableClient(variable_source, modules, variable_update_period)
            client.update_and_wait()
        return FeedForwardActor(policy, adder, client)


class ReplayBuilder(ActorLearnerBuilder):
    """What agents learning from a replay of transitions (NFQ, DQN, SAC, TD3) share: uniform or prioritized
    replay per `config.prioritized`, and the learner's link back to it for new priorities."""

    def make_transition_replay(self, item_spec: Any, seed: int, rate_limiter: RateLimiter) -> Replay:
        """A `PrioritizedReplay` (alpha = `config.priority_exponent`) when `config.prioritized`, else uniform."""
        cfg = self.config
        if getattr(cfg, "prioritized", False):
            return PrioritizedReplay(item_spec, cfg.replay_capacity, seed=seed, rate_limiter=rate_limiter,
                                     alpha=cfg.priority_exponent)
        return UniformReplay(item_spec, cfg.replay_capacity, seed=seed, rate_limiter=rate_limiter)

    def priority_updater(self, replay: Replay | None) -> PriorityUpdater | None:
        """`replay.update_priorities` when the replay is prioritized (the learner then writes |TD| back)."""
        return getattr(replay, "update_priorities", None) if getattr(self.config, "prioritized", False) else None
