"""What a value-based agent believes, in pictures.

GridWorld (`gridworld_diagnostics`): the Q network is evaluated on every free
cell, with the observation the environment would give with the agent standing
there (and the current goal). It writes the greedy policy as arrows, one Q map
per action (arranged like the actions: up on top, left on the left, ...), and
the state values V(s) = max_a Q(s, a). The computing and drawing are those of
`environments.gridworld_plots`; this module finds the GridWorld inside a
(wrapped) environment and feeds a torch network the observations the agent sees.

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

PNG sizes are fixed (inches x DPI, here and in `environments.gridworld_plots`), so
they are the same for every grid.
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

from components.nested import to_tensors
from environments import gridworld_plots
from environments.gridworld import GridWorld
from environments.gridworld_plots import (  # noqa: F401 - re-exported: the GridWorld pictures' API.
    DPI,
    POLICY_INCHES,
    Q_VALUES_INCHES,
    STATE_VALUES_INCHES,
    new_figure,
    save_figure,
    state_value_map,
)
from launchers.plot import load_run, series
from launchers.video import PolicyFn, single_environment, single_lane_action

INITIAL_VALUE_INCHES = (8.0, 6.0)
SCATTER_INCHES = (6.0, 6.0)

QFunction = nn.Module | Callable[[np.ndarray], np.ndarray]
ValueFn = Callable[[Any], np.ndarray]


def _save(figure, out_dir: str, name: str) -> str:
    return save_figure(figure, os.path.join(out_dir, name))


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
            return network(to_tensors(observations, device)).float().cpu().numpy()
    return np.asarray(network(observations), dtype=float)


def _observation_dtype(environment: dm_env.Environment) -> np.dtype:
    """The dtype of the (possibly wrapped) environment's observation spec: what the agent is fed."""
    return single_environment(environment).observation_spec().dtype


def cell_observations(environment: dm_env.Environment) -> tuple[list[tuple[int, int]], np.ndarray]:
    """Every free cell and the observation the environment would give with the agent there.

    The observations use the environment's current goal and the dtype of its
    (possibly wrapped) observation spec, i.e. what the agent is fed.
    """
    return gridworld_plots.cell_observations(find_gridworld(environment), _observation_dtype(environment))


def q_value_map(network: QFunction, environment: dm_env.Environment) -> np.ndarray:
    """Q(s, a) of every free cell as an (H, W, num_actions) array, NaN on walls.

    `network` is an nn.Module or a function on numpy arrays; see `cell_observations`.
    """
    return gridworld_plots.q_value_grid(find_gridworld(environment), lambda obs: _evaluate(network, obs),
                                        _observation_dtype(environment))


def gridworld_diagnostics(network: QFunction, environment: dm_env.Environment, out_dir: str,
                          epsilon: float = 0.0, prefix: str = "") -> list[str]:
    """Writes greedy_policy.png, q_values.png and state_values.png to `out_dir`; returns their paths.

    `network` maps a batch of observations to Q values (an nn.Module or a
    function on numpy arrays). `epsilon` > 0 draws V of the epsilon-greedy
    policy instead of max_a Q. `prefix` goes in front of the file names.
    """
    gridworld = find_gridworld(environment)
    q_map = q_value_map(network, environment)
    figures = [("greedy_policy.png", gridworld_plots.plot_greedy_policy(gridworld, q_map)),
               ("q_values.png", gridworld_plots.plot_action_values(gridworld, q_map, epsilon=epsilon)),
               ("state_values.png", gridworld_plots.plot_state_values(gridworld, q_map, epsilon=epsilon))]
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
            timestep = environment.step(single_lane_action(policy_fn, timestep))
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
    figure = new_figure(INITIAL_VALUE_INCHES)
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
    figure = new_figure(SCATTER_INCHES)
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
