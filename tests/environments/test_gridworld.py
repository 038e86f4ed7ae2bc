"""Tests for the GridWorld environment and its plotting helpers."""

from __future__ import annotations

import collections
import re
import sys

import dm_env
import numpy as np
import pytest
from absl.testing import absltest
from dm_env import test_utils
from hypothesis import given, settings
from hypothesis import strategies as st

from environments import gridworld_plots
from environments.gridworld import (
    TASKS,
    GridWorld,
    ObservationType,
    build_gridworld_task,
)

UP, RIGHT, DOWN, LEFT = range(4)
MOVES = {UP: (-1, 0), RIGHT: (0, 1), DOWN: (1, 0), LEFT: (0, -1)}
CONFORMANCE_MAX_STEPS = 20


def shortest_path(env: GridWorld) -> list[int]:
    """Actions of a shortest path from the start to the current goal (breadth-first search)."""
    layout, goal = env.layout, env.goal_state
    parents: dict[tuple[int, int], tuple | None] = {env.start_state: None}
    queue = collections.deque([env.start_state])
    while queue:
        cell = queue.popleft()
        for action, (d_row, d_col) in MOVES.items():
            nxt = (cell[0] + d_row, cell[1] + d_col)
            on_grid = 0 <= nxt[0] < layout.shape[0] and 0 <= nxt[1] < layout.shape[1]
            if on_grid and nxt not in parents and layout[nxt] == 0:
                parents[nxt] = (cell, action)
                queue.append(nxt)
    actions, cell = [], goal
    while parents[cell] is not None:
        cell, action = parents[cell]
        actions.append(action)
    return actions[::-1]


def run(env: GridWorld, actions) -> list[dm_env.TimeStep]:
    return [env.step(action) for action in actions]


# dm_env conformance: one TestCase class per (task, observation type).


class _ConformanceChecks(test_utils.EnvironmentTestMixin):
    task: str
    observation_type: ObservationType

    def make_object_under_test(self):
        return build_gridworld_task(
            self.task, self.observation_type, max_episode_length=CONFORMANCE_MAX_STEPS, seed=0
        )

    def make_action_sequence(self):
        # Runs lazily, after the mixin's reset, so the path targets the current goal.
        yield from (np.int32(a) for a in shortest_path(self.environment))  # -> termination
        yield np.array(UP, dtype=np.int32)  # Ignored: restarts the episode.
        yield from [UP] * (CONFORMANCE_MAX_STEPS + 1)  # Bumps until truncation, then restarts.

    def test_action_sequence_ends_by_termination_and_truncation(self):
        self.environment.reset()
        lasts = [ts for ts in run(self.environment, self.make_action_sequence()) if ts.last()]
        # Bumping "up" from the start reaches a goal sampled just above it: no truncation then.
        truncation_discount = 0.0 if self.environment.goal_state == (1, 2) else 0.9
        np.testing.assert_allclose([ts.discount for ts in lasts], [0.0, truncation_discount])


for _task in TASKS:
    for _obs_type in ObservationType:
        _name = f"Test{_task.title().replace('_', '')}{_obs_type.name.title().replace('_', '')}"
        globals()[_name] = type(
            _name,
            (_ConformanceChecks, absltest.TestCase),
            {"task": _task, "observation_type": _obs_type},
        )


# Dynamics of the simple task.


@pytest.fixture
def simple() -> GridWorld:
    env = build_gridworld_task("simple")
    env.reset()
    return env


def test_optimal_path_reaches_goal_in_five_steps(simple):
    steps = run(simple, [DOWN] * 5)
    assert [float(ts.reward) for ts in steps] == [0, 0, 0, 0, 10]
    assert [ts.step_type for ts in steps] == [dm_env.StepType.MID] * 4 + [dm_env.StepType.LAST]
    assert [float(ts.discount) for ts in steps] == pytest.approx([0.9] * 4 + [0.0])
    assert all(ts.reward.dtype == np.float32 and ts.discount.dtype == np.float32 for ts in steps)
    assert simple.agent_state == simple.goal_state == (7, 2)


def test_obstacle_shortest_path_goes_around_the_wall():
    env = build_gridworld_task("obstacle")
    env.reset()
    path = shortest_path(env)
    steps = run(env, path)
    assert len(path) == 8
    assert sum(float(ts.reward) for ts in steps) == 10.0
    assert steps[-1].last() and float(steps[-1].discount) == 0.0


