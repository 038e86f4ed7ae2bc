"""Tests for `components.transforms` against per-element Python reference loops.

Windows are generated with agentpipe's lane semantics: o_0 may be FIRST, MID
or LAST; after a LAST comes a FIRST (reward 0, discount 1); a LAST has
discount 0 (termination) or 1 (truncation). The references walk forwards from
each t to where the return stops, a different route from the implementation's
backward recursion.
"""

from __future__ import annotations

import itertools

import dm_env
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from components.transforms import (discounted_returns, gae, merge_time_and_batch,
                                   normalize_advantages, split_time_and_batch, swap_time_and_batch,
                                   trajectory_masks)

FIRST, MID, LAST = int(dm_env.StepType.FIRST), int(dm_env.StepType.MID), int(dm_env.StepType.LAST)


def window(T: int, B: int, seed: int, p_last: float):
    """step_type (T+1, B), rewards, discounts (T, B), values (T+1, B), as float64 numpy."""
    rng = np.random.default_rng(seed)
    step_type = np.zeros((T + 1, B), np.int8)
    rewards = rng.normal(size=(T, B))
    discounts = np.ones((T, B))
    for b in range(B):
        step_type[0, b] = rng.choice([FIRST, MID, LAST])
        for t in range(1, T + 1):
            previous = step_type[t - 1, b]
            if previous == LAST:
                step_type[t, b] = FIRST
                rewards[t - 1, b] = 0.0
            else:
                step_type[t, b] = LAST if rng.random() < p_last else MID
                if step_type[t, b] == LAST:
                    discounts[t - 1, b] = rng.choice([0.0, 1.0])  # Termination or truncation.
                else:
                    discounts[t - 1, b] = rng.choice([1.0, 1.0, 0.5])
    values = rng.normal(size=(T + 1, B))
    return step_type, rewards, discounts, values


def ends(step_type, t: int, b: int) -> int:
    """The last step k >= t a return from t runs through: the window's end or before o_{k+1} is not MID."""
    T = step_type.shape[0] - 1
    k = t
    while k < T - 1 and step_type[k + 1, b] == MID:
        k += 1
    return k


def reference_n_step(step_type, rewards, discounts, values, gamma):
    """G_t = sum_k s_k r_k + s_end V(o_end+1), with s_k the product of gamma d_j for j < k (closed form)."""
    T, B = rewards.shape
    out = np.zeros((T, B))
    for b, t in itertools.product(range(B), range(T)):
        end = ends(step_type, t, b)
        scales = np.cumprod(np.concatenate([[1.0], gamma * discounts[t:end + 1, b]]))
        out[t, b] = scales[:-1] @ rewards[t:end + 1, b] + scales[-1] * values[end + 1, b]
    return out


def reference_gae(step_type, rewards, discounts, values, gamma, lam):
    T, B = rewards.shape
    out = np.zeros((T, B))
    for b in range(B):
        for t in range(T):
            total, scale = 0.0, 1.0
            for k in range(t, ends(step_type, t, b) + 1):
                delta = rewards[k, b] + gamma * discounts[k, b] * values[k + 1, b] - values[k, b]
                total += scale * delta
                scale *= gamma * lam * discounts[k, b]
            out[t, b] = total
    return out


def reference_discounted(rewards, discounts, gamma):
    T, B = rewards.shape
    out = np.zeros((T, B))
    for b in range(B):
        for t in range(T):
            total, scale = 0.0, 1.0
            for k in range(t, T):
                total += scale * rewards[k, b]
                scale *= gamma * discounts[k, b]
            out[t, b] = total
    return out


windows = st.tuples(st.integers(1, 12), st.integers(1, 4), st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.2, 0.5]))
gammas = st.sampled_from([0.0, 0.5, 0.9, 1.0])


