"""Train IMPALA: `python -m launchers.impala --env=gym:CartPole-v1 --launch=ray --num_actors=2` (see --helpfull)."""

from launchers import cli

cli.define_flags("impala")

if __name__ == "__main__":
    cli.run("impala")
