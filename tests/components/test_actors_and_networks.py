"""Tests for actors, policies, the variable client, schedules and network builders."""

from __future__ import annotations

import math
import pickle

import dm_env
import numpy as np
import pytest
import torch
from dm_env import specs
from torch import nn

from components.actors import EpsilonGreedyPolicy, FeedForwardActor
from components.core import Adder, VariableSource
from components.networks import MLP, Float, GridConvTorso, OneHot, make_torso, orthogonal_init_
from components.schedules import LinearSchedule
from components.variable_utils import VariableClient

# ----------------------------------------------------------------------------
# EpsilonGreedyPolicy.
# ----------------------------------------------------------------------------

# Q-values of 5 states x 3 actions; the greedy action of state s is GREEDY[s].
Q_TABLE = torch.tensor([
    [1.0, 0.0, 0.0],
    [0.0, 2.0, 0.0],
    [0.0, 0.0, 3.0],
    [0.0, 5.0, 1.0],
    [9.0, 0.0, 8.0],
])
GREEDY = np.array([0, 1, 2, 1, 0])


class TableQ(nn.Module):
    """A fixed Q network: looks up the row of each (integer) observation."""

    def __init__(self) -> None:
        super().__init__()
        self.inputs: list[torch.Tensor] = []

    def forward(self, observation: torch.Tensor) -> torch.Tensor:
        self.inputs.append(observation)
        return Q_TABLE[observation.long()]


class DictTableQ(nn.Module):
    def forward(self, observation: dict) -> torch.Tensor:
        return Q_TABLE[observation["state"].long()] + 0 * observation["noise"].sum(-1, keepdim=True)


def states(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 5, size=n).astype(np.int32)


def test_epsilon_zero_is_greedy():
    network = TableQ()
    policy = EpsilonGreedyPolicy(network, num_actions=3, epsilon=0.0, seed=0)
    obs = states(50)
    actions = policy(obs)
    np.testing.assert_array_equal(actions, GREEDY[obs])
    assert actions.shape == (50,)
    assert policy.steps == 50  # Lane-steps acted.
    assert isinstance(network.inputs[0], torch.Tensor)
    np.testing.assert_array_equal(network.inputs[0].numpy(), obs)


def test_epsilon_one_is_roughly_uniform():
    policy = EpsilonGreedyPolicy(TableQ(), num_actions=3, epsilon=1.0, seed=1)
    obs = np.zeros(3000, dtype=np.int32)  # Greedy would always be action 0.
    counts = np.bincount(policy(obs), minlength=3)
    assert counts.sum() == 3000
    # Binomial(3000, 1/3): standard deviation ~26; allow ~6 of them.
    assert all(850 <= c <= 1150 for c in counts), counts


def test_intermediate_epsilon_explores_about_that_often():
    policy = EpsilonGreedyPolicy(TableQ(), num_actions=3, epsilon=0.3, seed=2)
    obs = np.zeros(6000, dtype=np.int32)
    non_greedy = np.mean(policy(obs) != 0)
    assert non_greedy == pytest.approx(0.3 * 2 / 3, abs=0.03)  # Explores 30%, 2/3 of those differ.


def test_dict_observations_are_converted_leaf_by_leaf():
    policy = EpsilonGreedyPolicy(DictTableQ(), num_actions=3, epsilon=0.0)
    obs = {"state": np.array([2, 3], np.int32), "noise": np.zeros((2, 4), np.float32)}
    np.testing.assert_array_equal(policy(obs), [2, 1])


def test_epsilon_schedule_follows_steps_acted():
    schedule = LinearSchedule(start=1.0, end=0.0, steps=10)
    policy = EpsilonGreedyPolicy(TableQ(), num_actions=3, epsilon=schedule, seed=0)
    assert policy.epsilon == 1.0
    policy(states(5))
    assert policy.epsilon == pytest.approx(0.5)
    policy(states(5))
    assert policy.epsilon == 0.0
    obs = states(100, seed=3)
    np.testing.assert_array_equal(policy(obs), GREEDY[obs])  # Fully decayed: greedy.


