"""Learning-curve PNG of one run folder; a thin wrapper over `launchers.plot` (which takes several runs).

    .venv/bin/python -m benchmarks.plot_run RUN_DIR --out benchmarks/curves/NAME.png [--title ...]
"""

from __future__ import annotations

import argparse

from launchers.plot import plot_runs


def plot_run(run_dir: str, out: str, title: str | None = None, window: int = 50) -> str:
    """`launchers.plot.plot_runs` on one run folder; returns `out`."""
    return plot_runs([run_dir], out, title, window=window)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("run_dir")
    parser.add_argument("--out", required=True)
    parser.add_argument("--title")
    args = parser.parse_args()
    print(plot_run(args.run_dir, args.out, args.title))


if __name__ == "__main__":
    main()
