"""Resolves `--env` names to dm_env environments.

  gridworld:<task>             the seed tutorial's GridWorld (simple, obstacle, random_goal)
  gym:<id>                     any registered gymnasium environment, adapted to dm_env
  atari:<Game>                 an ale-py game with Nature-DQN preprocessing (e.g. atari:Breakout)
  dmc:<domain>-<task>          a dm_control suite task, flat float observations (e.g. dmc:walker-walk)
  minatar:<game>               a MinAtar game, (C, 10, 10) uint8 grids, sticky actions (e.g. minatar:breakout)
  python:<module>:<factory>    your own factory, called as factory(seed=..., **options)

Every environment comes wrapped in single precision (float32 / int32); its specs
are checked when it is built (`environments.spec_checks.check_specs`).
`check=True` puts `environments.validation.SpecCheckingWrapper` inside that
cast, so every action and timestep is checked against the environment's own
specs (`check_env=full`). Batched lanes (`make_lanes`, `make_batched_environment`)
always check their batch of actions and rewards cheaply (`CheckedLanes`); the
run driver checks one extra lane at start-up (`check_environment`).
`evaluation=True` asks for the evaluation flavour where one exists (Atari:
the full game with all lives and unclipped rewards); factories that take an
`evaluation` argument receive it, others ignore it.

`render=True` asks for an environment whose `render()` returns RGB frames (for
videos): gymnasium environments are made with `render_mode='rgb_array'`;
GridWorld and Atari always render; python factories that take a `render`
argument receive it.
"""

from __future__ import annotations

import difflib
import functools
import importlib
import inspect
from typing import Any, Callable, Mapping

import dm_env

from environments.batched import BatchedEnvironment, SyncBatchedEnvironment
from environments.errors import EnvironmentCallError, qualified_name as _qualified
from environments.spec_checks import check_specs
from environments.validation import CHECK_MODES, CheckedLanes, SpecCheckingWrapper, checked_lane_factory
from environments.wrappers import NamedEnvironment, SinglePrecisionWrapper

PREFIXES = ("gridworld", "gym", "atari", "dmc", "minatar", "python")
EXAMPLES = ("gridworld:simple, gym:CartPole-v1, atari:Breakout, dmc:walker-walk, minatar:breakout, "
            "python:my_pkg.envs:make_env")


def _split(name: str) -> tuple[str, str]:
    prefix, sep, rest = name.partition(":")
    if not sep or prefix not in PREFIXES or not rest:
        raise ValueError(
            f"Unknown environment name {name!r}. Expected '<prefix>:<name>' with prefix one of "
            f"{', '.join(PREFIXES)} (e.g. {EXAMPLES})."
        )
    return prefix, rest


def _make_gridworld(task: str, seed: int, options: dict[str, Any], evaluation: bool) -> dm_env.Environment:
    from environments.gridworld import TASKS, build_gridworld_task

    if task not in TASKS:
        raise ValueError(f"Unknown gridworld task {task!r}; known tasks: {', '.join(sorted(TASKS))}.")
    options = {"observation_type": "grid", **options}
    return build_gridworld_task(task, seed=seed, **options)


def _gym_make(env_id: str, options: Mapping[str, Any]):
    """`gymnasium.make(env_id, **options)`, failing with close matches for an unknown id."""
    import gymnasium

    from environments.minigrid import MiniGridObservation, import_minigrid, is_minigrid

    if is_minigrid(env_id):
        import_minigrid()
    try:
        env = gymnasium.make(env_id, **options)
        return MiniGridObservation(env) if is_minigrid(env_id) else env
    except gymnasium.error.Error as error:
        known = list(gymnasium.registry)
        close = difflib.get_close_matches(env_id, known, n=5, cutoff=0.5)
        hint = f" Close matches: {', '.join(close)}." if close else ""
        raise ValueError(f"gymnasium cannot make {env_id!r}: {str(error).rstrip('.')}.{hint}") from error


def _make_gym(env_id: str, seed: int, options: dict[str, Any], evaluation: bool) -> dm_env.Environment:
    from environments.gym_adapter import GymnasiumEnvironment

    return GymnasiumEnvironment(_gym_make(env_id, options), seed=seed)


def _make_atari(game: str, seed: int, options: dict[str, Any], evaluation: bool) -> dm_env.Environment:
    try:
        from environments.atari import make_atari
    except ImportError as error:
        raise ValueError(f"atari:{game} needs ale-py and opencv: pip install \"agentpipe[atari]\" ({error}).") from None
    return make_atari(game, seed=seed, evaluation=evaluation, **options)


