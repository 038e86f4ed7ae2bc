"""VariableClient: how an actor pulls fresh weights from a learner (a VariableSource)."""

from __future__ import annotations

from typing import Mapping

import torch
from torch import nn

from components.core import VariableSource


class VariableClient:
    """Copies named weights from `source` into local modules every `update_period` calls.

    A source with a `variables_version` (learners count their optimizer steps)
    is copied from only when that changed since the last pull, so actors that
    ask often (threads) copy once per learner update, not once per step.

    The actor's modules stay where they are (typically on the CPU) while the
    learner trains on its own device; each pull copies the state dicts over
    (a source in this process with `copy_variables_into`, as learners have,
    copies straight into the modules).
    """

    def __init__(self, source: VariableSource, modules: Mapping[str, nn.Module], update_period: int = 1) -> None:
        if update_period < 1:
            raise ValueError(f"update_period must be >= 1, got {update_period}.")
        self._source = source
        self._modules = dict(modules)
        self._period = update_period
        self._calls = 0
        self._version: int | None = None  # The source's variables_version at the last pull.
        # Views of each module's parameters and buffers, in state-dict order, copied into in place.
        self._targets = {name: list(module.state_dict().values()) for name, module in self._modules.items()}

    def update(self, wait: bool = False) -> None:
        """Counts a call; pulls weights when `update_period` calls have passed (or when `wait`)."""
        self._calls += 1
        if wait or self._calls >= self._period:
            self.update_and_wait()

    def update_and_wait(self) -> None:
        """Pulls the weights now (nothing to copy when the source says they have not changed)."""
        self._calls = 0
        version = getattr(self._source, "variables_version", None)
        if version is not None and version == self._version:
            return
        self._version = version
        names = list(self._modules)
        copy_into = getattr(self._source, "copy_variables_into", None)
        if copy_into is not None:  # A learner in this process copies straight into the modules.
            with torch.no_grad():
                copy_into(self._targets)
            return
        with torch.no_grad():
            for name, state in zip(names, self._source.get_variables(names)):
                targets = self._targets[name]
                if len(state) != len(targets):
                    raise ValueError(f"Variables {name!r} from the source have {len(state)} tensors; "
                                     f"the actor's module has {len(targets)}: are they the same network?")
                torch._foreach_copy_(targets, list(state.values()))
