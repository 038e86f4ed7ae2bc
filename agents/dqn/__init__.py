"""DQN (Mnih et al. 2015) with Double-Q, Dueling heads and n-step returns as switches."""

from agents.dqn.builder import DQNBuilder
from agents.dqn.config import DQNConfig
from agents.dqn.learning import DQNLearner

__all__ = ["DQNBuilder", "DQNConfig", "DQNLearner"]
