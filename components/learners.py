"""Shared plumbing for torch learners: serving weights, gradient steps, save/restore."""

from __future__ import annotations

import contextlib
import copy
import threading
import time
from typing import Any, Mapping, Sequence

import torch
import tree
from torch import nn

from components.core import Learner
from components.counting import Counter
from components.flat_parameters import flatten_optimizer
from components.loggers import Logger, NoOpLogger
from components.optimizers import TFStyleRMSprop


def make_adam(parameters: Any, learning_rate: float, eps: float = 1e-8) -> torch.optim.Optimizer:
    """Adam with the fused kernel (one call per step instead of one per tensor)."""
    return torch.optim.Adam(parameters, lr=learning_rate, eps=eps, fused=True)


OPTIMIZERS = ("adam", "rmsprop", "rmsprop_tf")


def make_optimizer(name: str, parameters: Any, learning_rate: float, eps: float,
                   rmsprop_alpha: float = 0.99) -> torch.optim.Optimizer:
    """'adam' (fused), 'rmsprop' (torch's, with smoothing `rmsprop_alpha`) or 'rmsprop_tf' (TensorFlow's
    RMSprop, `components.optimizers.TFStyleRMSprop`, as baselines' and RL-Zoo's A2C use it)."""
    if name == "adam":
        return make_adam(parameters, learning_rate, eps)
    if name == "rmsprop":
        return torch.optim.RMSprop(parameters, lr=learning_rate, alpha=rmsprop_alpha, eps=eps, foreach=True)
    if name == "rmsprop_tf":
        return TFStyleRMSprop(parameters, lr=learning_rate, alpha=rmsprop_alpha, eps=eps)
    raise ValueError(f"optimizer must be one of {OPTIMIZERS}, got {name!r}.")


def linear_decay(start: float, step: int, decay_steps: int) -> float:
    """`start` decayed linearly to 0 over `decay_steps` steps (0: no decay)."""
    if decay_steps <= 0:
        return start
    return start * max(0.0, 1.0 - step / decay_steps)


def set_learning_rate(optimizer: torch.optim.Optimizer, learning_rate: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = learning_rate


PRECISIONS = ("float32", "bfloat16")


def autocast(device: torch.device, precision: str) -> contextlib.AbstractContextManager:
    """Mixed-precision context for network calls: bfloat16 autocast, or nothing for float32.

    bfloat16 runs convolutions and matmuls on the CPU's AMX/AVX-512 bf16 units
    (or CUDA's tensor cores) while parameters, optimizer and losses stay float32.
    """
    if precision == "float32":
        return contextlib.nullcontext()
    if precision != "bfloat16":
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}.")
    return torch.autocast(device_type=device.type, dtype=torch.bfloat16)


NAN_POLICIES = ("raise", "skip")


class NonFiniteLossError(FloatingPointError):
    """A learner update met a NaN or inf loss or gradient."""


