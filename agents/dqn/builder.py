"""DQN builder: (prioritized, frame-stacking) replay + n-step adder + epsilon-greedy actor + DQN learner."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from agents.builders import Networks, ReplayBuilder
from agents.dqn.config import DQNConfig
from agents.dqn.learning import DQNLearner
from agents.dqn.networks import make_q_network, num_actions_of
from components.actors import EpsilonGreedyPolicy, Policy
from components.adders import NStepTransitionAdder
from components.core import Adder, Learner, Replay
from components.counting import Counter
from components.loggers import Logger
from components.greedy import QGreedy
from components.nested import to_tensors
from components.rate_limiters import RateLimiter
from components.frame_replay import FrameStackReplay, frame_replay_key, frame_transition_spec
from components.schedules import LinearSchedule
from components.specs import EnvironmentSpec
from components.types import transition_spec


class DQNBuilder(ReplayBuilder):
    """Value-based agents share this wiring; NFQ swaps in its own learner."""

    config_class = DQNConfig
    value_based = True
    action_kinds = ("discrete",)

    actor_network_names = ("q",)

    def __init__(self, config: DQNConfig) -> None:
        super().__init__(config)

    def make_networks(self, spec: EnvironmentSpec) -> Networks:
        cfg = self.config
        return {"q": make_q_network(spec, cfg.hidden_sizes, cfg.dueling, cfg.num_atoms, cfg.v_min, cfg.v_max,
                                    encoders=cfg.encoder_overrides)}

    def make_replay(self, spec: EnvironmentSpec, seed: int, num_lanes: int = 1) -> Replay:
        """Uniform or prioritized; stacked frames stored once per frame when `frame_replay` says so."""
        cfg = self.config
        limiter = RateLimiter(cfg.samples_per_insert, cfg.min_replay_size, error_buffer=cfg.batch_size)
        key = frame_replay_key(getattr(cfg, "frame_replay", "auto"), spec.observations)
        if key is None:
            return self.make_transition_replay(transition_spec(spec), seed, limiter)
        replay = self.make_transition_replay(frame_transition_spec(spec, frame_key=key), seed, limiter)
        return FrameStackReplay(replay, spec.observations, num_lanes, cfg.n_step, frame_key=key)

    def make_adder(self, replay: Replay) -> Adder:
        store = replay.store if isinstance(replay, FrameStackReplay) else None
        return NStepTransitionAdder(replay, self.config.n_step, self.config.discount, observation_store=store)

    def make_learner(self, networks: Networks, iterator: Iterator[Any], spec: EnvironmentSpec,
                     device: torch.device, counter: Counter, logger: Logger, seed: int,
                     replay: Replay | None = None) -> Learner:
        return DQNLearner(networks["q"], iterator, self.config, device, counter, logger,
                          priority_updater=self.priority_updater(replay))

    def greedy_head(self, networks: Networks, spec: EnvironmentSpec) -> nn.Module:
        return QGreedy(networks["q"], spec.actions)

    def state_values(self, networks: Networks, observations: Any) -> np.ndarray:
        """V(s) = max_a Q(s, a), e.g. of evaluation episodes' first observations (seed 001's diagnostic)."""
        q = networks["q"]
        device = next(q.parameters()).device
        with torch.inference_mode():
            return q(to_tensors(observations, device)).max(dim=-1).values.cpu().numpy()

    def make_policy(self, networks: Networks, spec: EnvironmentSpec, evaluation: bool, seed: int,
                    actor_steps: Callable[[], float] | None = None) -> Policy:
        cfg = self.config
        epsilon = cfg.eval_epsilon if evaluation else LinearSchedule(
            cfg.epsilon_start, cfg.epsilon_end, cfg.epsilon_decay_steps)
        return EpsilonGreedyPolicy(networks["q"], num_actions_of(spec), epsilon, seed=seed, steps=actor_steps)
