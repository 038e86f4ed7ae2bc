"""IMPALA hyperparameters."""

from __future__ import annotations

import dataclasses

from agents.configs import RolloutConfig


@dataclasses.dataclass(frozen=True)
class IMPALAConfig(RolloutConfig):
    """IMPALA (Espeholt et al. 2018): T-step trajectories from actors that may act with older weights, one
    update per batch of them, with V-trace targets for the value and V-trace advantages for the policy.

    The fields every policy-gradient agent shares are documented in agents/configs.py.

    Attributes:
      learning_rate: Optimizer step size at the start (decayed linearly over
        `learning_rate_decay_steps` learner steps; 0: constant).
      rho_bar: Clip of the importance weights in the temporal differences and the policy gradient
        (rho-bar): the fixed point moves towards the actors' policy below 1.
      c_bar: Clip of the trace-cutting weights (c-bar): how far off-policy corrections reach back.
      gae_lambda: lambda of V-trace's traces (c_t = lambda min(c_bar, ratio)); 1 as in the paper.
      batch_size: Trajectories per update (0: one per lane of an actor).
    """

    learning_rate: float = 6e-4
    optimizer: str = "rmsprop"
    optimizer_eps: float = 0.01
    entropy_coef: float = 0.01
    value_coef: float = 0.5
    max_grad_norm: float | None = 40.0
    rollout_length: int = 20
    gae_lambda: float = 1.0
    normalize_advantages: bool = False
    rho_bar: float = 1.0
    c_bar: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("rho_bar", "c_bar"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}.")
