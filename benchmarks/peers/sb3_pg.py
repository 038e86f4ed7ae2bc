"""stable-baselines3 PPO/A2C (and sb3-contrib RecurrentPPO) runs for the policy-gradient speed benchmark
(run in the peers venv).

Prints one JSON line: env steps/s over `learn()` (wall clock, and the CPU seconds of the process) and the
final deterministic return over 10 episodes.
"""

from __future__ import annotations

import argparse
import json
import time

import ale_py
import gymnasium as gym
import torch
from stable_baselines3 import A2C, PPO
from stable_baselines3.common.env_util import make_atari_env, make_vec_env
from stable_baselines3.common.evaluation import evaluate_policy
from stable_baselines3.common.vec_env import VecFrameStack


class NoVelocity(gym.ObservationWrapper):
    """CartPole with its velocities zeroed (RL-Zoo's CartPoleNoVel-v1), the shape kept."""

    def observation(self, observation):
        observation = observation.copy()
        observation[[1, 3]] = 0.0
        return observation


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--case", choices=["ppo_cartpole", "a2c_cartpole", "ppo_breakout", "lstm_ppo_cartpolenovel"],
                        required=True)
    parser.add_argument("--steps", type=int, required=True)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    torch.set_num_threads(1)
    gym.register_envs(ale_py)
    if args.case == "ppo_cartpole":  # SB3's defaults: 2048 steps, 10 epochs, batch 64, one env.
        env = make_vec_env("CartPole-v1", n_envs=1, seed=args.seed)
        model = PPO("MlpPolicy", env, seed=args.seed, device="cpu")
    elif args.case == "a2c_cartpole":  # SB3's defaults (5 steps, RMSProp 7e-4) on 8 envs.
        env = make_vec_env("CartPole-v1", n_envs=8, seed=args.seed)
        model = A2C("MlpPolicy", env, seed=args.seed, device="cpu")
    elif args.case == "lstm_ppo_cartpolenovel":  # RL-Zoo's RecurrentPPO settings, as agentpipe's 'memory' preset.
        from sb3_contrib import RecurrentPPO
        from stable_baselines3.common.vec_env import VecNormalize
        env = VecNormalize(make_vec_env("CartPole-v1", n_envs=8, seed=args.seed, wrapper_class=NoVelocity),
                           norm_obs=True, norm_reward=False)
        model = RecurrentPPO("MlpLstmPolicy", env, n_steps=32, batch_size=256, n_epochs=20, gae_lambda=0.95,
                             gamma=0.98, learning_rate=lambda f: 1e-3 * f, clip_range=lambda f: 0.2 * f, ent_coef=0.0,
                             policy_kwargs=dict(ortho_init=False, activation_fn=torch.nn.ReLU, lstm_hidden_size=64,
                                                enable_critic_lstm=True, net_arch=dict(pi=[64], vf=[64])),
                             seed=args.seed, device="cpu")
    else:  # Seed 003's settings.
        env = VecFrameStack(make_atari_env("BreakoutNoFrameskip-v4", n_envs=8, seed=args.seed), n_stack=4)
        model = PPO("CnnPolicy", env, n_steps=128, n_epochs=4, batch_size=256, learning_rate=2.5e-4,
                    clip_range=0.1, ent_coef=0.01, vf_coef=0.5, gae_lambda=0.95, gamma=0.99, max_grad_norm=0.5,
                    seed=args.seed, device="cpu")
    started, cpu_started = time.perf_counter(), time.process_time()
    model.learn(total_timesteps=args.steps)
    seconds, cpu_seconds = time.perf_counter() - started, time.process_time() - cpu_started
    if args.case == "lstm_ppo_cartpolenovel":  # The training envs, their normaliser frozen.
        env.training = False
        eval_env = env
    else:
        eval_env = make_vec_env("CartPole-v1", n_envs=1, seed=args.seed + 1000) if "cartpole" in args.case else env
    mean_return, _ = evaluate_policy(model, eval_env, n_eval_episodes=10 if "cartpole" in args.case else 2,
                                     deterministic=True)
    print(json.dumps({"contender": "sb3", "case": args.case, "steps": model.num_timesteps,
                      "seconds": round(seconds, 2), "steps_per_second": model.num_timesteps / seconds,
                      "cpu_seconds": round(cpu_seconds, 2),
                      "final_return": float(mean_return)}))


if __name__ == "__main__":
    main()
