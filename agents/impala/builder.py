"""IMPALA builder: the on-policy actor-critic wiring (agents/on_policy.py) with the V-trace learner.

The wiring is A2C's: actors write T-step trajectories with their log-probabilities into a queue, and the
learner takes batches of them. What makes it IMPALA is the learner: under `threads` and `ray` the actors
act with the weights they last pulled, and V-trace corrects for the lag.
"""

from __future__ import annotations

from agents.impala.config import IMPALAConfig
from agents.impala.learning import IMPALALearner
from agents.on_policy import OnPolicyBuilder


class IMPALABuilder(OnPolicyBuilder):
    config_class = IMPALAConfig
    learner_class = IMPALALearner

    def __init__(self, config: IMPALAConfig) -> None:
        super().__init__(config)
