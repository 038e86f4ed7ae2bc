"""Matplotlib pictures of a `GridWorld`: the map, a greedy policy, action values.

matplotlib is an optional dependency (`agentpipe[plot]`), so it is imported
only when a plot is requested. Figures are built with `matplotlib.figure.Figure`
rather than pyplot: that needs no display, leaves the global backend alone and
does not accumulate open figures in long training runs.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable

import numpy as np

from environments.gridworld import ACTION_NAMES, WALL, GridWorld

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

# Arrow direction (d_col, d_row) of each action in image coordinates (row 0 on top).
_ARROWS = np.array([(0, -1), (1, 0), (0, 1), (-1, 0)], dtype=float)


def _new_figure(**kwargs) -> Figure:
    """A fresh headless figure; raises a helpful ImportError without matplotlib."""
    try:
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError(
            'Plotting a GridWorld needs matplotlib: pip install "agentpipe[plot]"'
        ) from error
    return Figure(**kwargs)


def _finish(fig: Figure, path: str | os.PathLike | None) -> Figure:
    """Saves `fig` as a PNG when `path` is given, and returns it."""
    if path is not None:
        fig.savefig(path, format="png", bbox_inches="tight")
    return fig


def _check_q_values(env: GridWorld, q_values: np.ndarray) -> np.ndarray:
    """Returns `q_values` as a float array, checking it is (H, W, num_actions)."""
    q_values = np.asarray(q_values, dtype=float)
    expected = (*env.shape, len(ACTION_NAMES))
    if q_values.shape != expected:
        raise ValueError(f"q_values must have shape {expected}, got {q_values.shape}.")
    return q_values


def _draw_map(env: GridWorld, ax: Axes, mark_start: bool = True) -> None:
    """Draws walls, cell borders, the goal 'G' and (optionally) the start 'S' on `ax`."""
    height, width = env.shape
    ax.imshow(env.layout == WALL, cmap="Greys", vmin=0, vmax=1.25, interpolation="nearest")
    ax.set_xticks(np.arange(-0.5, width), minor=True)
    ax.set_yticks(np.arange(-0.5, height), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    markers = [("S", env.start_state)] if mark_start else []
    for label, (row, col) in [*markers, ("G", env.goal_state)]:
        ax.text(col, row, label, ha="center", va="center", fontsize=14, fontweight="bold")


def plot_grid(
    env: GridWorld, path: str | os.PathLike | None = None, ax: Axes | None = None
) -> Figure:
    """Plots the layout with its start ('S') and goal ('G'); draws on `ax` if given."""
    if ax is None:
        fig = _new_figure(figsize=(4, 4))
        ax = fig.subplots()
    else:
        fig = ax.figure
    _draw_map(env, ax)
    return _finish(fig, path)


def plot_greedy_policy(
    env: GridWorld, q_values: np.ndarray, path: str | os.PathLike | None = None
) -> Figure:
    """Draws an arrow for argmax_a Q(s, a) on every free cell but the goal.

    `q_values` has shape (H, W, 4); wall entries are ignored (NaN is fine).
    """
    q_values = _check_q_values(env, q_values)
    cells = [cell for cell in env.free_cells() if cell != env.goal_state]
    rows, cols = np.array(cells).T
    d_col, d_row = _ARROWS[q_values[rows, cols].argmax(axis=-1)].T
    fig = _new_figure(figsize=(4, 4))
    ax = fig.subplots()
    _draw_map(env, ax, mark_start=False)  # The start cell gets an arrow instead.
    ax.quiver(
        cols, rows, d_col, d_row, angles="xy", scale_units="xy", scale=1.6, pivot="middle"
    )
    ax.set_title("Greedy policy")
    return _finish(fig, path)


def plot_action_values(
    env: GridWorld, q_values: np.ndarray, path: str | os.PathLike | None = None
) -> Figure:
    """Heat maps of Q(s, a) for each action and of the greedy value max_a Q(s, a).

    `q_values` has shape (H, W, 4); NaN cells (walls) are left blank.
    """
    q_values = _check_q_values(env, q_values)
    panels = [(f"Q(s, {name})", q_values[..., a]) for a, name in enumerate(ACTION_NAMES)]
    panels.append((r"$\max_a Q(s, a)$", q_values.max(axis=-1)))
    fig = _new_figure(figsize=(4 * len(panels), 3.5), layout="constrained")
    for ax, (title, values) in zip(fig.subplots(1, len(panels)), panels):
        image = ax.imshow(values, cmap="viridis", interpolation="nearest")
        fig.colorbar(image, ax=ax, shrink=0.8)
        ax.set_title(title)
        ax.set_xticks([])
        ax.set_yticks([])
    return _finish(fig, path)


def q_value_grid(
    env: GridWorld, q_function: Callable[[np.ndarray], np.ndarray]
) -> np.ndarray:
    """Evaluates `q_function` on every free cell; returns (H, W, 4) with NaN on walls.

    `q_function` maps a batch of observations, shape (n, *observation_shape), to
    action values of shape (n, 4). Observations use the environment's current goal.
    """
    cells = env.free_cells()
    observations = np.stack([env.observation_at(cell) for cell in cells])
    q_values = np.asarray(q_function(observations))
    expected = (len(cells), len(ACTION_NAMES))
    if q_values.shape != expected:
        raise ValueError(f"q_function must return shape {expected}, got {q_values.shape}.")
    grid = np.full((*env.shape, len(ACTION_NAMES)), np.nan)
    rows, cols = np.array(cells).T
    grid[rows, cols] = q_values
    return grid
