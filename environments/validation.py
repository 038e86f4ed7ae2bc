"""Boundary checks for environments: well-formed specs, timesteps that match them, actions inside them.

A bad environment (or a bad action) should fail with a message that names the
environment, the field, what its spec expects and what came, not with a
traceback from deep inside numpy or torch half-way through training. The
registry therefore builds every environment as

    SinglePrecisionWrapper(SpecCheckingWrapper(env, name))

so the checks see the environment's own values against its own specs, before
any cast could hide a wrong dtype (a float64 image in [0, 1] under a uint8 spec
would otherwise become zeros).

What `SpecCheckingWrapper` checks, and when:

* On construction: the four specs are dm_env specs or nests of them, with
  numeric or bool dtypes, `minimum <= maximum` (no NaN bounds) and
  `num_values >= 1`; the reward and discount specs are single arrays of shape
  () (agentpipe's lanes and agents need scalar rewards and discounts).
* The timesteps of `reset()` and of the first `check_steps` (default 100)
  `step()` calls: a `dm_env.TimeStep` whose `step_type` is 0, 1 or 2 and
  follows the dm_env order (reset gives FIRST; FIRST only on a fresh
  environment or after LAST); a FIRST step has reward and discount None;
  otherwise a finite reward and a discount in [0, 1], shaped like their specs;
  the observation has the spec's structure and, per leaf, its shape, a dtype of
  a compatible kind (float64 for a float32 spec is fine, float for an int spec
  is not), no NaN, and values inside the bounds of bounded specs. After that the
  wrapper stops checking timesteps, so it costs nothing in steady state.
* Every `step()`, at any time: the reward is finite (one `math.isfinite` on a
  scalar), so a NaN or inf reward is reported with the step it came at; and the
  action is inside the action spec (shape, integer kind and range for
  DiscreteArray, bounds for BoundedArray, no NaN): one small array. Actions are
  checked even on the steps where dm_env ignores them (after a LAST).

The wrapper sits inside `SinglePrecisionWrapper`, so it sees actions after that
wrapper's cast to the environment's dtypes; `SinglePrecisionWrapper` itself
refuses an action whose kind the cast would change (a float for an integer
spec), with the same kind of message. Float bounds are compared with the
float32 rounding that `SinglePrecisionWrapper` gives agents, so an action
clipped to the narrowed bound is not rejected.

`probe_environment(env)` resets an environment and takes one spec-valid step
under the same checks: call it where a run is declared so a broken environment
fails before training starts.

Every failure raises `EnvironmentSpecError` (a `ValueError`).
"""

from __future__ import annotations

import math
import operator
from collections.abc import Mapping
from typing import Any

import dm_env
import numpy as np
import tree
from dm_env import specs

from environments.errors import EnvironmentCallError, qualified_name
from environments.wrappers import FixedSpecsWrapper

CHECKED_STEPS = 100
_SPEC_METHODS = ("observation_spec", "action_spec", "reward_spec", "discount_spec")
_STEP_TYPE_NAMES = {0: "FIRST", 1: "MID", 2: "LAST"}
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


def _loosened_bounds(spec: specs.BoundedArray) -> tuple[np.ndarray, np.ndarray]:
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
        minimum, maximum = _loosened_bounds(spec)
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


def _where(kind: str, step_calls: int, episode_step: int | None) -> str:
    if kind == "reset":
        return "returned by reset()"
    episode = f", step {episode_step} of its episode" if episode_step is not None else ""
    return f"at step() call {step_calls}{episode}"


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
    if step_value not in _STEP_TYPE_NAMES:
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
        kind = _STEP_TYPE_NAMES[step_value]
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


# ----------------------------------------------------------------------------
# The wrapper.
# ----------------------------------------------------------------------------

_DISCRETE, _BOUNDED, _ARRAY, _GENERAL = range(4)
_SMALL = 32  # Bounded actions up to this size are checked in Python.


