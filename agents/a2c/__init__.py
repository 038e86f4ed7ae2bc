"""A2C: synchronous advantage actor-critic over batched lanes, discrete or Gaussian policies."""

from agents.a2c.builder import A2CBuilder
from agents.a2c.config import A2CConfig
from agents.a2c.learning import A2CLearner

__all__ = ["A2CBuilder", "A2CConfig", "A2CLearner"]
