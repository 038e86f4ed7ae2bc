"""`dm_env.Environment` wrappers: a passthrough base, failures named, dtype narrowing.

Each wrapper exposes the wrapped env as `.environment` and delegates unknown
attributes (e.g. `render`, `gym_env`, `last_info`) to it.
"""

from __future__ import annotations

from typing import Any, Callable

import dm_env
import numpy as np
import tree
from dm_env import specs

from environments import nests, spec_checks
from environments.errors import EnvironmentCallError, qualified_name


class EnvironmentWrapper(dm_env.Environment):
    """Passthrough base class: forwards every call to the wrapped environment."""

    def __init__(self, environment: dm_env.Environment) -> None:
        self._environment = environment

    def __getattr__(self, name: str) -> Any:
        # Only reached for attributes not found on the wrapper itself. Dunder and
        # `_environment` lookups must not recurse (e.g. while unpickling/copying).
        if name.startswith("__") or name == "_environment":
            raise AttributeError(name)
        return getattr(self._environment, name)

    @property
    def environment(self) -> dm_env.Environment:
        """The wrapped environment."""
        return self._environment

    def reset(self) -> dm_env.TimeStep:
        return self._environment.reset()

    def step(self, action: Any) -> dm_env.TimeStep:
        return self._environment.step(action)

    def observation_spec(self) -> Any:
        return self._environment.observation_spec()

    def action_spec(self) -> Any:
        return self._environment.action_spec()

    def reward_spec(self) -> Any:
        return self._environment.reward_spec()

    def discount_spec(self) -> Any:
        return self._environment.discount_spec()

    def close(self) -> None:
        self._environment.close()


class NamedEnvironment(EnvironmentWrapper):
    """An environment under its registry name, whose own reset(), step() and render() failures are re-raised
    as `EnvironmentCallError` naming its class and the call (its error as the cause). Costs a try per call."""

    def __init__(self, environment: dm_env.Environment, name: str | None = None) -> None:
        super().__init__(environment)
        self._name = name or spec_checks.environment_name(environment)
        self._step_calls = 0

    @property
    def environment_name(self) -> str:
        """The name messages use for this environment."""
        return self._name

    def _call_failed(self, call: str, error: Exception) -> EnvironmentCallError:
        return EnvironmentCallError(f"Environment {self._name!r}: {qualified_name(self._environment)}.{call} raised "
                                    f"{type(error).__name__}: {error}")

    def reset(self) -> dm_env.TimeStep:
        try:
            return self._environment.reset()
        except Exception as error:  # noqa: BLE001 - the user's code: say whose call failed.
            raise self._call_failed(f"reset() (after {self._step_calls} step() calls)", error) from error

    def step(self, action: Any) -> dm_env.TimeStep:
        self._step_calls += 1
        try:
            return self._environment.step(action)
        except Exception as error:  # noqa: BLE001 - the user's code: say whose call failed.
            raise self._call_failed(f"step() call {self._step_calls} (action {spec_checks.describe_value(action)})",
                                    error) from error

    def render(self, *args: Any, **kwargs: Any) -> Any:
        """The environment's own render(), with a message naming its class when it has none or it raises."""
        render = getattr(self._environment, "render", None)
        if not callable(render):
            raise EnvironmentCallError(f"Environment {self._name!r}: {qualified_name(self._environment)} has no "
                                       "render() method to take frames from.")
        try:
            return render(*args, **kwargs)
        except Exception as error:  # noqa: BLE001 - the user's code: say whose call failed.
            raise self._call_failed("render()", error) from error


# ----------------------------------------------------------------------------
# Single precision.
# ----------------------------------------------------------------------------

_NARROWER = {
    np.dtype(np.float64): np.dtype(np.float32),
    np.dtype(np.int64): np.dtype(np.int32),
}


def _narrow_dtype(dtype: Any) -> np.dtype:
    dtype = np.dtype(dtype)
    return _NARROWER.get(dtype, dtype)


