"""TensorBoard logging: the tag of each CSV column, and a logger writing rows as events through the public
`SummaryWriter` (torch.utils.tensorboard's, else tensorboardX's)."""

from __future__ import annotations

import os
import threading
import time
from typing import Mapping, Sequence

import numpy as np

from components.loggers import Logger, LoggingData, to_scalar

# Tags follow CleanRL (`charts/`, `losses/`) so dashboards and habits carry over.
# Which table a row uses depends on its logger's label: "train" and
# "train_actor<i>" rows are episodes, "learner" rows are learner statistics,
# "eval" rows are evaluations; any other label `x` gets `x/<key>`.
#
#   label    CSV key                       TensorBoard tag
#   train    episode_return                charts/episodic_return (charts/training_return with a score_key)
#            <score_key> (Atari: raw_score) charts/episodic_return (the whole game, unclipped, as CleanRL)
#            episode_length                charts/episodic_length
#            steps_per_second              charts/SPS
#            raw_score                     charts/raw_score       (Atari: unclipped game score)
#            lane                          -                      (not a scalar)
#            any other key k               charts/k
#   learner  learning_rate                 charts/learning_rate
#            epsilon                       charts/epsilon
#            beta                          charts/beta            (prioritized replay's importance exponent)
#            learner_steps_per_second      charts/learner_SPS
#            any other key k               losses/k  (loss, policy_loss, value_loss, td_error_abs, entropy,
#                                          approx_kl, clip_fraction, explained_variance, grad_norm, q_mean...;
#                                          CleanRL also files q_values and explained_variance under losses/)
#   eval     epsilon                       charts/epsilon         (the behaviour policy's, at evaluation time)
#            replay_size                   charts/replay_size
#            train_seconds                 charts/train_seconds
#            eval_<name>                   eval/<name>  (eval/return_mean, eval/return_std, eval/raw_score_mean,
#                                          eval/initial_value...)
#            any other key k               eval/k
#   any      counters: steps, episodes, *_steps, *_episodes (actor_steps, learner_steps, eval_episodes...)
#            -> not logged: they are the x axis (global step = actor_steps, else learner_steps)
TENSORBOARD_TAGS: Mapping[str, Mapping[str, str | None]] = {
    "train": {"episode_return": "charts/episodic_return", "episode_length": "charts/episodic_length",
              "steps_per_second": "charts/SPS", "raw_score": "charts/raw_score", "lane": None},
    "learner": {"learning_rate": "charts/learning_rate", "epsilon": "charts/epsilon", "beta": "charts/beta",
                "learner_steps_per_second": "charts/learner_SPS"},
    "eval": {"epsilon": "charts/epsilon", "replay_size": "charts/replay_size",
             "train_seconds": "charts/train_seconds"},
}
# Where a key outside the table goes, per kind of label.
_TENSORBOARD_DEFAULT_GROUP = {"train": "charts", "learner": "losses", "eval": "eval"}

TENSORBOARD_EXTRA_HINT = "pip install 'agentpipe[tensorboard]' (or: pip install tensorboard)"


def _is_counter(key: str) -> bool:
    return key in ("steps", "episodes") or key.endswith("_steps") or key.endswith("_episodes")


def label_kind(label: str) -> str | None:
    """'train' for train and train_actor<i>, 'learner' and 'eval' alike; None for other labels."""
    for kind in ("train", "learner", "eval"):
        if label == kind or label.startswith(kind + "_"):
            return kind
    return None


def tensorboard_tag(label: str, key: str, score_key: str | None = None) -> str | None:
    """The TensorBoard tag of CSV column `key` in rows of the logger `label`, or None (not logged).

    See the table above `TENSORBOARD_TAGS`: CleanRL/SB3-style `charts/`,
    `losses/` and `eval/` tags; counters are never logged (they are the step).
    `score_key`: the training rows' column that holds an episode's real score,
    when the environment reports one (Atari: `raw_score`, the whole game,
    unclipped). It is then `charts/episodic_return`, as in CleanRL, and the
    return the agent trained on (Atari: per life, clipped) is `charts/training_return`.
    """
    if _is_counter(key):
        return None
    kind = label_kind(label)
    if kind == "train" and score_key is not None:
        if key == score_key:
            return "charts/episodic_return"
        if key == "episode_return":
            return "charts/training_return"
    if kind is None:
        return f"{label}/{key}"
    table = TENSORBOARD_TAGS[kind]
    if key in table:
        return table[key]
    if kind == "eval" and key.startswith("eval_"):
        key = key[len("eval_"):]
    return f"{_TENSORBOARD_DEFAULT_GROUP[kind]}/{key}"


