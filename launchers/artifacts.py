"""What a run leaves beside its logs: curves.png, evaluation videos and value diagnostics.

Each is a convenience, never a reason to lose a run: a failure to draw or
record is reported in one line and the run goes on.
"""

from __future__ import annotations

import os
import traceback
from typing import Any, Callable

from launchers.experiment import ExperimentConfig


def _warn(what: str, error: BaseException) -> None:
    last = traceback.extract_tb(error.__traceback__)[-1] if error.__traceback__ else None
    where = f" ({os.path.basename(last.filename)}:{last.lineno})" if last else ""
    print(f"[artifacts] could not write {what}: {type(error).__name__}: {error}{where}", flush=True)


def write_curves(run_dir: str | None) -> str | None:
    """`run_dir/curves.png`: returns and losses against env steps (see launchers.plot)."""
    if run_dir is None:
        return None
    try:
        from launchers.plot import plot_runs

        return plot_runs([run_dir], os.path.join(run_dir, "curves.png"), title=os.path.basename(run_dir))
    except Exception as error:  # noqa: BLE001 - a missing plot must not fail the run.
        _warn("curves.png", error)
        return None


def _render_environment(experiment: ExperimentConfig, seed: int):
    from environments.registry import make_environment

    declaration = experiment.declaration
    return make_environment(declaration["env"], seed, evaluation=True, render=True,
                            **dict(declaration.get("env_options") or {}))


class VideoRecorder:
    """Records a greedy episode to `run_dir/videos/eval_<step>.mp4` once every `video_every` actor steps."""

    def __init__(self, experiment: ExperimentConfig) -> None:
        self._experiment = experiment
        self._every = experiment.video_every
        self._next = experiment.video_every

    def record_if_due(self, policy_fn: Callable[[Any], Any], actor_steps: float) -> str | None:
        if not self._every or self._experiment.run_dir is None or actor_steps < self._next:
            return None
        while self._next <= actor_steps:
            self._next += self._every
        return record_video(self._experiment, policy_fn,
                            os.path.join(self._experiment.run_dir, "videos", f"eval_{int(actor_steps)}.mp4"))


def record_video(experiment: ExperimentConfig, policy_fn: Callable[[Any], Any], path: str,
                 num_episodes: int = 1) -> str | None:
    """Plays greedy episodes on a rendering copy of the evaluation environment; returns the file written
    (MP4, or GIF without ffmpeg)."""
    try:
        from launchers.video import record_episodes

        environment = _render_environment(experiment, experiment.seed + 30_000)
        try:
            return record_episodes(environment, policy_fn, path, num_episodes=num_episodes)
        finally:
            environment.close()
    except Exception as error:  # noqa: BLE001 - a missing video must not fail the run.
        _warn(os.path.basename(path), error)
        return None


def write_diagnostics(experiment: ExperimentConfig, builder: Any, networks: Any,
                      policy_fn: Callable[[Any], Any]) -> list[str]:
    """`run_dir/diagnostics/`: predicted V vs Monte-Carlo returns of greedy episodes and the history of
    the initial-state V (agents that define state values), and GridWorld policy/Q/V maps (value-based
    agents on GridWorld)."""
    run_dir = experiment.run_dir
    if run_dir is None:
        return []
    out_dir = os.path.join(run_dir, "diagnostics")
    written: list[str] = []
    try:
        from launchers import diagnostics

        environment = _render_environment(experiment, experiment.seed + 40_000)
        try:
            if experiment.declaration.get("env", "").startswith("gridworld:") and "q" in networks:
                written += diagnostics.gridworld_diagnostics(networks["q"], environment, out_dir)
            probe = builder.state_values(networks, _first_observation(environment))
            if probe is not None:
                discount = getattr(builder.config, "discount", 0.99)
                pairs = diagnostics.collect_value_pairs(
                    environment, policy_fn, lambda obs: builder.state_values(networks, obs), discount,
                    num_episodes=2, max_steps=10_000)
                written += diagnostics.value_diagnostics(run_dir, pairs, out_dir=out_dir)
        finally:
            environment.close()
    except Exception as error:  # noqa: BLE001 - missing pictures must not fail the run.
        _warn("diagnostics", error)
    return written


def _first_observation(environment):
    import tree

    observation = environment.reset().observation
    return tree.map_structure(lambda x: x[None], observation)
