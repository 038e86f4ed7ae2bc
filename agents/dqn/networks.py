"""Q networks: a torso chosen from the observation spec and a plain or dueling head."""

from __future__ import annotations

from typing import Sequence

import torch
from dm_env import specs
from torch import nn

from components.networks import make_torso, orthogonal_init_
from components.specs import EnvironmentSpec


class DuelingHead(nn.Module):
    """Q(s, a) = V(s) + A(s, a) - mean_a A(s, a)."""

    def __init__(self, input_size: int, num_actions: int) -> None:
        super().__init__()
        self.value = nn.Linear(input_size, 1)
        self.advantage = nn.Linear(input_size, num_actions)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        advantage = self.advantage(features)
        return self.value(features) + advantage - advantage.mean(dim=-1, keepdim=True)


class QNetwork(nn.Sequential):
    """Observation -> one Q value per action."""

    def __init__(self, torso: nn.Module, num_actions: int, dueling: bool = False) -> None:
        head = DuelingHead(torso.output_size, num_actions) if dueling else nn.Linear(torso.output_size, num_actions)
        super().__init__(torso, head)


def num_actions_of(spec: EnvironmentSpec) -> int:
    """The number of discrete actions, or a clear error for other action specs."""
    actions = spec.actions
    if not isinstance(actions, specs.DiscreteArray):
        raise TypeError(f"Value-based agents need a DiscreteArray action spec; this environment has {actions!r}.")
    return int(actions.num_values)


def make_q_network(spec: EnvironmentSpec, hidden_sizes: Sequence[int], dueling: bool = False) -> QNetwork:
    """The default Q network for an environment's observation and action specs."""
    network = QNetwork(make_torso(spec.observations, hidden_sizes), num_actions_of(spec), dueling)
    return orthogonal_init_(network)
