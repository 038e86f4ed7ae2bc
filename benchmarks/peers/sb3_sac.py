"""stable-baselines3 SAC runs for the SAC benchmarks (run in the peers venv).

Speed (default): prints one JSON line: env steps/s over `learn()` (wall clock, and the CPU seconds of the
process) and the final deterministic return over 10 episodes.

Curve (`--eval_every N --run_dir DIR`): also evaluates the deterministic policy over 10 episodes every N env
steps and writes DIR/eval.csv, DIR/train.csv and DIR/config.json with the columns agentpipe's run folders use,
so `python -m launchers.plot OUR_RUN DIR` draws both curves in one figure.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import time

import gymnasium as gym
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.evaluation import evaluate_policy

SETTINGS = dict(learning_rate=3e-4, buffer_size=1_000_000, learning_starts=100, batch_size=256, tau=0.005,
                gamma=0.99, train_freq=1, gradient_steps=1, ent_coef="auto")  # SB3's SAC defaults, spelled out.


class CurveLogger(BaseCallback):
    """Writes training-episode returns and every `eval_every` steps a deterministic evaluation, as CSV rows."""

    def __init__(self, env_id: str, eval_every: int, run_dir: str, seed: int) -> None:
        super().__init__()
        self.eval_env, self.eval_every, self.run_dir = gym.make(env_id), eval_every, run_dir
        self.eval_env.reset(seed=seed + 10_000)
        self.started, self.eval_seconds, self.episodes = time.perf_counter(), 0.0, 0

    def _write(self, name: str, row: dict) -> None:
        path = os.path.join(self.run_dir, name)
        new = not os.path.exists(path)
        with open(path, "a", newline="") as f:
            writer = csv.DictWriter(f, fieldnames=list(row))
            if new:
                writer.writeheader()
            writer.writerow(row)

    def _on_step(self) -> bool:
        for info in self.locals.get("infos", []):
            if "episode" in info:
                self.episodes += 1
                self._write("train.csv", {"actor_steps": self.num_timesteps, "actor_episodes": self.episodes,
                                          "episode_return": float(info["episode"]["r"])})
        if self.num_timesteps % self.eval_every == 0:
            eval_started = time.perf_counter()
            returns, _ = evaluate_policy(self.model, self.eval_env, n_eval_episodes=10, deterministic=True,
                                         return_episode_rewards=True)
            self.eval_seconds += time.perf_counter() - eval_started
            train_seconds = time.perf_counter() - self.started - self.eval_seconds
            self._write("eval.csv", {"actor_steps": self.num_timesteps, "train_seconds": train_seconds,
                                     "eval_return_mean": float(sum(returns) / len(returns)),
                                     "eval_return_min": float(min(returns)), "eval_return_max": float(max(returns)),
                                     "eval_return_count": len(returns)})
        return True


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--eval_every", type=int, default=0, help="curve mode: evaluate every N env steps")
    parser.add_argument("--run_dir", help="curve mode: folder for eval.csv, train.csv and config.json (must be new)")
    parser.add_argument("--torch_threads", type=int, default=1)
    args = parser.parse_args()
    torch.set_num_threads(args.torch_threads)
    env = gym.make(args.env)
    model = SAC("MlpPolicy", env, **SETTINGS, policy_kwargs=dict(net_arch=[256, 256]), seed=args.seed, device="cpu")
    callback = None
    if args.eval_every:
        if not args.run_dir:
            parser.error("--eval_every needs --run_dir")
        if os.path.exists(args.run_dir):
            parser.error(f"--run_dir {args.run_dir!r} exists; pass a new folder (its CSVs would be appended to)")
        os.makedirs(args.run_dir)
        with open(os.path.join(args.run_dir, "config.json"), "w") as f:
            json.dump({"agent": "sb3-sac", "env": f"gym:{args.env}", "num_steps": args.steps, "seed": args.seed,
                       "eval_every": args.eval_every, "eval_episodes": 10, "agent_config": SETTINGS,
                       "hidden_sizes": [256, 256], "run_dir": args.run_dir}, f, indent=2)
        callback = CurveLogger(args.env, args.eval_every, args.run_dir, args.seed)
    started, cpu_started = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=args.steps, callback=callback)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    if callback is not None:
        seconds -= callback.eval_seconds
    mean_return, _ = evaluate_policy(model, gym.make(args.env), n_eval_episodes=10, deterministic=True)
    result = {"contender": "sb3", "env": args.env, "steps": model.num_timesteps, "seconds": round(seconds, 2),
              "steps_per_second": model.num_timesteps / seconds, "cpu_seconds": round(cpu_seconds, 2),
              "final_return": float(mean_return)}
    if args.run_dir:
        with open(os.path.join(args.run_dir, "summary.json"), "w") as f:
            json.dump(result, f, indent=2)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
