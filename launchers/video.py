"""Videos of an agent playing: greedy episodes rendered frame by frame to MP4 (or GIF).

    from launchers.video import record_episodes
    environment = make_environment("gym:CartPole-v1", seed=0, evaluation=True, render=True)
    record_episodes(environment, policy, "runs/mine/episode.mp4", num_episodes=2)

`policy_fn` is an agent's evaluation policy as the runners call it: a batch of
one lane's observation in (leading axis of size 1), actions out (shape (1,), or
a `PolicyOutput` whose `.action` is). Frames come from `environment.render()`:
GridWorld's grid picture, a gymnasium env made with `render_mode='rgb_array'`
(`make_environment(name, render=True)`), Atari's raw 210 x 160 RGB screen.
Each episode gives steps + 1 frames: the first observation and one per step.

MP4 needs imageio and imageio-ffmpeg (`pip install "agentpipe[video]"`).
Without them the frames go to a GIF (Pillow) beside the requested path. GIF
players (and Pillow) fold identical consecutive frames into one longer frame,
so a GIF may decode to fewer frames than were written; its timing is kept.
"""

from __future__ import annotations

import dataclasses
import importlib
import os
import warnings
from typing import Any, Callable, Mapping

import dm_env
import numpy as np
import tree

from components.types import PolicyOutput

PolicyFn = Callable[[Any], Any]


@dataclasses.dataclass
class Recording:
    """Frames of consecutive episodes with each episode's return and length (steps)."""

    frames: list[np.ndarray]
    episode_returns: list[float]
    episode_lengths: list[int]


def single_lane_action(policy_fn: PolicyFn, timestep: dm_env.TimeStep) -> Any:
    """Calls `policy_fn` on `timestep`'s observation as a batch of one lane and returns that lane's action.

    A policy that keeps a state between steps (a recurrent one, with `observe_step_types`) is told the
    step's type first, so each episode starts from a fresh state."""
    observe_step_types = getattr(policy_fn, "observe_step_types", None)
    if observe_step_types is not None:
        observe_step_types(np.asarray([timestep.step_type]))
    batch = tree.map_structure(lambda x: np.asarray(x)[None], timestep.observation)
    output = policy_fn(batch)
    actions = output.action if isinstance(output, PolicyOutput) else output
    if isinstance(actions, list):
        actions = np.asarray(actions)
    leaves = tree.flatten(actions)
    if not leaves or any(np.ndim(leaf) == 0 or len(leaf) != 1 for leaf in leaves):
        raise ValueError(f"policy_fn must return a batch of one action (leading axis 1) for a batch of one "
                         f"observation, got {actions!r}.")
    return tree.map_structure(lambda a: np.asarray(a)[0], actions)


def single_environment(environment: dm_env.Environment) -> dm_env.Environment:
    """`environment` itself, or the one lane of an in-process batched environment."""
    num_lanes = getattr(environment, "num_lanes", None)
    if num_lanes is None:
        return environment
    lanes = getattr(environment, "lanes", None)
    if num_lanes == 1 and lanes:
        return lanes[0]
    raise ValueError(
        f"Expected one dm_env.Environment, got {type(environment).__name__} with {num_lanes} lane(s); "
        "build a single one, e.g. environments.registry.make_environment(name, seed, evaluation=True, render=True).")


_NO_FRAMES = ("a gymnasium environment must be made with render_mode='rgb_array' "
              "(environments.registry.make_environment(name, seed, render=True)).")


def _as_frame(image: Any, environment: dm_env.Environment) -> np.ndarray:
    """`render()`'s output as an (H, W, 3) uint8 frame, or a clear error."""
    if image is None:
        raise ValueError(f"{type(environment).__name__}.render() returned None: {_NO_FRAMES}")
    frame = np.asarray(image)
    if frame.ndim != 3 or frame.shape[-1] not in (3, 4):
        raise ValueError(f"render() must return an (H, W, 3) RGB image, got an array of shape {frame.shape}.")
    if frame.dtype != np.uint8:
        if not np.issubdtype(frame.dtype, np.floating):
            raise ValueError(f"render() must return uint8 (or float in [0, 1]) pixels, got {frame.dtype}.")
        frame = (np.clip(frame, 0.0, 1.0) * 255).round().astype(np.uint8)
    return np.ascontiguousarray(frame[..., :3])


