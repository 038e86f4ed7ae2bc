"""The TD3 learner: clipped double-Q targets with smoothed target actions, delayed policy updates."""

from __future__ import annotations

import copy
from typing import Any, Iterator

import torch

from agents.td3.config import TD3Config
from agents.td3.networks import DeterministicPolicy
from components.action_bounds import ActionBounds
from components.counting import Counter
from components.critics import EnsembleCritic, soft_update_
from components.importance import PriorityCorrection, PriorityUpdater
from components.learners import TorchLearner, autocast, make_adam
from components.loggers import Logger
from components.types import Transition

_POLICY_GROUP = 0  # The optimizer's parameter group of the policy.


class TD3Learner(TorchLearner):
    """A critic update every `step()`; every `policy_delay`-th step also the policy and the Polyak targets.

    On a delayed step both losses go through one backward pass (the policy loss sees the critic with frozen
    weights); on the others the policy's group sits the step out, its Adam moments untouched. With a
    prioritized replay the critics' squared errors are importance-weighted and each item's priority is its
    |TD error| averaged over the critics.
    """

    def __init__(self, policy: DeterministicPolicy, critic: EnsembleCritic, bounds: ActionBounds,
                 iterator: Iterator[Any], config: TD3Config, device: torch.device,
                 counter: Counter | None = None, logger: Logger | None = None,
                 priority_updater: PriorityUpdater | None = None) -> None:
        self._policy = policy.to(device)
        self._critic = critic.to(device)
        self._target_policy = copy.deepcopy(self._policy).requires_grad_(False)
        self._target_critic = copy.deepcopy(self._critic).requires_grad_(False)
        groups = [{"params": list(self._policy.parameters())},
                  {"params": list(self._critic.parameters()), "lr": config.critic_learning_rate or config.learning_rate}]
        super().__init__({"policy": self._policy, "critic": self._critic, "target_policy": self._target_policy,
                          "target_critic": self._target_critic}, make_adam(groups, config.learning_rate), device,
                         config.max_grad_norm, counter, logger)
        self._iterator = iterator
        self._bounds = bounds
        self._config = config
        self._priorities = PriorityCorrection.from_config(config, priority_updater)

    @property
    def policy_updates(self) -> int:
        """Policy (and target) updates so far: one every `policy_delay` learner steps."""
        return self.num_steps // self._config.policy_delay

    def step(self) -> dict[str, Any]:
        cfg = self._config
        weighted = self._priorities.unpack(next(self._iterator), self.num_steps, self._device)
        batch: Transition = self._to_device(weighted.data)
        action = self._bounds.to_unit(batch.action)
        with autocast(self._device, self._config.precision):
            with torch.no_grad():  # y = r + D min_i Q'_i(s', clip(pi'(s') + clip(eps, -c, c), -1, 1)).
                next_action = self._target_policy(batch.next_observation)
                if cfg.target_noise > 0:
                    noise = (torch.randn_like(next_action) * cfg.target_noise).clamp(-cfg.target_noise_clip,
                                                                                     cfg.target_noise_clip)
                    next_action = (next_action + noise).clamp(-1.0, 1.0)
                next_q = self._target_critic(batch.next_observation, next_action).min(0).values
                target = batch.reward + batch.discount * next_q
            q = self._critic(batch.observation, action)
            td_error = q - target
            critic_loss = weighted.mean(td_error.pow(2).sum(0))
            terms = {"critic_loss": critic_loss}
            update_policy = (self.num_steps + 1) % cfg.policy_delay == 0
            loss = critic_loss
            if update_policy:
                policy_loss = -self._critic(batch.observation, self._policy(batch.observation), frozen=True)[0].mean()
                loss = loss + policy_loss
                terms["policy_loss"] = policy_loss
        grad_norm = self._apply_gradients(loss, terms=terms, held_groups=() if update_policy else (_POLICY_GROUP,))
        if update_policy:
            soft_update_(self._target_critic, self._critic, cfg.tau)
            soft_update_(self._target_policy, self._policy, cfg.tau)
        self._priorities.update(weighted, td_error)
        return self._record({**terms, "loss": loss, "grad_norm": grad_norm, "q_mean": q.detach().mean(),
                             "policy_updates": torch.tensor(float(self.policy_updates)), **weighted.metrics()})
