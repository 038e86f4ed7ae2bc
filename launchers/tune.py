"""Hyperparameter search with Optuna: every trial an ordinary run folder, the study in SQLite.

    python -m launchers.tune --agent=ppo --env=gym:CartPole-v1 --num_trials=20 --num_steps=50000 \\
        --study_dir=studies/ppo_cartpole [--search_space=space.json] [--seeds=0,1] [--n_jobs=2]

TPE proposes each trial's agent config values (`launchers.search_space`: a documented default space per
agent, or a JSON file). A trial trains one run per seed, each under STUDY_DIR/trial_<n>_s<seed>, and scores
the mean of their final greedy returns. The first seed's periodic evaluations feed Optuna's median pruner,
which stops a trial whose evaluations fall below the median of earlier trials at the same step (the
stopped run still ends as a finished run). The study lives in STUDY_DIR/study.db: the same command again
continues it, until it holds --num_trials finished trials. --n_jobs runs that many worker processes on the
same study, each with its own sampler seed (trials that start together may take the count up to
num_trials + n_jobs - 1). At the end STUDY_DIR/best_config.json (the best trial's config.json, which
`python -m launchers.<agent> --config=STUDY_DIR/best_config.json` reruns as it is) and
STUDY_DIR/optimization_history.png.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import warnings
from typing import Any, Sequence

from absl import app, flags

FLAGS = flags.FLAGS
STUDY_NAME = "agentpipe"


def define_flags() -> None:
    flags.DEFINE_string("agent", None, "Agent to tune (dqn, ppo, sac, ...).")
    flags.DEFINE_string("env", None, "Environment name, as --env of the launchers.")
    flags.DEFINE_integer("num_trials", 20, "Finished (complete or pruned) trials the study should hold.",
                         lower_bound=1)
    flags.DEFINE_integer("num_steps", 50_000, "Training budget of each run, in actor steps.", lower_bound=1)
    flags.DEFINE_integer("eval_every", 0, "Evaluation period of each run (the pruner's reports); "
                         "0: a fifth of num_steps.", lower_bound=0)
    flags.DEFINE_integer("eval_episodes", 10, "Greedy episodes per evaluation.", lower_bound=1)
    flags.DEFINE_string("study_dir", None, "Folder of the study: study.db, the trials' run folders, results.")
    flags.DEFINE_string("search_space", None, "JSON file of the search space (default: the agent's).")
    flags.DEFINE_list("seeds", ["0"], "Seeds each trial trains (its score: their mean final return).")
    flags.DEFINE_integer("n_jobs", 1, "Worker processes running trials side by side.", lower_bound=1)
    flags.DEFINE_string("env_options", "", "Environment options, key=value,... (as the launchers').")
    flags.DEFINE_integer("sampler_seed", 0, "Seed of the TPE sampler.")
    flags.DEFINE_bool("worker", False, "Internal: run trials in this process (set for --n_jobs workers).")


def _optuna():
    try:
        import optuna
    except ImportError:
        raise ValueError('launchers.tune needs optuna: pip install "agentpipe[tune]".') from None
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna


def open_study(study_dir: str, settings: dict[str, Any], sampler_seed: int = 0):
    """The study in STUDY_DIR/study.db, created or continued; refuses one made for other settings."""
    optuna = _optuna()
    os.makedirs(study_dir, exist_ok=True)
    storage = f"sqlite:///{os.path.abspath(os.path.join(study_dir, 'study.db'))}"
    study = optuna.create_study(study_name=STUDY_NAME, storage=storage, load_if_exists=True, direction="maximize",
                                sampler=optuna.samplers.TPESampler(seed=sampler_seed),
                                pruner=optuna.pruners.MedianPruner(n_startup_trials=5, n_warmup_steps=0))
    stored = study.user_attrs.get("settings")
    if stored is None:
        study.set_user_attr("settings", settings)
    elif stored != settings:
        changed = sorted(k for k in set(stored) | set(settings) if stored.get(k) != settings.get(k))
        raise ValueError(f"{study_dir} holds a study with other settings ({', '.join(changed)}: "
                         f"{ {k: stored.get(k) for k in changed} }); use another --study_dir to start a new one.")
    return study


def _finished(study) -> int:
    optuna = _optuna()
    return len(study.get_trials(deepcopy=False, states=(optuna.trial.TrialState.COMPLETE,
                                                        optuna.trial.TrialState.PRUNED)))


def make_objective(settings: dict[str, Any], space: dict[str, Any], study_dir: str):
    """The trial function: runs each seed, reports the first seed's evaluations, returns the mean final."""
    optuna = _optuna()
    from launchers.experiment import experiment_from_declaration
    from launchers.runners import run_experiment
    from launchers.search_space import suggest

    def objective(trial) -> float:
        params = suggest(trial, space)
        finals, pruned = [], False
        for index, seed in enumerate(settings["seeds"]):
            run_dir = os.path.join(study_dir, f"trial_{trial.number}_s{seed}")
            if os.path.exists(run_dir):  # A trial interrupted before: its folder is not a finished run.
                shutil.rmtree(run_dir)
            declaration = {"agent": settings["agent"], "env": settings["env"], "env_options": settings["env_options"],
                           "seed": seed, "num_steps": settings["num_steps"], "eval_every": settings["eval_every"],
                           "eval_episodes": settings["eval_episodes"], "run_dir": run_dir, "progress": False,
                           "plots": False, "log_interval": 1e9, "agent_config": params}

            def report(row: dict[str, Any]) -> bool:
                nonlocal pruned
                trial.report(float(row["eval_return_mean"]), step=int(row["actor_steps"]))
                pruned = trial.should_prune()
                return pruned

            summary = run_experiment(experiment_from_declaration(declaration), report if index == 0 else None)
            finals.append(float(summary["final_eval_return"]))
            if pruned:
                trial.set_user_attr("finals", finals)
                raise optuna.TrialPruned()
        trial.set_user_attr("finals", finals)
        return sum(finals) / len(finals)

    return objective


