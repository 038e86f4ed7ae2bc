"""The local runner: learning interleaved or in bursts, early stopping, and the summary it writes."""

from __future__ import annotations

import json

import pytest

from components.rate_limiters import RateLimiter
from launchers.experiment import experiment_from_declaration
from launchers.local import LearningActor, run_local


class CountingLearner:
    def __init__(self, limiter: RateLimiter, batch_size: int) -> None:
        self.steps = 0
        self._limiter, self._batch_size = limiter, batch_size

    def step(self):
        self._limiter.on_sample(self._batch_size)  # What sampling from the replay does.
        self.steps += 1


class RecordingActor:
    def __init__(self) -> None:
        self.updates = 0

    def update(self, wait: bool = False) -> None:
        self.updates += 1


@pytest.mark.parametrize("learn_every", [1, 4])
def test_learning_actor_runs_the_allowed_learner_steps_every_learn_every_updates(learn_every):
    limiter = RateLimiter(samples_per_insert=2.0, min_size_to_sample=1, error_buffer=2)
    learner, actor = CountingLearner(limiter, batch_size=2), RecordingActor()
    learning_actor = LearningActor(actor, learner, limiter, batch_size=2, learn_every=learn_every)
    steps_after_update = []
    for _ in range(12):
        limiter.on_insert(1)
        learning_actor.update()
        steps_after_update.append(learner.steps)
    # One learner step per insert (2 samples per insert / batch 2), taken only on every
    # learn_every-th update, which catches up (plus one step of error buffer).
    expected = 0
    for update, steps in enumerate(steps_after_update, start=1):
        if update % learn_every == 0:
            expected = update + 1
        assert steps == expected
    # The actor pulls weights only after the learner has stepped.
    assert actor.updates == 12 // learn_every


def _run(tmp_path, **declaration):
    return run_local(experiment_from_declaration({
        "agent": "dqn", "env": "gridworld:simple", "run_dir": str(tmp_path / "run"), "log_interval": 1e9,
        "agent_config": {"min_replay_size": 50, "hidden_sizes": [16], "samples_per_insert": 8.0},
        **declaration}))


def test_learn_every_keeps_the_number_of_learner_steps(tmp_path):
    interleaved = _run(tmp_path / "a", num_steps=400, eval_every=0, eval_episodes=1)
    bursts = _run(tmp_path / "b", num_steps=400, eval_every=0, eval_episodes=1, learn_every=50)
    assert interleaved["learner_steps"] > 0
    assert abs(bursts["learner_steps"] - interleaved["learner_steps"]) <= 50 * 8 / 64 + 1
    assert json.loads((tmp_path / "b" / "run" / "config.json").read_text())["learn_every"] == 50


def test_stop_at_return_ends_the_run_at_the_first_good_evaluation(tmp_path):
    # -100 is below any gridworld return over 200 steps (at most 200 wall hits of -5 = -1000), so
    # the first evaluation already counts as good.
    summary = _run(tmp_path, num_steps=2_000, eval_every=100, eval_episodes=1, stop_at_return=-1_000)
    assert summary["actor_steps"] == 100
    assert len(summary["evaluations"]) == 1
    steps, mean_return, train_seconds = summary["evaluations"][0]
    assert steps == 100 and mean_return >= -1_000 and 0 < train_seconds <= summary["wall_seconds"]
    # CPU seconds of the training loop: some, and not more than its wall time on one torch thread
    # (plus rounding and a little background-thread time).
    assert 0 < summary["train_cpu_seconds"] <= train_seconds * 1.5 + 0.01
    written = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert written["final_eval_return"] == summary["final_eval_return"] == mean_return


def test_every_evaluation_is_logged_with_training_time(tmp_path):
    summary = _run(tmp_path, num_steps=300, eval_every=100, eval_episodes=2)
    lines = (tmp_path / "run" / "eval.csv").read_text().splitlines()
    assert len(lines) == 1 + 3  # Header and one row per evaluation.
    assert "train_seconds" in lines[0] and "eval_return_mean" in lines[0]
    assert [e[0] for e in summary["evaluations"]] == [100, 200, 300]


@pytest.mark.parametrize("backend,env,num_envs,expected", [
    ("auto", "atari:Pong", 2, "ale"), ("auto", "atari:Pong", 1, "ale"),
    ("auto", "gridworld:simple", 4, "sync"), ("subprocess", "gridworld:simple", 2, "subprocess"),
    ("sync", "atari:Pong", 2, "sync"),
])
def test_auto_backend_picks_ale_for_atari_and_sync_for_cheap_envs(backend, env, num_envs, expected):
    from environments.registry import resolve_backend

    assert resolve_backend(backend, env, num_envs) == expected


@pytest.mark.parametrize("num_envs,expected", [(4, "subprocess"), (1, "sync")])
def test_auto_backend_avoids_ale_when_the_options_need_a_crop(num_envs, expected):
    from environments.atari import SEED001_CROP
    from environments.registry import resolve_backend

    assert resolve_backend("auto", "atari:Breakout", num_envs, {"crop": SEED001_CROP}) == expected


def test_unknown_backend_is_rejected_with_the_choices():
    from environments.registry import resolve_backend

    with pytest.raises(ValueError, match="auto, sync, subprocess"):
        resolve_backend("threads", "gridworld:simple", 2)


def test_subprocess_lanes_train_and_leave_no_workers_behind(tmp_path):
    import multiprocessing

    summary = _run(tmp_path, num_steps=300, num_envs=2, env_backend="subprocess", eval_every=0, eval_episodes=1)
    assert summary["actor_steps"] >= 300 and summary["learner_steps"] > 0
    assert multiprocessing.active_children() == []
    assert json.loads((tmp_path / "run" / "config.json").read_text())["env_backend"] == "subprocess"


def test_eval_rows_keep_the_cumulative_episode_count_and_name_the_per_evaluation_one(tmp_path):
    import csv

    run_local(experiment_from_declaration({
        "agent": "dqn", "env": "gridworld:simple", "num_steps": 400, "eval_every": 200, "eval_episodes": 3,
        "run_dir": str(tmp_path / "run"), "torch_threads": 1, "log_interval": 1e9, "progress": False,
        "agent_config": {"min_replay_size": 100, "batch_size": 8, "hidden_sizes": (8,)}}))
    with open(tmp_path / "run" / "eval.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [float(r["eval_episodes"]) for r in rows] == [3, 6]  # The counter, as in every other CSV.
    assert [int(r["eval_return_count"]) for r in rows] == [3, 3]