def test_walking_into_a_wall_is_penalised_and_agent_stays(simple):
    run(simple, [UP])
    assert simple.agent_state == (1, 2)
    timestep = simple.step(UP)
    assert timestep.mid()
    assert float(timestep.reward) == -5.0
    assert float(timestep.discount) == pytest.approx(0.9)
    assert simple.agent_state == (1, 2)


def test_leaving_the_grid_acts_like_a_wall():
    env = GridWorld([[0, 0], [0, 0]], start_state=(0, 0), goal_state=(1, 1), penalty_for_walls=-2)
    env.reset()
    assert [float(ts.reward) for ts in run(env, [UP, LEFT])] == [-2.0, -2.0]
    assert env.agent_state == (0, 0)


def test_truncation_keeps_the_discount_then_restarts():
    env = build_gridworld_task("simple", max_episode_length=3)
    env.reset()
    steps = run(env, [UP, UP, UP])
    assert [ts.step_type for ts in steps][-1] is dm_env.StepType.LAST
    assert [ts.mid() for ts in steps[:2]] == [True, True]
    assert float(steps[-1].discount) == pytest.approx(0.9)
    restart = env.step(DOWN)
    assert restart.first() and restart.reward is None and restart.discount is None
    assert env.agent_state == env.start_state


def test_reaching_the_goal_on_the_last_allowed_step_is_a_termination():
    env = build_gridworld_task("simple", max_episode_length=5)
    env.reset()
    assert float(run(env, [DOWN] * 5)[-1].discount) == 0.0


def test_step_after_termination_restarts(simple):
    run(simple, [DOWN] * 5)
    timestep = simple.step(DOWN)
    assert timestep.first()
    assert int(timestep.observation) == 22
    assert simple.agent_state == (2, 2)


def test_step_on_fresh_environment_resets_and_ignores_action():
    env = build_gridworld_task("simple")
    timestep = env.step(99)  # Not a valid action, but it is ignored.
    assert timestep.first() and timestep.reward is None and timestep.discount is None
    assert env.agent_state == (2, 2)


def test_specs():
    env = build_gridworld_task("simple")
    assert env.action_spec() == dm_env.specs.DiscreteArray(4, dtype=np.int32, name="action")
    assert env.reward_spec() == dm_env.specs.Array((), np.float32, "reward")
    assert env.discount_spec() == dm_env.specs.BoundedArray((), np.float32, 0.0, 1.0, "discount")
    state_spec = env.observation_spec()
    assert isinstance(state_spec, dm_env.specs.DiscreteArray)
    assert (state_spec.num_values, state_spec.dtype) == (90, np.int32)
    assert env.number_of_states == 90 and env.shape == (9, 10)


# Observations.


def test_state_index_observation_at_start(simple):
    obs = simple.reset().observation
    assert obs.shape == () and obs.dtype == np.int32 and int(obs) == 2 * 10 + 2


def test_agent_onehot_observation_at_start():
    obs = build_gridworld_task("simple", "agent_onehot").reset().observation
    expected = np.zeros((9, 10), np.float32)
    expected[2, 2] = 1
    np.testing.assert_array_equal(obs, expected)
    assert obs.dtype == np.float32


def test_grid_observation_is_channels_first():
    env = build_gridworld_task("simple", ObservationType.GRID)
    obs = env.reset().observation
    assert obs.shape == (3, 9, 10) and obs.dtype == np.float32
    np.testing.assert_array_equal(obs[0], env.layout == -1)
    assert list(zip(*np.nonzero(obs[1]))) == [(2, 2)]
    assert list(zip(*np.nonzero(obs[2]))) == [(7, 2)]


def test_agent_goal_pos_observation_at_start():
    obs = build_gridworld_task("simple", "agent_goal_pos").reset().observation
    assert obs.dtype == np.float32
    np.testing.assert_array_equal(obs, [2, 2, 7, 2])


@pytest.mark.parametrize("observation_type", list(ObservationType))
def test_observation_at_matches_stepping_and_does_not_move_agent(observation_type):
    env = build_gridworld_task("simple", observation_type)
    env.reset()
    preview = env.observation_at((3, 2))
    assert env.agent_state == (2, 2)
    env.observation_spec().validate(preview)
    np.testing.assert_array_equal(preview, env.step(DOWN).observation)


