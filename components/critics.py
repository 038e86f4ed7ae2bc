"""Action-value critics for continuous actions: an ensemble of MLPs Q(s, a) run as one batched module.

Twin critics (TD3, SAC) as two `nn.Linear` stacks cost two kernel launches per layer and two backward
passes' worth of bookkeeping; stacked as (E, fan_in, fan_out) weights they are one batched matmul per
layer, forward and backward. Initialisation is `nn.Linear`'s (uniform in +-1/sqrt(fan_in)).
"""

from __future__ import annotations

import math
from typing import Any, Sequence

import torch
from torch import nn

from components.networks import encode_flat


class EnsembleCritic(nn.Module):
    """`num_critics` independent MLPs over [flattened observation, action] -> one value each, shape (E, B).

    `frozen=True` evaluates with detached weights, so a policy loss through the critics reaches only the
    actions (and the policy), never the critics' parameters. An `encoder` (a dict's or an image's, shared by
    the ensemble) turns the observation into the features the MLPs read; without one it is flattened.
    """

    def __init__(self, observation_size: int, action_size: int, hidden_sizes: Sequence[int],
                 num_critics: int = 2, encoder: nn.Module | None = None) -> None:
        super().__init__()
        if num_critics < 1:
            raise ValueError(f"num_critics must be >= 1, got {num_critics}.")
        self.num_critics = num_critics
        self.encoder = encoder
        sizes = [observation_size + action_size, *hidden_sizes, 1]
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
            bound = 1.0 / math.sqrt(fan_in)
            self.weights.append(nn.Parameter(torch.empty(num_critics, fan_in, fan_out).uniform_(-bound, bound)))
            self.biases.append(nn.Parameter(torch.empty(num_critics, 1, fan_out).uniform_(-bound, bound)))

    def forward(self, observation: Any, action: torch.Tensor, frozen: bool = False) -> torch.Tensor:
        features = encode_flat(self.encoder, observation)
        if frozen and self.encoder is not None:
            features = features.detach()  # The encoder is the critic's: a policy loss must not train it.
        x = torch.cat([features, action.float()], dim=-1)
        x = x.unsqueeze(0).expand(self.num_critics, -1, -1)
        layers = [(w.detach(), b.detach()) if frozen else (w, b) for w, b in zip(self.weights, self.biases)]
        for weight, bias in layers[:-1]:
            x = torch.baddbmm(bias, x, weight).relu_()  # In place: baddbmm's backward needs its inputs only.
        weight, bias = layers[-1]
        # The value layer stays float32 under bfloat16 autocast: a Q of a few hundred in bf16 is only
        # good to +-1, coarser than the TD errors it learns from. It is 1/256 of the arithmetic.
        if torch.is_autocast_enabled(x.device.type):
            with torch.autocast(x.device.type, enabled=False):
                return torch.baddbmm(bias, x.float(), weight).squeeze(-1)
        return torch.baddbmm(bias, x, weight).squeeze(-1)


@torch.no_grad()
def soft_update_(target: nn.Module, online: nn.Module, tau: float) -> None:
    """Polyak averaging: target <- target + tau (online - target), parameter by parameter."""
    for target_parameter, online_parameter in zip(target.parameters(), online.parameters()):
        target_parameter.lerp_(online_parameter, tau)
