"""launchers.seed_stats and `launchers.plot --table/--aggregate/--band=ci`: rliable's estimates over seeds."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
from scipy import stats

pytest.importorskip("rliable")

from launchers import plot, seed_stats  # noqa: E402
from tests.launchers.test_plot import _fake_run  # noqa: E402


def test_curve_estimates_are_the_statistic_per_point_with_an_interval_around_it():
    rng = np.random.default_rng(0)
    values = rng.normal(size=(8, 5)) + np.arange(5)
    for name, reference in (("mean", values.mean(0)), ("median", np.median(values, 0)),
                            ("iqm", stats.trim_mean(values, 0.25, axis=0))):
        center, low, high = seed_stats.curve_estimates(values, name, reps=500)
        np.testing.assert_allclose(center, reference, rtol=1e-9)
        assert (low <= center + 1e-12).all() and (center <= high + 1e-12).all() and (high > low).all()
    same = np.repeat(values[:1], 4, axis=0)  # Identical seeds: no spread, so no interval.
    center, low, high = seed_stats.curve_estimates(same, "iqm", reps=200)
    np.testing.assert_allclose(low, center) and np.testing.assert_allclose(high, center)
    with pytest.raises(ValueError, match="Unknown statistic 'mode'"):
        seed_stats.curve_estimates(values, "mode")
    with pytest.raises(ValueError, match="finite values shaped"):
        seed_stats.curve_estimates(np.array([[1.0, np.nan]]))


def test_final_estimates_and_the_optimality_gap():
    finals = [100.0, 150.0, 180.0, 200.0, 90.0]
    estimates = seed_stats.final_estimates(finals, target=190.0, reps=1_000)
    assert estimates["mean"][0] == pytest.approx(np.mean(finals))
    assert estimates["median"][0] == pytest.approx(np.median(finals))
    assert estimates["optimality_gap"][0] == pytest.approx(np.mean(np.maximum(190.0 - np.array(finals), 0.0)))
    for value, low, high in estimates.values():
        assert low <= value <= high


def test_the_table_has_a_row_per_group_of_seeds_and_globs_expand(tmp_path, capsys):
    for seed in range(3):
        _fake_run(tmp_path / f"a_s{seed}", seed, 1e-3, 1.0)
    _fake_run(tmp_path / "b_s0", 0, 1e-4, 0.3)
    (tmp_path / "a_s2" / "summary.json").write_text(json.dumps({"final_eval_return": 99.0}))
    plot.main([str(tmp_path / "a_s*"), str(tmp_path / "b_s0"), "--table"])
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("| runs | seeds | IQM") and len(lines) == 4
    assert lines[2].startswith("| learning_rate=0.001 (3 seeds) | 3 |")
    finals = [20.0 + 0, 20.0 + 1, 99.0]  # eval.csv's last row (slope * 2000 / 100 + seed), and a summary's.
    assert f"{np.mean(finals):.4g} [" in lines[2].split("|")[4]
    assert "(99)" in lines[2] and "(99)" in lines[3]  # The gap's target: the best final on the environment.
    with pytest.raises(ValueError, match="matches no folder"):
        plot.expand_run_dirs([str(tmp_path / "missing_*")])


def test_the_cli_draws_an_iqm_curve_with_a_bootstrap_band(tmp_path):
    runs = [_fake_run(tmp_path / f"s{seed}", seed, 1e-3, 1.0) for seed in range(3)]
    out = tmp_path / "iqm.png"
    result = subprocess.run([sys.executable, "-m", "launchers.plot", *runs, f"--out={out}", "--aggregate=iqm",
                             "--band=ci", "--table"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    assert "| IQM [95% CI]" in result.stdout and out.exists()
    result = subprocess.run([sys.executable, "-m", "launchers.plot", *runs], capture_output=True, text=True)
    assert result.returncode != 0 and "give --out=FILE.png, --table, or both" in result.stderr