def test_observation_at_rejects_walls(simple):
    with pytest.raises(ValueError, match=r"cell \(0, 0\) is a wall"):
        simple.observation_at((0, 0))


def test_free_cells_and_layout_copy(simple):
    cells = simple.free_cells()
    assert len(cells) == int((simple.layout == 0).sum()) == 50
    assert all(simple.layout[cell] == 0 for cell in cells)
    simple.layout[2, 2] = -1  # A copy: the environment is unaffected.
    assert simple.layout[2, 2] == 0


def test_observation_type_parse():
    assert ObservationType.parse("grid") is ObservationType.GRID
    assert ObservationType.parse(ObservationType.AGENT_ONEHOT) is ObservationType.AGENT_ONEHOT
    with pytest.raises(ValueError, match="Unknown observation type 'pixels'.*'state_index'"):
        ObservationType.parse("pixels")
    with pytest.raises(ValueError, match="Unknown observation type 'pixels'"):
        build_gridworld_task("simple", observation_type="pixels")


# Actions.


@pytest.mark.parametrize("action", [1, np.int64(1), np.uint8(1), np.array(1, dtype=np.int32)])
def test_integer_like_actions_are_accepted(simple, action):
    simple.step(action)
    assert simple.agent_state == (2, 3)


@pytest.mark.parametrize("action", [4, -1, 1.5, "up", True, None, np.array([1])])
def test_invalid_actions_raise(simple, action):
    with pytest.raises(ValueError, match=rf"Invalid action {re.escape(repr(action))}.*\[0, 3\]"):
        simple.step(action)


@settings(max_examples=30, deadline=None)
@given(st.lists(st.integers(0, 3), max_size=40))
def test_random_walks_stay_on_free_cells(actions):
    env = build_gridworld_task("obstacle", max_episode_length=None)
    env.reset()
    for action in actions:
        before = env.agent_state
        timestep = env.step(action)
        if timestep.first():
            continue
        assert env.layout[env.agent_state] == 0
        assert int(timestep.observation) == env.agent_state[0] * 10 + env.agent_state[1]
        assert (float(timestep.reward) == -5.0) == (env.agent_state == before)


# Validation.


@pytest.mark.parametrize(
    "layout, message",
    [
        ([[0, 0], [0]], "ragged"),
        ([0, 0, 0], r"2-D grid, got an array of shape \(3,\)"),
        ([], r"2-D grid, got an array of shape \(0,\)"),
        ([[]], r"non-empty 2-D grid, got an array of shape \(1, 0\)"),
        ([[[0, 0]]], r"shape \(1, 1, 2\)"),
        ([[0, 2], [0, 1]], r"-1 \(wall\) or 0 \(free\), got other values: \[1, 2\]"),
    ],
)
def test_malformed_layouts_raise(layout, message):
    with pytest.raises(ValueError, match=message):
        GridWorld(layout, start_state=(0, 0))


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(start_state=(0, 0)), r"start_state \(0, 0\) is a wall"),
        (dict(start_state=(2, 2), goal_state=(0, 5)), r"goal_state \(0, 5\) is a wall"),
        (dict(start_state=(9, 2)), r"start_state \(9, 2\) is outside the 9x10 grid"),
        (dict(start_state=(2, 2), goal_state=(2, -1)), r"goal_state \(2, -1\) is outside"),
        (dict(start_state=(2,)), r"start_state must be a \(row, col\) pair of integers"),
        (dict(start_state=(2, 2), goal_state=(2, 2)), "goal_state must differ from start_state"),
        (dict(start_state=(2, 2), discount=1.5), r"discount must be in \[0, 1\], got 1.5"),
        (dict(start_state=(2, 2), max_episode_length=0), "positive integer or None, got 0"),
    ],
)
def test_invalid_arguments_raise(kwargs, message):
    with pytest.raises(ValueError, match=message):
        GridWorld(TASKS["simple"]["layout"], **kwargs)


def test_no_free_cell_for_a_goal_raises():
    with pytest.raises(ValueError, match=r"no free cell besides start_state \(0, 0\)"):
        GridWorld([[0, -1]], start_state=(0, 0))


