"""The run driver: what every runner shares, written once.

`Run(experiment)` claims the run folder, loads the checkpoint to resume from,
seeds the process and opens the loggers and the progress bar. `run.drive(nodes)`
then owns the schedule: train until the next evaluation or the budget,
evaluate, stop at `stop_at_return`, checkpoint every
`checkpoint_every_minutes` (and at the end, and on Ctrl-C), and write the
summary. A runner only supplies `Nodes`: where the actors, replay and learner
live and how data and weights move between them.
"""

from __future__ import annotations

import abc
import contextlib
import os
import time
from typing import Any, Callable, Iterator, Mapping, Sequence

import numpy as np
import torch

from components.checkpointing import Checkpointer
from components.devices import resolve_device
from components.logger_factory import LoggerFactory
from components.progress import ProgressBar
from launchers.experiment import ExperimentConfig
from launchers.agent_registry import check_agent_fits
from launchers.nodes import check_run_environment, environment_name
from launchers.run_folder import checkpoint_metadata, load_resume_state, prepare_run_dir, write_summary
from launchers.run_state import restore_rng, rng_state


class NodeFailed(RuntimeError):
    """A node (thread or Ray actor) raised; the original exception, with its traceback, is the `__cause__`."""


def seed_process(experiment: ExperimentConfig, flush_denormals: bool = False) -> None:
    """What every process of a run sets first: torch's seed and its intra-op threads; a node process of
    its own (Ray's) also flushes subnormal floats for good (see `flushed_denormals`)."""
    torch.manual_seed(experiment.seed)
    if flush_denormals:
        torch.set_flush_denormal(True)
    if experiment.torch_threads is not None:
        torch.set_num_threads(experiment.torch_threads)


def _flushing_denormals() -> bool:
    return float(np.float32(1e-39) * np.float32(1.0)) == 0.0  # 1e-39 is subnormal in float32.


@contextlib.contextmanager
def flushed_denormals() -> Iterator[None]:
    """Subnormal floats flushed to zero in this thread, and in the threads it starts, until the block ends.

    Adam's moments of a parameter whose gradient stays 0 (a dead ReLU unit) decay by 0.9 a step into
    subnormals within about 800 steps, and x86 arithmetic on subnormals is many times slower: SAC's fused
    Adam step took 0.50 ms instead of 0.06 ms at step 1,500 on Pendulum. Flushing them (as TensorFlow
    does on CPUs) changes nothing above 1e-38. The setting is the thread's (numpy's arithmetic follows it
    too), so it is restored when the run ends.
    """
    was_flushing = _flushing_denormals()
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        if not was_flushing:
            torch.set_flush_denormal(False)


def make_run_logger_factory(experiment: ExperimentConfig, progress: ProgressBar | None = None,
                            resumed_step: int | None = None, always_print: Sequence[str] = ("eval",)) -> LoggerFactory:
    """The loggers every node of a run writes through: CSV (continued when resuming), TensorBoard
    (per `experiment.tensorboard`), terminal lines and, in the driver, the progress bar. Whoever makes
    the factory closes it when its loggers are done."""
    # TensorBoard hides events at and after its purge step; the CSVs keep rows up to the resumed step, so
    # the purge starts one step later (the evaluation written with the checkpoint stays, as in eval.csv).
    purge_step = None if resumed_step is None else int(resumed_step) + 1
    return LoggerFactory(experiment.run_dir, experiment.log_interval, always_print=always_print,
                         append=experiment.resume, tensorboard=experiment.tensorboard,
                         tensorboard_purge_step=purge_step, progress=progress,
                         print_line=None if progress is None else progress.print_line,
                         score_key=experiment.score_key)


class Nodes(abc.ABC):
    """What a runner gives the driver: its nodes, wherever they live."""

    #: Whether training goes on while an evaluation runs (so its time counts as training time).
    concurrent_evaluation = False

    @abc.abstractmethod
    def counts(self) -> dict[str, float]:
        """The run's counters (actor and learner steps and episodes, ...) as they stand."""

    def actor_steps(self) -> int:
        return int(self.counts().get("actor_steps", 0))

    @abc.abstractmethod
    def advance(self, target_steps: int) -> None:
        """Trains towards `target_steps` actor steps; returns when they are reached or after a short while
        (so the driver can checkpoint), or raises `NodeFailed`."""

    @abc.abstractmethod
    def evaluate(self, train_seconds: float) -> dict[str, Any]:
        """One evaluation's row (greedy episodes with the learner's latest weights)."""

    @abc.abstractmethod
    def get_state(self, with_replay: bool) -> dict[str, Any]:
        """The nodes' parts of a checkpoint (see `launchers.run_state`)."""

    @abc.abstractmethod
    def set_state(self, state: Mapping[str, Any] | None) -> None:
        """Restores `get_state`'s parts (None: a fresh run); actors then act with the learner's weights."""

    def start(self) -> None:
        """Starts nodes that run on their own (threads, Ray actors)."""

    def stop(self) -> None:
        """Stops training nodes and waits for them; evaluation still works afterwards."""

    def write_artifacts(self) -> None:
        """curves.png and diagnostics at the end of the run."""

    def close(self) -> None:
        """Stops what still runs (after a failure too) and releases environments, processes and files."""

    def summary(self) -> dict[str, Any]:
        """Runner-specific fields of summary.json."""
        return {}


