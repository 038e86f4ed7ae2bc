"""PPO's observation normaliser, kept importable from here.

`RunningNormalizer` and `NormalizedActorCritic` live in
components/actor_critic.py, shared with A2C; `OnPolicyBuilder.make_networks`
wraps the actor-critic in one when the config sets `normalize_observations`.
"""

from __future__ import annotations

from components.actor_critic import NormalizedActorCritic, RunningNormalizer

__all__ = ["NormalizedActorCritic", "RunningNormalizer"]
