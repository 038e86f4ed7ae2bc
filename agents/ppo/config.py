"""PPO hyperparameters."""

from __future__ import annotations

import dataclasses

from agents.a2c.config import check_policy_gradient_config


@dataclasses.dataclass(frozen=True)
class PPOConfig:
    """Proximal policy optimisation with the clipped objective (Schulman et al. 2017).

    Attributes:
      learning_rate: Adam step size at the start.
      learning_rate_decay_steps: Learner steps (one per rollout) over which the
        step size and the clip range decay linearly to 0 (0: constant).
      optimizer: 'adam' (as PPO is usually run), 'rmsprop' or 'rmsprop_tf' (TensorFlow's RMSprop).
      optimizer_eps: The optimizer's epsilon.
      rmsprop_alpha: RMSProp's smoothing constant (when optimizer='rmsprop').
      discount: Agent discount gamma, multiplied with the environment's discounts.
      gae_lambda: GAE lambda.
      rollout_length: Steps per lane per update (T).
      num_epochs: Passes over each batch of rollouts (K).
      num_minibatches: Minibatches per pass (M).
      clip_range: epsilon of the clipped probability ratio.
      clip_value_loss: Clip the value update around the old values as well.
      value_coef: Weight of the value loss.
      entropy_coef: Weight of the entropy bonus.
      max_grad_norm: Clip the global gradient norm to this (None: no clipping).
      normalize_advantages: Standardise advantages within each minibatch.
      target_kl: Stop the epochs early once the approximate KL exceeds this (None: never).
      normalize_observations: Standardise observations with running mean and variance
        (kept in the network, so actors and checkpoints carry them).
      hidden_sizes: Widths of the MLP layers after the torso.
      activation: The MLP layers' nonlinearity, 'relu' or 'tanh' (SB3's and CleanRL's
        choice for classic control).
      shared_torso: One torso for policy and value (True) or two separate ones.
      log_std: Gaussian policies: 'parameter' (state-independent), 'state', or
        'softplus' (state-dependent, softplus of a linear layer: std >= 1).
      squash: Gaussian policies: 'clip' samples to the action bounds, 'tanh'
        (squash samples), or 'tanh_mean' (squash the mean, clip samples).
      batch_size: Trajectories per update (0: one per lane, every rollout).
      variable_update_period: Actor steps between weight pulls (1: on-policy).
    """

    learning_rate: float = 3e-4
    learning_rate_decay_steps: int = 0
    optimizer: str = "adam"
    optimizer_eps: float = 1e-5
    rmsprop_alpha: float = 0.99
    discount: float = 0.99
    gae_lambda: float = 0.95
    rollout_length: int = 128
    num_epochs: int = 4
    num_minibatches: int = 4
    clip_range: float = 0.2
    clip_value_loss: bool = True
    value_coef: float = 0.5
    entropy_coef: float = 0.0
    max_grad_norm: float | None = 0.5
    normalize_advantages: bool = True
    target_kl: float | None = None
    normalize_observations: bool = False
    hidden_sizes: tuple[int, ...] = (64, 64)
    shared_torso: bool = False
    activation: str = "relu"
    log_std: str = "parameter"
    squash: str = "clip"
    batch_size: int = 0
    variable_update_period: int = 1

    def __post_init__(self) -> None:
        check_policy_gradient_config(self)
        for name in ("rollout_length", "num_epochs", "num_minibatches"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if not 0.0 < self.clip_range < 1.0:
            raise ValueError(f"clip_range must be in (0, 1), got {self.clip_range}.")
        if self.target_kl is not None and self.target_kl <= 0:
            raise ValueError(f"target_kl must be > 0 or None, got {self.target_kl}.")
