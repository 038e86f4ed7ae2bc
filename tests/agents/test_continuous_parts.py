"""The parts of SAC and TD3: action bounds, the critic ensemble, the squashed log-probability, the
temperature, TD3's delay and target smoothing, prioritized replay."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from dm_env import specs

from agents.sac import SACBuilder, SACConfig
from agents.sac.learning import SACLearner
from agents.sac.networks import SquashedGaussianPolicy, squashed_log_prob
from agents.td3 import TD3Config
from agents.td3.learning import TD3Learner
from agents.td3.networks import DeterministicPolicy
from components.action_bounds import ActionBounds, action_kind
from components.counting import Counter
from components.critics import EnsembleCritic
from components.prioritized_replay import PrioritizedReplay
from components.specs import EnvironmentSpec
from components.types import PrioritizedSample, Transition

ACTIONS = specs.BoundedArray((2,), np.float32, minimum=[-2.0, 0.0], maximum=[2.0, 1.0], name="action")
OBS_SIZE = 3


def test_action_bounds_map_both_ways_and_clip():
    bounds = ActionBounds(ACTIONS)
    unit = np.array([[-1.0, -1.0], [0.0, 0.0], [1.0, 1.0], [3.0, -5.0]], np.float32)
    env = bounds.to_env(unit)
    np.testing.assert_allclose(env, [[-2.0, 0.0], [0.0, 0.5], [2.0, 1.0], [2.0, 0.0]])
    assert env.dtype == np.float32
    np.testing.assert_allclose(bounds.to_unit(torch.as_tensor(env[:3])).numpy(), unit[:3])


@pytest.mark.parametrize("spec, kind", [
    (specs.DiscreteArray(3), "discrete"),
    (ACTIONS, "bounded"),
    (specs.Array((2,), np.float32), "unbounded"),
    (specs.BoundedArray((2,), np.float32, -np.inf, np.inf), "unbounded"),
    (specs.BoundedArray((2, 2), np.float32, -1.0, 1.0), "other"),
])
def test_action_kind(spec, kind):
    assert action_kind(spec) == kind
    if kind != "bounded":
        with pytest.raises(TypeError, match="BoundedArray action spec"):
            ActionBounds(spec)


def test_the_ensemble_computes_each_critic_as_its_own_mlp_and_frozen_stops_its_gradients():
    torch.manual_seed(0)
    critic = EnsembleCritic(OBS_SIZE, 2, (8, 8), num_critics=3)
    observation, action = torch.randn(5, OBS_SIZE), torch.randn(5, 2, requires_grad=True)
    values = critic(observation, action)
    assert values.shape == (3, 5)
    for i in range(3):
        x = torch.cat([observation, action], -1)
        for layer, (weight, bias) in enumerate(zip(critic.weights, critic.biases)):
            x = x @ weight[i] + bias[i]
            x = torch.relu(x) if layer < 2 else x
        torch.testing.assert_close(values[i], x.squeeze(-1))
    critic(observation, action, frozen=True).sum().backward()
    assert all(p.grad is None for p in critic.parameters()) and action.grad is not None


def test_a_dict_observation_goes_through_the_critics_encoder_which_frozen_also_stops():
    from agents.off_policy import observation_encoder

    observations = {"image": specs.BoundedArray((1, 3, 3), np.uint8, 0, 255), "flip": specs.DiscreteArray(2)}
    spec = EnvironmentSpec(observations, ACTIONS, specs.Array((), np.float32), specs.Array((), np.float32))
    encoder, width = observation_encoder(spec, "SAC")
    critic = EnsembleCritic(width, 2, (8,), encoder=encoder)
    batch = {"image": torch.randint(0, 255, (4, 1, 3, 3), dtype=torch.uint8), "flip": torch.tensor([0, 1, 1, 0])}
    action = torch.zeros(4, 2, requires_grad=True)
    assert critic(batch, action).shape == (2, 4)
    critic(batch, action, frozen=True).sum().backward()
    assert all(p.grad is None for p in critic.parameters()) and action.grad is not None
    critic(batch, action).sum().backward()
    assert all(p.grad is not None for p in critic.encoder.parameters())
    flat, size = observation_encoder(EnvironmentSpec(specs.Array((OBS_SIZE,), np.float32), ACTIONS,
                                                     specs.Array((), np.float32), specs.Array((), np.float32)), "TD3")
    assert flat is None and size == OBS_SIZE  # A vector is read as it is: no encoder module on the hot path.
    with pytest.raises(ValueError, match="SAC: No default encoder for observation 'observation'"):
        observation_encoder(EnvironmentSpec(specs.Array((2, 2, 2, 2), np.float32), ACTIONS,
                                            specs.Array((), np.float32), specs.Array((), np.float32)), "SAC")


def test_the_squashed_log_prob_matches_torch_tanh_transformed_normal():
    torch.manual_seed(1)
    mean, log_std = torch.randn(1000, 2), torch.randn(1000, 2).clamp(-3, 1)
    noise = torch.randn(1000, 2)
    pre_tanh = mean + log_std.exp() * noise
    reference = torch.distributions.TransformedDistribution(
        torch.distributions.Normal(mean, log_std.exp()), [torch.distributions.TanhTransform(cache_size=1)])
    expected = reference.log_prob(torch.tanh(pre_tanh)).sum(-1)
    ours = squashed_log_prob(pre_tanh, noise, log_std)
    finite = torch.tanh(pre_tanh).abs().max(-1).values < 0.999  # Where torch's inverse of tanh is still exact.
    torch.testing.assert_close(ours[finite], expected[finite], rtol=1e-4, atol=1e-3)
    # Far out on the tanh, where tanh(u) rounds to 1, ours stays finite.
    assert torch.isfinite(squashed_log_prob(torch.tensor([[30.0]]), torch.tensor([[0.0]]), torch.tensor([[0.0]]))).all()


def _batches(seed: int = 0, batch_size: int = 32):
    rng = np.random.default_rng(seed)
    while True:
        yield Transition(observation=rng.normal(size=(batch_size, OBS_SIZE)).astype(np.float32),
                         action=ActionBounds(ACTIONS).to_env(rng.uniform(-1, 1, (batch_size, 2))),
                         reward=rng.normal(size=batch_size).astype(np.float32),
                         discount=np.full(batch_size, 0.99, np.float32),
                         next_observation=rng.normal(size=(batch_size, OBS_SIZE)).astype(np.float32))


def _sac(**config) -> SACLearner:
    torch.manual_seed(0)
    cfg = SACConfig(**{"hidden_sizes": (16,), **config})
    return SACLearner(SquashedGaussianPolicy(OBS_SIZE, 2, cfg.hidden_sizes), EnsembleCritic(OBS_SIZE, 2, cfg.hidden_sizes),
                      ActionBounds(ACTIONS), _batches(), cfg, torch.device("cpu"))


@pytest.mark.parametrize("target_entropy, direction", [(-50.0, -1), (50.0, 1)])
def test_the_temperature_moves_towards_the_target_entropy(target_entropy, direction):
    # Entropy above the target (a target of -50) lowers alpha; below it (+50) raises it.
    learner = _sac(target_entropy=target_entropy, alpha_learning_rate=1e-2)
    alphas = [float(learner.step()["alpha"]) for _ in range(20)]
    assert alphas[0] == pytest.approx(1.0)
    assert np.sign(alphas[-1] - alphas[0]) == direction and abs(alphas[-1] - 1.0) > 0.05


def test_a_fixed_alpha_stays_fixed():
    learner = _sac(alpha="0.2")
    metrics = [learner.step() for _ in range(30)]
    assert all(float(m["alpha"]) == pytest.approx(0.2) for m in metrics)
    assert "alpha_loss" not in metrics[0] and len(learner._optimizer.param_groups) == 2


def _td3(**config) -> TD3Learner:
    torch.manual_seed(0)
    cfg = TD3Config(**{"hidden_sizes": (16,), **config})
    return TD3Learner(DeterministicPolicy(OBS_SIZE, 2, cfg.hidden_sizes),
                      EnsembleCritic(OBS_SIZE, 2, cfg.hidden_sizes, cfg.num_critics), ActionBounds(ACTIONS), _batches(), cfg,
                      torch.device("cpu"))


def _snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def _changed(before: list[torch.Tensor], module: torch.nn.Module) -> bool:
    return any(not torch.equal(b, p) for b, p in zip(before, module.parameters()))


def test_td3_updates_the_policy_and_the_targets_every_policy_delay_steps():
    learner = _td3(policy_delay=3)
    for step in range(1, 10):
        policy, target_policy, target_critic = (_snapshot(learner._policy), _snapshot(learner._target_policy),
                                                _snapshot(learner._target_critic))
        critic = _snapshot(learner._critic)
        metrics = learner.step()
        delayed = step % 3 == 0
        assert _changed(critic, learner._critic)
        assert _changed(policy, learner._policy) == delayed
        assert _changed(target_policy, learner._target_policy) == delayed
        assert _changed(target_critic, learner._target_critic) == delayed
        assert ("policy_loss" in metrics) == delayed
        assert learner.policy_updates == step // 3
    # The policy's Adam moments only moved on its own steps.
    policy_state = learner._optimizer.state[learner._optimizer.param_groups[0]["params"][0]]
    assert int(policy_state["step"]) == 3


def test_td3_target_smoothing_changes_the_targets_and_a_zero_clip_switches_it_off():
    def critic_losses(**config):
        learner = _td3(**config)
        return [float(learner.step()["critic_loss"]) for _ in range(5)]

    plain = critic_losses(target_noise=0.0)
    assert critic_losses(target_noise=0.2, target_noise_clip=0.0) == pytest.approx(plain, rel=1e-6)
    assert critic_losses(target_noise=0.2) != pytest.approx(plain, rel=1e-6)


def test_ddpg_settings_use_one_critic():
    learner = _td3(num_critics=1, policy_delay=1, target_noise=0.0)
    for _ in range(3):
        assert "policy_loss" in learner.step()
    assert learner._critic.num_critics == 1 and learner.policy_updates == 3


def test_configs_refuse_bad_values():
    with pytest.raises(ValueError, match="alpha must be 'auto' or a number > 0"):
        SACConfig(alpha="high")
    with pytest.raises(ValueError, match="tau must be in"):
        TD3Config(tau=0.0)
    with pytest.raises(ValueError, match="learning_starts"):
        SACConfig(learning_starts=10, replay_capacity=5)




def test_bfloat16_critic_values_stay_float32_and_track_float32():
    torch.manual_seed(0)
    critic = EnsembleCritic(OBS_SIZE, 2, (64, 64))
    observation, action = torch.randn(32, OBS_SIZE), torch.rand(32, 2) * 2 - 1
    reference = critic(observation, action)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        values = critic(observation, action)
    assert values.dtype == torch.float32
    torch.testing.assert_close(values, reference, rtol=0.05, atol=0.02)
    assert not torch.equal(values, reference)  # The hidden layers did run in bfloat16.


@pytest.mark.parametrize("make", [_sac, _td3])
def test_bfloat16_learners_keep_float32_state_and_track_float32(make):
    """The same seeded updates in both precisions: parameters stay float32, losses stay close."""
    runs = {}
    for precision in ("float32", "bfloat16"):
        learner = make(precision=precision, hidden_sizes=(64, 64))
        runs[precision] = [float(learner.step()["critic_loss"]) for _ in range(5)]
        modules = learner._modules.values()
        assert all(p.dtype == torch.float32 for m in modules for p in m.parameters())
    np.testing.assert_allclose(runs["bfloat16"], runs["float32"], rtol=0.05)
    assert runs["bfloat16"] != runs["float32"]


def test_an_unknown_precision_is_refused_by_every_replay_agent():
    for config in (SACConfig, TD3Config):
        with pytest.raises(ValueError, match=r"precision must be one of \('float32', 'bfloat16'\), got 'fp16'"):
            config(precision="fp16")


def _prioritized_sample(seed: int = 0, batch_size: int = 32) -> PrioritizedSample:
    probabilities = np.linspace(0.1, 1.0, batch_size)
    return PrioritizedSample(next(_batches(seed, batch_size)), np.arange(batch_size), probabilities / probabilities.sum())


def test_td3_weights_the_critic_loss_by_importance_and_writes_mean_abs_td_back():
    sample = _prioritized_sample()
    updates = []
    torch.manual_seed(0)
    cfg = TD3Config(hidden_sizes=(16,), prioritized=True, target_noise=0.0, importance_sampling_anneal_steps=0)
    learner = TD3Learner(DeterministicPolicy(OBS_SIZE, 2, cfg.hidden_sizes), EnsembleCritic(OBS_SIZE, 2, cfg.hidden_sizes),
                         ActionBounds(ACTIONS), itertools.repeat(sample), cfg, torch.device("cpu"),
                         priority_updater=lambda keys, p: updates.append((keys, p)))
    batch = learner._to_device(sample.data)
    with torch.no_grad():  # The TD errors by hand, before the step moves anything.
        q = learner._critic(batch.observation, ActionBounds(ACTIONS).to_unit(batch.action))
        next_q = learner._target_critic(batch.next_observation, learner._target_policy(batch.next_observation))
        td = q - (batch.reward + batch.discount * next_q.min(0).values)
    weights = torch.as_tensor(sample.probabilities.min() / sample.probabilities, dtype=torch.float32)  # beta = 1.
    metrics = learner.step()
    assert float(metrics["critic_loss"]) == pytest.approx(float((weights * td.pow(2).sum(0)).mean()), rel=1e-5)
    assert float(metrics["critic_loss"]) != pytest.approx(float(td.pow(2).sum(0).mean()), rel=1e-2)
    keys, priorities = updates[0]
    np.testing.assert_array_equal(keys, sample.keys)
    np.testing.assert_allclose(priorities, td.abs().mean(0).numpy(), rtol=1e-5)
    assert float(metrics["beta"]) == 1.0 and "importance_weight_mean" in metrics


def test_sac_with_a_prioritized_replay_samples_by_the_new_priorities():
    spec = EnvironmentSpec(observations=specs.Array((OBS_SIZE,), np.float32), actions=ACTIONS,
                           rewards=specs.Array((), np.float32), discounts=specs.BoundedArray((), np.float32, 0.0, 1.0))
    builder = SACBuilder(SACConfig(hidden_sizes=(16,), batch_size=32, prioritized=True, priority_exponent=1.0))
    replay = builder.make_replay(spec, seed=0)
    assert isinstance(replay, PrioritizedReplay) and builder.priority_updater(replay) == replay.update_priorities
    replay.insert(next(_batches(1, 64)))
    learner = builder.make_learner(builder.make_networks(spec), iter(lambda: replay.sample(32), None), spec,
                                   torch.device("cpu"), Counter(), None, seed=0, replay=replay)
    metrics = learner.step()
    assert 0.4 <= float(metrics["beta"]) < 1.0 and float(metrics["importance_weight_mean"]) <= 1.0
    priorities = replay._tree.get(np.arange(64))
    assert np.sum(priorities != 1.0) > 0 and np.ptp(priorities) > 0  # New items start at 1; sampled ones moved.
    uniform = SACBuilder(SACConfig(hidden_sizes=(16,)))
    assert not isinstance(uniform.make_replay(spec, seed=0), PrioritizedReplay)
    assert uniform.priority_updater(replay) is None