def test_unknown_task_raises():
    with pytest.raises(ValueError, match=r"Unknown gridworld task 'maze'.*'obstacle'.*'simple'"):
        build_gridworld_task("maze")


# Malformed custom layouts: each error names the row (and column) and what a cell may be.
# Layouts are numeric grids with the start and goal given apart (start_state, goal_state), so
# "no start" is a missing argument and "several starts" cannot be written; the cases below are
# the ways a layout itself can be malformed.


@pytest.mark.parametrize(
    "layout, message",
    [
        ([[0, 0, 0], [0, 0, 0], [0, 0]], r"same length, got a ragged grid: row 2 has 2 cells, row 0 has 3"),
        ([[0, 0], 0], r"row 1 has a single value, not a row, row 0 has 2 cells"),
        (["#..#", "#S.#"], r"layout row 0 is the string '#..#'; a layout is a grid of numbers, each -1 \(wall\) "
                           r"or 0 \(free\)"),
        ([[0, 0], [0, 2]], r"got other values: \[2\]; the first is 2 at row 1, column 1"),
        ([[0, 0.5], [0, 0]], r"got other values: \[0.5\]; the first is 0.5 at row 0, column 1"),
        ([[0, 0], ["#", 0]], r"the first is '#' at row 1, column 0"),
        ([[0, None], [0, 0]], r"the first is None at row 0, column 1"),
        (np.array([[0, 1], [-1, 3]]), r"got other values: \[1, 3\]; the first is 1 at row 0, column 1"),
        (5, r"layout must be a 2-D grid \(a list of rows, or a 2-D array\) of -1 \(wall\) or 0 \(free\) cells, "
            r"got int 5"),
        ("..#", r"got str '..#'"),
    ],
)
def test_malformed_layouts_name_the_row_and_column(layout, message):
    with pytest.raises(ValueError, match=message):
        GridWorld(layout, start_state=(0, 0))


def test_start_on_a_wall_names_the_cell_and_what_it_should_be():
    with pytest.raises(ValueError, match=r"start_state \(0, 1\) is a wall; it must be a free cell: layout row 0, "
                                         r"column 1 is -1 \(wall\), expected 0 \(free\)"):
        GridWorld([[0, -1], [0, 0]], start_state=(0, 1))


def test_cell_outside_the_grid_names_the_valid_ranges():
    with pytest.raises(ValueError, match=r"goal_state \(2, 0\) is outside the 2x3 grid: expected row in \[0, 1\] "
                                         r"and column in \[0, 2\]"):
        GridWorld([[0, 0, 0], [0, 0, 0]], start_state=(0, 0), goal_state=(2, 0))


def test_goal_walled_off_from_the_start_raises():
    layout = [[0, 0, -1, 0],
              [0, 0, -1, 0]]
    with pytest.raises(ValueError, match=r"goal_state \(1, 3\) \(row 1, column 3\) cannot be reached from "
                                         r"start_state \(0, 0\): walls \(-1\) cut it off"):
        GridWorld(layout, start_state=(0, 0), goal_state=(1, 3))


def test_random_goals_are_drawn_only_from_reachable_cells():
    layout = [[0, 0, -1, 0],
              [0, 0, -1, 0]]
    env = GridWorld(layout, start_state=(0, 0), randomize_goals=True, seed=0)
    goals = {env.reset() and env.goal_state for _ in range(50)}
    assert goals == {(0, 1), (1, 0), (1, 1)}
    with pytest.raises(ValueError, match=r"no free cell besides start_state \(0, 0\) that the agent can reach"):
        GridWorld([[0, -1, 0]], start_state=(0, 0))


def test_seed_reseeds_goal_sampling():
    env = build_gridworld_task("random_goal", "agent_goal_pos", seed=1)
    env.seed(11)
    first = [env.reset() and env.goal_state for _ in range(5)]
    env.seed(11)
    assert [env.reset() and env.goal_state for _ in range(5)] == first
    assert len(set(first)) > 1


# Random goals.


def goal_sequence(seed: int, resets: int = 10) -> list[tuple[int, int]]:
    env = build_gridworld_task("random_goal", "agent_goal_pos", seed=seed)
    goals = []
    for _ in range(resets):
        obs = env.reset().observation
        assert tuple(obs[2:]) == env.goal_state
        goals.append(env.goal_state)
    return goals


