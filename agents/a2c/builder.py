"""A2C builder: the on-policy wiring (agents/on_policy.py) with the A2C learner."""

from __future__ import annotations

from agents.a2c.config import A2CConfig
from agents.a2c.learning import A2CLearner
from agents.on_policy import OnPolicyBuilder


class A2CBuilder(OnPolicyBuilder):
    config_class = A2CConfig
    learner_class = A2CLearner

    def __init__(self, config: A2CConfig) -> None:
        super().__init__(config)
