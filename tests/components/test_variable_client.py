"""VariableClient copies weights only when the learner's variables_version moved."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from components.learners import TorchLearner
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



class _Learner(TorchLearner):
    """A TorchLearner over one small network (what the local and threads runners hand their actors)."""

    def __init__(self, net: nn.Module) -> None:
        super().__init__({"policy": net}, torch.optim.SGD(net.parameters(), lr=0.1), torch.device("cpu"))
        self.net = net

    def step(self):
        loss = self.net(torch.ones(2, 3)).pow(2).mean()
        return self._record({"loss": loss, "grad_norm": self._apply_gradients(loss)})


def _mlp() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 4), nn.Tanh(), nn.Linear(4, 1))


def test_a_learner_in_process_copies_straight_into_the_actor_modules():
    torch.manual_seed(0)
    learner, actor_net = _Learner(_mlp()), _mlp()
    client = VariableClient(learner, {"policy": actor_net})
    learner.step()
    client.update_and_wait()
    expected = {k: v.clone() for k, v in learner.get_variables(["policy"])[0].items()}
    for key, value in actor_net.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0)
    learner.step()  # The actor keeps its copy until the next pull.
    for key, value in actor_net.state_dict().items():
        torch.testing.assert_close(value, expected[key], rtol=0, atol=0)
    client.update_and_wait()
    assert not torch.equal(actor_net[0].weight, expected["0.weight"])


def test_a_mismatched_network_is_refused_by_the_in_process_copy():
    client = VariableClient(_Learner(nn.Linear(3, 1)), {"policy": nn.Linear(3, 1, bias=False)})
    with pytest.raises(ValueError, match="same network"):
        client.update_and_wait()