class SpecCheckingWrapper(FixedSpecsWrapper):
    """Checks an environment against its own specs at the boundary (see the module docstring).

    Args:
      environment: The environment to check.
      name: How messages name it (the registry passes e.g. 'gym:CartPole-v1').
      check_steps: How many `step()` calls have their timesteps checked in full
        (every `reset()` among them too); later steps only get the action and
        finite-reward checks.
      scalar_reward: Require reward and discount specs of shape ().

    Raises:
      EnvironmentSpecError: from the constructor for malformed specs; from
        `reset`/`step` for timesteps that do not fit them, a reward that is not
        finite, or an action outside the action spec.
    """

    def __init__(self, environment: dm_env.Environment, name: str | None = None,
                 check_steps: int = CHECKED_STEPS, scalar_reward: bool = True) -> None:
        super().__init__(environment)
        if check_steps < 0:
            raise ValueError(f"check_steps must be >= 0, got {check_steps}.")
        self._name = name or type(environment).__name__
        (self._observation_spec, self._action_spec, self._reward_spec,
         self._discount_spec) = check_specs(environment, self._name, scalar_reward)
        self._check_steps = int(check_steps)
        self._step_calls = 0
        self._episode_step: int | None = None  # Steps since the episode's FIRST; None: fresh or after LAST.
        spec = self._action_spec
        self._action_mode = _GENERAL
        if isinstance(spec, specs.DiscreteArray):
            self._action_mode, self._num_values = _DISCRETE, spec.num_values
        elif isinstance(spec, specs.BoundedArray):
            self._action_mode = _BOUNDED
            self._action_low, self._action_high = _loosened_bounds(spec)
            # Small actions (the usual case) are compared in Python: cheaper than numpy's ufuncs on this scale.
            self._action_size = self._action_low.size
            self._action_lows = self._action_low.ravel().tolist()
            self._action_highs = self._action_high.ravel().tolist()
        elif isinstance(spec, specs.Array):
            self._action_mode = _ARRAY
        if not tree.is_nested(spec):
            self._action_shape = spec.shape
            self._action_kinds = _COMPATIBLE_KINDS.get(np.dtype(spec.dtype).kind, "")

    @property
    def environment_name(self) -> str:
        """The name messages use for this environment."""
        return self._name

    @property
    def step_calls(self) -> int:
        """How many times `step()` has been called."""
        return self._step_calls

    def _call_failed(self, call: str, error: Exception) -> EnvironmentCallError:
        return EnvironmentCallError(f"Environment {self._name!r}: {qualified_name(self._environment)}.{call} raised "
                                    f"{type(error).__name__}: {error}")

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

    def reset(self) -> dm_env.TimeStep:
        try:
            timestep = self._environment.reset()
        except Exception as error:  # noqa: BLE001 - the user's code: say whose call failed.
            raise self._call_failed(f"reset() (after {self._step_calls} step() calls)", error) from error
        if self._step_calls < self._check_steps:
            self._check(timestep, "reset")
        return timestep

    def step(self, action: Any) -> dm_env.TimeStep:
        if self._action_mode == _DISCRETE:  # The common case, inline.
            try:
                valid = 0 <= operator.index(action) < self._num_values
            except TypeError:  # Not an integer scalar: the full check says what it is.
                valid = False
            if not valid:
                check_action(action, self._action_spec, self._name, f"given to step() call {self._step_calls + 1}")
        else:
            self._check_action(action)
        try:
            timestep = self._environment.step(action)
        except Exception as error:  # noqa: BLE001 - the user's code: say whose call failed.
            raise self._call_failed(f"step() call {self._step_calls + 1} (action {describe_value(action)})",
                                    error) from error
        self._step_calls += 1
        if self._step_calls <= self._check_steps:
            self._check(timestep, "step")
            return timestep
        reward = timestep.reward
        if reward is not None:
            try:
                finite = math.isfinite(reward)
            except (TypeError, ValueError):  # Not a scalar: the full check says what it is.
                finite = False
            if not finite:
                self._check(timestep, "step", sequence=False)
        return timestep

    def _check_action(self, action: Any) -> None:
        mode = self._action_mode
        if mode == _BOUNDED:
            array = np.asarray(action)
            if array.shape == self._action_shape and array.dtype.kind in self._action_kinds:
                # Every comparison below is False for NaN, which then goes to the full check.
                size = self._action_size
                if size == 1:
                    if self._action_lows[0] <= array.item() <= self._action_highs[0]:
                        return
                elif size <= _SMALL:
                    values = array.ravel().tolist()
                    if all(map(operator.le, self._action_lows, values)) and all(
                            map(operator.le, values, self._action_highs)):
                        return
                elif (array >= self._action_low).all() and (array <= self._action_high).all():
                    return
        elif mode == _ARRAY:
            array = np.asarray(action)
            if array.shape == self._action_shape and array.dtype.kind in self._action_kinds and (
                    array.dtype.kind not in "fc" or not np.isnan(array).any()):
                return
        check_action(action, self._action_spec, self._name, f"given to step() call {self._step_calls + 1}")

    def _check(self, timestep: Any, kind: str, sequence: bool = True) -> None:
        # Episodes are tracked only while every timestep is checked.
        episode_step = self._next_episode_step(timestep) if kind == "step" and sequence else None
        where = _where(kind, self._step_calls, episode_step)
        check_timestep(timestep, self._observation_spec, self._reward_spec, self._discount_spec, self._name, where)
        if sequence:
            self._check_sequence(timestep, kind, where)

    def _next_episode_step(self, timestep: Any) -> int | None:
        """The step's index in its episode (None when a new episode should start here)."""
        return None if self._episode_step is None else self._episode_step + 1

    def _check_sequence(self, timestep: dm_env.TimeStep, kind: str, where: str) -> None:
        """dm_env's order: reset -> FIRST; FIRST only on a fresh env or after LAST; then MID... LAST."""
        step_type = int(timestep.step_type)
        name = _STEP_TYPE_NAMES[step_type]
        expect_first = kind == "reset" or self._episode_step is None
        if expect_first and step_type != dm_env.StepType.FIRST:
            if kind == "reset":
                rule = "reset() must give FIRST (dm_env.restart)"
            else:
                rule = ("step() on a fresh environment or after a LAST step must start a new episode and give "
                        "FIRST, ignoring the action (dm_env.restart); this one went on with the old episode. "
                        "Reset in step() when the previous step was LAST")
            raise EnvironmentSpecError(f"Environment {self._name!r}: step_type {where} is {name}; {rule}.")
        if not expect_first and step_type == dm_env.StepType.FIRST:
            raise EnvironmentSpecError(
                f"Environment {self._name!r}: step_type {where} is FIRST in the middle of an episode; "
                "dm_env gives FIRST only from reset(), on a fresh environment or after a LAST step.")
        if step_type == dm_env.StepType.LAST:
            self._episode_step = None
        elif step_type == dm_env.StepType.FIRST:
            self._episode_step = 0
        else:
            self._episode_step = (self._episode_step or 0) + 1