def test_epsilon_is_read_before_the_steps_of_the_call():
    seen: list[int] = []

    def schedule(step: int) -> float:
        seen.append(step)
        return 0.0

    policy = EpsilonGreedyPolicy(TableQ(), num_actions=3, epsilon=schedule)
    policy(states(3))
    policy(states(4))
    assert seen == [0, 3]
    assert policy.steps == 7


def test_policy_save_restore_resumes_steps_and_rng():
    original = EpsilonGreedyPolicy(TableQ(), num_actions=3, epsilon=0.5, seed=11)
    original(states(20))
    state = pickle.loads(pickle.dumps(original.save()))
    expected = [original(states(20, seed=s)) for s in range(3)]

    restored = EpsilonGreedyPolicy(TableQ(), num_actions=3, epsilon=0.5, seed=999)
    restored.restore(state)
    assert restored.steps == 20
    for s, want in enumerate(expected):
        np.testing.assert_array_equal(restored(states(20, seed=s)), want)
    assert restored.steps == original.steps == 80


# ----------------------------------------------------------------------------
# FeedForwardActor and VariableClient.
# ----------------------------------------------------------------------------


class RecordingAdder(Adder):
    def __init__(self) -> None:
        self.calls: list[tuple] = []

    def add_first(self, timestep) -> None:
        self.calls.append(("add_first", timestep))

    def add(self, action, next_timestep, extras=()) -> None:
        self.calls.append(("add", action, next_timestep))

    def reset(self) -> None:
        self.calls.append(("reset",))


class VersionedSource(VariableSource):
    """Serves a Linear(2, 1) state dict whose every weight equals the current `version`."""

    def __init__(self) -> None:
        self.version = 0.0
        self.requests: list[list[str]] = []

    def get_variables(self, names):
        self.requests.append(list(names))
        return [{"weight": torch.full((1, 2), self.version), "bias": torch.full((1,), self.version)}
                for _ in names]


def local_version(module: nn.Linear) -> float:
    values = torch.cat([module.weight.flatten(), module.bias.flatten()]).detach()
    assert torch.all(values == values[0])
    return float(values[0])


def make_local() -> nn.Linear:
    module = nn.Linear(2, 1)
    with torch.no_grad():
        module.weight.fill_(-1.0)
        module.bias.fill_(-1.0)
    return module


def test_feed_forward_actor_forwards_to_policy_and_adder():
    adder = RecordingAdder()
    seen = []

    def policy(observation):
        seen.append(observation)
        return observation * 2

    actor = FeedForwardActor(policy, adder)
    assert actor.policy is policy
    first = dm_env.TimeStep(np.array([0, 0], np.int8), np.zeros(2), np.ones(2), np.array([1, 2]))
    nxt = dm_env.TimeStep(np.array([1, 1], np.int8), np.ones(2), np.ones(2), np.array([3, 4]))
    actor.observe_first(first)
    action = actor.select_action(np.array([1, 2]))
    actor.observe(action, nxt)
    np.testing.assert_array_equal(action, [2, 4])
    assert len(seen) == 1
    assert adder.calls[0] == ("add_first", first)
    assert adder.calls[1][0] == "add" and adder.calls[1][1] is action and adder.calls[1][2] is nxt
    actor.update()  # No client: nothing to do.


def test_feed_forward_actor_without_adder():
    actor = FeedForwardActor(lambda obs: obs)
    ts = dm_env.TimeStep(np.array([0], np.int8), np.zeros(1), np.ones(1), np.zeros(1))
    actor.observe_first(ts)
    actor.observe(np.zeros(1), ts)
    actor.update(wait=True)