def _make_dm_control(task: str, seed: int, options: dict[str, Any], evaluation: bool) -> dm_env.Environment:
    from environments.dm_control_suite import make_dm_control

    try:
        return make_dm_control(task, seed=seed, **options)
    except TypeError as error:
        raise ValueError(f"dmc:{task} takes the options action_repeat, time_limit and flatten; got "
                         f"{sorted(options)} ({error}).") from None


def _make_minatar(game: str, seed: int, options: dict[str, Any], evaluation: bool) -> dm_env.Environment:
    from environments.minatar import make_minatar

    return make_minatar(game, seed=seed, **options)


def _make_python(target: str, seed: int, options: dict[str, Any], evaluation: bool) -> dm_env.Environment:
    module_name, sep, attribute = target.rpartition(":")
    if not sep or not module_name or not attribute:
        raise ValueError(f"Expected python:<module>:<factory>, got python:{target!r}.")
    try:
        module = importlib.import_module(module_name)
    except ImportError as error:
        raise ValueError(f"Cannot import module {module_name!r} for python:{target}: {error}") from error
    factory = getattr(module, attribute, None)
    if not callable(factory):
        raise ValueError(f"Module {module_name!r} has no callable {attribute!r} (from python:{target}).")
    signature = inspect.signature(factory)
    parameters = signature.parameters
    if "seed" in parameters:
        options = {"seed": seed, **options}
    if "evaluation" in parameters:
        options = {"evaluation": evaluation, **options}
    try:
        signature.bind(**options)
    except TypeError as error:
        raise ValueError(f"python:{target} cannot take the options {sorted(options)} ({error}); its parameters "
                         f"are {list(parameters)}. Pass them with --env_options=key=value,...") from None
    try:
        environment = factory(**options)
    except Exception as error:  # noqa: BLE001 - the user's own factory: say where it failed.
        raise EnvironmentCallError(f"python:{target}: the factory {_qualified(factory)}(**{options!r}) raised "
                                   f"{type(error).__name__}: {error}") from error
    if not isinstance(environment, dm_env.Environment):
        raise TypeError(
            f"python:{target} returned {type(environment).__name__}, expected a dm_env.Environment "
            "(wrap a gymnasium env with environments.gym_adapter.GymnasiumEnvironment)."
        )
    return environment


_FACTORIES: dict[str, Callable[[str, int, dict[str, Any], bool], dm_env.Environment]] = {
    "gridworld": _make_gridworld,
    "gym": _make_gym,
    "atari": _make_atari,
    "dmc": _make_dm_control,
    "minatar": _make_minatar,
    "python": _make_python,
}


def make_environment(name: str, seed: int = 0, evaluation: bool = False, render: bool = False,
                     check: bool = False, **options: Any) -> dm_env.Environment:
    """Builds one environment lane from its registry name; `options` go to its factory.

    `render=True`: `render()` returns (H, W, 3) uint8 frames. `check=True`: every action and timestep is
    checked against the specs (see the module docstring).
    """
    prefix, rest = _split(name)
    options = dict(options)
    if render:
        options = _render_options(prefix, rest, options)
    environment = _FACTORIES[prefix](rest, seed, options, evaluation)
    try:
        if check:  # Inside the cast: the checks see the environment's own values (environments.validation).
            return SinglePrecisionWrapper(SpecCheckingWrapper(environment, name))
        check_specs(environment, name)
        return SinglePrecisionWrapper(NamedEnvironment(environment, name))
    except BaseException:
        environment.close()
        raise


def _render_options(prefix: str, rest: str, options: dict[str, Any]) -> dict[str, Any]:
    """`options` plus what makes a `prefix` environment render RGB frames."""
    if prefix == "gym":
        return {"render_mode": "rgb_array", **options}
    if prefix == "python":
        module_name, _, attribute = rest.rpartition(":")
        try:
            factory = getattr(importlib.import_module(module_name), attribute, None)
        except (ImportError, ValueError):
            return options  # _make_python reports a bad target with the full story.
        if callable(factory) and "render" in inspect.signature(factory).parameters:
            return {"render": True, **options}
    return options  # GridWorld, Atari and MinAtar render RGB frames as they are.


BACKENDS = ("auto", "sync", "subprocess", "ale", "gym")


