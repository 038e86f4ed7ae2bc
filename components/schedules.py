"""Schedules: values (epsilon, learning rates) that change with a step count."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class LinearSchedule:
    """Moves linearly from `start` to `end` over `steps` steps, then stays at `end`."""

    start: float
    end: float
    steps: int

    def __post_init__(self) -> None:
        if self.steps < 0:
            raise ValueError(f"LinearSchedule steps must be >= 0, got {self.steps}.")

    def __call__(self, step: int) -> float:
        if self.steps == 0 or step >= self.steps:
            return self.end
        fraction = max(step, 0) / self.steps
        return self.start + fraction * (self.end - self.start)
