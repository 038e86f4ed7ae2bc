"""Runner scaling: actor and learner throughput of `local`, `threads` and `ray` at 1, 2 and 4 actors.

One declaration per workload, run under each runner (one torch thread, CPU, seed 0):
  cartpole  DQN on gym:CartPole-v1, one lane per actor, DQNConfig's defaults (batch 64,
            samples_per_insert 16 = one learner step per 4 env steps, learning from 1,000
            transitions, replay 100k, [256, 256] MLP).
  breakout  DQN on atari:Breakout with the `nature` preset (Nature CNN, batch 32,
            samples_per_insert 8 = one learner step per 4 env steps), replay 20,000 and
            learning from 2,000 transitions; one 'sync' AtariEnvironment lane per actor.
            Its epsilon falls over 1M steps, so in runs this short almost every action is
            random and the actors rarely call the network: the learner is most of the work.
Both keep DQN's variable_update_period=1: actors ask for weights every step, and the
VariableClient copies them only when the learner has updated since (as `local` does).
`ray` actors pull at most once per 16 steps, their batch of adder calls.
Evaluation is kept out of the way: eval_every=0 and one evaluation episode after training
(not timed: train_seconds stops when the actors spend the budget).

Measured per sample: env steps/s = actor_steps / train_seconds and learner steps/s =
learner_steps / train_seconds. train_seconds includes the warm-up (min_replay_size
transitions acted before learning may start); with `num_actors` > 1 the actors share the
one budget. The replay's rate limiter ties the two rates together (after warm-up about
batch_size / samples_per_insert env steps per learner step), so each rate is that of
the slower side, actors or learner.

Every sample runs in a fresh process that prints one JSON line; the contenders take turns
in an order that is reversed every other round, and the table shows medians over rounds.
Each worker's stdout and stderr (Ray's included) go to runs/bench/runner_scaling_logs/, and
the worker reports any child process still alive after the runner returned.

    .venv/bin/python -m benchmarks.runner_scaling [--workloads cartpole breakout] [--actors 1 2 4]
        [--runners threads ray] [--steps 20000 6000] [--rounds 1]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import sys
import tempfile
import time

from benchmarks.common import ROOT, run_json, write_json

WORKLOADS = ("cartpole", "breakout")
RUNNERS = ("threads", "ray")
# Default budgets (actor env steps) per workload.
STEPS = {"cartpole": 20_000, "breakout": 6_000}
LOG_DIR = os.path.join("runs", "bench", "runner_scaling_logs")
# Log lines worth a look (td_error_abs and friends are not).
FLAGGED = re.compile(r"^\[\d{4}-\d\d-\d\d [\d:,]+ [EWF] "  # Ray's own log lines at WARNING and above.
                     r"|(?i:\bwarn|\btraceback\b|\berror\b|\bexception\b|\bdied\b|did not stop)|\w+Error\b")


def declaration(workload: str, launch: str, num_actors: int, steps: int, run_dir: str,
                variable_update_period: int = 4) -> dict:
    """The one declaration of `workload`, for runner `launch` with `num_actors` actors."""
    if workload == "cartpole":
        base = dict(agent="dqn", env="gym:CartPole-v1", num_envs=1, agent_config={})
    elif workload == "breakout":
        from launchers.presets import preset_declaration

        nature = preset_declaration("dqn", "nature", "atari:Breakout")
        base = dict(agent="dqn", env="atari:Breakout", num_envs=1, env_backend="sync",
                    agent_config={**nature["agent_config"], "replay_capacity": 20_000, "min_replay_size": 2_000})
    else:
        raise ValueError(f"unknown workload {workload!r}; expected one of {WORKLOADS}")
    base["agent_config"]["variable_update_period"] = variable_update_period
    return {**base, "num_steps": steps, "eval_every": 0, "eval_episodes": 1, "seed": 0, "run_dir": run_dir,
            "torch_threads": 1, "log_interval": 1e9, "device": "cpu", "launch": launch, "num_actors": num_actors}


def _children(pid: int) -> dict[int, str]:
    """Live descendants of `pid` (from /proc): pid -> command name."""
    parents: dict[int, int] = {}
    names: dict[int, str] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                stat = f.read()
        except OSError:
            continue
        name, rest = stat[stat.index("(") + 1:stat.rindex(")")], stat[stat.rindex(")") + 2:].split()
        if rest[0] != "Z":  # Zombies are already gone; only their exit status is left.
            parents[int(entry)], names[int(entry)] = int(rest[1]), name
    found, frontier = {}, [pid]
    while frontier:
        parent = frontier.pop()
        for child, its_parent in parents.items():
            if its_parent == parent and child not in found:
                found[child] = names[child]
                frontier.append(child)
    return found


def worker(workload: str, launch: str, num_actors: int, steps: int, log_path: str,
           variable_update_period: int = 4) -> dict:
    """Runs one sample with this process's stdout and stderr (fd level, Ray's too) sent to `log_path`."""
    from launchers.experiment import experiment_from_declaration
    from launchers.runners import run_experiment

    os.makedirs(os.path.dirname(log_path), exist_ok=True)
    sys.stdout.flush()
    sys.stderr.flush()
    saved_out, saved_err = os.dup(1), os.dup(2)
    log = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    os.dup2(log, 1)
    os.dup2(log, 2)
    started = time.perf_counter()
    try:
        with tempfile.TemporaryDirectory() as run_dir:
            summary = run_experiment(experiment_from_declaration(
                declaration(workload, launch, num_actors, steps, run_dir, variable_update_period)))
        process_seconds = time.perf_counter() - started
        deadline = time.monotonic() + 10.0  # Give exiting children a moment.
        while (leftover := _children(os.getpid())) and time.monotonic() < deadline:
            time.sleep(0.25)
    finally:
        sys.stdout.flush()
        sys.stderr.flush()
        os.dup2(saved_out, 1)
        os.dup2(saved_err, 2)
        os.close(log)
    with open(log_path, errors="replace") as f:
        flagged = [line.rstrip() for line in f if FLAGGED.search(line)]
    train = summary["train_seconds"]
    return {"workload": workload, "runner": launch, "num_actors": num_actors,
            "variable_update_period": variable_update_period, "steps": summary["actor_steps"],
            "learner_steps": summary["learner_steps"], "train_seconds": train,
            "wall_seconds": summary["wall_seconds"], "process_seconds": round(process_seconds, 2),
            "env_steps_per_second": summary["actor_steps"] / train,
            "learner_steps_per_second": summary["learner_steps"] / train,
            "final_eval_return": summary["final_eval_return"], "actor_restarts": summary.get("actor_restarts", 0),
            "leftover_children": [f"{pid}:{name}" for pid, name in sorted(leftover.items())],
            "flagged_log_lines": flagged[:20], "log": log_path}


def contenders(workloads: list[str], runners: list[str], actors: list[int]) -> list[tuple[str, str, int]]:
    out = []
    for workload in workloads:
        out.append((workload, "local", 1))
        out.extend((workload, runner, n) for runner in runners for n in actors)
    return out


def run_suite(workloads: list[str], runners: list[str], actors: list[int], steps: dict[str, int], rounds: int,
              out: str | None, variable_update_period: int = 4) -> dict:
    names = contenders(workloads, runners, actors)
    samples: dict[str, list[dict]] = {_key(*c): [] for c in names}
    stamp = time.strftime("%Y%m%d-%H%M%S")
    for r in range(rounds):
        for workload, runner, n in (names if r % 2 == 0 else names[::-1]):
            log_path = os.path.join(LOG_DIR, f"{stamp}_r{r + 1}_{workload}_{runner}_{n}.log")
            command = [sys.executable, "-m", "benchmarks.runner_scaling", "--worker", workload, runner, str(n),
                       "--steps", str(steps[workload]), "--log", log_path,
                       "--variable_update_period", str(variable_update_period)]
            result = run_json(command)
            samples[_key(workload, runner, n)].append(result)
            print(f"round {r + 1}/{rounds} {workload:8s} {runner:7s} x{n} "
                  f"{result['env_steps_per_second']:8.1f} env steps/s {result['learner_steps_per_second']:7.1f} "
                  f"learner steps/s ({result['steps']} steps, {result['learner_steps']} learner steps, "
                  f"{result['train_seconds']:.1f} s training, {result['process_seconds']:.1f} s in all)", flush=True)
            if result["leftover_children"]:
                print(f"  warning: child processes alive after the run: {result['leftover_children']}", flush=True)
            for line in result["flagged_log_lines"][:5]:
                print(f"  log: {line[:200]}", flush=True)

    rows = []
    for workload, runner, n in names:
        runs = samples[_key(workload, runner, n)]
        local = samples[_key(workload, "local", 1)]
        env = statistics.median(x["env_steps_per_second"] for x in runs)
        learner = statistics.median(x["learner_steps_per_second"] for x in runs)
        local_env = statistics.median(x["env_steps_per_second"] for x in local)
        rows.append({"workload": workload, "runner": runner, "num_actors": n, "env_steps_per_second": round(env, 1),
                     "learner_steps_per_second": round(learner, 1), "ratio_vs_local": round(env / local_env, 3),
                     "env_steps_per_second_rounds": [round(x["env_steps_per_second"], 1) for x in runs]})
    print()
    print(table(rows, rounds))
    summary = {"benchmark": "runner_scaling", "date": time.strftime("%Y-%m-%d %H:%M"), "steps": steps,
               "rounds": rounds, "variable_update_period": variable_update_period, "cpus": os.cpu_count(),
               "rows": rows, "samples": samples}
    write_json(summary, out)
    return summary


def table(rows: list[dict], rounds: int) -> str:
    """The results as a markdown table (medians over rounds; ratio = env steps/s over local's)."""
    lines = ["| workload | runner | actors | env steps/s | learner steps/s | vs local (env steps/s) |"
             + (" env steps/s per round |" if rounds > 1 else ""),
             "|---|---|---|---|---|---|" + ("---|" if rounds > 1 else "")]
    for row in rows:
        lines.append(f"| {row['workload']} | {row['runner']} | {row['num_actors']} | {row['env_steps_per_second']:.1f} "
                     f"| {row['learner_steps_per_second']:.1f} | {row['ratio_vs_local']:.2f}x |"
                     + (f" {', '.join(f'{v:.1f}' for v in row['env_steps_per_second_rounds'])} |"
                        if rounds > 1 else ""))
    return "\n".join(lines)


def _key(workload: str, runner: str, num_actors: int) -> str:
    return f"{workload}/{runner}/{num_actors}"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workloads", nargs="+", choices=WORKLOADS, default=list(WORKLOADS))
    parser.add_argument("--actors", type=int, nargs="+", default=[1, 2, 4])
    parser.add_argument("--runners", nargs="+", choices=RUNNERS, default=list(RUNNERS))
    parser.add_argument("--steps", type=int, nargs="+", default=None,
                        help=f"env step budget: one for every workload, or one per workload (default {STEPS})")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--variable_update_period", type=int, default=1,
                        help="actor steps between weight pulls (DQN's default is 1; see above)")


def budgets(workloads: list[str], steps: list[int] | None) -> dict[str, int]:
    if not steps:
        return {w: STEPS[w] for w in workloads}
    if len(steps) == 1:
        return {w: steps[0] for w in workloads}
    if len(steps) != len(workloads):
        raise SystemExit(f"--steps takes one value or one per workload ({len(workloads)}), got {len(steps)}.")
    return dict(zip(workloads, steps))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--worker", nargs=3, metavar=("WORKLOAD", "RUNNER", "ACTORS"),
                        help="run one sample and print its JSON line (internal)")
    parser.add_argument("--log", help="worker: where its output goes (internal)")
    parser.add_argument("--out", default=os.path.join("runs", "bench", "runner_scaling.json"))
    args = parser.parse_args()
    if args.worker:
        workload, runner, n = args.worker
        log = args.log or os.path.join(ROOT, LOG_DIR, f"{workload}_{runner}_{n}.log")
        print(json.dumps(worker(workload, runner, int(n), args.steps[0] if args.steps else STEPS[workload], log,
                                args.variable_update_period)))
        return
    run_suite(args.workloads, args.runners, args.actors, budgets(args.workloads, args.steps), args.rounds, args.out,
              args.variable_update_period)


if __name__ == "__main__":
    main()