class TensorBoardUnavailable(ImportError):
    """TensorBoard logging was asked for, but neither `tensorboard` nor `tensorboardX` imports."""


def summary_writer_class() -> type:
    """torch's SummaryWriter (needs the `tensorboard` package), else tensorboardX's."""
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError as torch_error:
        try:
            from tensorboardX import SummaryWriter
        except ImportError:
            raise TensorBoardUnavailable(
                f"TensorBoard logging needs the `tensorboard` package: {TENSORBOARD_EXTRA_HINT}. "
                f"({torch_error})") from torch_error
    return SummaryWriter


def tensorboard_available() -> bool:
    """Whether a SummaryWriter imports (torch.utils.tensorboard, or tensorboardX)."""
    try:
        summary_writer_class()
    except ImportError:
        return False
    return True


# Seconds between the event files' flushes to disk (SummaryWriter's default is 120).
TENSORBOARD_FLUSH_SECONDS = 10.0
# Seconds rows wait before they go to the writer's thread together (handing over each row as it comes
# wakes that thread once per row).
TENSORBOARD_BATCH_SECONDS = 2.0


class TensorBoardWriter:
    """A `SummaryWriter` on `directory`, fed in batches; thread-safe.

    Rows wait and go to the writer together, at most every
    TENSORBOARD_BATCH_SECONDS, and on `flush` and `close`. `purge_step`: a
    resumed run passes the step it resumes from, and TensorBoard then hides
    the earlier run's events from that step on. Rows added after `close` are
    dropped.
    """

    def __init__(self, directory: str, purge_step: int | None = None) -> None:
        writer_class = summary_writer_class()
        os.makedirs(directory, exist_ok=True)
        self.directory = directory
        self.writer = writer_class(log_dir=directory, purge_step=purge_step, flush_secs=TENSORBOARD_FLUSH_SECONDS)
        self.closed = False
        self._lock = threading.Lock()
        self._pending: list[tuple[Sequence[tuple[str, float]], int]] = []
        self._handed_over = time.monotonic()

    def add_scalars(self, scalars: Sequence[tuple[str, float]], step: int) -> None:
        """Queues one row's `(tag, value)` scalars at `step`."""
        with self._lock:
            if self.closed:
                return
            self._pending.append((scalars, step))
            if time.monotonic() - self._handed_over >= TENSORBOARD_BATCH_SECONDS:
                self._hand_over()

    def _hand_over(self) -> None:
        """Gives the pending rows to the writer (the lock is held)."""
        for scalars, step in self._pending:
            for tag, value in scalars:
                self.writer.add_scalar(tag, value, global_step=step)
        self._pending.clear()
        self._handed_over = time.monotonic()

    def flush(self) -> None:
        """Writes every row so far to the event file."""
        with self._lock:
            if not self.closed:
                self._hand_over()
                self.writer.flush()

    def close(self) -> None:
        """Writes every row so far and closes the event file; idempotent."""
        with self._lock:
            if not self.closed:
                self._hand_over()
                self.closed = True
                self.writer.close()


class TensorBoardLogger(Logger):
    """Writes a row's scalars as TensorBoard events, under the tags of `tensorboard_tag(label, key)`.

    `writer`: a `TensorBoardWriter` shared with other labels' loggers (so one
    event file per run folder), which its owner closes; or a directory, for
    which this logger opens its own writer (with `purge_step`) and closes it
    in `close`. The global step is the row's `actor_steps`, else its
    `learner_steps`, else the row's index. Values that are not numbers are
    skipped. Thread-safe.
    """

    def __init__(self, writer: TensorBoardWriter | str, label: str, purge_step: int | None = None,
                 score_key: str | None = None) -> None:
        self._owns_writer = not isinstance(writer, TensorBoardWriter)
        self.writer = TensorBoardWriter(writer, purge_step) if self._owns_writer else writer
        self._label = label
        self._score_key = score_key
        self._rows = 0
        self._rows_lock = threading.Lock()

    def write(self, data: LoggingData) -> None:
        step = data.get("actor_steps", data.get("learner_steps"))
        with self._rows_lock:
            step = self._rows if step is None else int(to_scalar(step))
            self._rows += 1
        scalars = []
        for key, value in data.items():
            value = to_scalar(value)
            if value is None or isinstance(value, str) or not isinstance(value, (int, float, np.number, bool)):
                continue
            tag = tensorboard_tag(self._label, key, self._score_key)
            if tag is not None:
                scalars.append((tag, float(value)))
        if scalars:
            self.writer.add_scalars(scalars, step)

    def flush(self) -> None:
        self.writer.flush()

    def close(self) -> None:
        if self._owns_writer:
            self.writer.close()
