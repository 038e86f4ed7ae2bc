"""Flat parameter groups: the same updates as per-tensor optimizers, with the modules none the wiser."""

from __future__ import annotations


import pytest
import torch
from torch import nn

from components.flat_parameters import flatten_optimizer
from components.learners import TorchLearner


def _net() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(2, 4, 3), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 3 * 3, 3))


def _loss(net: nn.Module, x: torch.Tensor) -> torch.Tensor:
    return net(x).pow(2).mean()


@pytest.mark.parametrize("make", [
    lambda p: torch.optim.Adam(p, lr=1e-2, fused=True),
    lambda p: torch.optim.RMSprop(p, lr=1e-2, alpha=0.99, eps=1e-5, foreach=True),
    lambda p: torch.optim.SGD(p, lr=1e-1, momentum=0.9),
])
def test_flat_updates_match_per_tensor_updates(make):
    flat_net, ref_net = _net(), _net()
    flat_net.to(memory_format=torch.channels_last)
    flat_opt, ref_opt = make(flat_net.parameters()), make(ref_net.parameters())
    groups = flatten_optimizer(flat_opt)
    assert len(groups) == 1 and flat_opt.param_groups[0]["params"] == [groups[0].flat]
    assert flat_net[0].weight.is_contiguous(memory_format=torch.channels_last)  # Layout kept.
    x = torch.randn(5, 2, 5, 5, generator=torch.Generator().manual_seed(1))
    for _ in range(4):
        flat_opt.zero_grad(set_to_none=False)
        ref_opt.zero_grad()
        _loss(flat_net, x).backward()
        _loss(ref_net, x).backward()
        # Clipping the flat gradient clips every parameter's view of it.
        flat_norm = nn.utils.clip_grad_norm_(flat_opt.param_groups[0]["params"], 0.05)
        ref_norm = nn.utils.clip_grad_norm_(ref_net.parameters(), 0.05)
        torch.testing.assert_close(flat_norm, ref_norm)
        for p, q in zip(flat_net.parameters(), ref_net.parameters()):
            torch.testing.assert_close(p.grad, q.grad)
        flat_opt.step()
        ref_opt.step()
    for p, q, initial in zip(flat_net.parameters(), ref_net.parameters(), _net().parameters()):
        torch.testing.assert_close(p, q)
        assert not torch.equal(p, initial)  # They moved.


def test_parameters_are_views_of_the_flat_tensor():
    net = _net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    flat = flatten_optimizer(opt)[0].flat
    with torch.no_grad():
        flat.fill_(0.5)
    assert all(bool((p == 0.5).all()) for p in net.parameters())
    net.load_state_dict(_net().state_dict())  # Copies in place: still views.
    torch.testing.assert_close(flat, torch.cat([p.detach().reshape(-1) for p in _net().parameters()]))


def test_a_gradient_set_to_none_is_folded_back():
    net = _net()
    opt = torch.optim.SGD(net.parameters(), lr=1.0)
    group = flatten_optimizer(opt)[0]
    x = torch.randn(2, 2, 5, 5)
    net.zero_grad(set_to_none=True)  # Cuts every parameter's grad loose from the flat one.
    _loss(net, x).backward()
    expected = torch.cat([p.grad.reshape(-1) for p in net.parameters()])
    group.check_grads()
    torch.testing.assert_close(group.flat.grad, expected)
    assert all(p.grad.data_ptr() >= group.flat.grad.data_ptr() for p in net.parameters())


def test_groups_that_cannot_share_a_tensor_are_left_alone():
    single = nn.Linear(3, 1, bias=False)
    opt = torch.optim.Adam([{"params": list(_net().parameters())}, {"params": [single.weight]},
                            {"params": [nn.Parameter(torch.zeros(2)), nn.Parameter(torch.zeros(2, dtype=torch.float64))]}])
    groups = flatten_optimizer(opt)
    assert len(groups) == 1
    assert opt.param_groups[1]["params"] == [single.weight] and len(opt.param_groups[2]["params"]) == 2


def test_an_optimizer_with_state_is_refused():
    net = _net()
    opt = torch.optim.Adam(net.parameters(), lr=1e-3)
    _loss(net, torch.randn(1, 2, 5, 5)).backward()
    opt.step()
    with pytest.raises(ValueError, match="fresh optimizer"):
        flatten_optimizer(opt)


class _Regression(TorchLearner):
    def __init__(self, net: nn.Module, max_grad_norm: float | None) -> None:
        super().__init__({"net": net}, torch.optim.RMSprop(net.parameters(), lr=1e-2, foreach=True),
                         torch.device("cpu"), max_grad_norm)
        self.net = net

    def step(self):
        loss = _loss(self.net, torch.ones(4, 2, 5, 5))
        return self._record({"loss": loss, "grad_norm": self._apply_gradients(loss)})


def test_torch_learner_trains_saves_and_restores_through_flat_groups():
    learner = _Regression(_net(), max_grad_norm=0.1)
    losses = [float(learner.step()["loss"]) for _ in range(20)]
    assert losses[-1] < losses[0]
    saved = learner.save()
    restored = _Regression(_net(), max_grad_norm=0.1)
    restored.restore(saved)
    torch.testing.assert_close(restored.step()["loss"], learner.step()["loss"])
    weights = learner.get_variables(["net"])[0]
    for name, p in learner.net.named_parameters():
        torch.testing.assert_close(weights[name], p.detach())


def test_torch_learner_recovers_gradients_set_to_none_by_others():
    learner, reference = _Regression(_net(), max_grad_norm=None), _Regression(_net(), max_grad_norm=None)
    learner.step()
    reference.step()
    learner._optimizer.zero_grad()  # torch's default sets the flat gradient to None...
    learner.net.zero_grad()  # ...and a module's sets every parameter's.
    torch.testing.assert_close(learner.step()["loss"], reference.step()["loss"])
    torch.testing.assert_close(learner.step()["loss"], reference.step()["loss"])
    for p, q in zip(learner.net.parameters(), reference.net.parameters()):
        torch.testing.assert_close(p, q)


def test_a_checkpoint_with_per_tensor_optimizer_state_is_refused_with_the_reason():
    learner = _Regression(_net(), max_grad_norm=None)
    learner.step()
    saved = learner.save()
    per_tensor = torch.optim.RMSprop(_net().parameters(), lr=1e-2)  # What learners saved before flattening.
    saved["optimizer"] = per_tensor.state_dict()
    restored = _Regression(_net(), max_grad_norm=None)
    before = [p.detach().clone() for p in restored.net.parameters()]
    with pytest.raises(ValueError, match=r"\[4\] tensors per parameter group.*\[1\].*start a new run"):
        restored.restore(saved)
    for p, q in zip(restored.net.parameters(), before):  # Nothing half-loaded.
        torch.testing.assert_close(p, q, rtol=0, atol=0)
