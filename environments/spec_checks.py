"""What a dm_env environment promises, checked: well-formed specs, timesteps that fit them, actions inside them.

Pure functions over specs and values (no wrappers), shared by the start-up
check and per-step checking (`environments.validation`), the batch checks of
every backend, and the single-precision cast's error messages
(`environments.wrappers`). Every failure is an `EnvironmentSpecError` (a
`ValueError`) that names the environment, the field, what its spec expects and
what came.

Values are checked leniently on width (a float64 value for a float32 spec is
fine; it is cast downstream) and strictly on kind (a float for an integer spec
is not), shape, NaN and the bounds of bounded specs. Float bounds admit the
float32 rounding that agents see after narrowing, so an action clipped to the
narrowed bound is accepted.
"""

from __future__ import annotations

import operator
from collections.abc import Mapping
from typing import Any

import dm_env
import numpy as np
import tree
from dm_env import specs

_SPEC_METHODS = ("observation_spec", "action_spec", "reward_spec", "discount_spec")
STEP_TYPE_NAMES = {0: "FIRST", 1: "MID", 2: "LAST"}
# dtype kinds a value may have for a spec of each kind (values are cast to the spec's dtype downstream).
_COMPATIBLE_KINDS = {"b": "b", "i": "biu", "u": "biu", "f": "biuf", "c": "biufc"}
_KIND_NAMES = {"b": "bool", "i": "signed integer", "u": "unsigned integer", "f": "float", "c": "complex"}


class EnvironmentSpecError(ValueError):
    """An environment's specs or timesteps, or an action given to it, do not fit the dm_env contract."""



def environment_name(environment: Any) -> str:
    """The registry name of `environment` when it has one (see `SpecCheckingWrapper`), else its type."""
    try:
        name = getattr(environment, "environment_name", None)
    except Exception:  # noqa: BLE001 - a broken __getattr__ must not hide the real error.
        name = None
    return name if isinstance(name, str) else type(environment).__name__


# ----------------------------------------------------------------------------
# Descriptions for messages.
# ----------------------------------------------------------------------------


def _short(array: np.ndarray) -> str:
    text = np.array2string(np.asarray(array), threshold=8, edgeitems=2, precision=6, separator=", ")
    return " ".join(text.split())  # One line.


def compatible_kinds(dtype: Any) -> str:
    """The dtype kinds a value may have for a spec of `dtype` (values are cast to the spec's dtype downstream)."""
    kind = np.dtype(dtype).kind
    return _COMPATIBLE_KINDS.get(kind, kind)


def describe_spec(spec: Any) -> str:
    """A one-line description of a leaf spec: kind, shape, dtype, bounds and name."""
    if not isinstance(spec, specs.Array):
        return f"{type(spec).__name__} {spec!r}"
    name = f", name={spec.name!r}" if spec.name else ""
    if isinstance(spec, specs.DiscreteArray):
        return (f"DiscreteArray(num_values={spec.num_values}, dtype={spec.dtype}{name}: "
                f"an integer in [0, {spec.num_values - 1}])")
    if isinstance(spec, specs.BoundedArray):
        return (f"BoundedArray(shape={spec.shape}, dtype={spec.dtype}, minimum={_short(spec.minimum)}, "
                f"maximum={_short(spec.maximum)}{name})")
    return f"{type(spec).__name__}(shape={spec.shape}, dtype={spec.dtype}{name})"


def describe_value(value: Any) -> str:
    """A one-line description of a value: type, shape, dtype and (a summary of) its contents."""
    if value is None:
        return "None"
    try:
        array = np.asarray(value)
    except Exception:  # noqa: BLE001 - ragged sequences and the like.
        return f"{type(value).__name__} {value!r:.200}"
    if array.dtype == object:
        return f"{type(value).__name__} {value!r:.200}"
    return f"{type(value).__name__} of shape {array.shape}, dtype {array.dtype}: {_short(array)}"


def _path_text(field: str, path: tuple[Any, ...]) -> str:
    return field + "".join(f"[{key!r}]" for key in path)


def _error(name: str, where: str, field: str, problem: str, spec: Any, value: Any) -> EnvironmentSpecError:
    expected = describe_spec(spec) if spec is not None else "see above"
    return EnvironmentSpecError(
        f"Environment {name!r}: {field} {where} is invalid: {problem}. "
        f"Expected {expected}; got {describe_value(value)}."
    )


# ----------------------------------------------------------------------------
# Specs.
# ----------------------------------------------------------------------------


