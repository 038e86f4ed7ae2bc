"""IMPALA's learner: A2C's update when the actors' policy is the learner's, a corrected one when it is not."""

from __future__ import annotations

import copy

import dm_env
import numpy as np
import pytest
import torch
from dm_env import specs

from agents.a2c import A2CConfig, A2CLearner
from agents.a2c.learning import evaluate_rollouts
from agents.impala import IMPALABuilder, IMPALAConfig, IMPALALearner
from components.actor_critic import make_actor_critic
from components.specs import EnvironmentSpec
from components.types import Trajectory

FIRST, MID, LAST = (int(t) for t in (dm_env.StepType.FIRST, dm_env.StepType.MID, dm_env.StepType.LAST))
SPEC = EnvironmentSpec(specs.Array((3,), np.float32), specs.DiscreteArray(2), specs.Array((), np.float32),
                       specs.BoundedArray((), np.float32, 0.0, 1.0))
SHARED = dict(learning_rate=1e-2, optimizer="adam", optimizer_eps=1e-5, max_grad_norm=None, rollout_length=6, gae_lambda=1.0,
              entropy_coef=0.01, value_coef=0.5, discount=0.9, hidden_sizes=(8,))


def trajectories(network: torch.nn.Module, log_prob_shift: float) -> Trajectory:
    """Two lanes of 6 steps, an episode end inside the first; the actor's log-probs are the network's
    plus `log_prob_shift` (0: the actor acted with the learner's weights)."""
    rng = np.random.default_rng(0)
    step_type = np.array([[FIRST, MID, LAST, FIRST, MID, MID, MID], [MID] * 7], np.int8)
    batch = Trajectory(observation=rng.normal(size=(2, 7, 3)).astype(np.float32),
                       action=rng.integers(0, 2, size=(2, 6)), reward=rng.normal(size=(2, 6)).astype(np.float32),
                       discount=np.where(step_type[:, 1:] == LAST, 0.0, 1.0).astype(np.float32),
                       step_type=step_type, extras={"raw_action": rng.integers(0, 2, size=(2, 6))})
    with torch.no_grad():
        log_prob, _, _ = evaluate_rollouts(network, _tensors(batch))
    return batch._replace(extras={**batch.extras, "log_prob": log_prob.numpy() + np.float32(log_prob_shift)})


def _tensors(batch: Trajectory) -> Trajectory:
    return Trajectory(*(torch.as_tensor(x) for x in batch[:5]), {k: torch.as_tensor(v) for k, v in batch.extras.items()})


def one_step(learner_class, config, network, batch) -> tuple[dict, list[torch.Tensor]]:
    network = copy.deepcopy(network)
    learner = learner_class(network, iter([batch]), config, torch.device("cpu"))
    metrics = learner.step()
    return metrics, [p.detach().clone() for p in network.parameters()]


def test_on_policy_impala_takes_a2cs_step():
    torch.manual_seed(0)
    network = make_actor_critic(SPEC, (8,))
    batch = trajectories(network, 0.0)
    impala_metrics, impala = one_step(IMPALALearner, IMPALAConfig(**SHARED), network, batch)
    _, a2c = one_step(A2CLearner, A2CConfig(**SHARED), network, batch)
    assert float(impala_metrics["importance_ratio"]) == pytest.approx(1.0, abs=1e-6)
    assert float(impala_metrics["rho_clipped"]) == 0.0
    for p, q in zip(impala, a2c):
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    assert any(not torch.equal(p, q) for p, q in zip(impala, network.parameters()))  # It moved.


def test_stale_actors_are_corrected_and_clipped():
    torch.manual_seed(0)
    network = make_actor_critic(SPEC, (8,))
    _, a2c = one_step(A2CLearner, A2CConfig(**SHARED), network, trajectories(network, 0.0))
    # The actor found its actions less likely than the learner does: every ratio is e > rho_bar = 1.
    metrics, impala = one_step(IMPALALearner, IMPALAConfig(**SHARED), network, trajectories(network, -1.0))
    assert float(metrics["importance_ratio"]) == pytest.approx(np.e, rel=1e-5)
    assert float(metrics["rho_clipped"]) == 1.0
    for p, q in zip(impala, a2c):  # Every weight clipped to 1: the on-policy step again.
        torch.testing.assert_close(p, q, rtol=1e-6, atol=1e-7)
    # More likely to the actor: ratios of 1/e weigh every term down, so the step differs.
    metrics, damped = one_step(IMPALALearner, IMPALAConfig(**SHARED), network, trajectories(network, 1.0))
    assert float(metrics["importance_ratio"]) == pytest.approx(1 / np.e, rel=1e-5)
    assert any(not torch.allclose(p, q) for p, q in zip(damped, a2c))


@pytest.mark.parametrize("field", ["rho_bar", "c_bar"])
def test_non_positive_clips_are_refused(field):
    with pytest.raises(ValueError, match=f"{field} must be > 0, got 0.0"):
        IMPALAConfig(**{field: 0.0})


def test_impala_fits_the_actor_critics_action_kinds():
    assert IMPALABuilder(IMPALAConfig()).action_kinds == ("discrete", "multi_discrete", "bounded", "unbounded")
