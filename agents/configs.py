"""The hyperparameters agents share, documented and range-checked once: AgentConfig (every agent), and
the families' PolicyGradientConfig, RolloutConfig (A2C, PPO), ReplayConfig with its ValueBasedConfig
(NFQ, DQN) and ContinuousOffPolicyConfig (SAC, TD3).

An agent's config subclasses one of these, adds its own fields, and redeclares only the defaults (and the
docstring entries) that differ; the flags' help comes from the nearest class that documents a field.
Configs import no torch, so the option lists below are copies, checked against the components by a test.
"""

from __future__ import annotations

import dataclasses

from components.observation_keys import parse_encoder_overrides

LOG_STD_KINDS = ("parameter", "state", "softplus")  # As components.actor_critic.
SQUASH_KINDS = ("clip", "tanh", "tanh_mean")  # As components.actor_critic.
LOG_STD_RANGE = (-5.0, 2.0)  # As components.actor_critic.LOG_STD_MIN/MAX.
ACTIVATIONS = ("relu", "tanh")  # As components.networks.ACTIVATIONS.
OPTIMIZERS = ("adam", "rmsprop", "rmsprop_tf")  # As components.learners.OPTIMIZERS.
PRECISIONS = ("float32", "bfloat16")  # As components.learners.PRECISIONS.
CORE_KINDS = ("none", "lstm", "gru")  # As components.recurrent.CORE_KINDS.


def _require(ok: bool, message: str) -> None:
    if not ok:
        raise ValueError(message)


def _check_unit_interval(config, names: tuple[str, ...]) -> None:
    for name in names:
        value = getattr(config, name)
        _require(0.0 <= value <= 1.0, f"{name} must be in [0, 1], got {value!r}.")


def check_core_fields(config, kinds: tuple[str, ...] = CORE_KINDS) -> None:
    """The recurrent-core fields an agent's config shares: `core` in `kinds`, `core_size` >= 1, and
    positive `after_core_sizes` only with a core."""
    _require(config.core in kinds, f"core must be one of {kinds}, got {config.core!r}.")
    _require(config.core_size >= 1, f"core_size must be >= 1, got {config.core_size}.")
    _require(all(h > 0 for h in config.after_core_sizes),
             f"after_core_sizes must be positive widths, got {config.after_core_sizes}.")
    _require(not config.after_core_sizes or config.core != "none",
             f"after_core_sizes={config.after_core_sizes} needs a recurrent core (core='lstm' or 'gru'); "
             "without one, hidden_sizes sets the whole MLP.")


@dataclasses.dataclass(frozen=True)
class AgentConfig:
    """What every agent takes, and what the runners read from any agent's config (`variable_update_period`).

    Attributes:
      learning_rate: Optimizer step size.
      discount: Agent discount gamma, multiplied with the environment's discounts.
      max_grad_norm: Clip the global gradient norm to this (None: no clipping).
      hidden_sizes: Widths of the MLP layers after the torso.
      variable_update_period: Actor steps between weight pulls from the learner (1: every step).
      observation_encoders: For dict/tuple observations, 'key:kind' entries that override the torso's
        choice for a key (kinds: auto, conv, mlp, onehot, skip; e.g. 'image:conv,action_mask:mlp').
    """

    learning_rate: float = 1e-3
    discount: float = 0.99
    max_grad_norm: float | None = None
    hidden_sizes: tuple[int, ...] = (64, 64)
    variable_update_period: int = 1
    observation_encoders: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _require(self.learning_rate > 0, f"learning_rate must be > 0, got {self.learning_rate!r}.")
        _check_unit_interval(self, ("discount",))
        _require(self.max_grad_norm is None or self.max_grad_norm > 0,
                 f"max_grad_norm must be > 0 or None, got {self.max_grad_norm}.")
        _require(all(h > 0 for h in self.hidden_sizes),
                 f"hidden_sizes must be positive widths, got {self.hidden_sizes}.")
        _require(self.variable_update_period >= 1,
                 f"variable_update_period must be >= 1, got {self.variable_update_period}.")
        parse_encoder_overrides(self.observation_encoders)  # Raises, naming the bad entry.

    @property
    def encoder_overrides(self) -> dict[str, str]:
        """`observation_encoders` as {key: kind}."""
        return parse_encoder_overrides(self.observation_encoders)


