"""What a checkpoint holds, written once for every runner.

A run's state is a dict of plain parts: `learner` (networks, optimizer, the
step its schedules count), `counter` (every count), `policies` (each behaviour
policy's exploration state, or None), `replay_schedule` (what the replay keeps
when its items are not saved, e.g. its max priority) and, with
`checkpoint_replay`, `replay` and `rate_limiter`. The run driver adds `rng`
(the driver process's global generators) and `train_seconds`. In-process
runners gather the parts with `components_state`; the Ray runner gathers the
same parts from its nodes, so any runner resumes any other's checkpoint.
"""

from __future__ import annotations

import random
from typing import Any, Mapping, Sequence

import numpy as np
import torch

from components.core import Learner, Replay, Saveable, save_replay
from components.counting import Counter


def replay_state(replay: Replay, with_items: bool, copy: bool = True) -> dict[str, Any]:
    """The replay's parts of a checkpoint: its schedule state always, its items and rate limiter if asked
    (`copy=False`: the replay's live arrays, for a runner where nothing inserts until the checkpoint is
    written; the checkpointer streams large arrays to their own files)."""
    state: dict[str, Any] = {"replay_schedule": dict(replay.schedule_state())}
    if with_items:
        state["replay"] = save_replay(replay, copy)
        state["rate_limiter"] = replay.rate_limiter.save()
    return state


def restore_replay(replay: Replay, state: Mapping[str, Any]) -> None:
    """Restores `replay_state`'s parts (the items only if they were saved)."""
    if "replay" in state:
        replay.restore(state["replay"])
        replay.rate_limiter.restore(state["rate_limiter"])
    replay.restore_schedule_state(state.get("replay_schedule", {}))


def policy_states(policies: Sequence[Any]) -> list[Any]:
    return [policy.save() if isinstance(policy, Saveable) else None for policy in policies]


def restore_policies(policies: Sequence[Any], states: Sequence[Any]) -> None:
    for policy, saved in zip(policies, states):
        if saved is not None and isinstance(policy, Saveable):
            policy.restore(saved)


def components_state(learner: Learner, counter: Counter, policies: Sequence[Any], replay: Replay,
                     with_replay: bool, copy_replay: bool = True) -> dict[str, Any]:
    """The parts of a checkpoint held by nodes in this process (`copy_replay`: see `replay_state`)."""
    return {"learner": learner.save(), "counter": counter.save(), "policies": policy_states(policies),
            **replay_state(replay, with_replay, copy_replay)}


def restore_components(state: Mapping[str, Any], learner: Learner, counter: Counter, policies: Sequence[Any],
                       replay: Replay) -> None:
    """Restores what `components_state` gathered."""
    learner.restore(state["learner"])
    counter.restore(state["counter"])
    restore_policies(policies, state.get("policies", []))
    restore_replay(replay, state)


def rng_state() -> dict[str, Any]:
    """This process's global random generators (torch, numpy, python)."""
    return {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}


def restore_rng(state: Mapping[str, Any]) -> None:
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