def test_variable_client_pulls_every_k_updates():
    source = VersionedSource()
    local = make_local()
    client = VariableClient(source, {"q": local}, update_period=3)
    actor = FeedForwardActor(lambda obs: obs, None, client)
    source.version = 1.0
    actor.update()
    actor.update()
    assert local_version(local) == -1.0  # Not yet due.
    assert source.requests == []
    actor.update()  # Third call: pulls.
    assert local_version(local) == 1.0
    assert source.requests == [["q"]]
    source.version = 2.0
    actor.update()
    actor.update()
    assert local_version(local) == 1.0
    actor.update()
    assert local_version(local) == 2.0
    assert len(source.requests) == 2


def test_variable_client_wait_pulls_at_once_and_restarts_the_period():
    source = VersionedSource()
    local = make_local()
    client = VariableClient(source, {"q": local}, update_period=3)
    actor = FeedForwardActor(lambda obs: obs, None, client)
    actor.update()  # 1 of 3.
    source.version = 5.0
    actor.update(wait=True)
    assert local_version(local) == 5.0
    source.version = 6.0
    actor.update()
    actor.update()
    assert local_version(local) == 5.0  # The period restarted at the forced pull.
    actor.update()
    assert local_version(local) == 6.0


def test_variable_client_copies_weights_not_references():
    source = VersionedSource()
    local = make_local()
    VariableClient(source, {"q": local}).update_and_wait()
    served = source.get_variables(["q"])[0]
    served["weight"].fill_(42.0)
    assert local_version(local) == 0.0


def test_variable_client_validates_period():
    with pytest.raises(ValueError, match="update_period"):
        VariableClient(VersionedSource(), {"q": make_local()}, update_period=0)


# ----------------------------------------------------------------------------
# LinearSchedule.
# ----------------------------------------------------------------------------


def test_linear_schedule():
    schedule = LinearSchedule(start=1.0, end=0.1, steps=10)
    assert schedule(0) == 1.0
    assert schedule(5) == pytest.approx(0.55)
    assert schedule(9) == pytest.approx(0.19)
    assert schedule(10) == pytest.approx(0.1)
    assert schedule(10_000) == pytest.approx(0.1)
    assert schedule(-3) == 1.0
    assert LinearSchedule(1.0, 0.5, 0)(0) == 0.5
    assert LinearSchedule(0.0, 1.0, 4)(1) == pytest.approx(0.25)  # Rising works too.
    with pytest.raises(ValueError, match="steps"):
        LinearSchedule(1.0, 0.0, -1)


# ----------------------------------------------------------------------------
# Networks.
# ----------------------------------------------------------------------------


def test_make_torso_one_hot_for_discrete_observation():
    torso = make_torso(specs.DiscreteArray(7, dtype=np.int32), hidden_sizes=(16,))
    assert isinstance(torso[0], OneHot)
    assert torso.output_size == 16
    out = torso(torch.tensor([0, 6, 3], dtype=torch.int32))
    assert out.shape == (3, 16)
    np.testing.assert_array_equal(torso[0](torch.tensor([2])).numpy(), [[0, 0, 1, 0, 0, 0, 0]])


def test_make_torso_mlp_for_vectors_and_matrices():
    torso = make_torso(specs.Array((4,), np.float32), hidden_sizes=(32, 8))
    assert isinstance(torso[0], Float)
    assert isinstance(torso[1], MLP)
    assert torso.output_size == 8
    assert torso(torch.zeros(5, 4)).shape == (5, 8)
    linears = [m for m in torso[1] if isinstance(m, nn.Linear)]
    assert [(l.in_features, l.out_features) for l in linears] == [(4, 32), (32, 8)]

    flat = make_torso(specs.Array((3, 5), np.float32), hidden_sizes=(6,))
    assert not any(isinstance(m, nn.Conv2d) for m in flat.modules())
    assert flat(torch.zeros(2, 3, 5)).shape == (2, 6)


def test_make_torso_conv_for_channels_first_images():
    torso = make_torso(specs.Array((3, 9, 10), np.float32), hidden_sizes=(12,))
    assert any(isinstance(m, GridConvTorso) for m in torso.modules())
    assert torso.output_size == 12
    assert torso(torch.zeros(2, 3, 9, 10)).shape == (2, 12)


