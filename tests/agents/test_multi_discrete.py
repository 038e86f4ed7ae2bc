"""MultiDiscrete and MultiBinary actions: one categorical per dimension for REINFORCE, A2C and PPO."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
import torch
from torch import distributions as D

from components.actor_critic import FactorisedCategoricalHead, make_policy_head
from components.distributions import FactorisedCategorical
from environments.gym_adapter import DmEnvToGymnasium
from launchers.agent_registry import AgentDoesNotFit
from launchers.experiment import experiment_from_declaration
from launchers.runners import run_experiment
from tests.agents.multi_discrete_env import CopyTheTargets

TASKS = {"multi_discrete": "python:tests.agents.multi_discrete_env:make_multi_discrete_task",
         "multi_binary": "python:tests.agents.multi_discrete_env:make_multi_binary_task"}
gymnasium.register("AgentpipeCopyTheTargets-v0", entry_point=lambda: DmEnvToGymnasium(CopyTheTargets(seed=2)),
                   max_episode_steps=50)


def _run(tmp_path, agent: str, env: str, seed: int = 0, num_steps: int = 3_000, **run) -> dict:
    config = {"rollout_length": 32, "hidden_sizes": (32,), "learning_rate": 3e-3} if agent == "ppo" else {}
    return run_experiment(experiment_from_declaration({
        "agent": agent, "env": env, "seed": seed, "num_steps": num_steps, "eval_every": num_steps // 2,
        "eval_episodes": 20, "device": "cpu", "plots": False, "progress": False, "log_interval": 1e9,
        "run_dir": str(tmp_path / f"{agent}_{seed}_{len(env)}"), "num_envs": 4, **run, "agent_config": config}))


def test_log_probabilities_and_entropies_are_the_sums_of_torch_categoricals():
    torch.manual_seed(0)
    logits = torch.randn(6, 3 + 4 + 2)
    distribution = FactorisedCategorical(logits, (3, 4, 2), torch.tensor([1, 0, 5]))
    reference = [D.Categorical(logits=part) for part in logits.split((3, 4, 2), dim=-1)]
    raw = distribution.sample(torch.Generator().manual_seed(1))
    assert raw.shape == (6, 3) and (raw >= 0).all() and (raw < torch.tensor([3, 4, 2])).all()
    expected = sum(r.log_prob(raw[:, i]) for i, r in enumerate(reference))
    torch.testing.assert_close(distribution.log_prob(raw), expected)
    torch.testing.assert_close(distribution.entropy(), sum(r.entropy() for r in reference))
    torch.testing.assert_close(distribution.mode(), torch.stack([r.probs.argmax(-1) for r in reference], -1))
    assert distribution.to_env_action(torch.tensor([[2, 3, 1]])).tolist() == [[3, 3, 6]]  # The minimum added.


def test_per_dimension_masks_restrict_each_dimension():
    logits = torch.zeros(2000, 5)
    mask = torch.tensor([[1, 0, 0, 1, 1]] * 2000)  # Dimension 0 (3 values): only 0; dimension 1 (2): both.
    distribution = FactorisedCategorical(logits, (3, 2), torch.zeros(2, dtype=torch.int64)).masked(mask)
    raw = distribution.sample(torch.Generator().manual_seed(0))
    assert set(raw[:, 0].tolist()) == {0} and set(raw[:, 1].tolist()) == {0, 1}
    torch.testing.assert_close(distribution.entropy(), torch.full((2000,), float(np.log(2))))


def test_the_head_is_chosen_from_an_integer_bounded_action_spec():
    from dm_env import specs

    head = make_policy_head(specs.BoundedArray((2,), np.int64, [1, 0], [3, 3]), features=8)
    assert isinstance(head, FactorisedCategoricalHead) and head.sizes == [3, 4]
    out = head(torch.zeros(5, 8))
    assert out.to_env_action(out.mode()).shape == (5, 2)


@pytest.mark.learning
@pytest.mark.parametrize("task", sorted(TASKS))
def test_ppo_learns_to_copy_every_dimension(tmp_path, learning_seed, task):
    summary = _run(tmp_path, "ppo", TASKS[task], seed=learning_seed)
    assert summary["final_eval_return"] >= 3.8, summary  # 4 is every dimension right at every step.


@pytest.mark.parametrize("agent", ["reinforce", "a2c"])
def test_reinforce_and_a2c_act_and_learn_in_multi_discrete_actions(tmp_path, agent):
    summary = _run(tmp_path, agent, TASKS["multi_discrete"], num_steps=600)
    assert summary["actor_steps"] >= 600 and summary["learner_steps"] > 0


def test_the_gym_backend_steps_multi_discrete_actions(tmp_path):
    summary = _run(tmp_path, "ppo", "gym:AgentpipeCopyTheTargets-v0", num_steps=512, env_backend="gym")
    assert summary["learner_steps"] > 0


@pytest.mark.parametrize("agent", ["dqn", "nfq", "r2d2"])
def test_value_based_agents_refuse_multi_discrete_actions_naming_the_agents_that_fit(tmp_path, agent):
    with pytest.raises(AgentDoesNotFit, match="multi-discrete actions.*Agents for it: reinforce, a2c, ppo"):
        _run(tmp_path, agent, TASKS["multi_binary"], num_steps=64, num_envs=1)


def test_a_multi_discrete_mask_is_the_dimensions_masks_concatenated():
    from dm_env import specs

    from components.action_masks import check_action_mask
    from components.specs import EnvironmentSpec

    def spec(mask_length: int) -> EnvironmentSpec:
        return EnvironmentSpec({"x": specs.Array((1,), np.float32),
                                "action_mask": specs.BoundedArray((mask_length,), np.int8, 0, 1)},
                               specs.BoundedArray((2,), np.int64, 0, [2, 3]), specs.Array((), np.float32),
                               specs.BoundedArray((), np.float32, 0, 1))

    check_action_mask(spec(7))  # 3 + 4 values.
    with pytest.raises(ValueError, match=r"expected shape \(7,\), the masks of the 2 dimensions \(\[3, 4\]\)"):
        check_action_mask(spec(6))
