"""What the on-policy actor-critic agents (REINFORCE, A2C, PPO) share: wiring and learner plumbing."""

from __future__ import annotations

from typing import Any, Iterator

import numpy as np
import torch
from torch import nn

from agents.builders import ActorLearnerBuilder, Networks
from components.actor_critic import make_actor_critic
from components.actors import Policy, StochasticPolicy
from components.adders import TrajectoryAdder
from components.core import Adder, Learner, Replay
from components.counting import Counter
from components.learners import TorchLearner, make_optimizer
from components.loggers import Logger
from components.queue_replay import OnPolicyQueue
from components.specs import EnvironmentSpec


class OnPolicyBuilder(ActorLearnerBuilder):
    """Shared wiring of the on-policy actor-critic agents (A2C, PPO): only the learner differs.

    Every rollout of T steps from N lanes becomes N trajectories in a queue;
    the learner consumes `batch_size` of them (default: all N) once each.
    """

    actor_network_names = ("policy",)
    learner_class: type  # The agent's learner, taking (network, iterator, config, device, counter, logger).

    def make_networks(self, spec: EnvironmentSpec) -> Networks:
        cfg = self.config
        return {"policy": make_actor_critic(spec, cfg.hidden_sizes, shared=cfg.shared_torso, log_std=cfg.log_std,
                                            squash=cfg.squash, activation=cfg.activation)}

    def learner_batch_size(self, num_lanes: int) -> int:
        return self.config.batch_size or num_lanes

    def make_replay(self, spec: EnvironmentSpec, seed: int, num_lanes: int = 1) -> Replay:
        # Room for one batch being consumed and one being written: actors wait beyond that.
        return OnPolicyQueue(2 * max(self.learner_batch_size(num_lanes), num_lanes))

    def make_adder(self, replay: Replay) -> Adder:
        return TrajectoryAdder(replay, self.config.rollout_length)

    def make_learner(self, networks: Networks, iterator: Iterator[Any], spec: EnvironmentSpec,
                     device: torch.device, counter: Counter, logger: Logger, seed: int,
                     replay: Replay | None = None) -> Learner:
        return self.learner_class(networks["policy"], iterator, self.config, device, counter, logger)

    def make_policy(self, networks: Networks, spec: EnvironmentSpec, evaluation: bool, seed: int) -> Policy:
        # The learners recompute values from the rollouts, so actors skip the critic.
        return StochasticPolicy(networks["policy"], seed=seed, deterministic=evaluation, with_value=False)

    def state_values(self, networks: Networks, observations: Any) -> np.ndarray:
        network = networks["policy"]
        device = next(network.parameters()).device
        with torch.inference_mode():
            return network(torch.as_tensor(observations, device=device))[1].cpu().numpy()


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


class OnPolicyLearner(TorchLearner):
    """What the policy-gradient learners share: one actor-critic network, its optimizer, a batch iterator."""

    def __init__(self, network: nn.Module, iterator: Iterator[Any], config: Any, device: torch.device,
                 counter: Counter | None = None, logger: Logger | None = None, log_every: int = 100) -> None:
        self._network = network.to(device)
        optimizer = make_optimizer(config.optimizer, self._network.parameters(), config.learning_rate,
                                   config.optimizer_eps, config.rmsprop_alpha)
        super().__init__({"policy": self._network}, optimizer, device, config.max_grad_norm, counter, logger,
                         log_every)
        self._iterator = iterator
        self._config = config
