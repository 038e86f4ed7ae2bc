"""A resumed run's schedules continue where they stopped: they equal an uninterrupted run's at the same step.

Each schedule counts a checkpointed counter: beta, learning rates and PPO's
clip range the learner's steps; epsilon the behaviour policy's acted steps.
Without `checkpoint_replay` the replay refills after a resume, so learner
steps lag actor steps there: learner schedules are compared at the same
learner step, epsilon at the same actor step.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from launchers.experiment import experiment_from_declaration
from launchers.local import run_local

COMMON = {"env": "gridworld:simple", "env_options": {"observation_type": "agent_goal_pos"}, "eval_episodes": 1,
          "torch_threads": 1, "log_interval": 1e9, "progress": False, "tensorboard": False, "device": "cpu",
          "seed": 3}


def _rows(path: Path, key: str) -> dict[int, dict[str, float]]:
    with open(path, newline="") as f:
        return {int(float(r[key])): {k: float(v) for k, v in r.items() if v not in ("", None)}
                for r in csv.DictReader(f)}


def _run_both(tmp_path: Path, num_steps: int, **declaration) -> tuple[Path, Path]:
    """The same run twice: uninterrupted for 2 * num_steps, and stopped at num_steps then resumed."""
    whole, halves = tmp_path / "whole", tmp_path / "halves"
    run_local(experiment_from_declaration({**COMMON, **declaration, "num_steps": 2 * num_steps,
                                           "run_dir": str(whole)}))
    run_local(experiment_from_declaration({**COMMON, **declaration, "num_steps": num_steps, "run_dir": str(halves)}))
    run_local(experiment_from_declaration({**COMMON, **declaration, "num_steps": 2 * num_steps,
                                           "run_dir": str(halves), "resume": True}))
    return whole, halves


def _assert_same_schedule(whole: dict, resumed: dict, names: tuple[str, ...], after: int) -> None:
    shared = sorted(step for step in set(whole) & set(resumed) if step > after)
    assert len(shared) >= 2, (sorted(whole), sorted(resumed))
    for step in shared:
        for name in names:
            assert resumed[step][name] == pytest.approx(whole[step][name], rel=1e-6), (name, step)


def test_prioritized_dqn_resumes_beta_and_epsilon(tmp_path):
    whole, halves = _run_both(
        tmp_path, 1_000, agent="dqn", eval_every=250,
        agent_config={"prioritized": True, "importance_sampling_anneal_steps": 2_000, "min_replay_size": 100,
                      "samples_per_insert": 16.0, "batch_size": 16, "epsilon_decay_steps": 2_000,
                      "hidden_sizes": (16,)})
    resumed_learner = _rows(halves / "learner.csv", "learner_steps")
    checkpointed = max(step for step, row in resumed_learner.items() if row["actor_steps"] <= 1_000)
    _assert_same_schedule(_rows(whole / "learner.csv", "learner_steps"), resumed_learner, ("beta",), checkpointed)
    _assert_same_schedule(_rows(whole / "eval.csv", "actor_steps"), _rows(halves / "eval.csv", "actor_steps"),
                          ("epsilon",), 1_000)


def test_ppo_resumes_its_learning_rate_and_clip_range(tmp_path):
    whole, halves = _run_both(
        tmp_path, 1_600, agent="ppo", eval_every=800, num_envs=2,
        agent_config={"rollout_length": 4, "num_epochs": 1, "num_minibatches": 1, "learning_rate_decay_steps": 500,
                      "hidden_sizes": (16,)})
    _assert_same_schedule(_rows(whole / "learner.csv", "learner_steps"),
                          _rows(halves / "learner.csv", "learner_steps"), ("learning_rate", "clip_range"), 200)


class _StubLearner:
    def save(self):
        return {"steps": 7}

    def restore(self, state):
        self.restored = state


def test_the_max_priority_survives_a_resume_without_the_replay():
    import numpy as np

    from components.counting import Counter
    from components.prioritized_replay import PrioritizedReplay
    from environments.registry import make_environment
    from components.specs import make_environment_spec
    from components.types import transition_spec
    from launchers.run_state import components_state, restore_components

    spec = transition_spec(make_environment_spec(make_environment("gridworld:simple")))
    replay = PrioritizedReplay(spec, 16, alpha=1.0, epsilon=0.0)
    replay.insert(_zeros(spec, 4))
    replay.update_priorities(np.arange(4), [0.5, 9.0, 2.0, 1.0])
    state = components_state(_StubLearner(), Counter(), [], replay, with_replay=False)
    assert "replay" not in state
    fresh = PrioritizedReplay(spec, 16, alpha=1.0, epsilon=0.0)
    restore_components(state, _StubLearner(), Counter(), [], fresh)
    assert fresh.size() == 0 and fresh.max_priority == 9.0


def _zeros(spec, count):
    import numpy as np
    import tree

    return tree.map_structure(lambda s: np.zeros((count, *s.shape), s.dtype), spec)
