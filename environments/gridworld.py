"""A small tabular GridWorld exposed through the `dm_env` interface.

The agent walks on a 2-D grid of free cells (0) and walls (-1) from a start
cell to a goal cell. It is the reference environment for the tabular and
DQN-style agents, so it is deliberately tiny, deterministic and fully
specified: every reward, discount and observation has a fixed dtype and spec.
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from typing import Any

import dm_env
import numpy as np
from dm_env import specs

Cell = tuple[int, int]

WALL = -1
FREE = 0
ACTION_NAMES = ("up", "right", "down", "left")
# (row, col) offset of each action, indexed by action id.
_MOVES = ((-1, 0), (0, 1), (1, 0), (0, -1))
# RGB colours used by `GridWorld.render`.
_WALL_RGB = (40, 40, 40)
_FLOOR_RGB = (235, 235, 235)
_GOAL_RGB = (40, 170, 60)
_AGENT_RGB = (210, 40, 40)


class ObservationType(enum.Enum):
    """What `GridWorld` observations contain (see `GridWorld.observation_spec`)."""

    STATE_INDEX = "state_index"  # int32 index row * W + col of the agent.
    AGENT_ONEHOT = "agent_onehot"  # (H, W) float32, 1 at the agent.
    GRID = "grid"  # (3, H, W) float32 channels: walls, agent, goal.
    AGENT_GOAL_POS = "agent_goal_pos"  # (4,) float32 agent and goal (row, col).

    @classmethod
    def parse(cls, value: str | ObservationType) -> ObservationType:
        """Returns the member for `value`, a member or its lower-case name."""
        if isinstance(value, cls):
            return value
        if isinstance(value, str):
            try:
                return cls(value)
            except ValueError:
                pass
        valid = ", ".join(repr(member.value) for member in cls)
        raise ValueError(f"Unknown observation type {value!r}; expected one of {valid}.")


_CELLS = f"{WALL} (wall) or {FREE} (free)"


def _as_layout(layout: Any) -> np.ndarray:
    """Validates `layout` and returns it as a 2-D int array of WALL/FREE.

    Errors name the row and column of the first bad cell (or the first row of
    another length) and the values a cell may take.
    """
    if isinstance(layout, (str, bytes)) or not isinstance(layout, (Sequence, np.ndarray)):
        raise ValueError(
            f"layout must be a 2-D grid (a list of rows, or a 2-D array) of {_CELLS} cells, "
            f"got {type(layout).__name__} {layout!r:.100}."
        )
    if not isinstance(layout, np.ndarray):
        for index, row in enumerate(layout):
            if isinstance(row, (str, bytes)):
                raise ValueError(
                    f"layout row {index} is the string {row!r:.60}; a layout is a grid of numbers, "
                    f"each {_CELLS}, e.g. [[-1, -1, -1], [-1, 0, -1]]."
                )
        lengths = [len(row) if isinstance(row, (Sequence, np.ndarray)) else None for row in layout]
        if len(set(lengths)) > 1:
            bad = next(i for i, n in enumerate(lengths) if n != lengths[0])
            def cells(n):
                return "a single value, not a row" if n is None else f"{n} cells"
            raise ValueError(
                f"layout rows must all have the same length, got a ragged grid: row {bad} has "
                f"{cells(lengths[bad])}, row 0 has {cells(lengths[0])}."
            )
    try:
        grid = np.asarray(layout)
    except ValueError as error:  # NumPy refuses ragged nested sequences (deeper levels).
        raise ValueError(
            f"layout must be a rectangular 2-D grid, got a ragged sequence: {error}"
        ) from error
    if grid.ndim != 2 or grid.size == 0:
        raise ValueError(
            f"layout must be a non-empty 2-D grid, got an array of shape {grid.shape}."
        )
    if grid.dtype.kind in "biuf":
        valid = np.isin(grid, (WALL, FREE))
    else:  # Strings, None, objects: compare the cells as given (numpy would turn 0 into '0' beside a string).
        grid = grid.astype(object) if isinstance(layout, np.ndarray) else np.array(layout, dtype=object)
        valid = np.vectorize(
            lambda cell: isinstance(cell, (int, float, np.number)) and not isinstance(cell, bool)
            and cell in (WALL, FREE), otypes=[bool])(grid)
    if not valid.all():
        row, col = (int(i) for i in np.argwhere(~valid)[0])
        cell = grid[row, col]
        cell = cell.item() if isinstance(cell, np.generic) else cell
        try:
            bad = sorted(set(grid[~valid].tolist()))
        except TypeError:  # Values of mixed types do not sort.
            bad = list(dict.fromkeys(grid[~valid].tolist()))
        raise ValueError(
            f"layout cells must be {_CELLS}, got other values: {bad[:10]}; the first is "
            f"{cell!r} at row {row}, column {col}."
        )
    return grid.astype(np.int64)


def _reachable(layout: np.ndarray, start: Cell) -> np.ndarray:
    """Boolean mask of the free cells the agent can walk to from `start`."""
    height, width = layout.shape
    seen = np.zeros(layout.shape, bool)
    seen[start] = True
    stack = [start]
    while stack:
        row, col = stack.pop()
        for d_row, d_col in _MOVES:
            r, c = row + d_row, col + d_col
            if 0 <= r < height and 0 <= c < width and not seen[r, c] and layout[r, c] == FREE:
                seen[r, c] = True
                stack.append((r, c))
    return seen


class GridWorld(dm_env.Environment):
    """Navigate from a start cell to a goal cell on a grid with walls.

    Actions are 0 up, 1 right, 2 down, 3 left. Bumping into a wall or the edge
    of the grid costs `penalty_for_walls` and leaves the agent in place; entering
    the goal pays `reward_goal` and terminates the episode (discount 0). Episodes
    longer than `max_episode_length` steps are truncated (discount `discount`).
    """

    def __init__(
        self,
        layout: Sequence[Sequence[int]] | np.ndarray,
        start_state: Cell,
        goal_state: Cell | None = None,
        observation_type: str | ObservationType = ObservationType.STATE_INDEX,
        discount: float = 0.9,
        penalty_for_walls: float = -5.0,
        reward_goal: float = 10.0,
        max_episode_length: int | None = None,
        randomize_goals: bool = False,
        seed: int | None = None,
    ):
        """Builds the environment; `seed` only drives goal sampling."""
        self._layout = _as_layout(layout)
        self._observation_type = ObservationType.parse(observation_type)
        if not 0.0 <= discount <= 1.0:
            raise ValueError(f"discount must be in [0, 1], got {discount}.")
        if max_episode_length is not None and max_episode_length <= 0:
            raise ValueError(
                f"max_episode_length must be a positive integer or None, got {max_episode_length}."
            )
        self._start_state = self._check_cell(start_state, "start_state")
        self._discount = float(discount)
        self._penalty_for_walls = float(penalty_for_walls)
        self._reward_goal = float(reward_goal)
        self._max_episode_length = max_episode_length
        self._randomize_goals = randomize_goals
        self._rng = np.random.default_rng(seed)
        reachable = np.argwhere(_reachable(self._layout, self._start_state))
        self._goal_candidates = reachable[(reachable != self._start_state).any(axis=1)]
        if goal_state is None:
            self._goal_state = self._sample_goal()
        else:
            self._goal_state = self._check_cell(goal_state, "goal_state")
            if self._goal_state == self._start_state:
                raise ValueError(f"goal_state must differ from start_state, both are {goal_state}.")
            if not _reachable(self._layout, self._start_state)[self._goal_state]:
                raise ValueError(
                    f"goal_state {goal_state} (row {self._goal_state[0]}, column {self._goal_state[1]}) cannot "
                    f"be reached from start_state {start_state}: walls (-1) cut it off."
                )
        self._agent_state = self._start_state
        self._episode_steps = 0
        self._reset_next_step = True

    # Validation and helpers.

    def _check_cell(self, cell: Any, name: str) -> Cell:
        """Returns `cell` as a (row, col) tuple of a free cell, or raises."""
        position = np.asarray(cell)
        if position.shape != (2,) or not np.issubdtype(position.dtype, np.integer):
            raise ValueError(f"{name} must be a (row, col) pair of integers, got {cell!r}.")
        row, col = (int(x) for x in position)
        height, width = self.shape
        if not (0 <= row < height and 0 <= col < width):
            raise ValueError(
                f"{name} {cell} is outside the {height}x{width} grid: expected row in [0, {height - 1}] "
                f"and column in [0, {width - 1}]."
            )
        if self._layout[row, col] == WALL:
            raise ValueError(
                f"{name} {cell} is a wall; it must be a free cell: layout row {row}, column {col} is "
                f"{WALL} (wall), expected {FREE} (free)."
            )
        return row, col

    def _sample_goal(self) -> Cell:
        """Draws a uniformly random free cell, other than the start, that the agent can reach."""
        if len(self._goal_candidates) == 0:
            raise ValueError(
                "Cannot sample a goal: the layout has no free cell besides "
                f"start_state {self._start_state} that the agent can reach from it."
            )
        row, col = self._rng.choice(self._goal_candidates)
        return int(row), int(col)

    @staticmethod
    def _parse_action(action: Any) -> int:
        """Returns `action` as an int in [0, 3], or raises ValueError."""
        value = np.asarray(action)
        is_integer = value.shape == () and np.issubdtype(value.dtype, np.integer)
        if not (is_integer and 0 <= value < len(_MOVES)):
            raise ValueError(
                f"Invalid action {action!r}: expected an integer in [0, {len(_MOVES) - 1}] "
                "(0 up, 1 right, 2 down, 3 left)."
            )
        return int(value)

    def _is_free(self, cell: Cell) -> bool:
        """True if `cell` is on the grid and not a wall."""
        height, width = self.shape
        row, col = cell
        return 0 <= row < height and 0 <= col < width and self._layout[row, col] != WALL

    def _observe(self, agent: Cell) -> np.ndarray:
        """Observation of the agent standing on `agent` with the current goal."""
        obs_type = self._observation_type
        if obs_type is ObservationType.STATE_INDEX:
            return np.asarray(np.ravel_multi_index(agent, self.shape), np.int32)
        if obs_type is ObservationType.AGENT_ONEHOT:
            obs = np.zeros(self.shape, np.float32)
            obs[agent] = 1.0
            return obs
        if obs_type is ObservationType.GRID:
            obs = np.zeros((3, *self.shape), np.float32)
            obs[0] = self._layout == WALL
            obs[(1, *agent)] = 1.0
            obs[(2, *self._goal_state)] = 1.0
            return obs
        return np.asarray(agent + self._goal_state, np.float32)

    def seed(self, seed: int | None) -> None:
        """Reseeds goal sampling (`random_goal`), as constructing with `seed` does."""
        self._rng = np.random.default_rng(seed)

    # dm_env.Environment interface.

    def reset(self) -> dm_env.TimeStep:
        """Starts a new episode at the start cell (sampling a goal if asked)."""
        if self._randomize_goals:
            self._goal_state = self._sample_goal()
        self._agent_state = self._start_state
        self._episode_steps = 0
        self._reset_next_step = False
        return dm_env.restart(self._observe(self._agent_state))

    def step(self, action: Any) -> dm_env.TimeStep:
        """Moves the agent; on a fresh or finished episode, resets instead."""
        if self._reset_next_step:
            return self.reset()
        d_row, d_col = _MOVES[self._parse_action(action)]
        target = (self._agent_state[0] + d_row, self._agent_state[1] + d_col)
        self._episode_steps += 1
        if self._is_free(target):
            self._agent_state = target
            reward = self._reward_goal if target == self._goal_state else 0.0
        else:
            reward = self._penalty_for_walls
        observation = self._observe(self._agent_state)
        reward = np.asarray(reward, np.float32)
        discount = np.asarray(self._discount, np.float32)
        if self._agent_state == self._goal_state:
            self._reset_next_step = True
            no_future = np.asarray(0.0, np.float32)
            return dm_env.TimeStep(dm_env.StepType.LAST, reward, no_future, observation)
        max_length = self._max_episode_length
        if max_length is not None and self._episode_steps >= max_length:
            self._reset_next_step = True
            return dm_env.truncation(reward, observation, discount)
        return dm_env.transition(reward, observation, discount)

    def observation_spec(self) -> specs.Array:
        """Spec of the observation for the configured `ObservationType`."""
        height, width = self.shape
        if self._observation_type is ObservationType.STATE_INDEX:
            return specs.DiscreteArray(
                num_values=self.number_of_states, dtype=np.int32, name="observation"
            )
        shapes = {
            ObservationType.AGENT_ONEHOT: (height, width),
            ObservationType.GRID: (3, height, width),
            ObservationType.AGENT_GOAL_POS: (4,),
        }
        return specs.Array(shapes[self._observation_type], np.float32, name="observation")

    def action_spec(self) -> specs.DiscreteArray:
        return specs.DiscreteArray(num_values=len(_MOVES), dtype=np.int32, name="action")

    def reward_spec(self) -> specs.Array:
        return specs.Array((), np.float32, "reward")

    def discount_spec(self) -> specs.BoundedArray:
        return specs.BoundedArray((), np.float32, 0.0, 1.0, "discount")

    # Read-only state.

    @property
    def layout(self) -> np.ndarray:
        return self._layout.copy()

    @property
    def shape(self) -> tuple[int, int]:
        return self._layout.shape

    @property
    def start_state(self) -> Cell:
        return self._start_state

    @property
    def goal_state(self) -> Cell:
        return self._goal_state

    @property
    def agent_state(self) -> Cell:
        return self._agent_state

    @property
    def observation_type(self) -> ObservationType:
        return self._observation_type

    @property
    def number_of_states(self) -> int:
        return self._layout.size

    @property
    def max_episode_length(self) -> int | None:
        return self._max_episode_length

    # Inspection helpers (used for rendering and plotting value functions).

    def free_cells(self) -> list[Cell]:
        """All non-wall cells in row-major order (start and goal included)."""
        return [(int(r), int(c)) for r, c in np.argwhere(self._layout == FREE)]

    def observation_at(self, cell: Cell) -> np.ndarray:
        """Observation the agent would get on `cell`; does not move the agent."""
        return self._observe(self._check_cell(cell, "cell"))

    def render(self, cell_size: int = 16) -> np.ndarray:
        """RGB uint8 image of shape (H * cell_size, W * cell_size, 3)."""
        if cell_size <= 0:
            raise ValueError(f"cell_size must be positive, got {cell_size}.")
        image = np.where((self._layout == WALL)[..., None], _WALL_RGB, _FLOOR_RGB)
        image[self._goal_state] = _GOAL_RGB
        image[self._agent_state] = _AGENT_RGB
        image = image.astype(np.uint8)
        return image.repeat(cell_size, axis=0).repeat(cell_size, axis=1)


_OPEN_ROOM = (
    (-1, -1, -1, -1, -1, -1, -1, -1, -1, -1),
    (-1, 0, 0, 0, 0, 0, 0, 0, 0, -1),
    (-1, 0, 0, 0, -1, -1, 0, 0, 0, -1),
    (-1, 0, 0, 0, -1, -1, 0, 0, 0, -1),
    (-1, 0, 0, 0, -1, -1, 0, 0, 0, -1),
    (-1, 0, 0, 0, 0, 0, 0, 0, 0, -1),
    (-1, 0, 0, 0, 0, 0, 0, 0, 0, -1),
    (-1, 0, 0, 0, 0, 0, 0, 0, 0, -1),
    (-1, -1, -1, -1, -1, -1, -1, -1, -1, -1),
)
_OBSTACLE_ROOM = (
    (-1, -1, -1, -1, -1, -1, -1, -1, -1, -1),
    (-1, 0, 0, 0, 0, 0, -1, 0, 0, -1),
    (-1, 0, 0, 0, -1, 0, 0, 0, 0, -1),
    (-1, 0, 0, 0, -1, -1, 0, 0, 0, -1),
    (-1, 0, 0, 0, -1, -1, 0, 0, 0, -1),
    (-1, 0, 0, 0, 0, 0, 0, 0, 0, -1),
    (-1, 0, 0, 0, 0, 0, 0, 0, 0, -1),
    (-1, 0, 0, 0, 0, 0, 0, 0, 0, -1),
    (-1, -1, -1, -1, -1, -1, -1, -1, -1, -1),
)

# Named GridWorld configurations: keyword arguments for `GridWorld`.
TASKS: dict[str, dict[str, Any]] = {
    "simple": dict(layout=_OPEN_ROOM, start_state=(2, 2), goal_state=(7, 2)),
    "obstacle": dict(layout=_OBSTACLE_ROOM, start_state=(2, 2), goal_state=(2, 8)),
    "random_goal": dict(
        layout=_OPEN_ROOM, start_state=(2, 2), goal_state=None, randomize_goals=True
    ),
}


def build_gridworld_task(
    task: str,
    observation_type: str | ObservationType = "state_index",
    discount: float = 0.9,
    penalty_for_walls: float = -5.0,
    reward_goal: float = 10.0,
    max_episode_length: int | None = 200,
    seed: int | None = None,
) -> GridWorld:
    """Builds the named task from `TASKS` with the given reward/episode settings."""
    if task not in TASKS:
        raise ValueError(f"Unknown gridworld task {task!r}; known tasks: {sorted(TASKS)}.")
    return GridWorld(
        observation_type=observation_type,
        discount=discount,
        penalty_for_walls=penalty_for_walls,
        reward_goal=reward_goal,
        max_episode_length=max_episode_length,
        seed=seed,
        **TASKS[task],
    )
