"""Train REINFORCE: `python -m launchers.reinforce --env=gym:CartPole-v1` (see --helpfull)."""

from launchers import cli

cli.define_flags("reinforce")

if __name__ == "__main__":
    cli.run("reinforce")
