"""Unit tests of the value-based learners (DQN, NFQ) and their builders, without an environment loop.

The Q networks are bias-free linear layers on one-hot observations, so
Q(s, a) = W[a, s] and every TD target, loss and gradient can be computed by
hand (here: with numpy, independently of the learner's torch code).

Conventions: S states, A actions; a batch is a `Transition` of numpy arrays
with `discount` already the full bootstrap factor (the adder folds gamma in),
so a learner's target is `reward + discount * V(next_observation)`.
"""

from __future__ import annotations

import dataclasses
import io
import itertools

import dm_env
import numpy as np
import pytest
import torch
from dm_env import specs
from torch import nn

from agents.dqn import DQNBuilder, DQNConfig, DQNLearner
from agents.nfq import NFQBuilder, NFQConfig, NFQLearner
from components.core import Replay, batch_iterator
from components.counting import Counter
from components.loggers import Logger
from components.specs import EnvironmentSpec
from components.types import PrioritizedSample, Transition

S, A = 4, 3
CPU = torch.device("cpu")


# Online and target weights, W[a, s] = Q(s, a). Every column has distinct
# entries (no argmax ties), and the two matrices disagree on the greedy action
# of every next state, so Double-Q and plain Q-learning give different targets.
W_ONLINE = np.array([
    [1.0, 0.0, 2.0, -1.0],
    [0.5, 3.0, 1.0, 0.0],
    [2.0, 1.0, 0.0, 1.5],
], np.float32)
W_TARGET = np.array([
    [5.0, -2.0, 0.0, 4.0],
    [1.0, 0.5, 6.0, -3.0],
    [0.0, 7.0, 1.0, 2.0],
], np.float32)

# A fixed batch: (s, a) pairs are all distinct, discounts include a termination (0).
STATES = np.array([0, 1, 2, 3, 0, 2])
ACTIONS = np.array([0, 1, 2, 0, 2, 1])
REWARDS = np.array([1.0, -0.5, 0.0, 2.0, 0.3, -1.0], np.float32)
DISCOUNTS = np.array([0.9, 0.9, 0.0, 0.45, 0.9, 0.81], np.float32)
NEXT_STATES = np.array([1, 2, 3, 0, 3, 1])


def onehot(states: np.ndarray) -> np.ndarray:
    return np.eye(S, dtype=np.float32)[states]


def make_batch(rewards=REWARDS, discounts=DISCOUNTS) -> Transition:
    return Transition(observation=onehot(STATES), action=ACTIONS.astype(np.int32),
                      reward=np.asarray(rewards, np.float32), discount=np.asarray(discounts, np.float32),
                      next_observation=onehot(NEXT_STATES))


def linear_q(weight: np.ndarray) -> nn.Linear:
    net = nn.Linear(S, A, bias=False)
    with torch.no_grad():
        net.weight.copy_(torch.as_tensor(weight))
    return net


def weight_of(learner, name: str) -> np.ndarray:
    return learner.get_variables([name])[0]["weight"].numpy()


def dqn_config(**overrides) -> DQNConfig:
    values = dict(learning_rate=1e-2, max_grad_norm=None, target_update_period=10_000, loss="mse", double_q=True)
    values.update(overrides)
    return DQNConfig(**values)


def nfq_config(**overrides) -> NFQConfig:
    values = dict(learning_rate=1e-2, max_grad_norm=None)
    values.update(overrides)
    return NFQConfig(**values)


def make_dqn(online=W_ONLINE, target=W_TARGET, batch=None, **overrides):
    """A DQN learner whose online net is `online` and whose target net is `target`.

    The learner copies the network it is given into its target network, so the
    net is built with the target weights and then overwritten in place.
    """
    net = linear_q(target)
    learner = DQNLearner(net, itertools.repeat(batch or make_batch()), dqn_config(**overrides), CPU)
    with torch.no_grad():
        net.weight.copy_(torch.as_tensor(online))
    return learner, net


def make_nfq(online=W_ONLINE, batch=None, **overrides):
    net = linear_q(online)
    return NFQLearner(net, itertools.repeat(batch or make_batch()), nfq_config(**overrides), CPU), net