def test_make_torso_scales_uint8_images():
    torso = make_torso(specs.Array((1, 4, 4), np.uint8), hidden_sizes=(4,))
    float_layer = next(m for m in torso.modules() if isinstance(m, Float))
    assert float_layer.scale == pytest.approx(1 / 255)
    out = float_layer(torch.full((1, 1, 4, 4), 255, dtype=torch.uint8))
    assert out.dtype == torch.float32
    assert torch.allclose(out, torch.ones_like(out))


def test_make_torso_rejects_high_rank_and_non_array_specs():
    with pytest.raises(TypeError, match="array or a nest"):
        make_torso({"a": "not a spec"}, hidden_sizes=(8,))
    with pytest.raises(ValueError, match="shape"):
        make_torso(specs.Array((1, 2, 3, 4), np.float32), hidden_sizes=(8,))


@pytest.mark.parametrize("shape, channels, expected", [
    ((3, 9, 10), (16, 32), 32 * 5 * 5),  # Stride 1 keeps 9x10; stride 2 (pad 1) -> 5x5.
    ((2, 5, 5), (4,), 4 * 5 * 5),
    ((1, 8, 8), (4, 8, 16), 16 * 2 * 2),  # 8 -> 8 -> 4 -> 2.
])
def test_grid_conv_torso_output_size_matches_forward(shape, channels, expected):
    torso = GridConvTorso(shape, channels)
    assert torso.output_size == expected
    assert torso(torch.zeros(3, *shape)).shape == (3, expected)


def test_mlp_layers_and_final_activation():
    mlp = MLP(4, [8, 8], output_size=2)
    assert [type(m) for m in mlp] == [nn.Linear, nn.ReLU, nn.Linear, nn.ReLU, nn.Linear]
    assert mlp.output_size == 2
    activated = MLP(4, [8], activate_final=True)
    assert [type(m) for m in activated] == [nn.Linear, nn.ReLU]
    assert activated.output_size == 8


def test_orthogonal_init():
    torch.manual_seed(0)
    module = nn.Sequential(nn.Linear(8, 4), nn.ReLU(), nn.Conv2d(2, 3, kernel_size=3), nn.Linear(4, 6, bias=False))
    assert orthogonal_init_(module, gain=2.0, bias=0.1) is module
    linear, conv, wide = module[0], module[2], module[3]
    w = linear.weight.detach()
    torch.testing.assert_close(w @ w.T, 4.0 * torch.eye(4), atol=1e-5, rtol=0)  # Orthogonal rows, scaled.
    c = conv.weight.detach().reshape(3, -1)
    torch.testing.assert_close(c @ c.T, 4.0 * torch.eye(3), atol=1e-5, rtol=0)
    v = wide.weight.detach()  # 6 x 4: orthogonal columns.
    torch.testing.assert_close(v.T @ v, 4.0 * torch.eye(4), atol=1e-5, rtol=0)
    assert torch.all(linear.bias == 0.1) and torch.all(conv.bias == 0.1)


def test_orthogonal_init_default_gain_is_sqrt2():
    layer = orthogonal_init_(nn.Linear(5, 5))
    w = layer.weight.detach()
    torch.testing.assert_close(w @ w.T, 2.0 * torch.eye(5), atol=1e-5, rtol=0)
    assert torch.all(layer.bias == 0.0)
    assert math.isclose(float(w.norm() ** 2), 10.0, rel_tol=1e-5)


def test_atari_sized_frames_get_the_nature_cnn_scaled_from_uint8():
    from components.networks import NatureCNN, make_torso

    spec = specs.BoundedArray((4, 84, 84), np.uint8, 0, 255, "observation")
    torso = make_torso(spec, hidden_sizes=(512,))
    assert any(isinstance(m, NatureCNN) for m in torso.modules())
    frames = torch.full((2, 4, 84, 84), 255, dtype=torch.uint8)
    assert torso(frames).shape == (2, 512)
    conv = next(m for m in torso.modules() if isinstance(m, NatureCNN))
    assert conv.output_size == 64 * 7 * 7
