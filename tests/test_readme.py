"""The README's examples run as written (with a smaller budget)."""

from __future__ import annotations

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_compose_an_agent_example_trains_from_python(tmp_path, monkeypatch):
    """my_agents.py as written, run through make_experiment (smaller budget, gridworld)."""
    import json

    (tmp_path / "my_agents.py").write_text(_block("python", "# my_agents.py"))
    monkeypatch.syspath_prepend(str(tmp_path))
    run_block = _block("python", "make_experiment(")
    run_block = (run_block.replace("gym:CartPole-v1", "gridworld:simple")
                 .replace("num_steps=50_000, eval_every=5_000", "num_steps=1_200, eval_every=0, eval_episodes=1")
                 .replace("DQNConfig(learning_rate=5e-4)", "DQNConfig(learning_rate=5e-4, min_replay_size=200)")
                 .replace('"runs/mine"', repr(str(tmp_path / "mine"))))
    namespace: dict = {}
    exec(run_block, namespace)
    assert namespace["summary"]["learner_steps"] > 0
    config = json.loads((tmp_path / "mine" / "config.json").read_text())
    assert config["agent"] == "my_agents:MeanBootstrapBuilder"
    assert config["env"] == "gridworld:simple" and config["agent_config"]["min_replay_size"] == 200


def test_compose_an_agent_example_trains_from_the_cli(tmp_path):
    import json
    import os
    import subprocess
    import sys

    (tmp_path / "my_agents.py").write_text(_block("python", "# my_agents.py"))
    command = _block("bash", "--agent=my_agents:MeanBootstrapBuilder").strip().split()
    assert command[:3] == ["python", "-m", "launchers.train"]
    command = [arg.replace("gym:CartPole-v1", "gridworld:simple").replace("50000", "600") for arg in command]
    env = {**os.environ, "PYTHONPATH": str(README.parent)}
    done = subprocess.run([sys.executable, *command[1:], "--min_replay_size=200", "--eval_every=0",
                           "--eval_episodes=1", f"--run_dir={tmp_path / 'run'}", "--noprogress", "--noplots"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert json.loads(done.stdout.strip().splitlines()[-1])["actor_steps"] == 600


def _block(language: str, marker: str) -> str:
    blocks = re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)
    return next(b for b in blocks if marker in b)


def _run_readme_example(tmp_path, module: str, command_marker: str, launcher: str) -> dict:
    """Writes the README's `# <module>.py` block, runs its bash command as written; returns the summary."""
    import json
    import os
    import subprocess
    import sys

    (tmp_path / f"{module}.py").write_text(_block("python", f"# {module}.py"))
    command = _block("bash", command_marker).strip().split()
    assert command[:3] == ["python", "-m", launcher]
    env = {**os.environ, "PYTHONPATH": str(README.parent)}
    done = subprocess.run([sys.executable, *command[1:], f"--run_dir={tmp_path / 'run'}", "--noprogress",
                           "--noplots"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_plug_in_your_own_environment_example_runs_from_the_cli(tmp_path):
    summary = _run_readme_example(tmp_path, "my_envs", "python:my_envs:make_corridor", "launchers.dqn")
    assert summary["actor_steps"] == 3000
    assert summary["final_eval_return"] == 1.0  # The greedy policy walks to the end of the corridor.


def test_the_action_mask_example_trains_ppo_without_a_masked_action(tmp_path):
    # The environment raises on a masked action, which would fail the run.
    summary = _run_readme_example(tmp_path, "my_masked", "python:my_masked:make_pick_allowed", "launchers.ppo")
    assert summary["actor_steps"] == 5000
    assert summary["final_eval_return"] >= 8  # Action 2 whenever it is allowed (about 4 steps in 7): about 11.
