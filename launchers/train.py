"""Train any agent, built-in or your own: `python -m launchers.train --agent=my_agents:MyBuilder --env=...`.

`--agent` takes a built-in name (dqn, nfq, reinforce, a2c, ppo, sac, td3, r2d2) or `module:BuilderClass` (importable from the
current folder or PYTHONPATH; the builder's `config_class` gives one flag per config field). With `--config` or
`--resume`, the agent comes from the run's config.json. Every other flag is that of the agent's own launcher.
"""

from __future__ import annotations

import sys
from typing import Sequence

from absl import flags

from launchers import cli
from launchers.agent_registry import get_agent
from launchers.experiment import load_declaration


def _flag_value(argv: Sequence[str], name: str) -> str | None:
    """The value of --name=V or --name V in argv, read before absl parses it (it decides which flags exist)."""
    for i, arg in enumerate(argv):
        if arg.startswith(f"--{name}="):
            return arg.split("=", 1)[1]
        if arg == f"--{name}" and i + 1 < len(argv):
            return argv[i + 1]
    return None


def agent_from_argv(argv: Sequence[str]) -> str:
    """The agent reference: --agent, else the agent of --config's or --resume's config.json."""
    agent = _flag_value(argv, "agent")
    for flag in ("config", "resume"):
        folder = _flag_value(argv, flag)
        if folder and agent is None:
            agent = load_declaration(folder).get("agent")
            if not agent:
                raise ValueError(f"--{flag}={folder}: its config.json names no agent; give --agent.")
    if agent is None:
        raise ValueError("Give --agent=<name or module:BuilderClass> (or --config/--resume of a run folder).")
    return get_agent(agent).name


def main() -> None:
    argv = sys.argv[1:]
    try:
        agent = agent_from_argv(argv)
    except ValueError as error:
        if any(arg in ("--help", "-h", "--helpfull") for arg in argv):
            print(__doc__)
            raise SystemExit(0) from None
        print(f"launchers.train: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    # --agent was read above; defining it as a flag keeps absl from calling it unknown.
    flags.DEFINE_string("agent", agent, "The agent: a built-in name or module:BuilderClass.")
    cli.define_flags(agent)
    cli.run(agent)


if __name__ == "__main__":
    main()
