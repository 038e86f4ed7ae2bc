"""DQN hyperparameters."""

from __future__ import annotations

import dataclasses

from agents.configs import ValueBasedConfig

LOSSES = ("huber", "mse")
FRAME_REPLAY_MODES = ("auto", "on", "off")


@dataclasses.dataclass(frozen=True)
class DQNConfig(ValueBasedConfig):
    """Every DQN knob, with defaults that learn CartPole and the gridworld.

    The fields every replay-based Q-learner shares are documented in agents/configs.py.

    Attributes:
      samples_per_insert: Sampled transitions per inserted one (batch_size x
        learner steps per env step); 64 with batch 64 is one update per env step.
      target_update_period: Learner steps between target-network updates.
      target_update_tau: Fraction moved towards the online weights at each update
        (1.0 = hard copy; e.g. period 1 and tau 0.005 = Polyak averaging).
      loss: 'huber' (smooth L1, as in Nature DQN) or 'mse'.
      double_q: Pick next actions with the online network, value them with the target.
      dueling: Separate value and advantage streams in the head.
      num_atoms: Atoms of the C51 return distribution (1 = scalar Q values).
      v_min: Lowest return the C51 support represents.
      v_max: Highest return the C51 support represents.
      frame_replay: Store stacked-frame observations once per frame (rebuilt at
        sampling), the whole observation or a dict's stacked entry: 'auto' (specs
        named 'frame_stack', as Atari's are), 'on' (any uint8 array of rank >= 3)
        or 'off'.
      precision: Learner network arithmetic: 'float32', or 'bfloat16' autocast
        (parameters, optimizer state and losses stay float32). Meant for CUDA
        and CPUs with bf16 units; on this project's 2-core AMX VM a Nature-CNN
        learner step gained 1.1-1.3x, but a whole Breakout run was slower
        (benchmarks/RESULTS.md), so measure before switching.
    """

    batch_size: int = 64
    min_replay_size: int = 1_000
    samples_per_insert: float = 16.0
    epsilon_end: float = 0.05
    epsilon_decay_steps: int = 10_000
    hidden_sizes: tuple[int, ...] = (256, 256)
    target_update_period: int = 100
    target_update_tau: float = 1.0
    loss: str = "huber"
    double_q: bool = True
    dueling: bool = False
    num_atoms: int = 1
    v_min: float = -10.0
    v_max: float = 10.0
    frame_replay: str = "auto"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.loss not in LOSSES:
            raise ValueError(f"loss must be one of {LOSSES}, got {self.loss!r}.")
        if self.target_update_period < 1:
            raise ValueError(f"target_update_period must be >= 1, got {self.target_update_period}.")
        if not 0.0 < self.target_update_tau <= 1.0:
            raise ValueError(f"target_update_tau must be in (0, 1], got {self.target_update_tau}.")
        if self.num_atoms < 1 or self.num_atoms == 2:
            raise ValueError(f"num_atoms must be 1 (scalar Q) or >= 3 (C51), got {self.num_atoms}.")
        if self.num_atoms > 1 and not self.v_min < self.v_max:
            raise ValueError(f"C51 needs v_min < v_max, got v_min={self.v_min}, v_max={self.v_max}.")
        if self.frame_replay not in FRAME_REPLAY_MODES:
            raise ValueError(f"frame_replay must be one of {FRAME_REPLAY_MODES}, got {self.frame_replay!r}.")
