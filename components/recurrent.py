"""Recurrent cores for actor-critics: an LSTM or GRU after the torso, its state reset where episodes start.

A core's state is one float tensor per lane, (N, state_size) (an LSTM's h and c side by side, and the
critic's core after the actor's when it has its own), so it travels
as a plain array: in the actor's extras ('core_state', the state each step started from), in trajectories and
in checkpoints. Resets follow the lane semantics of dm_env: the state is zeroed before a FIRST observation is
processed, both when acting (`RecurrentActorCritic.step`) and when a learner replays a sequence
(`RecurrentActorCritic.unroll`), so the two see the same states.
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any, Callable, Iterator, Mapping

import dm_env
import numpy as np
import torch
from torch import nn

from components.actor_critic import (TORSO_GAIN, VALUE_GAIN, RunningNormalizer, check_normalizable, make_policy_head,
                                     masked_policy)
from components.action_masks import check_action_mask, mask_of, random_allowed
from components.distributions import ActionDistribution
from components.nested import first_leaf, flatten_leading, leading_size, to_tensors
from components.actors import EpsilonGreedyPolicy, StochasticPolicy
from components.networks import ACTIVATIONS, MLP, make_torso, orthogonal_init_
from components.specs import EnvironmentSpec
from components.types import PolicyOutput

CORE_KINDS = ("none", "lstm", "gru")
FIRST = int(dm_env.StepType.FIRST)


class RecurrentCore(nn.Module):
    """A one-layer LSTM or GRU; `state_size` is 2 * size for an LSTM (h, c), size for a GRU.

    One step (acting) is torch's fused cell on the layer's weights. `unroll` (learning) runs the layer over
    the longest stretches of time in which no lane starts an episode, so a sequence with k reset times costs
    k + 1 calls of torch's recurrence, not one Python step per time step; at each stretch's start the lanes
    that begin an episode get a zero state. The recurrence runs on torch's native kernels (`native_rnn`):
    on this project's CPUs oneDNN's made a 8 x 32 LSTM unroll with its backward pass 14x slower.
    """

    def __init__(self, kind: str, input_size: int, size: int) -> None:
        super().__init__()
        if kind not in ("lstm", "gru"):
            raise ValueError(f"A recurrent core is 'lstm' or 'gru', got {kind!r}.")
        self.kind, self.size = kind, int(size)
        layer = nn.LSTM if kind == "lstm" else nn.GRU
        self.rnn = layer(input_size, size, batch_first=True)
        for name, parameter in self.rnn.named_parameters():
            if name.startswith("weight"):
                nn.init.orthogonal_(parameter)
            else:
                nn.init.zeros_(parameter)

    @property
    def state_size(self) -> int:
        return core_state_size(self.kind, self.size)

    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.zeros(batch_size, self.state_size, device=device)

    def _run(self, x: torch.Tensor, state: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (N, T, F) from state (N, S), no resets -> (outputs (N, T, size), final state (N, S))."""
        if self.kind == "gru":
            output, h = self.rnn(x, state.unsqueeze(0).contiguous())
            return output, h[0]
        h0, c0 = state[:, :self.size].unsqueeze(0).contiguous(), state[:, self.size:].unsqueeze(0).contiguous()
        output, (h, c) = self.rnn(x, (h0, c0))
        return output, torch.cat([h[0], c[0]], dim=-1)

    def forward(self, x: torch.Tensor, state: torch.Tensor, first: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """One step: x (N, F), state (N, S), first (N,) bool -> (output (N, size), next state (N, S))."""
        state = _reset(state, first)
        rnn = self.rnn
        weights = (rnn.weight_ih_l0, rnn.weight_hh_l0, rnn.bias_ih_l0, rnn.bias_hh_l0)
        if self.kind == "gru":
            h = torch.gru_cell(x, state, *weights)
            return h, h
        h, c = torch.lstm_cell(x, (state[:, :self.size], state[:, self.size:]), *weights)
        return h, torch.cat([h, c], dim=-1)

    def unroll(self, x: torch.Tensor, state: torch.Tensor, first: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """x (B, T, F), state (B, S) at the first step, first (B, T) -> (outputs (B, T, size), final state)."""
        steps = x.shape[1]
        if steps == 0:
            return x.new_zeros(x.shape[0], 0, self.size), state
        starts = [0] + (torch.nonzero(first[:, 1:].any(dim=0)).flatten() + 1).tolist()
        outputs = []
        if len(starts) > max(1, steps // 4):  # Resets at most times: stepping the fused cell is cheaper.
            for t in range(steps):
                output, state = self(x[:, t], state, first[:, t])
                outputs.append(output)
            return torch.stack(outputs, dim=1), state
        with native_rnn():
            for begin, end in zip(starts, starts[1:] + [steps]):
                output, state = self._run(x[:, begin:end], _reset(state, first[:, begin]))
                outputs.append(output)
        return torch.cat(outputs, dim=1), state


_native_lock = threading.Lock()
_native_users = 0
_saved_mkldnn = True


@contextlib.contextmanager
def native_rnn() -> Iterator[None]:
    """Runs torch's RNN layers on its native kernels rather than oneDNN's, then restores the setting.

    torch only offers the process-wide switch (`torch.backends.mkldnn`), so threads that are inside
    together share one count and the last one out restores what the first one found. Other layers
    (convolutions) running meanwhile take torch's native kernels: the same results, maybe slower.
    """
    global _native_users, _saved_mkldnn
    with _native_lock:
        if _native_users == 0:
            _saved_mkldnn = torch.backends.mkldnn.enabled
            torch.backends.mkldnn.enabled = False
        _native_users += 1
    try:
        yield
    finally:
        with _native_lock:
            _native_users -= 1
            if _native_users == 0:
                torch.backends.mkldnn.enabled = _saved_mkldnn


def _reset(state: torch.Tensor, first: torch.Tensor) -> torch.Tensor:
    """The state with the rows of lanes that start an episode (`first`) zeroed."""
    return state * (~first).unsqueeze(-1).to(state.dtype)


class RecurrentBranch(nn.Module):
    """A torso, the core after it and an optional MLP after the core: observations (with the lane's state)
    -> features for a head. The MLP (sb3-contrib's `net_arch` after its LSTM) is the identity when empty."""

    def __init__(self, torso: nn.Module, core: RecurrentCore, after: nn.Module | None = None) -> None:
        super().__init__()
        self.torso, self.core = torso, core
        self.after = after if after is not None else nn.Identity()
        self.output_size = int(getattr(after, "output_size", core.size))

    def step(self, observation: torch.Tensor, state: torch.Tensor,
             first: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        output, state = self.core(self.torso(observation), state, first)
        return self.after(output), state

    def unroll(self, observation: torch.Tensor, state: torch.Tensor,
               first: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, steps = first.shape
        features = self.torso(flatten_leading(observation)).view(batch, steps, -1)
        output, state = self.core.unroll(features, state, first)
        return self.after(output), state


class RecurrentActorCritic(nn.Module):
    """Observation -> torso -> core -> (policy head, value head).

    With `critic=None` both heads read the actor's core; otherwise the value head has its own torso and core
    (as `shared_torso=False` gives the feed-forward actor-critic its own critic torso), and a lane's state is
    the actor's and the critic's side by side. `step` acts on one observation per lane; `unroll` replays
    (B, T) sequences from their start states and returns the distribution and values flattened to (B * T,),
    the layout the feed-forward learners use. Calling the network on observations alone (`forward`) treats
    each as an episode's first.
    """

    recurrent = True

    def __init__(self, actor: RecurrentBranch, policy_head: nn.Module, critic: RecurrentBranch | None = None,
                 normalizer: RunningNormalizer | None = None, value_gain: float = VALUE_GAIN) -> None:
        super().__init__()
        self.actor, self.policy_head, self.critic = actor, policy_head, critic
        self.value_head = orthogonal_init_(nn.Linear((critic or actor).output_size, 1), value_gain)
        self.observation_normalizer = normalizer
        self._split = actor.core.state_size

    @property
    def state_size(self) -> int:
        return self._split + (self.critic.core.state_size if self.critic is not None else 0)

    def initial_state(self, batch_size: int, device: torch.device | str = "cpu") -> torch.Tensor:
        return torch.zeros(batch_size, self.state_size, device=device)

    def _run(self, method: str, observation: torch.Tensor, first: torch.Tensor, state: torch.Tensor):
        if self.observation_normalizer is not None:
            observation = self.observation_normalizer(observation)
        actor, actor_state = getattr(self.actor, method)(observation, state[:, :self._split], first)
        if self.critic is None:
            return actor, actor, actor_state
        critic, critic_state = getattr(self.critic, method)(observation, state[:, self._split:], first)
        return actor, critic, torch.cat([actor_state, critic_state], dim=-1)

    def step(self, observation: torch.Tensor, first: torch.Tensor,
             state: torch.Tensor) -> tuple[ActionDistribution, torch.Tensor, torch.Tensor]:
        actor, critic, state = self._run("step", observation, first, state)
        return masked_policy(self.policy_head(actor), observation), self.value_head(critic).squeeze(-1), state

    def unroll(self, observation: torch.Tensor, first: torch.Tensor,
               state: torch.Tensor) -> tuple[ActionDistribution, torch.Tensor]:
        actor, critic, _ = self._run("unroll", observation, first, state)
        return (masked_policy(self.policy_head(actor.flatten(0, 1)), flatten_leading(observation)),
                self.value_head(critic.flatten(0, 1)).squeeze(-1))

    def forward(self, observation: torch.Tensor) -> tuple[ActionDistribution, torch.Tensor]:
        count, device = leading_size(observation), first_leaf(observation).device
        first = torch.ones(count, dtype=torch.bool, device=device)
        distribution, value, _ = self.step(observation, first, self.initial_state(count, device))
        return distribution, value

    def critic_parameters(self) -> list[nn.Parameter]:
        """The value head and, with its own, the critic's torso and core (a shared one counts as the actor's)."""
        modules = [self.value_head] + ([self.critic] if self.critic is not None else [])
        return [p for module in modules for p in module.parameters()]


def core_state_size(kind: str, size: int) -> int:
    """The width of a lane's state for a core of `kind` and `size` units (LSTM: h and c)."""
    return 2 * size if kind == "lstm" else size


def is_recurrent(network: nn.Module) -> bool:
    return bool(getattr(network, "recurrent", False))


def make_recurrent_actor_critic(spec: EnvironmentSpec, hidden_sizes: tuple[int, ...], kind: str, size: int,
                                shared: bool = True, log_std: str = "parameter", squash: str = "clip",
                                init_log_std: float | None = None, activation: str = "relu",
                                normalize_observations: bool = False,
                                after_core_sizes: tuple[int, ...] = (),
                                encoders: Mapping[str, str] | None = None) -> RecurrentActorCritic:
    """`make_actor_critic`'s torso(s) and heads with a `kind` core of `size` units after each torso, and
    an MLP of `after_core_sizes` between each core and its head. Empty `hidden_sizes` feed the
    (flattened) observation to the core directly."""
    check_action_mask(spec)

    def branch() -> RecurrentBranch:
        torso = orthogonal_init_(make_torso(spec.observations, hidden_sizes, activation=activation,
                                            encoders=encoders), TORSO_GAIN)
        after = None
        if after_core_sizes:
            after = orthogonal_init_(MLP(size, after_core_sizes, activation=ACTIVATIONS[activation],
                                         activate_final=True), TORSO_GAIN)
        return RecurrentBranch(torso, RecurrentCore(kind, torso.output_size, size), after)

    actor = branch()
    head = make_policy_head(spec.actions, actor.output_size, log_std, squash, init_log_std)
    normalizer = None
    if normalize_observations:
        check_normalizable(spec.observations)
        normalizer = RunningNormalizer(spec.observations.shape)
    return RecurrentActorCritic(actor, head, None if shared else branch(), normalizer)


def evaluate_sequences(network: nn.Module, observation: torch.Tensor, step_type: torch.Tensor,
                       extras: Any) -> tuple[ActionDistribution, torch.Tensor]:
    """The network on (B, T, ...) sequences, flattened to B * T: a recurrent network unrolled from the
    'core_state' its actor reported at each sequence's first step, a feed-forward one on every step alike."""
    if not is_recurrent(network):
        return network(flatten_leading(observation))
    return network.unroll(observation, step_type == FIRST, extras["core_state"][:, 0])


class LaneCoreStates:
    """Each lane's core state between a recurrent policy's calls, reset where the actor reports FIRST.

    `network.step(observation, first, state)` returns outputs with the next state last. The actor
    reports each step's types (`observe_step_types`) before the policy acts on that step; a policy that
    was not told (a bare call) treats every lane as starting an episode. `state_in` is the state the
    last step started from (before any reset), which adders store so that a learner replaying from it
    (and resetting on FIRST) sees what the actor saw.
    """

    def __init__(self, network: nn.Module, device: torch.device) -> None:
        self._network, self._device = network, device
        self._state: torch.Tensor | None = None
        self._first: np.ndarray | None = None
        self.state_in: torch.Tensor | None = None

    def observe_step_types(self, step_type: Any) -> None:
        self._first = np.asarray(step_type) == FIRST

    def step(self, observation: torch.Tensor) -> Any:
        """The network's outputs on one step of every lane (without the state, which is kept)."""
        count = leading_size(observation)
        if self._state is None or self._state.shape[0] != count:
            self._state = self._network.initial_state(count, self._device)
        first = np.ones(count, bool) if self._first is None or len(self._first) != count else self._first
        self.state_in = self._state
        *outputs, self._state = self._network.step(observation, torch.as_tensor(first, device=self._device),
                                                   self._state)
        self._first = np.zeros(count, bool)  # Until the actor reports the next step's types.
        return outputs[0] if len(outputs) == 1 else tuple(outputs)

    def state_in_numpy(self) -> np.ndarray:
        return self.state_in.float().cpu().numpy()

    def save(self) -> dict[str, Any]:
        return {"core_state": None if self._state is None else self._state.cpu().clone(), "first": self._first}

    def restore(self, state: dict[str, Any]) -> None:
        core_state = state.get("core_state")
        self._state = None if core_state is None else core_state.to(self._device)
        self._first = state.get("first")


class RecurrentStochasticPolicy(StochasticPolicy):
    """`StochasticPolicy` over a `RecurrentActorCritic`, carrying each lane's core state (`LaneCoreStates`).

    Extras gain 'core_state', the state each step started from. Checkpoints keep the states.
    """

    def __init__(self, network: RecurrentActorCritic, seed: int | None = None, deterministic: bool = False,
                 device: torch.device | str = "cpu") -> None:
        super().__init__(network, seed=seed, deterministic=deterministic, device=device, with_value=False)
        self._lanes = LaneCoreStates(network, self._device)
        self._forward = lambda observation: self._lanes.step(observation)[0]
        self.observe_step_types = self._lanes.observe_step_types

    def __call__(self, observation: Any) -> PolicyOutput:
        output = super().__call__(observation)
        output.extras["core_state"] = self._lanes.state_in_numpy()
        return output

    def save(self) -> dict[str, Any]:
        return {**super().save(), **self._lanes.save()}

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        self._lanes.restore(state)


class RecurrentEpsilonGreedyPolicy(EpsilonGreedyPolicy):
    """`EpsilonGreedyPolicy` over a recurrent Q network (`step(observation, first, state) -> (q, state)`).

    The network runs on every step, exploring or not, so each lane's state follows everything it saw;
    extras carry 'core_state', the state each step started from.
    """

    def __init__(self, q_network: nn.Module, num_actions: int, epsilon: float | Callable[[int], float],
                 seed: int | None = None, device: torch.device | str = "cpu",
                 steps: Callable[[], float] | None = None) -> None:
        super().__init__(q_network, num_actions, epsilon, seed=seed, device=device, steps=steps)
        self._lanes = LaneCoreStates(q_network, self._device)
        self.observe_step_types = self._lanes.observe_step_types

    def __call__(self, observation: Any) -> PolicyOutput:
        epsilon, mask = self.epsilon, mask_of(observation)
        num_lanes = leading_size(observation)
        self.steps += num_lanes
        with torch.inference_mode():
            q = self._lanes.step(to_tensors(observation, self._device))
            actions = q.argmax(dim=-1).cpu().numpy()
        if epsilon > 0:
            explore = self._rng.random(num_lanes) < epsilon
            actions = np.where(explore, random_allowed(self._rng, self._num_actions, num_lanes, mask), actions)
        return PolicyOutput(actions, {"core_state": self._lanes.state_in_numpy()})

    def save(self) -> dict[str, Any]:
        return {**super().save(), **self._lanes.save()}

    def restore(self, state: dict[str, Any]) -> None:
        super().restore(state)
        self._lanes.restore(state)