def _narrow_bound(bound: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """Casts a spec bound to `dtype` without integer wrap-around.

    Integer bounds are clipped to the narrower range; float64 bounds beyond the
    float32 range become +-inf, which still admits every float32 value.
    """
    if np.issubdtype(dtype, np.integer):
        info = np.iinfo(dtype)
        return np.clip(bound, info.min, info.max).astype(dtype)
    with np.errstate(over="ignore"):
        return bound.astype(dtype)


def narrow_spec(spec: specs.Array) -> specs.Array:
    """Returns `spec` with float64 -> float32 and int64 -> int32 (kinds kept)."""
    dtype = _narrow_dtype(spec.dtype)
    if dtype == spec.dtype:
        return spec
    if isinstance(spec, specs.DiscreteArray):
        if spec.num_values - 1 > np.iinfo(dtype).max:
            return spec  # Would overflow int32: keep the wide dtype.
        return specs.DiscreteArray(spec.num_values, dtype=dtype, name=spec.name)
    if isinstance(spec, specs.BoundedArray):
        return specs.BoundedArray(
            spec.shape,
            dtype,
            _narrow_bound(spec.minimum, dtype),
            _narrow_bound(spec.maximum, dtype),
            spec.name,
        )
    return specs.Array(spec.shape, dtype, spec.name)


def _cast_to_specs(values: Any, spec_nest: Any) -> Any:
    """Casts each leaf of `values` to the dtype of the matching spec."""
    if values is None:  # Reward and discount of a FIRST step.
        return None
    return nests.map_structure(
        lambda spec, value: np.asarray(value, dtype=spec.dtype),
        spec_nest,
        values,
        check_types=False,
    )


def _caster(spec_nest: Any) -> Callable[[Any], Any]:
    """`_cast_to_specs` for one spec nest, with the lookups done once (this runs on every step)."""
    if tree.is_nested(spec_nest):
        return lambda values: _cast_to_specs(values, spec_nest)
    dtype = np.dtype(spec_nest.dtype)
    return lambda value: None if value is None else np.asarray(value, dtype=dtype)


_INTEGER_TYPES = (int, np.integer, np.bool_)


def _cast_integer_action(value: Any, dtype: np.dtype) -> np.ndarray:
    """`value` as `dtype`, refusing values whose kind the cast would change (a float for an integer spec)."""
    array = np.asarray(value)
    if array.dtype.kind not in "biu":
        raise ValueError(f"dtype {array.dtype} is not an integer kind")
    return array.astype(dtype, copy=False)


def _action_caster(spec_nest: Any) -> Callable[[Any], Any]:
    """Like `_caster`, but integer and bool leaves only take integer or bool values (no silent truncation)."""
    if tree.is_nested(spec_nest):
        def cast_leaf(spec: specs.Array, value: Any) -> np.ndarray:
            if np.dtype(spec.dtype).kind in "biu":
                return _cast_integer_action(value, np.dtype(spec.dtype))
            return np.asarray(value, dtype=spec.dtype)

        return lambda values: nests.map_structure(cast_leaf, spec_nest, values, check_types=False)
    dtype = np.dtype(spec_nest.dtype)
    if dtype.kind in "biu":
        def cast_integer(value: Any) -> np.ndarray:
            # Integer scalars and arrays (what agents send) go straight to the cast, as fast as before.
            if isinstance(value, _INTEGER_TYPES) or (type(value) is np.ndarray and value.dtype.kind in "biu"):
                return np.asarray(value, dtype=dtype)
            return _cast_integer_action(value, dtype)

        return cast_integer
    return lambda value: np.asarray(value, dtype=dtype)


class FixedSpecsWrapper(EnvironmentWrapper):
    """A wrapper whose specs are read (or derived) once in its constructor, into `_observation_spec`,
    `_action_spec`, `_reward_spec` and `_discount_spec`."""

    def observation_spec(self) -> Any:
        return self._observation_spec

    def action_spec(self) -> Any:
        return self._action_spec

    def reward_spec(self) -> Any:
        return self._reward_spec

    def discount_spec(self) -> Any:
        return self._discount_spec


class SinglePrecisionWrapper(FixedSpecsWrapper):
    """Narrows float64 -> float32 and int64 -> int32 in specs and values.

    Applies to observations, rewards, discounts and their specs, and to the
    action spec; actions are cast back to the inner env's dtypes before they
    are passed in. BoundedArray bounds and DiscreteArray kinds are preserved.
    Torch agents then see float32/int32 tensors without per-call conversion.

    An action the cast would change in kind (a float for an integer spec) or
    cannot cast (wrong structure, a string) raises
    `environments.spec_checks.EnvironmentSpecError` naming the action spec.
    """

    def __init__(self, environment: dm_env.Environment, name: str | None = None) -> None:
        super().__init__(environment)
        self._name = name or spec_checks.environment_name(environment)
        self._inner_action_spec = environment.action_spec()
        self._observation_spec = tree.map_structure(narrow_spec, environment.observation_spec())
        self._action_spec = tree.map_structure(narrow_spec, self._inner_action_spec)
        self._reward_spec = tree.map_structure(narrow_spec, environment.reward_spec())
        self._discount_spec = tree.map_structure(narrow_spec, environment.discount_spec())
        self._cast_action = _action_caster(self._inner_action_spec)
        self._cast_observation = _caster(self._observation_spec)
        self._cast_reward = _caster(self._reward_spec)
        self._cast_discount = _caster(self._discount_spec)

    @property
    def environment_name(self) -> str:
        """The name messages use for this environment (its registry name, when it has one)."""
        return self._name

    def reset(self) -> dm_env.TimeStep:
        return self._convert_timestep(self._environment.reset())

    def step(self, action: Any) -> dm_env.TimeStep:
        try:
            inner_action = self._cast_action(action)
        except (TypeError, ValueError, OverflowError) as error:
            raise self._action_error(action, error) from None
        return self._convert_timestep(self._environment.step(inner_action))

    def _action_error(self, action: Any, error: Exception) -> Exception:
        """The error for an action that cannot be cast to the inner env's action spec."""
        name = self._name
        try:
            spec_checks.check_action(action, self._action_spec, name)
        except spec_checks.EnvironmentSpecError as explained:
            return explained
        return spec_checks.EnvironmentSpecError(
            f"Environment {name!r}: action given to step() cannot be cast to the action spec "
            f"{self._inner_action_spec!r} ({type(error).__name__}: {error}); got {spec_checks.describe_value(action)}.")

    def _convert_timestep(self, timestep: dm_env.TimeStep) -> dm_env.TimeStep:
        return dm_env.TimeStep(timestep.step_type, self._cast_reward(timestep.reward),
                               self._cast_discount(timestep.discount), self._cast_observation(timestep.observation))
