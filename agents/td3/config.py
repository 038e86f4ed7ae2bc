"""TD3 hyperparameters (DDPG is `--preset=ddpg`: one critic, no target smoothing, no delay)."""

from __future__ import annotations

import dataclasses

from agents.configs import ContinuousOffPolicyConfig


@dataclasses.dataclass(frozen=True)
class TD3Config(ContinuousOffPolicyConfig):
    """Twin delayed DDPG (Fujimoto et al. 2018): clipped double-Q, target policy smoothing, delayed policy
    and target updates, Gaussian exploration. Defaults are stable-baselines3's.

    The fields the off-policy continuous agents share are documented in agents/configs.py.

    Attributes:
      num_critics: Critics whose minimum makes the target (2: clipped double-Q; 1: DDPG's single critic).
      policy_delay: Critic updates per policy and target update (1: every step, as DDPG).
      target_noise: Std of the Gaussian noise on the target policy's actions, in [-1, 1] units (0: no
        smoothing, as DDPG).
      target_noise_clip: The target noise is clipped to +-this.
      exploration_noise: Std of the Gaussian noise on the behaviour policy's actions, in [-1, 1] units.
    """

    learning_rate: float = 1e-3
    hidden_sizes: tuple[int, ...] = (400, 300)
    num_critics: int = 2
    policy_delay: int = 2
    target_noise: float = 0.2
    target_noise_clip: float = 0.5
    exploration_noise: float = 0.1

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("num_critics", "policy_delay"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        for name in ("target_noise", "target_noise_clip", "exploration_noise"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)!r}.")
