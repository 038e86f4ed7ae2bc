"""Tests for `components.progress.ProgressBar` (tqdm drawn into a StringIO whose isatty is forced)."""

from __future__ import annotations

import io
import sys
import threading

import pytest

from components.logger_factory import LoggerFactory
from components.loggers import TerminalLogger
from components.progress import ProgressBar


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class Terminal(io.StringIO):
    """A StringIO that says whether it is a terminal."""

    def __init__(self, tty: bool) -> None:
        super().__init__()
        self._tty = tty

    def isatty(self) -> bool:
        return self._tty


_OPEN: list[ProgressBar] = []


@pytest.fixture(autouse=True)
def _close_bars():
    """Closes every test's bars: tqdm draws a bar opened while another is open on the line below it."""
    yield
    while _OPEN:
        _OPEN.pop().close()


def _bar(tty: bool, **kwargs) -> tuple[ProgressBar, Terminal, FakeClock]:
    stream, clock = Terminal(tty), FakeClock()
    kwargs.setdefault("redraw_interval", 0.0)  # Every update is drawn (tqdm's own clock is not faked).
    _OPEN.append(ProgressBar(10_000, stream=stream, clock=clock, **kwargs))
    return _OPEN[-1], stream, clock


def _last_line(stream: io.StringIO) -> str:
    return stream.getvalue().replace("\n", "\r").rstrip("\r").split("\r")[-1]


def test_interactive_draws_a_tqdm_bar_over_the_budget_in_place():
    bar, stream, _ = _bar(tty=True)
    assert bar.interactive
    bar.update(1_000, returns=[10.0, 20.0])
    line = _last_line(stream)
    assert "10%|" in line and "1000/10000" in line and "steps/s" in line
    assert "return 20 (mean2 15)" in line
    bar.update(3_000, returns=[30.0])
    assert "\n" not in stream.getvalue()  # Redrawn over the same line.
    assert "30%|" in _last_line(stream) and "3000/10000" in _last_line(stream)
    bar.close()
    assert stream.getvalue().endswith("\n")


def test_mean_return_is_over_the_last_100_episodes():
    bar, stream, _ = _bar(tty=True)
    bar.update(500, returns=[float(i) for i in range(150)])
    assert "return 149 (mean100 99.5)" in _last_line(stream)


def test_resumed_run_starts_at_its_step():
    bar, stream, _ = _bar(tty=True, initial_steps=4_000)
    assert "4000/10000" in _last_line(stream)
    bar.update(5_000)
    assert "50%|" in _last_line(stream)
    bar.close()


def test_non_interactive_draws_no_bar_and_one_plain_line_per_interval():
    bar, stream, clock = _bar(tty=False, plain_interval=60.0)
    assert not bar.interactive
    for second in range(1, 301):  # 5 minutes of reports, 10 per second.
        for tenth in range(10):
            clock.now = 1000.0 + second - 1 + (tenth + 1) / 10
            bar.update(second * 30 + tenth, returns=[1.0] if tenth == 0 else ())
    lines = stream.getvalue().splitlines()
    assert 4 <= len(lines) <= 5  # One a minute, the first after a minute.
    assert "\r" not in stream.getvalue() and "|" not in lines[0].split(",")[0]  # No bar.
    assert lines[0].startswith("[progress] ") and "steps/s" in lines[0] and "return 1 (mean" in lines[0]
    bar.close()
    final = stream.getvalue().splitlines()[-1]
    assert final.startswith("[progress] 90% 9009/10000 [05:00<")


def test_non_interactive_without_plain_lines_writes_nothing():
    bar, stream, clock = _bar(tty=False, plain_interval=None)
    for i in range(100):
        clock.now += 10.0
        bar.update(i * 100, returns=[1.0])
    bar.close()
    assert stream.getvalue() == ""


@pytest.mark.parametrize("tty", [True, False])
def test_disabled_writes_nothing(tty):
    bar, stream, clock = _bar(tty=tty, enabled=False, plain_interval=1.0)
    assert not bar.interactive
    for i in range(100):
        clock.now += 10.0
        bar.update(i * 100, returns=[1.0])
        bar.write({"actor_steps": i, "episode_return": 1.0, "eval_return_mean": 2.0})
    bar.close()
    assert stream.getvalue() == ""


