"""NFQ builder: the value-based wiring of DQN with the NFQ learner."""

from __future__ import annotations

from typing import Any, Iterator

import torch

from agents.builders import Networks
from agents.dqn.builder import DQNBuilder
from agents.nfq.config import NFQConfig
from agents.nfq.learning import NFQLearner
from components.core import Learner
from components.counting import Counter
from components.loggers import Logger
from components.specs import EnvironmentSpec


class NFQBuilder(DQNBuilder):
    """Same replay, adder, actor and networks as DQN; no target network in the learner."""

    def __init__(self, config: NFQConfig) -> None:
        super().__init__(config)

    def make_learner(self, networks: Networks, iterator: Iterator[Any], spec: EnvironmentSpec,
                     device: torch.device, counter: Counter, logger: Logger, seed: int) -> Learner:
        return NFQLearner(networks["q"], iterator, self.config, device, counter, logger)
