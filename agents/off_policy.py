"""What the off-policy continuous-control agents (SAC, TD3, DDPG) share: replay, adder, policy wiring.

A subclass supplies `make_networks` (a "policy" module with `act(observations, generator)` in [-1, 1], and
its critics), `make_learner`, and the exploration noise of its behaviour policy.
"""

from __future__ import annotations

from typing import Callable, Mapping

from torch import nn

from agents.builders import Networks, ReplayBuilder
from components.action_bounds import ActionBounds
from components.actors import ContinuousPolicy, Policy
from components.adders import NStepTransitionAdder
from components.core import Adder, Replay
from components.greedy import UnitActionGreedy
from components.networks import make_input_encoder
from components.rate_limiters import RateLimiter
from components.specs import EnvironmentSpec
from components.types import transition_spec


def observation_encoder(spec: EnvironmentSpec, agent: str,
                        encoders: Mapping[str, str] | None = None) -> tuple[nn.Module | None, int]:
    """The policy's (or critic's) observation encoder and its width (None: a flat vector, read as it is;
    a dict's or an image's encoder otherwise, as `components.networks.make_input_encoder` picks it)."""
    try:
        return make_input_encoder(spec.observations, encoders)
    except (TypeError, ValueError) as error:
        raise type(error)(f"{agent}: {error}") from None


def action_size(spec: EnvironmentSpec) -> int:
    return ActionBounds(spec.actions).size


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

    def greedy_head(self, networks: Networks, spec: EnvironmentSpec) -> nn.Module:
        return UnitActionGreedy(networks["policy"], spec.actions)

    def make_policy(self, networks: Networks, spec: EnvironmentSpec, evaluation: bool, seed: int,
                    actor_steps: Callable[[], float] | None = None) -> Policy:
        return ContinuousPolicy(networks["policy"], ActionBounds(spec.actions), seed=seed, deterministic=evaluation,
                                noise_std=self.exploration_noise(), random_steps=self.config.learning_starts,
                                steps=actor_steps)
