"""Adapters between gymnasium environments and the `dm_env` interface.

Everything above the `environments` package speaks `dm_env`; this module is the
one place where gymnasium's `(obs, reward, terminated, truncated, info)` API is
translated. It provides

* `space_to_spec` / `spec_to_space`: conversion between gymnasium spaces and
  `dm_env.specs` (nested Dict/Tuple spaces become dicts/tuples of specs);
* `GymnasiumEnvironment`: a gymnasium env seen as a `dm_env.Environment`;
* `DmEnvToGymnasium`: a `dm_env.Environment` seen as a gymnasium env (useful
  for gymnasium tooling such as `gymnasium.utils.env_checker.check_env`).

Conventions: `Discrete(n, start)` becomes a zero-based `DiscreteArray(n)` with
dtype int64; the adapter adds `start` to actions before they reach gymnasium
and subtracts it from observations. Every other space keeps its own values
(a `MultiDiscrete` with `start` has bounds `start .. start + nvec - 1`).
"""

from __future__ import annotations

import operator

from collections.abc import Mapping, Sequence
from typing import Any

import dm_env
import gymnasium
import numpy as np
import tree
from dm_env import specs

from environments import nests
from environments.auto_reset import LAST, lane_end
from gymnasium import spaces

# A nest (dm-tree structure) of `specs.Array` leaves.
SpecNest = Any
# A nest of gymnasium leaf spaces (Box, Discrete, MultiDiscrete, MultiBinary).
SpaceNest = Any

_LEAF_SPACES = (spaces.Box, spaces.Discrete, spaces.MultiDiscrete, spaces.MultiBinary)

REWARD_SPEC = specs.Array((), np.float64, "reward")
DISCOUNT_SPEC = specs.BoundedArray((), np.float64, 0.0, 1.0, "discount")


# ----------------------------------------------------------------------------
# Space <-> spec conversion.
# ----------------------------------------------------------------------------


def _space_nest(space: spaces.Space) -> SpaceNest:
    """Unpacks Dict/Tuple spaces into a dict/tuple nest of leaf spaces.

    Gymnasium spaces are not dm-tree nests, so this is the one place that walks
    a space by hand; everything downstream maps over the returned nest with
    `tree`. Key order of Dict spaces is kept.
    """
    if isinstance(space, spaces.Dict):
        return {key: _space_nest(sub) for key, sub in space.spaces.items()}
    if isinstance(space, spaces.Tuple):
        return tuple(_space_nest(sub) for sub in space.spaces)
    if isinstance(space, _LEAF_SPACES):
        return space
    raise TypeError(
        f"Unsupported gymnasium space {space!r} (type {type(space).__name__}); "
        "supported: Box, Discrete, MultiDiscrete, MultiBinary, Dict, Tuple."
    )


def _join_name(name: str | None, path: tuple[Any, ...]) -> str | None:
    """Spec name for a leaf at `path` below a spec called `name`."""
    parts = ([name] if name else []) + [str(p) for p in path]
    return "/".join(parts) or None


def _leaf_space_to_spec(space: spaces.Space, name: str | None) -> specs.Array:
    """Converts one leaf space (see `_LEAF_SPACES`) to its spec."""
    if isinstance(space, spaces.Discrete):
        # Zero-based by dm_env convention; int64 so every `n` fits (the
        # single-precision wrapper narrows it to int32 for agents).
        return specs.DiscreteArray(int(space.n), dtype=np.int64, name=name)
    if isinstance(space, spaces.Box):
        return specs.BoundedArray(space.shape, space.dtype, space.low, space.high, name)
    if isinstance(space, spaces.MultiDiscrete):
        start = np.asarray(space.start)
        return specs.BoundedArray(
            space.shape, space.dtype, start, start + np.asarray(space.nvec) - 1, name
        )
    if isinstance(space, spaces.MultiBinary):
        return specs.BoundedArray(space.shape, np.int8, 0, 1, name)
    raise TypeError(f"Unsupported gymnasium space {space!r}.")


def space_to_spec(space: spaces.Space, name: str | None = None) -> SpecNest:
    """Converts a gymnasium space to a (nest of) `dm_env.specs`.

    Box -> BoundedArray (same dtype and bounds); Discrete(n, start) ->
    DiscreteArray(n, int64) (zero-based, `start` is dropped: the environment
    adapter handles the offset); MultiDiscrete -> int BoundedArray
    `start .. start + nvec - 1`; MultiBinary -> BoundedArray(int8, 0..1);
    Dict -> dict of specs (same key order); Tuple -> tuple of specs. Nested leaf
    specs are named `name/key/...`.

    Raises:
      TypeError: for any other space (Text, Graph, Sequence, OneOf, ...).
    """
    return tree.map_structure_with_path(
        lambda path, leaf: _leaf_space_to_spec(leaf, _join_name(name, path)),
        _space_nest(space),
    )


