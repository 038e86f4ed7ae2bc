"""Environments speaking dm_env: gridworld, gymnasium (incl. MuJoCo), Atari on ale-py, dm_control.

Importing the package registers the partially observed gymnasium ids (`CartPoleNoVel-v1`, `PendulumNoVel-v1`).
"""

from environments.partially_observed import register_no_velocity_tasks

register_no_velocity_tasks()
