"""Train DQN: `python -m launchers.dqn --env=gym:CartPole-v1` (every flag has a default; see --helpfull)."""

from launchers import cli

cli.define_flags("dqn")

if __name__ == "__main__":
    cli.run("dqn")