def resolve_backend(backend: str, name: str, num_envs: int, options: Mapping[str, Any] | None = None) -> str:
    """The backend to build `num_envs` lanes of `name` with.

    'auto' -> 'ale' for Atari (ALE's C++ engine is the fastest here), or, when
    the options ask for what it lacks (a crop), 'subprocess' for several Atari
    lanes and 'sync' for one; 'gym' for gymnasium environments whose spaces it
    batches (any observation space, a Dict or Tuple too; a leaf action space:
    see environments.gym_batched);
    'sync' for everything else (cheap environments, where worker processes cost
    more than they save).
    """
    if backend not in BACKENDS:
        raise ValueError(f"Unknown environment backend {backend!r}; expected one of {', '.join(BACKENDS)}.")
    is_atari = name.startswith("atari:")
    if backend == "ale" and not is_atari:
        raise ValueError(f"The ale backend runs only atari:<Game> environments, not {name!r}; "
                         "use sync or subprocess.")
    if backend == "gym" and not name.startswith("gym:"):
        raise ValueError(f"The gym backend runs only gym:<id> environments, not {name!r}; use sync or subprocess.")
    if backend != "auto":
        return backend
    if is_atari:
        if (options or {}).get("crop") is None:
            return "ale"
        return "subprocess" if num_envs > 1 else "sync"
    if name.startswith("gym:") and _gym_batchable(name.partition(":")[2], options or {}):
        return "gym"
    return "sync"


def _gym_batchable(env_id: str, options: Mapping[str, Any]) -> bool:
    """Whether the gym backend takes this environment's spaces (False when it cannot even be made:
    the sync backend then reports why)."""
    from environments.gym_batched import unsupported_spaces

    try:
        env = _gym_make(env_id, options)
    except Exception:  # noqa: BLE001 - the sync path makes it again and explains the failure.
        return False
    try:
        return unsupported_spaces(env) is None
    finally:
        env.close()


def make_lanes(factory: Callable[[int], dm_env.Environment], num_envs: int, seed: int,
               backend: str = "sync", name: str | None = None, check_env: str = "startup") -> BatchedEnvironment:
    """`num_envs` lanes from `factory(seed + i)`, stepped in process ('sync') or in worker processes
    ('subprocess', observations through shared memory; the factory must be picklable), their actions and
    rewards checked once per batch (`check_env='full'`: every lane's every step, see the module docstring)."""
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}.")
    full = _full_checks(check_env)
    if full:
        factory = checked_lane_factory(factory)
    if backend == "subprocess":
        from environments.subprocess_batched import SubprocessBatchedEnvironment

        lanes = SubprocessBatchedEnvironment(factory, num_envs, seed)
    elif backend == "sync":
        lanes = SyncBatchedEnvironment.from_factory(factory, num_envs, seed)
    else:
        raise ValueError(f"Unknown environment backend {backend!r} for lanes from an environment factory; expected "
                         "sync or subprocess (ale and gym build their own lanes from an atari:/gym: name).")
    return CheckedLanes(lanes, name or _factory_name(factory), full)


def _full_checks(check_env: str) -> bool:
    if check_env not in CHECK_MODES:
        raise ValueError(f"Unknown check_env {check_env!r}; expected one of {', '.join(CHECK_MODES)}.")
    return check_env == "full"


def _factory_name(factory: Any) -> str:
    if isinstance(factory, functools.partial) and factory.func is make_environment and factory.args:
        return factory.args[0]
    return _qualified(factory)


def make_batched_environment(name: str, num_envs: int = 1, seed: int = 0, backend: str = "auto",
                             evaluation: bool = False, check_env: str = "startup",
                             **options: Any) -> BatchedEnvironment:
    """Builds `num_envs` lanes of a registry environment, lane i seeded with `seed + i`.

    Backends: 'sync' and 'subprocess' (any environment), 'ale' (atari:<Game> only,
    on ale-py's native vector engine), 'gym' (gym:<id>, nested observations
    too, batched in process), 'auto' (see `resolve_backend`). `check_env`: see `make_lanes`.
    """
    prefix, rest = _split(name)  # Fail on a bad name before building anything.
    backend = resolve_backend(backend, name, num_envs, options)
    full = _full_checks(check_env)
    if num_envs < 1:
        raise ValueError(f"num_envs must be >= 1, got {num_envs}.")
    if backend == "gym":
        from environments.gym_batched import GymnasiumBatchedEnvironment

        return CheckedLanes(GymnasiumBatchedEnvironment([_gym_make(rest, options) for _ in range(num_envs)], seed,
                                                        name), name, full)
    if backend == "ale":
        from environments.ale_vector import AleVectorBatchedEnvironment
        from environments.atari import AtariConfig

        if evaluation:
            options = {"episodic_life": False, "clip_rewards": False, **options}
        return CheckedLanes(AleVectorBatchedEnvironment(rest, num_envs, AtariConfig(**options), seed=seed), name,
                            full)
    factory = functools.partial(make_environment, name, evaluation=evaluation, check=full, **options)
    return make_lanes(factory, num_envs, seed, backend, name, check_env)
