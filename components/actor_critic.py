"""Stochastic policies and actor-critic networks for policy-gradient agents (REINFORCE, A2C, PPO).

A policy head maps torso features to an `ActionDistribution` (components.distributions).
Learners compute log-probabilities from the raw actions (actors report them as the 'raw_action'
extra), never from env actions.

Networks: `ActorCriticNetwork` (observation -> (distribution, value)) for A2C,
PPO and REINFORCE with a baseline; `PolicyNetwork` (observation ->
distribution) for REINFORCE without one. `make_actor_critic` and
`make_policy_network` build them from an `EnvironmentSpec` with the usual
orthogonal init: gain sqrt(2) for torsos, 0.01 for the policy head, 1.0 for the
value head, biases 0. `NormalizedActorCritic` puts a `RunningNormalizer` of the
observations in front of an actor-critic (PPO's and A2C's
`normalize_observations`).
"""

from __future__ import annotations

import math
from typing import Any, Mapping, Sequence

import numpy as np
import torch
from dm_env import specs
from torch import nn
from torch.nn import functional as F

from components.action_masks import check_action_mask, mask_of
from components.action_bounds import action_kind
from components.distributions import (ActionDistribution, CategoricalDistribution, ClippedGaussian,
                                      FactorisedCategorical, TanhGaussian, torch_dtype)
from components.networks import make_torso, orthogonal_init_
from components.specs import EnvironmentSpec

# Log-std range of Gaussian policies: std in [0.0067, 7.4] (CleanRL's SAC range). The floor matters for
# score-function learners (A2C, PPO): their gradient grows as 1/std, and at SB3's floor of -20 (std 2e-9) a
# float32 sample mean + std * noise no longer resolves the noise, so its log-prob is rounding error.
LOG_STD_MIN = -5.0
LOG_STD_MAX = 2.0
LOG_STD_KINDS = ("parameter", "state", "softplus")
SQUASH_KINDS = ("clip", "tanh", "tanh_mean")

TORSO_GAIN = math.sqrt(2)
POLICY_GAIN = 0.01
VALUE_GAIN = 1.0


# ----------------------------------------------------------------------------
# Policy heads.
# ----------------------------------------------------------------------------


class CategoricalHead(nn.Module):
    """Features -> a categorical distribution over `num_actions` (for a DiscreteArray action spec)."""

    def __init__(self, features: int, num_actions: int, dtype: np.dtype | type = np.int64,
                 gain: float = POLICY_GAIN) -> None:
        super().__init__()
        if num_actions < 1:
            raise ValueError(f"num_actions must be >= 1; got {num_actions}.")
        self.num_actions = num_actions
        self.env_dtype = torch_dtype(dtype)
        self.logits = orthogonal_init_(nn.Linear(features, num_actions), gain)

    def forward(self, features: torch.Tensor) -> CategoricalDistribution:
        return CategoricalDistribution(self.logits(features), self.env_dtype)


class FactorisedCategoricalHead(nn.Module):
    """Features -> one categorical per action dimension (an integer BoundedArray (k,): MultiDiscrete,
    MultiBinary), from one linear layer of sum(sizes) logits."""

    def __init__(self, features: int, minimum: np.ndarray, maximum: np.ndarray, dtype: np.dtype | type = np.int64,
                 gain: float = POLICY_GAIN) -> None:
        super().__init__()
        self.sizes = [int(size) for size in np.asarray(maximum, np.int64) - np.asarray(minimum, np.int64) + 1]
        self.env_dtype = torch_dtype(dtype)
        self.register_buffer("minimum", torch.tensor(np.asarray(minimum, np.int64)))
        self.logits = orthogonal_init_(nn.Linear(features, sum(self.sizes)), gain)

    def forward(self, features: torch.Tensor) -> FactorisedCategorical:
        return FactorisedCategorical(self.logits(features), self.sizes, self.minimum, self.env_dtype)