def _int_range_space(spec: specs.BoundedArray) -> spaces.Space:
    """Space for an integer BoundedArray: MultiBinary, MultiDiscrete or Box."""
    low = spec.minimum.astype(object)  # Python ints: no overflow below.
    high = spec.maximum.astype(object)
    low_b = np.broadcast_to(low, spec.shape)
    high_b = np.broadcast_to(high, spec.shape)
    if spec.dtype == np.int8 and spec.shape and np.all(low_b == 0) and np.all(high_b == 1):
        # MultiBinary(n) for vectors (so it compares equal to the usual form).
        return spaces.MultiBinary(spec.shape[0] if len(spec.shape) == 1 else spec.shape)
    nvec = high_b - low_b + 1
    info = np.iinfo(spec.dtype)
    if spec.shape and np.all(nvec <= info.max):
        # Enumerable ranges (the common case for discrete vectors). Ranges that
        # fill their dtype (e.g. uint8 images 0..255) stay Box below.
        return spaces.MultiDiscrete(
            nvec.astype(spec.dtype), dtype=spec.dtype, start=low_b.astype(spec.dtype)
        )
    return spaces.Box(*_broadcast_bounds(spec), spec.shape, spec.dtype)


def _broadcast_bounds(spec: specs.BoundedArray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds at full shape (specs may store scalars; Box wants full arrays)."""
    return (
        np.broadcast_to(spec.minimum, spec.shape).copy(),
        np.broadcast_to(spec.maximum, spec.shape).copy(),
    )


def _leaf_spec_to_space(spec: specs.Array) -> spaces.Space:
    """Converts one leaf spec to a gymnasium space."""
    dtype = np.dtype(spec.dtype)
    if isinstance(spec, specs.DiscreteArray):
        return spaces.Discrete(spec.num_values)
    if isinstance(spec, specs.StringArray) or not (
        np.issubdtype(dtype, np.number) or dtype == np.bool_
    ):
        raise TypeError(f"Cannot convert spec {spec!r} to a gymnasium space.")
    if isinstance(spec, specs.BoundedArray):
        if np.issubdtype(dtype, np.integer):
            return _int_range_space(spec)
        return spaces.Box(*_broadcast_bounds(spec), spec.shape, dtype)
    # Unbounded `Array`: the widest range the dtype allows.
    if np.issubdtype(dtype, np.floating):
        return spaces.Box(-np.inf, np.inf, spec.shape, dtype)
    if dtype == np.bool_:
        return spaces.Box(0, 1, spec.shape, dtype)
    info = np.iinfo(dtype)
    return spaces.Box(info.min, info.max, spec.shape, dtype)


def spec_to_space(spec: SpecNest) -> spaces.Space:
    """Converts a (nest of) `dm_env.specs` to a gymnasium space.

    DiscreteArray -> Discrete; float BoundedArray -> Box; int8 BoundedArray
    with bounds 0..1 -> MultiBinary; other int BoundedArray -> MultiDiscrete
    (with `start` = minimum) unless its range fills the dtype (e.g. uint8
    images), then Box; Array -> Box over the dtype's full range (+-inf for
    floats); dicts -> Dict, tuples/lists -> Tuple.

    Raises:
      TypeError: for string specs or non-numeric dtypes.
    """

    def convert(subtree: Any) -> Any:
        # Bottom-up traversal: children have already been replaced by spaces.
        if isinstance(subtree, specs.Array):
            return _leaf_spec_to_space(subtree)
        if isinstance(subtree, Mapping):
            return spaces.Dict(dict(subtree))
        if isinstance(subtree, Sequence):
            return spaces.Tuple(tuple(subtree))
        raise TypeError(f"Cannot convert {subtree!r} to a gymnasium space.")

    return tree.traverse(convert, spec, top_down=False)


# ----------------------------------------------------------------------------
# gymnasium.Env -> dm_env.Environment.
# ----------------------------------------------------------------------------


def _path_suffix(path: tuple[Any, ...]) -> str:
    return f" at {'/'.join(map(str, path))}" if path else ""


def _to_gym_action(
    path: tuple[Any, ...], space: spaces.Space, spec: specs.Array, value: Any
) -> Any:
    """Converts one dm_env action leaf to what `space` expects, or raises."""

    def fail(reason: str) -> None:
        raise ValueError(
            f"Invalid action {value!r}{_path_suffix(path)}: {reason}; "
            f"expected action spec {spec!r}."
        )

    array = np.asarray(value)
    if array.shape != spec.shape:
        fail(f"shape {array.shape} != {spec.shape}")
    if isinstance(space, spaces.Box):
        return np.asarray(array, dtype=space.dtype)
    if not (np.issubdtype(array.dtype, np.integer) or array.dtype == np.bool_):
        fail(f"dtype {array.dtype} is not an integer type")
    if np.any(array < spec.minimum) or np.any(array > spec.maximum):
        fail(f"out of range [{spec.minimum}, {spec.maximum}]")
    if isinstance(space, spaces.Discrete):
        return int(array) + int(space.start)
    return np.asarray(array, dtype=space.dtype)


def _from_gym_observation(space: spaces.Space, spec: specs.Array, value: Any) -> np.ndarray:
    """Converts one gymnasium observation leaf to the dtype of `spec`."""
    if isinstance(space, spaces.Discrete):
        return np.asarray(int(value) - int(space.start), dtype=spec.dtype)
    return np.asarray(value, dtype=spec.dtype)


def gym_actions(space: spaces.Space, actions: np.ndarray) -> Sequence[Any]:
    """A batch of dm_env actions (leading lane axis) in a leaf space's form: a Discrete's start added (Python
    ints); a Box's, MultiDiscrete's or MultiBinary's dtype (their specs are in the space's units already)."""
    if isinstance(space, spaces.Discrete):
        return (actions + int(space.start)).tolist()
    return actions.astype(space.dtype, copy=False)


class GymnasiumEnvironment(dm_env.Environment):
    """A `gymnasium.Env` exposed through the `dm_env.Environment` interface.

    `terminated` becomes a LAST step with discount 0 and `truncated` (without
    termination) a LAST step with discount 1, so bootstrapping agents treat a
    time limit correctly. The first reset seeds the gymnasium env with `seed`;
    later resets continue its RNG, so a seeded run is reproducible end to end.
    `seed(s)` makes the next reset seed it with `s` again.
    """

    def __init__(self, env: gymnasium.Env, seed: int | None = None) -> None:
        self._env = env
        self._seed = seed
        self._seeded = False
        self._needs_reset = True
        self._last_info: dict[str, Any] = {}
        self._observation_spaces = _space_nest(env.observation_space)
        self._action_spaces = _space_nest(env.action_space)
        self._observation_spec = space_to_spec(env.observation_space, "observation")
        self._action_spec = space_to_spec(env.action_space, "action")
        # Fast paths for the common flat spaces; anything unusual takes the checked general path.
        space = env.action_space
        self._discrete_action = (int(space.start), int(space.n)) if isinstance(space, spaces.Discrete) else None
        box = env.observation_space
        self._box_observation_dtype = self._observation_spec.dtype if isinstance(box, spaces.Box) else None

    def reset(self) -> dm_env.TimeStep:
        """Starts a new episode; seeds the gymnasium env on the first call only."""
        if self._seeded:
            observation, info = self._env.reset()
        else:
            observation, info = self._env.reset(seed=self._seed)
            self._seeded = True
        self._last_info = info
        self._needs_reset = False
        return dm_env.restart(self.convert_observation(observation))

    def step(self, action: Any) -> dm_env.TimeStep:
        """Steps the env; on a fresh env or after LAST, resets and ignores `action`."""
        if self._needs_reset:
            return self.reset()
        gym_action = self._fast_discrete_action(action) if self._discrete_action else None
        if gym_action is None:
            gym_action = self._convert_action(action)
        observation, reward, terminated, truncated, info = self._env.step(gym_action)
        self._last_info = info
        observation = self.convert_observation(observation)
        step_type, discount = lane_end(terminated, truncated)
        self._needs_reset = step_type == LAST
        return dm_env.TimeStep(dm_env.StepType(step_type), np.asarray(reward, dtype=REWARD_SPEC.dtype),
                               np.asarray(discount, dtype=DISCOUNT_SPEC.dtype), observation)

    def _fast_discrete_action(self, action: Any) -> int | None:
        """An in-range integer action as the Discrete space's int; None sends it to the checked path."""
        try:
            index = operator.index(action)
        except TypeError:
            return None
        start, n = self._discrete_action
        return index + start if 0 <= index < n else None

    def convert_observation(self, observation: Any) -> Any:
        """A gymnasium observation in this adapter's spec (dtypes, Discrete starts removed)."""
        if self._box_observation_dtype is not None:
            return np.asarray(observation, dtype=self._box_observation_dtype)
        return nests.map_structure(
            _from_gym_observation,
            self._observation_spaces,
            self._observation_spec,
            observation,
            check_types=False,
        )

    def _convert_action(self, action: Any) -> Any:
        try:
            if tree.is_nested(self._action_spec) or tree.is_nested(action):
                tree.assert_same_structure(self._action_spec, action, check_types=False)
        except (TypeError, ValueError) as error:
            raise ValueError(
                f"Invalid action {action!r}: structure does not match the "
                f"expected action spec {self._action_spec!r} ({error})."
            ) from None
        return nests.map_structure_with_path(
            _to_gym_action, self._action_spaces, self._action_spec, action, check_types=False
        )

    def observation_spec(self) -> SpecNest:
        return self._observation_spec

    def action_spec(self) -> SpecNest:
        return self._action_spec

    def reward_spec(self) -> specs.Array:
        return REWARD_SPEC

    def discount_spec(self) -> specs.BoundedArray:
        return DISCOUNT_SPEC

    def seed(self, seed: int | None) -> None:
        """Seeds the gymnasium env with `seed` at the next reset (as `reset(seed=...)` would)."""
        self._seed = seed
        self._seeded = False

    @property
    def render_mode(self) -> str | None:
        """The gymnasium env's render_mode ('rgb_array' when `render()` returns frames)."""
        return self._env.render_mode

    def render(self) -> Any:
        """Passes through to `gymnasium.Env.render` (uses the env's render_mode)."""
        return self._env.render()

    def close(self) -> None:
        self._env.close()

    @property
    def gym_env(self) -> gymnasium.Env:
        """The wrapped gymnasium environment."""
        return self._env

    @property
    def last_info(self) -> dict[str, Any]:
        """The `info` dict of the most recent reset or step (e.g. raw scores)."""
        return self._last_info


