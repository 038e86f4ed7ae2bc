"""DQN builder: uniform replay + n-step adder + epsilon-greedy actor + DQN learner."""

from __future__ import annotations

from typing import Any, Iterator

import torch

from agents.builders import ActorLearnerBuilder, Networks
from agents.dqn.config import DQNConfig
from agents.dqn.learning import DQNLearner
from agents.dqn.networks import make_q_network, num_actions_of
from components.actors import EpsilonGreedyPolicy, Policy
from components.adders import NStepTransitionAdder
from components.core import Adder, Learner, Replay
from components.counting import Counter
from components.loggers import Logger
from components.rate_limiters import RateLimiter
from components.replay import UniformReplay
from components.schedules import LinearSchedule
from components.specs import EnvironmentSpec
from components.types import transition_spec


class DQNBuilder(ActorLearnerBuilder):
    """Value-based agents share this wiring; NFQ swaps in its own learner."""

    actor_network_names = ("q",)

    def __init__(self, config: DQNConfig) -> None:
        super().__init__(config)

    def make_networks(self, spec: EnvironmentSpec) -> Networks:
        return {"q": make_q_network(spec, self.config.hidden_sizes, self.config.dueling)}

    def make_replay(self, spec: EnvironmentSpec, seed: int) -> Replay:
        cfg = self.config
        limiter = RateLimiter(cfg.samples_per_insert, cfg.min_replay_size, error_buffer=cfg.batch_size)
        return UniformReplay(transition_spec(spec), cfg.replay_capacity, seed=seed, rate_limiter=limiter)

    def make_adder(self, replay: Replay) -> Adder:
        return NStepTransitionAdder(replay, self.config.n_step, self.config.discount)

    def make_learner(self, networks: Networks, iterator: Iterator[Any], spec: EnvironmentSpec,
                     device: torch.device, counter: Counter, logger: Logger, seed: int) -> Learner:
        return DQNLearner(networks["q"], iterator, self.config, device, counter, logger)

    def make_policy(self, networks: Networks, spec: EnvironmentSpec, evaluation: bool, seed: int) -> Policy:
        cfg = self.config
        epsilon = cfg.eval_epsilon if evaluation else LinearSchedule(
            cfg.epsilon_start, cfg.epsilon_end, cfg.epsilon_decay_steps)
        return EpsilonGreedyPolicy(networks["q"], num_actions_of(spec), epsilon, seed=seed)