class GaussianHead(nn.Module):
    """Features -> a diagonal Gaussian over `action_size` continuous actions in [minimum, maximum].

    log_std: 'state' (a linear layer of the features; its bias starts at
      `init_log_std`), 'parameter' (one learned value per dimension, as in
      PPO) or 'softplus' (softplus of a linear layer, so the std never drops
      below 1, as in seed 002 and A3C's continuous actors; `init_log_std` must
      be > 0; None starts it at softplus(0) = log 2), clamped to
      [LOG_STD_MIN, LOG_STD_MAX].
    squash: 'clip' (`ClippedGaussian`), 'tanh' (`TanhGaussian`) or
      'tanh_mean' (the mean is squashed into the bounds, mid + half_width *
      tanh(.), and samples are clipped; seed 002's actor). The last two need
      finite bounds.
    dtype: the env action dtype (the action spec's).
    """

    def __init__(self, features: int, action_size: int, log_std: str = "parameter", squash: str = "clip",
                 minimum: float | np.ndarray = -1.0, maximum: float | np.ndarray = 1.0,
                 init_log_std: float | None = None, dtype: np.dtype | type = np.float32,
                 gain: float = POLICY_GAIN) -> None:
        super().__init__()
        if log_std not in LOG_STD_KINDS:
            raise ValueError(f"log_std must be one of {LOG_STD_KINDS}; got {log_std!r}.")
        if squash not in SQUASH_KINDS:
            raise ValueError(f"squash must be one of {SQUASH_KINDS}; got {squash!r}.")
        if init_log_std is None:  # softplus(0) = log 2 (std 2, as seed 002 starts); 0 otherwise (std 1).
            init_log_std = math.log(2.0) if log_std == "softplus" else 0.0
        if not LOG_STD_MIN <= init_log_std <= LOG_STD_MAX:
            raise ValueError(f"init_log_std must be in [{LOG_STD_MIN}, {LOG_STD_MAX}]; got {init_log_std}.")
        if log_std == "softplus" and not init_log_std > 0:
            raise ValueError(f"log_std='softplus' keeps the log-std above 0, so init_log_std must be > 0; "
                             f"got {init_log_std}.")
        low = np.broadcast_to(np.asarray(minimum, dtype=dtype), (action_size,))
        high = np.broadcast_to(np.asarray(maximum, dtype=dtype), (action_size,))
        if np.any(low > high):
            raise ValueError(f"Action bounds need minimum <= maximum; got {low} and {high}.")
        if squash != "clip" and not (np.all(np.isfinite(low)) and np.all(np.isfinite(high)) and np.all(low < high)):
            raise ValueError(f"squash={squash!r} needs finite bounds with minimum < maximum; "
                             f"got minimum={low}, maximum={high}. Use squash='clip'.")
        self.action_size = action_size
        self.log_std_kind = log_std
        self.squash = squash
        self.register_buffer("minimum", torch.as_tensor(low.copy()))
        self.register_buffer("maximum", torch.as_tensor(high.copy()))
        self.mean = orthogonal_init_(nn.Linear(features, action_size), gain)
        if log_std == "state":
            self.log_std: nn.Module | nn.Parameter = orthogonal_init_(
                nn.Linear(features, action_size), gain, bias=init_log_std)
        elif log_std == "softplus":  # The bias starts where softplus(bias) = init_log_std.
            inverse_softplus = init_log_std + math.log(-math.expm1(-init_log_std))
            self.log_std = orthogonal_init_(nn.Linear(features, action_size), gain, bias=inverse_softplus)
        else:
            self.log_std = nn.Parameter(torch.full((action_size,), float(init_log_std)))

    def forward(self, features: torch.Tensor) -> ClippedGaussian | TanhGaussian:
        mean = self.mean(features)
        if self.squash == "tanh_mean":
            low, high = self.minimum.to(mean.dtype), self.maximum.to(mean.dtype)
            mean = (high + low) / 2 + (high - low) / 2 * torch.tanh(mean)
        if isinstance(self.log_std, nn.Parameter):
            log_std = self.log_std.expand_as(mean)
        else:
            log_std = self.log_std(features)
            if self.log_std_kind == "softplus":
                log_std = F.softplus(log_std)
        log_std = log_std.clamp(LOG_STD_MIN, LOG_STD_MAX)
        kind = TanhGaussian if self.squash == "tanh" else ClippedGaussian
        return kind(mean, log_std, self.minimum, self.maximum)


