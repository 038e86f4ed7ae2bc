"""`make bench`: the benchmark suites, each measured side by side in one run.

Suites (`--suite`, default all):
  cartpole_dqn  agentpipe vs stable-baselines3 DQN on CartPole-v1, time to a return of 475.
  atari_env     Atari environment throughput (benchmarks/atari_env_throughput.py): our
                backends vs raw ale-py, gymnasium's AsyncVectorEnv and envpool.
  replay        uniform vs prioritized frame replay at 1M Atari transitions: insert and
                sample rates, bytes per transition (benchmarks/replay_throughput.py).
  atari_dqn     DQN training throughput on Breakout, agentpipe vs SB3 DQN('CnnPolicy')
                with Nature hyperparameters (benchmarks/atari_dqn.py).
  pg_speed      PPO and A2C env steps/s vs SB3 at equal settings: CartPole (SB3's defaults)
                and PPO on Breakout with seed 003's settings (benchmarks/pg_speed.py).
  sac_speed     SAC env steps/s vs SB3's SAC at identical settings on Pendulum-v1 and
                HalfCheetah-v5, float32 and bf16 matmuls (benchmarks/sac_speed.py).
  pg_results    REINFORCE, A2C and PPO presets on CartPole and Pendulum, seeds 0-2, each over
                its whole budget: the final evaluation must hold the target (benchmarks/pg_results.py).
  runners       actor and learner steps/s of the `threads` and `ray` runners at 1, 2 and 4
                actors against `local`, DQN on CartPole and Breakout (benchmarks/runner_scaling.py).

CartPole: for each seed, the runs alternate (SB3, agentpipe with RL-Zoo's settings,
agentpipe's CartPole preset) so machine noise falls on all of them alike.
Each run reports env steps and training seconds (evaluation excluded) to a
greedy mean return of 475 over 10 episodes, evaluated every 2,000 steps.
SB3 runs in its own venv (benchmarks/.venv-peers), never the project's.

    .venv/bin/python -m benchmarks.run [--suite cartpole_dqn atari_env] [--seeds 0 1 2]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS_PYTHON = os.path.join(HERE, ".venv-peers", "bin", "python")


def _run(command: list[str]) -> dict:
    started = time.perf_counter()
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    result = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_seconds"] = round(time.perf_counter() - started, 2)
    return result


def _median(values: list) -> float | None:
    values = [v for v in values if v is not None]
    return statistics.median(values) if values else None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--threads", type=int, default=1, help="torch threads for every run")
    parser.add_argument("--out", default=os.path.join("runs", "bench", "cartpole_dqn.json"))
    parser.add_argument("--suite", nargs="+", choices=SUITES, default=list(SUITES))
    parser.add_argument("--rounds", type=int, default=3, help="atari_env: rounds of every contender")
    parser.add_argument("--seconds", type=float, default=10.0, help="atari_env: measured seconds per sample")
    args = parser.parse_args()

    if set(args.suite) & set(PEER_SUITES):
        subprocess.run(["bash", os.path.join(HERE, "peers", "setup_venv.sh")], check=True)
    if "cartpole_dqn" in args.suite:
        cartpole_dqn(args)
    if "atari_env" in args.suite:
        from benchmarks.atari_env_throughput import run_suite

        print("\n== atari_env: Breakout, 8 lanes, random actions ==", flush=True)
        run_suite(args.rounds, args.seconds, os.path.join(os.path.dirname(args.out), "atari_env_throughput.json"))
    if "replay" in args.suite:
        from benchmarks import replay_throughput

        print("\n== replay: frame replay at 1M Atari transitions ==", flush=True)
        replay_throughput.run_suite(out=os.path.join(os.path.dirname(args.out), "replay_throughput.json"))
    if "atari_dqn" in args.suite:
        from benchmarks import atari_dqn

        print("\n== atari_dqn: DQN on Breakout, env steps/s including learning ==", flush=True)
        dqn_args = argparse.Namespace(steps=6_000, learning_starts=1_000, buffer=100_000, threads=args.threads,
                                      rounds=2, out=os.path.join(os.path.dirname(args.out), "atari_dqn.json"))
        atari_dqn.run_suite(dqn_args)
    if "pg_speed" in args.suite:
        from benchmarks import pg_speed

        print("\n== pg_speed: PPO and A2C vs SB3 ==", flush=True)
        pg_speed.run_suite(list(pg_speed.STEPS), rounds=1,
                           out=os.path.join(os.path.dirname(args.out), "pg_speed.json"))
    if "sac_speed" in args.suite:
        from benchmarks import sac_speed

        print("\n== sac_speed: SAC vs SB3's SAC ==", flush=True)
        sac_speed.run_suite(list(sac_speed.ENVS), rounds=1, steps=5_000, bfloat16=True,
                            out=os.path.join(os.path.dirname(args.out), "sac_speed.json"))
    if "pg_results" in args.suite:
        from benchmarks import pg_results

        print("\n== pg_results: policy-gradient presets to their targets, seeds 0-2 ==", flush=True)
        pg_results.run_suite(list(pg_results.CASES), [0, 1, 2], jobs=2,
                             runs_dir=os.path.join(os.path.dirname(args.out), "pg_results"),
                             curves=os.path.join(os.path.dirname(args.out), "curves"),
                             out=os.path.join(os.path.dirname(args.out), "pg_results.json"))
    if "runners" in args.suite:
        from benchmarks import runner_scaling

        print("\n== runners: local vs threads vs ray at 1, 2, 4 actors, DQN ==", flush=True)
        runner_scaling.run_suite(list(runner_scaling.WORKLOADS), list(runner_scaling.RUNNERS), [1, 2, 4],
                                 dict(runner_scaling.STEPS), rounds=1,
                                 out=os.path.join(os.path.dirname(args.out), "runner_scaling.json"))


SUITES = ("cartpole_dqn", "atari_env", "replay", "atari_dqn", "pg_speed", "sac_speed", "pg_results", "runners")
# Suites that compare against peers in benchmarks/.venv-peers (set up first).
PEER_SUITES = ("cartpole_dqn", "atari_env", "atari_dqn", "pg_speed", "sac_speed")


def cartpole_dqn(args: argparse.Namespace) -> None:
    """SB3 vs agentpipe (RL-Zoo settings) vs agentpipe's preset, seeds alternating."""
    print("== cartpole_dqn: time to a greedy return of 475 ==", flush=True)
    common = ["--threads", str(args.threads)]
    contenders = {
        "sb3 (rl-zoo)": lambda s: [PEERS_PYTHON, os.path.join(HERE, "peers", "sb3_dqn_cartpole.py"), "--seed", str(s)],
        "agentpipe (rl-zoo)": lambda s: [sys.executable, "-m", "benchmarks.cartpole_dqn", "--config", "rl_zoo", "--seed", str(s)],
        "agentpipe (preset)": lambda s: [sys.executable, "-m", "benchmarks.cartpole_dqn", "--config", "preset", "--seed", str(s)],
    }
    results: dict[str, list[dict]] = {name: [] for name in contenders}
    for seed in args.seeds:
        for name, command in contenders.items():
            result = _run(command(seed) + common)
            results[name].append(result)
            print(f"seed {seed} {name:20s} reached={result['reached']!s:5s} steps={result['steps_to_target']} "
                  f"seconds={result['seconds_to_target']} (train steps/s "
                  f"{result['evals'][-1][0] / max(result['total_train_seconds'], 1e-9):.0f})", flush=True)

    print("\nsummary (median over seeds; ratio = SB3 seconds / contender seconds)")
    sb3_seconds = _median([r["seconds_to_target"] for r in results["sb3 (rl-zoo)"]])
    for name, runs in results.items():
        steps = _median([r["steps_to_target"] for r in runs])
        seconds = _median([r["seconds_to_target"] for r in runs])
        rate = statistics.median(r["evals"][-1][0] / max(r["total_train_seconds"], 1e-9) for r in runs)
        ratio = f"{sb3_seconds / seconds:.2f}x" if seconds and sb3_seconds else "n/a"
        reached = sum(r["reached"] for r in runs)
        print(f"  {name:20s} reached {reached}/{len(runs)}  median steps {steps}  median seconds {seconds}  "
              f"train steps/s {rate:.0f}  speed-up vs SB3 {ratio}")
    os.makedirs(os.path.dirname(args.out) or ".", exist_ok=True)
    with open(args.out, "w") as f:
        json.dump({"date": time.strftime("%Y-%m-%d"), "seeds": args.seeds, "threads": args.threads,
                   "results": results}, f, indent=1)
    print(f"\nfull results: {args.out}")


if __name__ == "__main__":
    main()
