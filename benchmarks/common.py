"""What every benchmark script does: run a worker process for its JSON line, and write results."""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import time
from typing import Any, Callable

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
PEERS_PYTHON = os.path.join(HERE, ".venv-peers", "bin", "python")


def run_json(command: list[str]) -> dict[str, Any]:
    """Runs `command` from the repository root (importable as PYTHONPATH) and parses its last stdout line."""
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": ROOT})
    if done.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def write_json(summary: dict[str, Any], out: str | None) -> None:
    """Writes a benchmark's results to `out` (a path under runs/bench, not committed); None skips it."""
    if not out:
        return
    os.makedirs(os.path.dirname(out) or ".", exist_ok=True)
    with open(out, "w") as f:
        json.dump(summary, f, indent=2)
    print(f"wrote {out}")


def speed_rounds(cases: list[str], rounds: int, command_of: Callable[[str, str], list[str]],
                 contenders: tuple[str, ...] = ("agentpipe",)) -> dict[str, Any]:
    """Runs each of `contenders` and the peer (sb3) on every case, reversing the order every other round.

    `command_of(case, who)` gives the worker command whose JSON line has `steps`, `seconds`,
    `steps_per_second`, `cpu_seconds` and `final_return`. Returns the runs, and the ratios of the medians to
    sb3's (keyed by case for "agentpipe", by "case contender" for any other contender): wall-clock env
    steps/s, and env steps per CPU second of the training process (which a neighbour taking the core, on a
    busy or shared VM, cannot distort).
    """
    order = ["sb3", *contenders]
    results: dict[str, dict[str, list[dict]]] = {c: {who: [] for who in order} for c in cases}
    for r in range(rounds):
        for case in cases:
            for who in (order if r % 2 == 0 else order[::-1]):
                result = run_json(command_of(case, who))
                results[case][who].append(result)
                print(f"round {r + 1} {case:16s} {who:14s} {result['steps_per_second']:8.1f} env steps/s "
                      f"({result['steps']} steps in {result['seconds']:.1f} s, {result['cpu_seconds']:.1f} CPU s; "
                      f"final return {result['final_return']:.1f})", flush=True)

    def median(runs: list[dict], rate: Callable[[dict], float]) -> float:
        return statistics.median(rate(x) for x in runs)

    ratios, cpu_ratios = {}, {}
    for case, by in results.items():
        for who in contenders:
            key = case if who == "agentpipe" else f"{case} {who}"
            ratios[key] = round(median(by[who], lambda x: x["steps_per_second"])
                                / median(by["sb3"], lambda x: x["steps_per_second"]), 3)
            cpu_ratios[key] = round(median(by[who], lambda x: x["steps"] / x["cpu_seconds"])
                                    / median(by["sb3"], lambda x: x["steps"] / x["cpu_seconds"]), 3)
    print("speed ratios / sb3 (wall-clock steps/s):", json.dumps(ratios))
    print("speed ratios / sb3 (steps per CPU second):", json.dumps(cpu_ratios))
    return {"date": time.strftime("%Y-%m-%d %H:%M"), "results": results, "ratios": ratios, "cpu_ratios": cpu_ratios}


def speed_arguments(description: str, cases: list[str], rounds: int, out: str) -> argparse.ArgumentParser:
    """The command line of a side-by-side speed benchmark: --worker (one agentpipe run, internal), --cases,
    --rounds and --out."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--worker", choices=sorted(cases), help="run agentpipe once (internal)")
    parser.add_argument("--cases", nargs="+", choices=sorted(cases), default=list(cases))
    parser.add_argument("--rounds", type=int, default=rounds)
    parser.add_argument("--out", default=os.path.join("runs", "bench", out))
    return parser
