"""Train SAC: `python -m launchers.sac --env=gym:Pendulum-v1` (every flag has a default; see --helpfull)."""

from launchers import cli

cli.define_flags("sac", env="gym:Pendulum-v1")

if __name__ == "__main__":
    cli.run("sac")
