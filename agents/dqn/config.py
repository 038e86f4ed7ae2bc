"""DQN hyperparameters."""

from __future__ import annotations

import dataclasses

LOSSES = ("huber", "mse")
FRAME_REPLAY_MODES = ("auto", "on", "off")
PRECISIONS = ("float32", "bfloat16")  # As components.learners.PRECISIONS (configs import no torch).


@dataclasses.dataclass(frozen=True)
class DQNConfig:
    """Every DQN knob, with defaults that learn CartPole and the gridworld.

    Attributes:
      learning_rate: Adam step size.
      adam_eps: Adam epsilon.
      discount: Agent discount gamma, multiplied with the environment's discounts.
      n_step: Steps summed before bootstrapping (1 = one-step Q-learning).
      batch_size: Transitions per learner step.
      replay_capacity: Transitions the replay holds before overwriting the oldest.
      min_replay_size: Transitions inserted before learning starts.
      samples_per_insert: Sampled transitions per inserted one (batch_size x
        learner steps per env step); 64 with batch 64 is one update per env step.
      target_update_period: Learner steps between target-network updates.
      target_update_tau: Fraction moved towards the online weights at each update
        (1.0 = hard copy; e.g. period 1 and tau 0.005 = Polyak averaging).
      epsilon_start: Exploration epsilon at the first actor step.
      epsilon_end: Exploration epsilon after `epsilon_decay_steps` actor steps.
      epsilon_decay_steps: Actor (lane) steps of the linear epsilon decay.
      eval_epsilon: Epsilon of the evaluation policy (0 = greedy).
      loss: 'huber' (smooth L1, as in Nature DQN) or 'mse'.
      double_q: Pick next actions with the online network, value them with the target.
      dueling: Separate value and advantage streams in the head.
      max_grad_norm: Clip the global gradient norm to this (None: no clipping).
      hidden_sizes: Widths of the MLP layers after the torso.
      variable_update_period: Actor steps between weight pulls from the learner.
      prioritized: Prioritized replay (proportional): sample by TD error, correct
        with importance weights.
      priority_exponent: alpha, how strongly priorities skew sampling (0 = uniform).
      importance_sampling_exponent: beta at the first learner step; annealed
        linearly to 1 over `importance_sampling_anneal_steps` learner steps.
      importance_sampling_anneal_steps: Learner steps over which beta reaches 1.
      num_atoms: Atoms of the C51 return distribution (1 = scalar Q values).
      v_min: Lowest return the C51 support represents.
      v_max: Highest return the C51 support represents.
      frame_replay: Store stacked-frame observations once per frame (rebuilt at
        sampling): 'auto' (for uint8 observations of rank >= 3), 'on' or 'off'.
      precision: Learner network arithmetic: 'float32', or 'bfloat16' autocast
        (parameters, optimizer state and losses stay float32). Meant for CUDA
        and CPUs with bf16 units; on this project's 2-core AMX VM a Nature-CNN
        learner step gained 1.1-1.3x, but a whole Breakout run was slower
        (benchmarks/RESULTS.md), so measure before switching.
    """

    learning_rate: float = 1e-3
    adam_eps: float = 1e-8
    discount: float = 0.99
    n_step: int = 1
    batch_size: int = 64
    replay_capacity: int = 100_000
    min_replay_size: int = 1_000
    samples_per_insert: float = 16.0
    target_update_period: int = 100
    target_update_tau: float = 1.0
    epsilon_start: float = 1.0
    epsilon_end: float = 0.05
    epsilon_decay_steps: int = 10_000
    eval_epsilon: float = 0.0
    loss: str = "huber"
    double_q: bool = True
    dueling: bool = False
    max_grad_norm: float | None = 10.0
    hidden_sizes: tuple[int, ...] = (256, 256)
    variable_update_period: int = 1
    prioritized: bool = False
    priority_exponent: float = 0.6
    importance_sampling_exponent: float = 0.4
    importance_sampling_anneal_steps: int = 250_000
    num_atoms: int = 1
    v_min: float = -10.0
    v_max: float = 10.0
    frame_replay: str = "auto"
    precision: str = "float32"

    def __post_init__(self) -> None:
        check_value_based_config(self)
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}.")
        if self.target_update_period < 1:
            raise ValueError(f"target_update_period must be >= 1, got {self.target_update_period}.")
        if not 0.0 < self.target_update_tau <= 1.0:
            raise ValueError(f"target_update_tau must be in (0, 1], got {self.target_update_tau}.")
        for name in ("priority_exponent", "importance_sampling_exponent"):
            if not 0.0 <= getattr(self, name) <= 1.0:
                raise ValueError(f"{name} must be in [0, 1], got {getattr(self, name)!r}.")
        if self.importance_sampling_anneal_steps < 0:
            raise ValueError(f"importance_sampling_anneal_steps must be >= 0, got "
                             f"{self.importance_sampling_anneal_steps}.")
        if self.num_atoms < 1 or self.num_atoms == 2:
            raise ValueError(f"num_atoms must be 1 (scalar Q) or >= 3 (C51), got {self.num_atoms}.")
        if self.num_atoms > 1 and not self.v_min < self.v_max:
            raise ValueError(f"C51 needs v_min < v_max, got v_min={self.v_min}, v_max={self.v_max}.")
        if self.precision not in PRECISIONS:
            raise ValueError(f"precision must be one of {PRECISIONS}, got {self.precision!r}.")
        if self.frame_replay not in FRAME_REPLAY_MODES:
            raise ValueError(f"frame_replay must be one of {FRAME_REPLAY_MODES}, got {self.frame_replay!r}.")


def check_value_based_config(config) -> None:
    """Range checks shared by the value-based agents' configs (DQN, NFQ)."""
    positive = ("learning_rate", "batch_size", "replay_capacity", "min_replay_size",
                "samples_per_insert", "n_step", "variable_update_period")
    for name in positive:
        if getattr(config, name) <= 0:
            raise ValueError(f"{name} must be > 0, got {getattr(config, name)!r}.")
    for name in ("discount", "epsilon_start", "epsilon_end", "eval_epsilon"):
        value = getattr(config, name)
        if not 0.0 <= value <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {value!r}.")
    if config.epsilon_decay_steps < 0:
        raise ValueError(f"epsilon_decay_steps must be >= 0, got {config.epsilon_decay_steps}.")
    if config.batch_size > config.replay_capacity:
        raise ValueError(f"batch_size ({config.batch_size}) exceeds replay_capacity ({config.replay_capacity}): "
                         "a batch must fit in the replay.")
    if config.min_replay_size > config.replay_capacity:
        raise ValueError(f"min_replay_size ({config.min_replay_size}) exceeds replay_capacity "
                         f"({config.replay_capacity}): learning would never start.")
    if config.max_grad_norm is not None and config.max_grad_norm <= 0:
        raise ValueError(f"max_grad_norm must be > 0 or None, got {config.max_grad_norm}.")
    if any(h <= 0 for h in config.hidden_sizes):
        raise ValueError(f"hidden_sizes must be positive widths, got {config.hidden_sizes}.")
