"""Named, documented sets of declaration values: `--preset=<name>` (flags given beside it still win).

A preset fills in agent config fields, runner settings and environment options
for a known setting (a paper's or a seed's). It says which environments it is
for, so `--preset=nature --env=gym:CartPole-v1` fails before anything is built.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping


@dataclasses.dataclass(frozen=True)
class Preset:
    """A named bundle of declaration values for one agent."""

    description: str
    agent_config: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    declaration: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    env_prefix: str | None = None  # e.g. 'atari:' when the preset only fits Atari games.
    env_example: str = "atari:Breakout"  # Shown when the environment does not fit.


# environments.atari.AtariConfig.seed001()'s frames (kept literal: ale-py is an optional extra).
_SEED001_FRAMES = {"crop": (32, 14, 8, 8), "screen_size": 64}
_ATARI_EVAL = {"eval_episodes": 10, "eval_every": 250_000, "num_envs": 1}
# PPO on small grids (MinAtar, MiniGrid): 16 lanes x 128 steps (with num_envs=16), 4 x 8 minibatches, shared torso.
_PPO_GRIDS = dict(rollout_length=128, num_epochs=4, num_minibatches=8, clip_range=0.2, discount=0.99,
                  gae_lambda=0.95, value_coef=0.5, entropy_coef=0.01, max_grad_norm=0.5, shared_torso=True)
# The on-policy agents' Atari runs: 8 lanes, 10M agent steps (40M frames), evaluated every 250k.
_ON_POLICY_ATARI = {"num_envs": 8, "num_steps": 10_000_000, "eval_every": 250_000, "eval_episodes": 10}

PRESETS: dict[str, dict[str, Preset]] = {
    "dqn": {
        "nature": Preset(
            "Nature DQN (Mnih et al. 2015): replay 1M (frames stored once), batch 32, one update per 4 agent "
            "steps, target copy every 2,500 updates (10k agent steps), epsilon 1 -> 0.1 over 1M steps, "
            "50k steps before learning, Huber loss, no Double; Adam 2.5e-4 (eps 0.01/32) in place of RMSProp.",
            agent_config=dict(learning_rate=2.5e-4, adam_eps=0.01 / 32, discount=0.99, n_step=1, batch_size=32,
                              replay_capacity=1_000_000, min_replay_size=50_000, samples_per_insert=8.0,
                              target_update_period=2_500, target_update_tau=1.0, epsilon_start=1.0,
                              epsilon_end=0.1, epsilon_decay_steps=1_000_000, eval_epsilon=0.05, loss="huber",
                              double_q=False, dueling=False, max_grad_norm=None, hidden_sizes=(512,)),
            declaration=dict(num_steps=50_000_000, **_ATARI_EVAL),
            env_prefix="atari:",
        ),
        "seed001": Preset(
            "Seed 001's Breakout DQN: 64x64 crop, replay 10^5 (learning from 10^4), Adam 1e-4, batch 16, one "
            "update per agent step, target copy every 5,000 updates, epsilon 1 -> 0.1 over 10^6 steps, "
            "grad-norm clip 50, squared TD error, Double DQN; evaluation on whole games, unclipped (raw score).",
            agent_config=dict(learning_rate=1e-4, discount=0.99, n_step=1, batch_size=16, replay_capacity=100_000,
                              min_replay_size=10_000, samples_per_insert=16.0, target_update_period=5_000,
                              target_update_tau=1.0, epsilon_start=1.0, epsilon_end=0.1,
                              epsilon_decay_steps=1_000_000, eval_epsilon=0.0, loss="mse", double_q=True,
                              dueling=False, max_grad_norm=50.0, hidden_sizes=(512,)),
            declaration=dict(num_steps=3_000_000, eval_every=50_000, eval_episodes=30, num_envs=1,
                             env_options=dict(_SEED001_FRAMES)),
            env_prefix="atari:",
        ),
        "breakout15": Preset(
            "An attempt at seed 001's bar (Breakout >= 15, whole games, greedy; not reached yet: 7.0 at best "
            "within 800k steps on seed 0, benchmarks/RESULTS.md): seed 001's 64x64 crop (half the Nature "
            "CNN's cost of 84x84), Double and Dueling heads, 3-step returns, prioritized "
            "replay (alpha 0.5, beta 0.4 -> 1 over 1.5M agent steps), Adam 1e-4 (eps 1.5e-4), batch 32, one "
            "update per 4 agent steps, target copy every 2,000 updates (8k agent steps), epsilon 1 -> 0.01 "
            "over 250k agent steps, 20k agent steps before learning, Huber loss, grad-norm clip 10, replay "
            "500k; 1.5M agent steps, 30 greedy whole games every 100k.",
            agent_config=dict(learning_rate=1e-4, adam_eps=1.5e-4, discount=0.99, n_step=3, batch_size=32,
                              replay_capacity=500_000, min_replay_size=20_000, samples_per_insert=8.0,
                              target_update_period=2_000, target_update_tau=1.0, epsilon_start=1.0,
                              epsilon_end=0.01, epsilon_decay_steps=250_000, eval_epsilon=0.0, loss="huber",
                              double_q=True, dueling=True, max_grad_norm=10.0, hidden_sizes=(512,),
                              prioritized=True, priority_exponent=0.5, importance_sampling_exponent=0.4,
                              importance_sampling_anneal_steps=1_500_000 // 4),
            declaration=dict(num_steps=1_500_000, eval_every=100_000, eval_episodes=30, eval_max_steps=10_000,
                             num_envs=1, env_options=dict(_SEED001_FRAMES)),
            env_prefix="atari:",
        ),
        "rainbow": Preset(
            "Rainbow without noisy nets (Hessel et al. 2018): C51 (51 atoms in [-10, 10]), Dueling, Double, "
            "3-step returns, prioritized replay (alpha 0.5, beta 0.4 -> 1), Adam 6.25e-5 (eps 1.5e-4), "
            "batch 32, one update per 4 agent steps, target copy every 8,000 agent steps, epsilon 1 -> 0.01 "
            "over 250k agent steps, 20k agent steps (80k frames) before learning.",
            agent_config=dict(learning_rate=6.25e-5, adam_eps=1.5e-4, discount=0.99, n_step=3, batch_size=32,
                              replay_capacity=1_000_000, min_replay_size=20_000, samples_per_insert=8.0,
                              target_update_period=2_000, target_update_tau=1.0, epsilon_start=1.0,
                              epsilon_end=0.01, epsilon_decay_steps=250_000, eval_epsilon=0.001,
                              double_q=True, dueling=True, max_grad_norm=10.0, hidden_sizes=(512,),
                              prioritized=True, priority_exponent=0.5, importance_sampling_exponent=0.4,
                              importance_sampling_anneal_steps=12_500_000, num_atoms=51, v_min=-10.0, v_max=10.0),
            declaration=dict(num_steps=50_000_000, **_ATARI_EVAL),
            env_prefix="atari:",
        ),
        "minatar": Preset(
            "MinAtar's DQN (Young & Tian 2019): replay 100k (learning from 5k), batch 32, one update per agent "
            "step, target copy every 1,000 updates, epsilon 1 -> 0.1 over 100k steps, Huber loss, no Double, "
            "no gradient clip, a 3x3 conv torso then 128 units; Adam 2.5e-4 (eps 0.01/32) in place of RMSProp. "
            "1M agent steps (the paper runs 5M).",
            agent_config=dict(learning_rate=2.5e-4, adam_eps=0.01 / 32, discount=0.99, n_step=1, batch_size=32,
                              replay_capacity=100_000, min_replay_size=5_000, samples_per_insert=32.0,
                              target_update_period=1_000, target_update_tau=1.0, epsilon_start=1.0,
                              epsilon_end=0.1, epsilon_decay_steps=100_000, eval_epsilon=0.0, loss="huber",
                              double_q=False, dueling=False, max_grad_norm=None, hidden_sizes=(128,)),
            declaration=dict(num_steps=1_000_000, eval_every=50_000, eval_episodes=10, num_envs=1),
            env_prefix="minatar:", env_example="minatar:breakout",
        ),
    },
    "a2c": {
        "seed000": Preset(
            "Seed 000's A2C on Atari (SpaceInvaders in the seed): 8 lanes x 5-step rollouts, shared Nature-CNN "
            "torso with policy and value heads, RMSProp 7e-4 (alpha 0.99, eps 1e-5) decayed linearly to 0 "
            "over the run, value coef 0.25, entropy 0.01, grad-norm clip 0.5, gamma 0.99, 10M agent steps. "
            "RMSProp is TensorFlow's (optimizer=rmsprop_tf: eps inside the square root, the squared average "
            "starting at 1), the one baselines' A2C and RL-Zoo use and these numbers were tuned for.",
            agent_config=dict(learning_rate=7e-4, learning_rate_decay_steps=10_000_000 // 40, optimizer="rmsprop_tf",
                              optimizer_eps=1e-5, rmsprop_alpha=0.99, discount=0.99, rollout_length=5,
                              gae_lambda=1.0, value_coef=0.25, entropy_coef=0.01, max_grad_norm=0.5,
                              hidden_sizes=(512,), shared_torso=True),
            declaration=_ON_POLICY_ATARI,
            env_prefix="atari:",
        ),
        "seed002": Preset(
            "Seed 002's A2C with a Gaussian policy on Pendulum: one lane, one-step updates, gamma 0.9, entropy "
            "0.01, separate 128-unit ReLU actor and critic, mean 2 tanh(.) and std exp(softplus(.)) >= 1 "
            "(starting at 2), samples clipped to the bounds, Adam 1e-4 for the actor and 1e-3 for the critic, "
            "Huber value loss, no gradient clipping, 100k steps. Differs from the seed in: the analytic entropy "
            "(the seed uses -log pi of the sample), orthogonal init (the seed draws the heads from +-3e-3), one "
            "Adam with two parameter groups, and bootstrapping at the 200-step time limit.",
            agent_config=dict(learning_rate=1e-4, critic_learning_rate=1e-3, optimizer="adam", optimizer_eps=1e-8,
                              discount=0.9, rollout_length=1, gae_lambda=1.0, value_coef=1.0, value_loss="huber",
                              entropy_coef=0.01, max_grad_norm=None, hidden_sizes=(128,), shared_torso=False,
                              activation="relu", log_std="softplus", squash="tanh_mean"),
            declaration=dict(num_envs=1, num_steps=100_000, eval_every=10_000, eval_episodes=5),
            env_prefix="gym:Pendulum", env_example="gym:Pendulum-v1",
        ),
        "atari": Preset(
            "A2C's usual Atari settings: as seed000 (8 x 5 rollouts, TensorFlow-style RMSProp 7e-4 decayed, "
            "entropy 0.01, grad norm 0.5) with value coef 0.5.",
            agent_config=dict(learning_rate=7e-4, learning_rate_decay_steps=10_000_000 // 40, optimizer="rmsprop_tf",
                              optimizer_eps=1e-5, rollout_length=5, value_coef=0.5, entropy_coef=0.01,
                              max_grad_norm=0.5, hidden_sizes=(512,), shared_torso=True),
            declaration=_ON_POLICY_ATARI,
            env_prefix="atari:",
        ),
        "classic": Preset(
            "A2C for classic control (CartPole and friends): SB3's A2C defaults on 8 lanes: 5-step rollouts, "
            "separate 64x64 tanh actor and critic, RMSProp 7e-4, value coef 0.5, no entropy bonus, grad norm "
            "0.5, 200k steps.",
            agent_config=dict(learning_rate=7e-4, optimizer="rmsprop", optimizer_eps=1e-5, rollout_length=5,
                              value_coef=0.5, entropy_coef=0.0, max_grad_norm=0.5, hidden_sizes=(64, 64),
                              shared_torso=False, activation="tanh"),
            declaration=dict(num_envs=8, num_steps=200_000, eval_every=10_000, eval_episodes=10),
        ),
    },
    "ppo": {
        "seed003": Preset(
            "Seed 003's PPO on Breakout: 8 lanes x 128 steps, GAE gamma 0.99 lambda 0.95, 4 epochs x 4 "
            "minibatches, Adam 2.5e-4 and clip range 0.1 both annealed linearly to 0, clipped value loss, "
            "value coef 0.5, entropy 0.01, grad norm 0.5, shared Nature-CNN torso, 10M agent steps.",
            agent_config=dict(learning_rate=2.5e-4, learning_rate_decay_steps=10_000_000 // 1024, optimizer="adam",
                              optimizer_eps=1e-5, discount=0.99, gae_lambda=0.95, rollout_length=128,
                              num_epochs=4, num_minibatches=4, clip_range=0.1, clip_value_loss=True,
                              value_coef=0.5, entropy_coef=0.01, max_grad_norm=0.5, normalize_advantages=True,
                              hidden_sizes=(512,), shared_torso=True),
            declaration=_ON_POLICY_ATARI,
            env_prefix="atari:",
        ),
        "atari": Preset(
            "PPO's usual Atari settings (as seed003): 8 x 128 rollouts, 4 x 4 minibatch epochs, lr 2.5e-4 "
            "and clip 0.1 annealed, entropy 0.01.",
            agent_config=dict(learning_rate=2.5e-4, learning_rate_decay_steps=10_000_000 // 1024,
                              rollout_length=128, num_epochs=4, num_minibatches=4, clip_range=0.1,
                              value_coef=0.5, entropy_coef=0.01, max_grad_norm=0.5, hidden_sizes=(512,),
                              shared_torso=True),
            declaration=_ON_POLICY_ATARI,
            env_prefix="atari:",
        ),
        "classic": Preset(
            "PPO for classic control, RL-Zoo's CartPole-v1 settings: 8 lanes x 32 steps, GAE gamma 0.98 "
            "lambda 0.8, 20 epochs of one 256-step minibatch, Adam 1e-3 and clip 0.2 annealed over 100k "
            "steps, no entropy bonus, separate 64x64 tanh actor and critic.",
            agent_config=dict(learning_rate=1e-3, learning_rate_decay_steps=100_000 // 256, rollout_length=32,
                              num_epochs=20, num_minibatches=1, clip_range=0.2, discount=0.98, gae_lambda=0.8,
                              value_coef=0.5, entropy_coef=0.0, max_grad_norm=0.5, hidden_sizes=(64, 64),
                              shared_torso=False, activation="tanh"),
            declaration=dict(num_envs=8, num_steps=100_000, eval_every=10_000, eval_episodes=10),
        ),
        "memory": Preset(
            "PPO with an LSTM for partially observed classic control (gym:CartPoleNoVel-v1), RL-Zoo's "
            "RecurrentPPO settings: 8 lanes x 32 steps, GAE gamma 0.98 lambda 0.95 (RL-Zoo: 0.8; 0.95 reached "
            "500 on seeds 0-2, 0.8 missed on seed 1), 20 epochs of one minibatch of whole rollouts, Adam 1e-3 "
            "and clip 0.2 annealed over 100k steps, no entropy bonus, unclipped value loss, normalised "
            "observations; the actor and the critic each an LSTM of 64 on the observation, then 64 ReLU units.",
            agent_config=dict(learning_rate=1e-3, learning_rate_decay_steps=100_000 // 256, rollout_length=32,
                              num_epochs=20, num_minibatches=1, clip_range=0.2, clip_value_loss=False,
                              discount=0.98, gae_lambda=0.95, value_coef=0.5, entropy_coef=0.0, max_grad_norm=0.5,
                              normalize_observations=True, core="lstm", core_size=64, hidden_sizes=(),
                              after_core_sizes=(64,), shared_torso=False, activation="relu"),
            declaration=dict(num_envs=8, num_steps=100_000, eval_every=10_000, eval_episodes=10),
        ),
        "memory_pendulum": Preset(
            "PPO with an LSTM for gym:PendulumNoVel-v1 (Pendulum without its angular velocity): 8 lanes x "
            "512 steps cut into 64-step chunks, 10 epochs x 32 minibatches of 2 chunks, GAE gamma 0.9 "
            "lambda 0.95, constant Adam 1e-3, clip 0.2, unclipped value loss, no gradient clip, no entropy "
            "bonus, normalised observations; actor and critic each an LSTM of 64 on the observation, then "
            "64 ReLU units; a state-independent std, samples clipped to the bounds. Best greedy return within 200k: "
            "-118 / -190 / -162 on seeds 0 / 1 / 2 (benchmarks/RESULTS.md).",
            agent_config=dict(learning_rate=1e-3, learning_rate_decay_steps=0, rollout_length=512,
                              sequence_chunk=64, num_epochs=10, num_minibatches=32, clip_range=0.2,
                              clip_value_loss=False, discount=0.9, gae_lambda=0.95, value_coef=0.5,
                              entropy_coef=0.0, max_grad_norm=None, normalize_observations=True, core="lstm",
                              core_size=64, hidden_sizes=(), after_core_sizes=(64,), shared_torso=False,
                              activation="relu"),
            declaration=dict(num_envs=8, num_steps=200_000, eval_every=10_000, eval_episodes=10),
            env_prefix="gym:Pendulum", env_example="gym:PendulumNoVel-v1",
        ),
        "pendulum": Preset(
            "PPO with a Gaussian policy for Pendulum (and similar small continuous tasks): 4 lanes x 256 "
            "steps, GAE gamma 0.9 lambda 0.95, 10 epochs x 16 minibatches, Adam 1e-3 and clip 0.2 annealed "
            "over 200k steps, no entropy bonus, separate 64x64 tanh actor and critic, state-independent "
            "std, samples clipped to the bounds. The value loss is not clipped and gradients are not "
            "clipped: Pendulum's values run to the hundreds, and a value clip of 0.2 with a grad-norm clip "
            "of 0.5 held the critic back (one seed of three missed -200 within 200k with them).",
            agent_config=dict(learning_rate=1e-3, learning_rate_decay_steps=200_000 // 1024, rollout_length=256,
                              num_epochs=10, num_minibatches=16, clip_range=0.2, clip_value_loss=False,
                              discount=0.9, gae_lambda=0.95, value_coef=0.5, entropy_coef=0.0, max_grad_norm=None,
                              hidden_sizes=(64, 64), shared_torso=False, activation="tanh"),
            declaration=dict(num_envs=4, num_steps=200_000, eval_every=10_000, eval_episodes=10),
            env_prefix="gym:Pendulum", env_example="gym:Pendulum-v1",
        ),
        "minatar": Preset(
            "PPO for MinAtar games (minatar:breakout, ...): 16 lanes x 128 steps, GAE gamma 0.99 lambda 0.95, "
            "4 epochs x 8 minibatches, Adam 5e-4 and clip 0.2 annealed over 1M steps, entropy 0.01, value "
            "coef 0.5, grad norm 0.5, one shared torso (the small conv torso, then 128 units), 1M agent steps.",
            agent_config=dict(_PPO_GRIDS, learning_rate=5e-4, learning_rate_decay_steps=1_000_000 // 2048,
                              hidden_sizes=(128,)),
            declaration=dict(num_envs=16, num_steps=1_000_000, eval_every=50_000, eval_episodes=10),
            env_prefix="minatar:", env_example="minatar:breakout",
        ),
        "minigrid": Preset(
            "PPO for small MiniGrid tasks (gym:MiniGrid-DoorKey-5x5-v0, Empty-8x8): 16 lanes x 128 steps, "
            "GAE gamma 0.99 lambda 0.95, 4 epochs x 8 minibatches, Adam 1e-3 and clip 0.2 annealed over 200k "
            "steps, entropy 0.01, one shared torso (the image through the small conv torso, the direction "
            "one-hot) then 64 units.",
            agent_config=dict(_PPO_GRIDS, learning_rate=1e-3, learning_rate_decay_steps=200_000 // 2048,
                              hidden_sizes=(64,)),
            declaration=dict(num_envs=16, num_steps=200_000, eval_every=20_000, eval_episodes=20),
            env_prefix="gym:MiniGrid-", env_example="gym:MiniGrid-DoorKey-5x5-v0",
        ),
    },
    "reinforce": {
        "classic": Preset(
            "REINFORCE for classic control (seed 004's CartPole): Adam 1e-2, returns standardised per update, "
            "one episode per lane per update, 8 lanes, no baseline, 64 tanh units.",
            agent_config=dict(learning_rate=1e-2, normalize_returns=True, baseline=False, entropy_coef=0.0,
                              hidden_sizes=(64,), activation="tanh"),
            declaration=dict(num_envs=8, num_steps=200_000, eval_every=10_000, eval_episodes=10),
        ),
    },
    "td3": {
        "ddpg": Preset(
            "DDPG (Lillicrap et al. 2016) in TD3's terms, as stable-baselines3 runs it: one critic, the policy "
            "and targets updated every step, no target policy smoothing; Gaussian exploration noise 0.1, "
            "Adam 1e-3, 400x300 networks, tau 0.005.",
            agent_config=dict(num_critics=1, policy_delay=1, target_noise=0.0),
        ),
    },
}


def get_preset(agent: str, name: str) -> Preset:
    """The preset, or an error listing the agent's presets."""
    known = PRESETS.get(agent, {})
    if name not in known:
        choices = ", ".join(sorted(known)) or "none"
        raise ValueError(f"Unknown preset {name!r} for {agent}; its presets: {choices}.")
    return known[name]


def preset_declaration(agent: str, name: str, env: str) -> dict[str, Any]:
    """The declaration values of preset `name` for `agent` on `env` (checked to fit)."""
    preset = get_preset(agent, name)
    if preset.env_prefix and not env.startswith(preset.env_prefix):
        raise ValueError(f"Preset {name!r} is for {preset.env_prefix}<...> environments, not {env!r}; "
                         f"e.g. --env={preset.env_example}.")
    return {**dict(preset.declaration), "agent_config": dict(preset.agent_config), "preset": name}


def describe_presets(agent: str) -> str:
    """One line per preset, for --help."""
    return " ".join(f"'{name}': {p.description}" for name, p in sorted(PRESETS.get(agent, {}).items()))
