"""R2D2 (Kapturowski et al. 2019): a recurrent DQN learning from stored sequences with burn-in."""

from agents.r2d2.builder import R2D2Builder
from agents.r2d2.config import R2D2Config
from agents.r2d2.learning import R2D2Learner

__all__ = ["R2D2Builder", "R2D2Config", "R2D2Learner"]
