"""A2C hyperparameters."""

from __future__ import annotations

import dataclasses

from agents.configs import LOG_STD_RANGE, RolloutConfig

VALUE_LOSSES = ("mse", "huber")


@dataclasses.dataclass(frozen=True)
class A2CConfig(RolloutConfig):
    """Synchronous advantage actor-critic: T-step rollouts over N lanes, one update per rollout.

    The fields every policy-gradient agent shares are documented in agents/configs.py.

    Attributes:
      learning_rate: Optimizer step size at the start.
      critic_learning_rate: The critic's own step size at the start (value head and
        critic torso; a shared torso stays with the actor), decayed with the
        actor's (None: learning_rate for everything).
      gae_lambda: GAE lambda; 1.0 gives plain T-step returns (classic A2C).
      reward_scale: Rewards are multiplied by this before advantages and returns
        (so values are learned in scaled units; evaluation returns are unscaled).
      value_loss: 'mse' ((G - V)^2) or 'huber' (0.5 (G - V)^2 within 1 of the
        return, |G - V| - 0.5 beyond).
      init_log_std: Gaussian policies: the log-std at the start, in [-5, 2]
        (> 0 for 'softplus'); None: 0, or log 2 for 'softplus' (std 2).
    """

    learning_rate: float = 7e-4
    optimizer: str = "rmsprop"
    entropy_coef: float = 0.01
    gae_lambda: float = 1.0
    rollout_length: int = 5
    normalize_advantages: bool = False
    critic_learning_rate: float | None = None
    reward_scale: float = 1.0
    value_loss: str = "mse"
    init_log_std: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.critic_learning_rate is not None and self.critic_learning_rate <= 0:
            raise ValueError(f"critic_learning_rate must be > 0 or None, got {self.critic_learning_rate!r}.")
        if not self.reward_scale > 0:
            raise ValueError(f"reward_scale must be > 0, got {self.reward_scale!r}.")
        if self.value_loss not in VALUE_LOSSES:
            raise ValueError(f"value_loss must be one of {VALUE_LOSSES}, got {self.value_loss!r}.")
        low, high = LOG_STD_RANGE
        if self.init_log_std is not None and not low <= self.init_log_std <= high:
            raise ValueError(f"init_log_std must be in [{low}, {high}], got {self.init_log_std!r}.")
        if self.log_std == "softplus" and self.init_log_std is not None and not self.init_log_std > 0:
            raise ValueError("log_std='softplus' keeps the log-std above 0, so init_log_std must be > 0, "
                             f"got {self.init_log_std!r}.")
