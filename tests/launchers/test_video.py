"""launchers.video: greedy episodes rendered to MP4 (or GIF) from GridWorld, CartPole and Atari."""

from __future__ import annotations

import dm_env
import numpy as np
import pytest

imageio = pytest.importorskip("imageio.v2")

from components.types import PolicyOutput  # noqa: E402
from environments.batched import SyncBatchedEnvironment  # noqa: E402
from environments.registry import make_environment  # noqa: E402
from launchers import video  # noqa: E402


class CountingPolicy:
    """Random actions for a batch of one lane; counts its calls (= steps taken)."""

    def __init__(self, num_actions: int, seed: int = 0, wrap: bool = False) -> None:
        self._rng = np.random.default_rng(seed)
        self._num_actions, self._wrap = num_actions, wrap
        self.calls = 0

    def __call__(self, observations):
        assert np.asarray(observations).shape[0] == 1  # A batch of one lane.
        self.calls += 1
        actions = self._rng.integers(0, self._num_actions, 1)
        return PolicyOutput(actions, {}) if self._wrap else actions


def _decode(path: str) -> np.ndarray:
    if path.endswith(".gif"):
        import imageio.v3 as iio

        return iio.imread(path, index=None)[..., :3]
    with imageio.get_reader(path) as reader:
        return np.stack([frame for frame in reader.iter_data()])


needs_ffmpeg = pytest.mark.skipif(not video.ffmpeg_available(), reason="needs imageio-ffmpeg")


@needs_ffmpeg
def test_gridworld_episodes_to_mp4(tmp_path):
    environment = make_environment("gridworld:simple", seed=0)
    policy = CountingPolicy(4)
    path = video.record_episodes(environment, policy, tmp_path / "grid.mp4", num_episodes=2, max_steps=25, fps=10,
                                 render_kwargs={"cell_size": 16})
    assert path == str(tmp_path / "grid.mp4")
    frames = _decode(path)
    assert len(frames) == policy.calls + 2  # steps + 1 per episode.
    assert frames.shape[1:] == (9 * 16, 10 * 16, 3)
    # The first frame is the start position: floor around a red agent at (2, 2).
    first = frames[0].astype(int)
    assert np.abs(first[2 * 16 + 8, 2 * 16 + 8] - (210, 40, 40)).max() < 40


@needs_ffmpeg
def test_cartpole_episode_to_mp4(tmp_path):
    pytest.importorskip("pygame")
    environment = make_environment("gym:CartPole-v1", seed=0, evaluation=True, render=True)
    policy = CountingPolicy(2, wrap=True)  # PolicyOutput, as stochastic policies return.
    path = video.record_episodes(environment, policy, str(tmp_path / "cartpole.mp4"), max_steps=60)
    frames = _decode(path)
    assert len(frames) == policy.calls + 1
    assert frames.shape[1:] == (400, 600, 3)
    environment.close()


@needs_ffmpeg
def test_atari_raw_frames_to_mp4(tmp_path):
    pytest.importorskip("ale_py")
    environment = make_environment("atari:Breakout", seed=0, evaluation=True, render=True)
    policy = CountingPolicy(4)
    recording = video.collect_frames(environment, policy, max_steps=120)
    assert len(recording.frames) == recording.episode_lengths[0] + 1 == policy.calls + 1
    path = video.write_video(recording.frames, str(tmp_path / "breakout.mp4"), fps=30)
    frames = _decode(path)
    assert frames.shape == (policy.calls + 1, 210, 160, 3)  # The raw screen, not the 84x84 input.
    environment.close()


def _walk_policy():
    """GridWorld 'simple' from (2, 2): down x5 reaches the goal (7, 2); every frame differs."""
    return lambda observations: np.array([2])


def test_gif_when_asked_or_without_ffmpeg(tmp_path, monkeypatch):
    environment = make_environment("gridworld:simple", seed=0)
    path = video.record_episodes(environment, _walk_policy(), tmp_path / "walk.gif", render_kwargs={"cell_size": 8})
    frames = _decode(path)
    assert frames.shape == (6, 9 * 8, 10 * 8, 3)  # 5 steps to the goal + the start.
    monkeypatch.setattr(video, "ffmpeg_available", lambda: False)
    with pytest.warns(UserWarning, match="imageio-ffmpeg is not installed"):
        fallback = video.record_episodes(environment, _walk_policy(), tmp_path / "walk.mp4")
    assert fallback == str(tmp_path / "walk.gif") and len(_decode(fallback)) == 6


def test_one_lane_batched_environment_is_accepted():
    batched = SyncBatchedEnvironment([make_environment("gridworld:simple", seed=0)])
    recording = video.collect_frames(batched, _walk_policy(), num_episodes=2)
    assert recording.episode_lengths == [5, 5] and recording.episode_returns == [10.0, 10.0]
    assert len(recording.frames) == 12


def test_clear_errors(tmp_path):
    gym_without_frames = make_environment("gym:CartPole-v1", seed=0)
    with pytest.raises(ValueError, match=r"render_mode='rgb_array'.*render=True"):
        video.collect_frames(gym_without_frames, CountingPolicy(2))
    two_lanes = SyncBatchedEnvironment([make_environment("gridworld:simple", seed=s) for s in (0, 1)])
    with pytest.raises(ValueError, match="2 lane"):
        video.collect_frames(two_lanes, CountingPolicy(4))
    with pytest.raises(ValueError, match="batch of one action"):
        video.collect_frames(make_environment("gridworld:simple"), lambda observations: 2)

    class NoRender(dm_env.Environment):
        reset = step = observation_spec = action_spec = lambda self, *args: None

    with pytest.raises(ValueError, match="no render"):
        video.collect_frames(NoRender(), CountingPolicy(2))
    with pytest.raises(ValueError, match="one shape"):
        video.write_video([np.zeros((4, 4, 3), np.uint8), np.zeros((4, 6, 3), np.uint8)], str(tmp_path / "x.gif"))


def test_registry_render_option_makes_gym_envs_renderable():
    environment = make_environment("gym:CartPole-v1", seed=0, render=True)
    assert environment.gym_env.render_mode == "rgb_array"
    assert make_environment("gym:CartPole-v1", seed=0).gym_env.render_mode is None
    # GridWorld always renders; render=True changes nothing there.
    grid = make_environment("gridworld:simple", seed=0, render=True)
    grid.reset()
    assert grid.render(cell_size=2).shape == (18, 20, 3)


def test_registry_render_option_reaches_python_factories_that_take_it(monkeypatch):
    import types

    from environments.gridworld import build_gridworld_task

    seen = {}

    def factory(seed: int = 0, render: bool = False):
        seen["render"] = render
        return build_gridworld_task("simple", seed=seed)

    monkeypatch.setitem(__import__("sys").modules, "fake_render_envs", types.SimpleNamespace(make=factory))
    make_environment("python:fake_render_envs:make", seed=0, render=True)
    assert seen == {"render": True}
    make_environment("python:fake_render_envs:make", seed=0)
    assert seen == {"render": False}
