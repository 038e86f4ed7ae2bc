"""Recurrent cores: resets exactly at FIRST, carried state when acting, and a learner replaying what the actor saw."""

import dm_env
import numpy as np
import pytest
import torch
import tree

import environments  # noqa: F401  (registers CartPoleNoVel-v1)
from agents.ppo import PPOConfig
from agents.ppo.builder import PPOBuilder
from components.environment_loop import EnvironmentLoop
from components.recurrent import RecurrentCore, evaluate_sequences
from components.specs import make_environment_spec
from environments.registry import make_batched_environment

FIRST = int(dm_env.StepType.FIRST)


@pytest.mark.parametrize("kind", ["lstm", "gru"])
def test_a_first_step_inside_a_sequence_starts_from_a_zero_state(kind):
    torch.manual_seed(0)
    core = RecurrentCore(kind, 3, 5)
    x = torch.randn(2, 7, 3)
    first = torch.zeros(2, 7, dtype=torch.bool)
    first[0, 4] = True  # Lane 0 starts an episode at t=4; lane 1 runs on.
    start = torch.randn(2, core.state_size)
    outputs, _ = core.unroll(x, start, first)
    episode_start = torch.tensor([[True, False, False]])
    fresh, _ = core.unroll(x[:1, 4:], core.initial_state(1), episode_start)
    torch.testing.assert_close(outputs[0, 4:], fresh[0])
    carried, _ = core.unroll(x[1:, 4:], core.initial_state(1), episode_start)
    assert not torch.allclose(outputs[1, 4:], carried[0])  # Without a reset the past still counts.


def _acting_setup(num_envs=3, rollout_length=40, evaluation=False):
    config = PPOConfig(core="lstm", core_size=8, hidden_sizes=(16,), rollout_length=rollout_length)
    builder = PPOBuilder(config)
    environment = make_batched_environment("gym:CartPoleNoVel-v1", num_envs=num_envs, seed=0)
    spec = make_environment_spec(environment)
    networks = builder.make_networks(spec)
    policy = builder.make_policy(networks, spec, evaluation=evaluation, seed=0)
    replay = builder.make_replay(spec, seed=0, num_lanes=num_envs)
    actor = builder.make_actor(policy, builder.make_adder(replay), None, networks)
    return networks["policy"], policy, replay, EnvironmentLoop(environment, actor)


def test_the_learner_replays_the_log_probabilities_the_actor_reported_across_episode_ends():
    network, _, replay, loop = _acting_setup()
    loop.run(num_steps=3 * 80)  # Two rollouts per lane; a random CartPole episode lasts about 20 steps.
    items = tree.map_structure(torch.as_tensor, replay.sample(6))
    first = items.step_type[:, :-1] == FIRST
    assert int(first[:, 1:].sum()) >= 3, "no episode started inside a rollout, so resets were not tested"
    with torch.no_grad():
        distribution, _ = evaluate_sequences(network, items.observation, items.step_type, items.extras)
    horizon = items.reward.shape[1]
    raw = items.extras["raw_action"]
    padded = torch.cat([raw, torch.zeros_like(raw[:, :1])], dim=1).flatten(0, 1)
    log_prob = distribution.log_prob(padded).view(6, horizon + 1)[:, :horizon]
    valid = items.step_type[:, :-1] != int(dm_env.StepType.LAST)
    torch.testing.assert_close(log_prob[valid], items.extras["log_prob"][valid], atol=1e-5, rtol=1e-5)
    # Consecutive rollouts of a lane chain: the second starts from the state the first ended in.
    assert not torch.equal(items.extras["core_state"][3:, 0], torch.zeros_like(items.extras["core_state"][3:, 0]))


