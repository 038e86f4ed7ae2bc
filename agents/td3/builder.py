"""TD3 builder: uniform or prioritized replay, n-step adder, a deterministic actor with Gaussian noise, the TD3 learner."""

from __future__ import annotations

from typing import Any, Iterator

import torch

from agents.builders import Networks
from agents.off_policy import ContinuousOffPolicyBuilder, action_size, observation_encoder
from agents.td3.config import TD3Config
from agents.td3.learning import TD3Learner
from agents.td3.networks import DeterministicPolicy
from components.action_bounds import ActionBounds
from components.core import Learner, Replay
from components.counting import Counter
from components.critics import EnsembleCritic
from components.loggers import Logger
from components.specs import EnvironmentSpec


class TD3Builder(ContinuousOffPolicyBuilder):
    """TD3 (and DDPG, with one critic, no smoothing and no delay) on bounded continuous actions."""

    config_class = TD3Config

    def exploration_noise(self) -> float:
        return self.config.exploration_noise

    def make_networks(self, spec: EnvironmentSpec) -> Networks:
        cfg, actions = self.config, action_size(spec)
        policy_encoder, policy_inputs = observation_encoder(spec, "TD3", cfg.encoder_overrides)
        critic_encoder, critic_inputs = observation_encoder(spec, "TD3", cfg.encoder_overrides)
        return {"policy": DeterministicPolicy(policy_inputs, actions, cfg.hidden_sizes, policy_encoder),
                "critic": EnsembleCritic(critic_inputs, actions, cfg.hidden_sizes, cfg.num_critics,
                                         encoder=critic_encoder)}

    def make_learner(self, networks: Networks, iterator: Iterator[Any], spec: EnvironmentSpec,
                     device: torch.device, counter: Counter, logger: Logger, seed: int,
                     replay: Replay | None = None) -> Learner:
        return TD3Learner(networks["policy"], networks["critic"], ActionBounds(spec.actions), iterator,
                          self.config, device, counter, logger, priority_updater=self.priority_updater(replay))