def _leaf_spec_problem(spec: Any) -> str | None:
    """Why a leaf spec is malformed, or None."""
    if not isinstance(spec, specs.Array):
        hint = ""
        if type(spec).__module__.startswith("gymnasium"):
            hint = " (a gymnasium space: wrap the env with environments.gym_adapter.GymnasiumEnvironment)"
        return f"{type(spec).__name__} {spec!r:.200} is not a dm_env.specs.Array{hint}"
    if isinstance(spec, specs.StringArray) or not (np.issubdtype(spec.dtype, np.number) or spec.dtype == np.bool_):
        return f"dtype {spec.dtype} is not numeric or bool (agents and shared-memory lanes need numbers)"
    if any(dim < 0 for dim in spec.shape):
        return f"shape {spec.shape} has a negative dimension"
    if isinstance(spec, specs.DiscreteArray):
        if not spec.num_values >= 1:
            return f"num_values={spec.num_values} must be >= 1"
        if not np.issubdtype(spec.dtype, np.integer):
            return f"a DiscreteArray needs an integer dtype, not {spec.dtype}"
    if isinstance(spec, specs.BoundedArray):
        minimum, maximum = np.asarray(spec.minimum), np.asarray(spec.maximum)
        if any(bound.dtype.kind == "f" and np.isnan(bound).any() for bound in (minimum, maximum)):
            return f"its bounds contain NaN (minimum {_short(minimum)}, maximum {_short(maximum)})"
        if not np.all(minimum <= maximum):
            return f"minimum {_short(minimum)} is not <= maximum {_short(maximum)}"
    return None


def check_specs(environment: dm_env.Environment, name: str | None = None,
                scalar_reward: bool = True) -> tuple[Any, Any, Any, Any]:
    """The environment's (observation, action, reward, discount) specs, after checking they are well-formed.

    Each must be a dm_env spec or a (non-empty) nest of them with numeric or bool
    dtypes, bounded specs with minimum <= maximum, DiscreteArrays with
    num_values >= 1. With `scalar_reward`, reward and discount specs must be
    single arrays of shape ().

    Raises:
      EnvironmentSpecError: naming the environment, the spec and what is wrong.
    """
    name = name or environment_name(environment)
    result = []
    for method in _SPEC_METHODS:
        try:
            spec = getattr(environment, method)()
        except Exception as error:  # noqa: BLE001
            raise EnvironmentSpecError(
                f"Environment {name!r}: {method}() raised {type(error).__name__}: {error}") from error
        try:
            leaves = tree.flatten_with_path(spec)
        except Exception as error:  # noqa: BLE001 - e.g. a dict with unsortable keys.
            raise EnvironmentSpecError(f"Environment {name!r}: {method}() returned {spec!r:.200}, which is not a "
                                       f"nest of dm_env specs ({error}).") from error
        if spec is None or not leaves:
            raise EnvironmentSpecError(
                f"Environment {name!r}: {method}() returned {spec!r:.200}; expected a dm_env.specs.Array "
                "(Array, BoundedArray, DiscreteArray) or a non-empty dict/list/tuple of them.")
        for path, leaf in leaves:
            problem = _leaf_spec_problem(leaf)
            if problem:
                raise EnvironmentSpecError(
                    f"Environment {name!r}: {_path_text(method + '()', path)} is malformed: {problem}.")
        if scalar_reward and method in ("reward_spec", "discount_spec"):
            if tree.is_nested(spec) or spec.shape != ():
                raise EnvironmentSpecError(
                    f"Environment {name!r}: {method}() must be a single spec of shape () (agentpipe's lanes and "
                    f"agents use scalar rewards and discounts), got {spec!r:.300}.")
        result.append(spec)
    return tuple(result)


# ----------------------------------------------------------------------------
# Values.
# ----------------------------------------------------------------------------


