"""launchers.tune: an Optuna study of ordinary run folders, continued from SQLite, pruned by evaluations."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

optuna = pytest.importorskip("optuna")

from launchers import search_space, tune  # noqa: E402
from launchers.agent_registry import get_agent  # noqa: E402
from launchers.experiment import experiment_from_declaration, load_declaration  # noqa: E402
from launchers.runners import run_experiment  # noqa: E402

SPACE = {"learning_rate": {"type": "float", "low": 1e-4, "high": 1e-2, "log": True},
         "hidden_sizes": {"type": "categorical", "choices": [[16], [32, 32]]},
         "batch_size": {"type": "categorical", "choices": [16, 32]}}


def _space_file(tmp_path, space) -> str:
    path = tmp_path / "space.json"
    path.write_text(json.dumps(space))
    return str(path)


def test_a_study_of_run_folders_continues_and_writes_a_rerunnable_best_config(tmp_path):
    study_dir, space = str(tmp_path / "study"), _space_file(tmp_path, SPACE)
    first = tune.tune("dqn", "gridworld:simple", study_dir, num_trials=2, num_steps=600, search_space=space)
    study = optuna.load_study(study_name=tune.STUDY_NAME, storage=f"sqlite:///{study_dir}/study.db")
    assert len(study.trials) == 2
    for trial in study.trials:
        summary = json.load(open(os.path.join(study_dir, f"trial_{trial.number}_s0", "summary.json")))
        assert trial.value == pytest.approx(summary["final_eval_return"])
    tune.tune("dqn", "gridworld:simple", study_dir, num_trials=3, num_steps=600, search_space=space)
    study = optuna.load_study(study_name=tune.STUDY_NAME, storage=f"sqlite:///{study_dir}/study.db")
    assert len(study.trials) == 3  # The same command with a larger budget adds one trial, keeping the two.
    best = load_declaration(os.path.join(study_dir, "best_config.json"))
    params = study.best_trial.params
    assert best["agent_config"]["learning_rate"] == pytest.approx(params["learning_rate"])
    assert best["agent_config"]["hidden_sizes"] == json.loads(params["hidden_sizes"])
    assert "run_dir" not in best and os.path.getsize(os.path.join(study_dir, "optimization_history.png")) > 1000
    assert first["written"][0].endswith("best_config.json")
    rerun = experiment_from_declaration({**best, "run_dir": str(tmp_path / "rerun"), "num_steps": 200})
    assert dataclasses.asdict(rerun.builder.config)["batch_size"] == params["batch_size"]


def test_other_settings_in_the_same_study_dir_are_refused(tmp_path):
    study_dir, space = str(tmp_path / "study"), _space_file(tmp_path, SPACE)
    tune.tune("dqn", "gridworld:simple", study_dir, num_trials=1, num_steps=300, search_space=space)
    with pytest.raises(ValueError, match=r"other settings \(eval_every, num_steps"):
        tune.tune("dqn", "gridworld:simple", study_dir, num_trials=2, num_steps=400, search_space=space)


def test_a_pruned_trial_stops_its_run_at_the_evaluation(tmp_path):
    study = optuna.create_study(direction="maximize", pruner=optuna.pruners.ThresholdPruner(lower=1e9))
    settings = {"agent": "dqn", "env": "gridworld:simple", "env_options": {}, "num_steps": 2_000, "eval_every": 500,
                "eval_episodes": 2, "seeds": [0, 1]}
    study.optimize(tune.make_objective(settings, SPACE, str(tmp_path)), n_trials=1)
    assert study.trials[0].state == optuna.trial.TrialState.PRUNED
    summary = json.load(open(tmp_path / "trial_0_s0" / "summary.json"))
    assert summary["actor_steps"] < 1_000  # Stopped at the first evaluation (500), not at 2,000.
    assert not (tmp_path / "trial_0_s1").exists()  # A pruned trial trains no further seeds.


def test_the_run_hook_stops_any_runner_early(tmp_path):
    rows = []
    summary = run_experiment(experiment_from_declaration({
        "agent": "dqn", "env": "gridworld:simple", "num_steps": 1_000, "eval_every": 250, "eval_episodes": 1,
        "run_dir": str(tmp_path / "r"), "progress": False, "plots": False}), lambda row: rows.append(row) or True)
    assert len(rows) == 1 and rows[0]["actor_steps"] >= 250 and summary["actor_steps"] < 500


@pytest.mark.parametrize("agent", sorted(search_space.DEFAULT_SPACES))
def test_every_default_space_is_valid_for_its_agent(agent):
    search_space.check_space(search_space.default_space(agent), get_agent(agent).config_class)


@pytest.mark.parametrize("space, message", [
    ({"learnin_rate": {"type": "float", "low": 1e-4, "high": 1e-2}}, "'learnin_rate' is not a field of DQNConfig"),
    ({"learning_rate": {"type": "uniform", "low": 0, "high": 1}}, "must be an object with \"type\" one of"),
    ({"learning_rate": {"type": "float", "low": 1e-2, "high": 1e-4}}, "needs numbers \"low\" < \"high\""),
    ({"learning_rate": {"type": "float", "low": 0, "high": 1, "log": True}}, "log-scaled and needs \"low\" > 0"),
    ({"n_step": {"type": "int", "low": 0, "high": 3}}, "'n_step' can give 0, which DQNConfig refuses"),
    ({"batch_size": {"type": "categorical", "choices": []}}, "non-empty \"choices\" list"),
])
def test_a_bad_search_space_fails_before_any_trial_naming_the_field(tmp_path, space, message):
    study_dir = tmp_path / "study"
    with pytest.raises(ValueError, match=message):
        tune.tune("dqn", "gridworld:simple", str(study_dir), 1, 100, search_space=_space_file(tmp_path, space))
    assert not study_dir.exists()
