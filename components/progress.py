"""A training progress bar on stderr: steps/total, steps/s, episode returns, elapsed time and ETA.

On an interactive terminal (`stream.isatty()`) one line is redrawn in place
(at most every `redraw_interval` seconds). Elsewhere (CI, a redirected
stderr) it stays quiet: one plain `[progress] ...` line at most every
`plain_interval` seconds (default 60; None = no lines at all) and a last one
at `close()`, so logs stay readable. `enabled=False` writes nothing.

It is a `Logger`: as a sink of the training loggers it reads `actor_steps`
and `episode_return` from episode rows and `eval_return_mean` from
evaluation rows. Runners may also call `update(actor_steps, returns)`
directly. Every method is thread-safe (several actor threads may report);
the bar shows the largest step count reported, so out-of-order reports from
different threads never move it backwards. Lines other code prints while the
bar is on screen go through `suspend()` (the terminal logger does), so they
do not collide with it.
"""

from __future__ import annotations

import collections
import contextlib
import math
import os
import shutil
import sys
import threading
import time
from typing import Any, Callable, Iterable, Iterator, Mapping, TextIO

from components.loggers import Logger

__all__ = ["ProgressBar", "format_duration"]


def format_duration(seconds: float) -> str:
    """`MM:SS` under an hour, `H:MM:SS` from one hour on; `--:--` when unknown."""
    if seconds is None or not math.isfinite(seconds) or seconds < 0:
        return "--:--"
    seconds = int(round(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    return f"{hours}:{minutes:02d}:{secs:02d}" if hours else f"{minutes:02d}:{secs:02d}"


def _format_rate(rate: float | None) -> str:
    if rate is None or not math.isfinite(rate):
        return "? steps/s"
    return f"{rate:,.0f} steps/s" if rate >= 10 else f"{rate:.2g} steps/s"


def _format_return(value: float) -> str:
    return f"{value:.4g}" if abs(value) < 1e5 else f"{value:.0f}"


def _is_tty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError, OSError):  # No isatty, or a closed stream.
        return False


class ProgressBar(Logger):
    """Shows training progress; see the module docstring.

    Args:
      total_steps: The actor-step budget (None: no percentage, bar or ETA).
      enabled: False makes every method a no-op (`--progress=false`).
      stream: Where to draw (default: `sys.stderr`, looked up at each draw).
      interactive: Redraw in place (True) or print plain lines (False);
        None asks `stream.isatty()` once, here.
      redraw_interval: Minimum seconds between in-place redraws.
      plain_interval: Non-interactive only: minimum seconds between plain
        lines, the first one `plain_interval` after the start (None: none,
        not even at `close`).
      window: Episodes in the mean return (100, as SB3's `ep_rew_mean`).
      rate_window: Seconds of recent reports the steps/s (and so the ETA) is
        measured over.
      initial_steps: Steps already done when the bar starts (a resumed run);
        they count towards the total but not the rate.
      width: Line width in characters (None: the terminal's, else 100).
      clock: Seconds, monotonic (tests pass a fake one).
    """

    def __init__(self, total_steps: int | None, *, enabled: bool = True, stream: TextIO | None = None,
                 interactive: bool | None = None, redraw_interval: float = 0.1,
                 plain_interval: float | None = 60.0, window: int = 100, rate_window: float = 30.0,
                 initial_steps: float = 0, width: int | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if total_steps is not None and total_steps <= 0:
            raise ValueError(f"total_steps must be > 0 or None, got {total_steps}.")
        self.enabled = enabled
        self._total = total_steps
        self._stream = stream
        self.interactive = _is_tty(self._out()) if interactive is None else bool(interactive)
        self._redraw_interval = redraw_interval
        self._plain_interval = plain_interval
        self._rate_window = rate_window
        self._width = width
        self._clock = clock
        self._lock = threading.RLock()
        self._start = clock()
        self._initial = float(initial_steps)
        self._steps = float(initial_steps)
        self._samples: collections.deque[tuple[float, float]] = collections.deque([(self._start, self._steps)])
        self._returns: collections.deque[float] = collections.deque(maxlen=window)
        self._episodes = 0
        self._eval_return: float | None = None
        self._last_draw = -math.inf
        self._last_plain = self._start
        self._drawn = 0  # Characters of the line now on screen (interactive), 0 when none.
        self._closed = False

    # ------------------------------------------------------------------ reporting

    def update(self, steps: float | None = None, returns: Iterable[float] = (),
               eval_return: float | None = None) -> None:
        """Reports the actor-step total, newly finished episodes' returns and/or a new evaluation's mean return."""
        if not self.enabled:
            return
        with self._lock:
            if self._closed:
                return
            now = self._clock()
            if steps is not None and steps > self._steps:
                self._steps = float(steps)
                # Samples at least 0.25 s apart; a closer report replaces the newest one.
                if len(self._samples) >= 2 and now - self._samples[-2][0] < 0.25:
                    self._samples[-1] = (now, self._steps)
                else:
                    self._samples.append((now, self._steps))
                while len(self._samples) > 2 and now - self._samples[1][0] >= self._rate_window:
                    self._samples.popleft()
            for value in returns:
                self._returns.append(float(value))
                self._episodes += 1
            if eval_return is not None:
                self._eval_return = float(eval_return)
            self._maybe_draw(now)

    def write(self, data: Mapping[str, Any]) -> None:
        """The `Logger` interface: episode rows (`actor_steps`, `episode_return`) and eval rows (`eval_return_mean`)."""
        if not self.enabled:
            return
        steps = data.get("actor_steps")
        episode_return = data.get("episode_return")
        eval_return = data.get("eval_return_mean")
        if steps is None and episode_return is None and eval_return is None:
            return
        self.update(None if steps is None else float(steps),
                    () if episode_return is None else (float(episode_return),),
                    None if eval_return is None else float(eval_return))

    @contextlib.contextmanager
    def suspend(self) -> Iterator[None]:
        """Clears the bar while the body prints its own lines, then redraws it."""
        if not self.enabled or not self.interactive:
            yield
            return
        with self._lock:
            had_line = self._drawn > 0
            if had_line:
                self._out().write("\r" + " " * self._drawn + "\r")
                self._out().flush()
                self._drawn = 0
            try:
                yield
            finally:
                if had_line and not self._closed:
                    self._draw_interactive(self._clock())

    def print_line(self, line: str) -> None:
        """Prints `line` on stdout above the bar (the `print_line` of the terminal loggers)."""
        with self.suspend():
            print(line, flush=True)

    def close(self) -> None:
        """Draws the final state and ends the line (interactive) or prints the last plain line; idempotent."""
        if not self.enabled:
            return
        with self._lock:
            if self._closed:
                return
            now = self._clock()
            if self.interactive:
                self._draw_interactive(now)
                self._out().write("\n")
                self._out().flush()
                self._drawn = 0
            elif self._plain_interval is not None:
                self._print_plain(now)
            self._closed = True

    def __enter__(self) -> "ProgressBar":
        return self

    def __exit__(self, *exc_info: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ statistics

    @property
    def steps(self) -> float:
        return self._steps

    def rate(self) -> float | None:
        """Steps per second over the last `rate_window` seconds of reports (None before two reports)."""
        with self._lock:
            (t0, s0), (t1, s1) = self._samples[0], self._samples[-1]
            if t1 - t0 <= 0 or s1 <= s0:
                return None
            return (s1 - s0) / (t1 - t0)

    def eta(self) -> float | None:
        """Seconds left at the current rate (None when unknown or without a total)."""
        rate = self.rate()
        if self._total is None or rate is None or rate <= 0:
            return None
        return max(self._total - self._steps, 0.0) / rate

    def render(self, interactive: bool | None = None, now: float | None = None) -> str:
        """The current progress line, without any carriage return or newline."""
        with self._lock:
            now = self._clock() if now is None else now
            interactive = self.interactive if interactive is None else interactive
            steps = int(self._steps)
            fraction = None if self._total is None else min(self._steps / self._total, 1.0)
            elapsed, eta = format_duration(now - self._start), format_duration(self.eta())
            # Most important first: a narrow terminal cuts the line's end.
            if self._total is None:
                parts = [f"{steps:,} steps", elapsed if interactive else f"elapsed {elapsed}"]
            elif interactive:
                parts = [f"{steps:,}/{self._total:,} steps", f"{elapsed}<{eta}"]
            else:
                parts = [f"{steps:,}/{self._total:,} steps ({fraction:.0%})", f"elapsed {elapsed} ETA {eta}"]
            parts.append(_format_rate(self.rate()))
            if self._returns:
                mean = sum(self._returns) / len(self._returns)
                parts.append(f"return {_format_return(self._returns[-1])} "
                             f"(mean{len(self._returns)} {_format_return(mean)})")
            else:
                parts.append("return -")
            if self._eval_return is not None:
                parts.append(f"eval {_format_return(self._eval_return)}")
            if not interactive:
                return "[progress] " + " | ".join(parts)
            body = " | ".join(parts)
            width = self._line_width()
            if fraction is not None:
                prefix = f"{fraction:4.0%} "
                bar_width = 20  # Fixed, so the line does not jitter; left out when the line would not fit.
                if len(prefix) + bar_width + 3 + len(body) <= width:
                    filled = int(fraction * bar_width)
                    prefix += "[" + "#" * filled + "-" * (bar_width - filled) + "] "
                body = prefix + body
            return body[:width]

    # ------------------------------------------------------------------ drawing

    def _out(self) -> TextIO:
        return self._stream if self._stream is not None else sys.stderr

    def _line_width(self) -> int:
        """One less than the terminal's columns, so the line never wraps (a wrapped line cannot be redrawn)."""
        if self._width is not None:
            return self._width
        try:
            columns = os.get_terminal_size(self._out().fileno()).columns
        except (AttributeError, ValueError, OSError):  # No fileno (StringIO) or not a terminal.
            columns = 0
        if columns <= 0:  # Unknown (a pty may report 0): $COLUMNS, else 101.
            columns = shutil.get_terminal_size((101, 24)).columns
        return max(columns - 1, 20)

    def _maybe_draw(self, now: float) -> None:
        if self.interactive:
            if now - self._last_draw >= self._redraw_interval:
                self._draw_interactive(now)
        elif self._plain_interval is not None and now - self._last_plain >= self._plain_interval:
            self._print_plain(now)

    def _draw_interactive(self, now: float) -> None:
        line = self.render(interactive=True, now=now)
        stream = self._out()
        stream.write("\r" + line + " " * max(self._drawn - len(line), 0))
        stream.flush()
        self._drawn = len(line)
        self._last_draw = now

    def _print_plain(self, now: float) -> None:
        stream = self._out()
        stream.write(self.render(interactive=False, now=now) + "\n")
        stream.flush()
        self._last_plain = now

