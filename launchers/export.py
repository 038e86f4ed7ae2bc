"""Export a run's greedy policy to ONNX or TorchScript, to run without the training stack.

    python -m launchers.export --run_dir=RUN_DIR [--checkpoint=latest] --format=onnx|torchscript --output=FILE

Inputs: the observation, batch-first in the spec's dtype (uint8 frame stacks stay uint8): one input named
`observation`, or one per entry of a dict observation, named by its key (nested keys joined with '/').
Outputs: `action`, in the environment's units (the action spec's dtype, bounds applied), and where the
agent has one a second output, `q_values` (DQN, NFQ), `logits` (categorical policies) or `mean` (Gaussian
policies). A recurrent policy also takes `first` (bool (N,): an episode starts) and `state` (zeros at the
start) and returns `next_state` last. Observation scaling, one-hot encodings, action masks and
normalisation statistics are inside the graph. Before writing, the export is checked against the torch policy on 1,000 random observations.
"""

from __future__ import annotations

import json
import os
import sys
import warnings
from typing import Any

import numpy as np
import torch
from absl import app, flags

FORMATS = ("onnx", "torchscript")
PARITY_TOLERANCE = 1e-5

FLAGS = flags.FLAGS


def define_flags() -> None:
    """The launcher's flags (defined when it runs, so importing this module beside another launcher is safe)."""
    flags.DEFINE_string("run_dir", None, "The run folder to export (its config.json and checkpoints/).")
    flags.DEFINE_string("checkpoint", "latest", "'latest', a checkpoint step (e.g. 20000), or its file (ckpt-3.pt).")
    flags.DEFINE_enum("format", "onnx", FORMATS, "onnx (needs the export extra) or torchscript.")
    flags.DEFINE_string("output", None, "File to write (e.g. policy.onnx, policy.pt).")


def load_greedy_graph(run_dir: str, checkpoint: str = "latest"):
    """The run's greedy policy as a `components.greedy.GreedyGraph`, weights from `checkpoint`, on the CPU."""
    from components.greedy import GreedyGraph
    from components.specs import make_environment_spec
    from launchers.experiment import experiment_from_declaration, load_declaration
    from launchers.nodes import make_networks
    from launchers.run_folder import check_checkpoint

    declaration = {**load_declaration(run_dir), "run_dir": run_dir, "resume": False}
    experiment = experiment_from_declaration(declaration)
    state, manifest = _read_checkpoint(run_dir, checkpoint)
    check_checkpoint(manifest, experiment)
    probe = experiment.environment_factory(experiment.seed)
    try:
        spec = make_environment_spec(probe)
    finally:
        probe.close()
    networks = make_networks(experiment, spec)
    modules = state["learner"]["modules"]
    for name in experiment.builder.actor_network_names:
        if name not in modules:
            raise ValueError(f"The checkpoint {manifest['file']} has no network {name!r}; it has {sorted(modules)}.")
        networks[name].load_state_dict(modules[name])
    head = experiment.builder.greedy_head(networks, spec)
    return GreedyGraph(head.cpu(), spec.observations), manifest


def _read_checkpoint(run_dir: str, checkpoint: str) -> tuple[Any, dict[str, Any]]:
    from components.checkpointing import Checkpointer

    checkpointer = Checkpointer(os.path.join(run_dir, "checkpoints"))
    if checkpoint == "latest":
        found = checkpointer.latest()
        if found is None:
            raise ValueError(f"{run_dir!r} has no checkpoints/ckpt-*.json to export.")
        return found
    manifests = checkpointer.manifests()
    name = os.path.splitext(os.path.basename(checkpoint))[0]  # 'ckpt-3' from ckpt-3.json, ckpt-3.pt or ckpt-3.
    wanted = [m for m in manifests if checkpoint == str(m.get("step")) or name == os.path.splitext(m["file"])[0]]
    if not wanted:
        known = ", ".join(f"{m.get('step')} ({os.path.basename(m['file'])})" for m in manifests) or "none"
        raise ValueError(f"No checkpoint {checkpoint!r} in {run_dir}/checkpoints; expected 'latest' or one of: {known}.")
    return checkpointer.load(wanted[-1]), wanted[-1]