# ----------------------------------------------------------------------------
# dm_env.Environment -> gymnasium.Env.
# ----------------------------------------------------------------------------


def _gym_observation_leaf(spec: specs.Array, value: Any) -> Any:
    """A copy of one observation leaf as gymnasium gives it: np.int64 for Discrete, an array otherwise."""
    if isinstance(spec, specs.DiscreteArray):
        return np.int64(value)
    return np.array(value, dtype=spec.dtype, copy=True)


class DmEnvToGymnasium(gymnasium.Env):
    """A `dm_env.Environment` exposed through the gymnasium API.

    A LAST step with discount 0 is reported as `terminated`, one with a
    positive discount as `truncated`. The discount is assumed to be a scalar.
    Observations are copied so returned arrays never alias the dm_env's state;
    DiscreteArray leaves come out as `np.int64` scalars, as from gymnasium's
    Discrete spaces. `reset(seed=s)` calls the dm_env's `seed(s)` when it has
    one (GymnasiumEnvironment and GridWorld do), so seeded resets are
    reproducible and `gymnasium.utils.env_checker.check_env` passes. The
    dm_env renders for gymnasium when it has `render()` and, if it says, its
    `render_mode` is 'rgb_array'.
    """

    def __init__(self, environment: dm_env.Environment) -> None:
        self._environment = environment
        self._observation_spec = environment.observation_spec()
        self._action_spec = environment.action_spec()
        self.observation_space = spec_to_space(self._observation_spec)
        self.action_space = spec_to_space(self._action_spec)
        renderable = callable(getattr(environment, "render", None))
        if renderable:  # An adapted gymnasium env renders frames only in its 'rgb_array' mode.
            renderable = getattr(environment, "render_mode", "rgb_array") == "rgb_array"
        self.metadata = {"render_modes": ["rgb_array"] if renderable else []}
        self.render_mode = "rgb_array" if renderable else None
        self._closed = False

    def reset(
        self, *, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Any, dict[str, Any]]:
        """Resets; a given `seed` also goes to the dm_env's `seed()` if it has one."""
        super().reset(seed=seed)
        inner_seed = getattr(self._environment, "seed", None)
        if seed is not None and callable(inner_seed):
            inner_seed(seed)
        timestep = self._environment.reset()
        return self._copy_observation(timestep.observation), {}

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        dm_action = tree.map_structure(
            lambda spec, a: np.asarray(a, dtype=spec.dtype),
            self._action_spec,
            action,
            check_types=False,
        )
        timestep = self._environment.step(dm_action)
        reward = 0.0 if timestep.reward is None else float(timestep.reward)
        ended = timestep.last()
        discount = 1.0 if timestep.discount is None else float(timestep.discount)
        terminated = bool(ended and discount == 0.0)
        truncated = bool(ended and discount > 0.0)
        observation = self._copy_observation(timestep.observation)
        return observation, reward, terminated, truncated, {}

    def _copy_observation(self, observation: Any) -> Any:
        return tree.map_structure(
            _gym_observation_leaf,
            self._observation_spec,
            observation,
            check_types=False,
        )

    def render(self) -> Any:
        if self.render_mode is None:
            return None
        return self._environment.render()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._environment.close()

    @property
    def environment(self) -> dm_env.Environment:
        """The wrapped `dm_env.Environment`."""
        return self._environment
