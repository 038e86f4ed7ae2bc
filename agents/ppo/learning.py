"""The PPO learner: K epochs of M minibatches of the clipped objective per batch of rollouts."""

from __future__ import annotations

from typing import Any, Iterator, NamedTuple

import numpy as np
import torch
from torch import nn

from agents.on_policy import OnPolicyLearner
from agents.ppo.config import PPOConfig
from components.counting import Counter
from components.learners import linear_decay, set_learning_rate
from components.loggers import Logger
from components.nested import flatten_leading, leading_size, take
from environments.nests import map_structure
from components.recurrent import FIRST, evaluate_sequences, is_recurrent
from components.transforms import gae, normalize_advantages, trajectory_masks
from components.types import Trajectory


class _Minibatch(NamedTuple):
    """A minibatch's network inputs ((observations,), or (sequences, first, start state) for a recurrent
    network), the valid-step mask over its outputs (None: every output counts), and its per-step targets."""

    inputs: tuple[torch.Tensor, ...]
    keep: torch.Tensor | None
    raw_action: torch.Tensor
    old_log_prob: torch.Tensor
    old_value: torch.Tensor
    advantages: torch.Tensor
    returns: torch.Tensor


class PPOLearner(OnPolicyLearner):
    """PPO-clip. For each minibatch, with r = pi(a|o) / pi_old(a|o) and normalised advantages A:

        L_pi = -mean(min(r A, clip(r, 1 - eps, 1 + eps) A))
        L_v  = mean(max((V - G)^2, (V_old + clip(V - V_old, -eps, eps) - G)^2))   (or plain (V - G)^2)
        loss = L_pi + c_v L_v / 2 - c_e mean(H)

    G = A_gae + V_old. pi_old is the behaviour policy's log-probability reported
    by the actor; V_old comes from the network before this batch's first update. With a recurrent core a
    minibatch is a group of whole rollouts, unrolled from the core state the actor began each with.
    """

    def __init__(self, network: nn.Module, iterator: Iterator[Trajectory], config: PPOConfig,
                 device: torch.device, counter: Counter | None = None, logger: Logger | None = None,
                 log_every: int = 1, seed: int = 0) -> None:
        super().__init__(network, iterator, config, device, counter, logger, log_every)
        self._rng = np.random.default_rng(seed)

    def step(self) -> dict[str, Any]:
        cfg = self._config
        batch: Trajectory = self._to_device(next(self._iterator))
        batch_size, horizon = batch.reward.shape

        valid, continues = trajectory_masks(batch.step_type.T)
        if not bool(valid.any()):  # Only ignored steps: nothing to learn, nothing to log.
            return {}
        with torch.no_grad():
            _, old_values = evaluate_sequences(self._network, batch.observation, batch.step_type, batch.extras)
            old_values = old_values.view(batch_size, horizon + 1)
            advantages, returns = gae(batch.reward.T, batch.discount.T, old_values.T, continues,
                                      cfg.discount, cfg.gae_lambda)

        fraction = linear_decay(1.0, self.num_steps, cfg.learning_rate_decay_steps)
        set_learning_rate(self._optimizer, cfg.learning_rate * fraction)
        clip = cfg.clip_range * fraction if cfg.learning_rate_decay_steps else cfg.clip_range
        stats: dict[str, list[torch.Tensor]] = {}
        stopped_early = False
        per_step = (batch.extras["raw_action"], batch.extras["log_prob"], old_values[:, :horizon],
                    advantages.T, returns.T)
        for _ in range(cfg.num_epochs):
            for minibatch in self._minibatches(batch, valid.T, per_step):
                metrics = self._minibatch_update(minibatch, clip)
                for key, value in metrics.items():
                    stats.setdefault(key, []).append(value)
            if cfg.target_kl is not None and stats["approx_kl"][-1] > cfg.target_kl:
                stopped_early = True
                break
        # The rollouts join the normaliser's statistics (if any) only now: every epoch saw the actor's.
        self._update_observation_normalizer(flatten_leading(batch.observation))
        self.num_steps += 1  # One learner step per batch of rollouts (minibatch steps are not counted).
        summary = {key: torch.stack(values).mean() for key, values in stats.items()}
        summary.update(learning_rate=torch.tensor(cfg.learning_rate * fraction), clip_range=torch.tensor(clip),
                       stopped_early=torch.tensor(float(stopped_early)),
                       explained_variance=_explained_variance(old_values[:, :horizon][valid.T],
                                                              returns.T[valid.T]))
        return self._record(summary)

    def _minibatches(self, batch: Trajectory, valid: torch.Tensor,
                     per_step: tuple[torch.Tensor, ...]) -> Iterator[_Minibatch]:
        """One epoch's minibatches. Feed-forward: the valid steps shuffled, M slices of them. Recurrent: the
        rollouts (or their `sequence_chunk`-step chunks) shuffled, M groups of them, each unrolled from the
        core state the actor had at its first step (never single shuffled steps); its outputs cover every
        step, and `keep` picks the valid ones."""
        cfg, horizon = self._config, batch.reward.shape[1]
        if is_recurrent(self._network):
            chunk = cfg.sequence_chunk or horizon

            def chunks(x: torch.Tensor) -> torch.Tensor:  # (N, T, ...) -> (N * T / chunk, chunk, ...)
                return x[:, :horizon].reshape(-1, chunk, *x.shape[2:])

            observation, first = map_structure(chunks, batch.observation), chunks(batch.step_type) == FIRST
            start_state = batch.extras["core_state"][:, :horizon:chunk].flatten(0, 1)
            valid, per_step = chunks(valid), tuple(chunks(x) for x in per_step)
            sequences = len(first)
            order = torch.as_tensor(self._rng.permutation(sequences), device=self._device)
            size = max(1, sequences // cfg.num_minibatches)
            for start in range(0, sequences - size + 1, size):
                index = order[start:start + size]
                keep = valid[index].reshape(-1)
                raw_action = per_step[0][index].flatten(0, 1)  # Every step: log-probs are picked after.
                yield _Minibatch((take(observation, index), first[index], start_state[index]), keep, raw_action,
                                 *(x[index].flatten(0, 1)[keep] for x in per_step[1:]))
            return
        keep = valid.reshape(-1)
        observations = take(flatten_leading(take(batch.observation, (slice(None), slice(None, horizon)))), keep)
        steps = (observations, *(x.flatten(0, 1)[keep] for x in per_step))
        count = leading_size(observations)
        size = max(1, count // cfg.num_minibatches)
        # Shuffled once per epoch, so each minibatch is a slice (a view) rather than six gathers.
        order = torch.as_tensor(self._rng.permutation(count), device=self._device)
        shuffled = [take(x, order) for x in steps]
        for start in range(0, count - size + 1, size):
            observations, *rest = (take(x, slice(start, start + size)) for x in shuffled)
            yield _Minibatch((observations,), None, *rest)

    def _minibatch_update(self, minibatch: _Minibatch, clip: float) -> dict[str, torch.Tensor]:
        cfg = self._config
        _, keep, raw_actions, old_log_prob, old_value, advantages, returns = minibatch
        if cfg.normalize_advantages:
            advantages = normalize_advantages(advantages)
        if keep is None:
            distribution, value = self._network(*minibatch.inputs)
        else:
            distribution, value = self._network.unroll(*minibatch.inputs)
        log_prob = distribution.log_prob(raw_actions)
        with torch.set_grad_enabled(cfg.entropy_coef != 0):  # Without a bonus it is only logged.
            entropy = distribution.entropy()
        if keep is not None:
            log_prob, entropy, value = log_prob[keep], entropy[keep], value[keep]
        entropy = entropy.mean()
        log_ratio = log_prob - old_log_prob
        ratio = log_ratio.exp()
        policy_loss = -torch.min(ratio * advantages, ratio.clamp(1.0 - clip, 1.0 + clip) * advantages).mean()
        if cfg.clip_value_loss:
            clipped = old_value + (value - old_value).clamp(-clip, clip)
            value_loss = torch.max((value - returns).pow(2), (clipped - returns).pow(2)).mean()
        else:
            value_loss = (value - returns).pow(2).mean()
        loss = policy_loss + 0.5 * cfg.value_coef * value_loss
        if cfg.entropy_coef:
            loss = loss - cfg.entropy_coef * entropy
        grad_norm = self._apply_gradients(  # PPO counts batches, not minibatches.
            loss, count_step=False, terms={"policy_loss": policy_loss, "value_loss": value_loss, "entropy": entropy,
                                           "ratio": ratio, "returns": returns})
        with torch.no_grad():
            approx_kl = ((ratio - 1.0) - log_ratio).mean()
            clip_fraction = ((ratio - 1.0).abs() > clip).float().mean()
        return {"loss": loss.detach(), "policy_loss": policy_loss.detach(), "value_loss": value_loss.detach(),
                "entropy": entropy.detach(), "approx_kl": approx_kl, "clip_fraction": clip_fraction,
                "grad_norm": grad_norm}


def _explained_variance(predicted: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """1 - Var(target - predicted) / Var(target): how much of the returns' variance V explains."""
    variance = target.var()
    return 1.0 - (target - predicted).var() / variance if variance > 0 else torch.tensor(float("nan"))
