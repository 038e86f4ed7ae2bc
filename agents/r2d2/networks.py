"""R2D2's network: torso -> recurrent core -> (MLP) -> Q head, stepped by actors and unrolled by the learner."""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from agents.dqn.networks import DuelingHead, num_actions_of
from components.action_masks import check_action_mask, mask_values
from components.nested import first_leaf, leading_size
from components.networks import ACTIVATIONS, MLP, make_torso, orthogonal_init_
from components.recurrent import RecurrentBranch, RecurrentCore
from components.specs import EnvironmentSpec


class RecurrentQNetwork(nn.Module):
    """Q values from a `RecurrentBranch`; the state is (N, state_size) and resets where `first`."""

    recurrent = True

    def __init__(self, branch: RecurrentBranch, num_actions: int, dueling: bool = False) -> None:
        super().__init__()
        self.branch = branch
        size = branch.output_size
        self.head = DuelingHead(size, num_actions) if dueling else nn.Linear(size, num_actions)

    @property
    def state_size(self) -> int:
        return self.branch.core.state_size

    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> torch.Tensor:
        return self.branch.core.initial_state(batch_size, device)

    def step(self, observation: torch.Tensor, first: torch.Tensor,
             state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step of every lane: (N, ...) -> Q (N, A) and the next state."""
        features, state = self.branch.step(observation, state, first)
        return mask_values(self.head(features), observation), state

    def unroll(self, observation: torch.Tensor, first: torch.Tensor,
               state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, ...) sequences from their start states -> Q (B, T, A) and the final state."""
        features, state = self.branch.unroll(observation, state, first)
        return mask_values(self.head(features), observation), state

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        """Q of observations each taken as an episode's first (diagnostics, e.g. V of first observations)."""
        count, device = leading_size(observation), first_leaf(observation).device
        first = torch.ones(count, dtype=torch.bool, device=device)
        return self.step(observation, first, self.initial_state(count, device))[0]


def make_recurrent_q_network(spec: EnvironmentSpec, hidden_sizes: tuple[int, ...], kind: str, size: int,
                             after_core_sizes: tuple[int, ...] = (), dueling: bool = False,
                             encoders: Mapping[str, str] | None = None) -> RecurrentQNetwork:
    """The default recurrent Q network for an environment's specs (a torso picked from the observation,
    `encoders` overriding it per key)."""
    check_action_mask(spec)
    torso = make_torso(spec.observations, hidden_sizes, encoders=encoders)
    after = MLP(size, after_core_sizes, activation=ACTIVATIONS["relu"], activate_final=True) if after_core_sizes \
        else None
    branch = RecurrentBranch(torso, RecurrentCore(kind, torso.output_size, size), after)
    return orthogonal_init_(RecurrentQNetwork(branch, num_actions_of(spec), dueling))  # The core keeps its own.
