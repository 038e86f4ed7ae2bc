"""Train R2D2: `python -m launchers.r2d2` (every flag has a default: CartPoleNoVel-v1 for 300k steps; see --helpfull)."""

from launchers import cli

cli.define_flags("r2d2", env="gym:CartPoleNoVel-v1", num_steps=300_000)

if __name__ == "__main__":
    cli.run("r2d2")