def make_policy_head(action_spec: specs.Array, features: int, log_std: str = "parameter",
                     squash: str = "clip", init_log_std: float | None = None) -> nn.Module:
    """The policy head for an action spec: DiscreteArray -> categorical; an integer BoundedArray (k,)
    (MultiDiscrete, MultiBinary) -> one categorical per dimension; float BoundedArray (k,) -> Gaussian."""
    if isinstance(action_spec, specs.DiscreteArray):
        return CategoricalHead(features, int(action_spec.num_values), dtype=action_spec.dtype)
    if action_kind(action_spec) == "multi_discrete":
        minimum = np.broadcast_to(action_spec.minimum, action_spec.shape)
        maximum = np.broadcast_to(action_spec.maximum, action_spec.shape)
        return FactorisedCategoricalHead(features, minimum, maximum, dtype=action_spec.dtype)
    if (isinstance(action_spec, specs.BoundedArray) and np.issubdtype(action_spec.dtype, np.floating)
            and len(action_spec.shape) == 1):
        return GaussianHead(features, int(action_spec.shape[0]), log_std=log_std, squash=squash,
                            minimum=action_spec.minimum, maximum=action_spec.maximum,
                            init_log_std=init_log_std, dtype=action_spec.dtype)
    raise TypeError(
        "Policy networks support a DiscreteArray action spec (categorical), an integer BoundedArray of shape (k,) "
        f"(one categorical per dimension) or a floating-point BoundedArray of shape (k,) (Gaussian); got "
        f"{action_spec!r}."
    )


# ----------------------------------------------------------------------------
# Networks.
# ----------------------------------------------------------------------------


def masked_policy(distribution: ActionDistribution, observation: Any) -> ActionDistribution:
    """The distribution over the actions the observation's `action_mask` allows (unchanged without one)."""
    mask = mask_of(observation)
    return distribution if mask is None else distribution.masked(mask)


class PolicyNetwork(nn.Module):
    """Observation -> action distribution (no value): REINFORCE without a baseline."""

    def __init__(self, torso: nn.Module, head: nn.Module) -> None:
        super().__init__()
        self.torso = torso
        self.head = head

    def forward(self, observation: torch.Tensor) -> ActionDistribution:
        return masked_policy(self.head(self.torso(observation)), observation)


class ActorCriticNetwork(nn.Module):
    """Observation -> (action distribution, value (B,)).

    With `critic_torso=None` the actor and critic share `actor_torso` (one
    torso, two heads); otherwise the critic has its own torso. `policy(obs)`
    and `value(obs)` run one side only (with a shared torso, `forward` runs it
    once for both).
    """

    def __init__(self, actor_torso: nn.Module, policy_head: nn.Module,
                 critic_torso: nn.Module | None = None, value_gain: float = VALUE_GAIN) -> None:
        super().__init__()
        self.actor_torso = actor_torso
        self.critic_torso = critic_torso
        self.policy_head = policy_head
        value_features = (critic_torso if critic_torso is not None else actor_torso).output_size
        self.value_head = orthogonal_init_(nn.Linear(value_features, 1), value_gain)

    @property
    def shared(self) -> bool:
        return self.critic_torso is None

    def policy(self, observation: torch.Tensor) -> ActionDistribution:
        return masked_policy(self.policy_head(self.actor_torso(observation)), observation)

    def value(self, observation: torch.Tensor) -> torch.Tensor:
        torso = self.actor_torso if self.critic_torso is None else self.critic_torso
        return self.value_head(torso(observation)).squeeze(-1)

    def forward(self, observation: torch.Tensor) -> tuple[ActionDistribution, torch.Tensor]:
        actor_features = self.actor_torso(observation)
        critic_features = actor_features if self.critic_torso is None else self.critic_torso(observation)
        return (masked_policy(self.policy_head(actor_features), observation),
                self.value_head(critic_features).squeeze(-1))

    def critic_parameters(self) -> list[nn.Parameter]:
        """The parameters only the value uses: the value head and the critic's own torso (if any).

        A shared torso counts as the actor's.
        """
        modules = [self.value_head] + ([self.critic_torso] if self.critic_torso is not None else [])
        return [p for module in modules for p in module.parameters()]


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
    """An actor-critic network that sees observations through a `RunningNormalizer`.

    The learner calls `observation_normalizer.update(...)` on its batches; the
    statistics are buffers, so actors pull them with the weights and
    checkpoints keep them.
    """

    def __init__(self, network: ActorCriticNetwork, observation_shape: Sequence[int]) -> None:
        super().__init__()
        self.observation_normalizer = RunningNormalizer(observation_shape)
        self.network = network

    def forward(self, observation: torch.Tensor) -> tuple[ActionDistribution, torch.Tensor]:
        return self.network(self.observation_normalizer(observation))

    def policy(self, observation: torch.Tensor) -> ActionDistribution:
        """The action distribution alone (actors that need no value skip the critic)."""
        return self.network.policy(self.observation_normalizer(observation))

    def value(self, observation: torch.Tensor) -> torch.Tensor:
        return self.network.value(self.observation_normalizer(observation))

    def critic_parameters(self) -> list[nn.Parameter]:
        return self.network.critic_parameters()


