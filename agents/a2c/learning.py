"""The A2C learner: one gradient step per batch of T-step rollouts."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from agents.a2c.config import A2CConfig
from agents.on_policy import OnPolicyLearner, set_scaled_learning_rate
from components.learners import linear_decay
from components.recurrent import evaluate_sequences
from components.nested import flatten_leading
from components.transforms import gae, normalize_advantages, trajectory_masks
from components.types import Trajectory


def evaluate_rollouts(network: nn.Module, batch: Trajectory,
                      entropy_grad: bool = True) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """log pi(a_t | o_t), entropy at o_t (B, T) and V(o_0 .. o_T) (B, T+1) in one network call.

    `entropy_grad=False` computes the entropy without a gradient (for a loss without an entropy bonus).
    """
    batch_size, horizon = batch.reward.shape
    # (B * (T+1), ...); a recurrent network unrolls each rollout from its first step's core state.
    distribution, values = evaluate_sequences(network, batch.observation, batch.step_type, batch.extras)
    raw = batch.extras["raw_action"]
    padded = torch.cat([raw, torch.zeros_like(raw[:, :1])], dim=1).flatten(0, 1)  # o_T has no action.
    log_prob = distribution.log_prob(padded).view(batch_size, horizon + 1)[:, :horizon]
    with torch.set_grad_enabled(entropy_grad and torch.is_grad_enabled()):
        entropy = distribution.entropy().view(batch_size, horizon + 1)[:, :horizon]
    return log_prob, entropy, values.view(batch_size, horizon + 1)


def value_loss_terms(error: torch.Tensor, kind: str) -> torch.Tensor:
    """Per-step value loss of error = G - V: 'mse' e^2; 'huber' 0.5 e^2 for |e| <= 1, |e| - 0.5 beyond."""
    if kind == "huber":
        return F.huber_loss(error, torch.zeros_like(error), reduction="none", delta=1.0)
    return error.pow(2)


class A2CLearner(OnPolicyLearner):
    """Advantage actor-critic (Mnih et al. 2016, synchronous).

    With rewards r_t scaled by `reward_scale`, A_t the (GAE or T-step)
    advantage and G_t = A_t + V(o_t):
        loss = -mean(log pi(a_t|o_t) A_t) + c_v mean(l(G_t - V(o_t))) - c_e mean(H(pi(.|o_t)))
    with l(e) = e^2 ('mse') or the Huber loss ('huber'), over the steps whose
    action counted (a lane's step after LAST is masked out); returns never run
    across an episode end. The step size decays linearly; with a
    `critic_learning_rate` the critic's parameters take their own (decayed alike).
    """

    _config: A2CConfig

    def step(self) -> dict[str, Any]:
        cfg = self._config
        rollouts: Trajectory = next(self._iterator)  # numpy, (B, T+1, ...) / (B, T, ...)
        # The return recursions run time-major (T, B), in numpy: a rollout is a few dozen numbers.
        valid, continues = trajectory_masks(rollouts.step_type.T)
        if not valid.any():  # Only ignored steps (T=1 right after LAST): nothing to learn, nothing to log.
            return {}
        batch = self._to_device(rollouts)
        log_prob, entropy, values = evaluate_rollouts(self._network, batch, entropy_grad=cfg.entropy_coef != 0)

        advantages, returns, metrics = self._targets(rollouts, batch, log_prob, values, valid, continues)
        if cfg.normalize_advantages:
            advantages = normalize_advantages(advantages, valid)
        weights = valid / max(valid.sum(), 1)  # A mean over the valid steps is sum(x * weights).
        advantages, returns, weights = (torch.from_numpy(np.ascontiguousarray(x.T, dtype=np.float32)).to(self._device)
                                        for x in (advantages, returns, weights))
        policy_loss = -(log_prob * advantages * weights).sum()
        value_loss = (value_loss_terms(returns - values[:, :-1], cfg.value_loss) * weights).sum()
        entropy_mean = (entropy * weights).sum()
        loss = policy_loss + cfg.value_coef * value_loss
        if cfg.entropy_coef:  # Without a bonus the entropy stays out of the graph (it is still logged).
            loss = loss - cfg.entropy_coef * entropy_mean

        learning_rate = linear_decay(cfg.learning_rate, self.num_steps, cfg.learning_rate_decay_steps)
        set_scaled_learning_rate(self._optimizer, learning_rate)
        grad_norm = self._apply_gradients(loss, terms={"policy_loss": policy_loss, "value_loss": value_loss,
                                                        "entropy": entropy_mean, "returns": returns})
        # The rollouts join the normaliser's statistics (if any) after the update, which saw the actor's.
        self._update_observation_normalizer(flatten_leading(batch.observation))
        value_mean = (values[:, :-1].detach() * weights).sum()
        return self._record({"loss": loss, "policy_loss": policy_loss, "value_loss": value_loss,
                             "entropy": entropy_mean, "grad_norm": grad_norm,
                             "learning_rate": torch.tensor(learning_rate), "value_mean": value_mean, **metrics})

    def _targets(self, rollouts: Trajectory, batch: Trajectory, log_prob: torch.Tensor, values: torch.Tensor,
                 valid: np.ndarray, continues: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        """Time-major (T, B) advantages and value targets from the (scaled) rewards, and extra metrics.

        A2C's: GAE and its returns. A learner that corrects for older actor policies replaces this.
        """
        cfg = self._config
        advantages, returns = gae(rollouts.reward.T * cfg.reward_scale, rollouts.discount.T,
                                  values.detach().T.cpu().numpy(), continues, cfg.discount, cfg.gae_lambda)
        return advantages, returns, {}