@dataclasses.dataclass(frozen=True)
class PolicyGradientConfig(AgentConfig):
    """What every policy-gradient agent (REINFORCE, A2C, PPO) takes.

    Attributes:
      optimizer: 'adam', 'rmsprop' (torch's) or 'rmsprop_tf' (TensorFlow's: eps inside the square root,
        the squared average starting at 1, as baselines' and RL-Zoo's A2C).
      optimizer_eps: The optimizer's epsilon.
      rmsprop_alpha: RMSProp's smoothing constant.
      value_coef: Weight of the value loss.
      entropy_coef: Weight of the entropy bonus.
      shared_torso: One torso for policy and value (True) or two separate ones.
      activation: The MLP layers' nonlinearity, 'relu' or 'tanh' (SB3's and CleanRL's
        choice for classic control).
      log_std: Gaussian policies: 'parameter' (state-independent), 'state', or
        'softplus' (state-dependent, softplus of a linear layer: std >= 1).
      squash: Gaussian policies: 'clip' samples to the action bounds, 'tanh'
        (squash samples), or 'tanh_mean' (squash the mean, clip samples).
      variable_update_period: Actor steps between weight pulls (1: on-policy).
    """

    learning_rate: float = 3e-4
    max_grad_norm: float | None = 0.5
    optimizer: str = "adam"
    optimizer_eps: float = 1e-5
    rmsprop_alpha: float = 0.99
    value_coef: float = 0.5
    entropy_coef: float = 0.0
    shared_torso: bool = False
    activation: str = "relu"
    log_std: str = "parameter"
    squash: str = "clip"

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.optimizer in OPTIMIZERS, f"optimizer must be one of {OPTIMIZERS}, got {self.optimizer!r}.")
        for name in ("value_coef", "entropy_coef"):
            _require(getattr(self, name) >= 0, f"{name} must be >= 0, got {getattr(self, name)!r}.")
        _require(self.activation in ACTIVATIONS,
                 f"activation must be one of {ACTIVATIONS}, got {self.activation!r}.")
        _require(self.log_std in LOG_STD_KINDS, f"log_std must be one of {LOG_STD_KINDS}, got {self.log_std!r}.")
        _require(self.squash in SQUASH_KINDS, f"squash must be one of {SQUASH_KINDS}, got {self.squash!r}.")


@dataclasses.dataclass(frozen=True)
class RolloutConfig(PolicyGradientConfig):
    """What the rollout-based actor-critics (A2C, PPO) add: T-step rollouts over lanes, GAE, schedules.

    Attributes:
      learning_rate_decay_steps: Learner steps over which the step size decays
        linearly to 0 (0: constant).
      gae_lambda: GAE lambda.
      rollout_length: Steps per lane per update (T).
      normalize_advantages: Standardise advantages within each update.
      normalize_observations: Standardise observations with running mean and variance
        (kept in the network, so actors and checkpoints carry them).
      batch_size: Trajectories per update (0: one per lane, every rollout).
      core: A recurrent core between torso and heads: 'lstm', 'gru' or 'none' (feed-forward). With a core
        the actor carries each lane's state (reset on FIRST) and the learner replays whole rollouts;
        `shared_torso=False` gives the critic its own torso and core, as without one.
      core_size: Units of the core.
      after_core_sizes: Widths of MLP layers between the core and each head (as sb3-contrib's RecurrentPPO
        puts its `net_arch` after the LSTM); empty: the heads read the core.
    """

    learning_rate_decay_steps: int = 0
    gae_lambda: float = 0.95
    rollout_length: int = 128
    normalize_advantages: bool = True
    normalize_observations: bool = False
    batch_size: int = 0
    core: str = "none"
    core_size: int = 64
    after_core_sizes: tuple[int, ...] = ()

    def __post_init__(self) -> None:
        super().__post_init__()
        check_core_fields(self)
        _require(self.learning_rate_decay_steps >= 0,
                 f"learning_rate_decay_steps must be >= 0, got {self.learning_rate_decay_steps}.")
        _check_unit_interval(self, ("gae_lambda",))
        _require(self.rollout_length >= 1, f"rollout_length must be >= 1, got {self.rollout_length}.")
        _require(self.batch_size >= 0, f"batch_size must be >= 0 (0: one item per lane), got {self.batch_size}.")


