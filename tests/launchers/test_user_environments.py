"""A user's environment: its errors name its class and call, its options reach it, and no time limit hangs."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
from pathlib import Path

import pytest

from environments.registry import make_environment
from environments.errors import EnvironmentCallError
from launchers.experiment import experiment_from_declaration
from launchers.local import run_local

REPO = Path(__file__).resolve().parents[2]
ENVS = "python:tests.launchers.user_envs"


def test_an_exception_in_step_names_the_class_and_the_call():
    environment = make_environment(f"{ENVS}:make_broken", fail_at=2)
    environment.reset()
    environment.step(0)
    with pytest.raises(EnvironmentCallError, match=r"user_envs\.Broken\.step\(\) call 2 .*raised IndexError") as caught:
        environment.step(1)
    assert isinstance(caught.value.__cause__, IndexError)  # The user's own traceback is kept.


def test_render_names_the_class_when_it_has_none_or_it_raises():
    from launchers.video import collect_frames

    with pytest.raises(EnvironmentCallError, match=r"user_envs\.Corridor has no render\(\) method"):
        collect_frames(make_environment(f"{ENVS}:make_corridor"), lambda observation: [0])
    with pytest.raises(EnvironmentCallError, match=r"user_envs\.PaintsBadly\.render\(\) raised KeyError: 'palette'"):
        make_environment(f"{ENVS}:make_painter").render()


def test_an_evaluation_without_a_time_limit_is_cut_with_a_warning(tmp_path, capsys):
    summary = run_local(experiment_from_declaration({
        "agent": "dqn", "env": f"{ENVS}:make_never_ending", "num_steps": 200, "eval_every": 0, "eval_episodes": 2,
        "eval_max_steps": 40, "run_dir": str(tmp_path / "run"), "progress": False, "torch_threads": 1,
        "log_interval": 1e9, "agent_config": {"min_replay_size": 50, "batch_size": 8, "hidden_sizes": (8,)}}))
    with open(tmp_path / "run" / "eval.csv", newline="") as f:
        (row,) = list(csv.DictReader(f))
    assert int(row["eval_return_count"]) == 2
    assert float(row["eval_steps"]) == 80 and summary["final_eval_return"] == 40.0  # 40 steps paying 1 each.
    out = capsys.readouterr().out
    assert "still running after 20 steps" in out and out.count("reached eval_max_steps=40") == 2


def test_env_options_reach_a_python_factory(tmp_path):
    run_dir = tmp_path / "run"
    done = subprocess.run([sys.executable, "-m", "launchers.dqn", f"--env={ENVS}:make_corridor",
                           "--env_options=length=3", "--num_steps=60", "--eval_every=0", "--eval_episodes=2",
                           "--min_replay_size=20", "--batch_size=8", "--hidden_sizes=8", "--noprogress",
                           "--log_interval=1000", f"--run_dir={run_dir}"], cwd=REPO, capture_output=True, text=True,
                          timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads((run_dir / "config.json").read_text())["env_options"] == {"length": 3}
    with open(run_dir / "train.csv", newline="") as f:
        assert {row["episode_length"] for row in csv.DictReader(f)} == {"3"}


def test_an_option_the_factory_does_not_take_is_a_clear_error():
    with pytest.raises(ValueError, match=r"cannot take the options \['colour', 'seed'\].*--env_options"):
        experiment_from_declaration({"agent": "dqn", "env": f"{ENVS}:make_corridor", "env_options": {"colour": "red"}})


# ----------------------------------------------------------------------------
# A user's environment factory on every backend.
# ----------------------------------------------------------------------------


def _corridor_lanes(seed: int):
    from tests.launchers.user_envs import make_corridor

    return make_corridor(seed)


def _experiment(factory, backend: str, **settings):
    from agents.dqn.builder import DQNBuilder
    from agents.dqn.config import DQNConfig
    from launchers.experiment import ExperimentConfig

    return ExperimentConfig(builder=DQNBuilder(DQNConfig(min_replay_size=20, batch_size=8, hidden_sizes=(8,))),
                            environment_factory=factory, env_backend=backend, num_envs=2, **settings)


@pytest.mark.parametrize("backend", ["auto", "sync", "subprocess"])
def test_every_lane_comes_from_the_users_factory(backend):
    from launchers.nodes import make_environment as training_lanes
    from tests.launchers.user_envs import Corridor

    lanes = training_lanes(_experiment(_corridor_lanes, backend), seed=5)
    try:
        if backend != "subprocess":
            assert all(isinstance(lane, Corridor) for lane in lanes.environment.lanes)
        timestep = lanes.reset()
        assert timestep.observation.shape == (2,) + Corridor(5).observation_spec().shape
        lanes.step(lanes.action_spec().generate_value().repeat(2))
    finally:
        lanes.close()


@pytest.mark.parametrize("backend, prefix", [("gym", "gym"), ("ale", "atari")])
def test_backends_that_build_their_own_lanes_refuse_a_users_factory(backend, prefix):
    with pytest.raises(ValueError, match=rf"env_backend='{backend}' builds its own lanes from a {prefix}:<name> "
                                         r"environment, so it cannot step the lanes of environment_factory="
                                         r".*_corridor_lanes.*Use env_backend='sync' or 'subprocess'"):
        _experiment(_corridor_lanes, backend)


def test_backends_that_build_their_own_lanes_take_a_factory_that_names_their_environment():
    import functools

    from environments.gym_batched import GymnasiumBatchedEnvironment
    from launchers.nodes import make_environment as training_lanes

    experiment = _experiment(functools.partial(make_environment, "gym:CartPole-v1"), "gym")
    lanes = training_lanes(experiment, seed=0)
    try:
        assert isinstance(lanes.environment, GymnasiumBatchedEnvironment) and lanes.num_lanes == 2
    finally:
        lanes.close()


def test_a_users_broken_environment_stops_the_run_at_start_up(tmp_path):
    from environments.validation import EnvironmentSpecError
    from tests.launchers.user_envs import Corridor

    class WrongShape(Corridor):
        def step(self, action):
            timestep = super().step(action)
            return timestep._replace(observation=timestep.observation[:-1]) if self.t == 7 else timestep

    with pytest.warns(UserWarning, match="no importable name"):  # A local class: config.json cannot name it.
        experiment = _experiment(lambda seed: WrongShape(50), "sync", run_dir=str(tmp_path / "run"),
                                 num_steps=100, progress=False)
    with pytest.raises(EnvironmentSpecError, match=r"observation at step\(\) call 7, step 7 of its episode is "
                                                   r"invalid: shape \(1,\) is not the spec's \(2,\)"):
        run_local(experiment)
    assert not (tmp_path / "run").exists()
