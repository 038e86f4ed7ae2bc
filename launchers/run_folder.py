"""The run folder: claimed once (never overwritten unasked), declared in config.json, trimmed on resume.

Every runner calls `prepare_run_dir` before it writes anything, and the
launchers call `check_run_dir` before they build anything, so a second run
into a folder that already holds one fails with the two ways out (`--resume`,
`--overwrite`) and leaves the folder as it was.
"""

from __future__ import annotations

import csv
import glob
import json
import os
import shutil
from typing import Any, Mapping

import torch

from components.checkpointing import Checkpointer
from launchers.experiment import ExperimentConfig

# What marks a folder as holding a run (anything a run writes).
_RUN_FILES = ("config.json", "summary.json", "checkpoints", "*.csv", "events.out.tfevents.*")


def run_files(run_dir: str) -> list[str]:
    """The files and folders in `run_dir` that a run writes (empty when it holds none, or is missing)."""
    found = set()
    for pattern in _RUN_FILES:
        found.update(os.path.basename(path) for path in glob.glob(os.path.join(glob.escape(run_dir), pattern)))
    return sorted(found)


def check_run_dir(experiment: ExperimentConfig) -> None:
    """Fails, changing nothing, when `run_dir` already holds a run and neither `resume` nor `overwrite` is set;
    for `resume`, when it has no checkpoint of this run."""
    if experiment.run_dir is None:
        return
    if experiment.resume:
        check_resumable(experiment)
        return
    existing = run_files(experiment.run_dir)
    if existing and not experiment.overwrite:
        shown = ", ".join(existing[:5]) + (", ..." if len(existing) > 5 else "")
        raise ValueError(f"Run folder {experiment.run_dir!r} already holds a run ({shown}). Continue it with "
                         f"--resume={experiment.run_dir}, delete it first with --overwrite, or choose another "
                         "--run_dir; nothing in it was changed.")
    if experiment.overwrite and os.path.exists(experiment.run_dir) and not existing and os.listdir(experiment.run_dir):
        raise ValueError(f"--overwrite deletes a run folder, but {experiment.run_dir!r} holds no run (no config.json, "
                         "CSV logs or checkpoints) and is not empty; choose another --run_dir.")


def prepare_run_dir(experiment: ExperimentConfig) -> None:
    """Claims the run folder (see `check_run_dir`; `overwrite` deletes the old run, saying so) and writes the
    declaration to `config.json`."""
    if experiment.run_dir is None:
        return
    check_run_dir(experiment)
    if experiment.overwrite and not experiment.resume and run_files(experiment.run_dir):
        print(f"[run] --overwrite: deleting the run in {experiment.run_dir} "
              f"({', '.join(run_files(experiment.run_dir))}).", flush=True)
        shutil.rmtree(experiment.run_dir)
    os.makedirs(experiment.run_dir, exist_ok=True)
    with open(os.path.join(experiment.run_dir, "config.json"), "w") as f:
        # Written with resume and overwrite off: rerunning a folder's config.json starts a new run.
        json.dump({**experiment.declaration, "resume": False, "overwrite": False}, f, indent=2, sort_keys=True,
                  default=str)


def checkpoint_metadata(experiment: ExperimentConfig) -> dict[str, Any]:
    """What a checkpoint records about its run, so it is never restored into another agent or config."""
    declaration = experiment.declaration
    return {"agent": declaration.get("agent"), "agent_config": declaration.get("agent_config"),
            "env": declaration.get("env")}


def check_checkpoint(manifest: Mapping[str, Any], experiment: ExperimentConfig) -> None:
    """Raises a clear error when a checkpoint comes from another agent, config or environment."""
    expected = json.loads(json.dumps(checkpoint_metadata(experiment), default=str))
    for key, value in expected.items():
        saved = manifest.get(key)
        if saved != value:
            raise ValueError(f"The checkpoint in {experiment.run_dir} was written by a run with {key}={saved!r}; "
                             f"this run has {key}={value!r}. Resume it with its own config.json.")


