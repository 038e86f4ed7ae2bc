"""The IMPALA learner: one gradient step per batch of trajectories, with V-trace off-policy corrections."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from agents.a2c.learning import evaluate_rollouts
from agents.impala.config import IMPALAConfig
from agents.on_policy import OnPolicyLearner, set_scaled_learning_rate
from components.learners import linear_decay
from components.nested import flatten_leading
from components.transforms import normalize_advantages, trajectory_masks, vtrace
from components.types import Trajectory


class IMPALALearner(OnPolicyLearner):
    """Importance-weighted actor-learner (Espeholt et al. 2018).

    With mu the policy that acted (its log-probabilities travel in the trajectory's extras), pi the
    learner's, vs_t the V-trace targets and A_t = rho_t (r_{t+1} + gamma vs_{t+1} - V(o_t)) the V-trace
    advantages (`components.transforms.vtrace`):
        loss = -mean(log pi(a_t|o_t) A_t) + c_v 0.5 mean((vs_t - V(o_t))^2) - c_e mean(H(pi(.|o_t)))
    over the steps whose action counted; targets and advantages carry no gradient. Logged: the mean
    importance ratio pi/mu and the fraction of steps whose rho was clipped.
    """

    _config: IMPALAConfig

    def step(self) -> dict[str, Any]:
        cfg = self._config
        trajectories: Trajectory = next(self._iterator)  # numpy, (B, T+1, ...) / (B, T, ...)
        valid, continues = trajectory_masks(trajectories.step_type.T)
        if not valid.any():  # Only ignored steps (T=1 right after LAST): nothing to learn.
            return {}
        batch = self._to_device(trajectories)
        log_prob, entropy, values = evaluate_rollouts(self._network, batch, entropy_grad=cfg.entropy_coef != 0)

        log_rhos = (log_prob.detach() - batch.extras["log_prob"]).T.cpu().numpy().astype(np.float64)
        log_rhos = np.where(valid, log_rhos, 0.0)  # An ignored action's ratio is meaningless.
        targets, advantages = vtrace(trajectories.reward.T.astype(np.float64), trajectories.discount.T,
                                     values.detach().T.cpu().numpy().astype(np.float64), continues, log_rhos,
                                     cfg.discount, cfg.rho_bar, cfg.c_bar, cfg.gae_lambda)
        if cfg.normalize_advantages:
            advantages = normalize_advantages(advantages, valid)
        weights = valid / max(valid.sum(), 1)
        advantages, targets, weights = (torch.from_numpy(np.ascontiguousarray(x.T, dtype=np.float32)).to(self._device)
                                        for x in (advantages, targets, weights))
        policy_loss = -(log_prob * advantages * weights).sum()
        value_loss = 0.5 * ((targets - values[:, :-1]).pow(2) * weights).sum()
        entropy_mean = (entropy * weights).sum()
        loss = policy_loss + cfg.value_coef * value_loss
        if cfg.entropy_coef:
            loss = loss - cfg.entropy_coef * entropy_mean

        learning_rate = linear_decay(cfg.learning_rate, self.num_steps, cfg.learning_rate_decay_steps)
        set_scaled_learning_rate(self._optimizer, learning_rate)
        grad_norm = self._apply_gradients(loss, terms={"policy_loss": policy_loss, "value_loss": value_loss,
                                                        "entropy": entropy_mean, "targets": targets})
        self._update_observation_normalizer(flatten_leading(batch.observation))
        ratio = np.exp(log_rhos)[valid]
        return self._record({"loss": loss, "policy_loss": policy_loss, "value_loss": value_loss,
                             "entropy": entropy_mean, "grad_norm": grad_norm,
                             "learning_rate": torch.tensor(learning_rate),
                             "importance_ratio": torch.tensor(float(ratio.mean())),
                             "rho_clipped": torch.tensor(float((ratio > cfg.rho_bar).mean())),
                             "value_mean": (values[:, :-1].detach() * weights).sum()})
