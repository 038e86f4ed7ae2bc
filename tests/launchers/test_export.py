"""launchers.export: every feed-forward agent's greedy policy as ONNX and TorchScript, equal to the torch policy."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest
import torch

from launchers.experiment import experiment_from_declaration
from launchers.export import check_parity, export_graph, export_run, load_greedy_graph, run_exported
from launchers.runners import run_experiment

pytest.importorskip("onnx")
pytest.importorskip("onnxruntime")

DICT_TASK = "python:tests.agents.dict_env:make_dict_task"
MASKED_TASK = "python:tests.agents.masked_env:make_masked_task"
CASES = {
    "dqn-cartpole": ("dqn", "gym:CartPole-v1", {}, {"min_replay_size": 50}),
    "c51-dict": ("dqn", DICT_TASK, {}, {"min_replay_size": 50, "num_atoms": 11, "dueling": True}),
    "nfq-cartpole": ("nfq", "gym:CartPole-v1", {}, {}),
    "ppo-normalized": ("ppo", "gym:CartPole-v1", {}, {"normalize_observations": True, "rollout_length": 32}),
    "ppo-pendulum": ("ppo", "gym:Pendulum-v1", {}, {"rollout_length": 32}),
    "a2c-dict": ("a2c", DICT_TASK, {}, {}),
    "reinforce-cartpole": ("reinforce", "gym:CartPole-v1", {}, {}),
    "sac-pendulum": ("sac", "gym:Pendulum-v1", {}, {"learning_starts": 50, "hidden_sizes": (32, 32)}),
    "td3-dict": ("td3", DICT_TASK, {"continuous": True}, {"learning_starts": 50, "hidden_sizes": (16,)}),
}


def _train(tmp_path, agent: str, env: str, env_options: dict, agent_config: dict, **run) -> str:
    run_dir = str(tmp_path / agent)
    run_experiment(experiment_from_declaration({
        "agent": agent, "env": env, "env_options": env_options, "num_steps": 300, "eval_every": 0,
        "eval_episodes": 1, "device": "cpu", "plots": False, "progress": False, "log_interval": 1e9,
        "run_dir": run_dir, "agent_config": agent_config, **run}))
    return run_dir


def _evaluation_policy(run_dir: str, graph):
    """The agent's own evaluation policy over the graph's networks, and the environment spec."""
    from components.specs import make_environment_spec
    from launchers.experiment import load_declaration

    experiment = experiment_from_declaration({**load_declaration(run_dir), "run_dir": run_dir})
    probe = experiment.environment_factory(0)
    spec = make_environment_spec(probe)
    probe.close()
    networks = {"q": graph.head.q_network} if hasattr(graph.head, "q_network") else {"policy": graph.head.policy}
    return experiment.builder.make_policy(networks, spec, evaluation=True, seed=0), spec


def _torch_policy_actions(run_dir: str, inputs: list[np.ndarray], graph) -> tuple[np.ndarray, np.dtype]:
    """What the agent's own evaluation policy picks for the same observations, and the action spec's dtype."""
    import tree

    policy, spec = _evaluation_policy(run_dir, graph)

    observation = inputs[0] if len(inputs) == 1 and graph.input_names == ["observation"] else \
        tree.unflatten_as(spec.observations, inputs)
    output = policy(observation)
    return np.asarray(getattr(output, "action", output)), np.dtype(spec.actions.dtype)


@pytest.mark.parametrize("case", sorted(CASES))
def test_the_exported_policy_equals_the_torch_policy_in_both_formats(tmp_path, case):
    agent, env, env_options, agent_config = CASES[case]
    run_dir = _train(tmp_path, agent, env, env_options, agent_config)
    for fmt, suffix in (("onnx", ".onnx"), ("torchscript", ".pt")):
        result = export_run(run_dir, fmt, str(tmp_path / f"policy{suffix}"))  # Raises past 1e-5 or on any action.
        assert result["outputs"][0] == "action"
        assert all(difference <= 1e-5 for difference in result["max_abs_difference"].values()), result
    graph, _ = load_greedy_graph(run_dir)
    inputs = graph.example_inputs(200, np.random.default_rng(3))
    exported = run_exported("onnx", str(tmp_path / "policy.onnx"), inputs, graph.input_names)
    expected, action_dtype = _torch_policy_actions(run_dir, inputs, graph)
    assert exported[0].dtype == action_dtype  # The action spec's dtype (the epsilon-greedy policy gives int64).
    if np.issubdtype(expected.dtype, np.integer):
        np.testing.assert_array_equal(exported[0], expected)
    else:
        np.testing.assert_allclose(exported[0], expected, rtol=0, atol=1e-5)


def test_a_dict_observation_is_one_named_input_per_key_and_masks_hold_in_the_graph(tmp_path):
    run_dir = _train(tmp_path, "ppo", MASKED_TASK, {}, {"rollout_length": 16})
    graph, _ = load_greedy_graph(run_dir)
    assert graph.input_names == ["action_mask", "features"] and graph.output_names == ("action", "logits")
    path = str(tmp_path / "masked.onnx")
    export_graph(graph, "onnx", path)
    inputs = graph.example_inputs(500, np.random.default_rng(1))
    action = run_exported("onnx", path, inputs, graph.input_names)[0]
    mask = inputs[graph.input_names.index("action_mask")]
    assert mask[np.arange(len(action)), action].all()  # Never a masked action.
    check_parity(graph, "onnx", path)


def test_frames_stay_uint8_inputs(tmp_path):
    from dm_env import specs

    from components.greedy import GreedyGraph, QGreedy
    from components.networks import make_torso

    spec = specs.BoundedArray((4, 36, 36), np.uint8, 0, 255, "frame_stack")
    torso = make_torso(spec, (8,))
    q = torch.nn.Sequential(torso, torch.nn.Linear(torso.output_size, 3))
    graph = GreedyGraph(QGreedy(q, specs.DiscreteArray(3)), spec)
    path = str(tmp_path / "frames.onnx")
    export_graph(graph, "onnx", path)
    import onnx

    model = onnx.load(path)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.UINT8
    assert check_parity(graph, "onnx", path)["q_values"] <= 1e-5


@pytest.mark.parametrize("agent, config", [
    ("ppo", {"core": "lstm", "rollout_length": 16}),
    ("a2c", {"core": "gru"}),
    ("r2d2", {"min_replay_size": 50, "sequence_length": 8, "sequence_period": 4, "burn_in": 2, "batch_size": 8}),
])
def test_a_recurrent_policy_exports_its_state_and_steps_as_the_torch_policy_does(tmp_path, agent, config):
    import dm_env

    run_dir = _train(tmp_path, agent, "gym:CartPole-v1", {}, config)
    path = str(tmp_path / "recurrent.onnx")
    result = export_run(run_dir, "onnx", path)
    assert result["inputs"] == ["observation", "first", "state"] and result["outputs"][-1] == "next_state"
    graph, _ = load_greedy_graph(run_dir)
    policy, _ = _evaluation_policy(run_dir, graph)
    rng = np.random.default_rng(2)
    lanes, state = 3, np.zeros((3, graph.head.state_size), np.float32)
    for t in range(12):  # Three lanes through episodes that start at different steps.
        first = (np.arange(lanes) + t) % 5 == 0 if t else np.ones(lanes, bool)
        observation = rng.normal(size=(lanes, 4)).astype(np.float32)
        action, _, state = run_exported("onnx", path, [observation, first, state], graph.input_names)
        policy.observe_step_types(np.where(first, dm_env.StepType.FIRST, dm_env.StepType.MID))
        expected = policy(observation).action
        np.testing.assert_array_equal(action, expected, err_msg=f"step {t}")


def test_bad_checkpoints_and_formats_fail_clearly(tmp_path):
    run_dir = _train(tmp_path, "dqn", "gym:CartPole-v1", {}, {})
    with pytest.raises(ValueError, match=r"No checkpoint '999'.*expected 'latest' or one of: 3\d\d \(ckpt-0.pt\)"):
        export_run(run_dir, "onnx", str(tmp_path / "x.onnx"), checkpoint="999")
    by_file = export_run(run_dir, "torchscript", str(tmp_path / "x.pt"), checkpoint="ckpt-0.pt")
    assert by_file["checkpoint"] == "ckpt-0.pt"
    assert export_run(run_dir, "torchscript", str(tmp_path / "y.pt"), checkpoint="300")["checkpoint_step"] == 300
    with pytest.raises(ValueError, match="Unknown export format 'tflite'"):
        export_graph(load_greedy_graph(run_dir)[0], "tflite", str(tmp_path / "x"))


def test_the_example_plays_cartpole_from_the_onnx_file_alone(tmp_path):
    run_dir = _train(tmp_path, "dqn", "gym:CartPole-v1", {}, {"min_replay_size": 50})
    path = str(tmp_path / "cartpole.onnx")
    export_run(run_dir, "onnx", path)
    script = os.path.join(os.path.dirname(__file__), "..", "..", "examples", "play_cartpole_onnx.py")
    code = (f"import runpy, sys; sys.argv = ['play', {path!r}, '--episodes=2']; "
            f"runpy.run_path({script!r}, run_name='__main__'); "
            "assert 'torch' not in sys.modules, 'the example must not need torch'")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "returns [" in result.stdout and "mean" in result.stdout


def test_a_plain_training_run_imports_none_of_the_export_tune_and_stats_extras(tmp_path):
    code = ("import sys; from launchers.experiment import experiment_from_declaration; "
            "from launchers.runners import run_experiment; "
            f"run_experiment(experiment_from_declaration({{'agent': 'dqn', 'env': 'gridworld:simple', "
            f"'num_steps': 300, 'eval_every': 150, 'run_dir': {str(tmp_path / 'plain')!r}, 'progress': False}})); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'onnx', 'onnxruntime', 'optuna', 'rliable', "
            "'arch'}))")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "[]"
