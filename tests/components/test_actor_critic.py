"""Tests for policy heads, action distributions, actor-critic networks and StochasticPolicy."""

from __future__ import annotations

import math
import pickle

import dm_env
import numpy as np
import pytest
import torch
from dm_env import specs
from torch import distributions as D
from torch import nn

from components.actor_critic import (
    LOG_STD_MAX,
    ActorCriticNetwork,
    CategoricalHead,
    GaussianHead,
    PolicyNetwork,
    make_actor_critic,
    make_policy_head,
    make_policy_network,
)
from components.distributions import CategoricalDistribution, ClippedGaussian, TanhGaussian
from components.actors import FeedForwardActor, StochasticPolicy
from components.networks import GridConvTorso, NatureCNN
from components.specs import EnvironmentSpec
from components.types import PolicyOutput

REWARD = specs.Array((), np.float32, "reward")
DISCOUNT = specs.BoundedArray((), np.float32, 0.0, 1.0, "discount")
VECTOR_OBS = specs.Array((5,), np.float32, "observation")
DISCRETE = specs.DiscreteArray(4, name="action")  # dtype int32, dm_env's default.
BOX = specs.BoundedArray((2,), np.float32, minimum=[-1.0, 0.0], maximum=[1.0, 5.0], name="action")
GAUSSIAN_KINDS = [(log_std, squash) for log_std in ("state", "parameter") for squash in ("clip", "tanh")]


def env_spec(actions: specs.Array, observations: specs.Array = VECTOR_OBS) -> EnvironmentSpec:
    return EnvironmentSpec(observations, actions, REWARD, DISCOUNT)