def _torso(spec: EnvironmentSpec, hidden_sizes: Sequence[int], activation: str = "relu",
           encoders: Mapping[str, str] | None = None) -> nn.Module:
    return orthogonal_init_(make_torso(spec.observations, hidden_sizes, activation=activation, encoders=encoders),
                            TORSO_GAIN)


def make_actor_critic(spec: EnvironmentSpec, hidden_sizes: Sequence[int], shared: bool = True,
                      log_std: str = "parameter", squash: str = "clip",
                      init_log_std: float | None = None, activation: str = "relu",
                      normalize_observations: bool = False,
                      encoders: Mapping[str, str] | None = None) -> ActorCriticNetwork | NormalizedActorCritic:
    """The default actor-critic for an environment: `make_torso` torso(s) (Nature CNN for pixels, one
    encoder per key for dict observations, `encoders` overriding), a head chosen from the action spec, a
    scalar value head; orthogonal init. With `normalize_observations`, wrapped in a `NormalizedActorCritic`."""
    check_action_mask(spec)
    actor_torso = _torso(spec, hidden_sizes, activation, encoders)
    head = make_policy_head(spec.actions, actor_torso.output_size, log_std, squash, init_log_std)
    critic_torso = None if shared else _torso(spec, hidden_sizes, activation, encoders)
    network = ActorCriticNetwork(actor_torso, head, critic_torso)
    if not normalize_observations:
        return network
    check_normalizable(spec.observations)
    return NormalizedActorCritic(network, spec.observations.shape)


def check_normalizable(observation_spec: specs.Array) -> None:
    """Running normalisation is for vector observations (rank <= 2), as in SB3 and CleanRL; the pixel
    torso scales images itself (uint8 / 255), and a second standardisation would shrink them again."""
    if not isinstance(observation_spec, specs.Array):
        raise ValueError(f"normalize_observations standardises one vector observation; this one is a nest "
                         f"({observation_spec!r}). Drop --normalize_observations.")
    if isinstance(observation_spec, specs.DiscreteArray) or len(observation_spec.shape) > 2:
        raise ValueError(
            f"normalize_observations standardises vector observations; these are {observation_spec!r} "
            "(images are scaled to [0, 1] by the pixel torso, indices are one-hot encoded). Drop "
            "--normalize_observations.")


def make_policy_network(spec: EnvironmentSpec, hidden_sizes: Sequence[int], log_std: str = "parameter",
                        squash: str = "clip", init_log_std: float | None = None,
                        encoders: Mapping[str, str] | None = None) -> PolicyNetwork:
    """A policy-only network (no value head) for an environment; same torso, head and init as
    `make_actor_critic`."""
    check_action_mask(spec)
    torso = _torso(spec, hidden_sizes, encoders=encoders)
    return PolicyNetwork(torso, make_policy_head(spec.actions, torso.output_size, log_std, squash, init_log_std))
