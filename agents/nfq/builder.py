"""NFQ builder: the value-based wiring of DQN with the NFQ learner."""

from __future__ import annotations

from typing import Any, Iterator

import torch

from agents.builders import Networks
from agents.dqn.builder import DQNBuilder
from agents.nfq.config import NFQConfig
from agents.nfq.learning import NFQLearner
from agents.nfq.networks import make_nfq_network
from components.core import Learner, Replay
from components.counting import Counter
from components.loggers import Logger
from components.specs import EnvironmentSpec


class NFQBuilder(DQNBuilder):
    """Same replay, adder and actor as DQN; a plain Q network and no target network in the learner."""

    config_class = NFQConfig

    def __init__(self, config: NFQConfig) -> None:
        super().__init__(config)

    def make_networks(self, spec: EnvironmentSpec) -> Networks:
        return {"q": make_nfq_network(spec, self.config.hidden_sizes, self.config.encoder_overrides)}

    def make_learner(self, networks: Networks, iterator: Iterator[Any], spec: EnvironmentSpec,
                     device: torch.device, counter: Counter, logger: Logger, seed: int,
                     replay: Replay | None = None) -> Learner:
        return NFQLearner(networks["q"], iterator, self.config, device, counter, logger,
                          priority_updater=self.priority_updater(replay))