@settings(max_examples=150, deadline=None)
@given(windows, gammas)
def test_gae_with_lambda_one_returns_the_bootstrapped_returns(spec, gamma):
    step_type, rewards, discounts, values = window(*spec)
    valid, continues = trajectory_masks(torch.as_tensor(step_type))
    advantages, returns = gae(torch.as_tensor(rewards), torch.as_tensor(discounts), torch.as_tensor(values),
                              continues, gamma, 1.0)
    assert isinstance(returns, torch.Tensor) and returns.dtype == torch.float64
    expected = reference_n_step(step_type, rewards, discounts, values, gamma)
    np.testing.assert_allclose(returns.numpy(), expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(advantages.numpy(), expected - values[:-1], rtol=1e-9, atol=1e-9)


@settings(max_examples=150, deadline=None)
@given(windows, gammas, st.sampled_from([0.0, 0.5, 0.95, 1.0]))
def test_gae_matches_the_reference(spec, gamma, lam):
    step_type, rewards, discounts, values = window(*spec)
    _, continues = trajectory_masks(step_type)
    advantages, returns = gae(rewards, discounts, values, continues, gamma, lam)
    assert isinstance(advantages, np.ndarray)
    np.testing.assert_allclose(advantages, reference_gae(step_type, rewards, discounts, values, gamma, lam),
                               rtol=1e-10, atol=1e-10)
    np.testing.assert_allclose(returns, advantages + values[:-1], rtol=1e-12, atol=1e-12)


@settings(max_examples=100, deadline=None)
@given(windows, gammas)
def test_discounted_returns_match_the_reference(spec, gamma):
    _, rewards, discounts, _ = window(*spec)
    np.testing.assert_allclose(discounted_returns(rewards, discounts, gamma),
                               reference_discounted(rewards, discounts, gamma), rtol=1e-10, atol=1e-10)


@settings(max_examples=50, deadline=None)
@given(windows, gammas)
def test_numpy_and_torch_inputs_give_the_same_numbers_in_their_own_kind(spec, gamma):
    step_type, rewards, discounts, values = (x.astype(np.float32) if x.dtype == np.float64 else x
                                             for x in window(*spec))
    _, continues = trajectory_masks(step_type)
    assert isinstance(continues, np.ndarray)
    as_numpy = gae(rewards, discounts, values, continues, gamma, 0.9)
    as_torch = gae(*(torch.as_tensor(x) for x in (rewards, discounts, values, continues)), gamma, 0.9)
    mixed = gae(rewards, discounts, torch.as_tensor(values).requires_grad_(), continues, gamma, 0.9)
    for a, b, c in zip(as_numpy, as_torch, mixed):
        assert isinstance(a, np.ndarray) and a.dtype == np.float32 and isinstance(b, torch.Tensor)
        np.testing.assert_allclose(a, b.numpy(), rtol=1e-5, atol=1e-5)
        np.testing.assert_array_equal(a, c)


def test_boundaries_by_hand():
    # One lane, T = 5: FIRST MID LAST(terminated) FIRST MID LAST(truncated); gamma = 0.5.
    step_type = np.array([[FIRST], [MID], [LAST], [FIRST], [MID], [LAST]], np.int8)
    rewards = np.array([[1.0], [2.0], [0.0], [4.0], [8.0]])
    discounts = np.array([[1.0], [0.0], [1.0], [1.0], [1.0]])
    values = np.array([[10.0], [20.0], [30.0], [40.0], [50.0], [60.0]])
    valid, continues = trajectory_masks(step_type)
    np.testing.assert_array_equal(valid[:, 0], [True, True, False, True, True])
    np.testing.assert_array_equal(continues[:, 0], [True, False, False, True, False])
    _, returns = gae(rewards, discounts, values, continues, 0.5, 1.0)
    # t=1: 2 + 0.5*0*V = 2; t=0: 1 + 0.5*2 = 2; t=4: 8 + 0.5*60 = 38 (truncation bootstraps); t=3: 4 + 0.5*38 = 23.
    np.testing.assert_allclose(returns[valid], [2.0, 2.0, 23.0, 38.0])
    advantages, _ = gae(rewards, discounts, values, continues, 0.5, 0.0)  # lam=0: one-step TD errors.
    np.testing.assert_allclose(advantages[valid], [1 + 10 - 10, 2 - 20, 4 + 25 - 40, 8 + 30 - 50])
    np.testing.assert_allclose(discounted_returns(rewards[:2], discounts[:2], 0.5)[:, 0], [2.0, 2.0])


def test_window_end_bootstraps_from_the_last_value():
    rewards, discounts = torch.ones(3, 1), torch.ones(3, 1)
    continues = torch.ones(3, 1, dtype=torch.bool)
    _, returns = gae(rewards, discounts, torch.tensor([[0.0], [0.0], [0.0], [8.0]]), continues, 0.5, 1.0)
    torch.testing.assert_close(returns[:, 0], torch.tensor([1.75 + 1.0, 1.5 + 2.0, 1.0 + 4.0]))


def test_gradients_flow_through_values():
    values = torch.randn(4, 2, requires_grad=True)
    advantages, returns = gae(torch.ones(3, 2), torch.ones(3, 2), values, torch.ones(3, 2), 0.9, 0.9)
    (advantages.sum() + returns.sum()).backward()
    assert values.grad is not None


def test_shape_errors_name_expected_and_actual():
    with pytest.raises(ValueError, match=r"gae: values must have shape \(4, 2\) .* got \(3, 2\)"):
        gae(np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((3, 2)), 0.9, 0.9)
    with pytest.raises(ValueError, match=r"gae: continues must have shape \(3, 2\)"):
        gae(np.zeros((3, 2)), np.zeros((3, 2)), np.zeros((4, 2)), np.zeros((3,)), 0.9, 0.9)
    with pytest.raises(ValueError, match=r"step_type must be \(T\+1, \.\.\.\) with T >= 1"):
        trajectory_masks(np.zeros((1, 2), np.int8))


@settings(max_examples=50, deadline=None)
@given(st.integers(0, 2**32 - 1), st.integers(1, 30), st.booleans())
def test_normalize_advantages(seed, size, with_mask):
    rng = np.random.default_rng(seed)
    advantages = rng.normal(3.0, 2.0, size=(size,))
    mask = rng.random(size) < 0.6 if with_mask else np.ones(size, bool)
    out = normalize_advantages(torch.as_tensor(advantages), torch.as_tensor(mask) if with_mask else None)
    chosen = advantages[mask]
    if len(chosen):
        expected = (chosen - chosen.mean()) / (chosen.std() + 1e-8)
        np.testing.assert_allclose(out.numpy()[mask], expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_array_equal(out.numpy()[~mask], 0.0)


def test_normalize_advantages_edge_cases():
    np.testing.assert_array_equal(normalize_advantages(np.array([5.0])), [0.0])
    np.testing.assert_array_equal(normalize_advantages(np.array([5.0, 6.0]), np.array([False, False])), [0, 0])
    with pytest.raises(ValueError, match=r"mask has shape \(3,\), advantages \(2,\)"):
        normalize_advantages(np.zeros(2), np.ones(3, bool))


def test_merge_split_and_swap():
    nest = {"obs": torch.arange(24.0).reshape(3, 2, 4), "action": np.arange(6).reshape(3, 2)}
    merged = merge_time_and_batch(nest)
    assert merged["obs"].shape == (6, 4) and merged["action"].shape == (6,)
    torch.testing.assert_close(merged["obs"][1], nest["obs"][0, 1])  # Row t * B + b.
    back = split_time_and_batch(merged, 3)
    torch.testing.assert_close(back["obs"], nest["obs"])
    np.testing.assert_array_equal(back["action"], nest["action"])
    swapped = swap_time_and_batch(nest)
    assert swapped["obs"].shape == (2, 3, 4) and swapped["action"].shape == (2, 3)
    np.testing.assert_array_equal(swapped["action"][1], nest["action"][:, 1])
    with pytest.raises(ValueError, match="not a multiple of time=4"):
        split_time_and_batch(merged, 4)
    with pytest.raises(ValueError, match=r"need \(T, B, \.\.\.\) shapes"):
        merge_time_and_batch(np.zeros(3))
