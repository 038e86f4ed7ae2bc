"""The R2D2 learner: burn-in, n-step double-Q targets under value rescaling, sequence priorities."""

from __future__ import annotations

import copy
from typing import Any, Iterator, NamedTuple

import dm_env
import torch
from torch import nn

from agents.r2d2.config import R2D2Config
from components.counting import Counter
from components.importance import PriorityCorrection, PriorityUpdater
from components.learners import TorchLearner, make_adam
from components.loggers import Logger
from components.nested import take
from components.types import SequenceItem

FIRST = int(dm_env.StepType.FIRST)


def rescale(x: torch.Tensor, epsilon: float) -> torch.Tensor:
    """h(x) = sign(x) (sqrt(|x| + 1) - 1) + epsilon x (Pohlen et al. 2018)."""
    return torch.sign(x) * (torch.sqrt(x.abs() + 1.0) - 1.0) + epsilon * x


def unrescale(x: torch.Tensor, epsilon: float) -> torch.Tensor:
    """The inverse of `rescale`."""
    if epsilon == 0:
        return torch.sign(x) * ((x.abs() + 1.0) ** 2 - 1.0)
    root = (torch.sqrt(1.0 + 4.0 * epsilon * (x.abs() + 1.0 + epsilon)) - 1.0) / (2.0 * epsilon)
    return torch.sign(x) * (root ** 2 - 1.0)


class NStep(NamedTuple):
    """For each step t of a sequence: R_t = sum over the first m valid steps of gamma^k d... r_{t+k},
    D_t = prod (gamma d) over them, and the index t + m of the observation to bootstrap from."""

    reward: torch.Tensor  # (B, L)
    discount: torch.Tensor  # (B, L)
    bootstrap_index: torch.Tensor  # (B, L) int64, in [t, L]


def n_step_returns(reward: torch.Tensor, discount: torch.Tensor, mask: torch.Tensor, n: int,
                   gamma: float) -> NStep:
    """m = min(n, valid steps from t): a window stops at the sequence's end and at its episode's end
    (padding has mask 0), where a termination's d = 0 ends the bootstrap and a truncation's keeps it."""
    batch, steps = reward.shape
    pad = reward.new_zeros(batch, n)
    reward_, discount_, mask_ = (torch.cat([x, pad], dim=1) for x in (reward, discount, mask))
    total, factor = torch.zeros_like(reward), torch.ones_like(reward)
    count = torch.zeros_like(reward)
    for k in range(n):
        valid = mask_[:, k:k + steps]
        total = total + factor * valid * reward_[:, k:k + steps]
        factor = torch.where(valid > 0, factor * gamma * discount_[:, k:k + steps], factor)
        count = count + valid
    index = torch.arange(steps, device=reward.device).expand(batch, steps)
    return NStep(total, factor, index + count.long())


