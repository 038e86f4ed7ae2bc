"""Q networks: a torso chosen from the observation spec and a plain or dueling head."""

from __future__ import annotations

from typing import Mapping, Sequence

import torch
from dm_env import specs
from torch import nn

from components.action_masks import check_action_mask, mask_values
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
    """Observation -> one Q value per action (a masked action's is the lowest float: see action_masks)."""

    def __init__(self, torso: nn.Module, num_actions: int, dueling: bool = False) -> None:
        head = DuelingHead(torso.output_size, num_actions) if dueling else nn.Linear(torso.output_size, num_actions)
        super().__init__(torso, head)

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        return mask_values(super().forward(observation), observation)


class DistributionalHead(nn.Module):
    """Logits of a categorical return distribution per action: (batch, actions, atoms); dueling optional."""

    def __init__(self, input_size: int, num_actions: int, num_atoms: int, dueling: bool = False) -> None:
        super().__init__()
        self.num_actions, self.num_atoms, self.dueling = num_actions, num_atoms, dueling
        self.advantage = nn.Linear(input_size, num_actions * num_atoms)
        self.value = nn.Linear(input_size, num_atoms) if dueling else None

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        logits = self.advantage(features).unflatten(-1, (self.num_actions, self.num_atoms))
        if self.value is not None:  # Dueling on the logits, as in Rainbow.
            logits = self.value(features).unsqueeze(-2) + logits - logits.mean(dim=-2, keepdim=True)
        return logits


class DistributionalQNetwork(nn.Module):
    """C51: a categorical distribution over `num_atoms` returns in [v_min, v_max] for each action.

    `forward` gives Q(s, a) = sum_i z_i p_i(s, a), so actors use it like any Q
    network; learners use `logits` for the distributional loss.
    """

    def __init__(self, torso: nn.Module, num_actions: int, num_atoms: int, v_min: float, v_max: float,
                 dueling: bool = False) -> None:
        super().__init__()
        self.torso = torso
        self.head = DistributionalHead(torso.output_size, num_actions, num_atoms, dueling)
        self.register_buffer("support", torch.linspace(v_min, v_max, num_atoms))

    def logits(self, observation: torch.Tensor) -> torch.Tensor:
        return self.head(self.torso(observation))

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        return mask_values((self.logits(observation).softmax(dim=-1) * self.support).sum(dim=-1), observation)


def num_actions_of(spec: EnvironmentSpec) -> int:
    """The number of discrete actions, or a clear error for other action specs."""
    actions = spec.actions
    if not isinstance(actions, specs.DiscreteArray):
        raise TypeError(f"Value-based agents need a DiscreteArray action spec; this environment has {actions!r}.")
    return int(actions.num_values)


def make_q_network(spec: EnvironmentSpec, hidden_sizes: Sequence[int], dueling: bool = False,
                   num_atoms: int = 1, v_min: float = -10.0, v_max: float = 10.0,
                   encoders: Mapping[str, str] | None = None) -> nn.Module:
    """The default Q network for an environment's specs: scalar Q values, or C51 when `num_atoms` > 1;
    `encoders` overrides the torso's encoder per key of a dict observation."""
    check_action_mask(spec)
    torso = make_torso(spec.observations, hidden_sizes, encoders=encoders)
    if num_atoms > 1:
        network = DistributionalQNetwork(torso, num_actions_of(spec), num_atoms, v_min, v_max, dueling)
    else:
        network = QNetwork(torso, num_actions_of(spec), dueling)
    return orthogonal_init_(network)
