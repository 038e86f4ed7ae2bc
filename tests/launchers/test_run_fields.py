"""Run fields are declared once: flags, help, checks and the README's table all come from them."""

from __future__ import annotations

import dataclasses
import pathlib
import re
import subprocess
import sys

import pytest

from agents.dqn import DQNBuilder, DQNConfig
from environments.registry import make_environment
from launchers.experiment import DECLARATION_DEFAULTS, ExperimentConfig
from launchers.run_fields import Declaration, RunSettings, flag_fields, markdown_table, resumable_fields

README = pathlib.Path(__file__).resolve().parents[2] / "README.md"


def test_the_readme_table_is_the_fields_table():
    found = re.search(r"<!-- run-fields:start -->\n(.*?)\n<!-- run-fields:end -->", README.read_text(), re.S)
    assert found, "README.md has no run-fields table between its markers"
    assert found.group(1) == markdown_table(), "README's run flags disagree: paste `python -m launchers.run_fields`"


def test_every_run_field_is_in_the_declaration_and_the_experiment():
    run_fields = {f.name for f in dataclasses.fields(RunSettings)}
    assert run_fields <= {f.name for f in dataclasses.fields(ExperimentConfig)}
    assert run_fields <= set(DECLARATION_DEFAULTS)
    assert {f.name for f in dataclasses.fields(Declaration)} == set(DECLARATION_DEFAULTS) | {"agent_config"}
    assert all(f.metadata["help"] for f in dataclasses.fields(Declaration))
    assert set(resumable_fields()) <= run_fields and "num_steps" in resumable_fields()


def test_helpfull_shows_each_flags_help_and_default():
    done = subprocess.run([sys.executable, "-m", "launchers.dqn", "--helpfull"], capture_output=True, text=True,
                          timeout=120, cwd=README.parent)
    assert done.returncode == 0, done.stderr
    text = " ".join(done.stdout.split())
    for field in flag_fields():
        words = " ".join(field.metadata["help"].split()[:6])
        assert (f"--{field.name}:" in text or f"--[no]{field.name}:" in text) and words in text, field.name
    assert "(default: 'auto')" in text.split("--env_backend", 1)[1][:800]


@pytest.mark.parametrize("name,value,message", [
    ("num_steps", 0, "num_steps must be >= 1, got 0"),
    ("eval_every", -1, "eval_every must be >= 0, got -1"),
    ("launch", "cluster", "launch must be one of local, threads, ray, got 'cluster'"),
    ("env_backend", "gpu", "env_backend must be one of"),
    ("nan_policy", "ignore", "nan_policy must be one of raise, skip"),
])
def test_out_of_range_settings_are_refused_naming_the_field(name, value, message):
    with pytest.raises(ValueError, match=re.escape(message)):
        ExperimentConfig(builder=DQNBuilder(DQNConfig()), environment_factory=make_environment, **{name: value})
