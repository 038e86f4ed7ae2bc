"""NFQ's network: a plain Q network (one value per action) over the default torso."""

from __future__ import annotations

from typing import Mapping, Sequence

from agents.dqn.networks import QNetwork, make_q_network
from components.specs import EnvironmentSpec


def make_nfq_network(spec: EnvironmentSpec, hidden_sizes: Sequence[int],
                     encoders: Mapping[str, str] | None = None) -> QNetwork:
    """The Q network NFQ fits: no dueling head, no target copy."""
    return make_q_network(spec, hidden_sizes, dueling=False, encoders=encoders)
