"""The DQN learner: TD targets from a target network, Double-Q optional, Huber or MSE loss."""

from __future__ import annotations

import copy
from typing import Any, Iterator

import torch
from torch import nn
from torch.nn import functional as F

from agents.dqn.config import DQNConfig
from components.counting import Counter
from components.learners import TorchLearner, make_adam
from components.loggers import Logger
from components.types import Transition


class DQNLearner(TorchLearner):
    """One gradient step per `step()` on a batch of n-step transitions."""

    def __init__(self, q_network: nn.Module, iterator: Iterator[Transition], config: DQNConfig,
                 device: torch.device, counter: Counter | None = None, logger: Logger | None = None,
                 log_every: int = 100) -> None:
        self._q = q_network.to(device)
        self._target_q = copy.deepcopy(self._q).requires_grad_(False)
        optimizer = make_adam(self._q.parameters(), config.learning_rate, config.adam_eps)
        super().__init__({"q": self._q, "target_q": self._target_q}, optimizer, device, config.max_grad_norm,
                         counter, logger, log_every)
        self._iterator = iterator
        self._config = config

    def step(self) -> dict[str, Any]:
        cfg = self._config
        batch: Transition = self._to_device(next(self._iterator))
        actions = batch.action.long().unsqueeze(-1)

        # Q(s_t, a_t) from the online network.
        q_taken = self._q(batch.observation).gather(-1, actions).squeeze(-1)

        # y = R + D * Q_target(s', a*), a* = argmax_a Q(s', a) (Double) or of Q_target.
        with torch.no_grad():
            q_next_target = self._target_q(batch.next_observation)
            if cfg.double_q:
                next_actions = self._q(batch.next_observation).argmax(dim=-1, keepdim=True)
            else:
                next_actions = q_next_target.argmax(dim=-1, keepdim=True)
            next_value = q_next_target.gather(-1, next_actions).squeeze(-1)
            target = batch.reward + batch.discount * next_value

        td_error = target - q_taken
        if cfg.loss == "huber":
            loss = F.smooth_l1_loss(q_taken, target)
        else:
            loss = 0.5 * td_error.pow(2).mean()
        grad_norm = self._apply_gradients(loss)

        if self.num_steps % cfg.target_update_period == 0:
            self._update_target(cfg.target_update_tau)

        metrics = {"loss": loss, "grad_norm": grad_norm, "q_mean": q_taken.mean(),
                   "td_error_abs": td_error.abs().mean()}
        return self._record(metrics)

    @torch.no_grad()
    def _update_target(self, tau: float) -> None:
        for target, online in zip(self._target_q.parameters(), self._q.parameters()):
            target.lerp_(online, tau)
