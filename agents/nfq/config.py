"""NFQ hyperparameters."""

from __future__ import annotations

import dataclasses

from agents.dqn.config import check_value_based_config


@dataclasses.dataclass(frozen=True)
class NFQConfig:
    """Neural Fitted Q: replay and a squared TD loss on one network (no target network).

    Attributes:
      learning_rate: Adam step size.
      adam_eps: Adam epsilon.
      discount: Agent discount gamma, multiplied with the environment's discounts.
      n_step: Steps summed before bootstrapping.
      batch_size: Transitions per learner step.
      replay_capacity: Transitions the replay holds.
      min_replay_size: Transitions inserted before learning starts.
      samples_per_insert: Sampled transitions per inserted one.
      epsilon_start: Exploration epsilon at the first actor step.
      epsilon_end: Exploration epsilon after `epsilon_decay_steps` actor steps.
      epsilon_decay_steps: Actor steps of the linear epsilon decay.
      eval_epsilon: Epsilon of the evaluation policy (0 = greedy).
      max_grad_norm: Clip the global gradient norm to this (None: no clipping).
      hidden_sizes: Widths of the MLP layers.
      variable_update_period: Actor steps between weight pulls from the learner.
    """

    learning_rate: float = 1e-3
    adam_eps: float = 1e-8
    discount: float = 0.99
    n_step: int = 1
    batch_size: int = 32
    replay_capacity: int = 100_000
    min_replay_size: int = 200
    samples_per_insert: float = 32.0
    epsilon_start: float = 1.0
    epsilon_end: float = 0.1
    epsilon_decay_steps: int = 5_000
    eval_epsilon: float = 0.0
    max_grad_norm: float | None = 10.0
    hidden_sizes: tuple[int, ...] = (64, 64)
    variable_update_period: int = 1

    def __post_init__(self) -> None:
        check_value_based_config(self)
