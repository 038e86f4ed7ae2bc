"""What a value-based agent believes, in pictures.

GridWorld (`gridworld_diagnostics`): the Q network is evaluated on every free
cell, with the observation the environment would give with the agent standing
there (and the current goal). It writes the greedy policy as arrows, one Q map
per action (arranged like the actions: up on top, left on the left, ...), and
the state values V(s) = max_a Q(s, a).

Any environment (`collect_value_pairs` + `value_diagnostics`): greedy episodes
give (observation, predicted V, Monte-Carlo return-to-go) triples, plotted as
a scatter against the y = x line; eval.csv's `eval_initial_value` gives the
history of V at the evaluation episodes' first observations. A V that drifts far
above the returns it gets is the usual sign of overestimation.

The return-to-go is the quantity the project's value learners estimate:
G_t = r_{t+1} + discount * d_{t+1} * G_{t+1}, with d the environment's discount
(0 at a termination) and G = 0 after the last step. An episode cut short (a
truncation or `max_steps`) has its later rewards missing, so its pairs are
marked `truncated`.

PNG sizes are fixed (inches x DPI below), so they are the same for every grid.
"""

from __future__ import annotations

import dataclasses
import os
from typing import Any, Callable, Sequence

import dm_env
import numpy as np
import torch
import tree
from torch import nn

from environments.gridworld import ACTION_NAMES, WALL, GridWorld
from launchers.plot import load_run, series
from launchers.video import PolicyFn, single_environment, single_lane_action

DPI = 100
POLICY_INCHES = (5.0, 4.5)
Q_VALUES_INCHES = (12.0, 10.0)
STATE_VALUES_INCHES = (6.0, 5.0)
INITIAL_VALUE_INCHES = (8.0, 6.0)
SCATTER_INCHES = (6.0, 6.0)

QFunction = nn.Module | Callable[[np.ndarray], np.ndarray]
ValueFn = Callable[[Any], np.ndarray]

# Panel (row, col) of each action's Q map in the 3 x 3 figure, V in the middle.
_ACTION_PANELS = {0: (0, 1), 1: (1, 2), 2: (2, 1), 3: (1, 0)}
_VALUE_PANEL = (1, 1)
# Arrow (d_col, d_row) of each action in image coordinates (row 0 on top).
_ARROWS = np.array([(0, -1), (1, 0), (0, 1), (-1, 0)], dtype=float)


