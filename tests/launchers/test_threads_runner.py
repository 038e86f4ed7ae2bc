"""The `threads` runner: the same declarations as `local`, learning, paced, and failing loudly."""

from __future__ import annotations

import dataclasses
import json
import os
import threading
import time

import dm_env
import numpy as np
import pytest

from environments.registry import make_environment
from launchers.experiment import experiment_from_declaration
from launchers.runners import run_experiment
from launchers.threads import NodeFailed

OPTIMAL_RETURN = 10.0  # gridworld:simple: five steps straight down to the goal.


def _experiment(tmp_path, **declaration):
    return experiment_from_declaration({"run_dir": str(tmp_path / "run"), "torch_threads": 1,
                                        "log_interval": 1e9, "seed": 0, **declaration})


def _node_threads() -> list[str]:
    return [t.name for t in threading.enumerate() if t.name.startswith(("actor_", "learner", "evaluator"))]


@pytest.mark.learning
@pytest.mark.parametrize("launch,num_actors", [("local", 1), ("threads", 2)])
def test_dqn_declaration_reaches_the_optimal_return(tmp_path, learning_seed, launch, num_actors):
    # An untrained greedy network walks into walls (seed 1: -995), so reaching 10 needs learning.
    experiment = _experiment(tmp_path, seed=learning_seed, agent="dqn", env="gridworld:simple",
                             env_options={"observation_type": "grid"}, num_steps=12_000, eval_every=1_000,
                             eval_episodes=5, stop_at_return=OPTIMAL_RETURN, launch=launch,
                             num_actors=num_actors)
    summary = run_experiment(experiment)
    assert summary["best_eval_return"] == OPTIMAL_RETURN
    assert summary["learner_steps"] > 0
    assert not _node_threads()
    if launch == "threads":
        files = os.listdir(tmp_path / "run")
        assert {"train_actor0.csv", "train_actor1.csv", "learner.csv", "eval.csv", "summary.json"} <= set(files)


def test_threads_spend_the_budget_with_a_paced_learner(tmp_path):
    experiment = _experiment(tmp_path, agent="dqn", env="gridworld:simple", num_steps=3_000, eval_every=1_000,
                             eval_episodes=2, launch="threads", num_actors=2, num_envs=2,
                             agent_config={"min_replay_size": 200, "samples_per_insert": 0.25, "batch_size": 8})
    summary = run_experiment(experiment)
    # Actors stop within one batched step per actor of the budget.
    assert 3_000 <= summary["actor_steps"] <= 3_000 + 2 * 2
    # The rate limiter holds the learner near samples_per_insert * (inserts - min_size) / batch_size.
    expected = 0.25 * (summary["actor_steps"] - 200) / 8
    assert 0.5 * expected <= summary["learner_steps"] <= 1.5 * expected + 8
    assert [e[0] for e in summary["evaluations"]][-1] >= 3_000
    assert not _node_threads()


@pytest.mark.parametrize("agent", ["ppo", "a2c", "impala"])
def test_on_policy_queue_runs_under_threads_without_deadlock(tmp_path, agent):
    experiment = _experiment(tmp_path, agent=agent, env="gym:CartPole-v1", num_steps=4_000, eval_every=2_000,
                             eval_episodes=2, num_envs=2, launch="threads", num_actors=2,
                             agent_config={"rollout_length": 32} if agent == "ppo" else {})
    start = time.perf_counter()
    summary = run_experiment(experiment)
    assert summary["actor_steps"] >= 4_000
    assert summary["learner_steps"] > 0
    assert time.perf_counter() - start < 120
    assert not _node_threads()


class _Exploding(dm_env.Environment):
    """A gridworld whose step raises after `fail_at` steps."""

    def __init__(self, seed: int, fail_at: int) -> None:
        self._env = make_environment("gridworld:simple", seed)
        self._steps, self._fail_at = 0, fail_at

    def reset(self):
        return self._env.reset()

    def step(self, action):
        self._steps += 1
        if self._steps >= self._fail_at:
            raise RuntimeError(f"lane broke at step {self._steps}")
        return self._env.step(action)

    def observation_spec(self):
        return self._env.observation_spec()

    def action_spec(self):
        return self._env.action_spec()


@pytest.mark.parametrize("agent", ["sac", "td3"])
def test_continuous_off_policy_agents_run_under_threads(tmp_path, agent):
    experiment = _experiment(tmp_path, agent=agent, env="gym:Pendulum-v1", num_steps=600, eval_every=300,
                             eval_episodes=1, num_envs=2, launch="threads", num_actors=2,
                             agent_config={"hidden_sizes": (16,), "batch_size": 32, "learning_starts": 100})
    summary = run_experiment(experiment)
    assert summary["actor_steps"] >= 600
    assert summary["learner_steps"] > 0
    assert not _node_threads()


