"""REINFORCE hyperparameters."""

from __future__ import annotations

import dataclasses

from agents.configs import PolicyGradientConfig


@dataclasses.dataclass(frozen=True)
class REINFORCEConfig(PolicyGradientConfig):
    """Monte-Carlo policy gradient (Williams 1992) on whole episodes.

    The fields every policy-gradient agent shares are documented in agents/configs.py.

    Attributes:
      optimizer: 'adam', 'rmsprop' or 'rmsprop_tf' (TensorFlow's RMSprop).
      value_coef: Weight of the baseline's squared error.
      shared_torso: One torso for policy and baseline (True) or two separate ones.
      episodes_per_update: Finished episodes per gradient step (0: one per lane).
      normalize_returns: Standardise the returns within each update.
      baseline: Learn a state-value baseline and use G - V(s) as the advantage.
      longest_episode: Longest episode the adder accepts (longer ones fail clearly).
    """

    learning_rate: float = 1e-3
    optimizer_eps: float = 1e-8
    max_grad_norm: float | None = None
    episodes_per_update: int = 0
    normalize_returns: bool = True
    baseline: bool = False
    longest_episode: int = 100_000

    @property
    def batch_size(self) -> int:  # The on-policy runners read `batch_size`.
        return self.episodes_per_update

    def __post_init__(self) -> None:
        if self.episodes_per_update < 0:
            raise ValueError(f"episodes_per_update must be >= 0 (0: one per lane), got {self.episodes_per_update}.")
        super().__post_init__()
        if self.longest_episode < 1:
            raise ValueError(f"longest_episode must be >= 1, got {self.longest_episode}.")
