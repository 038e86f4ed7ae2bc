"""The training progress bar: tqdm over actor steps to the budget (steps/s, ETA, latest returns in the postfix).

No bar when stderr is not a terminal: a plain `[progress] ...` line every `plain_interval` seconds and at
`close`; nothing with `enabled=False` (`--noprogress`). Log lines go through `print_line` (tqdm.write).
"""

from __future__ import annotations

import collections
import os
import shutil
import sys
import threading
import time
from typing import Any, Callable, Iterable, Mapping, TextIO

from tqdm import tqdm

from components.loggers import Logger


def _zero_size_fallback(stream: TextIO) -> os.terminal_size | None:
    """The size to draw at on a terminal that reports 0 x 0 (a bare pty, where tqdm draws nothing), else None."""
    try:
        zero = os.get_terminal_size(stream.fileno()).columns == 0
    except (AttributeError, ValueError, OSError):  # Not a real terminal (StringIO): tqdm's default.
        zero = False
    return shutil.get_terminal_size() if zero else None  # $COLUMNS and $LINES, else 80 x 24.


class ProgressBar(Logger):
    """A `Logger` reading `actor_steps`, `episode_return` and `eval_return_mean` from rows; thread-safe.
    Step totals are absolute (several actors may report): an older, smaller one never moves the bar back."""

    def __init__(self, total_steps: int | None, *, enabled: bool = True, stream: TextIO | None = None,
                 initial_steps: int = 0, redraw_interval: float = 0.1, plain_interval: float | None = 60.0,
                 window: int = 100, clock: Callable[[], float] = time.monotonic) -> None:
        if total_steps is not None and total_steps <= 0:
            raise ValueError(f"total_steps must be > 0 or None, got {total_steps}.")
        self._stream, self._total, self._initial = stream or sys.stderr, total_steps, int(initial_steps)
        self.steps = self._initial
        self.interactive = enabled and getattr(self._stream, "isatty", lambda: False)()
        self._plain_interval, self._clock = plain_interval, clock
        self._start = self._last_plain = clock()
        self._returns: collections.deque[float] = collections.deque(maxlen=window)
        self._eval: float | None = None
        self._lock, self._closed = threading.Lock(), not enabled  # Disabled: as if closed from the start.
        self._bar: tqdm | None = None
        if self.interactive:
            size = _zero_size_fallback(self._stream)
            shape = {"dynamic_ncols": True} if size is None else {"ncols": size.columns, "nrows": size.lines}
            self._bar = tqdm(total=total_steps, initial=self._initial, file=self._stream, unit="steps",
                             mininterval=redraw_interval, delay=redraw_interval, miniters=1, **shape)

    def postfix(self) -> str:
        """`return R (meanN M) | eval E`: the latest episode's return, the mean of the last `window`, the last eval."""
        parts = [f"return {self._returns[-1]:.4g} (mean{len(self._returns)} "
                 f"{sum(self._returns) / len(self._returns):.4g})" if self._returns else "return -"]
        return " | ".join(parts + ([] if self._eval is None else [f"eval {self._eval:.4g}"]))

    def update(self, steps: float | None = None, returns: Iterable[float] = (),
               eval_return: float | None = None) -> None:
        """Reports the actor-step total, newly finished episodes' returns and/or a new evaluation's mean return."""
        with self._lock:
            if self._closed:
                return
            self._returns.extend(float(r) for r in returns)
            self._eval = self._eval if eval_return is None else float(eval_return)
            delta = 0 if steps is None else max(int(steps) - self.steps, 0)
            self.steps += delta
            if self._bar is not None:
                self._bar.set_postfix_str(self.postfix(), refresh=False)
                self._bar.update(delta)  # Redraws at most every `redraw_interval` seconds.
                if eval_return is not None and not delta:
                    self._bar.refresh()  # A new evaluation shows at once.
            elif self._plain_interval is not None and self._clock() - self._last_plain >= self._plain_interval:
                self._print_plain()

    def write(self, data: Mapping[str, Any]) -> None:
        """The `Logger` interface: episode rows (`actor_steps`, `episode_return`), eval rows (`eval_return_mean`)."""
        if any(key in data for key in ("actor_steps", "episode_return", "eval_return_mean")):
            self.update(data.get("actor_steps"), [data["episode_return"]] if "episode_return" in data else (),
                        data.get("eval_return_mean"))

    def print_line(self, line: str) -> None:
        """Prints `line` on stdout without breaking the bar (the terminal loggers' `print_line`)."""
        tqdm.write(line, file=sys.stdout)
        sys.stdout.flush()

    def _print_plain(self) -> None:
        self._last_plain = self._clock()
        meter = tqdm.format_meter(self.steps, self._total, self._last_plain - self._start, ncols=0, unit="steps",
                                  initial=self._initial, postfix=self.postfix())
        self._stream.write(f"[progress] {meter.strip()}\n")
        self._stream.flush()

    def close(self) -> None:
        """Ends the bar (or prints the last plain line); idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            if self._bar is not None:
                self._bar.set_postfix_str(self.postfix(), refresh=False)
                self._bar.close()  # Draws the final state and ends the line.
            elif self._plain_interval is not None:
                self._print_plain()
