"""gym:MiniGrid-* gives a dict observation the default torso takes: a channels-first image and a direction."""

from __future__ import annotations

import numpy as np
from dm_env import specs

from environments.registry import make_batched_environment


def test_minigrid_observation_is_a_channels_first_image_and_a_direction_without_the_mission(capsys):
    env = make_batched_environment("gym:MiniGrid-DoorKey-5x5-v0", 2, seed=0)
    spec = env.observation_spec()
    assert sorted(spec) == ["direction", "image"]
    assert spec["image"].shape == (3, 7, 7) and spec["image"].dtype == np.uint8
    assert int(np.max(spec["image"].maximum)) == 10  # The largest object index: the torso scales by it.
    assert isinstance(spec["direction"], specs.DiscreteArray) and spec["direction"].num_values == 4
    timestep = env.reset()
    assert timestep.observation["image"].shape == (2, 3, 7, 7)
    for _ in range(20):
        timestep = env.step(np.zeros(2, env.action_spec().dtype))
    assert timestep.observation["image"].max() <= 10
    env.close()


def test_the_torso_scales_an_index_image_by_its_bound():
    from components.networks import Float, make_torso

    torso = make_torso({"image": specs.BoundedArray((3, 7, 7), np.uint8, 0, 10)}, (8,))
    scale = next(m for m in torso.modules() if isinstance(m, Float) and m.scale != 1.0).scale
    assert scale == 0.1
    pixels = make_torso(specs.BoundedArray((1, 8, 8), np.uint8, 0, 255), (8,))
    assert next(m for m in pixels.modules() if isinstance(m, Float)).scale == 1 / 255
