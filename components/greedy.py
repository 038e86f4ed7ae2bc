"""A trained agent's greedy policy as one plain torch module, for export (ONNX, TorchScript).

`GreedyGraph` takes the observation's arrays as separate positional inputs (one per leaf, in dm-tree's
flatten order, batch-first, in the spec's dtype) and returns the action in the environment's units
(dtype and bounds applied) and, where the agent has one, a second output: `q_values`, `logits` or `mean`.
Everything the agent does to an observation (uint8 scaling, one-hot encoding, masks, normalisation
statistics) lives in its networks, so it is inside the graph too. Builders pick the head:

- `QGreedy`: argmax of a Q network's (masked) values; outputs action and q_values.
- `DistributionGreedy`: the mode of a policy network's action distribution; outputs action and logits
  (categorical) or mean (Gaussian).
- `UnitActionGreedy`: a deterministic policy in [-1, 1] mapped to the action bounds; outputs action.
- `RecurrentQGreedy`, `RecurrentDistributionGreedy`: the same for a recurrent network (`step(observation,
  first, state)`), with two more inputs, `first` (bool (N,): True where an episode starts, which zeroes
  that row's state) and `state` (float32 (N, state_size): zeros at the start), and `next_state` as the last
  output, to feed back as `state` on the next step.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
import torch
import tree
from dm_env import specs
from torch import nn

from components.distributions import CategoricalDistribution, FactorisedCategorical, torch_dtype
from components.observation_keys import leaf_name


def leaf_names(observation_spec: Any) -> list[str]:
    """The graph's input names: 'observation' for one array, else each leaf's path joined with '/'."""
    if isinstance(observation_spec, specs.Array):
        return ["observation"]
    return [leaf_name(path) for path, _ in tree.flatten_with_path(observation_spec)]


class QGreedy(nn.Module):
    """(argmax_a Q(s, a) as the action spec's dtype, Q(s, .))."""

    output_names = ("action", "q_values")

    def __init__(self, q_network: nn.Module, action_spec: specs.Array) -> None:
        super().__init__()
        self.q_network = q_network
        self.action_dtype = torch_dtype(action_spec.dtype)

    def forward(self, observation: Any) -> tuple[torch.Tensor, torch.Tensor]:
        q_values = self.q_network(observation).float()
        return q_values.argmax(dim=-1).to(self.action_dtype), q_values


class DistributionGreedy(nn.Module):
    """(the mode of the policy's distribution, in the environment's units, logits or mean)."""

    def __init__(self, policy: nn.Module, categorical: bool) -> None:
        super().__init__()
        self.policy = policy
        self.output_names = ("action", "logits" if categorical else "mean")

    def forward(self, observation: Any) -> tuple[torch.Tensor, torch.Tensor]:
        # An actor-critic's `policy` skips the critic; a bare policy network gives its distribution itself.
        distribution = self.policy.policy(observation) if hasattr(self.policy, "policy") else self.policy(observation)
        action = distribution.to_env_action(distribution.mode())
        if isinstance(distribution, (CategoricalDistribution, FactorisedCategorical)):
            return action, distribution.logits
        return action, distribution.mean


class UnitActionGreedy(nn.Module):
    """A deterministic policy's action in [-1, 1] (`policy.act(observation, None)`), mapped to the bounds."""

    output_names = ("action",)

    def __init__(self, policy: nn.Module, action_spec: specs.BoundedArray) -> None:
        super().__init__()
        self.policy = policy
        minimum = np.broadcast_to(action_spec.minimum, action_spec.shape).astype(np.float32)
        maximum = np.broadcast_to(action_spec.maximum, action_spec.shape).astype(np.float32)
        self.register_buffer("middle", torch.as_tensor((maximum + minimum) / 2))
        self.register_buffer("half_range", torch.as_tensor((maximum - minimum) / 2))
        self.action_dtype = torch_dtype(action_spec.dtype)

    def forward(self, observation: Any) -> tuple[torch.Tensor]:
        unit = self.policy.act(observation, None).float().clamp(-1.0, 1.0)
        return ((self.middle + self.half_range * unit).to(self.action_dtype),)


class RecurrentQGreedy(nn.Module):
    """(argmax Q, Q, next state) of one step of a recurrent Q network."""

    output_names = ("action", "q_values", "next_state")
    recurrent = True

    def __init__(self, q_network: nn.Module, action_spec: specs.Array) -> None:
        super().__init__()
        self.q_network = q_network
        self.state_size = int(q_network.state_size)
        self.action_dtype = torch_dtype(action_spec.dtype)

    def forward(self, observation: Any, first: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        q_values, state = self.q_network.step(observation, first, state)
        q_values = q_values.float()
        return q_values.argmax(dim=-1).to(self.action_dtype), q_values, state


class RecurrentDistributionGreedy(nn.Module):
    """(mode action, logits or mean, next state) of one step of a recurrent actor-critic."""

    recurrent = True

    def __init__(self, policy: nn.Module, categorical: bool) -> None:
        super().__init__()
        self.policy = policy
        self.state_size = int(policy.state_size)
        self.output_names = ("action", "logits" if categorical else "mean", "next_state")

    def forward(self, observation: Any, first: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, ...]:
        distribution, _, state = self.policy.step(observation, first, state)
        action = distribution.to_env_action(distribution.mode())
        extra = distribution.logits if hasattr(distribution, "logits") else distribution.mean
        return action, extra, state


class GreedyGraph(nn.Module):
    """`head` over the observation given as separate leaf tensors (positional, in `input_names` order)."""

    def __init__(self, head: nn.Module, observation_spec: Any) -> None:
        super().__init__()
        self.head = head.eval()
        self.observation_spec = observation_spec
        self.recurrent = bool(getattr(head, "recurrent", False))
        self._num_leaves = len(leaf_names(observation_spec))
        self.input_names: list[str] = leaf_names(observation_spec) + (["first", "state"] if self.recurrent else [])
        self.output_names: Sequence[str] = tuple(head.output_names)
        self._single = isinstance(observation_spec, specs.Array)

    def forward(self, *inputs: torch.Tensor) -> tuple[torch.Tensor, ...]:
        leaves = list(inputs[:self._num_leaves])
        observation = leaves[0] if self._single else tree.unflatten_as(self.observation_spec, leaves)
        if self.recurrent:
            return self.head(observation, *inputs[self._num_leaves:])
        return self.head(observation)

    def example_inputs(self, batch_size: int, rng: np.random.Generator) -> list[np.ndarray]:
        """Random observations inside the spec (uniform over bounds or index ranges; masks allow >= 1 action),
        and for a recurrent head random `first` flags and states."""
        leaves = [self.observation_spec] if self._single else tree.flatten(self.observation_spec)
        inputs = [random_leaf(spec, batch_size, rng, name) for spec, name in zip(leaves, self.input_names)]
        if self.recurrent:
            inputs += [rng.random(batch_size) < 0.5,
                       rng.normal(size=(batch_size, self.head.state_size)).astype(np.float32)]
        return inputs


def random_leaf(spec: specs.Array, batch_size: int, rng: np.random.Generator, name: str = "") -> np.ndarray:
    """A batch of values of one observation spec: inside its bounds (floats also inside [-3, 3]), index
    ranges for integers, 0/1 for an action mask (at least one action allowed per row)."""
    shape = (batch_size, *spec.shape)
    integer = np.issubdtype(spec.dtype, np.integer) or spec.dtype == np.bool_
    if name.split("/")[-1] == "action_mask":
        mask = rng.integers(0, 2, shape)
        mask.reshape(batch_size, -1)[~mask.reshape(batch_size, -1).any(-1), 0] = 1
        return mask.astype(spec.dtype)
    if isinstance(spec, specs.DiscreteArray):
        return rng.integers(0, spec.num_values, shape).astype(spec.dtype)
    low, high = (np.broadcast_to(bound, spec.shape).astype(np.float64) for bound in (
        (spec.minimum, spec.maximum) if isinstance(spec, specs.BoundedArray) else (-3.0, 3.0)))
    if integer:
        if not isinstance(spec, specs.BoundedArray):
            low, high = np.zeros(spec.shape), np.ones(spec.shape)
        return rng.integers(low.astype(np.int64), high.astype(np.int64) + 1, shape).astype(spec.dtype)
    return rng.uniform(np.maximum(low, -3.0), np.minimum(high, 3.0), shape).astype(spec.dtype)
