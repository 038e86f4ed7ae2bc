"""Atari environment throughput: Breakout, 8 lanes, 84x84x4 uint8, random actions.

Every contender runs in its own fresh process for `--seconds` after a warm-up,
and the contenders take turns for `--rounds` rounds, so machine noise falls on
all of them alike; medians and ratios are printed at the end. Steps are agent
(lane) steps: one batched step of 8 lanes counts 8, each worth 4 frames.

Contenders (all with no-op starts <= 30, frame skip 4 with max-pool, 84x84
grayscale, a stack of 4, no sticky actions):
  agentpipe-ale        make_batched_environment(backend='ale'), synchronous
  agentpipe-ale-async  AleVectorBatchedEnvironment(batch_size=4): send/recv
  agentpipe-subprocess / agentpipe-sync   AtariEnvironment lanes
  agentpipe-loop       EnvironmentLoop + random actor on the ale backend, alternating
                       short slices with a bare step loop on the same env (overhead ratio)
  ale-raw / ale-raw-async   ale-py's AtariVectorEnv, bare
  gymnasium-async      gymnasium AsyncVectorEnv + AtariPreprocessing + FrameStackObservation
  envpool              envpool (peers venv), when it is installed there

    .venv/bin/python -m benchmarks.atari_env_throughput [--rounds 3] [--seconds 10]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

import numpy as np

from benchmarks.common import HERE, PEERS_PYTHON, run_json, write_json

GAME, LANES, ASYNC_BATCH = "Breakout", 8, 4
ALE_OPTIONS = dict(img_height=84, img_width=84, grayscale=True, stack_num=4, frameskip=4, maxpool=True,
                   noop_max=30, repeat_action_probability=0.0, episodic_life=False, reward_clipping=False,
                   use_fire_reset=True, autoreset_mode="NextStep")


def _timed(step, seconds: float, warmup: float = 1.0) -> float:
    """Calls `step()` (which returns the lane-steps it made) for `seconds` after a warm-up; lane-steps/s."""
    end = time.perf_counter() + warmup
    while time.perf_counter() < end:
        step()
    steps, start = 0, time.perf_counter()
    end = start + seconds
    while time.perf_counter() < end:
        steps += step()
    return steps / (time.perf_counter() - start)


def _random_actions(seed: int = 0):
    rng = np.random.default_rng(seed)
    return lambda count: rng.integers(0, 4, count)


def _stepped(env, seconds: float, count: int = LANES) -> float:
    """Lane-steps/s of `env.step` on `count` random actions (env already reset); closes env."""
    actions = _random_actions()

    def step() -> int:
        env.step(actions(count))
        return count

    try:
        return _timed(step, seconds)
    finally:
        close = getattr(env, "close", None)
        if callable(close):
            close()


def agentpipe(backend: str, seconds: float) -> float:
    from environments.registry import make_batched_environment

    env = make_batched_environment(f"atari:{GAME}", LANES, seed=0, backend=backend)
    env.reset()
    return _stepped(env, seconds)


def agentpipe_ale_async(seconds: float) -> float:
    from environments.ale_vector import AleVectorBatchedEnvironment

    env = AleVectorBatchedEnvironment(GAME, LANES, seed=0, batch_size=ASYNC_BATCH)
    actions = _random_actions()
    lanes = [env.async_reset()[0]]

    def step() -> int:
        env.send(actions(len(lanes[0])))
        lanes[0] = env.recv()[0]
        return len(lanes[0])

    try:
        return _timed(step, seconds)
    finally:
        env.close()


def loop_overhead(seconds: float, slice_seconds: float = 0.5) -> dict:
    """EnvironmentLoop + random actor vs a bare step loop on one ale env, in alternating short slices.

    Alternating within one process puts both on the same machine state, so the
    median of the slice-pair ratios is robust to this VM's drifting speed.
    """
    from components.actors import RandomActor
    from components.environment_loop import EnvironmentLoop
    from environments.registry import make_batched_environment

    env = make_batched_environment(f"atari:{GAME}", LANES, seed=0, backend="ale")
    actor = RandomActor(4)
    loop = EnvironmentLoop(env, actor)
    no_observation = np.zeros(LANES)
    env.reset()

    def bare() -> int:  # The same actions from the same actor, without the loop around them.
        env.step(actor.select_action(no_observation))
        return LANES

    def with_loop() -> int:
        loop.run(num_steps=LANES * 10)
        return LANES * 10

    ratios, loop_rates = [], []
    try:
        _timed(bare, 0.0, warmup=1.0)
        end = time.perf_counter() + seconds
        while time.perf_counter() < end:
            if len(ratios) % 2 == 0:  # Alternate which goes first, so a slow-down after a switch hits both.
                bare_rate = _timed(bare, slice_seconds, warmup=0.0)
                loop_rate = _timed(with_loop, slice_seconds, warmup=0.0)
            else:
                loop_rate = _timed(with_loop, slice_seconds, warmup=0.0)
                bare_rate = _timed(bare, slice_seconds, warmup=0.0)
            ratios.append(loop_rate / bare_rate)
            loop_rates.append(loop_rate)
    finally:
        env.close()
    return {"steps_per_second": statistics.median(loop_rates), "loop_over_bare": statistics.median(ratios)}


def ale_raw(seconds: float, batch_size: int = 0) -> float:
    from ale_py import ALEInterface, LoggerMode
    from ale_py.vector_env import AtariVectorEnv

    ALEInterface.setLoggerMode(LoggerMode.Error)
    env = AtariVectorEnv(GAME.lower(), LANES, batch_size=batch_size, **ALE_OPTIONS)
    env.reset(seed=0)
    return _stepped(env, seconds, batch_size or LANES)


def _gymnasium_lane():
    import ale_py
    import gymnasium as gym
    from gymnasium.wrappers import AtariPreprocessing, FrameStackObservation

    gym.register_envs(ale_py)
    env = gym.make(f"ALE/{GAME}-v5", frameskip=1, repeat_action_probability=0.0)
    env = AtariPreprocessing(env, noop_max=30, frame_skip=4, screen_size=84, grayscale_obs=True)
    return FrameStackObservation(env, 4)


def gymnasium_async(seconds: float) -> float:
    import gymnasium as gym

    env = gym.vector.AsyncVectorEnv([_gymnasium_lane] * LANES)
    env.reset(seed=0)
    return _stepped(env, seconds)


def envpool_(seconds: float) -> float:
    import envpool

    env = envpool.make(f"{GAME}-v5", env_type="gymnasium", num_envs=LANES, batch_size=LANES, seed=0,
                       img_height=84, img_width=84, gray_scale=True, stack_num=4, frame_skip=4, noop_max=30,
                       repeat_action_probability=0.0, episodic_life=False, reward_clip=False)
    env.reset()
    return _stepped(env, seconds)


WORKERS = {
    "agentpipe-ale": lambda s: agentpipe("ale", s),
    "agentpipe-ale-async": agentpipe_ale_async,
    "agentpipe-subprocess": lambda s: agentpipe("subprocess", s),
    "agentpipe-sync": lambda s: agentpipe("sync", s),
    "agentpipe-loop": lambda s: loop_overhead(3 * s),  # Many slice pairs: the ratio is what counts.
    "ale-raw": ale_raw,
    "ale-raw-async": lambda s: ale_raw(s, ASYNC_BATCH),
    "gymnasium-async": gymnasium_async,
    "envpool": envpool_,
}
PEER_WORKERS = {"envpool"}  # Run with the peers venv's python.


def _envpool_available() -> bool:
    if not os.path.exists(PEERS_PYTHON):
        return False
    return subprocess.run([PEERS_PYTHON, "-c", "import envpool"], capture_output=True).returncode == 0


def _measure(name: str, seconds: float) -> dict:
    python = PEERS_PYTHON if name in PEER_WORKERS else sys.executable
    return run_json([python, os.path.join(HERE, "atari_env_throughput.py"), "--worker", name,
                     "--seconds", str(seconds)])


def _ratio(results: dict[str, float], a: str, b: str) -> float | None:
    return round(results[a] / results[b], 3) if a in results and b in results else None


def run_suite(rounds: int = 3, seconds: float = 10.0, out: str | None = None) -> dict:
    """Runs every contender `rounds` times in turn; returns medians and the issue's ratios."""
    names = [n for n in WORKERS if n not in PEER_WORKERS or _envpool_available()]
    samples: dict[str, list[float]] = {n: [] for n in names}
    loop_ratios: list[float] = []
    for r in range(rounds):
        order = names if r % 2 == 0 else names[::-1]
        for name in order:
            result = _measure(name, seconds)
            samples[name].append(result["steps_per_second"])
            extra = ""
            if "loop_over_bare" in result:
                loop_ratios.append(result["loop_over_bare"])
                extra = f" (loop/bare in alternating slices: {result['loop_over_bare']:.3f})"
            print(f"round {r + 1}/{rounds} {name:22s} {samples[name][-1]:8.0f} lane-steps/s{extra}", flush=True)
    medians = {n: statistics.median(v) for n, v in samples.items()}
    ours = [n for n in ("agentpipe-ale", "agentpipe-ale-async", "agentpipe-subprocess", "agentpipe-sync")]
    best_ours = max(ours, key=medians.__getitem__)
    best_raw = max(("ale-raw", "ale-raw-async"), key=medians.__getitem__)
    ratios = {
        f"best ours ({best_ours}) / gymnasium-async (target >= 2.0)": _ratio(medians, best_ours, "gymnasium-async"),
        f"best ours ({best_ours}) / best raw ALE ({best_raw}) (target >= 0.9)": _ratio(medians, best_ours, best_raw),
        "agentpipe-ale / ale-raw (same mode)": _ratio(medians, "agentpipe-ale", "ale-raw"),
        "agentpipe-ale-async / ale-raw-async (same mode)": _ratio(medians, "agentpipe-ale-async", "ale-raw-async"),
        f"best ours ({best_ours}) / envpool (target >= 1.0)": _ratio(medians, best_ours, "envpool"),
        "EnvironmentLoop / bare loop on ale, alternating slices (target >= 0.9)":
            round(statistics.median(loop_ratios), 3) if loop_ratios else None,
    }
    result = {"benchmark": "atari_env_throughput", "game": GAME, "lanes": LANES, "rounds": rounds,
              "seconds": seconds, "date": time.strftime("%Y-%m-%d %H:%M"), "samples": samples,
              "median_lane_steps_per_second": medians, "ratios": ratios}
    print("\nmedian lane-steps/s:")
    for name, value in sorted(medians.items(), key=lambda kv: -kv[1]):
        print(f"  {name:22s} {value:8.0f}")
    print("ratios:")
    for label, value in ratios.items():
        print(f"  {label}: {value}")
    write_json(result, out)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=sorted(WORKERS), help="measure one contender (internal)")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--out", default=os.path.join("runs", "bench", "atari_env_throughput.json"))
    args = parser.parse_args()
    if args.worker:
        value = WORKERS[args.worker](args.seconds)
        print(json.dumps({"worker": args.worker, **(value if isinstance(value, dict) else {"steps_per_second": value})}))
        return
    run_suite(args.rounds, args.seconds, args.out)


if __name__ == "__main__":
    main()