class TorchLearner(Learner):
    """A learner with named torch modules and one optimizer.

    Subclasses implement `step` (the algorithm's math) and use
    `_apply_gradients(loss)` and `_record(metrics)`; this base serves weights
    to actors, counts and logs steps (every `log_every`, so the hot path never
    waits on a host copy) and saves/restores what a resumed run needs.
    """

    def __init__(self, modules: Mapping[str, nn.Module], optimizer: torch.optim.Optimizer,
                 device: torch.device, max_grad_norm: float | None = None,
                 counter: Counter | None = None, logger: Logger | None = None, log_every: int = 100) -> None:
        self._counter = counter if counter is not None else Counter(prefix="learner")
        self._logger = logger if logger is not None else NoOpLogger()
        self._log_every = log_every
        self._clock = time.perf_counter()
        self._modules = dict(modules)
        # One flat tensor per parameter group: the optimizer step and the clip cost a few kernel calls.
        self._flat_groups = flatten_optimizer(optimizer)
        self._all_flat = len(self._flat_groups) == len(optimizer.param_groups)
        # Detached views of each module's tensors (optimizers update them in place), copied on request.
        self._states = {name: module.state_dict() for name, module in self._modules.items()}
        self._optimizer = optimizer
        self._device = device
        self._max_grad_norm = max_grad_norm
        self._parameters = [p for g in optimizer.param_groups for p in g["params"]]
        # Held while the optimizer writes the weights and while they are copied out, so an actor
        # thread never reads half an update.
        self._variables_lock = threading.Lock()
        self.num_steps = 0
        self.variables_version = 0  # Optimizer steps applied: actors skip pulls when it has not moved.
        self.nan_policy = "raise"  # Or "skip": see _apply_gradients.
        self.skipped_updates = 0

    def _to_device(self, batch: Any) -> Any:
        return tree.map_structure(lambda x: torch.as_tensor(x, device=self._device), batch)

    def _apply_gradients(self, loss: torch.Tensor, count_step: bool = True,
                         terms: Mapping[str, torch.Tensor] | None = None,
                         held_groups: Sequence[int] = ()) -> torch.Tensor:
        """Backpropagates `loss`, clips, steps the optimizer; returns the pre-clip gradient norm.

        `count_step=False` for learners whose step spans several updates (PPO's minibatches).
        `held_groups` (indices of optimizer parameter groups) sit this step out: their gradients are dropped,
        so the optimizer leaves their parameters and moments as they are (TD3's delayed policy updates).
        A NaN or inf gradient norm (which a non-finite loss always gives) never reaches the
        weights: per `nan_policy` the update raises `NonFiniteLossError`, naming the step and
        whichever of `terms` (the loss's named parts) is not finite, or is skipped and counted
        in `skipped_updates`.
        """
        self._zero_grad()
        loss.backward()
        for group in self._flat_groups:
            group.check_grads()
        for index in held_groups:
            for parameter in self._optimizer.param_groups[index]["params"]:
                parameter.grad = None  # Optimizers and the clip skip parameters without a gradient.
        max_norm = self._max_grad_norm if self._max_grad_norm is not None else float("inf")
        grad_norm = nn.utils.clip_grad_norm_(self._parameters, max_norm, foreach=True)
        if not torch.isfinite(grad_norm):
            self._non_finite(loss, grad_norm, terms)
            self._zero_grad()
            return grad_norm
        with self._variables_lock:
            self._optimizer.step()
            self.variables_version += 1
        if count_step:
            self.num_steps += 1
        return grad_norm

    def _zero_grad(self) -> None:
        """Zeroes the gradients in place: the parameters' grads are views of the flat ones."""
        if self._all_flat:
            for group in self._flat_groups:
                group.zero_grad()
        else:
            self._optimizer.zero_grad(set_to_none=False)

    def _non_finite(self, loss: torch.Tensor, grad_norm: torch.Tensor,
                    terms: Mapping[str, torch.Tensor] | None) -> None:
        bad = [name for name, value in {"loss": loss, **(terms or {})}.items()
               if not bool(torch.isfinite(value.detach()).all())]
        where = (f"non-finite {', '.join(bad)}" if bad else
                 f"finite loss {float(loss):.4g} but a non-finite gradient norm ({float(grad_norm)})")
        if self.nan_policy == "skip":
            self.skipped_updates += 1
            if self.skipped_updates in (1, 10, 100) or self.skipped_updates % 1000 == 0:
                print(f"[learner] skipped update at learner step {self.num_steps + 1}: {where} "
                      f"({self.skipped_updates} skipped so far).", flush=True)
            return
        raise NonFiniteLossError(
            f"Learner step {self.num_steps + 1}: {where}; the update was not applied and the weights are "
            "unchanged. Lower the learning rate, clip gradients (max_grad_norm) or check the rewards; "
            "nan_policy='skip' skips such updates instead.")

    def _record(self, metrics: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Counts this step, writes `metrics` every `log_every` steps, and returns them detached."""
        metrics = {k: v.detach() for k, v in metrics.items()}
        if self.skipped_updates:
            metrics["skipped_updates"] = torch.tensor(float(self.skipped_updates))
        counts = self._counter.increment(steps=1)
        if self.num_steps % self._log_every == 0:
            now = time.perf_counter()
            rate = self._log_every / max(now - self._clock, 1e-9)
            self._clock = now
            self._logger.write({**counts, **{k: float(v) for k, v in metrics.items()},
                                "learner_steps_per_second": rate})
        return metrics

    def get_variables(self, names: Sequence[str]) -> list[Mapping[str, torch.Tensor]]:
        missing = [n for n in names if n not in self._modules]
        if missing:
            raise KeyError(f"Learner has no variables named {missing}; it has {sorted(self._modules)}.")
        with self._variables_lock:
            return [{k: v.to("cpu", copy=True) for k, v in self._states[n].items()} for n in names]

    def copy_variables_into(self, targets: Mapping[str, Sequence[torch.Tensor]]) -> None:
        """`get_variables` for a client in this process: copies each named module's state-dict tensors
        straight into `targets[name]` (tensors in state-dict order), with no copy in between."""
        missing = [n for n in targets if n not in self._modules]
        if missing:
            raise KeyError(f"Learner has no variables named {missing}; it has {sorted(self._modules)}.")
        with self._variables_lock:
            for name, tensors in targets.items():
                state = list(self._states[name].values())
                if len(state) != len(tensors):
                    raise ValueError(f"Variables {name!r} from the learner have {len(state)} tensors; the "
                                     f"actor's module has {len(tensors)}: are they the same network?")
                torch._foreach_copy_(list(tensors), state)

    def save(self) -> dict[str, Any]:
        """A snapshot (deep copy) of networks, optimizer state and step count."""
        with self._variables_lock:  # Another thread may be stepping the optimizer.
            return copy.deepcopy({"modules": {n: m.state_dict() for n, m in self._modules.items()},
                                  "optimizer": self._optimizer.state_dict(), "num_steps": self.num_steps,
                                  "skipped_updates": self.skipped_updates})

    def restore(self, state: Mapping[str, Any]) -> None:
        state = copy.deepcopy(state)  # The optimizer would otherwise alias the caller's tensors.
        saved = [len(group["params"]) for group in state["optimizer"]["param_groups"]]
        ours = [len(group["params"]) for group in self._optimizer.param_groups]
        if saved != ours:
            raise ValueError(
                f"The checkpoint's optimizer state has {saved} tensors per parameter group; this learner's has "
                f"{ours} (learners keep each group as one flat tensor, see components/flat_parameters.py). "
                "A checkpoint written before that change cannot be resumed: start a new run, or resume it "
                "with the agentpipe version that wrote it.")
        for name, module in self._modules.items():
            module.load_state_dict(state["modules"][name])
        self._optimizer.load_state_dict(state["optimizer"])
        self.num_steps = state["num_steps"]
        self.variables_version += 1  # New weights: every actor must pull them.
        self.skipped_updates = int(state.get("skipped_updates", 0))