# ---------------------------------------------------------------------------
# Reference computations (numpy).
# ---------------------------------------------------------------------------

def reference_targets(w_online, w_target, double_q, rewards=REWARDS, discounts=DISCOUNTS):
    if double_q:
        next_actions = w_online[:, NEXT_STATES].argmax(axis=0)
    else:
        next_actions = w_target[:, NEXT_STATES].argmax(axis=0)
    next_values = w_target[next_actions, NEXT_STATES]
    return rewards.astype(np.float64) + discounts * next_values


def reference_loss(q_taken, targets, loss):
    x = targets - q_taken
    if loss == "mse":
        return float(np.mean(0.5 * x ** 2))
    return float(np.mean(np.where(np.abs(x) < 1.0, 0.5 * x ** 2, np.abs(x) - 0.5)))  # Huber, delta 1.


def reference_gradient(w_online, targets, loss):
    """dLoss/dW for the online net, with no gradient through the targets."""
    q_taken = w_online[ACTIONS, STATES]
    x = targets - q_taken
    dloss_dq = -x if loss == "mse" else -np.clip(x, -1.0, 1.0)
    grad = np.zeros_like(w_online, dtype=np.float64)
    np.add.at(grad, (ACTIONS, STATES), dloss_dq / len(x))
    return grad


Q_TAKEN = W_ONLINE[ACTIONS, STATES].astype(np.float64)


# ---------------------------------------------------------------------------
# DQN: TD targets, losses, gradients.
# ---------------------------------------------------------------------------

def test_reference_setup_distinguishes_double_q_and_huber_regimes():
    """Guards the fixtures: otherwise the loss tests below could not tell the variants apart."""
    double = reference_targets(W_ONLINE, W_TARGET, True)
    plain = reference_targets(W_ONLINE, W_TARGET, False)
    assert not np.allclose(double, plain)
    td = np.abs(double - Q_TAKEN)
    assert (td < 1).any() and (td > 1).any()


@pytest.mark.parametrize("double_q", [True, False])
@pytest.mark.parametrize("loss", ["mse", "huber"])
def test_dqn_loss_matches_hand_computed_td_loss(double_q, loss):
    learner, _ = make_dqn(double_q=double_q, loss=loss)
    metrics = learner.step()
    targets = reference_targets(W_ONLINE, W_TARGET, double_q)
    expected = reference_loss(Q_TAKEN, targets, loss)
    assert float(metrics["loss"]) == pytest.approx(expected, rel=1e-5)
    assert float(metrics["q_mean"]) == pytest.approx(Q_TAKEN.mean(), rel=1e-5)
    assert float(metrics["td_error_abs"]) == pytest.approx(np.abs(targets - Q_TAKEN).mean(), rel=1e-5)


@pytest.mark.parametrize("double_q", [True, False])
@pytest.mark.parametrize("loss", ["mse", "huber"])
def test_dqn_gradient_flows_only_through_q_taken(double_q, loss):
    learner, net = make_dqn(double_q=double_q, loss=loss)
    metrics = learner.step()
    expected = reference_gradient(W_ONLINE, reference_targets(W_ONLINE, W_TARGET, double_q), loss)
    np.testing.assert_allclose(net.weight.grad.numpy(), expected, rtol=1e-5, atol=1e-7)
    assert float(metrics["grad_norm"]) == pytest.approx(np.linalg.norm(expected), rel=1e-5)
    # Adam's first step moves each entry with a nonzero gradient by about lr against it; the rest stay put.
    moved = weight_of(learner, "q") - W_ONLINE
    np.testing.assert_allclose(moved, -1e-2 * np.sign(expected), atol=1e-5)
    # The target network is not trained.
    np.testing.assert_array_equal(weight_of(learner, "target_q"), W_TARGET)


