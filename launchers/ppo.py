"""Train PPO: `python -m launchers.ppo --env=gym:CartPole-v1 --num_envs=8` (see --helpfull)."""

from launchers import cli

cli.define_flags("ppo")

if __name__ == "__main__":
    cli.run("ppo")
