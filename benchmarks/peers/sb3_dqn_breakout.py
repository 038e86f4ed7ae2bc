"""stable-baselines3 DQN('CnnPolicy') on Breakout: env steps/s including learning (run in the peers venv).

SB3's standard Atari setup (make_atari_env: no-op starts, frame skip 4 with
max-pool, episodic life, FIRE reset, 84x84 grayscale, clipped rewards; then
VecFrameStack(4)), one environment, Nature hyperparameters: batch 32, one
gradient step every 4 env steps, target update every 10,000 env steps.
Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import time

import ale_py
import gymnasium as gym
import torch
from stable_baselines3 import DQN
from stable_baselines3.common.env_util import make_atari_env
from stable_baselines3.common.vec_env import VecFrameStack


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--steps", type=int, default=6_000)
    parser.add_argument("--learning_starts", type=int, default=1_000)
    parser.add_argument("--buffer", type=int, default=100_000)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    gym.register_envs(ale_py)
    env = VecFrameStack(make_atari_env("BreakoutNoFrameskip-v4", n_envs=1, seed=args.seed), n_stack=4)
    model = DQN("CnnPolicy", env, learning_rate=2.5e-4, buffer_size=args.buffer,
                learning_starts=args.learning_starts, batch_size=32, gamma=0.99, train_freq=4, gradient_steps=1,
                target_update_interval=10_000, exploration_fraction=1_000_000 / args.steps,
                exploration_initial_eps=1.0, exploration_final_eps=0.1,
                replay_buffer_kwargs={"handle_timeout_termination": False}, optimize_memory_usage=True,
                device="cpu", seed=args.seed, verbose=0)
    started = time.perf_counter()
    model.learn(total_timesteps=args.steps)
    seconds = time.perf_counter() - started
    print(json.dumps({"contender": "sb3", "steps": args.steps, "seconds": round(seconds, 2),
                      "steps_per_second": args.steps / seconds, "learner_steps": model._n_updates,
                      "threads": args.threads}))


if __name__ == "__main__":
    main()
