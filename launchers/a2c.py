"""Train A2C: `python -m launchers.a2c --env=gym:CartPole-v1 --num_envs=8` (see --helpfull)."""

from launchers import cli

cli.define_flags("a2c")

if __name__ == "__main__":
    cli.run("a2c")
