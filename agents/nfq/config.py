"""NFQ hyperparameters."""

from __future__ import annotations

import dataclasses

from agents.configs import ValueBasedConfig


@dataclasses.dataclass(frozen=True)
class NFQConfig(ValueBasedConfig):
    """Neural Fitted Q: replay and a squared TD loss on one network (no target network).

    Every field is one that the replay-based Q-learners share, documented (with NFQ's defaults) in
    agents/configs.py.
    """
