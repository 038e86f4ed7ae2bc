"""A2C and PPO with a recurrent core: whole runs (discrete and continuous actions, lanes), core states in checkpoints."""

import math
from pathlib import Path

import numpy as np
import pytest
import torch
import tree

from components.checkpointing import Checkpointer

from launchers.experiment import experiment_from_declaration, load_declaration
from launchers.runners import run_experiment
from tests import support


def _run(tmp_path: Path, name: str = "run", **declaration) -> dict:
    common = {"eval_every": 0, "eval_episodes": 2, "device": "cpu", "plots": False}
    return run_experiment(experiment_from_declaration({**common, "run_dir": str(tmp_path / name), **declaration}))


@pytest.mark.parametrize("agent", ["a2c", "ppo"])
@pytest.mark.parametrize("env, core", [("gym:CartPoleNoVel-v1", "lstm"), ("gym:PendulumNoVel-v1", "gru")])
def test_recurrent_agents_run_on_the_partially_observed_tasks(tmp_path, agent, env, core):
    summary = _run(tmp_path, agent=agent, env=env, num_steps=600, num_envs=3,
                   agent_config={"core": core, "core_size": 16, "hidden_sizes": (16,), "rollout_length": 20})
    assert summary["actor_steps"] >= 600 and summary["learner_steps"] >= 9
    assert math.isfinite(summary["final_eval_return"])


def test_a_checkpoint_keeps_the_core_states_and_a_resume_restores_them(tmp_path):
    # As tests/launchers/test_checkpoints.py checks the rest of a run's state: save, resume with the budget
    # spent (restore, take no step, save again), compare.
    run_dir = tmp_path / "run"
    _run(tmp_path, agent="ppo", env="gym:CartPoleNoVel-v1", num_envs=2, seed=3, num_steps=320,
         agent_config={"core": "lstm", "core_size": 8, "hidden_sizes": (16,), "rollout_length": 16})
    checkpointer = Checkpointer(str(run_dir / "checkpoints"))
    saved, _ = checkpointer.latest()
    states = [policy["core_state"] for policy in _policies(saved)]
    # Two lanes; an LSTM of 8 has h and c, and the critic (shared_torso=False) its own core: 2 x 2 x 8.
    assert states and all(state.shape == (2, 32) and bool(state.abs().sum() > 0) for state in states)
    run_experiment(experiment_from_declaration({**load_declaration(str(run_dir)), "resume": True}))
    again, _ = checkpointer.latest()
    for before, after in zip(_policies(saved), _policies(again), strict=True):
        torch.testing.assert_close(after["core_state"], before["core_state"], rtol=0, atol=0)
        np.testing.assert_array_equal(after["first"], before["first"])


def _policies(checkpoint) -> list[dict]:
    """The behaviour policies' saved states (one per actor), wherever the runner nests them."""
    found = []
    tree.traverse(lambda node: found.append(node) if isinstance(node, dict) and "core_state" in node else None,
                  checkpoint["policies"])
    return found




@pytest.mark.parametrize("launch, num_actors", [("local", 1), ("threads", 2)])
def test_r2d2_learns_from_sequences_in_one_process_and_under_threads(tmp_path, launch, num_actors):
    summary = _run(tmp_path, agent="r2d2", env="gym:CartPoleNoVel-v1", num_steps=1500, num_envs=2, launch=launch,
                   num_actors=num_actors, agent_config=support.SMALL_R2D2)
    assert summary["actor_steps"] >= 1500 and summary["learner_steps"] >= 50
    assert math.isfinite(summary["final_eval_return"])


def test_an_r2d2_checkpoint_keeps_the_actors_core_states(tmp_path):
    _run(tmp_path, agent="r2d2", env="gym:CartPoleNoVel-v1", num_envs=2, seed=1, num_steps=400,
         agent_config=support.SMALL_R2D2)
    saved, _ = Checkpointer(str(tmp_path / "run" / "checkpoints")).latest()
    states = [policy["core_state"] for policy in _policies(saved)]
    assert states and all(state.shape == (2, 32) and bool(state.abs().sum() > 0) for state in states)


@pytest.mark.parametrize("agent, agent_config", [
    ("ppo", {"core": "gru", "core_size": 16, "hidden_sizes": (16,), "rollout_length": 16}),
    ("r2d2", {**support.SMALL_R2D2, "core": "gru"}),
])
def test_a_core_follows_the_conv_torso_on_image_observations(tmp_path, agent, agent_config):
    summary = _run(tmp_path, agent=agent, env="gridworld:simple", env_options={"observation_type": "grid"},
                   num_steps=600, num_envs=2, agent_config=agent_config)
    assert summary["actor_steps"] >= 600 and summary["learner_steps"] > 0
    saved, _ = Checkpointer(str(tmp_path / "run" / "checkpoints")).latest()
    weights = saved["learner"]["modules"]["policy" if agent == "ppo" else "q"]
    assert any(w.dim() == 4 for w in weights.values())  # A conv torso read the (3, H, W) grids ...
    assert any("rnn.weight_hh_l0" in name for name in weights)  # ... and a core came after it.