class Run:
    """One run's shared machinery: folder, resume state, seeding, device, loggers, progress, checkpoints."""

    def __init__(self, experiment: ExperimentConfig) -> None:
        self.start = time.perf_counter()
        seed_process(experiment)
        self.experiment = experiment
        self.device = resolve_device(experiment.device)
        # A broken environment, or one the agent cannot act in, fails here, before the run folder is touched.
        check_agent_fits(experiment.builder, check_run_environment(experiment), environment_name(experiment))
        prepare_run_dir(experiment)
        # Before any logger opens (and continues) the CSV files: rows past the checkpoint are dropped.
        self.resumed_state, self.evaluations = load_resume_state(experiment)
        self.resumed_step = int(self.resumed_state["counter"].get("actor_steps", 0)) if self.resumed_state else None
        self.progress = ProgressBar(experiment.num_steps, enabled=experiment.progress,
                                    initial_steps=self.resumed_step or 0)
        self.loggers = make_run_logger_factory(experiment, self.progress, self.resumed_step)
        self._checkpointer = (Checkpointer(os.path.join(experiment.run_dir, "checkpoints"))
                              if experiment.run_dir is not None else None)
        self._interval = experiment.checkpoint_every_minutes * 60.0
        self._last_checkpoint = time.monotonic()

    def drive(self, make_nodes: Callable[["Run"], Nodes],
              on_evaluation: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        """Builds the runner's nodes, then trains, evaluates and checkpoints to the budget or the target
        return; returns the summary. `on_evaluation(row)` sees each periodic evaluation's row and stops the
        run early (it still ends as a finished run) by returning True, e.g. a hyperparameter search pruning."""
        with flushed_denormals():
            return self._drive(make_nodes, on_evaluation)

    def _drive(self, make_nodes: Callable[["Run"], Nodes],
               on_evaluation: Callable[[dict[str, Any]], bool] | None = None) -> dict[str, Any]:
        experiment, evaluations = self.experiment, self.evaluations
        try:
            nodes = make_nodes(self)
        except BaseException:
            self.close()
            raise
        train_seconds = 0.0
        try:
            train_seconds = self._restore(nodes)
            cpu_seconds = 0.0  # This process's CPU time while training (threads included).
            steps = nodes.actor_steps()
            eval_every = experiment.eval_every or experiment.num_steps
            next_eval = (steps // eval_every + 1) * eval_every
            nodes.start()
            while steps < experiment.num_steps:
                started, cpu_started = time.perf_counter(), time.process_time()
                nodes.advance(min(next_eval, experiment.num_steps))
                train_seconds += time.perf_counter() - started
                cpu_seconds += time.process_time() - cpu_started
                steps = nodes.actor_steps()
                self.progress.update(steps)
                if next_eval <= steps < experiment.num_steps:
                    started = time.perf_counter()
                    evaluations.append(nodes.evaluate(train_seconds))
                    if nodes.concurrent_evaluation:
                        train_seconds += time.perf_counter() - started
                    next_eval = (steps // eval_every + 1) * eval_every
                    if self._reached_target() or (on_evaluation is not None and on_evaluation(evaluations[-1])):
                        break
                if self._interval > 0 and time.monotonic() - self._last_checkpoint >= self._interval:
                    self.checkpoint(nodes, train_seconds)
            nodes.stop()
            if not evaluations or evaluations[-1].get("actor_steps", 0) < nodes.actor_steps():
                evaluations.append(nodes.evaluate(train_seconds))
            self.checkpoint(nodes, train_seconds)
            nodes.write_artifacts()
            counts, extra = nodes.counts(), nodes.summary()
        except KeyboardInterrupt:
            nodes.stop()
            print(f"[run] interrupted: checkpoint written to {self.checkpoint(nodes, train_seconds)}", flush=True)
            raise
        finally:
            try:
                nodes.close()
            finally:
                self.close()
        return write_summary(experiment, evaluations, counts, train_seconds, time.perf_counter() - self.start,
                             self.device, train_cpu_seconds=round(cpu_seconds, 3), **extra)

    def checkpoint(self, nodes: Nodes, train_seconds: float) -> str | None:
        """Writes a checkpoint now (nothing without a run folder); returns its path."""
        self._last_checkpoint = time.monotonic()
        if self._checkpointer is None:
            return None
        state = {**nodes.get_state(self.experiment.checkpoint_replay), "rng": rng_state(),
                 "train_seconds": train_seconds}
        return self._checkpointer.save(state, int(state["counter"].get("actor_steps", 0)),
                                       checkpoint_metadata(self.experiment))

    def _restore(self, nodes: Nodes) -> float:
        """Restores a resumed run into the nodes; returns the training seconds so far (0 for a fresh run)."""
        state = self.resumed_state
        if state is None:
            nodes.set_state(None)
            return 0.0
        if self.experiment.checkpoint_replay and "replay" not in state:
            print("[checkpoint] the checkpoint holds no replay: it refills before learning resumes.", flush=True)
        nodes.set_state(state)
        restore_rng(state["rng"])
        return float(state.get("train_seconds", 0.0))

    def close(self) -> None:
        """Closes the loggers and the progress bar (drive does it at the end; runners call it when a run fails
        before drive)."""
        try:
            self.loggers.close()
        finally:
            self.progress.close()

    def _reached_target(self) -> bool:
        target = self.experiment.stop_at_return
        return target is not None and self.evaluations[-1]["eval_return_mean"] >= target
