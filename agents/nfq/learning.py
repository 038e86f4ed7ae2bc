"""The NFQ learner: squared TD error against the network's own (detached) bootstrap."""

from __future__ import annotations

from typing import Any, Iterator

import torch
from torch import nn

from agents.nfq.config import NFQConfig
from components.counting import Counter
from components.importance import PriorityCorrection, PriorityUpdater
from components.learners import TorchLearner, autocast, make_adam
from components.loggers import Logger
from components.types import Transition


class NFQLearner(TorchLearner):
    """One gradient step per `step()`; the bootstrap uses the online network itself.

    With a prioritized replay the squared errors are importance-weighted and |TD error| becomes the priority.
    """

    def __init__(self, q_network: nn.Module, iterator: Iterator[Transition], config: NFQConfig,
                 device: torch.device, counter: Counter | None = None, logger: Logger | None = None,
                 log_every: int = 100, priority_updater: PriorityUpdater | None = None) -> None:
        self._q = q_network.to(device)
        optimizer = make_adam(self._q.parameters(), config.learning_rate, config.adam_eps)
        super().__init__({"q": self._q}, optimizer, device, config.max_grad_norm,
                         counter, logger, log_every)
        self._iterator = iterator
        self._precision = config.precision
        self._priorities = PriorityCorrection.from_config(config, priority_updater)

    def step(self) -> dict[str, Any]:
        weighted = self._priorities.unpack(next(self._iterator), self.num_steps, self._device)
        batch: Transition = self._to_device(weighted.data)
        with autocast(self._device, self._precision):
            q_values = self._q(batch.observation).float()
            with torch.no_grad():  # y = R + D * max_a Q(s', a), with no gradient through the bootstrap.
                next_q = self._q(batch.next_observation).float()
        q_taken = q_values.gather(-1, batch.action.long().unsqueeze(-1)).squeeze(-1)
        target = batch.reward + batch.discount * next_q.max(dim=-1).values

        td_error = target - q_taken
        loss = weighted.mean(0.5 * td_error.pow(2))
        grad_norm = self._apply_gradients(loss, terms={"q_taken": q_taken, "target": target})
        self._priorities.update(weighted, td_error)

        metrics = {"loss": loss, "grad_norm": grad_norm, "q_mean": q_taken.mean()}
        return self._record({**metrics, **weighted.metrics()})
