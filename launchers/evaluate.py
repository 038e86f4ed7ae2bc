"""Evaluate a run's latest checkpoint without training: greedy episodes, mean and std of the return.

    python -m launchers.evaluate --run_dir=RUN_DIR [--episodes=30] [--seed=N] [--video]

The run's config.json says which agent and environment to build; the newest
readable checkpoint in RUN_DIR/checkpoints gives the weights. Atari runs also
report the raw game score (whole games, unclipped). The result is printed and
written to RUN_DIR/evaluation.json.
"""

from __future__ import annotations

import dataclasses
import json
import os
import sys
from typing import Any, Mapping, Sequence

from absl import app, flags

from components.core import VariableSource
from components.counting import Counter
from components.loggers import NoOpLogger
from launchers.artifacts import record_video

FLAGS = flags.FLAGS
flags.DEFINE_string("run_dir", None, "The run folder to evaluate (its config.json and checkpoints/).")
flags.DEFINE_integer("episodes", 30, "Greedy episodes to run.", lower_bound=1)
flags.DEFINE_integer("seed", None, "Seed of the evaluation environment (default: the run's seed + 20,000, "
                     "so episodes differ from the ones evaluated during training).")
flags.DEFINE_bool("video", False, "Also record the first episode to RUN_DIR/videos/evaluate.mp4 (GIF without ffmpeg).")


class CheckpointVariables(VariableSource):
    """Serves the networks saved in a checkpoint, as the learner served them."""

    def __init__(self, modules: Mapping[str, Mapping[str, Any]]) -> None:
        self._modules = modules

    def get_variables(self, names: Sequence[str]) -> list[Mapping[str, Any]]:
        missing = [n for n in names if n not in self._modules]
        if missing:
            raise ValueError(f"The checkpoint has no networks {missing}; it has {sorted(self._modules)}.")
        return [self._modules[n] for n in names]


def evaluate_run(run_dir: str, episodes: int = 30, seed: int | None = None, video: bool = False) -> dict[str, Any]:
    """Runs `episodes` greedy episodes with the newest readable checkpoint of `run_dir`; returns the results."""
    from components.checkpointing import Checkpointer
    from components.specs import make_environment_spec
    from launchers.experiment import experiment_from_declaration, load_declaration
    from launchers.evaluator import Evaluator
    from launchers.run_folder import check_checkpoint

    declaration = {**load_declaration(run_dir), "run_dir": run_dir, "resume": False, "eval_episodes": episodes}
    experiment = experiment_from_declaration(declaration)
    found = Checkpointer(os.path.join(run_dir, "checkpoints")).latest()
    if found is None:
        raise ValueError(f"{run_dir!r} has no checkpoints/ckpt-*.json to evaluate.")
    state, manifest = found
    check_checkpoint(manifest, experiment)
    if seed is not None:  # The Evaluator seeds its environment with experiment.seed + 10,000.
        experiment = dataclasses.replace(experiment, seed=seed - 10_000)
    else:
        experiment = dataclasses.replace(experiment, seed=experiment.seed + 10_000)
    factory = experiment.evaluation_environment_factory or experiment.environment_factory
    probe = factory(experiment.seed)
    try:
        spec = make_environment_spec(probe)
    finally:
        probe.close()
    source = CheckpointVariables(state["learner"]["modules"])
    evaluator = Evaluator(experiment, spec, source, Counter(), NoOpLogger())
    try:
        row = evaluator.evaluate(float(state.get("train_seconds", 0.0)))
        video_path = (record_video(experiment, evaluator.policy, os.path.join(run_dir, "videos", "evaluate.mp4"))
                      if video else None)
    finally:
        evaluator.close()
    result = {"run_dir": run_dir, "checkpoint": manifest["file"], "checkpoint_step": manifest["step"],
              "episodes": row["eval_return_count"], "return_mean": row["eval_return_mean"],
              "return_std": row["eval_return_std"], "return_min": row["eval_return_min"],
              "return_max": row["eval_return_max"]}
    if "eval_raw_score_mean" in row:
        result.update(raw_score_mean=row["eval_raw_score_mean"], raw_score_std=row["eval_raw_score_std"])
    if video:
        result["video"] = video_path
    with open(os.path.join(run_dir, "evaluation.json"), "w") as f:
        json.dump(result, f, indent=2)
    return result


def main(argv: Sequence[str]) -> None:
    if len(argv) > 1:
        raise app.UsageError(f"Unexpected arguments: {' '.join(argv[1:])}")
    if not FLAGS.run_dir:
        raise app.UsageError("--run_dir is required: the run folder to evaluate.")
    try:
        result = evaluate_run(FLAGS.run_dir, FLAGS.episodes, FLAGS.seed, FLAGS.video)
    except (ValueError, TypeError) as error:
        raise app.UsageError(str(error)) from None
    raw = (f", raw score {result['raw_score_mean']:.1f} +- {result['raw_score_std']:.1f}"
           if "raw_score_mean" in result else "")
    print(f"[evaluate] {result['episodes']} episodes with {result['checkpoint']} (actor step "
          f"{result['checkpoint_step']:,}): return {result['return_mean']:.2f} +- {result['return_std']:.2f}{raw}",
          flush=True)
    sys.stdout.write(json.dumps(result) + "\n")


if __name__ == "__main__":
    app.run(main)
