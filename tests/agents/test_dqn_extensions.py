"""C51 and prioritized replay inside the DQN learner, and the presets that combine them."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from agents.dqn.config import DQNConfig
from agents.dqn.learning import DQNLearner, categorical_projection
from agents.dqn.networks import DistributionalQNetwork, make_q_network
from components.prioritized_replay import PrioritizedReplay
from components.specs import EnvironmentSpec
from components.types import Transition, transition_spec
from dm_env import specs

CPU = torch.device("cpu")
SPEC = EnvironmentSpec(observations=specs.Array((3,), np.float32, "observation"),
                       actions=specs.DiscreteArray(2, dtype=np.int64, name="action"),
                       rewards=specs.Array((), np.float32, "reward"),
                       discounts=specs.BoundedArray((), np.float32, 0.0, 1.0, "discount"))



def reference_projection(values: np.ndarray, probabilities: np.ndarray, support: np.ndarray) -> np.ndarray:
    """Algorithm 1 of Bellemare et al. (2017), one atom at a time."""
    v_min, v_max, k = support[0], support[-1], len(support)
    delta = (v_max - v_min) / (k - 1)
    out = np.zeros_like(probabilities, dtype=np.float64)
    for b in range(values.shape[0]):
        for j in range(k):
            position = (min(max(values[b, j], v_min), v_max) - v_min) / delta
            low, high = int(np.floor(position)), int(np.ceil(position))
            if low == high:
                out[b, low] += probabilities[b, j]
            else:
                out[b, low] += probabilities[b, j] * (high - position)
                out[b, high] += probabilities[b, j] * (position - low)
    return out


@settings(max_examples=60, deadline=None)
@given(data=st.data(), k=st.integers(3, 11), batch=st.integers(1, 4))
def test_projection_matches_the_papers_algorithm_and_keeps_mass(data, k, batch):
    support = np.linspace(-2.0, 3.0, k)
    values = data.draw(hnp.arrays(np.float64, (batch, k), elements=st.floats(-5, 6)))
    weights = data.draw(hnp.arrays(np.float64, (batch, k), elements=st.floats(0.01, 1.0)))
    probabilities = weights / weights.sum(-1, keepdims=True)
    got = categorical_projection(torch.tensor(values), torch.tensor(probabilities), torch.tensor(support)).numpy()
    np.testing.assert_allclose(got, reference_projection(values, probabilities, support), atol=1e-9)
    np.testing.assert_allclose(got.sum(-1), 1.0, atol=1e-9)


def test_projection_of_the_support_itself_is_the_identity():
    support = torch.linspace(-10, 10, 51)
    probabilities = torch.softmax(torch.randn(4, 51, dtype=torch.float64), -1).float()
    got = categorical_projection(support.expand(4, 51), probabilities, support)
    torch.testing.assert_close(got, probabilities)


@pytest.mark.parametrize("dueling", [False, True])
def test_distributional_network_q_is_the_mean_of_its_distribution(dueling):
    network = make_q_network(SPEC, (16,), dueling=dueling, num_atoms=11, v_min=-1.0, v_max=1.0)
    assert isinstance(network, DistributionalQNetwork)
    observation = torch.randn(5, 3)
    logits = network.logits(observation)
    assert logits.shape == (5, 2, 11)
    expected = (logits.softmax(-1) * torch.linspace(-1, 1, 11)).sum(-1)
    torch.testing.assert_close(network(observation), expected)


def _batch(size: int = 8, seed: int = 0) -> Transition:
    rng = np.random.default_rng(seed)
    return Transition(observation=rng.normal(size=(size, 3)).astype(np.float32),
                      action=rng.integers(0, 2, size).astype(np.int64),
                      reward=rng.normal(size=size).astype(np.float32),
                      discount=np.where(rng.random(size) < 0.3, 0.0, 0.99).astype(np.float32),
                      next_observation=rng.normal(size=(size, 3)).astype(np.float32))


def test_c51_learner_fits_a_fixed_return_distribution():
    """One state, one action, reward +1 or -1 at random, no bootstrap: the learnt mean goes to 0.5."""
    torch.manual_seed(0)
    config = DQNConfig(num_atoms=9, v_min=-2.0, v_max=2.0, learning_rate=1e-2, batch_size=64,
                       min_replay_size=64, hidden_sizes=(16,))
    network = make_q_network(SPEC, config.hidden_sizes, num_atoms=9, v_min=-2.0, v_max=2.0)
    rng = np.random.default_rng(0)

    def batches():
        while True:
            rewards = np.where(rng.random(64) < 0.75, 1.0, -1.0).astype(np.float32)
            yield Transition(np.ones((64, 3), np.float32), np.zeros(64, np.int64), rewards,
                             np.zeros(64, np.float32), np.ones((64, 3), np.float32))

    learner = DQNLearner(network, batches(), config, CPU)
    for _ in range(300):
        learner.step()
    with torch.no_grad():
        probabilities = network.logits(torch.ones(1, 3))[0, 0].softmax(-1).numpy()
    support = np.linspace(-2, 2, 9)
    assert probabilities[support == 1.0][0] == pytest.approx(0.75, abs=0.06)
    assert probabilities[support == -1.0][0] == pytest.approx(0.25, abs=0.06)
    with torch.no_grad():
        assert float(network(torch.ones(1, 3))[0, 0]) == pytest.approx(0.5, abs=0.12)


def _prioritized(size=64, seed=0) -> PrioritizedReplay:
    replay = PrioritizedReplay(transition_spec(SPEC), 128, seed=seed, alpha=1.0)
    replay.insert(_batch(size, seed))
    return replay


@pytest.mark.parametrize("num_atoms", [1, 11])
def test_prioritized_learner_writes_new_priorities_back(num_atoms):
    torch.manual_seed(0)
    replay = _prioritized()
    config = DQNConfig(prioritized=True, num_atoms=num_atoms, batch_size=16, min_replay_size=16, hidden_sizes=(8,))
    network = make_q_network(SPEC, (8,), num_atoms=num_atoms)
    samples = []

    def iterator():
        while True:
            samples.append(replay.sample(16))
            yield samples[-1]

    updates = []
    learner = DQNLearner(network, iterator(), config, CPU,
                         priority_updater=lambda keys, p: (updates.append((keys, p)), replay.update_priorities(keys, p)))
    metrics = learner.step()
    keys, priorities = updates[0]
    np.testing.assert_array_equal(keys, samples[0].keys)
    assert priorities.shape == (16,) and np.all(priorities >= 0) and np.any(priorities != 1.0)
    assert "importance_weight_mean" in metrics
    # The replay now samples by the new priorities: alpha 1 -> proportional to |TD| (+ epsilon).
    np.testing.assert_allclose(replay._tree.get(keys), np.abs(priorities) + 1e-6, rtol=1e-5)


def test_importance_weights_scale_the_loss():
    """The weighted loss equals mean(w_i * l_i), w_i = (P_i / min P)^-beta with beta of the learner's step."""
    torch.manual_seed(0)
    network = make_q_network(SPEC, (8,))
    config = DQNConfig(prioritized=True, batch_size=8, min_replay_size=8, hidden_sizes=(8,), loss="mse",
                       importance_sampling_exponent=0.5, importance_sampling_anneal_steps=0)  # beta = 1.
    batch = _batch(8)
    probabilities = np.linspace(0.1, 1.0, 8) / np.linspace(0.1, 1.0, 8).sum()
    weights = (probabilities.min() / probabilities).astype(np.float32)
    from components.types import PrioritizedSample

    sample = PrioritizedSample(batch, np.arange(8), probabilities)
    learner = DQNLearner(network, itertools.repeat(sample), config, CPU)
    with torch.no_grad():
        t = learner._to_device(batch)
        losses, _, _ = learner._scalar_losses(t)
    expected = float((losses * torch.as_tensor(weights)).mean())
    assert float(learner.step()["loss"]) == pytest.approx(expected, rel=1e-5)


