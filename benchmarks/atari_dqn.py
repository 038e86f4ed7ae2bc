"""DQN training throughput on Breakout: env steps/s including learning, agentpipe vs stable-baselines3.

Both train the Nature CNN with Nature DQN hyperparameters on the CPU: batch
32, one gradient step per 4 env steps, Huber loss, no Double, a target copy
every 10,000 env steps, replay of `--buffer` transitions, learning from
`--learning_starts` on, for `--steps` env steps, with `--threads` torch
threads each. Each contender runs in its own process and the contenders take
turns for `--rounds` rounds. SB3 runs in the peers venv (benchmarks/.venv-peers).

Contenders:
  sb3                DQN('CnnPolicy') on make_atari_env + VecFrameStack(4), one env
  agentpipe          launchers' `nature` preset, one lane (the same work as SB3)
  agentpipe-bf16     the same with --precision=bfloat16 (autocast network arithmetic)
  agentpipe-8lanes   the same with 8 ale lanes (one network call per 8 actions)

    .venv/bin/python -m benchmarks.atari_dqn [--rounds 2] [--steps 6000] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

from benchmarks.common import HERE, PEERS_PYTHON, run_json, write_json


def agentpipe(steps: int, learning_starts: int, buffer: int, threads: int, lanes: int,
              precision: str = "float32") -> dict:
    from launchers.experiment import experiment_from_declaration
    from launchers.local import run_local
    from launchers.presets import preset_declaration

    declaration = preset_declaration("dqn", "nature", "atari:Breakout")
    declaration["agent_config"].update(replay_capacity=buffer, min_replay_size=learning_starts, precision=precision)
    with tempfile.TemporaryDirectory() as run_dir:
        declaration.update(agent="dqn", env="atari:Breakout", num_steps=steps, num_envs=lanes, eval_every=0,
                           eval_episodes=1, torch_threads=threads, log_interval=1e9, device="cpu", seed=0,
                           run_dir=run_dir)
        summary = run_local(experiment_from_declaration(declaration))
    return {"contender": f"agentpipe-{lanes}-{precision}", "steps": summary["actor_steps"],
            "seconds": summary["train_seconds"], "steps_per_second": summary["actor_steps"] / summary["train_seconds"],
            "learner_steps": summary["learner_steps"], "threads": threads}


def _command(name: str, args: argparse.Namespace) -> list[str]:
    common = ["--steps", str(args.steps), "--learning_starts", str(args.learning_starts),
              "--buffer", str(args.buffer), "--threads", str(args.threads)]
    if name == "sb3":
        return [PEERS_PYTHON, os.path.join(HERE, "peers", "sb3_dqn_breakout.py"), *common]
    lanes = "8" if name == "agentpipe-8lanes" else "1"
    precision = "bfloat16" if name == "agentpipe-bf16" else "float32"
    return [sys.executable, os.path.join(HERE, "atari_dqn.py"), "--worker", "--lanes", lanes,
            "--precision", precision, *common]


def run_suite(args: argparse.Namespace) -> dict:
    names = ["sb3", "agentpipe", "agentpipe-bf16", "agentpipe-8lanes"]
    samples: dict[str, list[dict]] = {n: [] for n in names}
    for r in range(args.rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            result = run_json(_command(name, args))
            samples[name].append(result)
            print(f"round {r + 1}/{args.rounds} {name:17s} {result['steps_per_second']:7.1f} env steps/s "
                  f"({result['steps']} steps, {result['learner_steps']} learner steps, {result['seconds']:.1f} s)",
                  flush=True)
    medians = {n: statistics.median(r["steps_per_second"] for r in runs) for n, runs in samples.items()}
    ratios = {"agentpipe / sb3, one env, float32 (target >= 1.3)": round(medians["agentpipe"] / medians["sb3"], 3),
              "agentpipe bfloat16 / sb3, one env": round(medians["agentpipe-bf16"] / medians["sb3"], 3),
              "agentpipe 8 lanes / sb3": round(medians["agentpipe-8lanes"] / medians["sb3"], 3)}
    print("median env steps/s:", json.dumps({k: round(v, 1) for k, v in medians.items()}))
    print("ratios:", json.dumps(ratios))
    summary = {"benchmark": "atari_dqn", "date": time.strftime("%Y-%m-%d %H:%M"), "args": vars(args),
               "medians": medians, "ratios": ratios, "samples": samples}
    write_json(summary, args.out)
    return summary


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--steps", type=int, default=6_000)
    parser.add_argument("--learning_starts", type=int, default=1_000)
    parser.add_argument("--buffer", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    parser.add_argument("--worker", action="store_true", help="run agentpipe once (internal)")
    parser.add_argument("--lanes", type=int, default=1)
    parser.add_argument("--precision", default="float32")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--out", default=os.path.join("runs", "bench", "atari_dqn.json"))
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(agentpipe(args.steps, args.learning_starts, args.buffer, args.threads, args.lanes,
                                   args.precision)))
        return
    run_suite(args)


if __name__ == "__main__":
    main()
