"""SAC speed, side by side with stable-baselines3's SAC at identical settings: env steps/s.

Settings (SB3's defaults, both sides): 256x256 policy and twin critics, Adam 3e-4, batch 256, one gradient
step per env step, a 1M replay, 100 random steps first, tau 0.005, gamma 0.99, a learned temperature
(target entropy -|A|); one torch thread, CPU. Cases: Pendulum-v1 and HalfCheetah-v5, `--steps` env steps
each (speed only; returns are printed beside it). Each contender runs in its own process; rounds alternate
who goes first. Contenders: sb3, agentpipe (float32, SB3's arithmetic) and, with `--bfloat16`, also
agentpipe-bf16 (`--precision=bfloat16`: the same settings with bf16 matmuls, a separate ratio).

    .venv/bin/python -m benchmarks.sac_speed [--cases pendulum halfcheetah] [--rounds 3] [--steps 5000]
        [--bfloat16]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

from benchmarks.common import HERE, PEERS_PYTHON, speed_arguments, speed_rounds, write_json

ENVS = {"pendulum": "Pendulum-v1", "halfcheetah": "HalfCheetah-v5"}
SETTINGS = dict(learning_rate=3e-4, hidden_sizes=(256, 256), batch_size=256, updates_per_step=1.0,
                replay_capacity=1_000_000, learning_starts=100, tau=0.005, discount=0.99, alpha="auto")


def agentpipe(case: str, steps: int, precision: str = "float32") -> dict:
    from launchers.experiment import experiment_from_declaration
    from launchers.local import run_local

    with tempfile.TemporaryDirectory() as run_dir:
        summary = run_local(experiment_from_declaration(dict(
            agent="sac", env=f"gym:{ENVS[case]}", agent_config={**SETTINGS, "precision": precision}, num_steps=steps, eval_every=0,
            eval_episodes=10, torch_threads=1, log_interval=1e9, device="cpu", seed=0, run_dir=run_dir,
            progress=False, plots=False)))
    return {"contender": "agentpipe" if precision == "float32" else "agentpipe-bf16", "case": case, "steps": summary["actor_steps"],
            "seconds": summary["train_seconds"], "steps_per_second": summary["actor_steps"] / summary["train_seconds"],
            "cpu_seconds": summary["train_cpu_seconds"], "final_return": summary["final_eval_return"]}


def run_suite(cases: list[str], rounds: int, steps: int, out: str | None = None, bfloat16: bool = False) -> dict:
    def command_of(case: str, who: str) -> list[str]:
        if who == "sb3":
            return [PEERS_PYTHON, os.path.join(HERE, "peers", "sb3_sac.py"), "--env", ENVS[case], "--steps", str(steps)]
        precision = ["--precision", "bfloat16"] if who == "agentpipe-bf16" else []
        return [sys.executable, os.path.join(HERE, "sac_speed.py"), "--worker", case, "--steps", str(steps), *precision]

    contenders = ("agentpipe", "agentpipe-bf16") if bfloat16 else ("agentpipe",)
    summary = {"benchmark": "sac_speed", "steps": steps, **speed_rounds(cases, rounds, command_of, contenders)}
    write_json(summary, out)
    return summary


def main() -> None:
    parser = speed_arguments(__doc__, list(ENVS), rounds=3, out="sac_speed.json")
    parser.add_argument("--steps", type=int, default=5_000)
    parser.add_argument("--bfloat16", action="store_true", help="also run agentpipe with --precision=bfloat16")
    parser.add_argument("--precision", choices=("float32", "bfloat16"), default="float32", help="(worker only)")
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(agentpipe(args.worker, args.steps, args.precision)))
        return
    run_suite(args.cases, args.rounds, args.steps, args.out, args.bfloat16)


if __name__ == "__main__":
    main()
