"""The IMPALA learner: A2C's update with V-trace targets and advantages in place of GAE."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from agents.a2c.learning import A2CLearner
from agents.impala.config import IMPALAConfig
from components.transforms import vtrace
from components.types import Trajectory


class IMPALALearner(A2CLearner):
    """Importance-weighted actor-learner (Espeholt et al. 2018).

    With mu the policy that acted (its log-probabilities travel in the trajectory's extras) and pi the
    learner's, the value regresses on the V-trace targets vs_t and the policy gradient weighs
    log pi(a_t|o_t) by rho_t (r_{t+1} + gamma vs_{t+1} - V(o_t)) (`components.transforms.vtrace`); the
    rest of the loss is A2C's. Logged beside A2C's metrics: the mean importance ratio pi/mu and the
    fraction of steps whose rho was clipped.
    """

    _config: IMPALAConfig

    def _targets(self, rollouts: Trajectory, batch: Trajectory, log_prob: torch.Tensor, values: torch.Tensor,
                 valid: np.ndarray, continues: np.ndarray) -> tuple[np.ndarray, np.ndarray, dict[str, Any]]:
        cfg = self._config
        # An ignored action's ratio (after LAST) is meaningless: 1.
        log_rhos = np.where(valid, (log_prob.detach().cpu().numpy() - rollouts.extras["log_prob"]).T, 0.0)
        targets, advantages = vtrace(rollouts.reward.T * cfg.reward_scale, rollouts.discount.T,
                                     values.detach().T.cpu().numpy(), continues, log_rhos, cfg.discount,
                                     cfg.rho_bar, cfg.c_bar, cfg.gae_lambda)
        ratio = np.exp(log_rhos[valid])
        return advantages, targets, {"importance_ratio": torch.tensor(float(ratio.mean())),
                                     "rho_clipped": torch.tensor(float((ratio > cfg.rho_bar).mean()))}
