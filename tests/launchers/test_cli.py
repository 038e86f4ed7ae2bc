"""End-to-end tests of the entry modules (`python -m launchers.dqn`, `launchers.nfq`) as subprocesses.

Every launch pays the torch import (about 3 s of CPU), so:

* the training runs, the reruns, `--helpfull` and one bad input are real
  `python -m` subprocesses, started together on a small thread pool the
  first time a test asks for one (only the launches of the selected tests);
* the bad-input matrix runs in children forked from one helper process that
  imported torch, numpy, gymnasium, dm_env and absl once (no project module).
  Each child runs the entry module exactly as `python -m` does
  (`runpy.run_module(..., run_name="__main__", alter_sys=True)`, fds 1 and 2
  redirected, an uncaught exception printed as the interpreter prints it), so
  it exercises all of the project's code, including its imports.
  `test_forked_launch_matches_a_real_launch` checks that a forked child and a
  real subprocess give the same exit code, stdout and stderr.

Runs use tiny budgets on `gridworld:simple`, one torch thread and the CPU, so
two runs of one declaration are bit-for-bit reproducible.
"""

from __future__ import annotations

import concurrent.futures
import csv
import dataclasses
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import NamedTuple

import pytest

REPO = Path(__file__).resolve().parents[2]
TIMEOUT = 120
FAIL_FAST_SECONDS = 30

# A tiny run: 300 actor steps, learning from 100 transitions on with 0.625 learner
# steps per inserted transition (samples_per_insert 20, batch 32), so about 125
# learner steps and one learner.csv row (the learner logs every 100 steps).
TINY = ["--num_steps=300", "--eval_every=0", "--eval_episodes=1", "--min_replay_size=100", "--torch_threads=1",
        "--log_interval=1000", "--device=cpu", "--batch_size=32", "--samples_per_insert=20", "--hidden_sizes=32"]
SUMMARY_KEYS = {"final_eval_return", "actor_steps", "learner_steps", "wall_seconds", "run_dir"}
LOG_FILES = ("train.csv", "eval.csv", "learner.csv")


class Result(NamedTuple):
    returncode: int
    stdout: str
    stderr: str
    seconds: float
    run_dir: Path | None

    def summary(self) -> dict:
        return json.loads(self.stdout.strip().splitlines()[-1])

    def describe(self) -> str:
        return f"exit {self.returncode} after {self.seconds:.1f}s\n--- stdout:\n{self.stdout}\n--- stderr:\n{self.stderr}"


def _command_args(args: list[str], run_dir: Path | None) -> list[str]:
    return [*args] + ([f"--run_dir={run_dir}"] if run_dir else [])


def launch(module: str, args: list[str], run_dir: Path | None) -> Result:
    """`python -m module args --run_dir=run_dir` from the repository root."""
    command = [sys.executable, "-m", module, *_command_args(args, run_dir)]
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=TIMEOUT)
    return Result(done.returncode, done.stdout, done.stderr, time.perf_counter() - start, run_dir)


# Reads a JSON list of jobs {id, module, args, out, err} on stdin, forks one child per job, and prints
# {id: {returncode, seconds}} once all have exited.
FORK_SERVER = r'''
import importlib.util, json, os, runpy, sys, time, traceback
import numpy, torch, tree, dm_env, gymnasium  # Third-party only: each child imports the project itself.
from absl import app, flags

def child(job):
    for fd, path in ((1, job["out"]), (2, job["err"])):
        target = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
        os.dup2(target, fd)
        os.close(target)
    sys.argv = [importlib.util.find_spec(job["module"]).origin, *job["args"]]
    code = 0
    try:
        runpy.run_module(job["module"], run_name="__main__", alter_sys=True)
    except SystemExit as exit_:
        if exit_.code is None or isinstance(exit_.code, int):
            code = exit_.code or 0
        else:
            print(exit_.code, file=sys.stderr)
            code = 1
    except BaseException:
        traceback.print_exc()
        code = 1
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
    os._exit(code)

jobs = json.load(sys.stdin)
sys.stdout.flush()
sys.stderr.flush()
running = {}
for job in jobs:
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:
        child(job)
    running[pid] = (job["id"], start)
results = {}
while running:
    pid, status = os.wait()
    name, start = running.pop(pid)
    results[name] = {"returncode": os.waitstatus_to_exitcode(status), "seconds": time.perf_counter() - start}
json.dump(results, sys.stdout)
'''


