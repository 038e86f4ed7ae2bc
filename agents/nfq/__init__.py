"""Neural Fitted Q iteration (Riedmiller 2005), in its modern minibatch form."""

from agents.nfq.builder import NFQBuilder
from agents.nfq.config import NFQConfig
from agents.nfq.learning import NFQLearner

__all__ = ["NFQBuilder", "NFQConfig", "NFQLearner"]