def test_dqn_zero_discount_does_not_bootstrap():
    zeros = np.zeros_like(DISCOUNTS)
    learner, _ = make_dqn(target=W_TARGET * 1000.0, batch=make_batch(discounts=zeros))
    metrics = learner.step()
    assert float(metrics["loss"]) == pytest.approx(float(np.mean(0.5 * (REWARDS - Q_TAKEN) ** 2)), rel=1e-5)


def test_dqn_target_network_is_a_separate_copy():
    learner, net = make_dqn()
    # Overwriting the online net (done in make_dqn) left the target at the construction-time weights.
    np.testing.assert_array_equal(weight_of(learner, "target_q"), W_TARGET)
    np.testing.assert_array_equal(weight_of(learner, "q"), W_ONLINE)


# ---------------------------------------------------------------------------
# DQN: target updates.
# ---------------------------------------------------------------------------

def test_dqn_hard_target_update_every_period_steps():
    learner, _ = make_dqn(target_update_period=3, target_update_tau=1.0, learning_rate=0.1)
    target = W_TARGET
    for step in range(1, 8):
        learner.step()
        online = weight_of(learner, "q")
        if step % 3 == 0:
            np.testing.assert_array_equal(weight_of(learner, "target_q"), online)
            target = online
        else:
            np.testing.assert_array_equal(weight_of(learner, "target_q"), target)
            assert not np.array_equal(online, target)  # The copy only happens on period boundaries.


def test_dqn_polyak_target_update():
    tau = 0.25
    learner, _ = make_dqn(target_update_period=2, target_update_tau=tau, learning_rate=0.1)
    target = W_TARGET.astype(np.float64)
    for step in range(1, 7):
        learner.step()
        online = weight_of(learner, "q")
        if step % 2 == 0:
            target = target + tau * (online - target)
        np.testing.assert_allclose(weight_of(learner, "target_q"), target, rtol=1e-6, atol=1e-6)
    # Polyak averaging never jumps all the way to the online weights.
    assert not np.allclose(weight_of(learner, "target_q"), weight_of(learner, "q"))


# ---------------------------------------------------------------------------
# Gradient clipping.
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("make", [make_dqn, make_nfq], ids=["dqn", "nfq"])
def test_gradient_norm_clipping_bounds_the_update(make):
    unclipped_learner, unclipped_net = make()
    unclipped_metrics = unclipped_learner.step()
    raw = unclipped_net.weight.grad.numpy().copy()
    raw_norm = np.linalg.norm(raw)
    assert raw_norm > 0.1

    max_norm = 0.05
    learner, net = make(max_grad_norm=max_norm)
    metrics = learner.step()
    # The logged norm is the pre-clip one; the gradient the optimizer used has norm max_norm, same direction.
    assert float(metrics["grad_norm"]) == pytest.approx(float(unclipped_metrics["grad_norm"]), rel=1e-6)
    assert float(metrics["grad_norm"]) == pytest.approx(raw_norm, rel=1e-5)
    clipped = net.weight.grad.numpy()
    assert np.linalg.norm(clipped) == pytest.approx(max_norm, rel=1e-4)
    np.testing.assert_allclose(clipped, raw * (max_norm / raw_norm), rtol=1e-4, atol=1e-8)
    # Adam's first moment after one step is (1 - beta1) * the gradient it was given: the clipped one.
    exp_avg = next(iter(learner.save()["optimizer"]["state"].values()))["exp_avg"].numpy()
    np.testing.assert_allclose(exp_avg, 0.1 * clipped, rtol=1e-4, atol=1e-9)


@pytest.mark.parametrize("make", [make_dqn, make_nfq], ids=["dqn", "nfq"])
def test_gradient_below_max_norm_is_not_clipped(make):
    reference_learner, reference_net = make()
    reference_learner.step()
    learner, net = make(max_grad_norm=1e6)
    learner.step()
    np.testing.assert_array_equal(net.weight.grad.numpy(), reference_net.weight.grad.numpy())


# ---------------------------------------------------------------------------
# NFQ.
# ---------------------------------------------------------------------------

