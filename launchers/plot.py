"""Learning curves of run folders, one PNG: returns against env steps, plus the learner's health.

    python -m launchers.plot RUN_DIR [RUN_DIR ...] --out=curves.png [--title T] [--x actor_steps]

The main panel shows, per run, the greedy evaluation return (eval.csv
`eval_return_mean`; on Atari `eval_raw_score_mean`, the raw game score) and the
training episodes' return (train.csv / train_actor*.csv `episode_return`, or
the raw game score `raw_score` when the environment reports one), smoothed over
episodes. Runs whose config.json declarations are equal except for `seed` and
`run_dir` are one group: a mean line over the seeds with a shaded min-max (or
+-std) band; a seed that stopped early keeps its last value to the group's end. Extra panels appear when a run logged the column: the learner's
`loss` (the TD loss of value-based agents), `entropy` and `grad_norm`
(learner.csv), and the agent's value of the evaluation episodes' first
observations (eval.csv `eval_initial_value`).

The figure is WIDTH_INCHES x (MAIN_HEIGHT_INCHES + ROW_HEIGHT_INCHES per row of
two extra panels) at DPI, drawn with matplotlib's Agg canvas (no display needed).
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import glob
import json
import os
from typing import Any, Sequence

import numpy as np

WIDTH_INCHES = 10.0
MAIN_HEIGHT_INCHES = 4.5
ROW_HEIGHT_INCHES = 3.0
DPI = 100
GROUP_IGNORES = ("seed", "run_dir")  # Declaration fields that do not split runs into groups.
BANDS = ("minmax", "std")
_RUN_FILES = "train.csv, train_actor*.csv, eval.csv or learner.csv"
_MAX_POINTS = 400  # Grid points of a group's mean curve.


@dataclasses.dataclass
class Run:
    """One run folder's logs: rows of each CSV (strings as written) and its declaration."""

    path: str
    config: dict[str, Any]
    train: list[dict[str, str]]
    eval: list[dict[str, str]]
    learner: list[dict[str, str]]

    @property
    def name(self) -> str:
        return os.path.basename(os.path.normpath(self.path))


def _read_csv(path: str) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def load_run(run_dir: str) -> Run:
    """Reads a run folder; raises ValueError naming the folder when it holds none of the run CSVs."""
    if not os.path.isdir(run_dir):
        raise ValueError(f"{run_dir!r} is not a folder; expected a run folder holding {_RUN_FILES}.")
    train_files = sorted(glob.glob(os.path.join(run_dir, "train.csv"))
                         + glob.glob(os.path.join(run_dir, "train_actor*.csv")))
    eval_path, learner_path = os.path.join(run_dir, "eval.csv"), os.path.join(run_dir, "learner.csv")
    if not train_files and not os.path.exists(eval_path) and not os.path.exists(learner_path):
        runs_inside = sorted(d for d in os.listdir(run_dir)
                             if os.path.exists(os.path.join(run_dir, d, "config.json")))
        hint = f" It holds run folders ({', '.join(runs_inside[:5])}): pass those." if runs_inside else ""
        raise ValueError(f"{run_dir!r} has no run logs: expected {_RUN_FILES} (written by the runners).{hint}")
    train = [row for path in train_files for row in _read_csv(path)]
    config_path = os.path.join(run_dir, "config.json")
    config: dict[str, Any] = {}
    if os.path.exists(config_path):
        with open(config_path) as f:
            config = json.load(f)
    return Run(run_dir, config, train,
               _read_csv(eval_path) if os.path.exists(eval_path) else [],
               _read_csv(learner_path) if os.path.exists(learner_path) else [])