def launch_forked(jobs: dict[str, tuple[str, list[str], Path | None]], folder: Path) -> dict[str, Result]:
    """Runs each job `name -> (module, args, run_dir)` in a child forked from one pre-imported process."""
    if not hasattr(os, "fork"):  # No fork (Windows): real subprocesses, one after the other.
        return {name: launch(module, args, run_dir) for name, (module, args, run_dir) in jobs.items()}
    folder.mkdir(parents=True, exist_ok=True)
    requests = [{"id": name, "module": module, "args": _command_args(args, run_dir),
                 "out": str(folder / f"{name}.out"), "err": str(folder / f"{name}.err")}
                for name, (module, args, run_dir) in jobs.items()]
    done = subprocess.run([sys.executable, "-c", FORK_SERVER], cwd=REPO, input=json.dumps(requests),
                          capture_output=True, text=True, timeout=TIMEOUT)
    assert done.returncode == 0, done.stderr
    status = json.loads(done.stdout)
    return {name: Result(status[name]["returncode"], (folder / f"{name}.out").read_text(),
                         (folder / f"{name}.err").read_text(), status[name]["seconds"], jobs[name][2])
            for name in jobs}


# ---------------------------------------------------------------------------
# The launches.
# ---------------------------------------------------------------------------

# Bad inputs: (args, words the error message must contain).
BAD_INPUTS = {
    "unknown-prefix": (["--env=nope:x"], ["nope:x", "gridworld", "gym", "python"]),
    "unknown-gridworld-task": (["--env=gridworld:nowhere"], ["nowhere", "simple", "obstacle", "random_goal"]),
    "misspelt-gym-id": (["--env=gym:CartPol-v1"], ["CartPol-v1", "CartPole-v1"]),
    "negative-learning-rate": (["--learning_rate=-1"], ["learning_rate", "-1", "> 0"]),
    "unknown-loss": (["--loss=l3"], ["loss", "l3", "huber", "mse"]),
    "non-integer-hidden-sizes": (["--hidden_sizes=a,b"], ["hidden_sizes", "a,b", "integers"]),
    "unknown-device": (["--device=tpu"], ["device", "tpu", "auto", "cpu", "cuda"]),
    "unknown-observation-type": (["--observation_type=pixels"],
                                 ["pixels", "state_index", "agent_onehot", "grid", "agent_goal_pos"]),
    "observation-type-on-gym": (["--observation_type=grid", "--env=gym:CartPole-v1"],
                                ["observation_type", "gridworld", "gym:CartPole-v1"]),
    "missing-config": (["--config=/nonexistent"], ["/nonexistent", "config.json"]),
    "min-replay-exceeds-capacity": (["--min_replay_size=200000"],
                                    ["min_replay_size", "200000", "replay_capacity", "100000"]),
    # Beyond the brief's list.
    "max-grad-norm-not-a-number": (["--max_grad_norm=abc"], ["max_grad_norm", "abc", "none"]),
    "unknown-python-module": (["--env=python:no_such_module_xyz:make"], ["no_such_module_xyz"]),
    "zero-steps": (["--num_steps=0"], ["num_steps", "0", "positive"]),
    "continuous-actions": (["--env=gym:Pendulum-v1"], ["DiscreteArray", "BoundedArray"]),
    "cuda-without-cuda": (["--device=cuda"], ["cuda", "auto", "cpu"]),
    "zero-learn-every": (["--learn_every=0"], ["learn_every", "0"]),
    "unknown-env-backend": (["--env_backend=threads"], ["env_backend", "threads", "sync", "subprocess", "ale"]),
    "ale-backend-on-gridworld": (["--env_backend=ale", "--num_envs=2"], ["ale", "atari:<Game>", "gridworld:simple"]),
    "zero-max-episode-length": (["--max_episode_length=0"], ["max_episode_length", "0"]),
    "unknown-preset": (["--preset=fast"], ["fast", "breakout15", "nature", "rainbow", "seed001"]),
    "atari-preset-on-gridworld": (["--preset=nature"], ["nature", "atari:", "gridworld:simple"]),
    "two-atoms": (["--num_atoms=2"], ["num_atoms", "2", ">= 3"]),
    "unknown-frame-replay-mode": (["--frame_replay=maybe"], ["frame_replay", "maybe", "auto", "on", "off"]),
    "priority-exponent-above-one": (["--priority_exponent=2"], ["priority_exponent", "2", "[0, 1]"]),
    "batch-larger-than-replay": (["--batch_size=512", "--replay_capacity=256", "--min_replay_size=100"],
                                 ["batch_size", "512", "replay_capacity", "256"]),
    "epsilon-above-one": (["--epsilon_start=1.5"], ["epsilon_start", "1.5", "[0, 1]"]),
    "zero-lanes": (["--num_envs=0"], ["num_envs", "0"]),
    "negative-budget": (["--num_steps=-5"], ["num_steps", "-5"]),
    "several-actors-locally": (["--num_actors=2"], ["num_actors=2", "threads", "ray"]),
    "unknown-launch": (["--launch=cluster"], ["launch", "cluster", "local", "threads", "ray"]),
    "resume-without-checkpoint": (["--resume=/nonexistent_run"], ["/nonexistent_run", "config.json"]),
    "unknown-nan-policy": (["--nan_policy=ignore"], ["nan_policy", "ignore", "raise", "skip"]),
    "env-options-without-value": (["--env_options=slippery"], ["--env_options", "key=value", "slippery"]),
    "core-on-an-agent-without-one": (["--core=lstm"], ["Unknown command line flag", "core"]),
}
# Bad inputs to the policy-gradient launchers: name -> (module, args, words the message must contain).
PG_BAD_INPUTS = {
    "ppo-clip-range-above-one": ("launchers.ppo", ["--clip_range=1.5"], ["clip_range", "1.5", "(0, 1)"]),
    "ppo-zero-epochs": ("launchers.ppo", ["--num_epochs=0"], ["num_epochs", "0", ">= 1"]),
    "ppo-unknown-core": ("launchers.ppo", ["--core=rnn"], ["core", "rnn", "none", "lstm", "gru"]),
    "a2c-zero-core-size": ("launchers.a2c", ["--core=gru", "--core_size=0"], ["core_size", "0", ">= 1"]),
    "r2d2-sequence-shorter-than-burn-in-plus-n-step": (
        "launchers.r2d2", ["--env=gym:CartPoleNoVel-v1", "--sequence_length=20", "--burn_in=20"],
        ["sequence_length (20)", "burn_in + n_step", "20 + 5 = 25"]),
    "r2d2-on-continuous-actions": ("launchers.r2d2", ["--env=gym:Pendulum-v1"],
                                   ["R2D2Builder needs discrete actions", "gym:Pendulum-v1"]),
    "a2c-pendulum-preset-on-cartpole": ("launchers.a2c", ["--preset=seed002", "--env=gym:CartPole-v1"],
                                        ["seed002", "gym:Pendulum", "gym:CartPole-v1"]),
    "a2c-unknown-optimizer": ("launchers.a2c", ["--optimizer=sgd"], ["optimizer", "sgd", "adam", "rmsprop"]),
    "reinforce-negative-episodes": ("launchers.reinforce", ["--episodes_per_update=-1"],
                                    ["episodes_per_update", "-1"]),
    "ppo-unknown-squash": ("launchers.ppo", ["--squash=sigmoid"], ["squash", "sigmoid", "clip", "tanh"]),
    # Crashed with "OnPolicyQueue is full" at step ~96 before it was refused.
    "ppo-learn-every": ("launchers.ppo", ["--preset=classic", "--env=gym:CartPole-v1", "--learn_every=256"],
                        ["learn_every=256", "on-policy", "--learn_every"]),
    # Trained on stale rollouts, silently, before it was refused.
    "a2c-learn-every": ("launchers.a2c", ["--env=gym:CartPole-v1", "--learn_every=2"],
                        ["learn_every=2", "on-policy"]),
    "a2c-normalised-frames": ("launchers.a2c", ["--env=atari:Pong", "--normalize_observations"],
                              ["normalize_observations", "vector observations"]),
}
BUGS: dict[str, str] = {}  # Bad inputs still known to fail badly (none).
CROSS_CHECKED = "unknown-prefix"  # Also launched as a real subprocess.

