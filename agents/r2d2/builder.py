"""R2D2 builder: prioritized sequence replay + sequence adder + recurrent epsilon-greedy actor + R2D2 learner."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from agents.builders import Networks, ReplayBuilder
from agents.dqn.networks import num_actions_of
from agents.r2d2.config import R2D2Config
from agents.r2d2.learning import R2D2Learner, unrescale
from agents.r2d2.networks import make_recurrent_q_network
from components.core import Adder, Learner, Replay
from components.counting import Counter
from components.greedy import RecurrentQGreedy
from components.loggers import Logger
from components.nested import to_tensors
from components.rate_limiters import RateLimiter
from components.recurrent import RecurrentEpsilonGreedyPolicy, core_state_size
from components.schedules import LinearSchedule
from components.sequence_adder import SequenceAdder
from components.specs import EnvironmentSpec
from components.types import sequence_spec


class R2D2Builder(ReplayBuilder):
    """The DQN wiring with sequences in place of transitions: items are `SequenceItem`s of
    `sequence_length` steps written every `sequence_period`, with the core state they began in."""

    config_class = R2D2Config
    value_based = True
    action_kinds = ("discrete",)
    actor_network_names = ("q",)

    def make_networks(self, spec: EnvironmentSpec) -> Networks:
        cfg = self.config
        return {"q": make_recurrent_q_network(spec, cfg.hidden_sizes, cfg.core, cfg.core_size, cfg.after_core_sizes,
                                              cfg.dueling, encoders=cfg.encoder_overrides)}

    def make_replay(self, spec: EnvironmentSpec, seed: int, num_lanes: int = 1) -> Replay:
        cfg = self.config
        limiter = RateLimiter(cfg.samples_per_insert, cfg.min_replay_size, error_buffer=cfg.batch_size)
        item_spec = sequence_spec(spec, cfg.sequence_length, core_state_size(cfg.core, cfg.core_size))
        return self.make_transition_replay(item_spec, seed, limiter)

    def make_adder(self, replay: Replay) -> Adder:
        return SequenceAdder(replay, self.config.sequence_length, self.config.sequence_period)

    def make_learner(self, networks: Networks, iterator: Iterator[Any], spec: EnvironmentSpec,
                     device: torch.device, counter: Counter, logger: Logger, seed: int,
                     replay: Replay | None = None) -> Learner:
        return R2D2Learner(networks["q"], iterator, self.config, device, counter, logger,
                           priority_updater=self.priority_updater(replay))

    def greedy_head(self, networks: Networks, spec: EnvironmentSpec) -> nn.Module:
        """q_values stay in the network's units: h(Q) under value rescaling (h^-1 would amplify float error
        past the export's parity tolerance; `agents.r2d2.learning.unrescale` gives returns)."""
        return RecurrentQGreedy(networks["q"], spec.actions)

    def state_values(self, networks: Networks, observations: Any) -> np.ndarray:
        """V(s) = max_a Q(s, a) of observations taken as episodes' first (h^-1 applied under rescaling)."""
        q = networks["q"]
        device = next(q.parameters()).device
        with torch.inference_mode():
            values = q(to_tensors(observations, device)).max(dim=-1).values
            if self.config.value_rescaling:
                values = unrescale(values, self.config.rescaling_epsilon)
            return values.cpu().numpy()

    def make_policy(self, networks: Networks, spec: EnvironmentSpec, evaluation: bool, seed: int,
                    actor_steps: Callable[[], float] | None = None) -> RecurrentEpsilonGreedyPolicy:
        cfg = self.config
        epsilon = cfg.eval_epsilon if evaluation else LinearSchedule(
            cfg.epsilon_start, cfg.epsilon_end, cfg.epsilon_decay_steps)
        return RecurrentEpsilonGreedyPolicy(networks["q"], num_actions_of(spec), epsilon, seed=seed,
                                            steps=actor_steps)
