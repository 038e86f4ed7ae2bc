"""Learning-curve PNG of one run folder: training episodes and evaluations against env steps.

    .venv/bin/python -m benchmarks.plot_run RUN_DIR --out benchmarks/curves/NAME.png [--title ...]

Uses train.csv (per-episode `episode_return`, and `raw_score` when the env reports it) and
eval.csv (`eval_return_mean`, `eval_raw_score_mean`); the x axis is actor steps, with the
training wall-clock of each evaluation printed beside it.
"""

from __future__ import annotations

import argparse
import csv
import os

import numpy as np


def _rows(path: str) -> list[dict[str, str]]:
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(f))


def _column(rows: list[dict[str, str]], key: str) -> np.ndarray:
    return np.array([float(r[key]) for r in rows if r.get(key) not in (None, "")])


def plot_run(run_dir: str, out: str, title: str | None = None, window: int = 50) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    train = _rows(os.path.join(run_dir, "train.csv"))
    evals = _rows(os.path.join(run_dir, "eval.csv"))
    if not train and not evals:
        raise ValueError(f"{run_dir} has neither train.csv nor eval.csv: is it a run folder?")
    figure, axis = plt.subplots(figsize=(8, 4.5))
    scored = [r for r in train if r.get("raw_score") not in (None, "")]
    key, label = ("raw_score", "training games (raw score)") if scored else ("episode_return", "training episodes")
    rows = scored or train
    if rows:
        steps, values = _column(rows, "actor_steps"), _column(rows, key)
        axis.plot(steps, values, ".", alpha=0.15, color="tab:blue", markersize=2)
        if len(values) >= window:
            smooth = np.convolve(values, np.ones(window) / window, mode="valid")
            axis.plot(steps[window - 1:], smooth, color="tab:blue", label=f"{label}, mean of {window}")
    if evals:
        eval_key = "eval_raw_score_mean" if evals[0].get("eval_raw_score_mean") not in (None, "") else "eval_return_mean"
        steps, values = _column(evals, "actor_steps"), _column(evals, eval_key)
        axis.plot(steps, values, "o-", color="tab:red", label=f"greedy evaluation ({eval_key})")
        for s, v, r in zip(steps, values, evals):
            axis.annotate(f"{float(r['train_seconds']) / 60:.1f} min", (s, v), textcoords="offset points",
                          xytext=(0, 6), fontsize=7, ha="center")
    axis.set_xlabel("actor (agent) steps")
    axis.set_ylabel("return")
    axis.set_title(title or os.path.basename(os.path.normpath(run_dir)))
    axis.grid(alpha=0.3)
    axis.legend(loc="upper left", fontsize=8)
    figure.tight_layout()
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    figure.savefig(out, dpi=110)
    plt.close(figure)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("--out", required=True)
    parser.add_argument("--title")
    args = parser.parse_args()
    print(plot_run(args.run_dir, args.out, args.title))


if __name__ == "__main__":
    main()