# Real subprocesses: name -> (module, args, waits for the first DQN run's folder).
REAL: dict[str, tuple[str, list[str], bool]] = {
    "dqn": ("launchers.dqn", TINY, False),
    "nfq": ("launchers.nfq", ["--env=gridworld:simple", "--observation_type=agent_goal_pos",
                              "--max_episode_length=50", *TINY], False),
    "helpfull": ("launchers.dqn", ["--helpfull"], False),
    f"real:{CROSS_CHECKED}": ("launchers.dqn", [*TINY, *BAD_INPUTS[CROSS_CHECKED][0]], False),
    "dqn-rerun": ("launchers.dqn", ["--config={first}"], True),
    # seed 001's preset on Breakout, shrunk by flags given beside it (which must win).
    "dqn-seed001": ("launchers.dqn", ["--env=atari:Breakout", "--preset=seed001", "--num_steps=300",
                                      "--eval_every=0", "--eval_episodes=1", "--min_replay_size=100",
                                      "--replay_capacity=2000", "--batch_size=8", "--torch_threads=1",
                                      "--log_interval=1000", "--device=cpu"], False),
    "dqn-rerun-override": ("launchers.dqn", ["--config={first}", "--num_steps=400", "--learning_rate=0.002"], True),
}
# Forked children: name -> (module, args).
FORKED: dict[str, tuple[str, list[str]]] = {
    "nfq-rerun-of-dqn": ("launchers.nfq", ["--config={dqn_config}"]),
    **{f"bad:{name}": ("launchers.dqn", [*TINY, *args]) for name, (args, _) in BAD_INPUTS.items()},
    **{f"bad:{name}": (module, ["--num_steps=100", "--log_interval=1000", *args])
       for name, (module, args, _) in PG_BAD_INPUTS.items()},
}
# Which launches each test reads (the parametrized bad-input test reads "bad:<case>").
NEEDS = {
    "test_dqn_run_writes_the_run_folder_and_prints_the_summary": ["dqn"],
    "test_config_rerun_reproduces_the_run": ["dqn", "dqn-rerun"],
    "test_flags_beside_config_override_it": ["dqn", "dqn-rerun-override"],
    "test_config_of_another_agent_is_refused": ["nfq-rerun-of-dqn"],
    "test_nfq_runs_with_gridworld_observation_type": ["nfq"],
    "test_forked_launch_matches_a_real_launch": [f"real:{CROSS_CHECKED}", f"bad:{CROSS_CHECKED}"],
    "test_helpfull_lists_config_flags_with_their_docs": ["helpfull"],
    "test_helpfull_exits_zero": ["helpfull"],
    "test_preset_fills_the_declaration_and_flags_beside_it_win": ["dqn-seed001"],
}