def test_nfq_loss_bootstraps_from_online_max_without_gradient():
    learner, net = make_nfq()
    metrics = learner.step()
    targets = REWARDS + DISCOUNTS * W_ONLINE[:, NEXT_STATES].max(axis=0)
    assert float(metrics["loss"]) == pytest.approx(float(np.mean(0.5 * (targets - Q_TAKEN) ** 2)), rel=1e-5)
    assert float(metrics["q_mean"]) == pytest.approx(Q_TAKEN.mean(), rel=1e-5)
    np.testing.assert_allclose(net.weight.grad.numpy(), reference_gradient(W_ONLINE, targets, "mse"),
                               rtol=1e-5, atol=1e-7)


def test_nfq_zero_discount_does_not_bootstrap():
    learner, _ = make_nfq(online=W_ONLINE, batch=make_batch(discounts=np.zeros_like(DISCOUNTS)))
    metrics = learner.step()
    assert float(metrics["loss"]) == pytest.approx(float(np.mean(0.5 * (REWARDS - Q_TAKEN) ** 2)), rel=1e-5)


def test_nfq_with_prioritized_replay_weights_the_loss_and_writes_abs_td_back():
    probabilities = np.linspace(0.05, 0.3, len(STATES))
    sample = PrioritizedSample(make_batch(), np.arange(len(STATES)), probabilities / probabilities.sum())
    updates = []
    net = linear_q(W_ONLINE)
    learner = NFQLearner(net, itertools.repeat(sample), nfq_config(prioritized=True, importance_sampling_anneal_steps=0),
                         CPU, priority_updater=lambda keys, p: updates.append((keys, p)))
    metrics = learner.step()
    targets = REWARDS + DISCOUNTS * W_ONLINE[:, NEXT_STATES].max(axis=0)
    weights = probabilities.min() / probabilities  # beta = 1 (no annealing).
    assert float(metrics["loss"]) == pytest.approx(float(np.mean(weights * 0.5 * (targets - Q_TAKEN) ** 2)), rel=1e-5)
    np.testing.assert_array_equal(updates[0][0], np.arange(len(STATES)))
    np.testing.assert_allclose(updates[0][1], np.abs(targets - Q_TAKEN), rtol=1e-5)


def test_nfq_serves_only_its_q_network():
    learner, _ = make_nfq()
    with pytest.raises(KeyError, match="target_q"):
        learner.get_variables(["target_q"])


# ---------------------------------------------------------------------------
# Learning on a fixed batch.
# ---------------------------------------------------------------------------

@pytest.mark.parametrize("make,overrides", [
    # The target net starts as a copy of the online net, as in a real run.
    (make_dqn, dict(loss="mse", target=W_ONLINE)),
    (make_dqn, dict(loss="mse", double_q=False)),
    (make_dqn, dict(loss="huber", double_q=False)),
    (make_dqn, dict(loss="huber", target=W_ONLINE, target_update_period=20)),
    (make_nfq, dict()),
], ids=["dqn-mse-double", "dqn-mse", "dqn-huber", "dqn-huber-double-moving-target", "nfq"])
def test_repeated_steps_on_a_fixed_batch_drive_the_loss_down(make, overrides):
    learner, _ = make(learning_rate=0.05, **overrides)
    losses = [float(learner.step()["loss"]) for _ in range(300)]
    assert losses[0] > 0.5
    assert max(losses[-10:]) < 1e-3 * losses[0], losses[::30]


# ---------------------------------------------------------------------------
# Variables, save and restore.
# ---------------------------------------------------------------------------

def test_get_variables_returns_copies():
    learner, net = make_dqn()
    q, target = learner.get_variables(["q", "target_q"])
    assert set(q) == {"weight"} and set(target) == {"weight"}
    q["weight"].add_(100.0)
    target["weight"].zero_()
    np.testing.assert_array_equal(net.weight.detach().numpy(), W_ONLINE)
    np.testing.assert_array_equal(weight_of(learner, "q"), W_ONLINE)
    np.testing.assert_array_equal(weight_of(learner, "target_q"), W_TARGET)
    # A fetched copy is a snapshot: later learner steps do not change it.
    snapshot = learner.get_variables(["q"])[0]["weight"].clone()
    fetched = learner.get_variables(["q"])[0]["weight"]
    learner.step()
    assert torch.equal(fetched, snapshot)
    assert not np.array_equal(weight_of(learner, "q"), snapshot.numpy())


