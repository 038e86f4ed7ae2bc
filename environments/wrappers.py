"""`dm_env.Environment` wrappers: a passthrough base, dtype narrowing, step limits.

Wrappers compose: `StepLimitWrapper(SinglePrecisionWrapper(env), 500)`. Each one
exposes the wrapped env as `.environment` and delegates unknown attributes
(e.g. `render`, `gym_env`, `last_info`) to it.
"""

from __future__ import annotations

from typing import Any, Callable

import dm_env
import numpy as np
import tree
from dm_env import specs

from environments import nests


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
    `environments.validation.EnvironmentSpecError` naming the action spec.
    """

    def __init__(self, environment: dm_env.Environment) -> None:
        super().__init__(environment)
        self._inner_action_spec = environment.action_spec()
        self._observation_spec = tree.map_structure(narrow_spec, environment.observation_spec())
        self._action_spec = tree.map_structure(narrow_spec, self._inner_action_spec)
        self._reward_spec = tree.map_structure(narrow_spec, environment.reward_spec())
        self._discount_spec = tree.map_structure(narrow_spec, environment.discount_spec())
        self._cast_action = _action_caster(self._inner_action_spec)
        self._cast_observation = _caster(self._observation_spec)
        self._cast_reward = _caster(self._reward_spec)
        self._cast_discount = _caster(self._discount_spec)

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
        from environments import validation  # Imported here: validation imports this module.

        name = validation.environment_name(self._environment)
        calls = getattr(self._environment, "step_calls", None)  # Kept by SpecCheckingWrapper.
        where = f"given to step() call {calls + 1}" if isinstance(calls, int) else ""
        try:
            validation.check_action(action, self._action_spec, name, where)
        except validation.EnvironmentSpecError as explained:
            return explained
        return validation.EnvironmentSpecError(
            f"Environment {name!r}: action given to step() cannot be cast to the action spec "
            f"{self._inner_action_spec!r} ({type(error).__name__}: {error}); got {validation.describe_value(action)}.")

    def _convert_timestep(self, timestep: dm_env.TimeStep) -> dm_env.TimeStep:
        return dm_env.TimeStep(timestep.step_type, self._cast_reward(timestep.reward),
                               self._cast_discount(timestep.discount), self._cast_observation(timestep.observation))


# ----------------------------------------------------------------------------
# Step limit.
# ----------------------------------------------------------------------------


class StepLimitWrapper(EnvironmentWrapper):
    """Ends every episode after at most `step_limit` steps (a truncation).

    The LAST step produced at the limit carries the discount the inner env
    gave for that step, so it is 0 only if the inner env also terminated
    there. The following `step()` starts a new episode (resetting the inner
    env), as dm_env requires.
    """

    def __init__(self, environment: dm_env.Environment, step_limit: int) -> None:
        if step_limit <= 0:
            raise ValueError(f"step_limit must be a positive integer, got {step_limit!r}.")
        super().__init__(environment)
        self._step_limit = int(step_limit)
        self._elapsed_steps = 0
        self._needs_reset = True

    @property
    def step_limit(self) -> int:
        return self._step_limit

    def reset(self) -> dm_env.TimeStep:
        self._elapsed_steps = 0
        self._needs_reset = False
        return self._environment.reset()

    def step(self, action: Any) -> dm_env.TimeStep:
        if self._needs_reset:
            return self.reset()
        timestep = self._environment.step(action)
        if timestep.first():  # The inner env restarted on its own.
            self._elapsed_steps = 0
            return timestep
        self._elapsed_steps += 1
        if self._elapsed_steps >= self._step_limit and not timestep.last():
            timestep = timestep._replace(step_type=dm_env.StepType.LAST)
        if timestep.last():
            self._needs_reset = True
        return timestep