def test_the_policy_carries_its_state_and_drops_it_on_first():
    network, policy, _, _ = _acting_setup(num_envs=2, evaluation=True)  # Greedy: log-probs of the same action.
    observation = np.array([[0.1, 0.0, -0.2, 0.0], [0.1, 0.0, -0.2, 0.0]], np.float32)
    policy.observe_step_types(np.array([FIRST, FIRST]))
    start = policy(observation)
    np.testing.assert_array_equal(start.extras["core_state"], 0.0)
    after_start = policy.save()["core_state"]
    policy.observe_step_types(np.array([1, FIRST]))  # Lane 0 runs on, lane 1 starts an episode.
    second = policy(observation)
    np.testing.assert_array_equal(second.extras["core_state"][0], after_start[0])  # Carried ...
    np.testing.assert_array_equal(second.extras["core_state"][1], after_start[1])  # ... and reported pre-reset,
    after_second = policy.save()["core_state"]
    torch.testing.assert_close(after_second[1], after_start[1])  # but lane 1 restarted from zero.
    assert not torch.allclose(after_second[0], after_start[0])  # Lane 0 moved on from its carried state.
    saved = policy.save()
    third = policy(observation)
    policy.restore(saved)
    np.testing.assert_array_equal(policy(observation).extras["core_state"], third.extras["core_state"])


def test_a_core_on_a_config_that_does_not_know_it_fails_with_the_choices():
    with pytest.raises(ValueError, match=r"core must be one of \('none', 'lstm', 'gru'\), got 'rnn'"):
        PPOConfig(core="rnn")


@pytest.mark.parametrize("shared", [True, False])
def test_shared_torso_decides_whether_the_critic_has_its_own_core(shared):
    config = PPOConfig(core="gru", core_size=8, hidden_sizes=(16,), shared_torso=shared)
    environment = make_batched_environment("gym:CartPoleNoVel-v1", num_envs=1, seed=0)
    network = PPOBuilder(config).make_networks(make_environment_spec(environment))["policy"]
    assert network.state_size == (8 if shared else 16)
    own = {id(p) for p in network.critic_parameters()}
    assert own == {id(p) for p in network.value_head.parameters()} | (
        set() if shared else {id(p) for p in network.critic.parameters()})


def test_a_video_episode_starts_the_policy_from_a_fresh_state():
    from launchers.video import single_lane_action

    _, policy, _, _ = _acting_setup(num_envs=1, evaluation=True)
    observation = np.array([0.1, 0.0, -0.2, 0.0], np.float32)
    first = dm_env.restart(observation)
    single_lane_action(policy, first)
    fresh = policy.save()["core_state"].clone()
    single_lane_action(policy, dm_env.transition(1.0, observation))
    assert not torch.equal(policy.save()["core_state"], fresh)  # Carried on mid-episode ...
    single_lane_action(policy, first)
    torch.testing.assert_close(policy.save()["core_state"], fresh, rtol=0, atol=0)  # ... reset at a FIRST.


@pytest.mark.parametrize("kind", ["lstm", "gru"])
@pytest.mark.parametrize("resets", [0, 2, 12])  # Few resets take the fused recurrence, many the stepped cell.
def test_an_unrolled_sequence_equals_the_same_steps_taken_one_at_a_time(kind, resets):
    torch.manual_seed(resets)
    core = RecurrentCore(kind, 3, 5)
    x, state = torch.randn(3, 16, 3), torch.randn(3, core.state_size)
    first = torch.zeros(3, 16, dtype=torch.bool)
    first[torch.randint(0, 3, (resets,)), torch.randint(1, 16, (resets,))] = True
    outputs, final = core.unroll(x, state, first)
    stepped = state
    for t in range(16):
        output, stepped = core(x[:, t], stepped, first[:, t])
        torch.testing.assert_close(outputs[:, t], output)
    torch.testing.assert_close(final, stepped)
    assert torch.backends.mkldnn.enabled  # The unroll's switch to native kernels is undone.


def test_after_core_sizes_put_an_mlp_between_the_core_and_each_head_and_need_a_core():
    config = PPOConfig(core="lstm", core_size=8, hidden_sizes=(), after_core_sizes=(12,))
    environment = make_batched_environment("gym:CartPoleNoVel-v1", num_envs=1, seed=0)
    network = PPOBuilder(config).make_networks(make_environment_spec(environment))["policy"]
    assert network.actor.core.rnn.input_size == 4  # No torso layers: the core reads the observation.
    for branch in (network.actor, network.critic):
        assert [m.out_features for m in branch.after if isinstance(m, torch.nn.Linear)] == [12]
    assert network.value_head.in_features == 12
    distribution, value = network(torch.zeros(5, 4))
    assert value.shape == (5,) and distribution.log_prob(torch.zeros(5, dtype=torch.long)).shape == (5,)
    with pytest.raises(ValueError, match=r"after_core_sizes=\(12,\) needs a recurrent core"):
        PPOConfig(after_core_sizes=(12,))


