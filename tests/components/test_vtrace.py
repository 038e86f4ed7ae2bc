"""V-trace (`components.transforms.vtrace`) against a direct, slow reference: the sums of Espeholt et al.'s
definition, walked forwards from each step over windows with episode ends inside them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from components.transforms import gae, trajectory_masks, vtrace
from tests.components.test_transforms import ends, reference_n_step, window


def reference_vtrace(step_type, rewards, discounts, values, log_rhos, gamma, rho_bar, c_bar, lam):
    """vs_s = V_s + sum_{t=s}^{end} (prod_{i=s}^{t-1} gamma d_i c_i) delta_t, and the pg advantages."""
    T, B = rewards.shape
    ratio = np.exp(log_rhos)
    rho, c = np.minimum(rho_bar, ratio), lam * np.minimum(c_bar, ratio)
    vs, advantages = np.zeros((T, B)), np.zeros((T, B))
    for b, s in itertools.product(range(B), range(T)):
        total, scale = 0.0, 1.0
        for t in range(s, ends(step_type, s, b) + 1):
            delta = rho[t, b] * (rewards[t, b] + gamma * discounts[t, b] * values[t + 1, b] - values[t, b])
            total += scale * delta
            scale *= gamma * discounts[t, b] * c[t, b]
        vs[s, b] = values[s, b] + total
    for b, s in itertools.product(range(B), range(T)):
        inside = ends(step_type, s, b) > s  # The episode goes on to step s + 1 inside the window.
        following = vs[s + 1, b] if inside else values[s + 1, b]
        advantages[s, b] = rho[s, b] * (rewards[s, b] + gamma * discounts[s, b] * following - values[s, b])
    return vs, advantages


windows = st.tuples(st.integers(1, 12), st.integers(1, 4), st.integers(0, 2**32 - 1), st.sampled_from([0.0, 0.2, 0.5]))


@settings(max_examples=150, deadline=None)
@given(windows, st.sampled_from([0.0, 0.5, 0.99, 1.0]), st.sampled_from([(1.0, 1.0), (0.5, 2.0), (2.0, 0.7)]),
       st.sampled_from([1.0, 0.9]), st.integers(0, 2**32 - 1))
def test_vtrace_matches_the_direct_sums(spec, gamma, bars, lam, seed):
    step_type, rewards, discounts, values = window(*spec)
    log_rhos = np.random.default_rng(seed).normal(scale=1.0, size=rewards.shape)
    _, continues = trajectory_masks(step_type)
    vs, advantages = vtrace(rewards, discounts, values, continues, log_rhos, gamma, *bars, lam=lam)
    expected_vs, expected_advantages = reference_vtrace(step_type, rewards, discounts, values, log_rhos, gamma,
                                                        *bars, lam)
    valid = step_type[:-1] != 2  # Entries of ignored actions are meaningless.
    np.testing.assert_allclose(vs[valid], expected_vs[valid], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(advantages[valid], expected_advantages[valid], rtol=1e-9, atol=1e-9)


@settings(max_examples=100, deadline=None)
@given(windows, st.sampled_from([0.0, 0.9, 1.0]), st.sampled_from([1.0, 1.5]))
def test_on_policy_vtrace_is_the_n_step_return(spec, gamma, bar):
    step_type, rewards, discounts, values = window(*spec)
    valid, continues = trajectory_masks(torch.as_tensor(step_type))
    log_rhos = torch.zeros(rewards.shape, dtype=torch.float64)
    vs, advantages = vtrace(torch.as_tensor(rewards), torch.as_tensor(discounts), torch.as_tensor(values),
                            continues, log_rhos, gamma, rho_bar=bar, c_bar=bar)
    assert isinstance(vs, torch.Tensor) and vs.dtype == torch.float64
    expected = reference_n_step(step_type, rewards, discounts, values, gamma)
    np.testing.assert_allclose(vs.numpy(), expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(advantages.numpy(), expected - values[:-1], rtol=1e-9, atol=1e-9)
    gae_advantages, gae_returns = gae(rewards, discounts, values, continues.numpy(), gamma, 1.0)
    np.testing.assert_allclose(vs.numpy(), gae_returns, rtol=1e-9, atol=1e-9)


def test_clipping_by_hand():
    """One two-step window, no episode end: rho and c cut an importance ratio of e at rho_bar = c_bar = 1."""
    rewards, discounts = np.array([[1.0], [2.0]]), np.ones((2, 1))
    values, continues = np.array([[0.5], [1.0], [3.0]]), np.array([[True], [True]])
    log_rhos = np.array([[1.0], [np.log(0.5)]])
    vs, advantages = vtrace(rewards, discounts, values, continues, log_rhos, gamma=0.9)
    delta_1 = 0.5 * (2.0 + 0.9 * 3.0 - 1.0)  # rho_1 = 0.5
    delta_0 = 1.0 * (1.0 + 0.9 * 1.0 - 0.5)  # rho_0 = min(1, e) = 1
    np.testing.assert_allclose(vs[:, 0], [0.5 + delta_0 + 0.9 * 1.0 * delta_1, 1.0 + delta_1])
    np.testing.assert_allclose(advantages[:, 0], [1.0 + 0.9 * (1.0 + delta_1) - 0.5, 0.5 * (2.0 + 0.9 * 3.0 - 1.0)])


def test_shape_errors_name_the_argument():
    with pytest.raises(ValueError, match="log_rhos must have shape"):
        vtrace(np.zeros((3, 2)), np.ones((3, 2)), np.zeros((4, 2)), np.ones((3, 2)), np.zeros((3, 1)), 0.9)