def test_write_reads_episode_and_eval_rows():
    bar, stream, _ = _bar(tty=True)
    bar.write({"actor_steps": 50, "episode_return": 9.0, "episode_length": 9})
    bar.write({"learner_steps": 3, "loss": 1.0})  # Nothing it shows: ignored.
    bar.write({"actor_steps": 60, "eval_return_mean": 475.0})
    line = _last_line(stream)
    assert "60/10000" in line and "return 9 (mean1 9) | eval 475" in line


def test_steps_never_go_backwards_and_threads_can_report():
    bar, stream, _ = _bar(tty=True)
    errors: list[BaseException] = []

    def report(offset: int) -> None:
        try:
            for i in range(500):
                bar.update(i * 4 + offset, returns=[float(offset)])
        except BaseException as error:  # noqa: BLE001
            errors.append(error)

    threads = [threading.Thread(target=report, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors
    assert bar.steps == 1_999
    bar.update(10)  # A late, older report.
    assert bar.steps == 1_999
    assert "1999/10000" in _last_line(stream) and "(mean100 " in _last_line(stream)


def test_log_lines_are_printed_above_the_bar(monkeypatch):
    terminal = Terminal(True)  # stdout and stderr are one terminal, as in a shell.
    monkeypatch.setattr(sys, "stdout", terminal)
    monkeypatch.setattr(sys, "stderr", terminal)
    bar = ProgressBar(10_000, redraw_interval=0.0)
    _OPEN.append(bar)
    bar.update(100)
    drawn = terminal.getvalue()
    TerminalLogger("eval", print_line=bar.print_line).write({"x": 1})
    out = terminal.getvalue()[len(drawn):]
    # The bar's line is cleared, the logger's line printed on a line of its own, and the bar drawn again below it.
    before, logged, after = out.partition("[eval] x = 1\n")
    assert logged and before.endswith("\r") and "100/10000" not in before
    assert "100/10000" in after and "\n" not in after
    bar.close()


def test_logger_factory_feeds_training_and_eval_rows_to_the_bar(capsys):
    bar, stream, _ = _bar(tty=True)
    factory = LoggerFactory(None, terminal_labels=(), progress=bar)
    train, learner, evaluation = factory("train_actor0"), factory("learner"), factory("eval")
    train.write({"actor_steps": 10, "episode_return": 5.0})
    learner.write({"actor_steps": 20, "loss": 1.0})  # Not a training row: the bar ignores it.
    assert bar.steps == 10
    evaluation.write({"actor_steps": 12, "eval_return_mean": 7.0})
    factory.close()  # Does not close the shared bar.
    assert "\n" not in stream.getvalue()
    bar.update(11)
    bar.close()
    assert "eval 7" in stream.getvalue() and stream.getvalue().endswith("\n")
    assert capsys.readouterr().out == ""


def test_without_total_no_percentage_or_eta():
    stream, clock = Terminal(False), FakeClock()
    bar = ProgressBar(None, stream=stream, clock=clock)
    clock.now += 2.0
    bar.update(400)
    bar.close()
    line = stream.getvalue()
    assert line == "[progress] 400steps [00:02, 200.00steps/s, return -]\n"
    with pytest.raises(ValueError, match="total_steps"):
        ProgressBar(0)


def test_a_terminal_reporting_zero_columns_still_gets_a_bar(monkeypatch):
    """A bare pty (`script`, some containers) reports 0 x 0, at which tqdm would draw nothing at all."""
    import os

    stream = Terminal(True)
    monkeypatch.setattr(stream, "fileno", lambda: 2, raising=False)
    monkeypatch.setattr(os, "get_terminal_size", lambda fd=None: os.terminal_size((0, 0)))
    monkeypatch.setenv("COLUMNS", "90")
    monkeypatch.setenv("LINES", "30")
    bar = ProgressBar(10_000, stream=stream, redraw_interval=0.0)
    _OPEN.append(bar)
    bar.update(2_500)
    line = _last_line(stream)
    assert "25%|" in line and "2500/10000" in line and len(line) <= 90
