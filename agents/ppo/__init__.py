"""PPO: clipped-objective policy optimisation over batched lanes, discrete or continuous."""

from agents.ppo.builder import PPOBuilder
from agents.ppo.config import PPOConfig
from agents.ppo.learning import PPOLearner

__all__ = ["PPOBuilder", "PPOConfig", "PPOLearner"]
