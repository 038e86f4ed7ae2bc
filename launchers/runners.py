"""One declaration, three runners: picks `local`, `threads` or `ray` by the experiment's `launch`."""

from __future__ import annotations

from typing import Any

from launchers.experiment import ExperimentConfig


def run_experiment(experiment: ExperimentConfig) -> dict[str, Any]:
    """Runs the experiment with the runner it declares and returns the run's summary."""
    if experiment.launch == "threads":
        from launchers.threads import run_threads
        return run_threads(experiment)
    if experiment.launch == "ray":
        from launchers.ray_runner import run_ray
        return run_ray(experiment)
    from launchers.local import run_local
    return run_local(experiment)
