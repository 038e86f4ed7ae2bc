"""Peer benchmark: stable-baselines3 DQN on gymnasium CartPole-v1.

Run with the peers venv (see setup_venv.sh), never the project venv:

    benchmarks/.venv-peers/bin/python benchmarks/peers/sb3_dqn_cartpole.py --seed 0

Hyperparameters are RL-Zoo's CartPole-v1 entry in hyperparams/dqn.yml
(DLR-RM/rl-baselines3-zoo, "# Almost Tuned", n_timesteps 5e4).

Every ``--eval_every`` env steps a callback runs ``--eval_episodes`` greedy
(deterministic=True) episodes on a separate CartPole-v1 env, seeded once with
seed+1000 at its first reset (later resets continue that RNG stream), and
records the mean return. Training stops as soon as the mean reaches
``--target``. Training seconds exclude the time spent evaluating.

stdout carries exactly one JSON line:
    {"library", "version", "seed", "reached", "steps_to_target",
     "seconds_to_target", "evals": [[env_steps, mean_return, train_seconds], ...],
     "total_train_seconds"}
Everything else (SB3/gymnasium/torch output, warnings) goes to stderr.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

# RL-Zoo hyperparams/dqn.yml, CartPole-v1 (n_timesteps: 5e4).
ZOO_CARTPOLE_DQN = dict(
    learning_rate=2.3e-3,
    batch_size=64,
    buffer_size=100_000,
    learning_starts=1000,
    gamma=0.99,
    target_update_interval=10,
    train_freq=256,
    gradient_steps=128,
    exploration_fraction=0.16,
    exploration_final_eps=0.04,
    policy_kwargs=dict(net_arch=[256, 256]),
)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max_steps", type=int, default=50_000)
    p.add_argument("--eval_every", type=int, default=2000, help="env steps between evaluations")
    p.add_argument("--eval_episodes", type=int, default=10)
    p.add_argument("--target", type=float, default=475.0)
    p.add_argument("--threads", type=int, default=1, help="torch.set_num_threads")
    return p.parse_args(argv)


def run(args) -> dict:
    import gymnasium as gym
    import numpy as np
    import stable_baselines3 as sb3
    import torch
    from stable_baselines3 import DQN
    from stable_baselines3.common.callbacks import BaseCallback

    torch.set_num_threads(args.threads)

    class GreedyEvalCallback(BaseCallback):
        def __init__(self):
            super().__init__(verbose=0)
            self.eval_env = gym.make("CartPole-v1")
            self._eval_seed = args.seed + 1000
            self.eval_seconds = 0.0  # accumulated wall time spent evaluating
            self.t0: float | None = None
            self.evals: list[list] = []
            self.reached = False
            self.steps_to_target: int | None = None
            self.seconds_to_target: float | None = None

        def train_seconds(self) -> float:
            return time.perf_counter() - self.t0 - self.eval_seconds

        def _evaluate(self) -> float:
            returns = []
            for _ in range(args.eval_episodes):
                obs, _ = self.eval_env.reset(seed=self._eval_seed)
                self._eval_seed = None  # seed only the very first reset
                done, total = False, 0.0
                while not done:
                    action, _ = self.model.predict(obs, deterministic=True)
                    obs, reward, terminated, truncated, _ = self.eval_env.step(int(action))
                    total += float(reward)
                    done = terminated or truncated
                returns.append(total)
            return float(np.mean(returns))

        def _on_step(self) -> bool:
            if self.num_timesteps % args.eval_every != 0:
                return True
            train_s = self.train_seconds()
            e0 = time.perf_counter()
            mean_ret = self._evaluate()
            self.eval_seconds += time.perf_counter() - e0
            self.evals.append([int(self.num_timesteps), mean_ret, round(train_s, 4)])
            print(f"[sb3] step={self.num_timesteps} mean_return={mean_ret:.1f} "
                  f"train_s={train_s:.2f}", file=sys.stderr, flush=True)
            if mean_ret >= args.target:
                self.reached = True
                self.steps_to_target = int(self.num_timesteps)
                self.seconds_to_target = round(train_s, 4)
                return False  # stop training
            return True

    env = gym.make("CartPole-v1")
    model = DQN("MlpPolicy", env, seed=args.seed, verbose=0, device="cpu", **ZOO_CARTPOLE_DQN)
    cb = GreedyEvalCallback()
    cb.t0 = time.perf_counter()
    model.learn(total_timesteps=args.max_steps, callback=cb)
    total_train = cb.train_seconds()
    env.close()
    cb.eval_env.close()

    return {
        "library": "stable-baselines3",
        "version": sb3.__version__,
        "seed": args.seed,
        "reached": cb.reached,
        "steps_to_target": cb.steps_to_target,
        "seconds_to_target": cb.seconds_to_target,
        "evals": cb.evals,
        "total_train_seconds": round(total_train, 4),
    }


def main(argv=None) -> int:
    args = parse_args(argv)
    # Route everything (including C-level writes) to stderr while training, so
    # stdout carries only the final JSON line.
    sys.stdout.flush()
    real_stdout_fd = os.dup(1)
    os.dup2(2, 1)
    try:
        result = run(args)
    finally:
        sys.stdout.flush()
        os.dup2(real_stdout_fd, 1)
        os.close(real_stdout_fd)
    sys.stdout.write(json.dumps(result) + "\n")
    sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
