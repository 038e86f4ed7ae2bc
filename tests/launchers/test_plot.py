"""launchers.plot: learning curves of synthetic and real run folders, grouped over seeds."""

from __future__ import annotations

import csv
import json
import subprocess
import sys

import numpy as np
import pytest

matplotlib_image = pytest.importorskip("matplotlib.image")

from launchers import plot  # noqa: E402
from launchers.experiment import experiment_from_declaration  # noqa: E402
from launchers.local import run_local  # noqa: E402


def _write_csv(path, rows):
    with open(path, "w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)


def _fake_run(folder, seed, learning_rate, slope, learner=True, actors=1):
    """A run folder as the runners write it: config.json, train*.csv, eval.csv and learner.csv."""
    folder.mkdir(parents=True)
    config = {"agent": "dqn", "env": "gridworld:simple", "seed": seed, "run_dir": str(folder),
              "num_steps": 2000, "agent_config": {"learning_rate": learning_rate, "hidden_sizes": [16]}}
    (folder / "config.json").write_text(json.dumps(config))
    rng = np.random.default_rng(seed)
    for actor in range(actors):
        steps = np.cumsum(rng.integers(20, 60, 60)) + actor
        train = [{"actor_steps": int(s), "actor_episodes": i + 1, "episode_return": slope * s / 100 + rng.normal(),
                  "episode_length": 40, "learner_steps": ""} for i, s in enumerate(steps)]
        _write_csv(folder / ("train.csv" if actors == 1 else f"train_actor{actor}.csv"), train)
    evals = [{"actor_steps": s, "train_seconds": s / 100, "eval_return_mean": slope * s / 100 + seed,
              "eval_return_std": 1.0, "eval_initial_value": s / 1000 + seed} for s in range(500, 2001, 500)]
    _write_csv(folder / "eval.csv", evals)
    if learner:
        rows = [{"actor_steps": s, "learner_steps": s // 4, "loss": 1.0 / (1 + s / 500) + 0.1 * seed,
                 "grad_norm": 2.0 + np.sin(s / 300)} for s in range(100, 2001, 100)]
        _write_csv(folder / "learner.csv", rows)
    return str(folder)


def _check_png(path, height, width):
    image = matplotlib_image.imread(path)
    assert image.shape[:2] == (height, width)
    rgb = image[..., :3]
    colours = np.unique((rgb.reshape(-1, 3) * 255).round().astype(np.uint8), axis=0)
    assert rgb.std() > 0.05, "the PNG looks blank"
    assert len(colours) > 50, f"only {len(colours)} distinct colours: nothing much was drawn"
    return image


def _expected_size(extra_panels: int) -> tuple[int, int]:
    rows = (extra_panels + 1) // 2
    return (round((plot.MAIN_HEIGHT_INCHES + plot.ROW_HEIGHT_INCHES * rows) * plot.DPI),
            round(plot.WIDTH_INCHES * plot.DPI))


@pytest.fixture
def three_runs(tmp_path):
    return [_fake_run(tmp_path / "a_s0", 0, 1e-3, 1.0), _fake_run(tmp_path / "a_s1", 1, 1e-3, 1.0),
            _fake_run(tmp_path / "b_s0", 0, 1e-4, 0.3)]


def test_seeds_of_one_config_form_one_group(three_runs):
    runs = [plot.load_run(d) for d in three_runs]
    groups = plot.group_runs(runs)
    assert [[r.name for r in g] for g in groups] == [["a_s0", "a_s1"], ["b_s0"]]
    assert plot.group_labels(groups) == ["learning_rate=0.001 (2 seeds)", "learning_rate=0.0001"]


@pytest.mark.parametrize("band", plot.BANDS)
def test_grouped_runs_make_a_full_size_non_blank_png(three_runs, tmp_path, band):
    out = plot.plot_runs(three_runs, str(tmp_path / "out" / "curves.png"), title="two configs", band=band)
    # Extra panels: loss, grad_norm and eval_initial_value (no entropy column).
    _check_png(out, *_expected_size(3))


def test_main_panel_only_without_learner_logs(tmp_path):
    run = _fake_run(tmp_path / "solo", 0, 1e-3, 1.0, learner=False)
    with open(f"{run}/eval.csv") as f:  # Drop eval_initial_value too.
        rows = [{k: v for k, v in r.items() if k != "eval_initial_value"} for r in csv.DictReader(f)]
    _write_csv(f"{run}/eval.csv", rows)
    _check_png(plot.plot_runs([run], str(tmp_path / "solo.png")), *_expected_size(0))


def test_several_actors_train_files_are_merged(tmp_path):
    run = plot.load_run(_fake_run(tmp_path / "actors", 0, 1e-3, 1.0, actors=2))
    assert len(run.train) == 120


def test_atari_raw_scores_are_preferred(tmp_path):
    run = _fake_run(tmp_path / "atari", 0, 1e-3, 1.0)
    _write_csv(f"{run}/eval.csv", [{"actor_steps": 1000, "eval_return_mean": 3.0, "eval_raw_score_mean": 40.0}])
    runs = [plot.load_run(run)]
    assert plot._eval_key(runs) == ("eval_raw_score_mean", "greedy evaluation, raw score")
    _check_png(plot.plot_runs([run], str(tmp_path / "atari.png")), *_expected_size(2))


def test_group_mean_and_band_over_seeds():
    curves = [(np.array([0.0, 10.0]), np.array([0.0, 10.0])), (np.array([0.0, 10.0]), np.array([2.0, 4.0]))]
    grid, mean, low, high = plot._aggregate(curves, "minmax", grid=np.array([0.0, 5.0, 10.0]))
    np.testing.assert_allclose(mean, [1.0, 4.0, 7.0])
    np.testing.assert_allclose(low, [0.0, 3.0, 4.0])
    np.testing.assert_allclose(high, [2.0, 5.0, 10.0])
    _, mean, low, high = plot._aggregate(curves, "std", grid=np.array([5.0]))
    np.testing.assert_allclose([low[0], high[0]], [3.0, 5.0])
    # A seed that stopped early (at 4, on 5.0) keeps its last value: at 8 the mean is (8 + 5) / 2, not 8.
    short = [(np.array([0.0, 10.0]), np.array([0.0, 10.0])), (np.array([0.0, 4.0]), np.array([5.0, 5.0]))]
    _, mean, low, _ = plot._aggregate(short, "minmax", grid=np.array([2.0, 8.0]))
    np.testing.assert_allclose(mean, [3.5, 6.5])
    np.testing.assert_allclose(low, [2.0, 5.0])
    # A seed counts from its first point on.
    late = [(np.array([0.0, 10.0]), np.array([0.0, 10.0])), (np.array([6.0, 10.0]), np.array([1.0, 1.0]))]
    _, mean, _, _ = plot._aggregate(late, "minmax", grid=np.array([2.0, 8.0]))
    np.testing.assert_allclose(mean, [2.0, 4.5])


def test_smooth_is_a_trailing_mean():
    np.testing.assert_allclose(plot.smooth(np.array([1.0, 3.0, 5.0, 7.0]), 2), [1.0, 2.0, 4.0, 6.0])


def test_folder_without_csvs_is_a_clear_error(tmp_path):
    empty = tmp_path / "not_a_run"
    empty.mkdir()
    with pytest.raises(ValueError, match=r"not_a_run.*no run logs: expected train\.csv.*eval\.csv"):
        plot.plot_runs([str(empty)], str(tmp_path / "x.png"))
    with pytest.raises(ValueError, match="is not a folder"):
        plot.plot_runs([str(tmp_path / "missing")], str(tmp_path / "x.png"))


def test_unknown_x_column_is_a_clear_error(three_runs, tmp_path):
    with pytest.raises(ValueError, match=r"no column 'wall_clock' for the x axis"):
        plot.plot_runs(three_runs, str(tmp_path / "x.png"), x="wall_clock")


def test_command_line_and_benchmarks_wrapper(three_runs, tmp_path):
    out = tmp_path / "cli.png"
    done = subprocess.run([sys.executable, "-m", "launchers.plot", *three_runs, f"--out={out}", "--title", "T",
                           "--x", "actor_steps"], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == str(out)
    _check_png(str(out), *_expected_size(3))
    from benchmarks.plot_run import plot_run

    _check_png(plot_run(three_runs[0], str(tmp_path / "wrapped.png")), *_expected_size(3))
    failed = subprocess.run([sys.executable, "-m", "launchers.plot", str(tmp_path), "--out", str(out)],
                            capture_output=True, text=True)
    assert failed.returncode == 2 and "no run logs" in failed.stderr


def test_a_real_short_run_is_plotted(tmp_path):
    run_dir = str(tmp_path / "dqn_run")
    run_local(experiment_from_declaration({
        "agent": "dqn", "env": "gridworld:simple", "seed": 0, "num_steps": 1500, "eval_every": 500,
        "eval_episodes": 2, "run_dir": run_dir, "device": "cpu", "log_interval": 1e9, "torch_threads": 1,
        "agent_config": {"min_replay_size": 200, "hidden_sizes": [32], "samples_per_insert": 8.0}}))
    out = plot.plot_runs([run_dir], str(tmp_path / "real.png"))
    # DQN logs loss and grad_norm; its evaluator logs eval_initial_value.
    _check_png(out, *_expected_size(3))
