"""The built-in agents by name: their config dataclass and builder."""

from __future__ import annotations

from typing import Any, NamedTuple

from agents.a2c import A2CBuilder, A2CConfig
from agents.builders import ActorLearnerBuilder
from agents.dqn import DQNBuilder, DQNConfig
from agents.nfq import NFQBuilder, NFQConfig
from agents.ppo import PPOBuilder, PPOConfig
from agents.reinforce import REINFORCEBuilder, REINFORCEConfig


class AgentEntry(NamedTuple):
    config_class: type
    builder_class: type[ActorLearnerBuilder]


AGENTS: dict[str, AgentEntry] = {
    "dqn": AgentEntry(DQNConfig, DQNBuilder),
    "nfq": AgentEntry(NFQConfig, NFQBuilder),
    "reinforce": AgentEntry(REINFORCEConfig, REINFORCEBuilder),
    "a2c": AgentEntry(A2CConfig, A2CBuilder),
    "ppo": AgentEntry(PPOConfig, PPOBuilder),
}


def get_agent(name: str) -> AgentEntry:
    if name not in AGENTS:
        raise ValueError(f"Unknown agent {name!r}; built-in agents: {', '.join(sorted(AGENTS))}.")
    return AGENTS[name]


def make_builder(name: str, config: Any) -> ActorLearnerBuilder:
    return get_agent(name).builder_class(config)