# ----------------------------------------------------------------------------
# Probing at declaration time.
# ----------------------------------------------------------------------------


def valid_action(spec: Any) -> Any:
    """A spec-valid action: 0 for DiscreteArray; the bounds' midpoint (or 0 clipped into them) for
    BoundedArray; zeros for Array."""

    def leaf(leaf_spec: specs.Array) -> np.ndarray:
        dtype = np.dtype(leaf_spec.dtype)
        if isinstance(leaf_spec, specs.BoundedArray):
            minimum = np.broadcast_to(leaf_spec.minimum, leaf_spec.shape).astype(np.float64)
            maximum = np.broadcast_to(leaf_spec.maximum, leaf_spec.shape).astype(np.float64)
            finite = np.isfinite(minimum) & np.isfinite(maximum)
            with np.errstate(invalid="ignore", over="ignore"):
                middle = np.where(finite, minimum / 2 + maximum / 2, np.clip(0.0, minimum, maximum))
            if dtype.kind in "iub":
                middle = np.clip(np.floor(middle), minimum, maximum)
            return middle.astype(dtype)
        return np.zeros(leaf_spec.shape, dtype)

    return tree.map_structure(leaf, spec)


def probe_environment(environment: dm_env.Environment, name: str | None = None,
                      num_steps: int = 1) -> dm_env.Environment:
    """Checks `environment`'s specs, resets it and takes `num_steps` steps with a spec-valid action.

    Meant for the moment a run is declared, so that a broken environment fails
    there: `check_compatible(builder, probe_environment(make_environment(...)), ...)`.
    Returns `environment` (reset and stepped); closes it before raising.

    Raises:
      EnvironmentSpecError: malformed specs, or a timestep that does not fit them.
    """
    name = name or environment_name(environment)
    try:
        observation_spec, action_spec, reward_spec, discount_spec = check_specs(environment, name)
        check_timestep(environment.reset(), observation_spec, reward_spec, discount_spec, name,
                       "returned by reset() (probe)")
        action = valid_action(action_spec)
        for call in range(1, num_steps + 1):
            check_timestep(environment.step(action), observation_spec, reward_spec, discount_spec, name,
                           f"at step() call {call} (probe, action {describe_value(action)})")
    except BaseException:
        try:
            environment.close()
        except Exception:  # noqa: BLE001 - the probe's error is the one to report.
            pass
        raise
    return environment
