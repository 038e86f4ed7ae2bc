"""PPO's network: the shared actor-critic, optionally behind a running observation normaliser."""

from __future__ import annotations

from typing import Sequence

import torch
from torch import nn

from components.actor_critic import make_actor_critic
from components.specs import EnvironmentSpec


class RunningNormalizer(nn.Module):
    """Standardises inputs with a running mean and variance (buffers: they travel with weights and checkpoints).

    `update(batch)` merges a batch's statistics (Chan et al.'s parallel
    algorithm); `forward` clips the standardised values to [-clip, clip].
    """

    def __init__(self, shape: Sequence[int], clip: float = 10.0, eps: float = 1e-8) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(tuple(shape)))
        self.register_buffer("var", torch.ones(tuple(shape)))
        self.register_buffer("count", torch.tensor(1e-4))
        self.clip, self.eps = clip, eps

    @torch.no_grad()
    def update(self, batch: torch.Tensor) -> None:
        batch = batch.float()
        batch_mean, batch_var, n = batch.mean(0), batch.var(0, unbiased=False), batch.shape[0]
        delta, total = batch_mean - self.mean, self.count + n
        self.mean += delta * n / total
        self.var.copy_((self.var * self.count + batch_var * n + delta.pow(2) * self.count * n / total) / total)
        self.count.copy_(total)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return ((x.float() - self.mean) / (self.var + self.eps).sqrt()).clamp(-self.clip, self.clip)


class NormalizedActorCritic(nn.Module):
    """An actor-critic network that sees observations through a `RunningNormalizer`."""

    def __init__(self, network: nn.Module, observation_shape: Sequence[int]) -> None:
        super().__init__()
        self.observation_normalizer = RunningNormalizer(observation_shape)
        self.network = network

    def forward(self, observation: torch.Tensor):
        return self.network(self.observation_normalizer(observation))

    def policy(self, observation: torch.Tensor):
        """The action distribution alone (actors that need no value skip the critic)."""
        return self.network.policy(self.observation_normalizer(observation))


def make_ppo_network(spec: EnvironmentSpec, hidden_sizes: Sequence[int], shared: bool, log_std: str, squash: str,
                     normalize_observations: bool = False, activation: str = "relu") -> nn.Module:
    network = make_actor_critic(spec, hidden_sizes, shared=shared, log_std=log_std, squash=squash,
                                activation=activation)
    if not normalize_observations:
        return network
    return NormalizedActorCritic(network, spec.observations.shape)