def _number(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return float("nan")


def series(rows: list[dict[str, str]], x: str, y: str) -> tuple[np.ndarray, np.ndarray]:
    """The rows' finite (x, y) pairs, sorted by x."""
    xs = np.array([_number(r.get(x)) for r in rows], dtype=float)
    ys = np.array([_number(r.get(y)) for r in rows], dtype=float)
    keep = np.isfinite(xs) & np.isfinite(ys)
    order = np.argsort(xs[keep], kind="stable")
    return xs[keep][order], ys[keep][order]


def smooth(values: np.ndarray, window: int) -> np.ndarray:
    """Trailing moving average over up to `window` values (fewer at the start)."""
    if len(values) == 0 or window <= 1:
        return values
    sums = np.cumsum(np.insert(values, 0, 0.0))
    ends = np.arange(1, len(values) + 1)
    starts = np.maximum(0, ends - window)
    return (sums[ends] - sums[starts]) / (ends - starts)


def group_runs(runs: Sequence[Run], ignore: Sequence[str] = GROUP_IGNORES) -> list[list[Run]]:
    """Runs whose declarations are equal but for `ignore` (seed, run_dir), in first-seen order.

    A run without config.json is a group of its own.
    """
    groups: dict[str, list[Run]] = {}
    for run in runs:
        key = (json.dumps({k: v for k, v in run.config.items() if k not in ignore}, sort_keys=True, default=str)
               if run.config else f"path:{run.path}")
        groups.setdefault(key, []).append(run)
    return list(groups.values())


def _flat_config(config: dict[str, Any]) -> dict[str, str]:
    flat = {k: json.dumps(v, default=str) for k, v in config.items() if k not in (*GROUP_IGNORES, "agent_config")}
    flat.update({k: json.dumps(v, default=str) for k, v in config.get("agent_config", {}).items()})
    return flat


def group_labels(groups: list[list[Run]]) -> list[str]:
    """Short names: the declaration fields that differ between groups, else agent and env or the folder."""
    flats = [_flat_config(group[0].config) for group in groups]
    keys = sorted({k for flat in flats for k in flat})
    differing = [k for k in keys if len({flat.get(k) for flat in flats}) > 1]
    labels = []
    for group, flat in zip(groups, flats):
        config = group[0].config
        if len(groups) > 1 and differing and config:
            parts = [f"{k}={flat.get(k, '-').strip(chr(34))}" for k in differing[:3]]
            label = ", ".join(parts) + (", ..." if len(differing) > 3 else "")
        elif config.get("agent") and config.get("env"):
            label = f"{config['agent']} on {config['env']}"
        else:
            label = group[0].name
        seeds = len(group)
        labels.append(f"{label} ({seeds} seeds)" if seeds > 1 else label)
    return labels


def _aggregate(curves: list[tuple[np.ndarray, np.ndarray]], band: str,
               grid: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Mean, low and high over seeds on a common x grid.

    A seed counts from its first point on; after its last one it keeps its last value (a run that
    stopped early, e.g. at `stop_at_return`, still counts with where it got), so the mean never jumps
    because a seed left the group.
    """
    curves = [(x, y) for x, y in curves if len(x)]
    if grid is None:
        grid = np.unique(np.concatenate([x for x, _ in curves]))
        if len(grid) > _MAX_POINTS:
            grid = np.linspace(grid[0], grid[-1], _MAX_POINTS)
    values = np.full((len(curves), len(grid)), np.nan)
    for i, (x, y) in enumerate(curves):
        started = grid >= x[0]
        values[i, started] = np.interp(grid[started], x, y)  # Beyond x[-1], np.interp holds y[-1].
    covered = np.isfinite(values).any(axis=0)
    grid, values = grid[covered], values[:, covered]
    mean = np.nanmean(values, axis=0)
    if band == "std":
        spread = np.nanstd(values, axis=0)
        return grid, mean, mean - spread, mean + spread
    return grid, mean, np.nanmin(values, axis=0), np.nanmax(values, axis=0)


def _train_key(runs: Sequence[Run]) -> tuple[str, str]:
    if any(r.get("raw_score") not in (None, "") for run in runs for r in run.train):
        return "raw_score", "training games, raw score"
    return "episode_return", "training episodes"


def _eval_key(runs: Sequence[Run]) -> tuple[str, str]:
    if any(r.get("eval_raw_score_mean") not in (None, "") for run in runs for r in run.eval):
        return "eval_raw_score_mean", "greedy evaluation, raw score"
    return "eval_return_mean", "greedy evaluation"


def _has_column(runs: Sequence[Run], table: str, column: str) -> bool:
    return any(np.isfinite(_number(r.get(column))) for run in runs for r in getattr(run, table))


def _check_x(runs: Sequence[Run], x: str) -> None:
    for run in runs:
        for table in ("train", "eval", "learner"):
            rows = getattr(run, table)
            if rows and x not in rows[0]:
                raise ValueError(f"{run.path!r}: {table} rows have no column {x!r} for the x axis; "
                                 f"their columns are {sorted(rows[0])}.")


def _x_label(x: str) -> str:
    return "actor_steps (env steps over all lanes)" if x == "actor_steps" else x


def _draw(axis, groups, labels, colors, table: str, column: str, x: str, band: str, window: int,
          what: str, style: dict[str, Any], band_alpha: float) -> bool:
    """One line (a mean and a band for several seeds) per group; returns whether anything was drawn."""
    drawn = False
    band_name = "min-max" if band == "minmax" else "+-std"
    for group, label, color in zip(groups, labels, colors):
        curves = [series(getattr(run, table), x, column) for run in group]
        curves = [(cx, smooth(cy, window)) for cx, cy in curves if len(cx)]
        if not curves:
            continue
        drawn = True
        if len(curves) == 1:
            axis.plot(*curves[0], color=color, label=f"{label}: {what}", **style)
            continue
        grid, mean, low, high = _aggregate(curves, band)
        axis.plot(grid, mean, color=color, label=f"{label}: {what}, mean (band {band_name} over seeds)", **style)
        axis.fill_between(grid, low, high, color=color, alpha=band_alpha, linewidth=0)
    return drawn


def _main_panel(axis, runs, groups, labels, colors, x: str, band: str, window: int) -> None:
    train_key, train_what = _train_key(runs)
    eval_key, eval_what = _eval_key(runs)
    if len(runs) == 1 and runs[0].train:  # One run: show the episodes themselves too.
        axis.plot(*series(runs[0].train, x, train_key), ".", color=colors[0], alpha=0.15, markersize=2)
    _draw(axis, groups, labels, colors, "train", train_key, x, band, window,
          f"{train_what} (mean of last {window})", {"linewidth": 1.0, "alpha": 0.8, "linestyle": "--"}, 0.08)
    _draw(axis, groups, labels, colors, "eval", eval_key, x, band, 1, eval_what,
          {"linewidth": 2.0, "marker": "o", "markersize": 3}, 0.2)
    if len(runs) == 1:  # One run: label evaluations with the training time they took to reach.
        for row in runs[0].eval:
            ex, ey, seconds = (_number(row.get(key)) for key in (x, eval_key, "train_seconds"))
            if np.isfinite([ex, ey, seconds]).all():
                axis.annotate(f"{seconds / 60:.1f} min", (ex, ey), textcoords="offset points", xytext=(0, 6),
                              fontsize=7, ha="center")
    axis.set_ylabel("raw score" if eval_key == "eval_raw_score_mean" else "return")
    axis.set_xlabel(_x_label(x))
    axis.grid(alpha=0.3)
    if axis.get_legend_handles_labels()[0]:
        axis.legend(loc="best", fontsize=7)


def _value_based(agent: str | None) -> bool:
    """Whether the run's agent learns action values (its builder's `value_based`); False if it cannot be found."""
    from launchers.agent_registry import get_agent

    try:
        return bool(agent) and get_agent(agent).builder_class.value_based
    except (ValueError, TypeError):
        return False


def _extra_panels(runs: Sequence[Run]) -> list[tuple[str, str, str, int]]:
    """(table, column, title, smoothing window) of each extra panel the runs have data for."""
    value_based = all(_value_based(run.config.get("agent")) for run in runs if run.config)
    candidates = [("learner", "loss", "TD loss" if value_based else "loss", 10),
                  ("learner", "entropy", "policy entropy", 10),
                  ("learner", "grad_norm", "gradient norm (before clipping)", 10),
                  ("eval", "eval_initial_value", "V at evaluation episodes' start", 1)]
    return [c for c in candidates if _has_column(runs, c[0], c[1])]


def plot_runs(run_dirs: Sequence[str], out: str, title: str | None = None, x: str = "actor_steps",
              band: str = "minmax", window: int = 20) -> str:
    """Draws the learning curves of `run_dirs` into the PNG `out`; returns `out`.

    `window`: training episodes averaged per point. `band`: 'minmax' or 'std'
    (the shaded spread over a group's seeds).
    """
    if isinstance(run_dirs, (str, os.PathLike)):
        run_dirs = [run_dirs]
    if not run_dirs:
        raise ValueError("plot_runs needs at least one run folder.")
    if band not in BANDS:
        raise ValueError(f"band must be one of {BANDS}, got {band!r}.")
    if window < 1:
        raise ValueError(f"window must be >= 1, got {window}.")
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError('Plots need matplotlib: pip install "agentpipe[plot]"') from error

    runs = [load_run(os.fspath(d)) for d in run_dirs]
    _check_x(runs, x)
    groups = group_runs(runs)
    labels = group_labels(groups)
    colors = [f"C{i % 10}" for i in range(len(groups))]
    extras = _extra_panels(runs)
    rows = (len(extras) + 1) // 2
    figure = Figure(figsize=(WIDTH_INCHES, MAIN_HEIGHT_INCHES + ROW_HEIGHT_INCHES * rows), dpi=DPI,
                    layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(1 + rows, 2, height_ratios=[MAIN_HEIGHT_INCHES] + [ROW_HEIGHT_INCHES] * rows)
    main = figure.add_subplot(grid[0, :])
    _main_panel(main, runs, groups, labels, colors, x, band, window)
    main.set_title(title or (runs[0].name if len(runs) == 1 else f"{len(runs)} runs"))
    for i, (table, column, panel_title, panel_window) in enumerate(extras):
        last_alone = i == len(extras) - 1 and len(extras) % 2 == 1
        axis = figure.add_subplot(grid[1 + i // 2, :] if last_alone else grid[1 + i // 2, i % 2])
        style = {"linewidth": 1.2, **({"marker": "o", "markersize": 3} if panel_window == 1 else {})}
        _draw(axis, groups, labels, colors, table, column, x, band, panel_window, column, style, 0.2)
        axis.set_title(f"{panel_title} ({table}.csv {column}" + (f", mean of {panel_window})" if panel_window > 1
                                                                 else ")"), fontsize=9)
        axis.set_xlabel(_x_label(x), fontsize=8)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    os.makedirs(os.path.dirname(os.fspath(out)) or ".", exist_ok=True)
    figure.savefig(out, dpi=DPI, format="png")
    return os.fspath(out)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m launchers.plot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run folders (seeds of one config are grouped)")
    parser.add_argument("--out", required=True, help="PNG to write")
    parser.add_argument("--title", help="figure title (default: the run folder's name)")
    parser.add_argument("--x", default="actor_steps", help="x-axis column (a counter: actor_steps, learner_steps)")
    parser.add_argument("--band", default="minmax", choices=BANDS, help="spread over seeds: min-max or +-std")
    parser.add_argument("--window", type=int, default=20, help="training episodes per moving-average point")
    args = parser.parse_args(argv)
    try:
        print(plot_runs(args.run_dirs, args.out, args.title, x=args.x, band=args.band, window=args.window))
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")


if __name__ == "__main__":
    main()