def observations(n: int, spec: specs.Array = VECTOR_OBS, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    if spec.dtype == np.uint8:
        return rng.integers(0, 256, size=(n, *spec.shape), dtype=np.uint8)
    return rng.normal(size=(n, *spec.shape)).astype(spec.dtype)


def assert_in_box(actions: np.ndarray, box: specs.BoundedArray) -> None:
    assert actions.dtype == box.dtype
    assert np.all(actions >= box.minimum) and np.all(actions <= box.maximum), actions
    box.validate(actions[0])


# ----------------------------------------------------------------------------
# Shapes and dtypes through StochasticPolicy.
# ----------------------------------------------------------------------------


def test_discrete_actions_and_extras():
    network = make_actor_critic(env_spec(DISCRETE), (16,))
    output = StochasticPolicy(network, seed=0)(observations(6))
    assert isinstance(output, PolicyOutput)
    assert output.action.shape == (6,) and output.action.dtype == DISCRETE.dtype
    assert np.all((0 <= output.action) & (output.action < 4))
    extras = output.extras
    assert set(extras) == {"raw_action", "log_prob", "value"}
    assert extras["raw_action"].dtype == np.int64
    np.testing.assert_array_equal(extras["raw_action"], output.action)  # raw == env action.
    assert extras["log_prob"].shape == (6,) and extras["log_prob"].dtype == np.float32
    assert extras["value"].shape == (6,) and extras["value"].dtype == np.float32
    assert np.all(extras["log_prob"] <= 0)


@pytest.mark.parametrize("log_std,squash", GAUSSIAN_KINDS)
def test_continuous_actions_and_extras(log_std, squash):
    network = make_actor_critic(env_spec(BOX), (16,), log_std=log_std, squash=squash)
    assert isinstance(network.policy_head, GaussianHead)
    output = StochasticPolicy(network, seed=0)(observations(7))
    assert output.action.shape == (7, 2)
    assert_in_box(output.action, BOX)
    assert output.extras["raw_action"].shape == (7, 2) and output.extras["raw_action"].dtype == np.float32
    assert output.extras["log_prob"].shape == (7,) and output.extras["log_prob"].dtype == np.float32
    assert output.extras["value"].shape == (7,) and output.extras["value"].dtype == np.float32
    assert np.all(np.isfinite(output.extras["log_prob"]))


@pytest.mark.parametrize("log_std,squash", GAUSSIAN_KINDS)
def test_env_actions_stay_in_bounds_far_outside_the_box(log_std, squash):
    network = make_actor_critic(env_spec(BOX), (8,), log_std=log_std, squash=squash, init_log_std=LOG_STD_MAX)
    with torch.no_grad():  # Means far outside the box on both sides, wide stds.
        network.policy_head.mean.bias.copy_(torch.tensor([50.0, -50.0]))
    policy = StochasticPolicy(network, seed=1)
    actions = np.concatenate([policy(observations(200, seed=s)).action for s in range(3)])
    assert_in_box(actions, BOX)
    assert np.any(actions[:, 0] == 1.0) and np.any(actions[:, 1] == 0.0)  # Saturated at the bounds.
    network.policy_head.mean.bias.data.neg_()
    assert_in_box(policy(observations(200)).action, BOX)


def test_float64_actions_are_clamped_after_the_cast():
    # float32(0.3) > 0.3: a float32 clamp cast to float64 would leave the box.
    box = specs.BoundedArray((1,), np.float64, minimum=-0.3, maximum=0.3)
    for squash in ("clip", "tanh"):
        network = make_actor_critic(env_spec(box), (8,), squash=squash)
        with torch.no_grad():
            network.policy_head.mean.bias.fill_(100.0)
        action = StochasticPolicy(network, seed=0, deterministic=True)(observations(3)).action
        assert_in_box(action, box)
        np.testing.assert_array_equal(action, 0.3)


@pytest.mark.parametrize("shape,torso_type", [((4, 84, 84), NatureCNN), ((3, 7, 7), GridConvTorso)])
@pytest.mark.parametrize("shared", [True, False])
def test_pixel_observations(shape, torso_type, shared):
    pixels = specs.Array(shape, np.uint8, "pixels")
    network = make_actor_critic(env_spec(DISCRETE, pixels), (32,), shared=shared)
    assert any(isinstance(m, torso_type) for m in network.actor_torso.modules())
    output = StochasticPolicy(network, seed=0)(observations(3, pixels))
    assert output.action.shape == (3,) and output.extras["value"].shape == (3,)
    distribution, value = network(torch.as_tensor(observations(3, pixels)))
    assert distribution.logits.shape == (3, 4) and value.shape == (3,)


def test_policy_network_has_no_value_extra():
    network = make_policy_network(env_spec(BOX), (8,), squash="tanh")
    assert isinstance(network, PolicyNetwork)
    assert not any("value" in name for name, _ in network.named_parameters())
    output = StochasticPolicy(network, seed=0)(observations(4))
    assert set(output.extras) == {"raw_action", "log_prob"}
    assert_in_box(output.action, BOX)


def test_feed_forward_actor_passes_the_extras_to_the_adder():
    class RecordingAdder:
        def __init__(self) -> None:
            self.extras: list = []

        def add_first(self, timestep) -> None:
            pass

        def add(self, action, next_timestep, extras=()) -> None:
            self.extras.append(extras)

    adder = RecordingAdder()
    actor = FeedForwardActor(StochasticPolicy(make_actor_critic(env_spec(DISCRETE), (8,)), seed=0), adder)
    obs = observations(2)
    action = actor.select_action(obs)
    actor.observe(action, dm_env.transition(np.zeros(2), obs))
    np.testing.assert_array_equal(adder.extras[0]["raw_action"], action)
    assert adder.extras[0]["log_prob"].shape == (2,)


# ----------------------------------------------------------------------------
# Distribution math against torch.distributions.
# ----------------------------------------------------------------------------


def random_gaussian(kind, batch: int = 6, size: int = 3, dtype=torch.float64, seed: int = 0):
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(batch, size, generator=g, dtype=dtype)
    log_std = torch.rand(batch, size, generator=g, dtype=dtype) - 1.0
    low = torch.tensor([-1.0, 0.0, -3.0], dtype=dtype)[:size]
    high = torch.tensor([1.0, 5.0, -2.0], dtype=dtype)[:size]
    return kind(mean, log_std, low, high), mean, log_std.exp(), low, high


def test_categorical_log_prob_and_entropy_match_torch():
    logits = torch.randn(5, 4, generator=torch.Generator().manual_seed(0))
    distribution = CategoricalDistribution(logits)
    reference = D.Categorical(logits=logits)
    actions = torch.tensor([0, 3, 1, 2, 3])
    torch.testing.assert_close(distribution.log_prob(actions), reference.log_prob(actions))
    torch.testing.assert_close(distribution.entropy(), reference.entropy())
    torch.testing.assert_close(distribution.mode(), logits.argmax(-1))


def test_clipped_gaussian_log_prob_and_entropy_are_the_normals():
    distribution, mean, std, _, _ = random_gaussian(ClippedGaussian)
    reference = D.Normal(mean, std)
    raw = torch.randn(6, 3, dtype=torch.float64) * 3  # Also outside the box: unclipped raw values.
    torch.testing.assert_close(distribution.log_prob(raw), reference.log_prob(raw).sum(-1))
    torch.testing.assert_close(distribution.entropy(), reference.entropy().sum(-1))
    assert distribution.log_prob(raw).shape == distribution.entropy().shape == (6,)


def test_tanh_log_prob_matches_transformed_distribution():
    distribution, mean, std, low, high = random_gaussian(TanhGaussian)
    reference = D.TransformedDistribution(
        D.Normal(mean, std), [D.TanhTransform(), D.AffineTransform((high + low) / 2, (high - low) / 2)])
    raw = distribution.sample(torch.Generator().manual_seed(1))
    action = (high + low) / 2 + (high - low) / 2 * torch.tanh(raw)
    torch.testing.assert_close(distribution.log_prob(raw), reference.log_prob(action).sum(-1))
    torch.testing.assert_close(distribution.to_env_action(raw), action)
    # The entropy is the base Normal's (documented approximation).
    torch.testing.assert_close(distribution.entropy(), D.Normal(mean, std).entropy().sum(-1))


def test_tanh_log_prob_is_a_density_over_the_box():
    # 1-D: integrate exp(log_prob) over env actions y in [low, high] (u = atanh of the rescaled y).
    low, high, mean, log_std = -1.0, 5.0, 0.4, -0.5

    def tanh_gaussian(batch: int) -> TanhGaussian:
        f64 = lambda x: torch.full((batch, 1), x, dtype=torch.float64)  # noqa: E731
        return TanhGaussian(f64(mean), f64(log_std), f64(low)[0], f64(high)[0])

    y = torch.linspace(low, high, 200_001, dtype=torch.float64)[1:-1]
    u = torch.atanh((2 * y - (high + low)) / (high - low)).unsqueeze(-1)
    density = tanh_gaussian(len(y)).log_prob(u).exp()
    assert torch.trapezoid(density, y).item() == pytest.approx(1.0, abs=1e-3)
    # Monte Carlo: the fraction of sampled env actions below a threshold matches the integrated density.
    distribution = tanh_gaussian(20_000)
    actions = distribution.to_env_action(distribution.sample(torch.Generator().manual_seed(0))).flatten()
    below = y <= 2.0
    assert (actions <= 2.0).double().mean().item() == pytest.approx(
        torch.trapezoid(density[below], y[below]).item(), abs=0.015)


def test_tanh_log_prob_is_finite_where_tanh_saturates():
    distribution, *_ = random_gaussian(TanhGaussian, dtype=torch.float32)
    raw = torch.full((6, 3), 30.0)  # tanh(30) == 1.0 in float32.
    assert torch.all(torch.isfinite(distribution.log_prob(raw)))


def test_sampling_statistics():
    g = torch.Generator().manual_seed(0)
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    categorical = CategoricalDistribution(probs.log().expand(20_000, 4))
    counts = torch.bincount(categorical.sample(g), minlength=4).double() / 20_000
    torch.testing.assert_close(counts, probs.double(), atol=0.015, rtol=0)
    gaussian = ClippedGaussian(torch.full((20_000, 2), 0.5), torch.full((20_000, 2), math.log(2.0)),
                               torch.full((2,), -1.0), torch.full((2,), 1.0))
    samples = gaussian.sample(g)
    torch.testing.assert_close(samples.mean(0), torch.full((2,), 0.5), atol=0.05, rtol=0)
    torch.testing.assert_close(samples.std(0), torch.full((2,), 2.0), atol=0.05, rtol=0)


def test_numpy_categorical_draws_follow_the_probabilities_and_report_their_log_probs():
    probs = torch.tensor([0.1, 0.2, 0.3, 0.4])
    categorical = CategoricalDistribution(probs.log().expand(20_000, 4))
    raw, log_prob = categorical.sample_numpy(np.random.default_rng(0))
    assert raw.dtype == np.int64 and log_prob.dtype == np.float32 and raw.shape == log_prob.shape == (20_000,)
    np.testing.assert_allclose(np.bincount(raw, minlength=4) / 20_000, probs.numpy(), atol=0.015)
    np.testing.assert_allclose(log_prob, categorical.log_prob(torch.as_tensor(raw)).numpy(), rtol=1e-6)
    certain = CategoricalDistribution(torch.tensor([[0.0, -1e9, -1e9], [-1e9, -1e9, 0.0]]).expand(500, 2, 3))
    np.testing.assert_array_equal(certain.sample_numpy(np.random.default_rng(1))[0], np.tile([0, 2], (500, 1)))


def test_log_prob_and_entropy_are_differentiable():
    network = make_actor_critic(env_spec(BOX), (8,), log_std="state", squash="tanh")
    obs = torch.as_tensor(observations(4))
    distribution, value = network(obs)
    raw = distribution.sample()
    assert not raw.requires_grad
    (distribution.log_prob(raw).sum() + distribution.entropy().sum() + value.sum()).backward()
    for name, parameter in network.named_parameters():
        assert parameter.grad is not None and torch.any(parameter.grad != 0), name


def test_log_std_is_clamped():
    head = GaussianHead(3, 2, log_std="parameter", minimum=-1, maximum=1)
    with torch.no_grad():
        head.log_std.fill_(100.0)
    torch.testing.assert_close(head(torch.zeros(1, 3)).stddev, torch.full((1, 2), math.exp(LOG_STD_MAX)))
    state_head = GaussianHead(3, 2, log_std="state", minimum=-1, maximum=1)
    with torch.no_grad():
        state_head.log_std.bias.fill_(-100.0)
    assert torch.all(state_head(torch.zeros(1, 3)).stddev > 0)


# ----------------------------------------------------------------------------
# Deterministic and seeded sampling.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("actions", [DISCRETE, BOX], ids=["discrete", "box"])
@pytest.mark.parametrize("squash", ["clip", "tanh"])
def test_deterministic_policy_returns_the_mode(actions, squash):
    network = make_actor_critic(env_spec(actions), (8,), squash=squash)
    with torch.no_grad():  # Make the mode informative.
        network.policy_head.apply(lambda m: nn.init.normal_(m.weight) if isinstance(m, nn.Linear) else None)
    obs = observations(5)
    policy = StochasticPolicy(network, seed=0, deterministic=True)
    first, second = policy(obs), StochasticPolicy(network, seed=99, deterministic=True)(obs)
    np.testing.assert_array_equal(first.action, second.action)
    np.testing.assert_array_equal(first.action, policy(obs).action)
    distribution = network.policy(torch.as_tensor(obs))
    with torch.no_grad():
        mode = distribution.mode()
        np.testing.assert_array_equal(first.extras["raw_action"], mode.numpy())
        np.testing.assert_array_equal(first.action, distribution.to_env_action(mode).numpy())
        np.testing.assert_allclose(first.extras["log_prob"], distribution.log_prob(mode).numpy(), rtol=1e-6)
    if actions is DISCRETE:
        np.testing.assert_array_equal(first.action, distribution.logits.argmax(-1).numpy())


@pytest.mark.parametrize("actions", [DISCRETE, BOX], ids=["discrete", "box"])
def test_seeded_sampling_is_reproducible(actions):
    network = make_actor_critic(env_spec(actions), (8,))
    obs = observations(50)
    a, b, c = (StochasticPolicy(network, seed=s) for s in (3, 3, 4))
    first_a, first_b, first_c = a(obs), b(obs), c(obs)
    np.testing.assert_array_equal(first_a.action, first_b.action)
    np.testing.assert_array_equal(first_a.extras["log_prob"], first_b.extras["log_prob"])
    assert not np.array_equal(first_a.extras["raw_action"], first_c.extras["raw_action"])
    assert not np.array_equal(first_a.extras["raw_action"], a(obs).extras["raw_action"])  # The stream moves on.


@pytest.mark.parametrize("actions", [DISCRETE, BOX], ids=["discrete", "box"])
def test_save_restore_resumes_the_sample_stream(actions):
    network = make_actor_critic(env_spec(actions), (8,))
    obs = observations(10)
    policy = StochasticPolicy(network, seed=5)
    policy(obs)
    state = pickle.loads(pickle.dumps(policy.save()))
    expected = policy(obs).extras["raw_action"]
    restored = StochasticPolicy(network, seed=123)
    restored.restore(state)
    np.testing.assert_array_equal(restored(obs).extras["raw_action"], expected)


# ----------------------------------------------------------------------------
# Initialisation and parameter sharing.
# ----------------------------------------------------------------------------


def test_init_gains_and_near_uniform_logits():
    network = make_actor_critic(env_spec(DISCRETE), (64, 64))
    head = network.policy_head.logits
    # Orthogonal rows (out < in) scaled by the gain.
    torch.testing.assert_close(head.weight @ head.weight.T, 0.01**2 * torch.eye(4), atol=1e-7, rtol=0)
    value = network.value_head.weight
    torch.testing.assert_close(value.norm(), torch.tensor(1.0))
    first = network.actor_torso[1][0]  # Encoder, then the MLP's first Linear (64 x 5).
    torch.testing.assert_close(first.weight.T @ first.weight, 2.0 * torch.eye(5), atol=1e-5, rtol=0)
    for name, parameter in network.named_parameters():
        if name.endswith("bias"):
            assert torch.all(parameter == 0), name
    probs = network.policy(torch.as_tensor(observations(100))).probs
    torch.testing.assert_close(probs, torch.full_like(probs, 0.25), atol=0.02, rtol=0)


@pytest.mark.parametrize("log_std", ["state", "parameter"])
def test_gaussian_init_starts_near_zero_mean_with_init_log_std(log_std):
    network = make_actor_critic(env_spec(BOX), (32,), log_std=log_std, init_log_std=-0.5)
    distribution = network.policy(torch.as_tensor(observations(20)))
    assert distribution.mean.abs().max().item() < 0.1
    torch.testing.assert_close(distribution.stddev, torch.full((20, 2), math.exp(-0.5)), atol=0.05, rtol=0)


def _grad_names(network: nn.Module) -> set[str]:
    return {name for name, p in network.named_parameters() if p.grad is not None and torch.any(p.grad != 0)}


def test_shared_torso_serves_both_heads():
    network = make_actor_critic(env_spec(DISCRETE), (16,), shared=True)
    assert network.shared and network.critic_torso is None
    obs = torch.as_tensor(observations(8))
    network(obs)[1].sum().backward()  # Value loss only.
    names = _grad_names(network)
    assert any(n.startswith("actor_torso.") for n in names) and "value_head.weight" in names
    assert not any(n.startswith("policy_head.") for n in names)


def test_separate_torsos_share_nothing():
    shared = make_actor_critic(env_spec(DISCRETE), (16,), shared=True)
    separate = make_actor_critic(env_spec(DISCRETE), (16,), shared=False)
    assert not separate.shared
    count = lambda m: sum(p.numel() for p in m.parameters())  # noqa: E731
    assert count(separate) == count(shared) + count(separate.critic_torso)
    actor_ids = {id(p) for p in separate.actor_torso.parameters()}
    assert actor_ids.isdisjoint(id(p) for p in separate.critic_torso.parameters())
    obs = torch.as_tensor(observations(8))
    distribution, value = separate(obs)
    value.sum().backward()
    names = _grad_names(separate)
    assert any(n.startswith("critic_torso.") for n in names)
    assert not any(n.startswith(("actor_torso.", "policy_head.")) for n in names)
    separate.zero_grad(set_to_none=True)
    separate.policy(obs).log_prob(torch.zeros(8, dtype=torch.long)).sum().backward()
    names = _grad_names(separate)
    assert any(n.startswith("actor_torso.") for n in names)
    assert not any(n.startswith(("critic_torso.", "value_head.")) for n in names)
    torch.testing.assert_close(separate.value(obs), value.detach())


def test_actor_critic_network_from_custom_parts():
    torso = nn.Sequential(nn.Linear(5, 6), nn.Tanh())
    torso.output_size = 6
    network = ActorCriticNetwork(torso, CategoricalHead(6, 3))
    distribution, value = network(torch.zeros(2, 5))
    assert distribution.probs.shape == (2, 3) and value.shape == (2,)


# ----------------------------------------------------------------------------
# Errors.
# ----------------------------------------------------------------------------


@pytest.mark.parametrize("action_spec", [
    specs.BoundedArray((2, 2), np.int32, 0, 3, name="int_matrix"),  # An int vector is MultiDiscrete: it fits.
    specs.BoundedArray((), np.float32, -1.0, 1.0, name="scalar_box"),
    specs.BoundedArray((2, 2), np.float32, -1.0, 1.0, name="matrix_box"),
    specs.Array((2,), np.float32, name="unbounded"),
    {"a": DISCRETE},
], ids=["int_matrix", "scalar_box", "matrix_box", "unbounded", "nested"])
def test_unsupported_action_specs_raise_naming_the_spec(action_spec):
    with pytest.raises(TypeError, match="DiscreteArray") as info:
        make_actor_critic(env_spec(action_spec), (8,))
    assert repr(action_spec) in str(info.value)
    with pytest.raises(TypeError):
        make_policy_head(action_spec, 8)


def test_invalid_head_options_raise():
    with pytest.raises(ValueError, match="log_std"):
        make_actor_critic(env_spec(BOX), (8,), log_std="learned")
    with pytest.raises(ValueError, match="squash"):
        make_actor_critic(env_spec(BOX), (8,), squash="sigmoid")
    with pytest.raises(ValueError, match="finite"):
        make_actor_critic(env_spec(specs.BoundedArray((1,), np.float32, -np.inf, np.inf)), (8,), squash="tanh")
    with pytest.raises(ValueError, match="init_log_std"):
        GaussianHead(4, 2, init_log_std=5.0)
    # Clip tolerates infinite bounds (a plain Gaussian).
    network = make_actor_critic(env_spec(specs.BoundedArray((1,), np.float32, -np.inf, np.inf)), (8,))
    assert StochasticPolicy(network, seed=0)(observations(2)).action.shape == (2, 1)


def test_a_dict_observation_gets_a_torso_per_key():
    network = make_actor_critic(env_spec(DISCRETE, {"x": VECTOR_OBS, "y": VECTOR_OBS}), (8,))
    batch = {"x": torch.zeros(2, *VECTOR_OBS.shape), "y": torch.ones(2, *VECTOR_OBS.shape)}
    distribution, value = network(batch)
    assert distribution.logits.shape[0] == 2 and value.shape == (2,)
    with pytest.raises(TypeError, match="array or a nest"):
        make_actor_critic(env_spec(DISCRETE, {"x": "no spec"}), (8,))


def test_activation_choice_reaches_the_torso_and_bad_names_fail():
    from components.specs import EnvironmentSpec

    spec = EnvironmentSpec(specs.Array((3,), np.float32), specs.DiscreteArray(2), specs.Array((), np.float32),
                           specs.BoundedArray((), np.float32, 0.0, 1.0))
    tanh_net = make_actor_critic(spec, (8,), activation="tanh")
    assert any(isinstance(m, nn.Tanh) for m in tanh_net.modules())
    assert not any(isinstance(m, nn.ReLU) for m in tanh_net.modules())
    with pytest.raises(ValueError, match=r"activation must be one of \['relu', 'tanh'\], got 'gelu'"):
        make_actor_critic(spec, (8,), activation="gelu")


def test_softplus_log_std_keeps_std_at_least_one_and_starts_at_two():
    head = GaussianHead(6, 2, log_std="softplus", minimum=BOX.minimum, maximum=BOX.maximum)
    start = head(torch.zeros(3, 6))
    torch.testing.assert_close(start.stddev, torch.full((3, 2), 2.0))  # softplus(0) = log 2.
    with torch.no_grad():
        head.log_std.bias.fill_(-50.0)  # Drives the linear output far below 0.
    assert torch.all(head(torch.randn(100, 6)).stddev >= 1.0)
    custom = GaussianHead(6, 2, log_std="softplus", init_log_std=0.1)
    torch.testing.assert_close(custom(torch.zeros(1, 6)).stddev, torch.full((1, 2), math.exp(0.1)))
    with pytest.raises(ValueError, match="softplus.*init_log_std must be > 0"):
        GaussianHead(6, 2, log_std="softplus", init_log_std=-0.5)


def test_tanh_mean_stays_inside_the_bounds_and_samples_are_clipped():
    head = GaussianHead(6, 2, squash="tanh_mean", minimum=BOX.minimum, maximum=BOX.maximum)
    with torch.no_grad():
        head.mean.weight.fill_(100.0)  # A mean far outside the box before the squash.
    distribution = head(torch.randn(200, 6))
    low, high = torch.tensor(BOX.minimum), torch.tensor(BOX.maximum)
    assert torch.all(distribution.mode() >= low) and torch.all(distribution.mode() <= high)
    assert distribution.mode()[:, 1].min() < 0.1 and distribution.mode()[:, 1].max() > 4.9  # Both ends reached.
    raw = distribution.sample(torch.Generator().manual_seed(0))
    action = distribution.to_env_action(raw)
    assert torch.all(action >= low) and torch.all(action <= high)
    torch.testing.assert_close(distribution.log_prob(raw),  # The Normal's density of the raw sample.
                               D.Normal(distribution.mean, distribution.stddev).log_prob(raw).sum(-1))
    with pytest.raises(ValueError, match="tanh_mean.*finite"):
        GaussianHead(6, 1, squash="tanh_mean", minimum=-np.inf, maximum=np.inf)