@pytest.mark.parametrize("make,known", [(make_dqn, ["q", "target_q"]), (make_nfq, ["q"])], ids=["dqn", "nfq"])
def test_get_variables_unknown_name_is_a_key_error_listing_known_names(make, known):
    learner, _ = make()
    with pytest.raises(KeyError) as info:
        learner.get_variables(["q", "policy"])
    message = str(info.value)
    assert "policy" in message
    for name in known:
        assert repr(name) in message


def _serialized(state):
    buffer = io.BytesIO()
    torch.save(state, buffer)
    buffer.seek(0)
    return torch.load(buffer, weights_only=False)


def _learner_state(learner):
    """Every tensor of a learner's saved state, copied, keyed by path."""
    state = learner.save()
    flat = {f"modules/{m}/{k}": v.clone() for m, sd in state["modules"].items() for k, v in sd.items()}
    for pid, slots in state["optimizer"]["state"].items():
        for key, value in slots.items():
            flat[f"optimizer/{pid}/{key}"] = value.clone()
    flat["num_steps"] = torch.tensor(state["num_steps"])
    return flat


def _assert_same_state(a, b):
    sa, sb = _learner_state(a), _learner_state(b)
    assert sa.keys() == sb.keys()
    for key in sa:
        assert torch.equal(sa[key], sb[key]), key


@pytest.mark.parametrize("make", [make_dqn, make_nfq], ids=["dqn", "nfq"])
def test_save_restore_round_trips_networks_optimizer_and_step_count(make):
    source, _ = make(learning_rate=0.05, **({"target_update_period": 4} if make is make_dqn else {}))
    for _ in range(6):
        source.step()
    state = _serialized(source.save())  # A checkpoint, as written to disk.
    assert state["num_steps"] == 6

    restored, _ = make(online=np.zeros_like(W_ONLINE), learning_rate=0.05,
                       **({"target_update_period": 4} if make is make_dqn else {}))
    restored.restore(state)
    assert restored.num_steps == 6
    _assert_same_state(source, restored)

    # The next steps match exactly (including the step-8 target update for DQN).
    for _ in range(3):
        a, b = source.step(), restored.step()
        assert float(a["loss"]) == float(b["loss"])
    _assert_same_state(source, restored)


@pytest.mark.parametrize("make", [make_dqn, make_nfq], ids=["dqn", "nfq"])
def test_saved_state_is_a_snapshot(make):
    source, _ = make(learning_rate=0.05)
    source.step()
    state = source.save()
    frozen = {m: {k: v.clone() for k, v in sd.items()} for m, sd in state["modules"].items()}
    for _ in range(3):
        source.step()
    assert state["num_steps"] == 1
    for module, tensors in frozen.items():
        for key, value in tensors.items():
            assert torch.equal(state["modules"][module][key], value), f"{module}/{key} changed after save()"


@pytest.mark.parametrize("make", [make_dqn, make_nfq], ids=["dqn", "nfq"])
def test_two_learners_restored_from_one_saved_state_take_identical_steps(make):
    """The in-memory save() result restored twice (no serialization in between)."""
    source, _ = make(learning_rate=0.05)
    for _ in range(2):
        source.step()
    state = source.save()
    first, _ = make(online=np.zeros_like(W_ONLINE), learning_rate=0.05)
    second, _ = make(online=np.zeros_like(W_ONLINE), learning_rate=0.05)
    first.restore(state)
    second.restore(state)
    for _ in range(3):
        assert float(first.step()["loss"]) == float(second.step()["loss"])
    _assert_same_state(first, second)


class RecordingLogger(Logger):
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def write(self, data) -> None:
        self.rows.append(dict(data))


