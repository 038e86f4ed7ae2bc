"""One declaration, three runners: picks `local`, `threads` or `ray` by the experiment's `launch`."""

from __future__ import annotations

from typing import Any, Callable

from launchers.experiment import ExperimentConfig


def run_experiment(experiment: ExperimentConfig,
                   on_evaluation: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
    """Runs the experiment with the runner it declares and returns the run's summary. `on_evaluation(row)`
    sees each periodic evaluation and stops the run early by returning True (`launchers.run.Run.drive`)."""
    if experiment.launch == "threads":
        from launchers.threads import run_threads
        return run_threads(experiment, on_evaluation)
    if experiment.launch == "ray":
        from launchers.ray_runner import run_ray
        return run_ray(experiment, on_evaluation=on_evaluation)
    from launchers.local import run_local
    return run_local(experiment, on_evaluation)
