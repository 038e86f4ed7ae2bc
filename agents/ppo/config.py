"""PPO hyperparameters."""

from __future__ import annotations

import dataclasses

from agents.configs import RolloutConfig


@dataclasses.dataclass(frozen=True)
class PPOConfig(RolloutConfig):
    """Proximal policy optimisation with the clipped objective (Schulman et al. 2017).

    The fields every policy-gradient agent shares are documented in agents/configs.py.

    Attributes:
      learning_rate: Adam step size at the start.
      learning_rate_decay_steps: Learner steps (one per rollout) over which the
        step size and the clip range decay linearly to 0 (0: constant).
      optimizer: 'adam' (as PPO is usually run), 'rmsprop' or 'rmsprop_tf' (TensorFlow's RMSprop).
      normalize_advantages: Standardise advantages within each minibatch.
      num_epochs: Passes over each batch of rollouts (K).
      num_minibatches: Minibatches per pass (M).
      clip_range: epsilon of the clipped probability ratio.
      clip_value_loss: Clip the value update around the old values as well.
      target_kl: Stop the epochs early once the approximate KL exceeds this (None: never).
      sequence_chunk: With a recurrent core: cut each rollout into chunks of this many steps, each
        unrolled from the core state the actor had at its first step, and group chunks into minibatches
        (more minibatches than lanes); 0: whole rollouts. Must divide rollout_length.
    """

    num_epochs: int = 4
    num_minibatches: int = 4
    clip_range: float = 0.2
    clip_value_loss: bool = True
    target_kl: float | None = None
    sequence_chunk: int = 0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("num_epochs", "num_minibatches"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if not 0.0 < self.clip_range < 1.0:
            raise ValueError(f"clip_range must be in (0, 1), got {self.clip_range}.")
        if self.sequence_chunk < 0 or (self.sequence_chunk and self.rollout_length % self.sequence_chunk):
            raise ValueError(f"sequence_chunk must be 0 (whole rollouts) or divide rollout_length "
                             f"({self.rollout_length}), got {self.sequence_chunk}.")
        if self.sequence_chunk and self.core == "none":
            raise ValueError(f"sequence_chunk={self.sequence_chunk} needs a recurrent core (core='lstm' or 'gru').")
        if self.target_kl is not None and self.target_kl <= 0:
            raise ValueError(f"target_kl must be > 0 or None, got {self.target_kl}.")
