"""The DQN learner: TD targets from a target network; Double, C51 and prioritized replay optional."""

from __future__ import annotations

import copy
from typing import Any, Callable, Iterator

import torch
from torch import nn
from torch.nn import functional as F

from agents.dqn.config import DQNConfig
from agents.dqn.networks import DistributionalQNetwork
from components.action_masks import mask_values
from components.counting import Counter
from components.learners import TorchLearner, autocast, make_adam
from components.loggers import Logger
from components.importance import PriorityCorrection, PriorityUpdater
from components.types import Transition


class DQNLearner(TorchLearner):
    """One gradient step per `step()` on a batch of n-step transitions.

    Scalar Q (Huber or MSE TD loss) or C51 (cross-entropy to the projected
    target distribution) when the network is a `DistributionalQNetwork`; with
    a prioritized replay, losses are weighted by the importance weights (beta
    annealed over this learner's steps, which checkpoints keep) and the sampled
    items' priorities are set to their new TD errors (C51: their losses).
    """

    def __init__(self, q_network: nn.Module, iterator: Iterator[Any], config: DQNConfig,
                 device: torch.device, counter: Counter | None = None, logger: Logger | None = None,
                 log_every: int = 100, priority_updater: PriorityUpdater | None = None,
                 ) -> None:
        self._q = q_network.to(device)
        self._target_q = copy.deepcopy(self._q).requires_grad_(False)
        optimizer = make_adam(self._q.parameters(), config.learning_rate, config.adam_eps)
        super().__init__({"q": self._q, "target_q": self._target_q}, optimizer, device, config.max_grad_norm,
                         counter, logger, log_every)
        self._iterator = iterator
        self._config = config
        self._distributional = isinstance(self._q, DistributionalQNetwork)
        self._precision = config.precision
        self._priorities = PriorityCorrection.from_config(config, priority_updater)

    def _forward(self, network: Callable[[torch.Tensor], torch.Tensor], observation: Any) -> torch.Tensor:
        """A network call, in bfloat16 autocast when asked (float32 out: the losses stay float32)."""
        with autocast(self._device, self._precision):
            return network(observation).float()

    def step(self) -> dict[str, Any]:
        cfg = self._config
        weighted = self._priorities.unpack(next(self._iterator), self.num_steps, self._device)
        batch: Transition = self._to_device(weighted.data)

        if self._distributional:
            losses, q_taken, td_error = self._categorical_losses(batch)
            priorities = losses  # C51: an item's cross-entropy is its priority.
        else:
            losses, q_taken, td_error = self._scalar_losses(batch)
            priorities = td_error
        loss = weighted.mean(losses)
        grad_norm = self._apply_gradients(loss, terms={"q_taken": q_taken, "td_error": td_error})

        self._priorities.update(weighted, priorities)
        if self.num_steps % cfg.target_update_period == 0:
            self._update_target(cfg.target_update_tau)

        metrics = {"loss": loss, "grad_norm": grad_norm, "q_mean": q_taken.mean(),
                   "td_error_abs": td_error.abs().mean()}
        return self._record({**metrics, **weighted.metrics()})

    def _next_actions(self, batch: Transition, q_next_target: torch.Tensor) -> torch.Tensor:
        """a* = argmax_a Q(s', a) of the online network (Double) or of the target network."""
        q_next = self._forward(self._q, batch.next_observation) if self._config.double_q else q_next_target
        return q_next.argmax(dim=-1, keepdim=True)

    def _scalar_losses(self, batch: Transition) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        actions = batch.action.long().unsqueeze(-1)
        q_taken = self._forward(self._q, batch.observation).gather(-1, actions).squeeze(-1)
        # y = R + D * Q_target(s', a*).
        with torch.no_grad():
            q_next_target = self._forward(self._target_q, batch.next_observation)
            next_value = q_next_target.gather(-1, self._next_actions(batch, q_next_target)).squeeze(-1)
            target = batch.reward + batch.discount * next_value
        td_error = target - q_taken
        if self._config.loss == "huber":
            losses = F.smooth_l1_loss(q_taken, target, reduction="none")
        else:
            losses = 0.5 * td_error.pow(2)
        return losses, q_taken, td_error

    def _categorical_losses(self, batch: Transition) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        support = self._q.support
        actions = batch.action.long()
        logits = self._forward(self._q.logits, batch.observation)
        logits_taken = logits[torch.arange(len(actions), device=logits.device), actions]  # (B, atoms)
        with torch.no_grad():
            next_logits = self._forward(self._target_q.logits, batch.next_observation)
            next_probs = next_logits.softmax(dim=-1)
            q_next_target = mask_values((next_probs * support).sum(-1), batch.next_observation)
            a_star = self._next_actions(batch, q_next_target).squeeze(-1)
            p_next = next_probs[torch.arange(len(a_star), device=next_probs.device), a_star]
            # Project the shifted support R + D z onto the fixed support z.
            target = categorical_projection(batch.reward.unsqueeze(-1) + batch.discount.unsqueeze(-1) * support,
                                            p_next, support)
        losses = -(target * logits_taken.log_softmax(dim=-1)).sum(-1)
        q_taken = (logits_taken.detach().softmax(-1) * support).sum(-1)
        td_error = (target * support).sum(-1) - q_taken
        return losses, q_taken, td_error

    @torch.no_grad()
    def _update_target(self, tau: float) -> None:
        for target, online in zip(self._target_q.parameters(), self._q.parameters()):
            target.lerp_(online, tau)


def categorical_projection(values: torch.Tensor, probabilities: torch.Tensor, support: torch.Tensor) -> torch.Tensor:
    """Projects a distribution with atoms at `values` (B, K) onto the evenly spaced `support` (K,).

    Each atom's mass is split between its two neighbouring support points in
    proportion to closeness (Bellemare et al. 2017, Algorithm 1); values
    outside [v_min, v_max] go to the end points.
    """
    num_atoms = support.numel()
    v_min, v_max = support[0], support[-1]
    delta = (v_max - v_min) / (num_atoms - 1)
    position = (values.clamp(v_min, v_max) - v_min) / delta  # In [0, K - 1].
    lower = position.floor().clamp(0, num_atoms - 1)
    upper = (lower + 1).clamp(max=num_atoms - 1)
    upper_weight = position - lower  # 0 when the atom sits exactly on a support point.
    projected = torch.zeros_like(probabilities)
    projected.scatter_add_(-1, lower.long(), probabilities * (1.0 - upper_weight))
    projected.scatter_add_(-1, upper.long(), probabilities * upper_weight)
    return projected