def _progress(total: int):
    started = time.perf_counter()

    def callback(study, trial) -> None:
        state = trial.state.name.lower()
        value = "" if trial.value is None else f" value {trial.value:.4g}"
        try:
            best = f" | best {study.best_value:.4g} (trial {study.best_trial.number})"
        except ValueError:
            best = ""
        print(f"[tune] trial {trial.number} {state}{value}{best} | {_finished(study)}/{total} finished | "
              f"{json.dumps(trial.params)} | {time.perf_counter() - started:.0f} s", flush=True)

    return callback


def write_results(study, study_dir: str) -> dict[str, Any]:
    """STUDY_DIR/best_config.json (the best trial's first run's config.json) and optimization_history.png."""
    best = study.best_trial
    seeds = study.user_attrs["settings"]["seeds"]
    source = os.path.join(study_dir, f"trial_{best.number}_s{seeds[0]}", "config.json")
    with open(source) as f:
        config = json.load(f)
    config.pop("run_dir", None)
    with open(os.path.join(study_dir, "best_config.json"), "w") as f:
        json.dump(config, f, indent=2)
    written = [os.path.join(study_dir, "best_config.json")]
    try:
        import optuna.visualization.matplotlib as optuna_plots

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Optuna marks its matplotlib plots experimental.
            axis = optuna_plots.plot_optimization_history(study)
        axis.figure.savefig(os.path.join(study_dir, "optimization_history.png"), dpi=100, bbox_inches="tight")
        written.append(os.path.join(study_dir, "optimization_history.png"))
    except ImportError:
        print("[tune] no matplotlib: optimization_history.png skipped.", flush=True)
    return {"best_trial": best.number, "best_value": best.value, "best_params": best.params, "written": written}


def tune(agent: str, env: str, study_dir: str, num_trials: int, num_steps: int, seeds: Sequence[int] = (0,),
         search_space: str | None = None, eval_every: int = 0, eval_episodes: int = 10,
         env_options: dict[str, Any] | None = None, sampler_seed: int = 0, worker_command: list[str] | None = None,
         n_jobs: int = 1, write: bool = True) -> dict[str, Any]:
    """Runs the study to `num_trials` finished trials (see the module docstring); returns the best, and with
    `write` the results files. `n_jobs` > 1 starts that many `worker_command` processes on the study."""
    from launchers.agent_registry import get_agent
    from launchers.search_space import check_space, default_space, load_space

    entry = get_agent(agent)
    space = load_space(search_space) if search_space else default_space(agent)
    check_space(space, entry.config_class)  # Before any trial: a bad field fails here, named.
    settings = {"agent": agent, "env": env, "env_options": dict(env_options or {}), "num_steps": int(num_steps),
                "eval_every": int(eval_every) or max(1, int(num_steps) // 5), "eval_episodes": int(eval_episodes),
                "seeds": [int(s) for s in seeds], "space": space}
    study = open_study(study_dir, settings, sampler_seed)
    optuna = _optuna()
    if _finished(study) < num_trials:
        if n_jobs > 1 and worker_command:  # Each worker its own sampler seed, or they would propose alike.
            workers = [subprocess.Popen([*worker_command, f"--sampler_seed={sampler_seed + 1 + i}"])
                       for i in range(n_jobs)]
            codes = [worker.wait() for worker in workers]
            if any(codes):
                raise RuntimeError(f"A tune worker failed (exit codes {codes}); see its output above.")
        else:
            done = optuna.study.MaxTrialsCallback(num_trials, states=(optuna.trial.TrialState.COMPLETE,
                                                                       optuna.trial.TrialState.PRUNED))
            study.optimize(make_objective(settings, space, study_dir), callbacks=[done, _progress(num_trials)],
                           catch=())
    if not write:
        return {}
    return write_results(study, study_dir)


def main(argv: list[str]) -> None:
    del argv
    if not FLAGS.agent or not FLAGS.env or not FLAGS.study_dir:
        sys.exit("Usage: python -m launchers.tune --agent=A --env=E --study_dir=D [--num_trials=N] [--num_steps=S]")
    from launchers.flags import parse_env_options

    try:
        seeds = [int(s) for s in FLAGS.seeds]
    except ValueError:
        sys.exit(f"[tune] --seeds takes integers, got {FLAGS.seeds}.")
    worker = [sys.executable, "-m", "launchers.tune",
              *[a for a in sys.argv[1:] if not a.startswith(("--n_jobs", "--sampler_seed"))], "--n_jobs=1", "--worker"]
    try:
        result = tune(FLAGS.agent, FLAGS.env, FLAGS.study_dir, FLAGS.num_trials, FLAGS.num_steps, seeds,
                      FLAGS.search_space, FLAGS.eval_every, FLAGS.eval_episodes, parse_env_options(FLAGS.env_options),
                      FLAGS.sampler_seed, None if FLAGS.worker else worker, FLAGS.n_jobs, write=not FLAGS.worker)
    except ValueError as error:
        sys.exit(f"[tune] {error}")
    if not FLAGS.worker:
        print(f"[tune] best: trial {result['best_trial']} value {result['best_value']:.4g} "
              f"params {json.dumps(result['best_params'])}; wrote {', '.join(result['written'])}", flush=True)


if __name__ == "__main__":
    define_flags()
    app.run(main)
