"""SAC's networks: a tanh-squashed Gaussian policy and an entropy temperature."""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn
from torch.nn import functional as F

from components.networks import MLP, encode_flat

LOG_STD_MIN, LOG_STD_MAX = -20.0, 2.0  # As stable-baselines3's and the SAC authors' code.
_HALF_LOG_TWO_PI = 0.5 * math.log(2 * math.pi)


def squashed_log_prob(pre_tanh: torch.Tensor, noise: torch.Tensor, log_std: torch.Tensor) -> torch.Tensor:
    """log pi(tanh(u)) of u = mean + std * noise, summed over the action axis.

    The Gaussian's log-density minus the change of variables' log |d tanh(u)/du| = log(1 - tanh(u)^2),
    written as 2 (log 2 - u - softplus(-2u)), which stays finite where tanh(u) rounds to +-1.
    """
    gaussian = -0.5 * noise.pow(2) - log_std - _HALF_LOG_TWO_PI
    log_det = 2.0 * (math.log(2.0) - pre_tanh - F.softplus(-2.0 * pre_tanh))
    return (gaussian - log_det).sum(-1)


class SquashedGaussianPolicy(nn.Module):
    """Observation -> a Gaussian over pre-tanh actions; actions are its samples squashed into [-1, 1]."""

    def __init__(self, observation_size: int, action_size: int, hidden_sizes: Sequence[int],
                 encoder: nn.Module | None = None) -> None:
        super().__init__()
        self.encoder = encoder  # None: a flat vector observation, read as it is.
        self.torso = MLP(observation_size, hidden_sizes, activate_final=True)
        self.head = nn.Linear(self.torso.output_size, 2 * action_size)

    def forward(self, observation: Any) -> tuple[torch.Tensor, torch.Tensor]:
        """(mean, log_std) of the pre-tanh Gaussian."""
        out = self.head(self.torso(encode_flat(self.encoder, observation))).float()
        mean, log_std = out.chunk(2, -1)  # float32 even under bfloat16 autocast, so the log-probability is.
        return mean, log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)

    def sample(self, observation: torch.Tensor,
               generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
        """A reparameterised sample in [-1, 1] and its log-probability (gradients flow through both)."""
        mean, log_std = self(observation)
        noise = torch.randn(mean.shape, generator=generator, device=mean.device)
        pre_tanh = mean + log_std.exp() * noise
        return torch.tanh(pre_tanh), squashed_log_prob(pre_tanh, noise, log_std)

    def act(self, observation: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """A sample with `generator`, or the deterministic action tanh(mean) without one."""
        if generator is None:
            return torch.tanh(self(observation)[0])
        return self.sample(observation, generator)[0]


class Temperature(nn.Module):
    """The entropy temperature alpha, learned as log alpha or fixed (then a buffer, still checkpointed)."""

    def __init__(self, initial: float, learned: bool) -> None:
        super().__init__()
        log_alpha = torch.tensor(math.log(initial), dtype=torch.float32)
        if learned:
            self.log_alpha = nn.Parameter(log_alpha)
        else:
            self.register_buffer("log_alpha", log_alpha)

    def forward(self) -> torch.Tensor:
        return self.log_alpha.exp()