class Launches:
    """Starts the needed launches on a thread pool; `launches[name]` waits for one."""

    def __init__(self, names: set[str], folder: Path) -> None:
        self._folder = folder
        self._pool = concurrent.futures.ThreadPoolExecutor(max_workers=max(2, min(4, os.cpu_count() or 2)))
        self._futures: dict[str, concurrent.futures.Future] = {}
        real = {n for n in names if n in REAL}
        if any(REAL[n][2] for n in real):
            real.add("dqn")
        forked = sorted(n for n in names if n in FORKED)
        # The first DQN run, then the forked batch, then the rest; the reruns (waiting for "dqn") last.
        order = [n for n in ("dqn",) if n in real] + (["forked"] if forked else []) + \
            sorted(real - {"dqn"}, key=lambda n: REAL[n][2])
        for name in order:
            if name == "forked":
                batch = self._pool.submit(self._run_forked, forked)
                for n in forked:
                    self._futures[n] = batch
            else:
                self._futures[name] = self._pool.submit(self._run_real, name)

    def _run_real(self, name: str) -> Result:
        module, args, needs_first = REAL[name]
        if needs_first:
            args = [a.format(first=self["dqn"].run_dir) for a in args]
        run_dir = None if name == "helpfull" else self._folder / name.replace(":", "_")
        return launch(module, args, run_dir)

    def _run_forked(self, names: list[str]) -> dict[str, Result]:
        dqn_config = self._folder / "dqn_config.json"  # A dqn declaration, for the nfq launcher to refuse.
        dqn_config.write_text(json.dumps({"agent": "dqn", "env": "gridworld:simple", "agent_config": {}}))
        jobs = {n: (FORKED[n][0], [a.format(dqn_config=dqn_config) for a in FORKED[n][1]],
                    self._folder / n.replace(":", "_")) for n in names}
        return launch_forked(jobs, self._folder / "forked")

    def __getitem__(self, name: str) -> Result:
        result = self._futures[name].result()
        return result[name] if isinstance(result, dict) else result

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


@pytest.fixture(scope="module")
def launches(request, tmp_path_factory):
    names: set[str] = set()
    for item in request.session.items:
        if item.module is not request.module:
            continue
        names.update(NEEDS.get(item.originalname, []))
        callspec = getattr(item, "callspec", None)
        if callspec is not None and "case" in callspec.params:
            names.add(f"bad:{callspec.params['case']}")
    runner = Launches(names, tmp_path_factory.mktemp("launches"))
    yield runner
    runner.close()