def export_graph(graph, fmt: str, output: str) -> None:
    """Writes `graph` as ONNX (batch axis dynamic) or as a traced TorchScript module."""
    if fmt not in FORMATS:
        raise ValueError(f"Unknown export format {fmt!r}; expected one of {', '.join(FORMATS)}.")
    examples = tuple(torch.as_tensor(x) for x in graph.example_inputs(2, np.random.default_rng(0)))
    directory = os.path.dirname(os.path.abspath(output))
    os.makedirs(directory, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        # torch 2.13 marks TorchScript and the TorchScript-based ONNX exporter deprecated; both still work,
        # and the torch.export-based ONNX exporter needs onnxscript, which is not a dependency here.
        warnings.simplefilter("ignore", DeprecationWarning)
        if fmt == "torchscript":
            torch.jit.save(torch.jit.trace(graph, examples, check_trace=False), output)
            return
        try:
            import onnx  # noqa: F401 - the legacy exporter writes protobufs through it.
        except ImportError:
            raise ValueError('--format=onnx needs onnx: pip install "agentpipe[export]".') from None
        names = [*graph.input_names, *graph.output_names]
        torch.onnx.export(graph, examples, output, input_names=graph.input_names, output_names=list(graph.output_names),
                          dynamic_axes={name: {0: "batch"} for name in names}, dynamo=False, opset_version=17)


def run_exported(fmt: str, path: str, inputs: list[np.ndarray], input_names: list[str]) -> list[np.ndarray]:
    """The exported file's outputs for `inputs` (onnxruntime for ONNX, torch.jit for TorchScript)."""
    if fmt == "onnx":
        try:
            import onnxruntime
        except ImportError:
            raise ValueError('Checking an ONNX export needs onnxruntime: pip install "agentpipe[export]".') from None
        session = onnxruntime.InferenceSession(path, providers=["CPUExecutionProvider"])
        return session.run(None, dict(zip(input_names, inputs)))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        module = torch.jit.load(path)
    with torch.no_grad():
        return [o.numpy() for o in module(*(torch.as_tensor(x) for x in inputs))]


def check_parity(graph, fmt: str, path: str, count: int = 1_000, seed: int = 0) -> dict[str, float]:
    """Max |exported - torch| per output on `count` random observations; raises past the tolerance, or when a
    discrete action differs."""
    inputs = graph.example_inputs(count, np.random.default_rng(seed))
    with torch.no_grad():
        expected = [o.numpy() for o in graph(*(torch.as_tensor(x) for x in inputs))]
    got = run_exported(fmt, path, inputs, graph.input_names)
    differences = {}
    for name, want, have in zip(graph.output_names, expected, got):
        have = np.asarray(have)
        if have.dtype != want.dtype or have.shape != want.shape:
            raise AssertionError(f"Exported output {name!r} is {have.dtype}{list(have.shape)}, the torch policy's "
                                 f"{want.dtype}{list(want.shape)}.")
        if np.issubdtype(want.dtype, np.integer):
            wrong = int((have != want).sum())
            if wrong:
                raise AssertionError(f"Exported output {name!r} differs from the torch policy on {wrong} of {count}.")
            differences[name] = 0.0
            continue
        differences[name] = float(np.max(np.abs(have.astype(np.float64) - want.astype(np.float64)), initial=0.0))
        if differences[name] > PARITY_TOLERANCE:
            raise AssertionError(f"Exported output {name!r} differs from the torch policy by up to "
                                 f"{differences[name]:.3g} (tolerance {PARITY_TOLERANCE}).")
    return differences


def export_run(run_dir: str, fmt: str, output: str, checkpoint: str = "latest") -> dict[str, Any]:
    """Exports, checks parity, and returns what was written (also printed by the launcher)."""
    graph, manifest = load_greedy_graph(run_dir, checkpoint)
    export_graph(graph, fmt, output)
    differences = check_parity(graph, fmt, output)
    return {"output": output, "format": fmt, "checkpoint": manifest["file"], "checkpoint_step": manifest["step"],
            "inputs": graph.input_names, "outputs": list(graph.output_names), "max_abs_difference": differences}


def main(argv: list[str]) -> None:
    del argv
    if not FLAGS.run_dir or not FLAGS.output:
        sys.exit("Usage: python -m launchers.export --run_dir=RUN_DIR --format=onnx|torchscript --output=FILE")
    try:
        result = export_run(FLAGS.run_dir, FLAGS.format, FLAGS.output, FLAGS.checkpoint)
    except (ValueError, NotImplementedError) as error:
        sys.exit(f"[export] {error}")
    print(f"[export] wrote {result['output']} ({result['format']}) from {os.path.basename(result['checkpoint'])}: "
          f"inputs {result['inputs']}, outputs {result['outputs']}; parity on 1,000 random observations "
          f"{result['max_abs_difference']}", flush=True)
    print(json.dumps(result))


if __name__ == "__main__":
    define_flags()
    app.run(main)
