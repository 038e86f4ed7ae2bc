"""A2C's options: reward scale, Huber value loss, a critic learning rate, init log-std, observation
normalisation, and their range checks. Tiny fixed batches, one learner step each."""

from __future__ import annotations

import itertools

import dm_env
import numpy as np
import pytest
import torch
from dm_env import specs

from agents.a2c import A2CBuilder, A2CConfig, A2CLearner
from agents.a2c.learning import value_loss_terms
from agents.on_policy import parameter_groups
from agents.ppo import PPOBuilder, PPOConfig
from components.actor_critic import ActorCriticNetwork, NormalizedActorCritic, make_actor_critic
from components.specs import EnvironmentSpec
from components.types import Trajectory

CPU = torch.device("cpu")
MID = int(dm_env.StepType.MID)
SPEC = EnvironmentSpec(observations=specs.Array((3,), np.float32, "observation"),
                       actions=specs.BoundedArray((1,), np.float32, -2.0, 2.0, "action"),
                       rewards=specs.Array((), np.float32, "reward"),
                       discounts=specs.BoundedArray((), np.float32, 0.0, 1.0, "discount"))


def rollouts(batch=2, horizon=3, reward_scale=1.0, seed=0) -> Trajectory:
    """B lanes x T MID steps of a 1-D Gaussian policy (no episode ends)."""
    rng = np.random.default_rng(seed)
    raw = rng.normal(size=(batch, horizon, 1)).astype(np.float32)
    reward = (reward_scale * rng.normal(size=(batch, horizon))).astype(np.float32)
    return Trajectory(rng.normal(2.0, 3.0, size=(batch, horizon + 1, 3)).astype(np.float32), raw.clip(-2, 2), reward,
                      np.ones((batch, horizon), np.float32), np.full((batch, horizon + 1), MID, np.int8),
                      {"raw_action": raw})


def network(seed=0, shared=False):
    torch.manual_seed(seed)
    return make_actor_critic(SPEC, (8,), shared=shared)


def step(config: A2CConfig, batch: Trajectory, net=None) -> dict[str, float]:
    learner = A2CLearner(net if net is not None else network(), itertools.repeat(batch), config, CPU)
    return {k: float(v) for k, v in learner.step().items()}


def test_reward_scale_is_the_same_as_scaling_the_rewards():
    config = dict(rollout_length=3, discount=0.9, gae_lambda=0.95, value_coef=0.5, entropy_coef=0.01)
    # Powers of two, so the scaled rewards are exactly the plain ones.
    scaled = step(A2CConfig(reward_scale=0.125, **config), rollouts(reward_scale=8.0))
    plain = step(A2CConfig(**config), rollouts(reward_scale=1.0))
    for key in ("loss", "policy_loss", "value_loss"):
        assert scaled[key] == pytest.approx(plain[key], rel=1e-6), key
    unscaled = step(A2CConfig(**config), rollouts(reward_scale=8.0))
    assert unscaled["value_loss"] > 10 * plain["value_loss"]  # The option did something.


def test_value_loss_terms_mse_and_huber():
    error = torch.tensor([-3.0, -0.5, 0.0, 0.5, 2.0])
    np.testing.assert_allclose(value_loss_terms(error, "mse").numpy(), [9.0, 0.25, 0.0, 0.25, 4.0])
    np.testing.assert_allclose(value_loss_terms(error, "huber").numpy(), [2.5, 0.125, 0.0, 0.125, 1.5])


@pytest.mark.parametrize("kind", ["mse", "huber"])
def test_value_loss_matches_a_hand_computation(kind):
    # One step per lane, no discounting past it: G_0 = r_0 + gamma V(o_1).
    batch = rollouts(batch=4, horizon=1, reward_scale=3.0)
    net = network()
    with torch.no_grad():
        _, values = net(torch.as_tensor(batch.observation).flatten(0, 1))
        values = values.view(4, 2)
        error = torch.as_tensor(batch.reward[:, 0]) + 0.9 * values[:, 1] - values[:, 0]
        expected = error.pow(2) if kind == "mse" else torch.where(error.abs() <= 1, 0.5 * error.pow(2),
                                                                   error.abs() - 0.5)
    config = A2CConfig(rollout_length=1, discount=0.9, value_loss=kind)
    assert step(config, batch, net)["value_loss"] == pytest.approx(float(expected.mean()), rel=1e-5)


@pytest.mark.parametrize("shared", [False, True])
def test_critic_parameters_form_their_own_group(shared):
    net = network(shared=shared)
    groups = parameter_groups(net, 1e-4, critic_learning_rate=1e-3)
    critic = {id(p) for p in groups[1]["params"]}
    expected = {id(p) for p in net.value_head.parameters()}
    if not shared:
        expected |= {id(p) for p in net.critic_torso.parameters()}
    assert critic == expected  # A shared torso stays with the actor.
    assert {id(p) for g in groups for p in g["params"]} == {id(p) for p in net.parameters()}
    assert [g["lr"] for g in groups] == pytest.approx([1e-4, 1e-3])
    assert len(parameter_groups(net, 1e-4)) == 1


