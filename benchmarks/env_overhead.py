"""What our environment stack costs per step: raw environments vs our lanes, check_env=startup vs full, and
the tree before the checks moved to start-up (`--before`, a checkout of an older commit).

Contenders, each in a fresh process for `--seconds` after a warm-up, taking turns for `--rounds` rounds so
machine noise falls on all alike (medians printed at the end). Random actions; steps are lane steps.
  cartpole-raw           gymnasium CartPole-v1 stepped bare (reset on episode end), one env per lane
  cartpole-<backend>     make_batched_environment('gym:CartPole-v1', backend=sync|gym), check_env=startup
  cartpole-<backend>-full  the same with check_env=full (every lane's every step checked)
  atari-raw              ale-py's AtariVectorEnv, bare (8 lanes of Breakout, Nature preprocessing)
  atari-ale / atari-ale-full   make_batched_environment('atari:Breakout', backend='ale')
  before-...             the same agentpipe contenders on the `--before` tree (its own defaults)

    .venv/bin/python -m benchmarks.env_overhead [--rounds 3] [--seconds 5] [--before /path/to/old/checkout]
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

from benchmarks.common import ROOT

CARTPOLE_LANES = (1, 8)
ATARI_LANES = 8


def _rate(step, seconds: float) -> float:
    """Lane steps per second of `step()` (which returns how many lane steps it took), after a warm-up."""
    for _ in range(50):
        step()
    steps, started = 0, time.perf_counter()
    while time.perf_counter() - started < seconds:
        for _ in range(50):
            steps += step()
    return steps / (time.perf_counter() - started)


def _raw_cartpole(lanes: int, seconds: float) -> float:
    import gymnasium

    envs = [gymnasium.make("CartPole-v1") for _ in range(lanes)]
    for i, env in enumerate(envs):
        env.reset(seed=i)
    rng = np.random.default_rng(0)

    def step() -> int:
        for env, action in zip(envs, rng.integers(0, 2, lanes).tolist()):
            _, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                env.reset()
        return lanes

    return _rate(step, seconds)


def _raw_atari(seconds: float) -> float:
    import ale_py

    env = ale_py.vector_env.AtariVectorEnv(
        game="breakout", num_envs=ATARI_LANES, img_height=84, img_width=84, grayscale=True, stack_num=4,
        frameskip=4, maxpool=True, noop_max=30, repeat_action_probability=0.0, episodic_life=False,
        reward_clipping=False, use_fire_reset=True, autoreset_mode="NextStep")
    env.reset(seed=0)
    rng = np.random.default_rng(0)

    def step() -> int:
        env.step(rng.integers(0, 4, ATARI_LANES))
        return ATARI_LANES

    try:
        return _rate(step, seconds)
    finally:
        env.close()


def _ours(name: str, lanes: int, backend: str, check_env: str | None, seconds: float) -> float:
    from environments.registry import make_batched_environment

    kwargs = {} if check_env is None else {"check_env": check_env}  # None: the --before tree's own defaults.
    env = make_batched_environment(name, lanes, seed=0, backend=backend, **kwargs)
    env.reset()
    spec = env.action_spec()
    rng = np.random.default_rng(0)

    def step() -> int:
        env.step(rng.integers(0, spec.num_values, lanes).astype(spec.dtype))
        return lanes

    try:
        return _rate(step, seconds)
    finally:
        env.close()


def _contenders(before: bool) -> dict[str, tuple]:
    """name -> (worker arguments, runs on the --before tree)."""
    contenders: dict[str, tuple] = {}
    for lanes in CARTPOLE_LANES:
        contenders[f"cartpole{lanes}-raw"] = (("raw_cartpole", lanes), False)
        for backend in ("sync", "gym"):
            for check in ("startup", "full"):
                suffix = "" if check == "startup" else "-full"
                contenders[f"cartpole{lanes}-{backend}{suffix}"] = (("ours", "gym:CartPole-v1", lanes, backend, check),
                                                                    False)
            if before:
                contenders[f"before-cartpole{lanes}-{backend}"] = (("ours", "gym:CartPole-v1", lanes, backend, None),
                                                                   True)
    contenders["atari-raw"] = (("raw_atari",), False)
    contenders["atari-ale"] = (("ours", "atari:Breakout", ATARI_LANES, "ale", "startup"), False)
    contenders["atari-ale-full"] = (("ours", "atari:Breakout", ATARI_LANES, "ale", "full"), False)
    if before:
        contenders["before-atari-ale"] = (("ours", "atari:Breakout", ATARI_LANES, "ale", None), True)
    return contenders


def _worker(arguments: list[str], seconds: float) -> float:
    kind, *rest = arguments
    if kind == "raw_cartpole":
        return _raw_cartpole(int(rest[0]), seconds)
    if kind == "raw_atari":
        return _raw_atari(seconds)
    name, lanes, backend, check = rest
    return _ours(name, int(lanes), backend, None if check == "None" else check, seconds)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--before", default=None, help="an older checkout to measure beside this one")
    parser.add_argument("--worker", nargs="+", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps({"steps_per_second": _worker(args.worker, args.seconds)}))
        return
    contenders = _contenders(args.before is not None)
    rates: dict[str, list[float]] = {name: [] for name in contenders}
    for round_index in range(args.rounds):
        for name, (arguments, on_before) in contenders.items():
            tree = os.path.abspath(args.before) if on_before else ROOT
            # The script by path, from the tree measured: its `environments` package comes first on the path.
            command = [sys.executable, os.path.abspath(__file__), "--seconds", str(args.seconds),
                       "--worker", *map(str, arguments)]
            done = subprocess.run(command, cwd=tree, capture_output=True, text=True,
                                  env={**os.environ, "PYTHONPATH": f"{tree}{os.pathsep}{ROOT}"})
            if done.returncode != 0:
                raise RuntimeError(f"{name} failed:\n{done.stderr[-3000:]}")
            rates[name].append(json.loads(done.stdout.strip().splitlines()[-1])["steps_per_second"])
            print(f"round {round_index + 1} {name:26s} {rates[name][-1]:10.0f} lane steps/s", flush=True)
    medians = {name: statistics.median(values) for name, values in rates.items()}
    print("\n| contender | lane steps/s (median) | vs raw |\n|---|---:|---:|")
    for name, rate in medians.items():
        raw = medians[next(key for key in medians if key.endswith("-raw") and key.split("-")[0] in name)]
        print(f"| {name} | {rate:,.0f} | {rate / raw:.2f}x |")
    print(json.dumps({"medians": medians}))


if __name__ == "__main__":
    main()
