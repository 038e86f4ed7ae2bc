"""R2D2's learner math (value rescaling, n-step windows, burn-in, priorities) and its bad inputs."""

from __future__ import annotations

import dm_env
import numpy as np
import pytest
import torch

import environments  # noqa: F401  (registers CartPoleNoVel-v1)
from agents.r2d2 import R2D2Builder, R2D2Config, R2D2Learner
from agents.r2d2.learning import n_step_returns, rescale, unrescale
from components.specs import make_environment_spec
from components.types import SequenceItem
from environments.registry import make_batched_environment

FIRST, MID, LAST = (int(s) for s in (dm_env.StepType.FIRST, dm_env.StepType.MID, dm_env.StepType.LAST))


def test_value_rescaling_is_inverted_exactly_over_many_scales():
    x = torch.tensor([-1e4, -300.0, -1.0, -1e-3, 0.0, 1e-3, 0.5, 1.0, 42.0, 1e4], dtype=torch.float64)
    for epsilon in (1e-3, 0.0):
        torch.testing.assert_close(unrescale(rescale(x, epsilon), epsilon), x, rtol=1e-9, atol=1e-9)
    assert float(rescale(torch.tensor(99.0), 0.0)) == pytest.approx(9.0)  # sqrt(100) - 1


def test_n_step_windows_stop_at_the_episode_end_and_keep_a_truncation_bootstrap():
    reward = torch.tensor([[1.0, 2.0, 3.0, 4.0, 0.0, 0.0]])
    mask = torch.tensor([[1.0, 1.0, 1.0, 1.0, 0.0, 0.0]])  # Four real steps, then padding.
    terminated = n_step_returns(reward, torch.tensor([[1.0, 1.0, 1.0, 0.0, 0.0, 0.0]]), mask, n=3, gamma=0.5)
    torch.testing.assert_close(terminated.reward[0, :4], torch.tensor([1 + 1 + 0.75, 2 + 1.5 + 1, 3 + 2, 4.0]))
    torch.testing.assert_close(terminated.discount[0, :4], torch.tensor([0.125, 0.0, 0.0, 0.0]))
    assert terminated.bootstrap_index[0, :4].tolist() == [3, 4, 4, 4]  # Index 4 is the LAST observation.
    truncated = n_step_returns(reward, torch.ones(1, 6), mask, n=3, gamma=0.5)
    torch.testing.assert_close(truncated.discount[0, :4], torch.tensor([0.125, 0.125, 0.25, 0.5]))


def _learner(burn_in=3, length=8, n_step=2):
    config = R2D2Config(sequence_length=length, sequence_period=4, burn_in=burn_in, n_step=n_step, core_size=8,
                        hidden_sizes=(8,), batch_size=2, min_replay_size=2)
    environment = make_batched_environment("gym:CartPoleNoVel-v1", num_envs=1, seed=0)
    spec = make_environment_spec(environment)
    network = R2D2Builder(config).make_networks(spec)["q"]
    return R2D2Learner(network, iter(()), config, torch.device("cpu")), spec


def _batch(length=8, starts_episode=(False, True), valid=(8, 8)):
    torch.manual_seed(1)
    step_type = torch.full((2, length + 1), MID, dtype=torch.int8)
    mask = torch.zeros(2, length)
    for row, (starts, count) in enumerate(zip(starts_episode, valid)):
        step_type[row, 0] = FIRST if starts else MID
        mask[row, :count] = 1.0
    return SequenceItem(observation=torch.randn(2, length + 1, 4, requires_grad=True),
                        action=torch.randint(0, 2, (2, length)), reward=torch.rand(2, length),
                        discount=torch.ones(2, length), step_type=step_type, mask=mask,
                        core_state=torch.randn(2, 16))


def test_burn_in_steps_get_no_gradient_unless_the_sequence_starts_its_episode():
    learner, _ = _learner(burn_in=3)
    batch = _batch()
    losses, _, weight = learner.losses(batch)
    losses.sum().backward()
    gradient = batch.observation.grad.abs().sum(-1)  # (2, L+1): what each step's input moved the loss.
    assert torch.all(gradient[0, :3] == 0) and torch.all(gradient[0, 3:8] > 0)  # Mid-episode: burn-in is inert.
    assert torch.all(gradient[1, :8] > 0)  # From the episode's start the state is exact: every step trains.
    assert weight[0].tolist() == [0, 0, 0, 1, 1, 1, 1, 1] and weight[1].tolist() == [1] * 8


def test_sequence_priorities_mix_the_max_and_the_mean_td_error_by_eta():
    learner, _ = _learner()
    td_error = torch.tensor([[0.0, 2.0, -4.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    weight = torch.tensor([[0.0, 1.0, 1.0, 0.0], [1.0, 1.0, 0.0, 0.0]])
    priorities = learner.sequence_priorities(td_error, weight)
    torch.testing.assert_close(priorities, torch.tensor([0.9 * 4 + 0.1 * 3, 1.0]))


def test_padding_after_an_episode_end_takes_no_part_in_the_loss():
    learner, _ = _learner(burn_in=0)
    batch = _batch(valid=(8, 3))
    losses, td_error, weight = learner.losses(batch)
    assert weight[1].tolist() == [1, 1, 1, 0, 0, 0, 0, 0] and torch.all(td_error[1, 3:] == 0)
    losses.sum().backward()
    assert torch.all(batch.observation.grad[1, 4:] == 0)  # Padding observations (after the LAST one) are inert.


def test_a_sequence_shorter_than_burn_in_plus_n_step_is_refused_before_anything_is_built():
    with pytest.raises(ValueError, match=r"sequence_length \(24\) must be at least burn_in \+ n_step \(20 \+ 5 = 25\)"):
        R2D2Config(sequence_length=24, burn_in=20, n_step=5)
    with pytest.raises(ValueError, match=r"core must be one of \('lstm', 'gru'\), got 'none'"):
        R2D2Config(core="none")


@pytest.mark.parametrize("field, value, message", [
    ("sequence_period", 81, r"sequence_period \(81\) must be <= sequence_length \(80\)"),
    ("burn_in", -1, r"burn_in must be >= 0, got -1"),
    ("priority_eta", 1.5, r"priority_eta must be in \[0, 1\], got 1.5"),
    ("rescaling_epsilon", -0.1, r"rescaling_epsilon must be >= 0, got -0.1"),
    ("core_size", 0, r"core_size must be >= 1, got 0"),
    ("after_core_sizes", (0,), r"after_core_sizes must be positive widths, got \(0,\)"),
])
def test_bad_r2d2_values_are_refused_naming_the_field_and_the_value(field, value, message):
    with pytest.raises(ValueError, match=message):
        R2D2Config(**{field: value})