def test_critic_learning_rate_moves_the_critic_by_its_own_step():
    # Adam's first step moves every parameter with a nonzero gradient by about its group's step size.
    net = network()
    before = {name: p.detach().clone() for name, p in net.named_parameters()}
    config = A2CConfig(rollout_length=3, optimizer="adam", optimizer_eps=1e-10, learning_rate=1e-4,
                       critic_learning_rate=1e-2, max_grad_norm=None, learning_rate_decay_steps=4)
    metrics = step(config, rollouts(), net)
    moved = {name: float((p.detach() - before[name]).abs().max()) for name, p in net.named_parameters()}
    critic = [v for k, v in moved.items() if k.startswith(("value_head", "critic_torso"))]
    actor = [v for k, v in moved.items() if k.startswith(("actor_torso", "policy_head"))]
    assert max(critic) == pytest.approx(1e-2, rel=1e-3) and max(actor) == pytest.approx(1e-4, rel=1e-3)
    assert metrics["learning_rate"] == pytest.approx(1e-4)


def test_critic_learning_rate_decays_with_the_actors():
    config = A2CConfig(rollout_length=3, learning_rate=1e-3, critic_learning_rate=4e-3, learning_rate_decay_steps=4)
    learner = A2CLearner(network(), itertools.repeat(rollouts()), config, CPU)
    learner.step()
    learner.step()  # Set for step 1 of 4: 3/4 of the start.
    assert [g["lr"] for g in learner._optimizer.param_groups] == pytest.approx([7.5e-4, 3e-3])
    restored = A2CLearner(network(), itertools.repeat(rollouts()), config, CPU)
    restored.restore(learner.save())  # The groups' scales survive a checkpoint.
    assert [g["lr_scale"] for g in restored._optimizer.param_groups] == pytest.approx([1.0, 4.0])


def test_init_log_std_and_observation_normaliser_reach_the_network():
    net = A2CBuilder(A2CConfig(init_log_std=-0.7, normalize_observations=True)).make_networks(SPEC)["policy"]
    assert isinstance(net, NormalizedActorCritic) and isinstance(net.network, ActorCriticNetwork)
    np.testing.assert_allclose(net.network.policy_head.log_std.detach().numpy(), [-0.7])
    assert "observation_normalizer.mean" in net.state_dict()  # Actors pull it with the weights.
    plain = A2CBuilder(A2CConfig()).make_networks(SPEC)["policy"]
    assert isinstance(plain, ActorCriticNetwork)
    np.testing.assert_allclose(plain.policy_head.log_std.detach().numpy(), [0.0])
    ppo = PPOBuilder(PPOConfig(normalize_observations=True)).make_networks(SPEC)["policy"]
    assert isinstance(ppo, NormalizedActorCritic)  # PPO uses the same one.


def test_a2c_learner_updates_the_observation_normaliser_from_its_batch():
    net = A2CBuilder(A2CConfig(normalize_observations=True)).make_networks(SPEC)["policy"]
    batch = rollouts(batch=2, horizon=3)
    step(A2CConfig(rollout_length=3, normalize_observations=True), batch, net)
    observations = batch.observation.reshape(-1, 3)
    np.testing.assert_allclose(net.observation_normalizer.mean.numpy(), observations.mean(0), rtol=1e-3)
    np.testing.assert_allclose(net.observation_normalizer.var.numpy(), observations.var(0), rtol=1e-3)


@pytest.mark.parametrize("field,value,message", [
    ("reward_scale", 0.0, "reward_scale must be > 0"),
    ("reward_scale", -1.0, "reward_scale must be > 0"),
    ("reward_scale", float("nan"), "reward_scale must be > 0"),
    ("critic_learning_rate", 0.0, "critic_learning_rate must be > 0 or None"),
    ("value_loss", "l1", "value_loss must be one of"),
    ("init_log_std", 2.5, r"init_log_std must be in \[-5.0, 2.0\]"),
    ("init_log_std", -6.0, r"init_log_std must be in \[-5.0, 2.0\]"),
])
def test_config_range_errors(field, value, message):
    with pytest.raises(ValueError, match=message):
        A2CConfig(**{field: value})


def test_seed002_parameterisation_reaches_the_network():
    config = A2CConfig(log_std="softplus", squash="tanh_mean", hidden_sizes=(16,))
    distribution = A2CBuilder(config).make_networks(SPEC)["policy"].policy(torch.zeros(4, *SPEC.observations.shape))
    torch.testing.assert_close(distribution.stddev, torch.full_like(distribution.stddev, 2.0), atol=0.05, rtol=0)
    with pytest.raises(ValueError, match="softplus.*init_log_std must be > 0"):
        A2CConfig(log_std="softplus", init_log_std=-1.0)


def test_config_side_option_lists_match_the_components():
    # The configs keep their own copies (they import no torch); a new kind must reach both.
    from agents import configs as config
    from components import actor_critic, learners, networks, recurrent

    assert config.LOG_STD_KINDS == actor_critic.LOG_STD_KINDS
    assert config.SQUASH_KINDS == actor_critic.SQUASH_KINDS
    assert config.LOG_STD_RANGE == (actor_critic.LOG_STD_MIN, actor_critic.LOG_STD_MAX)
    assert config.OPTIMIZERS == learners.OPTIMIZERS
    assert config.PRECISIONS == learners.PRECISIONS
    assert config.CORE_KINDS == recurrent.CORE_KINDS
    assert set(config.ACTIVATIONS) == set(networks.ACTIVATIONS)
