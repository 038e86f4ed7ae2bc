"""IMPALA: an actor-critic whose learner corrects for the actors' stale policies with V-trace."""

from agents.impala.builder import IMPALABuilder
from agents.impala.config import IMPALAConfig
from agents.impala.learning import IMPALALearner

__all__ = ["IMPALABuilder", "IMPALAConfig", "IMPALALearner"]
