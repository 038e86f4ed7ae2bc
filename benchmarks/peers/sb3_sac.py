"""stable-baselines3 SAC runs for the SAC speed benchmark (run in the peers venv).

Prints one JSON line: env steps/s over `learn()` (wall clock, and the CPU seconds of the process) and the
final deterministic return over 10 episodes.
"""

from __future__ import annotations

import argparse
import json
import time

import gymnasium as gym
import torch
from stable_baselines3 import SAC
from stable_baselines3.common.evaluation import evaluate_policy


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--env", required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    env = gym.make(args.env)
    # SB3's SAC defaults, spelled out: the benchmark's "identical settings".
    model = SAC("MlpPolicy", env, learning_rate=3e-4, buffer_size=1_000_000, learning_starts=100, batch_size=256,
                tau=0.005, gamma=0.99, train_freq=1, gradient_steps=1, ent_coef="auto",
                policy_kwargs=dict(net_arch=[256, 256]), seed=args.seed, device="cpu")
    started, cpu_started = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=args.steps)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    mean_return, _ = evaluate_policy(model, gym.make(args.env), n_eval_episodes=10, deterministic=True)
    print(json.dumps({"contender": "sb3", "env": args.env, "steps": model.num_timesteps, "seconds": round(seconds, 2),
                      "steps_per_second": model.num_timesteps / seconds, "cpu_seconds": round(cpu_seconds, 2),
                      "final_return": float(mean_return)}))


if __name__ == "__main__":
    main()