def test_random_goal_is_resampled_and_reproducible():
    goals = goal_sequence(seed=7)
    layout, start = TASKS["random_goal"]["layout"], TASKS["random_goal"]["start_state"]
    assert len(set(goals)) > 1
    assert all(np.asarray(layout)[goal] == 0 and goal != start for goal in goals)
    assert goal_sequence(seed=7) == goals


def test_fixed_goal_is_kept_across_resets(simple):
    simple.reset()
    assert simple.goal_state == (7, 2)


# Rendering.


def test_render_colours(simple):
    image = simple.render(cell_size=4)
    assert image.shape == (36, 40, 3) and image.dtype == np.uint8
    agent, wall, floor, goal = (image[4 * r, 4 * c] for r, c in [(2, 2), (0, 0), (5, 5), (7, 2)])
    assert agent[0] > 150 and agent[1:].max() < 100  # Red.
    assert goal[1] > 150 and goal[[0, 2]].max() < 100  # Green.
    assert wall.max() < 80 and floor.min() > 200
    np.testing.assert_array_equal(image[8:12, 8:12], np.broadcast_to(agent, (4, 4, 3)))


def test_render_draws_agent_over_goal(simple):
    run(simple, [DOWN] * 5)
    image = simple.render(cell_size=1)
    assert image[7, 2, 0] > 150 and image[7, 2, 1] < 100


# Plotting helpers.


def state_index_q_function(observations: np.ndarray) -> np.ndarray:
    """A fake Q network: deterministic values derived from the state index."""
    assert observations.ndim == 1 and observations.dtype == np.int32
    index = observations.astype(float)
    return np.stack([index, 2 * index, -index, index + 0.5], axis=1)


def test_q_value_grid_evaluates_free_cells_only(simple):
    grid = gridworld_plots.q_value_grid(simple, state_index_q_function)
    assert grid.shape == (9, 10, 4)
    walls = simple.layout == -1
    assert np.isnan(grid[walls]).all() and not np.isnan(grid[~walls]).any()
    np.testing.assert_allclose(grid[3, 1], [31, 62, -31, 31.5])


def test_q_value_grid_batches_image_observations():
    env = build_gridworld_task("obstacle", "grid")

    def q_function(observations):
        assert observations.shape == (len(env.free_cells()), 3, 9, 10)
        return np.tile(observations[:, 1].sum(axis=(1, 2))[:, None], (1, 4))

    grid = gridworld_plots.q_value_grid(env, q_function)
    np.testing.assert_array_equal(grid[~np.isnan(grid)], 1.0)


def test_q_value_grid_rejects_bad_output_shape(simple):
    with pytest.raises(ValueError, match=r"q_function must return shape \(50, 4\) .*, got \(50,\)"):
        gridworld_plots.q_value_grid(simple, lambda obs: obs.astype(float))


def assert_png(path, inches) -> None:
    """A non-trivial PNG of exactly `inches` x DPI pixels (width and height from the IHDR chunk)."""
    data = path.read_bytes()
    assert data.startswith(b"\x89PNG") and len(data) > 1000
    width, height = int.from_bytes(data[16:20], "big"), int.from_bytes(data[20:24], "big")
    assert (width, height) == (round(inches[0] * gridworld_plots.DPI), round(inches[1] * gridworld_plots.DPI))


def test_plots_write_png_files(simple, tmp_path):
    pytest.importorskip("matplotlib")
    q_values = gridworld_plots.q_value_grid(simple, state_index_q_function)
    gridworld_plots.plot_grid(simple, tmp_path / "grid.png")
    gridworld_plots.plot_greedy_policy(simple, q_values, tmp_path / "policy.png")
    fig = gridworld_plots.plot_action_values(simple, q_values, tmp_path / "values.png")
    gridworld_plots.plot_state_values(simple, q_values, tmp_path / "state_values.png")
    for name, inches in [("grid.png", gridworld_plots.GRID_INCHES), ("policy.png", gridworld_plots.POLICY_INCHES),
                         ("values.png", gridworld_plots.Q_VALUES_INCHES),
                         ("state_values.png", gridworld_plots.STATE_VALUES_INCHES)]:
        assert_png(tmp_path / name, inches)
    # Five heat maps (a Q map per action and V), a colour bar shared by the Q maps and one for V.
    heat_maps = {ax.get_title() for ax in fig.axes if ax.get_images()}
    assert heat_maps == {"Q(s, up)", "Q(s, right)", "Q(s, down)", "Q(s, left)", "V(s) = max_a Q(s, a)"}
    assert sum(ax.get_label() == "<colorbar>" for ax in fig.axes) == 2


