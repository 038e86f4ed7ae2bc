"""Policy-gradient speed, side by side with stable-baselines3: env steps/s at equal settings.

Cases (one torch thread each, CPU):
  ppo_cartpole  SB3's PPO defaults on CartPole-v1: one env, 2048-step rollouts, 10 epochs of
                minibatches of 64, Adam 3e-4, GAE 0.99/0.95, clip 0.2, [64, 64] actor and critic.
  a2c_cartpole  SB3's A2C defaults on 8 CartPole-v1 envs: 5-step rollouts, RMSProp 7e-4
                (alpha 0.99, eps 1e-5), value coef 0.5, no entropy, grad norm 0.5.
  lstm_ppo_cartpolenovel  PPO with LSTM actor and critic on CartPoleNoVel-v1 against sb3-contrib's
                RecurrentPPO: RL-Zoo's settings (the 'memory' preset): 8 x 32 rollouts, 20 epochs of one
                minibatch, LSTM 64 then 64 ReLU units, normalised observations.
  ppo_breakout  seed 003's PPO on Breakout: 8 lanes x 128 steps, 4 epochs x 4 minibatches,
                Adam 2.5e-4, clip 0.1, entropy 0.01 (a short run: speed only).
Each contender runs in its own process; the final deterministic return is printed beside the speed
(equal settings should give comparable returns; speed is what is compared). Ratios are given twice:
wall-clock env steps/s, and env steps per CPU second of the training process, which is steadier on
a shared machine (time a neighbour holds the core counts in the first, not the second).

    .venv/bin/python -m benchmarks.pg_speed [--cases ppo_cartpole a2c_cartpole ppo_breakout] [--rounds 1]
"""

from __future__ import annotations

import json
import os
import sys
import tempfile

from benchmarks.common import HERE, PEERS_PYTHON, speed_arguments, speed_rounds, write_json
STEPS = {"ppo_cartpole": 49_152, "a2c_cartpole": 100_000, "ppo_breakout": 8_192, "lstm_ppo_cartpolenovel": 32_768}

OURS = {
    "ppo_cartpole": dict(agent="ppo", env="gym:CartPole-v1", num_envs=1, agent_config=dict(
        rollout_length=2048, num_epochs=10, num_minibatches=32, learning_rate=3e-4, discount=0.99, gae_lambda=0.95,
        clip_range=0.2, clip_value_loss=False, value_coef=0.5, entropy_coef=0.0, max_grad_norm=0.5,
        hidden_sizes=(64, 64), shared_torso=False, activation="tanh")),
    "a2c_cartpole": dict(agent="a2c", env="gym:CartPole-v1", num_envs=8, agent_config=dict(
        rollout_length=5, learning_rate=7e-4, optimizer="rmsprop", optimizer_eps=1e-5, rmsprop_alpha=0.99,
        discount=0.99, gae_lambda=1.0, value_coef=0.5, entropy_coef=0.0, max_grad_norm=0.5, hidden_sizes=(64, 64),
        shared_torso=False, activation="tanh")),
}


def agentpipe(case: str, steps: int) -> dict:
    from launchers.experiment import experiment_from_declaration
    from launchers.local import run_local
    from launchers.presets import preset_declaration

    if case == "ppo_breakout":
        declaration = {**preset_declaration("ppo", "seed003", "atari:Breakout"), "agent": "ppo",
                       "env": "atari:Breakout", "eval_episodes": 2}
    elif case == "lstm_ppo_cartpolenovel":
        declaration = {**preset_declaration("ppo", "memory", "gym:CartPoleNoVel-v1"), "agent": "ppo",
                       "env": "gym:CartPoleNoVel-v1", "eval_episodes": 10}
    else:
        declaration = {**OURS[case], "eval_episodes": 10}
    with tempfile.TemporaryDirectory() as run_dir:
        declaration.update(num_steps=steps, eval_every=0, torch_threads=1, log_interval=1e9, device="cpu", seed=0,
                           run_dir=run_dir)
        summary = run_local(experiment_from_declaration(declaration))
    return {"contender": "agentpipe", "case": case, "steps": summary["actor_steps"],
            "seconds": summary["train_seconds"], "steps_per_second": summary["actor_steps"] / summary["train_seconds"],
            "cpu_seconds": summary["train_cpu_seconds"],
            "final_return": summary["final_eval_return"]}


def run_suite(cases: list[str], rounds: int = 1, out: str | None = None) -> dict:
    def command_of(case: str, who: str) -> list[str]:
        if who == "sb3":
            return [PEERS_PYTHON, os.path.join(HERE, "peers", "sb3_pg.py"), "--case", case, "--steps", str(STEPS[case])]
        return [sys.executable, os.path.join(HERE, "pg_speed.py"), "--worker", case]

    summary = {"benchmark": "pg_speed", **speed_rounds(cases, rounds, command_of)}
    write_json(summary, out)
    return summary


def main() -> None:
    args = speed_arguments(__doc__, list(STEPS), rounds=1, out="pg_speed.json").parse_args()
    if args.worker:
        print(json.dumps(agentpipe(args.worker, STEPS[args.worker])))
        return
    run_suite(args.cases, args.rounds, args.out)


if __name__ == "__main__":
    main()