def loosened_bounds(spec: specs.BoundedArray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds that also admit the float32 rounding of float64 bounds (what agents see after narrowing)."""
    minimum = np.broadcast_to(spec.minimum, spec.shape)
    maximum = np.broadcast_to(spec.maximum, spec.shape)
    if spec.dtype == np.float64:
        with np.errstate(over="ignore"):
            minimum = np.minimum(minimum, minimum.astype(np.float32).astype(np.float64))
            maximum = np.maximum(maximum, maximum.astype(np.float32).astype(np.float64))
    return minimum, maximum


def leaf_problem(value: Any, spec: specs.Array, nan_ok: bool = False) -> str | None:
    """Why `value` does not fit the leaf `spec`, or None.

    Lenient on dtype width (a float64 value for a float32 spec is fine; the
    value is cast downstream), strict on kind (a float for an integer spec is
    not), on shape, on NaN (unless `nan_ok`) and on the bounds of bounded specs.
    """
    try:
        array = np.asarray(value)
    except Exception as error:  # noqa: BLE001
        return f"it is not an array ({type(error).__name__}: {error})"
    if array.dtype == object:
        if isinstance(value, Mapping):
            return f"it is a {type(value).__name__} (a nest), where the spec is a single array"
        return "it is not a numeric array"
    if array.shape != spec.shape:
        return f"shape {array.shape} is not the spec's {spec.shape}"
    dtype = np.dtype(spec.dtype)
    if array.dtype != dtype:
        if array.dtype.kind not in _COMPATIBLE_KINDS.get(dtype.kind, dtype.kind):
            return f"dtype {array.dtype} ({_KIND_NAMES.get(array.dtype.kind, array.dtype.kind)}) is not of the " \
                   f"spec's kind ({dtype}, {_KIND_NAMES.get(dtype.kind, dtype.kind)}); a cast would change values"
        if dtype.kind in "iu" and array.dtype.kind in "iu" and array.size and not np.can_cast(array.dtype, dtype):
            info = np.iinfo(dtype)
            low, high = array.min(), array.max()
            if low < info.min or high > info.max:
                return f"values in [{low}, {high}] do not fit the spec's dtype {dtype}"
    if array.dtype.kind in "fc" and not nan_ok and np.isnan(array).any():
        return f"it contains NaN at index {_first_index(np.isnan(array))}"
    if isinstance(spec, specs.BoundedArray):
        minimum, maximum = loosened_bounds(spec)
        inside = (array >= minimum) & (array <= maximum)
        if not inside.all():
            index = _first_index(~inside)
            at = f" at index {index}" if array.shape else ""
            low = np.broadcast_to(spec.minimum, spec.shape)[index]
            high = np.broadcast_to(spec.maximum, spec.shape)[index]
            return f"value {array[index]}{at} is outside the spec's bounds [{low}, {high}]"
    return None


def _first_index(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0]) if mask.ndim else ()


def _nest_problem(value: Any, spec: Any, nan_ok: bool = False) -> tuple[tuple[Any, ...], str, Any, Any] | None:
    """(path, problem, leaf spec, leaf value) for the first leaf of `value` that does not fit `spec`, or None."""
    if tree.is_nested(spec):
        try:
            tree.assert_same_structure(spec, value, check_types=False)
        except (TypeError, ValueError) as error:
            return (), f"its structure does not match the spec's ({str(error).splitlines()[0]})", None, value
        for (path, leaf_spec), leaf in zip(tree.flatten_with_path(spec), tree.flatten(value)):
            problem = leaf_problem(leaf, leaf_spec, nan_ok)
            if problem:
                return path, problem, leaf_spec, leaf
        return None
    problem = leaf_problem(value, spec, nan_ok)
    return None if problem is None else ((), problem, spec, value)


def check_action(action: Any, spec: Any, name: str = "environment", where: str = "") -> None:
    """Raises `EnvironmentSpecError` unless `action` fits the action `spec` (structure, shape, kind, range, bounds)."""
    found = _nest_problem(action, spec)
    if found:
        path, problem, leaf_spec, leaf = found
        raise _error(name, where or "given to step()", _path_text("action", path), problem,
                     leaf_spec if leaf_spec is not None else spec, leaf)


def check_timestep(timestep: Any, observation_spec: Any, reward_spec: Any, discount_spec: Any,
                   name: str = "environment", where: str = "") -> None:
    """Raises `EnvironmentSpecError` unless `timestep` is a dm_env.TimeStep whose fields fit the specs.

    FIRST steps must have reward and discount None; other steps a finite reward
    and a discount in [0, 1] shaped like their specs. Observations are checked
    leaf by leaf with `leaf_problem`.
    """
    if not isinstance(timestep, dm_env.TimeStep):
        raise EnvironmentSpecError(
            f"Environment {name!r}: the value {where} is {describe_value(timestep)}; expected a dm_env.TimeStep "
            "(step_type, reward, discount, observation), e.g. from dm_env.restart/transition/termination.")
    step_type = timestep.step_type
    try:
        step_value = operator.index(step_type)
    except TypeError:
        step_value = None
    if step_value not in STEP_TYPE_NAMES:
        raise EnvironmentSpecError(
            f"Environment {name!r}: step_type {where} is invalid. Expected a dm_env.StepType "
            f"(FIRST=0, MID=1, LAST=2); got {describe_value(step_type)}.")
    if step_value == dm_env.StepType.FIRST:
        for field, value in (("reward", timestep.reward), ("discount", timestep.discount)):
            if value is not None:
                raise EnvironmentSpecError(
                    f"Environment {name!r}: {field} {where} is invalid: a FIRST step must have {field} None "
                    f"(dm_env.restart). Got {describe_value(value)}.")
    else:
        kind = STEP_TYPE_NAMES[step_value]
        for field, value, spec in (("reward", timestep.reward, reward_spec),
                                   ("discount", timestep.discount, discount_spec)):
            if value is None:
                raise EnvironmentSpecError(
                    f"Environment {name!r}: {field} {where} is None on a {kind} step. Expected "
                    f"{describe_spec(spec) if not tree.is_nested(spec) else spec}; only FIRST steps have no {field}.")
            found = _nest_problem(value, spec, nan_ok=True)
            if found is None:
                leaves = [np.asarray(leaf) for leaf in tree.flatten(value)]
                if field == "reward" and not all(np.isfinite(leaf).all() for leaf in leaves):
                    found = (), "it is not finite (NaN or inf)", spec, value
                if field == "discount" and not all(((leaf >= 0) & (leaf <= 1)).all() for leaf in leaves):
                    found = (), "a discount must be in [0, 1]", spec, value
            if found:
                path, problem, leaf_spec, leaf = found
                raise _error(name, where, _path_text(field, path), problem,
                             leaf_spec if leaf_spec is not None else spec, leaf)
    found = _nest_problem(timestep.observation, observation_spec)
    if found:
        path, problem, leaf_spec, leaf = found
        raise _error(name, where, _path_text("observation", path), problem,
                     leaf_spec if leaf_spec is not None else observation_spec, leaf)
    if step_value != dm_env.StepType.LAST:
        check_some_action_allowed(timestep.observation, observation_spec, name, where)


MASK_KEY = "action_mask"  # A dict observation's 0/1 mask over the discrete actions allowed now.
# The spec name of an observation (or dict entry) that is a stack of frames (stack * channels, H, W), each
# observation the previous one shifted by one frame: what frame replay stores once per frame (Atari's).
FRAME_STACK = "frame_stack"


def check_some_action_allowed(observation: Any, observation_spec: Any, name: str, where: str,
                              acting: np.ndarray | None = None) -> None:
    """Raises unless the observation's `action_mask` (if any) allows at least one action. For a batch, `acting`
    marks the lanes that must (those not on a LAST step: a LAST observation is not acted on)."""
    if not isinstance(observation, Mapping) or MASK_KEY not in observation:
        return
    mask = np.asarray(observation[MASK_KEY])
    if acting is None:
        allowed = np.array([mask.any()])
    else:
        allowed = mask.reshape(mask.shape[0], -1).any(axis=1) | ~acting
    if not allowed.all():
        lane = f" of lane {int(np.flatnonzero(~allowed)[0])}" if acting is not None else ""
        raise EnvironmentSpecError(
            f"Environment {name!r}: observation[{MASK_KEY!r}] {where}{lane} allows no action: expected at least one "
            f"1 in {describe_spec(observation_spec[MASK_KEY])} on a FIRST or MID step.")


# ----------------------------------------------------------------------------
# Actions to check with.
# ----------------------------------------------------------------------------


def random_action(spec: Any, rng: np.random.Generator, observation: Any = None) -> Any:
    """A random spec-valid action: uniform over a DiscreteArray's values (those the `observation`'s
    `action_mask` allows, when it has one) and inside finite bounds; elsewhere standard normal (clipped
    into one-sided bounds), for stepping an environment through varied states."""
    mask = observation.get(MASK_KEY) if isinstance(observation, Mapping) else None

    def leaf(leaf_spec: specs.Array) -> np.ndarray:
        dtype = np.dtype(leaf_spec.dtype)
        if isinstance(leaf_spec, specs.DiscreteArray):
            allowed = np.flatnonzero(np.asarray(mask)) if mask is not None else ()
            if len(allowed):
                return np.asarray(rng.choice(allowed), dtype)
            return np.asarray(rng.integers(leaf_spec.num_values), dtype)
        if dtype.kind == "b":
            return rng.integers(2, size=leaf_spec.shape).astype(dtype)
        value = rng.standard_normal(leaf_spec.shape)
        if isinstance(leaf_spec, specs.BoundedArray):
            minimum = np.broadcast_to(leaf_spec.minimum, leaf_spec.shape).astype(np.float64)
            maximum = np.broadcast_to(leaf_spec.maximum, leaf_spec.shape).astype(np.float64)
            finite = np.isfinite(minimum) & np.isfinite(maximum)
            with np.errstate(invalid="ignore", over="ignore"):
                uniform = minimum + rng.random(leaf_spec.shape) * (maximum - minimum)
                value = np.clip(np.where(finite, uniform, value), minimum, maximum)
            if dtype.kind in "iu":
                value = np.clip(np.round(value), minimum, maximum)
        elif dtype.kind in "iu":
            value = np.round(value)
        return value.astype(dtype)

    return tree.map_structure(leaf, spec)