def test_action_value_maps_are_placed_like_the_actions_on_one_scale(simple):
    pytest.importorskip("matplotlib")
    q_values = gridworld_plots.q_value_grid(simple, state_index_q_function)
    fig = gridworld_plots.plot_action_values(simple, q_values, epsilon=0.5)
    panels = {ax.get_title(): ax for ax in fig.axes if ax.get_images()}
    position = {title: ax.get_position() for title, ax in panels.items()}
    assert position["Q(s, up)"].y0 > position["V(s) of 0.5-greedy"].y0 > position["Q(s, down)"].y0
    assert position["Q(s, left)"].x0 < position["V(s) of 0.5-greedy"].x0 < position["Q(s, right)"].x0
    limits = {panels[f"Q(s, {name})"].get_images()[0].get_clim() for name in ("up", "right", "down", "left")}
    assert len(limits) == 1  # One colour scale for the four actions.
    (low, high), = limits
    assert low < np.nanmin(q_values) and high > np.nanmax(q_values)
    np.testing.assert_allclose(panels["V(s) of 0.5-greedy"].get_images()[0].get_array().filled(np.nan),
                               0.5 * q_values.max(axis=-1) + 0.5 * q_values.mean(axis=-1))


def test_state_values_label_every_free_cell(simple):
    pytest.importorskip("matplotlib")
    q_values = gridworld_plots.q_value_grid(simple, state_index_q_function)
    (ax, _colorbar) = gridworld_plots.plot_state_values(simple, q_values).axes
    labels = {(int(x), int(y)): text.get_text() for text in ax.texts for x, y in [text.get_position()]}
    assert len(labels) == len(simple.free_cells()) == 50
    assert labels[(1, 3)] == "62.0"  # (x, y) = (col, row); max_a Q of state 31 is 2 * 31.
    assert ax.get_title() == "V(s) = max_a Q(s, a)"


def test_state_value_map_of_epsilon_greedy_policies():
    q_values = np.array([[[1.0, 3.0, -2.0, 2.0]]])
    np.testing.assert_allclose(gridworld_plots.state_value_map(q_values), [[3.0]])
    np.testing.assert_allclose(gridworld_plots.state_value_map(q_values, 0.2), [[0.8 * 3.0 + 0.2 * 1.0]])
    with pytest.raises(ValueError, match=r"epsilon must be in \[0, 1\]"):
        gridworld_plots.state_value_map(q_values, 1.5)


def test_plot_grid_labels_start_and_goal(simple):
    pytest.importorskip("matplotlib")
    (ax,) = gridworld_plots.plot_grid(simple).axes
    labels = {text.get_text(): text.get_position() for text in ax.texts}
    assert labels == {"S": (2, 2), "G": (2, 7)}  # (x, y) = (col, row).


def test_greedy_policy_arrows_follow_argmax(simple):
    pytest.importorskip("matplotlib")
    q_values = np.zeros((9, 10, 4))
    q_values[..., DOWN] = 1.0
    q_values[simple.layout == -1] = np.nan
    (ax,) = gridworld_plots.plot_greedy_policy(simple, q_values).axes
    (arrows,) = ax.collections
    assert arrows.N == 49  # Every free cell except the goal.
    arrow_cells = [cell for cell in simple.free_cells() if cell != simple.goal_state]
    np.testing.assert_array_equal(arrows.X, [col for _, col in arrow_cells])
    np.testing.assert_array_equal(arrows.Y, [row for row, _ in arrow_cells])
    np.testing.assert_array_equal(arrows.U, 0)
    np.testing.assert_array_equal(arrows.V, 1)  # +1 row: down in image coordinates.


def test_plots_reject_wrong_q_value_shape(simple):
    with pytest.raises(ValueError, match=r"q_values must have shape \(9, 10, 4\)"):
        gridworld_plots.plot_greedy_policy(simple, np.zeros((9, 10)))


def test_plots_explain_missing_matplotlib(simple, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=re.escape('pip install "agentpipe[plot]"')):
        gridworld_plots.plot_grid(simple)
