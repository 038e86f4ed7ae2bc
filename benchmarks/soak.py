"""Soak run: a random actor and a learner for a long time, watching memory and speed.

Builds the declared agent's nodes as the local runner does, but acts uniformly
at random (the policy's epsilon pinned to 1) so nothing about learning changes
how much data flows; every `--sample_seconds` it records resident memory (RSS),
the replay's size, and actor and learner steps/s over the last interval.
Reported: RSS once the replay is full vs at the end (the promise: flat within
10%), and the drift of steps/s from the first to the last quarter of the run.

    .venv/bin/python -m benchmarks.soak [--minutes 30] [--env gym:CartPole-v1] [--capacity 100000]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from typing import Any

from benchmarks.common import write_json


def rss_megabytes() -> float:
    """This process's resident set size, from /proc (Linux)."""
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024.0
    raise RuntimeError("No VmRSS in /proc/self/status (not Linux?).")


def soak(env: str, minutes: float, capacity: int, sample_seconds: float, num_envs: int) -> dict[str, Any]:
    import torch

    from components.counting import Counter
    from components.environment_loop import EnvironmentLoop
    from components.loggers import NoOpLogger
    from components.specs import make_environment_spec
    from launchers.experiment import experiment_from_declaration
    from launchers.local import LearningActor
    from launchers.nodes import make_actor, make_environment, make_learner

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as run_dir:
        experiment = experiment_from_declaration({
            "agent": "dqn", "env": env, "num_envs": num_envs, "num_steps": 10**12, "run_dir": run_dir,
            "device": "cpu", "agent_config": {"replay_capacity": capacity, "min_replay_size": 1_000,
                                              "epsilon_start": 1.0, "epsilon_end": 1.0}})
        environment = make_environment(experiment, 0)
        spec = make_environment_spec(environment)
        counter = Counter()
        builder = experiment.builder
        replay = builder.make_replay(spec, 0, num_lanes=num_envs)
        learner = make_learner(experiment, spec, replay, torch.device("cpu"), counter, NoOpLogger())
        actor, _ = make_actor(experiment, spec, builder.make_adder(replay), learner, 0, counter)
        learning = LearningActor(actor, learner, replay.rate_limiter, builder.learner_batch_size(num_envs))
        loop = EnvironmentLoop(environment, learning, Counter(counter, "actor"), NoOpLogger())
        samples: list[dict[str, float]] = []
        start = last = time.perf_counter()
        last_counts = {"actor_steps": 0, "learner_steps": 0}
        try:
            while time.perf_counter() - start < minutes * 60:
                loop.run(num_steps=1_000)
                now = time.perf_counter()
                if now - last >= sample_seconds:
                    counts = counter.get_counts()
                    samples.append({
                        "seconds": round(now - start, 1), "rss_mb": round(rss_megabytes(), 1),
                        "replay_size": replay.size(), "actor_steps": counts.get("actor_steps", 0),
                        "actor_steps_per_second": (counts.get("actor_steps", 0) - last_counts["actor_steps"])
                        / (now - last),
                        "learner_steps_per_second": (counts.get("learner_steps", 0) - last_counts["learner_steps"])
                        / (now - last)})
                    print(json.dumps(samples[-1]), flush=True)
                    last, last_counts = now, {k: counts.get(k, 0) for k in last_counts}
        finally:
            environment.close()
    full = [s for s in samples if s["replay_size"] >= capacity]
    quarter = max(1, len(samples) // 4)
    first, final = samples[:quarter], samples[-quarter:]
    result = {"env": env, "minutes": minutes, "capacity": capacity, "samples": samples}
    if full:
        result["rss_when_full_mb"] = full[0]["rss_mb"]
        result["rss_end_mb"] = samples[-1]["rss_mb"]
        result["rss_growth_after_full"] = round(samples[-1]["rss_mb"] / full[0]["rss_mb"] - 1.0, 4)
    result["actor_sps_first_quarter"] = round(statistics.median(s["actor_steps_per_second"] for s in first), 1)
    result["actor_sps_last_quarter"] = round(statistics.median(s["actor_steps_per_second"] for s in final), 1)
    result["learner_sps_first_quarter"] = round(statistics.median(s["learner_steps_per_second"] for s in first), 1)
    result["learner_sps_last_quarter"] = round(statistics.median(s["learner_steps_per_second"] for s in final), 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--minutes", type=float, default=30.0)
    parser.add_argument("--env", default="gym:CartPole-v1")
    parser.add_argument("--capacity", type=int, default=100_000)
    parser.add_argument("--num_envs", type=int, default=1)
    parser.add_argument("--sample_seconds", type=float, default=30.0)
    parser.add_argument("--out", default=os.path.join("runs", "bench", "soak.json"))
    args = parser.parse_args()
    result = soak(args.env, args.minutes, args.capacity, args.sample_seconds, args.num_envs)
    summary = {k: v for k, v in result.items() if k != "samples"}
    print(json.dumps(summary, indent=2))
    write_json(result, args.out)


if __name__ == "__main__":
    main()
