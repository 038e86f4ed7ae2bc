"""Train TD3: `python -m launchers.td3 --env=gym:Pendulum-v1` (every flag has a default; see --helpfull)."""

from launchers import cli

cli.define_flags("td3", env="gym:Pendulum-v1")

if __name__ == "__main__":
    cli.run("td3")