def read_csv(path: Path) -> list[dict]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def without(rows: list[dict], *columns: str) -> list[dict]:
    return [{k: v for k, v in row.items() if k not in columns} for row in rows]


def config_fields(config_class) -> set[str]:
    return {f.name for f in dataclasses.fields(config_class)}


def load_config(result: Result) -> dict:
    return json.loads((result.run_dir / "config.json").read_text())


# ---------------------------------------------------------------------------
# Runs.
# ---------------------------------------------------------------------------

def test_dqn_run_writes_the_run_folder_and_prints_the_summary(launches):
    from agents.dqn import DQNConfig

    result = launches["dqn"]
    assert result.returncode == 0, result.describe()
    summary = result.summary()
    assert SUMMARY_KEYS <= set(summary)
    assert summary["actor_steps"] >= 300
    assert summary["learner_steps"] > 0
    assert summary["wall_seconds"] > 0
    assert Path(summary["run_dir"]) == result.run_dir

    folder = result.run_dir
    for name in ("config.json", "summary.json", *LOG_FILES):
        assert (folder / name).is_file(), name
    assert json.loads((folder / "summary.json").read_text()) == summary

    config = load_config(result)
    assert config["agent"] == "dqn"
    assert config["env"] == "gridworld:simple"
    assert config["seed"] == 0
    assert config["num_steps"] == 300
    assert set(config["agent_config"]) == config_fields(DQNConfig)
    assert config["agent_config"]["min_replay_size"] == 100
    assert config["agent_config"]["hidden_sizes"] == [32]
    assert config["agent_config"]["learning_rate"] == DQNConfig.learning_rate  # Fields not given: defaults.

    evals = read_csv(folder / "eval.csv")
    assert len(evals) == 1
    assert float(evals[0]["eval_return_mean"]) == summary["final_eval_return"]
    train = read_csv(folder / "train.csv")
    assert train and all(float(r["episode_length"]) > 0 for r in train)
    learner = read_csv(folder / "learner.csv")
    assert [int(float(r["learner_steps"])) for r in learner] == list(range(100, summary["learner_steps"] + 1, 100))
    assert learner and all(float(r["loss"]) >= 0 for r in learner)


def test_preset_fills_the_declaration_and_flags_beside_it_win(launches):
    from launchers.presets import PRESETS

    result = launches["dqn-seed001"]
    assert result.returncode == 0, result.describe()
    preset = PRESETS["dqn"]["seed001"]
    config = load_config(result)
    assert config["preset"] == "seed001"
    assert config["env_options"] == {"crop": [32, 14, 8, 8], "screen_size": 64}
    assert config["eval_episodes"] == 1 and config["num_steps"] == 300  # Flags beside the preset win...
    agent = config["agent_config"]
    assert agent["batch_size"] == 8 and agent["replay_capacity"] == 2000 and agent["min_replay_size"] == 100
    for name in ("learning_rate", "target_update_period", "epsilon_end", "epsilon_decay_steps", "max_grad_norm",
                 "loss", "double_q"):  # ...and the preset fills in the rest.
        assert agent[name] == preset.agent_config[name], name
    assert "FrameStackReplay" in result.stdout  # Stacked frames are stored once; the start-up line says so.
    assert result.summary()["learner_steps"] > 0


def test_seed001_preset_frames_match_the_atari_config():
    pytest.importorskip("ale_py")
    from environments.atari import AtariConfig
    from launchers.presets import PRESETS

    options = PRESETS["dqn"]["seed001"].declaration["env_options"]
    reference = AtariConfig.seed001()
    assert (tuple(options["crop"]), options["screen_size"]) == (reference.crop, reference.screen_size)


def test_config_rerun_reproduces_the_run(launches):
    first, rerun = launches["dqn"], launches["dqn-rerun"]
    assert first.returncode == 0, first.describe()
    assert rerun.returncode == 0, rerun.describe()
    a, b = first.summary(), rerun.summary()
    assert Path(b["run_dir"]) == rerun.run_dir != first.run_dir
    for key in ("actor_steps", "actor_episodes", "learner_steps", "final_eval_return"):
        assert a[key] == b[key], key
    assert {**load_config(first), "run_dir": None} == {**load_config(rerun), "run_dir": None}
    # Same losses and episodes, step for step (only the timing columns differ).
    for name, timing in (("learner.csv", "learner_steps_per_second"), ("train.csv", "steps_per_second")):
        rows_a, rows_b = read_csv(first.run_dir / name), read_csv(rerun.run_dir / name)
        assert rows_a, name
        assert without(rows_a, timing) == without(rows_b, timing), name


