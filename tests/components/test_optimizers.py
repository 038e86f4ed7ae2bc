"""TensorFlow-style RMSprop: the update A2C's published hyperparameters were tuned with."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from components.learners import TorchLearner, make_optimizer
from components.optimizers import TFStyleRMSprop


def test_update_matches_tensorflows_rmsprop_by_hand():
    weights = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    optimizer = TFStyleRMSprop([weights], lr=0.1, alpha=0.9, eps=1e-5)
    expected, square_avg = weights.detach().numpy().astype(np.float64), np.ones(2)  # ms starts at 1.
    for gradient in ([0.5, -1.0], [2.0, 0.25], [-1.0, 1.0]):
        weights.grad = torch.tensor(gradient)
        optimizer.step()
        g = np.asarray(gradient)
        square_avg = 0.9 * square_avg + 0.1 * g ** 2
        expected = expected - 0.1 * g / np.sqrt(square_avg + 1e-5)  # eps inside the square root.
        np.testing.assert_allclose(weights.detach().numpy(), expected, rtol=1e-6)


def test_first_steps_are_short_where_torchs_rmsprop_jumps():
    """torch's square average starts at 0: its first step is ~lr / sqrt(1 - alpha) = 10 lr, TF's ~lr g."""
    steps = {}
    for name in ("rmsprop", "rmsprop_tf"):
        weights = torch.nn.Parameter(torch.zeros(1))
        optimizer = make_optimizer(name, [weights], 7e-4, 1e-5, rmsprop_alpha=0.99)
        weights.grad = torch.tensor([0.01])
        optimizer.step()
        steps[name] = abs(float(weights.detach()))
    assert steps["rmsprop"] == pytest.approx(7e-3, rel=1e-2)
    assert steps["rmsprop_tf"] == pytest.approx(7e-4 * 0.01, rel=1e-2)


class _Learner(TorchLearner):
    def step(self):
        raise NotImplementedError


def test_it_steps_flat_learner_groups_and_saves_its_state():
    network = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Linear(4, 1))
    optimizer = make_optimizer("rmsprop_tf", network.parameters(), 1e-2, 1e-5)
    learner = _Learner({"net": network}, optimizer, torch.device("cpu"))
    before = [p.detach().clone() for p in network.parameters()]
    inputs = torch.randn(8, 3)
    learner._apply_gradients(network(inputs).pow(2).mean())
    assert all(not torch.equal(a, b) for a, b in zip(before, network.parameters()))
    state = learner.save()
    (square_avg,) = [s["square_avg"] for s in state["optimizer"]["state"].values()]  # One flat group.
    assert square_avg.numel() == sum(p.numel() for p in network.parameters())


def test_bad_settings_are_refused():
    with pytest.raises(ValueError, match="alpha must be in"):
        TFStyleRMSprop([torch.nn.Parameter(torch.zeros(1))], alpha=1.0)


def test_presets_as_published():
    from launchers.presets import PRESETS

    rainbow = PRESETS["dqn"]["rainbow"]
    assert rainbow.agent_config["min_replay_size"] == 80_000 // 4  # 80K frames at a frame skip of 4.
    for name in ("seed000", "atari"):
        preset = PRESETS["a2c"][name]
        assert preset.agent_config["optimizer"] == "rmsprop_tf"
        assert "TensorFlow" in preset.description
