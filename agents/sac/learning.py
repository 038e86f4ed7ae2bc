"""The SAC learner: soft TD targets from target critics, a reparameterised policy loss, alpha tuning."""

from __future__ import annotations

import copy
from typing import Any, Iterator

import torch

from agents.sac.config import SACConfig
from agents.sac.networks import SquashedGaussianPolicy, Temperature
from components.action_bounds import ActionBounds
from components.counting import Counter
from components.critics import EnsembleCritic, soft_update_
from components.importance import PriorityCorrection, PriorityUpdater
from components.learners import TorchLearner, autocast, make_adam
from components.loggers import Logger
from components.types import Transition


class SACLearner(TorchLearner):
    """One update of critics, policy and temperature per `step()`, all from the same batch and weights.

    The three losses touch disjoint parameters (the policy loss sees the critics with frozen weights, the
    temperature loss a detached log-probability), so one backward pass and one Adam step over three
    parameter groups is three separate updates at the cost of one. With a prioritized replay the critics'
    squared errors are importance-weighted and each item's priority is its |TD error| averaged over the critics.
    """

    def __init__(self, policy: SquashedGaussianPolicy, critic: EnsembleCritic, bounds: ActionBounds,
                 iterator: Iterator[Any], config: SACConfig, device: torch.device,
                 counter: Counter | None = None, logger: Logger | None = None,
                 priority_updater: PriorityUpdater | None = None) -> None:
        self._policy = policy.to(device)
        self._critic = critic.to(device)
        self._target_critic = copy.deepcopy(self._critic).requires_grad_(False)
        initial_alpha = config.init_alpha if config.learns_alpha else float(config.alpha)
        self._temperature = Temperature(initial_alpha, learned=config.learns_alpha).to(device)
        groups = [{"params": list(self._policy.parameters())},
                  {"params": list(self._critic.parameters()), "lr": config.critic_learning_rate or config.learning_rate}]
        if config.learns_alpha:
            groups.append({"params": list(self._temperature.parameters()),
                           "lr": config.alpha_learning_rate or config.learning_rate})
        super().__init__({"policy": self._policy, "critic": self._critic, "target_critic": self._target_critic,
                          "temperature": self._temperature}, make_adam(groups, config.learning_rate), device,
                         config.max_grad_norm, counter, logger)
        self._iterator = iterator
        self._bounds = bounds
        self._config = config
        self._priorities = PriorityCorrection.from_config(config, priority_updater)
        self._target_entropy = (-float(bounds.size) if config.target_entropy is None
                                else float(config.target_entropy))

    def step(self) -> dict[str, Any]:
        weighted = self._priorities.unpack(next(self._iterator), self.num_steps, self._device)
        batch: Transition = self._to_device(weighted.data)
        action = self._bounds.to_unit(batch.action)
        alpha = self._temperature().detach()
        with autocast(self._device, self._config.precision):
            with torch.no_grad():  # y = r + D (min_i Q'_i(s', a') - alpha log pi(a'|s')), a' ~ pi(s').
                next_action, next_log_prob = self._policy.sample(batch.next_observation)
                next_q = self._target_critic(batch.next_observation, next_action).min(0).values
                target = batch.reward + batch.discount * (next_q - alpha * next_log_prob)
            q = self._critic(batch.observation, action)
            td_error = q - target
            critic_loss = weighted.mean(0.5 * td_error.pow(2).sum(0))
            new_action, log_prob = self._policy.sample(batch.observation)
            new_q = self._critic(batch.observation, new_action, frozen=True).min(0).values
            policy_loss = (alpha * log_prob - new_q).mean()
            loss = critic_loss + policy_loss
            terms = {"critic_loss": critic_loss, "policy_loss": policy_loss}
            if self._config.learns_alpha:
                alpha_loss = -(self._temperature.log_alpha * (log_prob.detach() + self._target_entropy)).mean()
                loss = loss + alpha_loss
                terms["alpha_loss"] = alpha_loss
        grad_norm = self._apply_gradients(loss, terms=terms)
        soft_update_(self._target_critic, self._critic, self._config.tau)
        self._priorities.update(weighted, td_error)
        return self._record({**terms, "loss": loss, "grad_norm": grad_norm, "alpha": alpha,
                             "entropy": -log_prob.detach().mean(), "q_mean": q.detach().mean(), **weighted.metrics()})
