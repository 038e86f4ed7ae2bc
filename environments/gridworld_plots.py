"""Matplotlib pictures of a `GridWorld`: the map, a greedy policy, action and state values.

`q_value_grid` evaluates a Q function on every free cell, with the observation
the environment would give with the agent standing there (and the current
goal); the plots take its (H, W, 4) result, NaN on walls:

- `plot_grid`: the layout with its start 'S' and goal 'G';
- `plot_greedy_policy`: an arrow for argmax_a Q(s, a) on every free cell;
- `plot_action_values`: one Q map per action, arranged like the actions (up on
  top, left on the left, ...) on a shared colour scale, V(s) in the middle;
- `plot_state_values`: V(s), each cell labelled with its value.

V(s) is that of the greedy policy, max_a Q(s, a), or with `epsilon` > 0 that of
the epsilon-greedy policy (`state_value_map`).

matplotlib is an optional dependency (`agentpipe[plot]`), so it is imported
only when a plot is requested. Figures are built with `matplotlib.figure.Figure`
on the Agg canvas rather than pyplot: that needs no display, leaves the global
backend alone and does not accumulate open figures in long training runs.
Figure sizes are fixed (inches x DPI below), so a PNG has the same pixel size
for every grid. `new_figure` and `save_figure` are shared with the launchers'
diagnostics.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Callable

import numpy as np
from numpy.typing import DTypeLike

from environments.gridworld import ACTION_NAMES, WALL, GridWorld

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

DPI = 100
GRID_INCHES = (5.0, 4.5)
POLICY_INCHES = (5.0, 4.5)
Q_VALUES_INCHES = (12.0, 10.0)
STATE_VALUES_INCHES = (6.0, 5.0)

# Arrow direction (d_col, d_row) of each action in image coordinates (row 0 on top).
_ARROWS = np.array([(0, -1), (1, 0), (0, 1), (-1, 0)], dtype=float)
# Panel (row, col) of each action's Q map in the 3 x 3 figure, V in the middle.
_ACTION_PANELS = {0: (0, 1), 1: (1, 2), 2: (2, 1), 3: (1, 0)}
_VALUE_PANEL = (1, 1)


def new_figure(inches: tuple[float, float]) -> Figure:
    """A headless Agg figure of exactly `inches` x DPI pixels; a helpful ImportError without matplotlib."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError('Plots need matplotlib: pip install "agentpipe[plot]"') from error
    figure = Figure(figsize=inches, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def save_figure(figure: Figure, path: str | os.PathLike) -> str:
    """Writes `figure` as a PNG of its fixed size to `path` (creating its folder); returns the path."""
    path = os.fspath(path)
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    figure.savefig(path, dpi=DPI, format="png")
    return path


def _finish(figure: Figure, path: str | os.PathLike | None) -> Figure:
    """Saves `figure` when `path` is given, and returns it."""
    if path is not None:
        save_figure(figure, path)
    return figure


# Values.


def cell_observations(
    env: GridWorld, dtype: DTypeLike | None = None
) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Every free cell and the observation `env` would give with the agent there.

    The observations use the environment's current goal; `dtype` (e.g. that of a
    wrapper's observation spec) overrides the GridWorld's own observation dtype.
    """
    cells = env.free_cells()
    observations = np.stack([np.asarray(env.observation_at(cell), dtype=dtype) for cell in cells])
    return cells, observations


def q_value_grid(
    env: GridWorld,
    q_function: Callable[[np.ndarray], np.ndarray],
    dtype: DTypeLike | None = None,
) -> np.ndarray:
    """Evaluates `q_function` on every free cell; returns (H, W, 4) with NaN on walls.

    `q_function` maps a batch of observations, shape (n, *observation_shape), to
    action values of shape (n, 4). Observations are those of `cell_observations`.
    """
    cells, observations = cell_observations(env, dtype)
    q_values = np.asarray(q_function(observations), dtype=float)
    expected = (len(cells), len(ACTION_NAMES))
    if q_values.shape != expected:
        raise ValueError(
            f"q_function must return shape {expected} (one value per action for each of the "
            f"{len(cells)} free cells), got {q_values.shape}."
        )
    grid = np.full((*env.shape, len(ACTION_NAMES)), np.nan)
    rows, cols = np.array(cells).T
    grid[rows, cols] = q_values
    return grid


def state_value_map(q_values: np.ndarray, epsilon: float = 0.0) -> np.ndarray:
    """V(s) of the epsilon-greedy policy: (1 - eps) max_a Q + eps mean_a Q (eps = 0: max_a Q)."""
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon}.")
    return (1.0 - epsilon) * q_values.max(axis=-1) + epsilon * q_values.mean(axis=-1)


def _value_title(epsilon: float) -> str:
    return "V(s) = max_a Q(s, a)" if epsilon == 0 else f"V(s) of {epsilon:g}-greedy"


def _check_q_values(env: GridWorld, q_values: np.ndarray) -> np.ndarray:
    """Returns `q_values` as a float array, checking it is (H, W, num_actions)."""
    q_values = np.asarray(q_values, dtype=float)
    expected = (*env.shape, len(ACTION_NAMES))
    if q_values.shape != expected:
        raise ValueError(f"q_values must have shape {expected}, got {q_values.shape}.")
    return q_values


# Drawing.


def _cmap(name: str):
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="#404040")  # NaN: walls.


def _plain(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _mark_goal(ax: Axes, env: GridWorld) -> None:
    """A white 'G' on the goal of a value map."""
    row, col = env.goal_state
    ax.text(col, row, "G", ha="center", va="center", fontsize=11, fontweight="bold", color="white")


def _draw_map(env: GridWorld, ax: Axes, outline_start: bool = False) -> None:
    """Draws walls, cell borders, the goal 'G' and the start ('S', or outlined) on `ax`."""
    from matplotlib.patches import Rectangle

    height, width = env.shape
    ax.imshow(env.layout == WALL, cmap="Greys", vmin=0, vmax=1.25, interpolation="nearest")
    ax.set_xticks(np.arange(-0.5, width), minor=True)
    ax.set_yticks(np.arange(-0.5, height), minor=True)
    ax.grid(which="minor", color="white", linewidth=1.5)
    ax.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    row, col = env.start_state
    if outline_start:  # Leaves the cell free for an arrow.
        ax.add_patch(Rectangle((col - 0.5, row - 0.5), 1, 1, fill=False, edgecolor="tab:orange",
                               linewidth=2, label="start"))
    else:
        ax.text(col, row, "S", ha="center", va="center", fontsize=14, fontweight="bold")
    row, col = env.goal_state
    ax.text(col, row, "G", ha="center", va="center", fontsize=14, fontweight="bold", color="tab:green")


def plot_grid(
    env: GridWorld, path: str | os.PathLike | None = None, ax: Axes | None = None
) -> Figure:
    """Plots the layout with its start ('S') and goal ('G'); draws on `ax` if given."""
    if ax is None:
        fig = new_figure(GRID_INCHES)
        ax = fig.subplots()
    else:
        fig = ax.figure
    _draw_map(env, ax)
    return _finish(fig, path)


def plot_greedy_policy(
    env: GridWorld, q_values: np.ndarray, path: str | os.PathLike | None = None
) -> Figure:
    """Draws an arrow for argmax_a Q(s, a) on every free cell but the goal; the start is outlined.

    `q_values` has shape (H, W, 4); wall entries are ignored (NaN is fine).
    """
    q_values = _check_q_values(env, q_values)
    cells = [cell for cell in env.free_cells() if cell != env.goal_state]
    rows, cols = np.array(cells).T
    d_col, d_row = _ARROWS[q_values[rows, cols].argmax(axis=-1)].T
    fig = new_figure(POLICY_INCHES)
    ax = fig.subplots()
    _draw_map(env, ax, outline_start=True)
    ax.quiver(cols, rows, d_col, d_row, angles="xy", scale_units="xy", scale=1.6, pivot="middle",
              color="tab:blue")
    ax.set_title("Greedy policy: argmax_a Q(s, a) (start outlined)")
    return _finish(fig, path)


def plot_action_values(
    env: GridWorld, q_values: np.ndarray, path: str | os.PathLike | None = None,
    epsilon: float = 0.0,
) -> Figure:
    """Heat maps of Q(s, a) for each action, placed like the action, and V(s) in the middle.

    `q_values` has shape (H, W, 4); NaN cells (walls) are grey. The four Q maps
    share one colour scale; V is `state_value_map(q_values, epsilon)`.
    """
    q_values = _check_q_values(env, q_values)
    values = state_value_map(q_values, epsilon)
    fig = new_figure(Q_VALUES_INCHES)
    axes = fig.subplots(3, 3)
    low, high = np.nanmin(q_values), np.nanmax(q_values)
    pad = 0.05 * (high - low) if high > low else 0.5
    for action, (row, col) in _ACTION_PANELS.items():
        ax = axes[row, col]
        image = ax.imshow(q_values[..., action], cmap=_cmap("viridis"), vmin=low - pad, vmax=high + pad,
                          interpolation="nearest")
        ax.set_title(f"Q(s, {ACTION_NAMES[action]})")
        _mark_goal(ax, env)
    fig.colorbar(image, ax=[axes[r, c] for r, c in _ACTION_PANELS.values()], shrink=0.6, label="Q")
    ax = axes[_VALUE_PANEL]
    image = ax.imshow(values, cmap=_cmap("magma"), interpolation="nearest")
    ax.set_title(_value_title(epsilon))
    _mark_goal(ax, env)
    fig.colorbar(image, ax=ax, shrink=0.8)
    for ax in axes.flat:
        _plain(ax)
    for row, col in [(0, 0), (0, 2), (2, 0), (2, 2)]:
        axes[row, col].set_axis_off()
    return _finish(fig, path)


def plot_state_values(
    env: GridWorld, q_values: np.ndarray, path: str | os.PathLike | None = None,
    epsilon: float = 0.0,
) -> Figure:
    """Heat map of V(s) = `state_value_map(q_values, epsilon)`, each free cell labelled with its value."""
    values = state_value_map(_check_q_values(env, q_values), epsilon)
    fig = new_figure(STATE_VALUES_INCHES)
    ax = fig.subplots()
    image = ax.imshow(values, cmap=_cmap("magma"), interpolation="nearest")
    fig.colorbar(image, ax=ax, shrink=0.8)
    middle = np.nanmean(values)
    for row, col in env.free_cells():
        value = values[row, col]
        ax.text(col, row, f"{value:.1f}", ha="center", va="center", fontsize=7,
                color="black" if value > middle else "white")
    ax.set_title(_value_title(epsilon))
    _plain(ax)
    return _finish(fig, path)
