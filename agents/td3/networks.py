"""TD3's policy: a deterministic MLP with a tanh output in [-1, 1]."""

from __future__ import annotations

from typing import Any, Sequence

import torch
from torch import nn

from components.networks import MLP, encode_flat


class DeterministicPolicy(nn.Module):
    """Observation -> tanh(MLP(observation)), an action in [-1, 1]."""

    def __init__(self, observation_size: int, action_size: int, hidden_sizes: Sequence[int],
                 encoder: nn.Module | None = None) -> None:
        super().__init__()
        self.encoder = encoder  # None: a flat vector observation, read as it is.
        self.mlp = MLP(observation_size, hidden_sizes, action_size)

    def forward(self, observation: Any) -> torch.Tensor:
        return torch.tanh(self.mlp(encode_flat(self.encoder, observation)).float())

    def act(self, observation: torch.Tensor, generator: torch.Generator | None) -> torch.Tensor:
        """The policy's action (the behaviour policy adds its exploration noise to it)."""
        return self(observation)
