"""The README's examples run as written (with a smaller budget)."""

from __future__ import annotations

import pathlib
import re

README = pathlib.Path(__file__).resolve().parents[1] / "README.md"


def _python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)


def test_compose_an_agent_example_trains(tmp_path):
    blocks = _python_blocks()
    agent_block = next(b for b in blocks if "class MeanBootstrapBuilder" in b)
    run_block = next(b for b in blocks if "run_local(ExperimentConfig(" in b)
    namespace: dict = {}
    exec(agent_block, namespace)
    run_block = (run_block.replace("gym:CartPole-v1", "gridworld:simple")
                 .replace("num_steps=50_000, eval_every=5_000", "num_steps=1_200, eval_every=0, eval_episodes=1")
                 .replace('"runs/mine"', repr(str(tmp_path / "mine"))))
    run_block = run_block.replace("DQNConfig(learning_rate=5e-4)", "DQNConfig(learning_rate=5e-4, min_replay_size=200)")
    exec(run_block, namespace)
    summary = namespace["summary"]
    assert summary["learner_steps"] > 0
    assert (tmp_path / "mine" / "learner.csv").exists()