class R2D2Learner(TorchLearner):
    """One gradient step per `step()` on a batch of `SequenceItem`s.

    The online network is unrolled from each sequence's stored state: its first `burn_in` steps
    without gradient (the state is detached after them), except for sequences that begin at an
    episode's first step, whose state is exact and which train from step 0. The target network
    unrolls the whole sequence from the same state. Targets are h(R + D h^-1(Q_target(s_{t+m}, a*)))
    with a* = argmax Q_online(s_{t+m}); the loss is half the squared TD error, averaged over each
    sequence's trained steps and importance-weighted; priorities mix max and mean |TD| by eta.
    """

    def __init__(self, q_network: nn.Module, iterator: Iterator[Any], config: R2D2Config,
                 device: torch.device, counter: Counter | None = None, logger: Logger | None = None,
                 log_every: int = 100, priority_updater: PriorityUpdater | None = None) -> None:
        self._q = q_network.to(device)
        self._target_q = copy.deepcopy(self._q).requires_grad_(False)
        optimizer = make_adam(self._q.parameters(), config.learning_rate, config.adam_eps)
        super().__init__({"q": self._q, "target_q": self._target_q}, optimizer, device, config.max_grad_norm,
                         counter, logger, log_every)
        self._iterator = iterator
        self._config = config
        self._priorities = PriorityCorrection.from_config(config, priority_updater)

    def _h(self, x: torch.Tensor) -> torch.Tensor:
        return rescale(x, self._config.rescaling_epsilon) if self._config.value_rescaling else x

    def _h_inverse(self, x: torch.Tensor) -> torch.Tensor:
        return unrescale(x, self._config.rescaling_epsilon) if self._config.value_rescaling else x

    def online_values(self, batch: SequenceItem) -> tuple[torch.Tensor, torch.Tensor]:
        """Q_online over the whole sequence (B, L+1, A), and which steps may train (B, L) (past the burn-in,
        or any step of a sequence that starts its episode)."""
        burn_in = self._config.burn_in
        first = batch.step_type == FIRST
        starts_episode = first[:, 0]
        steps = batch.mask.shape[1]
        trainable = (torch.arange(steps, device=first.device) >= burn_in) | starts_episode.unsqueeze(-1)
        if burn_in == 0:
            return self._q.unroll(batch.observation, first, batch.core_state)[0], trainable
        q_burn_in, state = self._q.unroll(take(batch.observation, (slice(None), slice(None, burn_in))),
                                          first[:, :burn_in], batch.core_state)
        state = torch.where(starts_episode.unsqueeze(-1), state, state.detach())
        q_rest, _ = self._q.unroll(take(batch.observation, (slice(None), slice(burn_in, None))), first[:, burn_in:],
                                   state)
        q_burn_in = torch.where(starts_episode[:, None, None], q_burn_in, q_burn_in.detach())
        return torch.cat([q_burn_in, q_rest], dim=1), trainable

    def losses(self, batch: SequenceItem) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Per-sequence losses (B,), TD errors (B, L) and the trained-step weights (B, L)."""
        cfg = self._config
        q_online, trainable = self.online_values(batch)
        weight = batch.mask * trainable.to(batch.mask.dtype)
        steps = batch.mask.shape[1]
        q_taken = q_online[:, :steps].gather(-1, batch.action.long().unsqueeze(-1)).squeeze(-1)
        n_step = n_step_returns(batch.reward, batch.discount, batch.mask, cfg.n_step, cfg.discount)
        with torch.no_grad():
            first = batch.step_type == FIRST
            q_target, _ = self._target_q.unroll(batch.observation, first, batch.core_state)
            index = n_step.bootstrap_index.unsqueeze(-1)
            a_star = q_online.detach().gather(1, index.expand(-1, -1, q_online.shape[-1])).argmax(-1, keepdim=True)
            next_q = q_target.gather(1, index.expand(-1, -1, q_target.shape[-1])).gather(-1, a_star).squeeze(-1)
            target = self._h(n_step.reward + n_step.discount * self._h_inverse(next_q))
        td_error = (target - q_taken) * weight
        losses = 0.5 * td_error.pow(2).sum(1) / weight.sum(1).clamp(min=1.0)
        return losses, td_error, weight

    def sequence_priorities(self, td_error: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
        """eta * max_t |TD| + (1 - eta) * mean_t |TD| over each sequence's trained steps (B,)."""
        eta = self._config.priority_eta
        magnitude = td_error.detach().abs()
        mean = magnitude.sum(1) / weight.sum(1).clamp(min=1.0)
        return eta * magnitude.max(1).values + (1.0 - eta) * mean

    def step(self) -> dict[str, Any]:
        weighted = self._priorities.unpack(next(self._iterator), self.num_steps, self._device)
        batch: SequenceItem = self._to_device(weighted.data)
        losses, td_error, weight = self.losses(batch)
        loss = weighted.mean(losses)
        grad_norm = self._apply_gradients(loss, terms={"td_error": td_error})
        self._priorities.update(weighted, self.sequence_priorities(td_error, weight))
        if self.num_steps % self._config.target_update_period == 0:
            self._target_q.load_state_dict(self._q.state_dict())
        trained = weight.sum().clamp(min=1.0)
        metrics = {"loss": loss, "grad_norm": grad_norm, "td_error_abs": td_error.abs().sum() / trained,
                   "trained_steps": weight.sum(1).mean()}
        return self._record({**metrics, **weighted.metrics()})
