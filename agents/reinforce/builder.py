"""REINFORCE builder: on-policy queue of whole episodes + stochastic actor + REINFORCE learner."""

from __future__ import annotations

from typing import Any, Iterator

import torch

from agents.on_policy import OnPolicyBuilder
from agents.builders import Networks
from agents.reinforce.config import REINFORCEConfig
from agents.reinforce.learning import REINFORCELearner
from components.adders import EpisodeAdder
from components.core import Adder, Learner, Replay
from components.counting import Counter
from components.loggers import Logger
from components.queue_replay import OnPolicyQueue
from components.specs import EnvironmentSpec


class REINFORCEBuilder(OnPolicyBuilder):
    """Episodes instead of fixed-length rollouts; the learner takes `episodes_per_update` of them."""

    config_class = REINFORCEConfig

    def __init__(self, config: REINFORCEConfig) -> None:
        super().__init__(config)

    def learner_batch_size(self, num_lanes: int) -> int:
        return self.config.episodes_per_update or num_lanes

    def make_replay(self, spec: EnvironmentSpec, seed: int, num_lanes: int = 1) -> Replay:
        # Lanes finish episodes at different times: room for a batch plus one episode per lane.
        return OnPolicyQueue(self.learner_batch_size(num_lanes) + num_lanes)

    def make_adder(self, replay: Replay) -> Adder:
        return EpisodeAdder(replay, max_length=self.config.longest_episode)

    def make_learner(self, networks: Networks, iterator: Iterator[Any], spec: EnvironmentSpec,
                     device: torch.device, counter: Counter, logger: Logger, seed: int,
                     replay: Replay | None = None) -> Learner:
        return REINFORCELearner(networks["policy"], iterator, self.config, device, counter, logger)