def trim_logs(run_dir: str, actor_steps: float) -> list[dict[str, Any]]:
    """Drops CSV rows logged after `actor_steps` (a resumed run logs them again); returns eval.csv's rows.

    Rows without `actor_steps` (e.g. learner rows before any acting) are kept.
    """
    evaluations: list[dict[str, Any]] = []
    for path in glob.glob(os.path.join(glob.escape(run_dir), "*.csv")):
        with open(path, newline="") as f:
            reader = csv.DictReader(f)
            fields, rows = reader.fieldnames or [], list(reader)
        kept = [r for r in rows if r.get("actor_steps") in (None, "") or float(r["actor_steps"]) <= actor_steps]
        if len(kept) != len(rows):
            temporary = path + ".tmp"
            with open(temporary, "w", newline="") as f:
                writer = csv.DictWriter(f, fieldnames=fields)
                writer.writeheader()
                writer.writerows(kept)
            os.replace(temporary, path)
        if os.path.basename(path) == "eval.csv":
            evaluations = [{k: float(v) for k, v in r.items() if v not in (None, "")} for r in kept]
    return evaluations


def check_resumable(experiment: ExperimentConfig) -> None:
    """For `resume`: fails early, with a clear message, when the run folder has no checkpoint of this run."""
    if not experiment.resume:
        return
    manifests = Checkpointer(os.path.join(experiment.run_dir, "checkpoints")).manifests()
    if not manifests:
        raise ValueError(f"Cannot resume {experiment.run_dir!r}: it has no checkpoints/ckpt-*.json "
                         "(was the run started with a run_dir, and did it get past its first checkpoint?).")
    check_checkpoint(manifests[0], experiment)


def load_resume_state(experiment: ExperimentConfig) -> tuple[dict[str, Any] | None, list[dict[str, Any]]]:
    """For `resume`: the newest readable checkpoint's state and the evaluations logged up to it.

    Call it before any logger opens the run's CSV files: rows logged after
    the checkpoint are dropped, so the resumed run's rows continue the curve.
    """
    if not experiment.resume:
        return None, []
    check_resumable(experiment)
    state, manifest = Checkpointer(os.path.join(experiment.run_dir, "checkpoints")).latest()
    check_checkpoint(manifest, experiment)
    evaluations = trim_logs(experiment.run_dir, state["counter"].get("actor_steps", 0))
    print(f"[checkpoint] resuming {experiment.run_dir} from {manifest['file']} at actor step "
          f"{int(manifest['step']):,}", flush=True)
    return state, evaluations


def write_summary(experiment: ExperimentConfig, evaluations: list[dict[str, Any]], counts: Mapping[str, float],
                  train_seconds: float, wall_seconds: float, device: torch.device | str,
                  **extra: Any) -> dict[str, Any]:
    """The run's summary (returned, and written to `summary.json` in the run folder)."""
    summary = {
        "final_eval_return": evaluations[-1]["eval_return_mean"],
        "best_eval_return": max(e["eval_return_mean"] for e in evaluations),
        "actor_steps": int(counts.get("actor_steps", 0)),
        "actor_episodes": int(counts.get("actor_episodes", 0)),
        "learner_steps": int(counts.get("learner_steps", 0)),
        "wall_seconds": round(wall_seconds, 3),
        "train_seconds": round(train_seconds, 3),
        "evaluations": [[int(e.get("actor_steps", 0)), e["eval_return_mean"], round(e["train_seconds"], 3)]
                        for e in evaluations],
        "device": str(device),
        "run_dir": experiment.run_dir,
        **extra,
    }
    if experiment.run_dir is not None:
        with open(os.path.join(experiment.run_dir, "summary.json"), "w") as f:
            json.dump(summary, f, indent=2)
    return summary
