"""R2D2 hyperparameters."""

from __future__ import annotations

import dataclasses

from agents.configs import CORE_KINDS, ValueBasedConfig, check_core_fields


@dataclasses.dataclass(frozen=True)
class R2D2Config(ValueBasedConfig):
    """Recurrent replay distributed DQN (Kapturowski et al. 2019) on one machine's runners.

    The fields every replay-based Q-learner shares are documented in agents/configs.py; here the replay
    holds sequences, so `batch_size`, `replay_capacity` and `min_replay_size` count sequences and
    `samples_per_insert` is sequences sampled per sequence written. The defaults learn
    gym:CartPoleNoVel-v1 (benchmarks/RESULTS.md); the paper's Atari values are in its Table 2.

    Attributes:
      sequence_length: Steps per replayed sequence (L); the first `burn_in` only refresh the state.
      sequence_period: Steps between the starts of a lane's consecutive sequences (they overlap by
        L - period).
      burn_in: Steps unrolled without gradient from the stored state before the loss starts (sequences
        that begin at an episode's first step start from the exact zero state and train from step 0).
      core: 'lstm' or 'gru'.
      core_size: Units of the core.
      hidden_sizes: Widths of the MLP torso before the core (empty: the core reads the observation).
      after_core_sizes: Widths of MLP layers between the core and the Q head.
      dueling: Separate value and advantage streams in the head.
      value_rescaling: Targets through h(x) = sign(x)(sqrt(|x| + 1) - 1) + epsilon x and Q values
        through its inverse, so one step size fits returns of any scale.
      rescaling_epsilon: The epsilon of h.
      priority_eta: A sequence's priority is eta * max |TD| + (1 - eta) * mean |TD| over its trained steps.
      target_update_period: Learner steps between copies of the online network into the target.
    """

    sequence_length: int = 80
    sequence_period: int = 40
    burn_in: int = 20
    n_step: int = 5
    discount: float = 0.99
    core: str = "lstm"
    core_size: int = 64
    hidden_sizes: tuple[int, ...] = (64,)
    after_core_sizes: tuple[int, ...] = ()
    dueling: bool = False
    value_rescaling: bool = True
    rescaling_epsilon: float = 1e-3
    prioritized: bool = True
    priority_exponent: float = 0.9
    importance_sampling_exponent: float = 0.6
    priority_eta: float = 0.9
    learning_rate: float = 1e-3
    adam_eps: float = 1e-3
    batch_size: int = 32
    replay_capacity: int = 10_000
    min_replay_size: int = 50
    samples_per_insert: float = 64.0
    epsilon_end: float = 0.05
    epsilon_decay_steps: int = 20_000
    target_update_period: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        check_core_fields(self, kinds=CORE_KINDS[1:])  # R2D2 is recurrent: 'none' is not offered.
        for name in ("sequence_length", "sequence_period", "target_update_period"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}.")
        if self.burn_in < 0:
            raise ValueError(f"burn_in must be >= 0, got {self.burn_in}.")
        if self.sequence_length < self.burn_in + self.n_step:
            raise ValueError(f"sequence_length ({self.sequence_length}) must be at least burn_in + n_step "
                             f"({self.burn_in} + {self.n_step} = {self.burn_in + self.n_step}): every sequence "
                             "needs steps past its burn-in with an n-step target.")
        if self.sequence_period > self.sequence_length:
            raise ValueError(f"sequence_period ({self.sequence_period}) must be <= sequence_length "
                             f"({self.sequence_length}), or steps between sequences would never be replayed.")
        if not 0.0 <= self.priority_eta <= 1.0:
            raise ValueError(f"priority_eta must be in [0, 1], got {self.priority_eta}.")
        if self.rescaling_epsilon < 0:
            raise ValueError(f"rescaling_epsilon must be >= 0, got {self.rescaling_epsilon}.")
