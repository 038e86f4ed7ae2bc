"""MiniGrid through `gym:MiniGrid-*`: its dict observation made ready for the default torso.

`minigrid` registers its ids with gymnasium when imported; the registry imports it for `gym:MiniGrid-*`
names. The observation keeps `image` and `direction`: the (7, 7, 3) grid of object, colour and state
indices becomes channels-first (3, 7, 7), bounded by the largest index (so the torso scales it to [0, 1]
as it does pixels), and the mission string is dropped, with a one-line notice (no text torso here).
"""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces

MISSION_NOTICE = "[minigrid] the observation's 'mission' string is dropped (no text torso); image and direction are kept."
_noticed = False


def is_minigrid(env_id: str) -> bool:
    return env_id.startswith(("MiniGrid-", "BabyAI-"))


def import_minigrid() -> None:
    """Imports minigrid (registering its ids), or explains the extra to install."""
    try:
        import minigrid  # noqa: F401 - registers MiniGrid-* with gymnasium.
    except ImportError:
        raise ValueError("gym:MiniGrid-* needs minigrid: pip install \"agentpipe[minigrid]\".") from None


class MiniGridObservation(gymnasium.ObservationWrapper):
    """{'image': (3, 7, 7) uint8 channels-first, 'direction': Discrete(4)}: MiniGrid's observation without
    its mission string."""

    def __init__(self, env: gymnasium.Env) -> None:
        super().__init__(env)
        global _noticed
        source = env.observation_space
        if not isinstance(source, spaces.Dict) or "image" not in source.spaces:
            raise ValueError(f"Expected MiniGrid's dict observation with an 'image'; got {source}.")
        height, width, channels = source["image"].shape
        from minigrid.core.constants import COLOR_TO_IDX, OBJECT_TO_IDX, STATE_TO_IDX

        largest = max(len(OBJECT_TO_IDX), len(COLOR_TO_IDX), len(STATE_TO_IDX)) - 1
        kept = {key: space for key, space in source.spaces.items() if key != "mission"}
        kept["image"] = spaces.Box(0, largest, (channels, height, width), np.uint8)
        self.observation_space = spaces.Dict(kept)
        if "mission" in source.spaces and not _noticed:
            print(MISSION_NOTICE, flush=True)
            _noticed = True

    def observation(self, observation: dict) -> dict:
        kept = {key: value for key, value in observation.items() if key != "mission"}
        kept["image"] = np.ascontiguousarray(np.transpose(observation["image"], (2, 0, 1)))
        return kept