@dataclasses.dataclass(frozen=True)
class ReplayConfig(AgentConfig):
    """What every agent learning from a replay of n-step transitions takes.

    Attributes:
      n_step: Steps summed before bootstrapping (1 = one-step TD targets).
      batch_size: Transitions per learner step.
      replay_capacity: Transitions the replay holds before overwriting the oldest.
      precision: The learner's network arithmetic: 'float32', or 'bfloat16' autocast (matmuls in bf16;
        parameters, optimizer state, value outputs and losses stay float32). For CUDA and CPUs with
        bf16 units; measure before switching (benchmarks/RESULTS.md).
      prioritized: Prioritized replay (proportional): sample by TD error, correct
        with importance weights.
      priority_exponent: alpha, how strongly priorities skew sampling (0 = uniform).
      importance_sampling_exponent: beta at the first learner step; annealed
        linearly to 1 over `importance_sampling_anneal_steps` learner steps.
      importance_sampling_anneal_steps: Learner steps over which beta reaches 1.
    """

    n_step: int = 1
    batch_size: int = 32
    replay_capacity: int = 100_000
    precision: str = "float32"
    prioritized: bool = False
    priority_exponent: float = 0.6
    importance_sampling_exponent: float = 0.4
    importance_sampling_anneal_steps: int = 250_000

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("n_step", "batch_size", "replay_capacity"):
            _require(getattr(self, name) >= 1, f"{name} must be >= 1, got {getattr(self, name)!r}.")
        _require(self.precision in PRECISIONS, f"precision must be one of {PRECISIONS}, got {self.precision!r}.")
        _check_unit_interval(self, ("priority_exponent", "importance_sampling_exponent"))
        _require(self.importance_sampling_anneal_steps >= 0,
                 f"importance_sampling_anneal_steps must be >= 0, got {self.importance_sampling_anneal_steps}.")


@dataclasses.dataclass(frozen=True)
class ValueBasedConfig(ReplayConfig):
    """What every replay-based Q-learning agent (NFQ, DQN) takes.

    Attributes:
      learning_rate: Adam step size.
      adam_eps: Adam epsilon.
      n_step: Steps summed before bootstrapping (1 = one-step Q-learning).
      min_replay_size: Transitions inserted before learning starts.
      samples_per_insert: Sampled transitions per inserted one (batch_size x
        learner steps per env step).
      epsilon_start: Exploration epsilon at the first actor step.
      epsilon_end: Exploration epsilon after `epsilon_decay_steps` actor steps.
      epsilon_decay_steps: Actor (lane) steps of the linear epsilon decay.
      eval_epsilon: Epsilon of the evaluation policy (0 = greedy).
    """

    max_grad_norm: float | None = 10.0
    adam_eps: float = 1e-8
    min_replay_size: int = 200
    samples_per_insert: float = 32.0
    epsilon_start: float = 1.0
    epsilon_end: float = 0.1
    epsilon_decay_steps: int = 5_000
    eval_epsilon: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("min_replay_size", "samples_per_insert"):
            _require(getattr(self, name) > 0, f"{name} must be > 0, got {getattr(self, name)!r}.")
        _check_unit_interval(self, ("epsilon_start", "epsilon_end", "eval_epsilon"))
        _require(self.epsilon_decay_steps >= 0, f"epsilon_decay_steps must be >= 0, got {self.epsilon_decay_steps}.")
        _require(self.batch_size <= self.replay_capacity,
                 f"batch_size ({self.batch_size}) exceeds replay_capacity ({self.replay_capacity}): "
                 "a batch must fit in the replay.")
        _require(self.min_replay_size <= self.replay_capacity,
                 f"min_replay_size ({self.min_replay_size}) exceeds replay_capacity "
                 f"({self.replay_capacity}): learning would never start.")


@dataclasses.dataclass(frozen=True)
class ContinuousOffPolicyConfig(ReplayConfig):
    """What the off-policy continuous-control agents (SAC, TD3, DDPG) take: replay, update ratio, targets.

    Attributes:
      learning_rate: The policy's Adam step size.
      critic_learning_rate: The critics' Adam step size (None: learning_rate).
      hidden_sizes: Widths of the policy's and each critic's hidden layers.
      learning_starts: Lane steps of uniform random actions before the policy acts; learning starts
        once that many transitions are in the replay.
      updates_per_step: Gradient steps per environment (lane) step once learning has started (the
        update-to-data ratio; --learn_every=k takes them in bursts every k actor steps).
      tau: Polyak step of the target networks towards the online ones after each update.
    """

    learning_rate: float = 3e-4
    hidden_sizes: tuple[int, ...] = (256, 256)
    critic_learning_rate: float | None = None
    batch_size: int = 256
    replay_capacity: int = 1_000_000
    learning_starts: int = 100
    updates_per_step: float = 1.0
    tau: float = 0.005

    def __post_init__(self) -> None:
        super().__post_init__()
        _require(self.critic_learning_rate is None or self.critic_learning_rate > 0,
                 f"critic_learning_rate must be > 0 or None, got {self.critic_learning_rate!r}.")
        _require(self.learning_starts >= 0, f"learning_starts must be >= 0, got {self.learning_starts}.")
        _require(self.learning_starts <= self.replay_capacity,
                 f"learning_starts ({self.learning_starts}) exceeds replay_capacity ({self.replay_capacity}): "
                 "learning would never start.")
        _require(self.updates_per_step > 0, f"updates_per_step must be > 0, got {self.updates_per_step!r}.")
        _require(0.0 < self.tau <= 1.0, f"tau must be in (0, 1], got {self.tau!r}.")
