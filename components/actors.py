"""Actors: run a policy on a batch of observations and feed what happens to an adder."""

from __future__ import annotations

from typing import Any, Callable

import dm_env
import numpy as np
import tree
import torch
from torch import nn

from components.action_bounds import ActionBounds
from components.action_masks import mask_of, random_allowed
from components.distributions import CategoricalDistribution
from components.core import Actor, Adder, Nest, Saveable
from components.types import PolicyOutput
from components.variable_utils import VariableClient
from environments import nests

Policy = Callable[[Nest], np.ndarray]


class EpsilonGreedyPolicy(Saveable):
    """Greedy actions from a Q network, each replaced by a uniform one with probability epsilon.

    `epsilon` is a number or a schedule `f(step) -> epsilon`. The step is
    `steps()` when given (runners pass the run's actor-step counter, which
    checkpoints keep, so a resumed run's epsilon equals the uninterrupted
    run's at the same step), else the lane-steps this policy has acted.
    """

    def __init__(self, q_network: nn.Module, num_actions: int,
                 epsilon: float | Callable[[int], float], seed: int | None = None,
                 device: torch.device | str = "cpu", steps: Callable[[], float] | None = None) -> None:
        self._network = q_network
        self._num_actions = num_actions
        self._epsilon = epsilon if callable(epsilon) else (lambda _: float(epsilon))
        self._rng = np.random.default_rng(seed)
        self._device = torch.device(device)
        self._step_source = steps
        self.steps = 0

    @property
    def epsilon(self) -> float:
        return self._epsilon(int(self._step_source()) if self._step_source is not None else self.steps)

    def __call__(self, observation: Nest) -> np.ndarray:
        epsilon = self.epsilon
        num_lanes = len(tree.flatten(observation)[0])
        mask = mask_of(observation)  # The network masks its Q values; exploration draws among allowed actions.
        explore = self._rng.random(num_lanes) < epsilon if epsilon > 0 else None
        self.steps += num_lanes
        if explore is not None and explore.all():  # Every lane explores: skip the network call.
            return random_allowed(self._rng, self._num_actions, num_lanes, mask)
        with torch.inference_mode():
            inputs = nests.map_structure(lambda x: torch.as_tensor(x, device=self._device), observation)
            actions = self._network(inputs).argmax(dim=-1).cpu().numpy()
        if explore is not None and explore.any():
            actions = np.where(explore, random_allowed(self._rng, self._num_actions, num_lanes, mask), actions)
        return actions

    def save(self) -> dict[str, Any]:
        return {"steps": self.steps, "rng": self._rng.bit_generator.state}

    def restore(self, state: dict[str, Any]) -> None:
        self.steps = state["steps"]
        self._rng.bit_generator.state = state["rng"]


class RandomActor(Actor):
    """Uniformly random discrete actions, one per lane, learning nothing: a baseline, and a load for
    measuring an environment loop's own cost."""

    def __init__(self, num_actions: int, seed: int = 0) -> None:
        self._num_actions = num_actions
        self._rng = np.random.default_rng(seed)

    def select_action(self, observation: Any) -> np.ndarray:
        return self._rng.integers(0, self._num_actions, len(tree.flatten(observation)[0]))

    def observe_first(self, timestep: dm_env.TimeStep) -> None:
        pass

    def observe(self, action: Any, next_timestep: dm_env.TimeStep) -> None:
        pass

    def update(self, wait: bool = False) -> None:
        pass


class FeedForwardActor(Actor):
    """A stateless-policy actor: `policy(observations) -> actions` (or a `PolicyOutput` with extras,
    which go to the adder with the step). A policy with `observe_step_types` (a recurrent one) is told
    each step's types before it acts on that step's observations, so it can reset its state on FIRST."""

    def __init__(self, policy: Policy, adder: Adder | None = None,
                 variable_client: VariableClient | None = None) -> None:
        self._policy = policy
        self._adder = adder
        self._client = variable_client
        self._extras: Any = ()  # The policy's extras for the last actions selected.
        self._observe_step_types = getattr(policy, "observe_step_types", None)

    @property
    def policy(self) -> Policy:
        return self._policy

    def select_action(self, observation: Nest) -> np.ndarray:
        output = self._policy(observation)
        if isinstance(output, PolicyOutput):  # Stochastic policies report extras (log-probs, values).
            self._extras = output.extras
            return output.action
        return output

    def observe_first(self, timestep: dm_env.TimeStep) -> None:
        if self._observe_step_types is not None:
            self._observe_step_types(timestep.step_type)
        if self._adder is not None:
            self._adder.add_first(timestep)

    def observe(self, action: Any, next_timestep: dm_env.TimeStep) -> None:
        if self._observe_step_types is not None:
            self._observe_step_types(next_timestep.step_type)
        if self._adder is not None:
            self._adder.add(action, next_timestep, self._extras)

    def update(self, wait: bool = False) -> None:
        if self._client is not None:
            self._client.update(wait)


