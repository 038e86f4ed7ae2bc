"""VariableClient copies weights only when the learner's variables_version moved."""

from __future__ import annotations

import torch
from torch import nn

from components.variable_utils import VariableClient


class CountingSource:
    def __init__(self, module: nn.Module, versioned: bool) -> None:
        self.module, self.copies = module, 0
        if versioned:
            self.variables_version = 0

    def get_variables(self, names):
        self.copies += 1
        return [{k: v.clone() for k, v in self.module.state_dict().items()} for _ in names]


def test_pulls_copy_only_after_the_learner_changed_the_weights():
    learner_net, actor_net = nn.Linear(3, 2), nn.Linear(3, 2)
    source = CountingSource(learner_net, versioned=True)
    client = VariableClient(source, {"q": actor_net}, update_period=1)
    client.update_and_wait()
    for _ in range(10):
        client.update()
    assert source.copies == 1  # Nothing changed: no copy.
    with torch.no_grad():
        learner_net.weight.add_(1.0)
    source.variables_version += 1
    client.update()
    assert source.copies == 2
    torch.testing.assert_close(actor_net.weight, learner_net.weight)


def test_sources_without_a_version_are_copied_every_pull():
    source = CountingSource(nn.Linear(3, 2), versioned=False)
    client = VariableClient(source, {"q": nn.Linear(3, 2)}, update_period=2)
    for _ in range(6):
        client.update()
    assert source.copies == 3
