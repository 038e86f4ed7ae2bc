"""Train NFQ: `python -m launchers.nfq --env=gridworld:simple --observation_type=agent_goal_pos`."""

from launchers import cli

cli.define_flags("nfq", num_steps=20_000)

if __name__ == "__main__":
    cli.run("nfq")
