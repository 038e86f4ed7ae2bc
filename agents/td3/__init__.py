"""TD3 (Fujimoto et al. 2018), and DDPG (Lillicrap et al. 2016) as its `ddpg` preset."""

from agents.td3.builder import TD3Builder
from agents.td3.config import TD3Config
from agents.td3.learning import TD3Learner

__all__ = ["TD3Builder", "TD3Config", "TD3Learner"]