def collect_frames(environment: dm_env.Environment, policy_fn: PolicyFn, num_episodes: int = 1,
                   max_steps: int = 10_000, render_kwargs: Mapping[str, Any] | None = None) -> Recording:
    """Plays `num_episodes` episodes with `policy_fn`, rendering the first observation and every step.

    An episode stops at its LAST or after `max_steps` steps, so it gives
    min(length, max_steps) + 1 frames.
    """
    if num_episodes < 1 or max_steps < 1:
        raise ValueError(f"num_episodes and max_steps must be >= 1, got {num_episodes} and {max_steps}.")
    environment = single_environment(environment)
    if not callable(getattr(environment, "render", None)):
        raise ValueError(f"{type(environment).__name__} has no render() method to take frames from.")
    gym_env = getattr(environment, "gym_env", None)
    if gym_env is not None and getattr(gym_env, "render_mode", None) != "rgb_array":
        raise ValueError(f"{gym_env.spec.id if gym_env.spec else type(gym_env).__name__} has render_mode "
                         f"{gym_env.render_mode!r}: {_NO_FRAMES}")
    render_kwargs = dict(render_kwargs or {})
    recording = Recording([], [], [])
    for _ in range(num_episodes):
        timestep = environment.reset()
        recording.frames.append(_as_frame(environment.render(**render_kwargs), environment))
        episode_return, steps = 0.0, 0
        while not timestep.last() and steps < max_steps:
            timestep = environment.step(single_lane_action(policy_fn, timestep))
            recording.frames.append(_as_frame(environment.render(**render_kwargs), environment))
            episode_return += float(np.sum(timestep.reward))
            steps += 1
        recording.episode_returns.append(episode_return)
        recording.episode_lengths.append(steps)
    return recording


def ffmpeg_available() -> bool:
    """True when imageio can write MP4 through imageio-ffmpeg's ffmpeg binary."""
    try:
        importlib.import_module("imageio")
        importlib.import_module("imageio_ffmpeg").get_ffmpeg_exe()
    except (ImportError, RuntimeError):
        return False
    return True


def _even(frame: np.ndarray) -> np.ndarray:
    """Pads odd heights/widths by repeating the last row/column (H.264 needs even sizes)."""
    pad = ((0, frame.shape[0] % 2), (0, frame.shape[1] % 2), (0, 0))
    return np.pad(frame, pad, mode="edge") if any(p[1] for p in pad[:2]) else frame


def _write_mp4(frames: list[np.ndarray], path: str, fps: float) -> None:
    import imageio.v2 as imageio

    # macro_block_size=1: keep the frames' size (imageio would otherwise resize to multiples of 16).
    with imageio.get_writer(path, format="FFMPEG", mode="I", fps=fps, codec="libx264", quality=8,
                            macro_block_size=1, ffmpeg_log_level="error") as writer:
        for frame in frames:
            writer.append_data(_even(frame))


def _write_gif(frames: list[np.ndarray], path: str, fps: float) -> None:
    try:
        from PIL import Image
    except ImportError as error:
        raise ImportError('Writing a GIF needs Pillow: pip install "agentpipe[video]"') from error
    images = [Image.fromarray(frame) for frame in frames]
    images[0].save(path, format="GIF", save_all=True, append_images=images[1:],
                   duration=max(1, round(1000.0 / fps)), loop=0)


def write_video(frames: list[np.ndarray], path: str | os.PathLike, fps: float = 30.0) -> str:
    """Writes equally sized (H, W, 3) uint8 frames; returns the path written.

    A '.gif' path gives a GIF. Any other path gives an MP4 (H.264) when
    imageio-ffmpeg is installed, and otherwise a GIF with the suffix replaced
    by '.gif' (with a warning).
    """
    path = os.fspath(path)
    if not frames:
        raise ValueError("write_video got no frames.")
    if fps <= 0:
        raise ValueError(f"fps must be > 0, got {fps}.")
    shapes = {frame.shape for frame in frames}
    if len(shapes) != 1:
        raise ValueError(f"Every frame of a video must have one shape, got {sorted(shapes)}.")
    os.makedirs(os.path.dirname(path) or ".", exist_ok=True)
    if path.lower().endswith(".gif"):
        _write_gif(frames, path, fps)
        return path
    if ffmpeg_available():
        _write_mp4(frames, path, fps)
        return path
    gif_path = os.path.splitext(path)[0] + ".gif"
    warnings.warn(f"imageio-ffmpeg is not installed (pip install \"agentpipe[video]\"): writing {gif_path} "
                  f"instead of {path}.", stacklevel=2)
    _write_gif(frames, gif_path, fps)
    return gif_path


def record_episodes(environment: dm_env.Environment, policy_fn: PolicyFn, path: str | os.PathLike,
                    num_episodes: int = 1, max_steps: int = 10_000, fps: float = 30.0,
                    render_kwargs: Mapping[str, Any] | None = None) -> str:
    """Plays `num_episodes` episodes with `policy_fn` and writes their frames to one video.

    Returns the path written: `path`, or a '.gif' beside it when ffmpeg is
    unavailable. `render_kwargs` go to `render()` (e.g. GridWorld's
    `cell_size`). The video holds sum over episodes of (steps + 1) frames.
    """
    recording = collect_frames(environment, policy_fn, num_episodes, max_steps, render_kwargs)
    return write_video(recording.frames, path, fps)
