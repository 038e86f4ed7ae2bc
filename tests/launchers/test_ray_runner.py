"""The `ray` runner on a local 2-CPU cluster: learning, on-policy queues, restarts, and a clean exit."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
import time

import pytest

pytest.importorskip("ray")

from launchers.experiment import experiment_from_declaration  # noqa: E402
from launchers.ray_runner import run_ray  # noqa: E402
from tests import support  # noqa: E402

OPTIMAL_RETURN = 10.0


def _experiment(tmp_path, **declaration):
    return experiment_from_declaration({"run_dir": str(tmp_path / "run"), "torch_threads": 1,
                                        "log_interval": 1e9, "seed": 0, "launch": "ray", **declaration})


def _processes_of(root: str) -> list[str]:
    """Ray processes of the clusters whose temp files live under `root`: the GCS server and raylet name it
    on their command line, and every worker names its raylet's pid in its environment."""
    found, raylets = {}, set()
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if root in command:
            found[pid] = command[:80]
            if "raylet" in command.split(" ")[0]:
                raylets.add(pid)
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environment = f.read().split(b"\0")
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                command = f.read().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if any(line == f"RAY_RAYLET_PID={r}".encode() for r in raylets for line in environment):
            found[pid] = command[:80]
    return [f"{pid} {command}" for pid, command in found.items()]


@pytest.fixture(autouse=True)
def no_leftovers(tmp_path, monkeypatch):
    """Each test's Ray cluster keeps its temp files under a fresh short folder (Unix socket paths must stay
    short), so its processes can be told apart from any other Ray on the machine. (`tmp_path` is made
    first, so pytest's own temp folders stay where they were.)"""
    root = tempfile.mkdtemp(prefix="apray-", dir="/tmp")
    monkeypatch.setattr(tempfile, "tempdir", root)
    try:
        yield
        deadline = time.monotonic() + 30  # Ray's processes exit shortly after shutdown.
        while _processes_of(root) and time.monotonic() < deadline:
            time.sleep(0.25)
        assert not _processes_of(root), "Ray processes outlived the run"
        assert not [n for n in os.listdir(root) if n.startswith("agentpipe-ray-")], "Ray temp files left behind"
    finally:
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.learning
def test_dqn_declaration_reaches_the_optimal_return_on_ray(tmp_path, learning_seed):
    # An untrained greedy network walks into walls (seed 1: -995), so reaching 10 needs learning.
    experiment = _experiment(tmp_path, seed=learning_seed, agent="dqn", env="gridworld:simple",
                             env_options={"observation_type": "grid"}, num_steps=12_000, eval_every=1_000,
                             eval_episodes=5, stop_at_return=OPTIMAL_RETURN, num_actors=2)
    summary = run_ray(experiment)
    assert summary["best_eval_return"] == OPTIMAL_RETURN
    assert summary["learner_steps"] > 0
    assert summary["launch"] == "ray"


@pytest.mark.parametrize("agent", ["ppo", "impala"])
def test_on_policy_queue_runs_on_ray_without_deadlock(tmp_path, agent):
    experiment = _experiment(tmp_path, agent=agent, env="gym:CartPole-v1", num_steps=3_000, eval_every=0,
                             eval_episodes=2, num_envs=2, num_actors=2, agent_config={"rollout_length": 32})
    summary = run_ray(experiment)
    assert summary["actor_steps"] >= 3_000
    assert summary["learner_steps"] > 0


@pytest.mark.parametrize("agent", ["sac", "td3"])
def test_continuous_off_policy_agents_run_on_ray(tmp_path, agent):
    experiment = _experiment(tmp_path, agent=agent, env="gym:Pendulum-v1", num_steps=600, eval_every=0,
                             eval_episodes=1, num_envs=2, num_actors=2,
                             agent_config={"hidden_sizes": (16,), "batch_size": 32, "learning_starts": 100})
    summary = run_ray(experiment)
    assert summary["actor_steps"] >= 600
    assert summary["learner_steps"] > 0


def test_r2d2_runs_on_ray_with_sequence_replay(tmp_path):
    experiment = _experiment(tmp_path, agent="r2d2", env="gym:CartPoleNoVel-v1", num_steps=800, eval_every=0,
                             eval_episodes=1, num_envs=2, num_actors=2,
                             agent_config=support.SMALL_R2D2)
    summary = run_ray(experiment)
    assert summary["actor_steps"] >= 800
    assert summary["learner_steps"] > 0


def test_a_killed_actor_is_restarted_and_the_run_spends_its_budget(tmp_path):
    import ray

    killed = threading.Event()

    def kill_first_actor(nodes):
        def kill():  # Mid-run: once the actors have filled part of the replay.
            while ray.get(nodes["replay"].size.remote()) < 1_000:
                time.sleep(0.2)
            ray.kill(nodes["actors"][0], no_restart=False)
            killed.set()
        threading.Thread(target=kill, daemon=True).start()

    experiment = _experiment(tmp_path, agent="dqn", env="gridworld:simple", num_steps=4_000, eval_every=0,
                             eval_episodes=2, num_actors=2)
    summary = run_ray(experiment, on_start=kill_first_actor)
    assert killed.is_set()
    assert summary["actor_restarts"] >= 1
    assert summary["actor_steps"] >= 4_000


def test_a_ray_run_checkpoints_and_resumes_under_another_runner(tmp_path):
    from components.checkpointing import Checkpointer
    from launchers.experiment import load_declaration
    from launchers.runners import run_experiment

    summary = run_ray(_experiment(tmp_path, agent="dqn", env="gridworld:simple", num_steps=1_000, eval_every=500,
                                  eval_episodes=2, num_actors=2, checkpoint_replay=True,
                                  agent_config={"min_replay_size": 200}))
    state, manifest = Checkpointer(str(tmp_path / "run" / "checkpoints")).latest()
    assert manifest["step"] == summary["actor_steps"] >= 1_000
    assert len(state["policies"]) == 2 and state["replay"]["size"] > 0
    assert state["learner"]["num_steps"] > 0
    declaration = {**load_declaration(str(tmp_path / "run")), "resume": True, "launch": "local", "num_actors": 1,
                   "num_steps": manifest["step"] + 500}
    resumed = run_experiment(experiment_from_declaration(declaration))
    assert resumed["actor_steps"] >= manifest["step"] + 500
    assert resumed["learner_steps"] > summary["learner_steps"]


def test_a_learner_node_that_dies_ends_the_run_and_keeps_its_checkpoint(tmp_path):
    import ray

    from components.checkpointing import Checkpointer
    from launchers.threads import NodeFailed

    checkpoints = Checkpointer(str(tmp_path / "run" / "checkpoints"))

    def kill_learner_after_a_checkpoint(nodes):
        def kill():
            while not any(m["step"] > 0 for m in checkpoints.manifests()):
                time.sleep(0.2)
            ray.kill(nodes["learner"], no_restart=True)
        threading.Thread(target=kill, daemon=True).start()

    experiment = _experiment(tmp_path, agent="dqn", env="gridworld:simple", num_steps=1_000_000, eval_every=0,
                             num_actors=1, checkpoint_every_minutes=0.02, agent_config={"min_replay_size": 200})
    with pytest.raises(NodeFailed, match="learner node failed"):
        run_ray(experiment, on_start=kill_learner_after_a_checkpoint)
    state, manifest = checkpoints.latest()
    assert manifest["step"] > 0 and state["learner"]["num_steps"] >= 0
