"""SAC builder: uniform or prioritized replay, n-step adder, a sampling tanh-Gaussian actor, the SAC learner."""

from __future__ import annotations

from typing import Any, Iterator

import torch

from agents.builders import Networks
from agents.off_policy import ContinuousOffPolicyBuilder, action_size, observation_encoder
from agents.sac.config import SACConfig
from agents.sac.learning import SACLearner
from agents.sac.networks import SquashedGaussianPolicy
from components.action_bounds import ActionBounds
from components.core import Learner, Replay
from components.counting import Counter
from components.critics import EnsembleCritic
from components.loggers import Logger
from components.specs import EnvironmentSpec


class SACBuilder(ContinuousOffPolicyBuilder):
    """Soft actor-critic on bounded continuous actions."""

    config_class = SACConfig

    def make_networks(self, spec: EnvironmentSpec) -> Networks:
        cfg, actions = self.config, action_size(spec)
        policy_encoder, policy_inputs = observation_encoder(spec, "SAC", cfg.encoder_overrides)
        critic_encoder, critic_inputs = observation_encoder(spec, "SAC", cfg.encoder_overrides)
        return {"policy": SquashedGaussianPolicy(policy_inputs, actions, cfg.hidden_sizes, policy_encoder),
                "critic": EnsembleCritic(critic_inputs, actions, cfg.hidden_sizes, num_critics=2,
                                         encoder=critic_encoder)}

    def make_learner(self, networks: Networks, iterator: Iterator[Any], spec: EnvironmentSpec,
                     device: torch.device, counter: Counter, logger: Logger, seed: int,
                     replay: Replay | None = None) -> Learner:
        return SACLearner(networks["policy"], networks["critic"], ActionBounds(spec.actions), iterator,
                          self.config, device, counter, logger, priority_updater=self.priority_updater(replay))
