"""SAC (Haarnoja et al. 2018): twin critics, a tanh-squashed Gaussian policy, a learned temperature."""

from agents.sac.builder import SACBuilder
from agents.sac.config import SACConfig
from agents.sac.learning import SACLearner

__all__ = ["SACBuilder", "SACConfig", "SACLearner"]
