"""PPO builder: the on-policy actor-critic wiring of A2C with the PPO learner."""

from __future__ import annotations

from typing import Any, Iterator

import torch

from agents.on_policy import OnPolicyBuilder
from agents.builders import Networks
from agents.ppo.config import PPOConfig
from agents.ppo.learning import PPOLearner
from components.core import Learner, Replay
from components.counting import Counter
from components.loggers import Logger
from components.specs import EnvironmentSpec


class PPOBuilder(OnPolicyBuilder):
    config_class = PPOConfig
    learner_class = PPOLearner

    def __init__(self, config: PPOConfig) -> None:
        super().__init__(config)

    def make_learner(self, networks: Networks, iterator: Iterator[Any], spec: EnvironmentSpec,
                     device: torch.device, counter: Counter, logger: Logger, seed: int,
                     replay: Replay | None = None) -> Learner:
        return PPOLearner(networks["policy"], iterator, self.config, device, counter, logger, seed=seed)
