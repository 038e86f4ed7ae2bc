"""The policy-gradient results to reach: each launcher preset, seeded, over its whole budget.

Each run is the command a user would type, evaluated greedily (the mean of 10
episodes) every 10k steps. A case is met on a seed when the *final* evaluation,
at the end of the budget, reaches the target; the first evaluation that reached
it is reported beside it. Cases:
  reinforce_cartpole  REINFORCE --preset=classic on CartPole-v1: >= 475 within 100k steps.
  ppo_cartpole        PPO --preset=classic on CartPole-v1: >= 475 within 100k.
  a2c_cartpole        A2C --preset=classic on CartPole-v1: >= 475 within 200k.
  ppo_pendulum        PPO --preset=pendulum on Pendulum-v1: >= -200 within 200k.
  a2c_pendulum        A2C --preset=seed002 (Gaussian, one-step updates) on Pendulum-v1: >= -200 within 200k.
Prints one line per run and a table per case; draws one curve PNG per case (seeds as a
mean with a min-max band) into --curves. `--stop_at_target` stops each run at its first
crossing instead (faster, but says nothing about whether the result holds).

    .venv/bin/python -m benchmarks.pg_results [--cases a2c_pendulum] [--seeds 0 1 2] [--jobs 2]
"""

from __future__ import annotations

import argparse
import concurrent.futures
import dataclasses
import os
import sys
import time

from benchmarks.common import run_json, write_json


@dataclasses.dataclass(frozen=True)
class Case:
    agent: str
    env: str
    preset: str
    target: float
    budget: int


CASES = {
    "reinforce_cartpole": Case("reinforce", "gym:CartPole-v1", "classic", 475.0, 100_000),
    "ppo_cartpole": Case("ppo", "gym:CartPole-v1", "classic", 475.0, 100_000),
    "a2c_cartpole": Case("a2c", "gym:CartPole-v1", "classic", 475.0, 200_000),
    "ppo_pendulum": Case("ppo", "gym:Pendulum-v1", "pendulum", -200.0, 200_000),
    "a2c_pendulum": Case("a2c", "gym:Pendulum-v1", "seed002", -200.0, 200_000),
}


def command(case: Case, seed: int, run_dir: str, stop_at_target: bool = False) -> list[str]:
    return [sys.executable, "-m", f"launchers.{case.agent}", f"--env={case.env}", f"--preset={case.preset}",
            f"--num_steps={case.budget}", "--eval_every=10000", "--eval_episodes=10", f"--seed={seed}",
            f"--run_dir={run_dir}", "--noprogress", "--noplots", "--notensorboard", "--overwrite",
            *([f"--stop_at_return={case.target}"] if stop_at_target else [])]


def run_case(name: str, seed: int, runs_dir: str, stop_at_target: bool = False) -> dict:
    """One seeded run of a case; its evaluations, the first one that reached the target, and the final one."""
    case = CASES[name]
    run_dir = os.path.join(runs_dir, f"{name}_seed{seed}")
    # --overwrite: a fresh run, not a continuation of an earlier one.
    summary = run_json(command(case, seed, run_dir, stop_at_target))  # The launcher's last line: summary.json.
    evaluations = [tuple(e) for e in summary["evaluations"]]  # (actor steps, mean return, train seconds)
    reached = next((e for e in evaluations if e[1] >= case.target), None)
    best = max(evaluations, key=lambda e: e[1])
    final = evaluations[-1]
    return {"case": name, "seed": seed, "run_dir": run_dir, "target": case.target, "budget": case.budget,
            "reached_at": reached[0] if reached else None, "return_then": reached[1] if reached else None,
            "train_seconds": reached[2] if reached else final[2], "best_return": best[1],
            "final_return": final[1], "holds": final[1] >= case.target, "evaluations": evaluations}


def describe(result: dict) -> str:
    final = f"final {result['final_return']:.1f}" + (" (holds)" if result["holds"] else " (BELOW the target)")
    if result["reached_at"] is not None:
        return f"first {result['return_then']:.1f} at {result['reached_at'] // 1000}k, {final}"
    return f"not reached within {result['budget']:,} (best {result['best_return']:.1f}), {final}"


def run_suite(cases: list[str], seeds: list[int], jobs: int, runs_dir: str, curves: str | None,
              out: str | None, stop_at_target: bool = False) -> dict:
    from launchers.plot import plot_runs

    runs_dir = os.path.abspath(runs_dir)  # The runs start in the repository root, wherever this is called from.
    results: list[dict] = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=jobs) as pool:
        futures = [pool.submit(run_case, name, seed, runs_dir, stop_at_target) for name in cases for seed in seeds]
        for future in concurrent.futures.as_completed(futures):
            result = future.result()
            results.append(result)
            print(f"{result['case']:18s} seed {result['seed']}: {describe(result)}", flush=True)
    print("\n| case | command | " + " | ".join(f"seed {s}" for s in seeds) + " |")
    print("|---|---|" + "---|" * len(seeds))
    for name in cases:
        case = CASES[name]
        by_seed = {r["seed"]: r for r in results if r["case"] == name}
        print(f"| {name} (>= {case.target:g} within {case.budget // 1000}k) | `launchers.{case.agent} "
              f"--env={case.env} --preset={case.preset}` | " + " | ".join(describe(by_seed[s]) for s in seeds) + " |")
        if curves:
            os.makedirs(curves, exist_ok=True)
            png = plot_runs([by_seed[s]["run_dir"] for s in seeds], os.path.join(curves, f"{name}.png"),
                            f"{name}: {case.agent} --preset={case.preset}, seeds {', '.join(map(str, seeds))}")
            print(f"curve: {png}")
    summary = {"benchmark": "pg_results", "date": time.strftime("%Y-%m-%d %H:%M"), "results": results}
    write_json(summary, out)
    return summary


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", choices=sorted(CASES), default=list(CASES))
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    parser.add_argument("--jobs", type=int, default=2, help="runs at a time")
    parser.add_argument("--runs_dir", default=os.path.join("runs", "bench", "pg_results"))
    parser.add_argument("--curves", default=os.path.join("runs", "bench", "curves"),
                        help="where the per-case PNGs go ('' for none)")
    parser.add_argument("--out", default=os.path.join("runs", "bench", "pg_results.json"))
    parser.add_argument("--stop_at_target", action="store_true", help="stop each run at its first crossing")
    args = parser.parse_args()
    run_suite(args.cases, args.seeds, args.jobs, args.runs_dir, args.curves or None, args.out, args.stop_at_target)


if __name__ == "__main__":
    main()
