"""IMPALA hyperparameters."""

from __future__ import annotations

import dataclasses

from agents.a2c.config import A2CConfig


@dataclasses.dataclass(frozen=True)
class IMPALAConfig(A2CConfig):
    """IMPALA (Espeholt et al. 2018): A2C's T-step trajectories and losses, with V-trace targets for the
    value and V-trace advantages for the policy, so that actors may act with older weights.

    The fields every policy-gradient agent shares are documented in agents/configs.py, A2C's in
    agents/a2c/config.py.

    Attributes:
      learning_rate: RMSProp step size at the start (the paper's Atari value).
      value_coef: Weight of the value loss mean((vs - V)^2): 0.25 is the paper's baseline cost of 0.5 on
        0.5 (vs - V)^2.
      gae_lambda: lambda of V-trace's traces (c_t = lambda min(c_bar, ratio)); 1 as in the paper.
      rho_bar: Clip of the importance weights in the temporal differences and the policy gradient
        (rho-bar): below 1 the fixed point moves towards the actors' policy.
      c_bar: Clip of the trace-cutting weights (c-bar): how far back off-policy corrections reach.
    """

    learning_rate: float = 6e-4
    optimizer_eps: float = 0.01
    value_coef: float = 0.25
    max_grad_norm: float | None = 40.0
    rollout_length: int = 20
    rho_bar: float = 1.0
    c_bar: float = 1.0

    def __post_init__(self) -> None:
        super().__post_init__()
        for name in ("rho_bar", "c_bar"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)!r}.")
