"""Action distributions with one small API whatever the action space (see `ActionDistribution`).

  sample(generator=None) -> raw    a draw (no gradient), seeded by `generator`
  log_prob(raw) -> (B,)            log-density of raw values (differentiable)
  entropy() -> (B,)                entropy per batch element
  mode() -> raw                    the deterministic (evaluation) action
  to_env_action(raw) -> action     what the environment takes, in its spec dtype

"raw" is what the log-probability is defined on: the action index for a categorical policy, the
unclipped Gaussian sample for 'clip', the pre-tanh sample u for 'tanh'.
"""

from __future__ import annotations

import abc
import functools
from typing import Any, Sequence

import numpy as np
import torch
from torch import distributions as D

from components.action_masks import MASKED_LOGIT, allowed_actions


def torch_dtype(dtype: np.dtype | type) -> torch.dtype:
    """The torch dtype of a numpy dtype."""
    return torch.from_numpy(np.zeros((), dtype=dtype)).dtype


@functools.lru_cache(maxsize=None)
def numpy_dtype(dtype: torch.dtype) -> np.dtype:
    """The numpy dtype of a torch dtype."""
    return torch.zeros((), dtype=dtype).numpy().dtype


class ActionDistribution(abc.ABC):
    """A batch of action distributions over a leading batch shape (usually (B,))."""

    @abc.abstractmethod
    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        """A raw sample per batch element, without gradient; from `generator` when given."""

    @abc.abstractmethod
    def log_prob(self, raw: torch.Tensor) -> torch.Tensor:
        """Log-probability (or density) of raw values, shape (B,)."""

    @abc.abstractmethod
    def entropy(self) -> torch.Tensor:
        """Entropy per batch element, shape (B,)."""

    @abc.abstractmethod
    def mode(self) -> torch.Tensor:
        """The deterministic raw action (evaluation)."""

    @abc.abstractmethod
    def to_env_action(self, raw: torch.Tensor) -> torch.Tensor:
        """Raw values -> actions for the environment, in the action spec's dtype and bounds."""


