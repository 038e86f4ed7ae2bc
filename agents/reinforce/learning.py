"""The REINFORCE learner: one gradient step per batch of whole episodes."""

from __future__ import annotations

from typing import Any, Iterator

import torch
import tree
from torch import nn

from agents.on_policy import OnPolicyLearner
from agents.reinforce.config import REINFORCEConfig
from components.counting import Counter
from components.loggers import Logger
from components.nested import concatenate, take
from components.transforms import discounted_returns
from components.types import Trajectory


def _episodes(batch: Any) -> list[Trajectory]:
    """The queue stacks episodes of equal length and lists unequal ones: always a list here."""
    if isinstance(batch, Trajectory):
        count = batch.reward.shape[0]
        return [tree.map_structure(lambda x, i=i: x[i], batch) for i in range(count)]
    return list(batch)


class REINFORCELearner(OnPolicyLearner):
    """Monte-Carlo policy gradient. With G_t = sum_k gamma^k r_{t+k+1} over the rest of the episode:

        loss = -mean(log pi(a_t|o_t) (G_t - b(o_t))) + c_v mean((G_t - V(o_t))^2) - c_e mean(H)

    where b = V (detached) with a learned baseline, else 0; G is optionally
    standardised within the update.
    """

    def __init__(self, network: nn.Module, iterator: Iterator[Any], config: REINFORCEConfig,
                 device: torch.device, counter: Counter | None = None, logger: Logger | None = None,
                 log_every: int = 10) -> None:
        super().__init__(network, iterator, config, device, counter, logger, log_every)

    def step(self) -> dict[str, Any]:
        cfg = self._config
        episodes = [self._to_device(e) for e in _episodes(next(self._iterator))]
        observations = concatenate([take(e.observation, slice(None, -1)) for e in episodes])  # LAST has no action.
        raw_actions = torch.cat([e.extras["raw_action"] for e in episodes])
        returns = torch.cat([discounted_returns(e.reward, e.discount, cfg.discount) for e in episodes])
        if cfg.normalize_returns and len(returns) > 1:
            returns = (returns - returns.mean()) / (returns.std() + 1e-8)

        distribution, values = self._network(observations)
        log_prob = distribution.log_prob(raw_actions)
        advantages = returns - values.detach() if cfg.baseline else returns
        policy_loss = -(log_prob * advantages).mean()
        value_loss = (returns - values).pow(2).mean()
        entropy = distribution.entropy().mean()
        loss = policy_loss - cfg.entropy_coef * entropy + (cfg.value_coef * value_loss if cfg.baseline else 0.0)
        grad_norm = self._apply_gradients(loss, terms={"policy_loss": policy_loss, "value_loss": value_loss,
                                                        "entropy": entropy, "returns": returns})
        return self._record({"loss": loss, "policy_loss": policy_loss, "value_loss": value_loss,
                             "entropy": entropy, "grad_norm": grad_norm,
                             "episode_length_mean": torch.tensor(len(returns) / len(episodes))})