@pytest.mark.parametrize("learner_class", [DQNLearner, NFQLearner], ids=["dqn", "nfq"])
def test_learner_counts_steps_and_logs_every_log_every(learner_class):
    config = dqn_config() if learner_class is DQNLearner else nfq_config()
    root, logger = Counter(), RecordingLogger()
    learner = learner_class(linear_q(W_ONLINE), itertools.repeat(make_batch()), config, CPU,
                            Counter(root, "learner"), logger, log_every=5)
    for _ in range(12):
        learner.step()
    assert root.get_counts()["learner_steps"] == 12
    assert [row["learner_steps"] for row in logger.rows] == [5, 10]
    for row in logger.rows:
        assert {"loss", "grad_norm", "learner_steps_per_second"} <= set(row)
        assert all(isinstance(row[key], float) for key in ("loss", "grad_norm"))


NUM_LANES, OBS_SIZE, NUM_ACTIONS = 3, 5, 4
FAKE_SPEC = EnvironmentSpec(
    observations=specs.Array((OBS_SIZE,), np.float32, "observation"),
    actions=specs.DiscreteArray(NUM_ACTIONS, dtype=np.int32, name="action"),
    rewards=specs.Array((), np.float32, "reward"),
    discounts=specs.BoundedArray((), np.float32, 0.0, 1.0, "discount"),
)


BUILDERS = [
    (DQNBuilder, DQNConfig, DQNLearner),
    (NFQBuilder, NFQConfig, NFQLearner),
]


def _timestep(step_type, observation, reward=0.0):
    lanes = len(observation)
    return dm_env.TimeStep(step_type=np.full(lanes, step_type), reward=np.full(lanes, reward, np.float32),
                           discount=np.ones(lanes, np.float32), observation=observation)


@pytest.mark.parametrize("builder_class,config_class,learner_class", BUILDERS, ids=["dqn", "nfq"])
def test_builder_wires_every_component(builder_class, config_class, learner_class):
    config = config_class(batch_size=4, min_replay_size=6, replay_capacity=50, hidden_sizes=(8,),
                          samples_per_insert=4.0)
    builder = builder_class(config)
    rng = np.random.default_rng(0)
    observations = rng.normal(size=(NUM_LANES, OBS_SIZE)).astype(np.float32)

    learner_networks = builder.make_networks(FAKE_SPEC)
    assert set(learner_networks) >= set(builder.actor_network_names) == {"q"}
    assert tuple(learner_networks["q"](torch.as_tensor(observations)).shape) == (NUM_LANES, NUM_ACTIONS)

    replay = builder.make_replay(FAKE_SPEC, seed=0)
    assert isinstance(replay, Replay)
    assert replay.capacity == 50 and replay.size() == 0
    assert replay.rate_limiter.min_size_to_sample == 6
    adder = builder.make_adder(replay)
    root = Counter()
    learner = builder.make_learner(learner_networks, batch_iterator(replay, config.batch_size), FAKE_SPEC, CPU,
                                   Counter(root, "learner"), RecordingLogger(), seed=0)
    assert isinstance(learner, learner_class)

    actor_networks = builder.make_networks(FAKE_SPEC)
    policy = builder.make_policy(actor_networks, FAKE_SPEC, evaluation=False, seed=0)
    actor = builder.make_actor(policy, adder, learner, actor_networks)
    # make_actor pulled the learner's weights into the actor's own copy.
    with torch.no_grad():
        assert torch.equal(actor_networks["q"](torch.as_tensor(observations)),
                           learner_networks["q"](torch.as_tensor(observations)))
    assert actor_networks["q"] is not learner_networks["q"]

    actions = actor.select_action(observations)
    assert isinstance(actions, np.ndarray) and actions.shape == (NUM_LANES,)
    assert np.issubdtype(actions.dtype, np.integer)
    assert ((actions >= 0) & (actions < NUM_ACTIONS)).all()

    # The actor writes transitions through the adder; once the replay is full enough the learner steps.
    actor.observe_first(_timestep(dm_env.StepType.FIRST, observations))
    for _ in range(3):
        actions = actor.select_action(observations)
        observations = rng.normal(size=(NUM_LANES, OBS_SIZE)).astype(np.float32)
        actor.observe(actions, _timestep(dm_env.StepType.MID, observations, reward=1.0))
    assert replay.size() == 3 * NUM_LANES
    assert replay.rate_limiter.can_sample(config.batch_size)
    metrics = learner.step()
    assert np.isfinite(float(metrics["loss"]))
    assert root.get_counts()["learner_steps"] == 1


