"""The body of every agent's entry module: flags -> declaration -> runner -> summary line."""

from __future__ import annotations

import json
import sys

from absl import app

from launchers import flags as launcher_flags
from launchers.agent_registry import get_agent


def define_flags(agent: str, **defaults) -> None:
    """Defines the common flags and one flag per field of the agent's config."""
    launcher_flags.define_common_flags(agent, **defaults)
    launcher_flags.define_config_flags(get_agent(agent).config_class)


def run(agent: str) -> None:
    """`app.run` for an entry module; `--help`/`--helpfull` exit with status 0 (absl uses 1)."""
    try:
        app.run(lambda argv: main(agent))
    except SystemExit as exit_:
        asked_for_help = any(arg.split("=")[0] in ("--help", "-h", "--helpfull", "--helpshort", "-?")
                             for arg in sys.argv[1:])
        if asked_for_help and exit_.code == 1:
            raise SystemExit(0) from None
        raise


def describe_failure(error: BaseException) -> str:
    """`Type: message`, followed by the causes (a failed node's own error) in the same form."""
    parts = []
    while error is not None and len(parts) < 4:
        parts.append(f"{type(error).__name__}: {error}")
        error = error.__cause__
    return "\n  caused by ".join(parts)


def main(agent: str) -> None:
    """Runs the agent as the flags declare; the last stdout line is the summary as JSON."""
    from launchers.experiment import experiment_from_declaration
    from launchers.run_folder import check_run_dir
    from launchers.runners import run_experiment

    try:
        declaration = launcher_flags.declaration_from_flags(agent, get_agent(agent).config_class)
        experiment = experiment_from_declaration(declaration)
        check_run_dir(experiment)
    except (ValueError, TypeError) as error:
        raise app.UsageError(str(error)) from None
    print(f"[{agent}] training on {declaration['env']} for {declaration['num_steps']} steps; "
          f"run folder: {experiment.run_dir}", flush=True)
    try:
        summary = run_experiment(experiment)
    except KeyboardInterrupt:
        print(f"[{agent}] interrupted; logs and the last checkpoint are in {experiment.run_dir} "
              f"(continue with --resume={experiment.run_dir})", flush=True)
        raise SystemExit(130) from None
    except Exception as error:  # noqa: BLE001 - one readable message; --verbose shows the traceback.
        if launcher_flags.FLAGS.verbose:
            raise
        print(f"[{agent}] failed: {describe_failure(error)}\n[{agent}] logs and the last checkpoint are in "
              f"{experiment.run_dir}; rerun with --verbose for the traceback.", file=sys.stderr, flush=True)
        raise SystemExit(1) from None
    print(f"[{agent}] done: final greedy return {summary['final_eval_return']:.3f}; "
          f"logs, config.json and summary.json in {summary['run_dir']}", flush=True)
    sys.stdout.write(json.dumps(summary) + "\n")
