"""What the on-policy actor-critic agents (REINFORCE, A2C, PPO) share: wiring and learner plumbing."""

from __future__ import annotations

from typing import Any, Callable, Iterator

import numpy as np
import torch
from torch import nn

from agents.builders import ActorLearnerBuilder, Networks
from components.action_bounds import action_kind
from components.actor_critic import make_actor_critic
from components.actors import Policy, StochasticPolicy
from components.adders import TrajectoryAdder
from components.core import Adder, Learner, Replay
from components.counting import Counter
from components.greedy import DistributionGreedy, RecurrentDistributionGreedy
from components.learners import TorchLearner, make_optimizer
from components.loggers import Logger
from components.nested import to_tensors
from components.queue_replay import OnPolicyQueue
from components.recurrent import RecurrentStochasticPolicy, is_recurrent, make_recurrent_actor_critic
from components.specs import EnvironmentSpec


class OnPolicyBuilder(ActorLearnerBuilder):
    """Shared wiring of the on-policy actor-critic agents (A2C, PPO): only the learner differs.

    Every rollout of T steps from N lanes becomes N trajectories in a queue;
    the learner consumes `batch_size` of them (default: all N) once each.
    """

    actor_network_names = ("policy",)
    action_kinds = ("discrete", "multi_discrete", "bounded", "unbounded")
    on_policy = True
    learner_class: type  # The agent's learner, taking (network, iterator, config, device, counter, logger).

    def make_networks(self, spec: EnvironmentSpec) -> Networks:
        cfg = self.config  # init_log_std and normalize_observations are optional config fields.
        if getattr(cfg, "core", "none") != "none":
            return {"policy": make_recurrent_actor_critic(
                spec, cfg.hidden_sizes, cfg.core, cfg.core_size, shared=cfg.shared_torso, log_std=cfg.log_std,
                squash=cfg.squash,
                init_log_std=getattr(cfg, "init_log_std", None), activation=cfg.activation,
                normalize_observations=getattr(cfg, "normalize_observations", False),
                after_core_sizes=cfg.after_core_sizes, encoders=cfg.encoder_overrides)}
        return {"policy": make_actor_critic(spec, cfg.hidden_sizes, shared=cfg.shared_torso, log_std=cfg.log_std,
                                            squash=cfg.squash, activation=cfg.activation,
                                            init_log_std=getattr(cfg, "init_log_std", None),
                                            normalize_observations=getattr(cfg, "normalize_observations", False),
                                            encoders=cfg.encoder_overrides)}

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

    def make_policy(self, networks: Networks, spec: EnvironmentSpec, evaluation: bool, seed: int,
                    actor_steps: Callable[[], float] | None = None) -> Policy:
        # The learners recompute values from the rollouts, so actors skip the critic.
        if is_recurrent(networks["policy"]):
            return RecurrentStochasticPolicy(networks["policy"], seed=seed, deterministic=evaluation)
        return StochasticPolicy(networks["policy"], seed=seed, deterministic=evaluation, with_value=False)

    def greedy_head(self, networks: Networks, spec: EnvironmentSpec) -> nn.Module:
        categorical = action_kind(spec.actions) != "bounded"
        if is_recurrent(networks["policy"]):
            return RecurrentDistributionGreedy(networks["policy"], categorical)
        return DistributionGreedy(networks["policy"], categorical)

    def state_values(self, networks: Networks, observations: Any) -> np.ndarray:
        network = networks["policy"]
        device = next(network.parameters()).device
        with torch.inference_mode():
            return network(to_tensors(observations, device))[1].cpu().numpy()


def masked_mean(x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    return (x * mask).sum() / mask.sum().clamp(min=1.0)


def parameter_groups(network: nn.Module, learning_rate: float,
                     critic_learning_rate: float | None = None) -> list[dict[str, Any]]:
    """Optimizer parameter groups, each with an 'lr_scale' relative to `learning_rate`.

    One group (scale 1) unless `critic_learning_rate` is given; then the
    parameters only the critic uses (`network.critic_parameters()`: value head
    and critic torso; a shared torso stays with the actor) form a second group
    with scale critic_learning_rate / learning_rate.
    """
    if critic_learning_rate is None:
        return [{"params": list(network.parameters()), "lr": learning_rate, "lr_scale": 1.0}]
    critic_ids = {id(p) for p in network.critic_parameters()}
    actor = [p for p in network.parameters() if id(p) not in critic_ids]
    critic = [p for p in network.parameters() if id(p) in critic_ids]
    scale = critic_learning_rate / learning_rate
    return [{"params": actor, "lr": learning_rate, "lr_scale": 1.0},
            {"params": critic, "lr": learning_rate * scale, "lr_scale": scale}]


def set_scaled_learning_rate(optimizer: torch.optim.Optimizer, learning_rate: float) -> None:
    """Sets each parameter group's step size to `learning_rate` times its 'lr_scale' (1 if absent)."""
    for group in optimizer.param_groups:
        group["lr"] = learning_rate * group.get("lr_scale", 1.0)


class OnPolicyLearner(TorchLearner):
    """What the policy-gradient learners share: one actor-critic network, its optimizer, a batch iterator.

    A config with a `critic_learning_rate` (not None) gets two parameter groups
    (see `parameter_groups`); decay them together with `set_scaled_learning_rate`.
    """

    def __init__(self, network: nn.Module, iterator: Iterator[Any], config: Any, device: torch.device,
                 counter: Counter | None = None, logger: Logger | None = None, log_every: int = 100) -> None:
        self._network = network.to(device)
        groups = parameter_groups(self._network, config.learning_rate, getattr(config, "critic_learning_rate", None))
        optimizer = make_optimizer(config.optimizer, groups, config.learning_rate, config.optimizer_eps,
                                   config.rmsprop_alpha)
        super().__init__({"policy": self._network}, optimizer, device, config.max_grad_norm, counter, logger,
                         log_every)
        self._iterator = iterator
        self._config = config

    def _update_observation_normalizer(self, observations: torch.Tensor) -> None:
        """Merges a batch of observations (N, ...) into the network's running normaliser, if it has one.

        Call it after the batch's updates: the actor acted with the statistics from before this batch, so
        its log-probabilities and the learner's first ones see the same inputs (PPO's ratio starts at 1).
        The merge runs under the weights' lock, so an actor copying them never gets the mean of one
        update with the variance of another.
        """
        normalizer = getattr(self._network, "observation_normalizer", None)
        if normalizer is not None:
            with self._variables_lock:
                normalizer.update(observations)
