"""Tests for `components.progress.ProgressBar` (rendered into a StringIO with isatty forced)."""

from __future__ import annotations

import io
import re
import threading

import pytest

from components.logger_factory import LoggerFactory
from components.loggers import TerminalLogger
from components.progress import ProgressBar, format_duration


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


def _bar(tty: bool, **kwargs) -> tuple[ProgressBar, Terminal, FakeClock]:
    stream, clock = Terminal(tty), FakeClock()
    kwargs.setdefault("width", 200)
    return ProgressBar(10_000, stream=stream, clock=clock, **kwargs), stream, clock


def test_format_duration():
    assert format_duration(0) == "00:00"
    assert format_duration(90.4) == "01:30"
    assert format_duration(3725) == "1:02:05"
    assert format_duration(None) == format_duration(float("inf")) == "--:--"


def test_interactive_redraws_one_line_in_place():
    bar, stream, clock = _bar(tty=True)
    assert bar.interactive  # Asked the stream's isatty().
    clock.now += 10.0
    bar.update(1_000, returns=[10.0, 20.0])
    out = stream.getvalue()
    assert out.startswith("\r") and "\n" not in out
    assert "1,000/10,000 steps" in out
    assert "100 steps/s" in out  # 1,000 steps in 10 s.
    assert "return 20 (mean2 15)" in out
    assert "00:10<01:30" in out  # Elapsed<ETA: 9,000 steps left at 100 steps/s.
    assert re.search(r"10% \[#+-+\]", out)

    clock.now += 10.0
    bar.update(3_000, returns=[30.0])
    out = stream.getvalue()
    assert out.count("\r") == 2 and "\n" not in out  # Redrawn over the first line, not below it.
    assert "3,000/10,000 steps" in out.split("\r")[-1]
    assert "150 steps/s" in out.split("\r")[-1]  # 3,000 steps in 20 s.
    assert "00:20<00:47" in out.split("\r")[-1]  # 7,000 steps left at 150 steps/s.
    bar.close()
    assert stream.getvalue().endswith("\n")


def test_interactive_redraw_is_throttled_and_a_shorter_line_blanks_the_longer_one():
    bar, stream, clock = _bar(tty=True, redraw_interval=0.5)
    clock.now += 1.0
    bar.update(100, returns=[123456.0])
    for steps in range(101, 200):  # All within 0.5 s of the last redraw.
        bar.update(steps)
    assert stream.getvalue().count("\r") == 1
    first = stream.getvalue()[1:]
    clock.now += 0.5
    bar._returns.clear()
    bar.update(200)
    last = stream.getvalue().split("\r")[-1]
    assert len(last) >= len(first)  # Padded with spaces over the previous, longer line.
    assert last.rstrip() == bar.render(now=clock.now)


def test_rate_and_eta_follow_the_recent_window():
    bar, _, clock = _bar(tty=True, rate_window=30.0)
    for second in range(1, 61):
        clock.now += 1.0
        bar.update(10 * second if second <= 30 else 300 + 100 * (second - 30))  # 10, then 100 steps/s.
    # The last 30 s went at 100 steps/s; the run's average (55 steps/s) is not what the ETA needs.
    assert bar.rate() == pytest.approx(100.0, rel=0.05)
    assert bar.eta() == pytest.approx((10_000 - 3_300) / bar.rate())


def test_mean_return_is_over_the_last_100_episodes():
    bar, stream, clock = _bar(tty=True)
    clock.now += 1.0
    bar.update(500, returns=[float(i) for i in range(150)])
    assert "return 149 (mean100 99.5)" in stream.getvalue()


def test_non_interactive_is_quiet_with_at_most_one_plain_line_per_interval():
    bar, stream, clock = _bar(tty=False, plain_interval=60.0)
    assert not bar.interactive
    for second in range(1, 301):  # 5 minutes of reports, 10 per second.
        for tenth in range(10):
            clock.now += 0.1
            bar.update(second * 30 + tenth, returns=[1.0] if tenth == 0 else ())
    lines = stream.getvalue().splitlines()
    assert 4 <= len(lines) <= 5  # One a minute, the first after a minute.
    assert "\r" not in stream.getvalue()
    assert lines[0].startswith("[progress] ") and "steps/s" in lines[0] and "ETA" in lines[0]
    bar.close()
    final = stream.getvalue().splitlines()[-1]
    assert final.startswith("[progress] 9,009/10,000 steps (90%)")
    assert "elapsed 05:00" in final


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
    for i in range(100):
        clock.now += 10.0
        bar.update(i * 100, returns=[1.0])
        bar.write({"actor_steps": i, "episode_return": 1.0, "eval_return_mean": 2.0})
    with bar.suspend():
        pass
    bar.close()
    assert stream.getvalue() == ""


def test_write_reads_episode_and_eval_rows():
    bar, stream, clock = _bar(tty=True)
    clock.now += 1.0
    bar.write({"actor_steps": 50, "episode_return": 9.0, "episode_length": 9})
    bar.write({"learner_steps": 3, "loss": 1.0})  # Nothing it shows: ignored.
    clock.now += 1.0
    bar.write({"actor_steps": 60, "eval_return_mean": 475.0})
    line = stream.getvalue().split("\r")[-1]
    assert "60/10,000 steps" in line and "return 9 (mean1 9)" in line and "eval 475" in line


def test_steps_never_go_backwards_and_threads_can_report():
    bar, stream, clock = _bar(tty=True, redraw_interval=0.0)
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
    assert len(bar._returns) == 100


def test_terminal_lines_are_printed_above_the_bar(capsys):
    bar, stream, clock = _bar(tty=True)
    clock.now += 1.0
    bar.update(100)
    drawn = stream.getvalue()
    TerminalLogger("eval", print_line=bar.print_line).write({"x": 1})
    out = stream.getvalue()[len(drawn):]
    # The bar's line is blanked, the logger's line printed (on stdout), and the bar drawn again.
    assert out.startswith("\r" + " " * (len(drawn) - 1) + "\r\r")
    assert "100/10,000 steps" in out
    assert capsys.readouterr().out == "[eval] x = 1\n"


def test_logger_factory_feeds_training_and_eval_rows_to_the_bar(capsys):
    bar, stream, clock = _bar(tty=True)
    factory = LoggerFactory(None, terminal_labels=(), progress=bar)
    train, learner, evaluation = factory("train_actor0"), factory("learner"), factory("eval")
    clock.now += 1.0
    train.write({"actor_steps": 10, "episode_return": 5.0})
    learner.write({"actor_steps": 20, "loss": 1.0})  # Not a training row: the bar ignores it.
    assert bar.steps == 10
    evaluation.write({"actor_steps": 12, "eval_return_mean": 7.0})
    for logger in (train, learner, evaluation):
        logger.close()  # Does not close the shared bar.
    assert "\n" not in stream.getvalue()
    bar.close()
    assert "eval 7" in stream.getvalue() and stream.getvalue().endswith("\n")
    assert capsys.readouterr().out == ""


def test_without_total_no_percentage_or_eta():
    stream, clock = Terminal(True), FakeClock()
    bar = ProgressBar(None, stream=stream, clock=clock, width=200)
    clock.now += 2.0
    bar.update(400)
    line = stream.getvalue()
    assert "400 steps" in line and "200 steps/s" in line and "%" not in line and "<" not in line
    with pytest.raises(ValueError, match="total_steps"):
        ProgressBar(0)