def test_rollouts_cut_into_chunks_replay_the_log_probabilities_the_actor_reported():
    from agents.ppo.learning import PPOLearner
    from components.transforms import trajectory_masks

    config = PPOConfig(core="lstm", core_size=8, hidden_sizes=(16,), rollout_length=40, sequence_chunk=10,
                       num_minibatches=3)
    builder = PPOBuilder(config)
    environment = make_batched_environment("gym:CartPoleNoVel-v1", num_envs=3, seed=0)
    spec = make_environment_spec(environment)
    networks = builder.make_networks(spec)
    replay = builder.make_replay(spec, seed=0, num_lanes=3)
    policy = builder.make_policy(networks, spec, evaluation=False, seed=0)
    EnvironmentLoop(environment, builder.make_actor(policy, builder.make_adder(replay), None, networks)).run(
        num_steps=3 * 80)
    batch = tree.map_structure(torch.as_tensor, replay.sample(3))
    learner = PPOLearner(networks["policy"], iter(()), config, torch.device("cpu"))
    valid, _ = trajectory_masks(batch.step_type.T)
    zeros = torch.zeros_like(batch.reward)
    per_step = (batch.extras["raw_action"], batch.extras["log_prob"], zeros, zeros, zeros)
    minibatches = list(learner._minibatches(batch, valid.T, per_step))
    assert len(minibatches) == 3 and all(len(m.inputs[0]) == 4 for m in minibatches)  # 12 chunks, 4 apiece.
    starts = torch.cat([m.inputs[2] for m in minibatches])
    assert int((starts.abs().sum(-1) > 0).sum()) >= 6  # Most chunks start mid-rollout, from a carried state.
    for minibatch in minibatches:
        with torch.no_grad():
            distribution, _ = networks["policy"].unroll(*minibatch.inputs)
        log_prob = distribution.log_prob(minibatch.raw_action)[minibatch.keep]
        torch.testing.assert_close(log_prob, minibatch.old_log_prob, atol=1e-5, rtol=1e-5)
    with pytest.raises(ValueError, match=r"sequence_chunk must be 0 \(whole rollouts\) or divide rollout_length "
                                         r"\(40\), got 15"):
        PPOConfig(core="lstm", rollout_length=40, sequence_chunk=15)


class _CountingCore(torch.nn.Module):
    """A 'core' whose state counts the observations it has seen since its lane's last reset."""

    def initial_state(self, batch_size, device="cpu"):
        return torch.zeros(batch_size, 1, device=device)

    def step(self, observation, first, state):
        state = state * (~first).unsqueeze(-1).float() + 1.0
        return torch.zeros(len(observation), 2), state


def test_in_a_batch_of_lanes_a_state_never_carries_the_previous_episode():
    from components.core import Adder
    from components.recurrent import RecurrentEpsilonGreedyPolicy
    from components.actors import FeedForwardActor

    class Recording(Adder):
        def __init__(self):
            self.steps = []

        def add_first(self, timestep):
            self.observation = timestep.observation

        def add(self, action, next_timestep, extras=()):
            self.steps.append((self.observation[:, 0].copy(), extras["core_state"][:, 0].copy()))
            self.observation = next_timestep.observation

        def reset(self):
            pass

    environment = make_batched_environment("python:tests.components.counting_env:make_counting_env", num_envs=3,
                                           seed=0)
    policy = RecurrentEpsilonGreedyPolicy(_CountingCore(), 2, epsilon=0.5, seed=0)
    adder = Recording()
    EnvironmentLoop(environment, FeedForwardActor(policy, adder)).run(num_steps=3 * 40)
    lengths = set()
    checked = 0
    for observation, state in adder.steps:
        for t, counted in zip(observation, state):
            if t > 0:  # Mid-episode: the state counts exactly this episode's observations before this one.
                assert counted == t, (observation, state)
                checked += 1
        lengths.add(tuple(observation))
    assert checked > 60 and len(lengths) > 5  # Lanes were at different points of their episodes.
