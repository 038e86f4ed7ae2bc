"""Optimizers torch does not ship: RMSprop as TensorFlow (and so baselines' and RL-Zoo's A2C) defines it."""

from __future__ import annotations

from typing import Any, Callable

import torch


class TFStyleRMSprop(torch.optim.Optimizer):
    """RMSprop with TensorFlow's conventions, which published A2C hyperparameters were tuned for:

        ms <- alpha ms + (1 - alpha) g^2,   ms starting at 1 (torch's starts at 0)
        w  <- w - lr g / sqrt(ms + eps)      (eps inside the square root; torch adds it outside)

    With eps = 1e-5 the two differ most early on: torch's first steps are about
    lr / sqrt(1 - alpha) = 10 lr long, TensorFlow's about lr g. No momentum, no
    centring (A2C uses neither).
    """

    def __init__(self, params: Any, lr: float = 7e-4, alpha: float = 0.99, eps: float = 1e-5) -> None:
        if not lr > 0:
            raise ValueError(f"TFStyleRMSprop: lr must be > 0, got {lr!r}.")
        if not 0.0 <= alpha < 1.0:
            raise ValueError(f"TFStyleRMSprop: alpha must be in [0, 1), got {alpha!r}.")
        if not eps >= 0:
            raise ValueError(f"TFStyleRMSprop: eps must be >= 0, got {eps!r}.")
        super().__init__(params, {"lr": lr, "alpha": alpha, "eps": eps})

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            alpha, eps, lr = group["alpha"], group["eps"], group["lr"]
            for parameter in group["params"]:
                if parameter.grad is None:
                    continue
                state = self.state[parameter]
                if not state:
                    state["square_avg"] = torch.ones_like(parameter, memory_format=torch.preserve_format)
                square_avg = state["square_avg"]
                grad = parameter.grad
                square_avg.mul_(alpha).addcmul_(grad, grad, value=1.0 - alpha)
                parameter.addcdiv_(grad, square_avg.add(eps).sqrt_(), value=-lr)
        return loss