@pytest.mark.parametrize("builder_class,config_class,learner_class", BUILDERS, ids=["dqn", "nfq"])
def test_builder_evaluation_policy_is_greedy(builder_class, config_class, learner_class):
    builder = builder_class(config_class(hidden_sizes=(8,)))
    networks = builder.make_networks(FAKE_SPEC)
    policy = builder.make_policy(networks, FAKE_SPEC, evaluation=True, seed=0)
    observations = np.random.default_rng(1).normal(size=(50, OBS_SIZE)).astype(np.float32)
    with torch.no_grad():
        greedy = networks["q"](torch.as_tensor(observations)).argmax(-1).numpy()
    np.testing.assert_array_equal(policy(observations), greedy)


def test_dqn_builder_rejects_continuous_actions_clearly():
    spec = FAKE_SPEC._replace(actions=specs.BoundedArray((1,), np.float32, -1.0, 1.0, "action"))
    with pytest.raises(TypeError, match="DiscreteArray"):
        DQNBuilder(DQNConfig()).make_networks(spec)


# ---------------------------------------------------------------------------
# Config validation.
# ---------------------------------------------------------------------------

BAD_VALUES = [
    (dict(learning_rate=-1.0), ["learning_rate", "-1"]),
    (dict(discount=1.5), ["discount", "1.5"]),
    (dict(min_replay_size=200, replay_capacity=100), ["min_replay_size", "replay_capacity", "200", "100"]),
    (dict(batch_size=0), ["batch_size"]),
    (dict(epsilon_start=2.0), ["epsilon_start"]),
    (dict(max_grad_norm=0.0), ["max_grad_norm"]),
    (dict(hidden_sizes=(8, 0)), ["hidden_sizes"]),
    (dict(priority_exponent=1.5), ["priority_exponent", "1.5"]),
    (dict(importance_sampling_anneal_steps=-1), ["importance_sampling_anneal_steps"]),
]
DQN_ONLY_BAD_VALUES = [
    (dict(loss="l3"), ["loss", "l3", "huber", "mse"]),
    (dict(target_update_tau=0.0), ["target_update_tau"]),
    (dict(target_update_period=0), ["target_update_period"]),
]


@pytest.mark.parametrize("config_class", [DQNConfig, NFQConfig])
@pytest.mark.parametrize("values,words", BAD_VALUES, ids=[next(iter(v)) for v, _ in BAD_VALUES])
def test_config_rejects_bad_values_naming_the_field(config_class, values, words):
    with pytest.raises(ValueError) as info:
        config_class(**values)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("values,words", DQN_ONLY_BAD_VALUES, ids=[next(iter(v)) for v, _ in DQN_ONLY_BAD_VALUES])
def test_dqn_config_rejects_bad_values_naming_the_field(values, words):
    with pytest.raises(ValueError) as info:
        DQNConfig(**values)
    for word in words:
        assert word in str(info.value)


@pytest.mark.parametrize("config_class", [DQNConfig, NFQConfig])
def test_config_defaults_and_edges_are_valid(config_class):
    config = config_class()
    assert config.min_replay_size <= config.replay_capacity
    dataclasses.replace(config, discount=0.0, max_grad_norm=None, min_replay_size=config.replay_capacity)
    dataclasses.replace(config, discount=1.0)


def test_nfq_bfloat16_tracks_float32_with_float32_weights():
    losses = {}
    for precision in ("float32", "bfloat16"):
        learner, net = make_nfq(precision=precision)
        losses[precision] = [float(learner.step()["loss"]) for _ in range(3)]
        assert net.weight.dtype == torch.float32
    np.testing.assert_allclose(losses["bfloat16"], losses["float32"], rtol=0.05)
