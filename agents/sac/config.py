"""SAC hyperparameters."""

from __future__ import annotations

import dataclasses

from agents.configs import ContinuousOffPolicyConfig


@dataclasses.dataclass(frozen=True)
class SACConfig(ContinuousOffPolicyConfig):
    """Soft actor-critic (Haarnoja et al. 2018): twin critics, a tanh-squashed Gaussian policy and an
    entropy temperature tuned towards a target entropy. Defaults are stable-baselines3's.

    The fields the off-policy continuous agents share are documented in agents/configs.py.

    Attributes:
      alpha: The entropy temperature: 'auto' (learned, from `init_alpha`, towards `target_entropy`) or a
        fixed number > 0.
      init_alpha: The learned temperature's value at the start.
      alpha_learning_rate: The temperature's Adam step size (None: learning_rate).
      target_entropy: The policy entropy the learned temperature aims for (None: -|A|, minus the number
        of action dimensions).
    """

    alpha: str = "auto"
    init_alpha: float = 1.0
    alpha_learning_rate: float | None = None
    target_entropy: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.alpha != "auto":
            try:
                fixed = float(self.alpha)
            except ValueError:
                raise ValueError(f"alpha must be 'auto' or a number > 0, got {self.alpha!r}.") from None
            if not fixed > 0:
                raise ValueError(f"alpha must be 'auto' or a number > 0, got {self.alpha!r}.")
        if not self.init_alpha > 0:
            raise ValueError(f"init_alpha must be > 0, got {self.init_alpha!r}.")
        if self.alpha_learning_rate is not None and not self.alpha_learning_rate > 0:
            raise ValueError(f"alpha_learning_rate must be > 0 or None, got {self.alpha_learning_rate!r}.")

    @property
    def learns_alpha(self) -> bool:
        return self.alpha == "auto"
