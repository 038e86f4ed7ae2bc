"""The learner's side of prioritized replay: importance weights on a sampled batch, new priorities back.

Every replay learner (NFQ, DQN, SAC, TD3) takes batches through `PriorityCorrection.unpack`: a plain batch
passes through unweighted; a `PrioritizedSample` yields its data, importance weights with beta annealed
linearly to 1 over the learner's own (checkpointed) steps, and its keys. After the update the learner hands
its per-item TD errors to `update`, which writes their magnitudes to the replay as the new priorities.
"""

from __future__ import annotations

from typing import Any, Callable, NamedTuple

import numpy as np
import torch

from components.prioritized_replay import importance_weights
from components.schedules import LinearSchedule
from components.types import PrioritizedSample

PriorityUpdater = Callable[[np.ndarray, np.ndarray], None]


class WeightedBatch(NamedTuple):
    """A sampled batch with its importance weights (None: sampled uniformly) and the replay slots it came from."""

    data: Any
    weights: torch.Tensor | None
    keys: np.ndarray | None
    beta: float | None

    def mean(self, losses: torch.Tensor) -> torch.Tensor:
        """The batch mean of per-item `losses`, importance-weighted when the batch was prioritized."""
        return (losses * self.weights).mean() if self.weights is not None else losses.mean()

    def metrics(self) -> dict[str, torch.Tensor]:
        """What to log about the correction (nothing for a uniform batch)."""
        if self.weights is None:
            return {}
        return {"importance_weight_mean": self.weights.mean(), "beta": torch.tensor(float(self.beta))}


class PriorityCorrection:
    """Importance weights (beta from `initial_beta` to 1 over `anneal_steps` learner steps) and priority updates."""

    def __init__(self, initial_beta: float, anneal_steps: int, update_priorities: PriorityUpdater | None) -> None:
        self._beta = LinearSchedule(initial_beta, 1.0, anneal_steps)
        self._update_priorities = update_priorities

    @classmethod
    def from_config(cls, config: Any, update_priorities: PriorityUpdater | None) -> "PriorityCorrection":
        """From a replay config's `importance_sampling_exponent` and `importance_sampling_anneal_steps`."""
        return cls(config.importance_sampling_exponent, config.importance_sampling_anneal_steps, update_priorities)

    def unpack(self, sample: Any, learner_step: int, device: torch.device) -> WeightedBatch:
        """`sample` as a WeightedBatch; weights use the beta of `learner_step`."""
        if not isinstance(sample, PrioritizedSample):
            return WeightedBatch(sample, None, None, None)
        beta = self._beta(learner_step)
        weights = torch.as_tensor(importance_weights(sample.probabilities, beta), device=device)
        return WeightedBatch(sample.data, weights, np.asarray(sample.keys), beta)

    def update(self, batch: WeightedBatch, td_errors: torch.Tensor) -> None:
        """Writes |`td_errors`| of a prioritized `batch` back to the replay as the items' new priorities.

        `td_errors` is (B,), or (..., B) from an ensemble, whose magnitudes are averaged over the leading axes.
        A uniform batch costs nothing here.
        """
        if batch.keys is None or self._update_priorities is None:
            return
        priorities = td_errors.detach().float().abs()
        if priorities.dim() > 1:
            priorities = priorities.flatten(0, -2).mean(0)
        self._update_priorities(batch.keys, priorities.cpu().numpy())