@pytest.mark.parametrize("num_atoms", [1, 11])
def test_bfloat16_precision_tracks_float32_and_keeps_float32_state(num_atoms):
    """bf16 autocast changes only the network arithmetic: parameters stay float32 and a step's loss is close."""
    batch = _batch(16)
    losses = {}
    for precision in ("float32", "bfloat16"):
        torch.manual_seed(0)
        network = make_q_network(SPEC, (16,), num_atoms=num_atoms)
        config = DQNConfig(precision=precision, num_atoms=num_atoms, batch_size=16, min_replay_size=16,
                           hidden_sizes=(16,))
        learner = DQNLearner(network, itertools.repeat(batch), config, CPU)
        losses[precision] = float(learner.step()["loss"])
        assert all(p.dtype == torch.float32 for p in network.parameters())
    assert losses["bfloat16"] == pytest.approx(losses["float32"], rel=0.05)


def test_unknown_precision_is_rejected():
    with pytest.raises(ValueError, match=r"precision must be one of \('float32', 'bfloat16'\), got 'fp8'"):
        DQNConfig(precision="fp8")


@pytest.mark.parametrize("overrides,message", [
    ({"num_atoms": 51, "v_min": 5.0, "v_max": 5.0}, r"v_min < v_max, got v_min=5.0, v_max=5.0"),
    ({"importance_sampling_exponent": 1.5}, r"importance_sampling_exponent must be in \[0, 1\], got 1.5"),
    ({"importance_sampling_anneal_steps": -1}, r"importance_sampling_anneal_steps must be >= 0, got -1"),
    ({"priority_exponent": -0.1}, r"priority_exponent must be in \[0, 1\], got -0.1"),
])
def test_dqn_extension_settings_are_range_checked(overrides, message):
    with pytest.raises(ValueError, match=message):
        DQNConfig(**overrides)
