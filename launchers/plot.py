"""Learning curves of run folders, one PNG: returns against env steps, plus the learner's health.

    python -m launchers.plot RUN_DIR [RUN_DIR ...] --out=curves.png [--title T] [--x actor_steps]

The main panel shows, per run, the greedy evaluation return (eval.csv
`eval_return_mean`; on Atari `eval_raw_score_mean`, the raw game score) and the
training episodes' return (train.csv / train_actor*.csv `episode_return`, or
the raw game score `raw_score` when the environment reports one), smoothed over
episodes. Runs whose config.json declarations are equal except for `seed` and
`run_dir` are one group: a mean line over the seeds with a shaded min-max (or
+-std) band; a seed that stopped early keeps its last value to the group's end.
`--aggregate=iqm` (or median) draws the interquartile mean instead, and
`--band=ci` a 95% stratified-bootstrap confidence band (rliable, the `stats`
extra) over the points every seed reached. `--table` prints, per group, the
IQM, mean, median and optimality gap of the runs' final greedy returns with
their 95% intervals, as Markdown (the gap's target: `--target`, else the best
final return among the runs on that environment). RUN_DIR may be a glob
('runs/ppo_*'). Extra panels appear when a run logged the column: the learner's
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
BANDS = ("minmax", "std", "ci")
AGGREGATES = ("mean", "iqm", "median")
_MAX_BOOTSTRAP_POINTS = 100  # Grid points of a bootstrapped curve (each point is its own bootstrap).
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
    """Short names: agent and env when they tell the groups apart, else the declaration fields that differ
    between groups, else the folder."""
    flats = [_flat_config(group[0].config) for group in groups]
    keys = sorted({k for flat in flats for k in flat})
    differing = [k for k in keys if len({flat.get(k) for flat in flats}) > 1]
    pairs = [(group[0].config.get("agent"), group[0].config.get("env")) for group in groups]
    by_pair = len(set(pairs)) == len(groups) and ("agent" in differing or "env" in differing)
    labels = []
    for group, flat in zip(groups, flats):
        config = group[0].config
        if len(groups) > 1 and differing and config and not by_pair:
            parts = [f"{k}={flat.get(k, '-').strip(chr(34))}" for k in differing[:3]]
            label = ", ".join(parts) + (", ..." if len(differing) > 3 else "")
        elif config.get("agent") and config.get("env"):
            label = f"{config['agent']} on {config['env']}"
        else:
            label = group[0].name
        seeds = len(group)
        labels.append(f"{label} ({seeds} seeds)" if seeds > 1 else label)
    return labels


def _aggregate(curves: list[tuple[np.ndarray, np.ndarray]], band: str, grid: np.ndarray | None = None,
               statistic: str = "mean") -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The statistic (mean, IQM, median), low and high over seeds on a common x grid.

    A seed counts from its first point on; after its last one it keeps its last value (a run that
    stopped early, e.g. at `stop_at_return`, still counts with where it got), so the mean never jumps
    because a seed left the group. The IQM, the median and the 'ci' band (rliable's bootstrap) take the
    points every seed has reached.
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
    if statistic != "mean" or band == "ci":
        from launchers.seed_stats import curve_estimates

        complete = np.isfinite(values).all(axis=0)
        grid, values = grid[complete], values[:, complete]
        if len(grid) > _MAX_BOOTSTRAP_POINTS:
            keep = np.unique(np.linspace(0, len(grid) - 1, _MAX_BOOTSTRAP_POINTS).round().astype(int))
            grid, values = grid[keep], values[:, keep]
        if not len(grid):
            return grid, grid, grid, grid
        center, low, high = curve_estimates(values, statistic, reps=1_000)
        if band == "ci":
            return grid, center, low, high
        spread = np.std(values, axis=0)
        return (grid, center, center - spread, center + spread) if band == "std" else (
            grid, center, values.min(axis=0), values.max(axis=0))
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
          what: str, style: dict[str, Any], band_alpha: float, statistic: str = "mean") -> bool:
    """One line (a mean and a band for several seeds) per group; returns whether anything was drawn."""
    drawn = False
    band_name = {"minmax": "min-max", "std": "+-std", "ci": "95% bootstrap CI"}[band]
    for group, label, color in zip(groups, labels, colors):
        curves = [series(getattr(run, table), x, column) for run in group]
        curves = [(cx, smooth(cy, window)) for cx, cy in curves if len(cx)]
        if not curves:
            continue
        drawn = True
        if len(curves) == 1:
            axis.plot(*curves[0], color=color, label=f"{label}: {what}", **style)
            continue
        grid, mean, low, high = _aggregate(curves, band, statistic=statistic)
        axis.plot(grid, mean, color=color, label=f"{label}: {what}, {statistic} (band {band_name} over seeds)",
                  **style)
        axis.fill_between(grid, low, high, color=color, alpha=band_alpha, linewidth=0)
    return drawn


def _main_panel(axis, runs, groups, labels, colors, x: str, band: str, window: int, statistic: str) -> None:
    train_key, train_what = _train_key(runs)
    eval_key, eval_what = _eval_key(runs)
    if len(runs) == 1 and runs[0].train:  # One run: show the episodes themselves too.
        axis.plot(*series(runs[0].train, x, train_key), ".", color=colors[0], alpha=0.15, markersize=2)
    _draw(axis, groups, labels, colors, "train", train_key, x, band, window,
          f"{train_what} (mean of last {window})", {"linewidth": 1.0, "alpha": 0.8, "linestyle": "--"}, 0.08,
          statistic)
    _draw(axis, groups, labels, colors, "eval", eval_key, x, band, 1, eval_what,
          {"linewidth": 2.0, "marker": "o", "markersize": 3}, 0.2, statistic)
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
              band: str = "minmax", window: int = 20, statistic: str = "mean") -> str:
    """Draws the learning curves of `run_dirs` into the PNG `out`; returns `out`.

    `window`: training episodes averaged per point. `band`: 'minmax', 'std' or 'ci' (the shaded spread
    over a group's seeds, or a 95% bootstrap interval of `statistic`: 'mean', 'iqm' or 'median').
    """
    if isinstance(run_dirs, (str, os.PathLike)):
        run_dirs = [run_dirs]
    if not run_dirs:
        raise ValueError("plot_runs needs at least one run folder.")
    if band not in BANDS:
        raise ValueError(f"band must be one of {BANDS}, got {band!r}.")
    if statistic not in AGGREGATES:
        raise ValueError(f"aggregate must be one of {AGGREGATES}, got {statistic!r}.")
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
    _main_panel(main, runs, groups, labels, colors, x, band, window, statistic)
    main.set_title(title or (runs[0].name if len(runs) == 1 else f"{len(runs)} runs"))
    for i, (table, column, panel_title, panel_window) in enumerate(extras):
        last_alone = i == len(extras) - 1 and len(extras) % 2 == 1
        axis = figure.add_subplot(grid[1 + i // 2, :] if last_alone else grid[1 + i // 2, i % 2])
        style = {"linewidth": 1.2, **({"marker": "o", "markersize": 3} if panel_window == 1 else {})}
        _draw(axis, groups, labels, colors, table, column, x, band, panel_window, column, style, 0.2, statistic)
        axis.set_title(f"{panel_title} ({table}.csv {column}" + (f", mean of {panel_window})" if panel_window > 1
                                                                 else ")"), fontsize=9)
        axis.set_xlabel(_x_label(x), fontsize=8)
        axis.tick_params(labelsize=7)
        axis.grid(alpha=0.3)
    os.makedirs(os.path.dirname(os.fspath(out)) or ".", exist_ok=True)
    figure.savefig(out, dpi=DPI, format="png")
    return os.fspath(out)


def final_return(run: Run) -> float:
    """A run's final greedy return: summary.json's `final_eval_return`, else its last evaluation (raw score
    on Atari)."""
    summary_path = os.path.join(run.path, "summary.json")
    if os.path.exists(summary_path):
        with open(summary_path) as f:
            value = _number(json.load(f).get("final_eval_return"))
        if np.isfinite(value):
            return value
    key, _ = _eval_key([run])
    _, values = series(run.eval, "actor_steps", key)
    if not len(values):
        raise ValueError(f"{run.path!r} has no final evaluation (summary.json final_eval_return or eval.csv).")
    return float(values[-1])


def results_table(run_dirs: Sequence[str], target: float | None = None) -> str:
    """Markdown: per group of seeds, IQM, mean, median and optimality gap of the final returns, with 95%
    bootstrap intervals (`launchers.seed_stats`). The gap's target defaults to the best final return among
    the runs on the group's environment."""
    from launchers.seed_stats import final_table

    runs = [load_run(os.fspath(d)) for d in run_dirs]
    groups = group_runs(runs)
    labels = group_labels(groups)
    finals = [[final_return(run) for run in group] for group in groups]
    best: dict[str, float] = {}
    for group, values in zip(groups, finals):
        env = str(group[0].config.get("env", group[0].path))
        best[env] = max(best.get(env, -np.inf), max(values))
    rows = [(label, values, target if target is not None else best[str(group[0].config.get("env", group[0].path))])
            for group, label, values in zip(groups, labels, finals)]
    return final_table(rows)


def expand_run_dirs(patterns: Sequence[str]) -> list[str]:
    """Run folders from names and globs ('runs/ppo_*'), in order; a glob that matches nothing is an error."""
    found: list[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(path for path in glob.glob(pattern) if os.path.isdir(path))
            if not matches:
                raise ValueError(f"{pattern!r} matches no folder.")
            found += matches
        else:
            found.append(pattern)
    return found


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m launchers.plot", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR",
                        help="run folders or globs (seeds of one config are grouped)")
    parser.add_argument("--out", help="PNG to write (optional with --table)")
    parser.add_argument("--title", help="figure title (default: the run folder's name)")
    parser.add_argument("--x", default="actor_steps", help="x-axis column (a counter: actor_steps, learner_steps)")
    parser.add_argument("--band", default="minmax", choices=BANDS,
                        help="spread over seeds: min-max, +-std, or ci (95%% stratified bootstrap, rliable)")
    parser.add_argument("--aggregate", default="mean", choices=AGGREGATES, help="the curve over seeds")
    parser.add_argument("--window", type=int, default=20, help="training episodes per moving-average point")
    parser.add_argument("--table", action="store_true",
                        help="print IQM, mean, median and optimality gap of final returns (Markdown)")
    parser.add_argument("--target", type=float, help="the optimality gap's target return (default: the best run's)")
    args = parser.parse_args(argv)
    if not args.out and not args.table:
        parser.error("give --out=FILE.png, --table, or both")
    try:
        run_dirs = expand_run_dirs(args.run_dirs)
        if args.table:
            print(results_table(run_dirs, args.target))
        if args.out:
            print(plot_runs(run_dirs, args.out, args.title, x=args.x, band=args.band, window=args.window,
                            statistic=args.aggregate))
    except ValueError as error:
        parser.exit(2, f"error: {error}\n")


if __name__ == "__main__":
    main()