class StochasticPolicy(Saveable):
    """Samples actions from a policy network on a batch of observations (leading lane axis).

    `network(observations)` returns an action distribution (see
    `components.actor_critic`) or a `(distribution, value)` pair. The policy
    returns `PolicyOutput(action, extras)`: env actions in the action spec's
    dtype and bounds, and extras {'raw_action', 'log_prob' float32 (N,),
    'value' float32 (N,) (only with `with_value=True` and a network that gives one)}. Learners must use
    'raw_action' (e.g. the unclipped Gaussian sample) for log-probabilities.
    Sampling is seeded with `seed`: categorical draws come from a numpy
    Generator (`CategoricalDistribution.sample_numpy`), others from a
    torch.Generator; `deterministic=True` (evaluation) takes the distribution's mode instead.
    """

    def __init__(self, network: nn.Module, seed: int | None = None, deterministic: bool = False,
                 device: torch.device | str = "cpu", with_value: bool = True) -> None:
        self._network = network
        # Learners that recompute values (A2C, PPO here) need not pay for the critic at every step.
        self._forward = network if with_value or not hasattr(network, "policy") else network.policy
        self._deterministic = deterministic
        self._device = torch.device(device)
        self._generator = torch.Generator(device=self._device)
        if seed is None:
            self._generator.seed()  # Non-deterministic seed.
        else:
            self._generator.manual_seed(seed)
        self._rng = np.random.default_rng(seed)

    def __call__(self, observation: Nest) -> PolicyOutput:
        with torch.inference_mode():
            if type(observation) is np.ndarray:
                inputs = torch.as_tensor(observation, device=self._device)
            else:
                inputs = nests.map_structure(lambda x: torch.as_tensor(x, device=self._device), observation)
            output = self._forward(inputs)
            distribution, value = output if isinstance(output, tuple) else (output, None)
            if isinstance(distribution, CategoricalDistribution) and not self._deterministic:
                raw_action, log_prob = distribution.sample_numpy(self._rng)
                extras = {"raw_action": raw_action, "log_prob": log_prob}
                action = raw_action.astype(distribution.env_numpy_dtype)
            else:
                raw = distribution.mode() if self._deterministic else distribution.sample(self._generator)
                extras = {"raw_action": raw.cpu().numpy(),
                          "log_prob": distribution.log_prob(raw).float().cpu().numpy()}
                action = distribution.to_env_action(raw).cpu().numpy()
            if value is not None:
                extras["value"] = value.float().cpu().numpy()
        return PolicyOutput(action=action, extras=extras)

    def save(self) -> dict[str, Any]:
        return {"generator": self._generator.get_state(), "rng": self._rng.bit_generator.state}

    def restore(self, state: dict[str, Any]) -> None:
        self._generator.set_state(state["generator"])
        if "rng" in state:  # Checkpoints from before the numpy draws have none.
            self._rng.bit_generator.state = state["rng"]


class ContinuousPolicy(Saveable):
    """Bounded continuous actions from a policy network that acts in [-1, 1], mapped by `ActionBounds`.

    `network.act(observations, generator)` gives the network's actions: sampled with `generator`, or its
    deterministic action when the generator is None (evaluation, `deterministic=True`). Behaviour policies
    add Gaussian `noise_std` in [-1, 1] units (TD3's exploration) and play uniform random actions for the
    first `random_steps` lane steps (`learning_starts`), counted by `steps()` when given (the run's
    checkpointed actor steps) or by this policy.
    """

    def __init__(self, network: nn.Module, bounds: ActionBounds, seed: int | None = None,
                 deterministic: bool = False, noise_std: float = 0.0, random_steps: int = 0,
                 steps: Callable[[], float] | None = None, device: torch.device | str = "cpu") -> None:
        self._network = network
        self._bounds = bounds
        self._deterministic = deterministic
        self._noise_std = 0.0 if deterministic else float(noise_std)
        self._random_steps = 0 if deterministic else int(random_steps)
        self._step_source = steps
        self._device = torch.device(device)
        self._generator = torch.Generator(device=self._device)
        self._generator.manual_seed(int(np.random.SeedSequence(seed).generate_state(1)[0]))
        self._rng = np.random.default_rng(seed)
        self.steps = 0

    def __call__(self, observation: Nest) -> np.ndarray:
        num_lanes = len(tree.flatten(observation)[0])
        step = int(self._step_source()) if self._step_source is not None else self.steps
        self.steps += num_lanes
        if step < self._random_steps:
            return self._bounds.to_env(self._rng.uniform(-1.0, 1.0, (num_lanes, self._bounds.size)))
        with torch.inference_mode():
            inputs = nests.map_structure(lambda x: torch.as_tensor(x, device=self._device), observation)
            unit = self._network.act(inputs, None if self._deterministic else self._generator)
            if self._noise_std > 0:
                noise = torch.randn(unit.shape, generator=self._generator, device=self._device)
                unit = unit + self._noise_std * noise
            unit = unit.cpu().numpy()
        return self._bounds.to_env(unit)

    def save(self) -> dict[str, Any]:
        return {"steps": self.steps, "generator": self._generator.get_state(), "rng": self._rng.bit_generator.state}

    def restore(self, state: dict[str, Any]) -> None:
        self.steps = state["steps"]
        self._generator.set_state(state["generator"])
        self._rng.bit_generator.state = state["rng"]
