"""Statistics over seeds, the way the field reports them since rliable (Agarwal et al. 2021).

Point estimates (mean, median, interquartile mean, optimality gap) with 95% stratified-bootstrap confidence
intervals, computed by rliable (the `stats` extra): `curve_estimates` for learning curves (one estimate and
interval per x), `final_table` for the final returns of groups of runs, as Markdown. A group's runs are its
seeds; each group is one task, so the bootstrap resamples its seeds.
"""

from __future__ import annotations

import warnings
from typing import Callable, Sequence

import numpy as np

STATISTICS = ("mean", "iqm", "median")
CONFIDENCE = 0.95
BOOTSTRAP_REPS = 2_000


def _rliable():
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # arch and seaborn warn about their own dependencies at import.
            from rliable import library, metrics
    except ImportError as error:
        raise ValueError(f'Bootstrap intervals need rliable: pip install "agentpipe[stats]" ({error}).') from None
    return library, metrics


def _median_of_runs(scores: np.ndarray) -> float:
    """The median over every run's score. (rliable's aggregate_median is the median of the tasks' means,
    which for one task, a group of seeds, is their mean.)"""
    return float(np.median(scores))


def _statistic(name: str) -> Callable[[np.ndarray], float]:
    """The aggregate of a (runs, tasks) score matrix: rliable's mean and IQM, or the median over runs."""
    _, metrics = _rliable()
    table = {"mean": metrics.aggregate_mean, "iqm": metrics.aggregate_iqm, "median": _median_of_runs}
    if name not in table:
        raise ValueError(f"Unknown statistic {name!r}; expected one of {', '.join(STATISTICS)}.")
    return table[name]


def curve_estimates(values: np.ndarray, statistic: str = "iqm", reps: int = BOOTSTRAP_REPS,
                    seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(estimate, low, high) at each column of `values` (seeds, points): `statistic` over the seeds with a
    95% bootstrap interval over them."""
    values = np.asarray(values, dtype=float)
    if values.ndim != 2 or values.shape[0] < 1 or not np.isfinite(values).all():
        raise ValueError(f"curve_estimates needs finite values shaped (seeds, points), got {values.shape}.")
    library, _ = _rliable()
    aggregate = _statistic(statistic)

    def per_point(scores: np.ndarray) -> np.ndarray:  # scores: (seeds, 1 task, points)
        return np.array([aggregate(scores[..., point]) for point in range(scores.shape[-1])])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        point, interval = library.get_interval_estimates({"group": values[:, None, :]}, per_point, reps=reps,
                                                         random_state=np.random.RandomState(seed))
    return point["group"], interval["group"][0], interval["group"][1]


def final_estimates(finals: Sequence[float], target: float, reps: int = BOOTSTRAP_REPS,
                    seed: int = 0) -> dict[str, tuple[float, float, float]]:
    """IQM, mean, median and optimality gap (mean shortfall below `target`) of final returns, each with
    its 95% bootstrap interval: {name: (estimate, low, high)}."""
    library, metrics = _rliable()
    scores = np.asarray(finals, dtype=float)[:, None]

    def all_four(matrix: np.ndarray) -> np.ndarray:
        return np.array([metrics.aggregate_iqm(matrix), metrics.aggregate_mean(matrix),
                         _median_of_runs(matrix), metrics.aggregate_optimality_gap(matrix, target)])

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        point, interval = library.get_interval_estimates({"group": scores}, all_four, reps=reps,
                                                         random_state=np.random.RandomState(seed))
    names = ("iqm", "mean", "median", "optimality_gap")
    return {name: (float(point["group"][i]), float(interval["group"][0][i]), float(interval["group"][1][i]))
            for i, name in enumerate(names)}


def final_table(rows: Sequence[tuple[str, Sequence[float], float]]) -> str:
    """A Markdown table with one line per (label, final returns, target)."""
    lines = ["| runs | seeds | IQM [95% CI] | mean [95% CI] | median [95% CI] | optimality gap [95% CI] (target) |",
             "|---|---|---|---|---|---|"]
    for label, finals, target in rows:
        estimates = final_estimates(finals, target)
        tiny = 1e-9 * max(1.0, abs(target), *(abs(x) for x in finals))  # Rounding error, e.g. a gap of 5e-14.
        cells = ["{:.4g} [{:.4g}, {:.4g}]".format(*(0.0 if abs(v) < tiny else v for v in triple))
                 for triple in estimates.values()]
        cells[-1] += f" ({target:.4g})"
        lines.append(f"| {label} | {len(finals)} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
