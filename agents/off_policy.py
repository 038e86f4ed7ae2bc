"""What the off-policy continuous-control agents (SAC, TD3, DDPG) share: replay, adder, policy wiring.

A subclass supplies `make_networks` (a "policy" module with `act(observations, generator)` in [-1, 1], and
its critics), `make_learner`, and the exploration noise of its behaviour policy.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
from dm_env import specs

from agents.builders import Networks, ReplayBuilder
from components.action_bounds import ActionBounds
from components.actors import ContinuousPolicy, Policy
from components.adders import NStepTransitionAdder
from components.core import Adder, Replay
from components.rate_limiters import RateLimiter
from components.specs import EnvironmentSpec
from components.types import transition_spec


def vector_sizes(spec: EnvironmentSpec, agent: str) -> tuple[int, int]:
    """(observation size, action size) for networks over flat float observations and bounded actions."""
    observations = spec.observations
    if not isinstance(observations, specs.Array) or isinstance(observations, specs.DiscreteArray) \
            or len(observations.shape) > 2:
        raise TypeError(f"{agent}'s networks take a vector observation (a float array of shape (n,)); this "
                        f"environment has {observations!r}. Pass a network factory that encodes it.")
    return int(np.prod(observations.shape)), ActionBounds(spec.actions).size


class ContinuousOffPolicyBuilder(ReplayBuilder):
    """A uniform (or, with `prioritized`, prioritized) replay fed by an n-step adder, and a `ContinuousPolicy`
    that plays uniform random actions for `learning_starts` steps; learning runs `updates_per_step` gradient
    steps per lane step after that."""

    action_kinds = ("bounded",)
    actor_network_names = ("policy",)

    def exploration_noise(self) -> float:
        """Gaussian noise (in [-1, 1] units) the behaviour policy adds to the network's action."""
        return 0.0

    def make_replay(self, spec: EnvironmentSpec, seed: int, num_lanes: int = 1) -> Replay:
        cfg = self.config
        limiter = RateLimiter(cfg.batch_size * cfg.updates_per_step, max(1, cfg.learning_starts),
                              error_buffer=cfg.batch_size)
        return self.make_transition_replay(transition_spec(spec), seed, limiter)

    def make_adder(self, replay: Replay) -> Adder:
        return NStepTransitionAdder(replay, self.config.n_step, self.config.discount)

    def make_policy(self, networks: Networks, spec: EnvironmentSpec, evaluation: bool, seed: int,
                    actor_steps: Callable[[], float] | None = None) -> Policy:
        return ContinuousPolicy(networks["policy"], ActionBounds(spec.actions), seed=seed, deterministic=evaluation,
                                noise_std=self.exploration_noise(), random_steps=self.config.learning_starts,
                                steps=actor_steps)