def _new_figure(inches: tuple[float, float]):
    """A headless Agg figure of exactly `inches` x DPI pixels."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError as error:
        raise ImportError('Plots need matplotlib: pip install "agentpipe[plot]"') from error

    figure = Figure(figsize=inches, dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def _save(figure, out_dir: str, name: str) -> str:
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    figure.savefig(path, dpi=DPI, format="png")
    return path


def find_gridworld(environment: dm_env.Environment) -> GridWorld:
    """The GridWorld inside `environment` (through wrappers' `.environment` and one-lane batches)."""
    current, seen = single_environment(environment), 0
    while not isinstance(current, GridWorld):
        inner = getattr(current, "environment", None)
        if not isinstance(inner, dm_env.Environment) or seen > 20:
            raise ValueError(f"Expected a GridWorld (possibly wrapped), got {type(environment).__name__}; "
                             "these diagnostics draw on the grid's cells.")
        current, seen = single_environment(inner), seen + 1
    return current


def _evaluate(network: QFunction, observations: np.ndarray) -> np.ndarray:
    """Q values of a batch of observations, as a float numpy array."""
    if isinstance(network, nn.Module):
        parameter = next(network.parameters(), None)
        device = parameter.device if parameter is not None else torch.device("cpu")
        with torch.inference_mode():
            return network(torch.as_tensor(observations, device=device)).float().cpu().numpy()
    return np.asarray(network(observations), dtype=float)


def cell_observations(environment: dm_env.Environment) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Every free cell and the observation the environment would give with the agent there.

    The observations use the environment's current goal and the dtype of its
    (possibly wrapped) observation spec, i.e. what the agent is fed.
    """
    gridworld = find_gridworld(environment)
    cells = gridworld.free_cells()
    dtype = single_environment(environment).observation_spec().dtype
    return cells, np.stack([np.asarray(gridworld.observation_at(cell), dtype=dtype) for cell in cells])


def q_value_map(network: QFunction, environment: dm_env.Environment) -> np.ndarray:
    """Q(s, a) of every free cell as an (H, W, num_actions) array, NaN on walls."""
    gridworld = find_gridworld(environment)
    cells, observations = cell_observations(environment)
    q_values = _evaluate(network, observations)
    expected = (len(cells), len(ACTION_NAMES))
    if q_values.shape != expected:
        raise ValueError(f"The Q network must map {len(cells)} observations to shape {expected} "
                         f"(one value per action), got {q_values.shape}.")
    grid = np.full((*gridworld.shape, len(ACTION_NAMES)), np.nan)
    rows, cols = np.array(cells).T
    grid[rows, cols] = q_values
    return grid


def state_value_map(q_map: np.ndarray, epsilon: float = 0.0) -> np.ndarray:
    """V(s) of the epsilon-greedy policy: (1 - eps) max_a Q + eps mean_a Q (eps = 0: max_a Q)."""
    return (1.0 - epsilon) * q_map.max(axis=-1) + epsilon * q_map.mean(axis=-1)


def _cmap(name: str):
    import matplotlib

    return matplotlib.colormaps[name].with_extremes(bad="#404040")  # NaN: walls.


def _mark_goal(axis, gridworld: GridWorld) -> None:
    row, col = gridworld.goal_state
    axis.text(col, row, "G", ha="center", va="center", fontsize=11, fontweight="bold", color="white")


def _plain(axis) -> None:
    axis.set_xticks([])
    axis.set_yticks([])


def _policy_figure(gridworld: GridWorld, q_map: np.ndarray):
    from matplotlib.patches import Rectangle

    figure = _new_figure(POLICY_INCHES)
    axis = figure.subplots()
    height, width = gridworld.shape
    axis.imshow(gridworld.layout == WALL, cmap="Greys", vmin=0, vmax=1.25, interpolation="nearest")
    axis.set_xticks(np.arange(-0.5, width), minor=True)
    axis.set_yticks(np.arange(-0.5, height), minor=True)
    axis.grid(which="minor", color="white", linewidth=1.5)
    axis.tick_params(which="both", length=0, labelbottom=False, labelleft=False)
    start_row, start_col = gridworld.start_state
    axis.add_patch(Rectangle((start_col - 0.5, start_row - 0.5), 1, 1, fill=False, edgecolor="tab:orange",
                             linewidth=2, label="start"))
    goal_row, goal_col = gridworld.goal_state
    axis.text(goal_col, goal_row, "G", ha="center", va="center", fontsize=14, fontweight="bold", color="tab:green")
    cells = [cell for cell in gridworld.free_cells() if cell != gridworld.goal_state]
    rows, cols = np.array(cells).T
    d_col, d_row = _ARROWS[q_map[rows, cols].argmax(axis=-1)].T
    axis.quiver(cols, rows, d_col, d_row, angles="xy", scale_units="xy", scale=1.6, pivot="middle",
                color="tab:blue")
    axis.set_title("Greedy policy: argmax_a Q(s, a) (start outlined)")
    return figure


def _q_values_figure(gridworld: GridWorld, q_map: np.ndarray, values: np.ndarray, value_title: str):
    figure = _new_figure(Q_VALUES_INCHES)
    axes = figure.subplots(3, 3)
    low, high = np.nanmin(q_map), np.nanmax(q_map)
    pad = 0.05 * (high - low) if high > low else 0.5
    for action, (row, col) in _ACTION_PANELS.items():
        axis = axes[row, col]
        image = axis.imshow(q_map[..., action], cmap=_cmap("viridis"), vmin=low - pad, vmax=high + pad,
                            interpolation="nearest")
        axis.set_title(f"Q(s, {ACTION_NAMES[action]})")
        _mark_goal(axis, gridworld)
    figure.colorbar(image, ax=[axes[r, c] for r, c in _ACTION_PANELS.values()], shrink=0.6, label="Q")
    axis = axes[_VALUE_PANEL]
    image = axis.imshow(values, cmap=_cmap("magma"), interpolation="nearest")
    axis.set_title(value_title)
    _mark_goal(axis, gridworld)
    figure.colorbar(image, ax=axis, shrink=0.8)
    for axis in axes.flat:
        _plain(axis)
    for row, col in [(0, 0), (0, 2), (2, 0), (2, 2)]:
        axes[row, col].set_axis_off()
    return figure


def _state_values_figure(gridworld: GridWorld, values: np.ndarray, value_title: str):
    figure = _new_figure(STATE_VALUES_INCHES)
    axis = figure.subplots()
    image = axis.imshow(values, cmap=_cmap("magma"), interpolation="nearest")
    figure.colorbar(image, ax=axis, shrink=0.8)
    middle = np.nanmean(values)
    for row, col in gridworld.free_cells():
        value = values[row, col]
        axis.text(col, row, f"{value:.1f}", ha="center", va="center", fontsize=7,
                  color="black" if value > middle else "white")
    axis.set_title(value_title)
    _plain(axis)
    return figure


def gridworld_diagnostics(network: QFunction, environment: dm_env.Environment, out_dir: str,
                          epsilon: float = 0.0, prefix: str = "") -> list[str]:
    """Writes greedy_policy.png, q_values.png and state_values.png to `out_dir`; returns their paths.

    `network` maps a batch of observations to Q values (an nn.Module or a
    function on numpy arrays). `epsilon` > 0 draws V of the epsilon-greedy
    policy instead of max_a Q. `prefix` goes in front of the file names.
    """
    if not 0.0 <= epsilon <= 1.0:
        raise ValueError(f"epsilon must be in [0, 1], got {epsilon}.")
    gridworld = find_gridworld(environment)
    q_map = q_value_map(network, environment)
    values = state_value_map(q_map, epsilon)
    value_title = "V(s) = max_a Q(s, a)" if epsilon == 0 else f"V(s) of {epsilon:g}-greedy"
    figures = [("greedy_policy.png", _policy_figure(gridworld, q_map)),
               ("q_values.png", _q_values_figure(gridworld, q_map, values, value_title)),
               ("state_values.png", _state_values_figure(gridworld, values, value_title))]
    return [_save(figure, out_dir, prefix + name) for name, figure in figures]


@dataclasses.dataclass
class ValuePairs:
    """Per visited state: the observation, the agent's V, the discounted return-to-go and its episode."""

    observations: Any
    values: np.ndarray
    returns: np.ndarray
    episodes: np.ndarray
    truncated: np.ndarray  # True where the episode was cut short (its return misses later rewards).

    def __len__(self) -> int:
        return len(self.values)


def discounted_returns(rewards: Sequence[float], discounts: Sequence[float], discount: float) -> np.ndarray:
    """G_t = rewards[t] + discount * discounts[t] * G_{t+1}, with G = 0 after the last reward.

    rewards[t] and discounts[t] are those of the timestep that follows action t.
    """
    returns = np.zeros(len(rewards))
    following = 0.0
    for t in reversed(range(len(rewards))):
        following = float(rewards[t]) + discount * float(discounts[t]) * following
        returns[t] = following
    return returns


def collect_value_pairs(environment: dm_env.Environment, policy_fn: PolicyFn, value_fn: ValueFn, discount: float,
                        num_episodes: int = 5, max_steps: int = 10_000) -> ValuePairs:
    """Runs `num_episodes` episodes with `policy_fn` and pairs each state's predicted value with its return.

    `policy_fn` and `value_fn` take a batch of observations (leading axis):
    `policy_fn` a batch of one lane, `value_fn` a whole episode's states
    (e.g. `lambda obs: builder.state_values(networks, obs)`). `discount` is the
    agent's gamma; the environment's own discounts multiply it.
    """
    if num_episodes < 1 or max_steps < 1:
        raise ValueError(f"num_episodes and max_steps must be >= 1, got {num_episodes} and {max_steps}.")
    environment = single_environment(environment)
    observations, values, returns, episodes, truncated = [], [], [], [], []
    for episode in range(num_episodes):
        timestep = environment.reset()
        states, rewards, discounts = [], [], []
        while not timestep.last() and len(states) < max_steps:
            states.append(timestep.observation)
            timestep = environment.step(single_lane_action(policy_fn, timestep.observation))
            rewards.append(float(timestep.reward))
            discounts.append(float(timestep.discount))
        if not states:
            continue
        batch = tree.map_structure(lambda *xs: np.stack(xs), *states)
        predicted = np.asarray(value_fn(batch), dtype=float).reshape(-1)
        if predicted.shape != (len(states),):
            raise ValueError(f"value_fn must return one value per observation ({len(states)}), "
                             f"got shape {predicted.shape}.")
        cut = not (timestep.last() and timestep.discount == 0.0)
        observations.extend(states)
        values.append(predicted)
        returns.append(discounted_returns(rewards, discounts, discount))
        episodes.append(np.full(len(states), episode))
        truncated.append(np.full(len(states), cut))
    if not observations:
        raise ValueError("collect_value_pairs: no episode took a step (every reset was already LAST).")
    stacked = tree.map_structure(lambda *xs: np.stack(xs), *observations)
    return ValuePairs(stacked, np.concatenate(values), np.concatenate(returns), np.concatenate(episodes),
                      np.concatenate(truncated))


def _initial_value_figure(run, x: str = "actor_steps"):
    steps, values = series(run.eval, x, "eval_initial_value")
    if not len(steps):
        columns = sorted(run.eval[0]) if run.eval else []
        raise ValueError(f"{run.path!r}: eval.csv has no eval_initial_value values (columns: {columns}); it is "
                         "logged for agents whose builder defines state_values (value-based agents do).")
    figure = _new_figure(INITIAL_VALUE_INCHES)
    top, bottom = figure.subplots(2, 1, sharex=True)
    top.plot(steps, values, "o-", color="tab:purple")
    top.set_title("Agent's V of the evaluation episodes' first observations")
    top.set_ylabel("V(s_0)")
    key = "eval_raw_score_mean" if len(series(run.eval, x, "eval_raw_score_mean")[0]) else "eval_return_mean"
    bottom.plot(*series(run.eval, x, key), "o-", color="tab:red")
    bottom.set_title(f"Greedy evaluation ({key}), for comparison (undiscounted)")
    bottom.set_xlabel(x)
    for axis in (top, bottom):
        axis.grid(alpha=0.3)
    return figure


def _scatter_figure(pairs: ValuePairs):
    figure = _new_figure(SCATTER_INCHES)
    axis = figure.subplots()
    for episode in np.unique(pairs.episodes):
        mask = pairs.episodes == episode
        cut = bool(pairs.truncated[mask].any())
        label = f"episode {episode}" + (" (cut short: G misses later rewards)" if cut else "")
        axis.scatter(pairs.returns[mask], pairs.values[mask], color=f"C{episode % 10}", marker="x" if cut else "o",
                     s=14, alpha=0.7, label=label if episode < 10 else None)
    both = np.concatenate([pairs.returns, pairs.values])
    low, high = float(both.min()), float(both.max())
    axis.plot([low, high], [low, high], "k--", linewidth=1, label="y = x")
    bias = float(np.mean(pairs.values - pairs.returns))
    correlation = float(np.corrcoef(pairs.returns, pairs.values)[0, 1]) if len(pairs) > 1 and \
        np.std(pairs.returns) > 0 and np.std(pairs.values) > 0 else float("nan")
    axis.set_title(f"State values: {len(pairs)} states, mean(V - G) = {bias:.3g}, r = {correlation:.2f}",
                   fontsize=9)
    axis.set_xlabel("Monte-Carlo discounted return-to-go G")
    axis.set_ylabel("agent's V(s)")
    axis.grid(alpha=0.3)
    axis.legend(fontsize=8)
    return figure


def value_diagnostics(run_dir: str, pairs: ValuePairs | None = None, out_dir: str | None = None) -> list[str]:
    """Writes initial_value.png (from eval.csv) and, given `pairs`, value_scatter.png; returns the paths.

    `out_dir` defaults to `run_dir`. Get `pairs` from `collect_value_pairs`.
    """
    run = load_run(run_dir)
    out_dir = run_dir if out_dir is None else out_dir
    paths = [_save(_initial_value_figure(run), out_dir, "initial_value.png")]
    if pairs is not None:
        if not len(pairs):
            raise ValueError("value_diagnostics got no value pairs: expected those of collect_value_pairs.")
        paths.append(_save(_scatter_figure(pairs), out_dir, "value_scatter.png"))
    return paths
