"""A NaN or inf loss never reaches the weights: the update raises (naming step and term) or is skipped."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from components.learners import NonFiniteLossError, TorchLearner


class TinyLearner(TorchLearner):
    def __init__(self, poison: float | None) -> None:
        self.net = nn.Linear(2, 1)
        super().__init__({"net": self.net}, torch.optim.SGD(self.net.parameters(), lr=0.1), torch.device("cpu"))
        self.poison = poison

    def step(self):
        x = torch.ones(4, 2)
        prediction = self.net(x).squeeze(-1)
        target = torch.full((4,), self.poison if self.poison is not None else 1.0)
        loss = (prediction - target).pow(2).mean()
        grad_norm = self._apply_gradients(loss, terms={"prediction": prediction, "target": target})
        return self._record({"loss": loss, "grad_norm": grad_norm})


@pytest.mark.parametrize("poison", [float("nan"), float("inf")])
def test_a_non_finite_loss_stops_with_the_step_and_term_and_leaves_the_weights(poison):
    learner = TinyLearner(None)
    learner.step()
    before = {k: v.clone() for k, v in learner.net.state_dict().items()}
    learner.poison = poison
    with pytest.raises(NonFiniteLossError, match=r"Learner step 2: non-finite loss, target"):
        learner.step()
    for key, value in learner.net.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    assert learner.num_steps == 1


def test_skip_policy_drops_the_update_and_counts_it():
    learner = TinyLearner(float("nan"))
    learner.nan_policy = "skip"
    before = {k: v.clone() for k, v in learner.net.state_dict().items()}
    for _ in range(3):
        metrics = learner.step()
    assert learner.skipped_updates == 3 and learner.num_steps == 0
    assert float(metrics["skipped_updates"]) == 3
    for key, value in learner.net.state_dict().items():
        torch.testing.assert_close(value, before[key], rtol=0, atol=0)
    learner.poison = None
    learner.step()
    assert learner.num_steps == 1
    assert learner.save()["skipped_updates"] == 3


def _run_with_nan_rewards(tmp_path, agent: str, env: str, monkeypatch=None, **agent_config):
    """Trains `agent` on `env` whose rewards are all NaN. With `monkeypatch`, the environment checks (start-up
    and per batch) are switched off, so the NaN reaches the learner, which must catch it."""
    import dataclasses
    import functools

    import numpy as np

    from environments.registry import make_environment
    from components.specs import make_environment_spec
    from environments.validation import CheckedLanes
    from launchers import run
    from launchers.experiment import experiment_from_declaration
    from launchers.local import run_local

    if monkeypatch is not None:
        # The startup check would refuse the NaN rewards; skip it, keeping the specs it returns.
        monkeypatch.setattr(run, "check_run_environment",
                            lambda experiment: make_environment_spec(make_environment(env, experiment.seed)))
        monkeypatch.setattr(CheckedLanes, "_checked", lambda self, timestep, kind: timestep)

    class NaNRewards:
        def __init__(self, name, seed):
            self._env = make_environment(name, seed)

        def __getattr__(self, name):
            return getattr(self._env, name)

        def step(self, action):
            timestep = self._env.step(action)
            return timestep._replace(reward=np.float32(np.nan)) if timestep.reward is not None else timestep

    experiment = experiment_from_declaration({
        "agent": agent, "env": env, "num_steps": 3_000, "eval_every": 0, "run_dir": str(tmp_path),
        "torch_threads": 1, "log_interval": 1e9, "progress": False, "plots": False, "agent_config": agent_config})
    run_local(dataclasses.replace(experiment, environment_factory=functools.partial(NaNRewards, env),
                                  env_backend="sync", batched_environment_factory=None))


def test_a_run_with_nan_rewards_stops_naming_the_learner_step(tmp_path, monkeypatch):
    """End to end: rewards turned NaN reach the learner, which stops the run before touching the weights."""
    with pytest.raises(NonFiniteLossError, match=r"Learner step 1: non-finite loss, td_error"):
        _run_with_nan_rewards(tmp_path, "dqn", "gridworld:simple", monkeypatch, min_replay_size=100)


def test_nan_rewards_stop_a_run_at_start_up_naming_the_environment(tmp_path):
    """With the environment checks on (always), NaN rewards never reach a learner: the run fails before it
    writes its run folder."""
    from environments.validation import EnvironmentSpecError

    with pytest.raises(EnvironmentSpecError, match=r"reward at step\(\) call 1.*not finite"):
        _run_with_nan_rewards(tmp_path / "run", "dqn", "gridworld:simple", min_replay_size=100)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("agent", ["a2c", "ppo", "reinforce"])
def test_policy_gradient_learners_name_the_non_finite_term(tmp_path, agent, monkeypatch):
    """NaN rewards reach the returns; the learner names them and leaves the weights as they were."""
    with pytest.raises(NonFiniteLossError, match=r"Learner step 1: non-finite .*returns"):
        _run_with_nan_rewards(tmp_path, agent, "gym:CartPole-v1", monkeypatch)
