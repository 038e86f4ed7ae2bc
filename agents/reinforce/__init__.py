"""REINFORCE: Monte-Carlo policy gradient on whole episodes, with an optional learned baseline."""

from agents.reinforce.builder import REINFORCEBuilder
from agents.reinforce.config import REINFORCEConfig
from agents.reinforce.learning import REINFORCELearner

__all__ = ["REINFORCEBuilder", "REINFORCEConfig", "REINFORCELearner"]