def test_an_actor_that_raises_stops_the_run_with_its_traceback(tmp_path):
    experiment = _experiment(tmp_path, agent="dqn", env="gridworld:simple", num_steps=1_000_000,
                             eval_every=0, launch="threads", num_actors=2)
    experiment = dataclasses.replace(experiment, environment_factory=lambda seed: _Exploding(seed, 300))
    start = time.perf_counter()
    with pytest.raises(NodeFailed, match=r"actor_\d thread failed.*lane broke at step 300") as caught:
        run_experiment(experiment)
    assert time.perf_counter() - start < 30
    cause = caught.value.__cause__
    assert isinstance(cause, RuntimeError)
    frames = []
    tb = cause.__traceback__
    while tb is not None:
        frames.append(tb.tb_frame.f_code.co_name)
        tb = tb.tb_next
    assert "step" in frames  # The actor thread's own frames, down to the environment's step.
    assert not _node_threads()


def test_a_learner_that_raises_stops_the_run(tmp_path, monkeypatch):
    from agents.dqn.learning import DQNLearner

    def broken_step(self):
        raise FloatingPointError("loss is nan")

    monkeypatch.setattr(DQNLearner, "step", broken_step)
    experiment = _experiment(tmp_path, agent="dqn", env="gridworld:simple", num_steps=1_000_000,
                             eval_every=0, launch="threads", num_actors=1,
                             agent_config={"min_replay_size": 100})
    with pytest.raises(NodeFailed, match="learner thread failed.*loss is nan"):
        run_experiment(experiment)
    assert not _node_threads()


def test_frame_replay_gives_each_actor_its_own_lanes():
    from components.frame_replay import FrameStackReplay
    from components.specs import EnvironmentSpec
    from dm_env import specs

    observation = specs.Array((4, 2, 2), np.uint8)
    spec = EnvironmentSpec(observation, specs.DiscreteArray(2), specs.Array((), np.float32),
                           specs.BoundedArray((), np.float32, 0.0, 1.0))
    replay = FrameStackReplay.uniform(spec, capacity=64, num_lanes=4, n_step=1)
    first, second = replay.for_lanes(0, 2), replay.for_lanes(2, 2)
    stacks = np.arange(2 * 4 * 2 * 2, dtype=np.uint8).reshape(2, 4, 2, 2)
    handles_a = first.store.add(stacks)
    handles_b = second.store.add(stacks + 100)
    rebuilt, ok = replay.store.gather(np.concatenate([handles_a, handles_b]))
    assert ok.all()
    np.testing.assert_array_equal(rebuilt, np.concatenate([stacks, stacks + 100]))
    assert first.store.num_lanes == 2 and replay.store.num_lanes == 4
    with pytest.raises(ValueError, match="do not fit the 4 lanes"):
        replay.for_lanes(3, 2)


def test_local_rejects_several_actors(tmp_path):
    with pytest.raises(ValueError, match="num_actors=2 needs launch='threads' or 'ray'"):
        _experiment(tmp_path, agent="dqn", num_actors=2)
    with pytest.raises(ValueError, match="launch must be one of local, threads, ray"):
        _experiment(tmp_path, agent="dqn", launch="cluster")


def test_ctrl_c_stops_every_thread_and_exits_130(tmp_path):
    import signal
    import subprocess
    import sys

    run_dir = tmp_path / "run"
    process = subprocess.Popen(
        [sys.executable, "-m", "launchers.dqn", "--env=gridworld:simple", "--launch=threads", "--num_actors=2",
         "--num_steps=10000000", "--eval_every=0", f"--run_dir={run_dir}", "--log_interval=1000"],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        # A shell's background jobs inherit SIGINT ignored; give the child the default, as a terminal would.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    try:
        deadline = time.monotonic() + 120
        log = run_dir / "train_actor1.csv"  # Episodes in it: the threads are running.
        while not (log.exists() and len(log.read_text().splitlines()) > 2) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert log.exists(), "the actors never started"
        process.send_signal(signal.SIGINT)
        output, _ = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 130, output[-2000:]
    assert "interrupted" in output
    assert (run_dir / "config.json").exists()
    # The checkpoint written on the way out is readable, and the run continues from it.
    from components.checkpointing import Checkpointer

    state, manifest = Checkpointer(str(run_dir / "checkpoints")).latest()
    step = manifest["step"]
    assert step > 0 and state["counter"]["actor_steps"] == step
    resumed = subprocess.run([sys.executable, "-m", "launchers.dqn", f"--resume={run_dir}",
                              f"--num_steps={step + 300}"], capture_output=True, text=True, timeout=180)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    summary = json.loads(resumed.stdout.strip().splitlines()[-1])
    assert summary["actor_steps"] >= step + 300
    assert "resuming" in resumed.stdout