def test_flags_beside_config_override_it(launches):
    first, rerun = launches["dqn"], launches["dqn-rerun-override"]
    assert rerun.returncode == 0, rerun.describe()
    assert rerun.summary()["actor_steps"] >= 400
    config_a, config_b = load_config(first), load_config(rerun)
    assert config_b["num_steps"] == 400
    assert config_b["agent_config"]["learning_rate"] == 0.002
    # Everything else comes from the first run's declaration, not from the flag defaults.
    assert config_b["agent_config"]["min_replay_size"] == 100
    assert config_b["eval_every"] == 0 and config_b["torch_threads"] == 1
    changed = {"num_steps": None, "run_dir": None, "agent_config": None}
    assert {**config_a, **changed} == {**config_b, **changed}
    assert {**config_a["agent_config"], "learning_rate": None} == {**config_b["agent_config"], "learning_rate": None}


def test_nfq_runs_with_gridworld_observation_type(launches):
    from agents.nfq import NFQConfig

    result = launches["nfq"]
    assert result.returncode == 0, result.describe()
    summary = result.summary()
    assert SUMMARY_KEYS <= set(summary)
    assert summary["actor_steps"] >= 300 and summary["learner_steps"] > 0
    assert json.loads((result.run_dir / "summary.json").read_text()) == summary
    config = load_config(result)
    assert config["agent"] == "nfq"
    assert config["env"] == "gridworld:simple"
    assert config["env_options"] == {"observation_type": "agent_goal_pos", "max_episode_length": 50}
    lengths = [int(row["episode_length"]) for row in csv.DictReader((result.run_dir / "train.csv").open())]
    assert lengths and max(lengths) <= 50  # The truncation reached the environment.
    assert set(config["agent_config"]) == config_fields(NFQConfig)


# ---------------------------------------------------------------------------
# Bad input.
# ---------------------------------------------------------------------------

def assert_clean_failure(result: Result, words: list[str]) -> None:
    assert result.returncode != 0, result.describe()
    assert result.seconds < FAIL_FAST_SECONDS, result.describe()
    assert "Traceback" not in result.stderr, result.describe()
    for word in words:
        assert word in result.stderr, f"{word!r} missing\n{result.describe()}"
    # Nothing ran: no summary line, no run folder.
    assert '"final_eval_return"' not in result.stdout, result.describe()
    assert not result.run_dir.exists(), result.describe()


def _bad_input_params():
    for name in BAD_INPUTS:
        marks = [pytest.mark.xfail(strict=True, reason=BUGS[name])] if name in BUGS else []
        yield pytest.param(name, id=name, marks=marks)


@pytest.mark.parametrize("case", list(_bad_input_params()))
def test_bad_input_fails_fast_with_a_clear_message(launches, case):
    if case == "cuda-without-cuda":
        import torch

        if torch.cuda.is_available():
            pytest.skip("this machine has CUDA")
    assert_clean_failure(launches[f"bad:{case}"], BAD_INPUTS[case][1])


@pytest.mark.parametrize("case", list(PG_BAD_INPUTS))
def test_policy_gradient_launchers_reject_bad_input_clearly(launches, case):
    assert_clean_failure(launches[f"bad:{case}"], PG_BAD_INPUTS[case][2])


def test_config_of_another_agent_is_refused(launches):
    assert_clean_failure(launches["nfq-rerun-of-dqn"], ["'dqn'", "launchers.dqn"])


def test_forked_launch_matches_a_real_launch(launches):
    real, forked = launches[f"real:{CROSS_CHECKED}"], launches[f"bad:{CROSS_CHECKED}"]
    assert real.returncode == forked.returncode != 0
    assert real.stdout == forked.stdout
    assert real.stderr == forked.stderr
    assert real.seconds < FAIL_FAST_SECONDS, real.describe()


# ---------------------------------------------------------------------------
# Help.
# ---------------------------------------------------------------------------

def test_helpfull_lists_config_flags_with_their_docs(launches):
    result = launches["helpfull"]
    assert "--learning_rate: Adam step size." in result.stdout, result.describe()
    assert "--target_update_tau: Fraction moved towards the online weights" in result.stdout
    assert "--env: Environment name" in result.stdout
    assert "Traceback" not in result.stderr


def test_helpfull_exits_zero(launches):
    result = launches["helpfull"]
    assert result.returncode == 0, result.describe()
