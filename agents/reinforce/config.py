"""REINFORCE hyperparameters."""

from __future__ import annotations

import dataclasses

from agents.a2c.config import check_policy_gradient_config


@dataclasses.dataclass(frozen=True)
class REINFORCEConfig:
    """Monte-Carlo policy gradient (Williams 1992) on whole episodes.

    Attributes:
      learning_rate: Optimizer step size.
      optimizer: 'adam', 'rmsprop' or 'rmsprop_tf' (TensorFlow's RMSprop).
      optimizer_eps: The optimizer's epsilon.
      rmsprop_alpha: RMSProp's smoothing constant (when optimizer='rmsprop').
      discount: Agent discount gamma, multiplied with the environment's discounts.
      episodes_per_update: Finished episodes per gradient step (0: one per lane).
      normalize_returns: Standardise the returns within each update.
      baseline: Learn a state-value baseline and use G - V(s) as the advantage.
      value_coef: Weight of the baseline's squared error.
      entropy_coef: Weight of the entropy bonus.
      max_grad_norm: Clip the global gradient norm to this (None: no clipping).
      hidden_sizes: Widths of the MLP layers after the torso.
      activation: The MLP layers' nonlinearity, 'relu' or 'tanh' (SB3's and CleanRL's
        choice for classic control).
      shared_torso: One torso for policy and baseline (True) or two separate ones.
      log_std: Gaussian policies: 'parameter' (state-independent), 'state', or
        'softplus' (state-dependent, softplus of a linear layer: std >= 1).
      squash: Gaussian policies: 'clip' samples to the action bounds, 'tanh'
        (squash samples), or 'tanh_mean' (squash the mean, clip samples).
      longest_episode: Longest episode the adder accepts (longer ones fail clearly).
      variable_update_period: Actor steps between weight pulls (1: on-policy).
    """

    learning_rate: float = 1e-3
    optimizer: str = "adam"
    optimizer_eps: float = 1e-8
    rmsprop_alpha: float = 0.99
    discount: float = 0.99
    episodes_per_update: int = 0
    normalize_returns: bool = True
    baseline: bool = False
    value_coef: float = 0.5
    entropy_coef: float = 0.0
    max_grad_norm: float | None = None
    hidden_sizes: tuple[int, ...] = (64, 64)
    shared_torso: bool = False
    activation: str = "relu"
    log_std: str = "parameter"
    squash: str = "clip"
    longest_episode: int = 100_000
    variable_update_period: int = 1

    @property
    def batch_size(self) -> int:  # The shared range checks and runners read `batch_size`.
        return self.episodes_per_update

    def __post_init__(self) -> None:
        if self.episodes_per_update < 0:  # Before the shared checks, which know it as batch_size.
            raise ValueError(f"episodes_per_update must be >= 0 (0: one per lane), got {self.episodes_per_update}.")
        check_policy_gradient_config(self)
        if self.longest_episode < 1:
            raise ValueError(f"longest_episode must be >= 1, got {self.longest_episode}.")