class CategoricalDistribution(ActionDistribution):
    """Categorical over `num_actions` from logits (..., A); raw values are int64 indices.

    The same math as `torch.distributions.Categorical`, kept to a few tensor
    ops: the acting path calls it once per environment step, where
    Categorical's normalisation and multinomial sampling cost more than the
    network (measured: about 0.2 ms of a 0.5 ms step on CartPole).
    """

    def __init__(self, logits: torch.Tensor, env_dtype: torch.dtype = torch.int64) -> None:
        self._log_probs = logits.log_softmax(dim=-1)
        self.env_dtype = env_dtype

    @property
    def logits(self) -> torch.Tensor:
        return self._log_probs  # Normalised: log-softmax of the head's output.

    @property
    def probs(self) -> torch.Tensor:
        return self._log_probs.exp()

    @property
    def env_numpy_dtype(self) -> np.dtype:
        """`env_dtype` as a numpy dtype."""
        return numpy_dtype(self.env_dtype)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        # Inverse-CDF sampling: the first action whose cumulative probability exceeds u ~ U[0, 1).
        # u is scaled by the total, which rounding leaves just under 1, so the draw never falls past the last
        # action with probability (a masked one has exactly 0, and is never drawn).
        cumulative = self.probs.detach().cumsum(dim=-1)
        u = torch.rand(cumulative.shape[:-1] + (1,), generator=generator, device=cumulative.device,
                       dtype=cumulative.dtype) * cumulative[..., -1:]
        return (cumulative <= u).sum(dim=-1).clamp(max=cumulative.shape[-1] - 1)

    def sample_numpy(self, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """A draw per batch element (int64) and its log-probability (float32), as numpy arrays.

        The same inverse-CDF draw as `sample`, for the acting path: on a few
        lanes, numpy's ops cost a fraction of torch's per-op dispatch.
        """
        log_probs = self._log_probs.numpy(force=True)
        cumulative = np.exp(log_probs).cumsum(axis=-1)
        u = rng.random(cumulative.shape[:-1] + (1,), dtype=np.float32) * cumulative[..., -1:]
        raw = np.minimum((cumulative <= u).sum(axis=-1), cumulative.shape[-1] - 1)
        if log_probs.ndim == 2:  # (lanes, actions): plain indexing is the cheap way.
            log_prob = log_probs[np.arange(len(raw)), raw]
        else:
            log_prob = np.take_along_axis(log_probs, raw[..., None], axis=-1)[..., 0]
        return raw, log_prob.astype(np.float32, copy=False)

    def masked(self, mask: Any) -> CategoricalDistribution:
        """This distribution over the allowed actions only (mask entries 1): the others get probability 0, so
        they are never sampled nor the mode, and the entropy is over the allowed ones."""
        allowed = allowed_actions(mask, self._log_probs.device)
        return CategoricalDistribution(self._log_probs.masked_fill(~allowed, MASKED_LOGIT), self.env_dtype)

    def log_prob(self, raw: torch.Tensor) -> torch.Tensor:
        return self._log_probs.gather(-1, raw.long().unsqueeze(-1)).squeeze(-1)

    def entropy(self) -> torch.Tensor:
        return -(self._log_probs.exp() * self._log_probs).sum(dim=-1)

    def mode(self) -> torch.Tensor:
        return self._log_probs.argmax(dim=-1)

    def to_env_action(self, raw: torch.Tensor) -> torch.Tensor:
        return raw.to(self.env_dtype)


class _DiagonalGaussian(ActionDistribution):
    """A diagonal Gaussian over the last axis (k,), plus the env action bounds."""

    def __init__(self, mean: torch.Tensor, log_std: torch.Tensor, minimum: torch.Tensor,
                 maximum: torch.Tensor) -> None:
        self.normal = D.Normal(mean, log_std.exp(), validate_args=False)
        self.distribution = D.Independent(self.normal, 1, validate_args=False)  # Sums log-probs and entropies over k.
        self.minimum = minimum
        self.maximum = maximum

    @property
    def mean(self) -> torch.Tensor:
        return self.normal.mean

    @property
    def stddev(self) -> torch.Tensor:
        return self.normal.stddev

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        # Normal.sample takes no generator: draw the standard normal noise from it ourselves.
        with torch.no_grad():
            mean, std = self.normal.loc, self.normal.scale
            noise = torch.randn(mean.shape, generator=generator, dtype=mean.dtype, device=mean.device)
            return mean + std * noise

    def mode(self) -> torch.Tensor:
        return self.normal.loc

    def _bounded(self, action: torch.Tensor) -> torch.Tensor:
        # Clamp after the cast, with bounds in the env dtype, so rounding cannot leave the box.
        action = action.to(self.minimum.dtype)
        return torch.maximum(torch.minimum(action, self.maximum), self.minimum)


class ClippedGaussian(_DiagonalGaussian):
    """Gaussian whose unbounded samples are clipped into the action box for the environment.

    log_prob and entropy are those of the Normal over raw (unclipped) samples,
    as in CleanRL's and SB3's PPO.
    """

    def log_prob(self, raw: torch.Tensor) -> torch.Tensor:
        return self.distribution.log_prob(raw)

    def entropy(self) -> torch.Tensor:
        return self.distribution.entropy()

    def to_env_action(self, raw: torch.Tensor) -> torch.Tensor:
        return self._bounded(raw)


class TanhGaussian(_DiagonalGaussian):
    """Gaussian over u squashed into the box: action = loc + scale * tanh(u).

    Raw values are the pre-tanh u (so log-probs stay finite where tanh
    saturates). `log_prob(u)` is the density of the env action: the Normal's
    log-density minus log|d action / du| = log(1 - tanh(u)^2) + log(scale).

    `entropy()` is the base Normal's entropy, an approximation: the squashed
    distribution's entropy, H(base) + E[log|d action / du|], has no closed form
    (a single-sample estimate is `-log_prob(sample)`). Its gradient still
    pushes the std up, which is what an entropy bonus is for. `mode()` is the
    Normal's mean, so the deterministic action is loc + scale * tanh(mean)
    (the usual convention; not the exact mode of the squashed density).
    """

    def __init__(self, mean: torch.Tensor, log_std: torch.Tensor, minimum: torch.Tensor,
                 maximum: torch.Tensor) -> None:
        super().__init__(mean, log_std, minimum, maximum)
        low, high = minimum.to(mean.dtype), maximum.to(mean.dtype)
        self.tanh = D.TanhTransform()
        self.affine = D.AffineTransform(loc=(high + low) / 2, scale=(high - low) / 2)

    def log_prob(self, raw: torch.Tensor) -> torch.Tensor:
        squashed = torch.tanh(raw)
        log_det = (self.tanh.log_abs_det_jacobian(raw, squashed)
                   + self.affine.log_abs_det_jacobian(squashed, self.affine(squashed)))
        return self.distribution.log_prob(raw) - log_det.sum(dim=-1)

    def entropy(self) -> torch.Tensor:
        return self.distribution.entropy()

    def to_env_action(self, raw: torch.Tensor) -> torch.Tensor:
        return self._bounded(self.affine(torch.tanh(raw)))


class FactorisedCategorical(ActionDistribution):
    """Independent categoricals, one per action dimension: gymnasium's MultiDiscrete (and MultiBinary, each bit
    a 2-way categorical, i.e. a Bernoulli). Raw values (..., k) are int64 indices from 0; log-probabilities and
    entropies are summed over the dimensions; env actions add the spec's minimum."""

    def __init__(self, logits: torch.Tensor, sizes: Sequence[int], minimum: torch.Tensor,
                 env_dtype: torch.dtype = torch.int64, parts: Sequence[CategoricalDistribution] | None = None) -> None:
        self.sizes, self.minimum, self.env_dtype = tuple(int(s) for s in sizes), minimum, env_dtype
        self.parts = list(parts) if parts is not None else [CategoricalDistribution(part)
                                                            for part in logits.split(self.sizes, dim=-1)]

    @property
    def logits(self) -> torch.Tensor:
        """Every dimension's normalised logits, concatenated (..., sum(sizes))."""
        return torch.cat([part.logits for part in self.parts], dim=-1)

    def sample(self, generator: torch.Generator | None = None) -> torch.Tensor:
        return torch.stack([part.sample(generator) for part in self.parts], dim=-1)

    def log_prob(self, raw: torch.Tensor) -> torch.Tensor:
        return torch.stack([part.log_prob(raw[..., i]) for i, part in enumerate(self.parts)], dim=-1).sum(-1)

    def entropy(self) -> torch.Tensor:
        return torch.stack([part.entropy() for part in self.parts], dim=-1).sum(-1)

    def mode(self) -> torch.Tensor:
        return torch.stack([part.mode() for part in self.parts], dim=-1)

    def to_env_action(self, raw: torch.Tensor) -> torch.Tensor:
        return (raw + self.minimum.to(raw.device)).to(self.env_dtype)

    def masked(self, mask: Any) -> FactorisedCategorical:
        """Each dimension restricted to its allowed values: `mask` is the per-dimension masks concatenated."""
        masks = torch.as_tensor(mask).split(self.sizes, dim=-1)
        return FactorisedCategorical(None, self.sizes, self.minimum, self.env_dtype,
                                     [part.masked(m) for part, m in zip(self.parts, masks)])
