"""A2C hyperparameters."""

from __future__ import annotations

import dataclasses

LOG_STD_KINDS = ("parameter", "state", "softplus")  # As components.actor_critic (configs import no torch).
ACTIVATIONS = ("relu", "tanh")  # As components.networks.ACTIVATIONS (configs import no torch).
SQUASH_KINDS = ("clip", "tanh", "tanh_mean")  # As components.actor_critic.
VALUE_LOSSES = ("mse", "huber")
LOG_STD_RANGE = (-5.0, 2.0)  # As components.actor_critic.LOG_STD_MIN/MAX (configs import no torch).
OPTIMIZERS = ("adam", "rmsprop", "rmsprop_tf")  # As components.learners.OPTIMIZERS (configs import no torch).


@dataclasses.dataclass(frozen=True)
class A2CConfig:
    """Synchronous advantage actor-critic: T-step rollouts over N lanes, one update per rollout.

    Attributes:
      learning_rate: Optimizer step size at the start.
      critic_learning_rate: The critic's own step size at the start (value head and
        critic torso; a shared torso stays with the actor), decayed with the
        actor's (None: learning_rate for everything).
      learning_rate_decay_steps: Learner steps over which the step size decays
        linearly to 0 (0: constant).
      optimizer: 'rmsprop' (torch's), 'rmsprop_tf' (TensorFlow's: eps inside the square root, the
        squared average starting at 1, as baselines' and RL-Zoo's A2C) or 'adam'.
      optimizer_eps: The optimizer's epsilon.
      rmsprop_alpha: RMSProp's smoothing constant.
      discount: Agent discount gamma, multiplied with the environment's discounts.
      rollout_length: Steps per lane per update (T).
      gae_lambda: GAE lambda; 1.0 gives plain T-step returns (classic A2C).
      reward_scale: Rewards are multiplied by this before advantages and returns
        (so values are learned in scaled units; evaluation returns are unscaled).
      value_coef: Weight of the value loss.
      value_loss: 'mse' ((G - V)^2) or 'huber' (0.5 (G - V)^2 within 1 of the
        return, |G - V| - 0.5 beyond).
      entropy_coef: Weight of the entropy bonus.
      max_grad_norm: Clip the global gradient norm to this (None: no clipping).
      normalize_advantages: Standardise advantages within each update.
      normalize_observations: Standardise observations with running mean and variance
        (kept in the network, so actors and checkpoints carry them).
      hidden_sizes: Widths of the MLP layers after the torso.
      activation: The MLP layers' nonlinearity, 'relu' or 'tanh' (SB3's and CleanRL's
        choice for classic control).
      shared_torso: One torso for policy and value (True) or two separate ones.
      log_std: Gaussian policies: 'parameter' (state-independent), 'state', or
        'softplus' (state-dependent, softplus of a linear layer: std >= 1).
      init_log_std: Gaussian policies: the log-std at the start, in [-5, 2]
        (> 0 for 'softplus'); None: 0, or log 2 for 'softplus' (std 2).
      squash: Gaussian policies: 'clip' samples to the action bounds, 'tanh'
        (squash samples), or 'tanh_mean' (squash the mean, clip samples).
      batch_size: Trajectories per update (0: one per lane, every rollout).
      variable_update_period: Actor steps between weight pulls (1: on-policy).
    """

    learning_rate: float = 7e-4
    critic_learning_rate: float | None = None
    learning_rate_decay_steps: int = 0
    optimizer: str = "rmsprop"
    optimizer_eps: float = 1e-5
    rmsprop_alpha: float = 0.99
    discount: float = 0.99
    rollout_length: int = 5
    gae_lambda: float = 1.0
    reward_scale: float = 1.0
    value_coef: float = 0.5
    value_loss: str = "mse"
    entropy_coef: float = 0.01
    max_grad_norm: float | None = 0.5
    normalize_advantages: bool = False
    normalize_observations: bool = False
    hidden_sizes: tuple[int, ...] = (64, 64)
    shared_torso: bool = False
    activation: str = "relu"
    log_std: str = "parameter"
    init_log_std: float | None = None
    squash: str = "clip"
    batch_size: int = 0
    variable_update_period: int = 1

    def __post_init__(self) -> None:
        check_policy_gradient_config(self)
        if self.rollout_length < 1:
            raise ValueError(f"rollout_length must be >= 1, got {self.rollout_length}.")
        if self.critic_learning_rate is not None and self.critic_learning_rate <= 0:
            raise ValueError(f"critic_learning_rate must be > 0 or None, got {self.critic_learning_rate!r}.")
        if not self.reward_scale > 0:
            raise ValueError(f"reward_scale must be > 0, got {self.reward_scale!r}.")
        if self.value_loss not in VALUE_LOSSES:
            raise ValueError(f"value_loss must be one of {VALUE_LOSSES}, got {self.value_loss!r}.")
        low, high = LOG_STD_RANGE
        if self.init_log_std is not None and not low <= self.init_log_std <= high:
            raise ValueError(f"init_log_std must be in [{low}, {high}], got {self.init_log_std!r}.")


def check_policy_gradient_config(config) -> None:
    """Range checks shared by the policy-gradient agents' configs."""
    if config.learning_rate <= 0:
        raise ValueError(f"learning_rate must be > 0, got {config.learning_rate!r}.")
    if getattr(config, "learning_rate_decay_steps", 0) < 0:
        raise ValueError(f"learning_rate_decay_steps must be >= 0, got {config.learning_rate_decay_steps}.")
    if config.optimizer not in OPTIMIZERS:
        raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {config.optimizer!r}.")
    for name in ("discount", "gae_lambda"):
        if hasattr(config, name) and not 0.0 <= getattr(config, name) <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {getattr(config, name)!r}.")
    for name in ("value_coef", "entropy_coef"):
        if hasattr(config, name) and getattr(config, name) < 0:
            raise ValueError(f"{name} must be >= 0, got {getattr(config, name)!r}.")
    if config.max_grad_norm is not None and config.max_grad_norm <= 0:
        raise ValueError(f"max_grad_norm must be > 0 or None, got {config.max_grad_norm}.")
    if any(h <= 0 for h in config.hidden_sizes):
        raise ValueError(f"hidden_sizes must be positive widths, got {config.hidden_sizes}.")
    if config.activation not in ACTIVATIONS:
        raise ValueError(f"activation must be one of {ACTIVATIONS}, got {config.activation!r}.")
    if config.log_std not in LOG_STD_KINDS:
        raise ValueError(f"log_std must be one of {LOG_STD_KINDS}, got {config.log_std!r}.")
    if config.squash not in SQUASH_KINDS:
        raise ValueError(f"squash must be one of {SQUASH_KINDS}, got {config.squash!r}.")
    if config.log_std == "softplus" and getattr(config, "init_log_std", None) is not None and not config.init_log_std > 0:
        raise ValueError("log_std='softplus' keeps the log-std above 0, so init_log_std must be > 0, "
                         f"got {config.init_log_std!r}.")
    if config.batch_size < 0:
        raise ValueError(f"batch_size must be >= 0 (0: one item per lane), got {config.batch_size}.")
    if config.variable_update_period < 1:
        raise ValueError(f"variable_update_period must be >= 1, got {config.variable_update_period}.")
