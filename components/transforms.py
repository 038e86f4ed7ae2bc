"""Return and advantage estimators for on-policy learners, on time-major (T, B) arrays.

Conventions (those of `components.types.Trajectory`, transposed to time-major):
for t < T, step t went from observation o_t with action a_t to o_{t+1}, paying
reward r_{t+1} with environment discount d_{t+1} (0 on termination, 1 on a
truncation); `values` are V(o_0) .. V(o_T), shape (T+1, B); `gamma` is the
agent's discount. Windows may contain episode boundaries (lane semantics:
the step after a LAST observation is a FIRST one, and its action was ignored):

    valid[t]     = step_type[t] != LAST     (a_t was acted on; mask losses with it)
    continues[t] = step_type[t+1] == MID    (o_{t+1} is neither LAST nor FIRST)

Where continues[t] = 0 a recursion stops and bootstraps from V(o_{t+1}) times
gamma d_{t+1}: after a termination d = 0 so nothing is added; after a
truncation d = 1 and the value of the final observation stands in for the
rest of the episode. Entries where valid[t] = 0 hold meaningless numbers and
must be masked. Every function takes torch tensors or numpy arrays and
returns the same kind; the recursions are vectorised over B and loop over T.
"""

from __future__ import annotations

from typing import Any

import dm_env
import numpy as np
import torch
import tree

_MID, _LAST = int(dm_env.StepType.MID), int(dm_env.StepType.LAST)


def _as_tensor(x: Any) -> torch.Tensor:
    """`x` as a floating-point tensor."""
    tensor = torch.as_tensor(x)
    return tensor if tensor.is_floating_point() else tensor.to(torch.get_default_dtype())


def _as_array(x: Any, like: Any = None) -> Any:
    """`x` as a floating-point array of `like`'s kind, dtype (and device); without `like`, of its own kind.

    numpy stays numpy: on the few dozen numbers of a rollout, a numpy op costs
    a tenth of a torch op, and the recursions below run a handful per step.
    Anything else becomes a tensor.
    """
    if like is None:
        if isinstance(x, np.ndarray):
            return x if np.issubdtype(x.dtype, np.floating) else x.astype(np.float32)
        return _as_tensor(x)
    if isinstance(like, np.ndarray):
        if isinstance(x, torch.Tensor):
            x = x.detach().cpu().numpy()
        return np.asarray(x, dtype=like.dtype)
    return torch.as_tensor(x).to(device=like.device, dtype=like.dtype)


def _zeros_like(x: Any) -> Any:
    return np.zeros_like(x) if isinstance(x, (np.ndarray, np.generic)) else torch.zeros_like(x)


def _like(result: Any, reference: Any) -> Any:
    """`result` as a numpy array when `reference` was one, else as a tensor."""
    if isinstance(reference, np.ndarray):
        return result.numpy() if isinstance(result, torch.Tensor) else result
    return torch.as_tensor(result)


def _check_shapes(name: str, rewards: torch.Tensor, **others: tuple[torch.Tensor, int]) -> None:
    """Checks each (tensor, extra_time) against rewards' (T, ...) shape, with T + extra_time steps."""
    if rewards.ndim == 0:
        raise ValueError(f"{name}: rewards must be time-major (T, ...), got a scalar.")
    T, rest = rewards.shape[0], tuple(rewards.shape[1:])
    for key, (tensor, extra) in others.items():
        expected = (T + extra,) + rest
        if tuple(tensor.shape) != expected:
            raise ValueError(f"{name}: {key} must have shape {expected} to match rewards {tuple(rewards.shape)}, "
                             f"got {tuple(tensor.shape)}.")


def trajectory_masks(step_type: Any) -> tuple[Any, Any]:
    """(valid, continues), boolean (T, ...) from time-major step types (T+1, ...).

    valid[t] = step_type[t] != LAST: a_t was taken (else the lane restarted and
    ignored it). continues[t] = step_type[t+1] == MID: the episode goes on
    after o_{t+1}, so a return may run on into step t+1.
    """
    types = step_type if isinstance(step_type, np.ndarray) else torch.as_tensor(step_type)
    if types.ndim == 0 or types.shape[0] < 2:
        raise ValueError(f"trajectory_masks: step_type must be (T+1, ...) with T >= 1, got shape "
                         f"{tuple(types.shape)}.")
    valid, continues = types[:-1] != _LAST, types[1:] == _MID
    return _like(valid, step_type), _like(continues, step_type)


def gae(rewards: Any, discounts: Any, values: Any, continues: Any, gamma: float, lam: float) -> tuple[Any, Any]:
    """Generalised advantage estimates (Schulman et al. 2016) and their returns, (T, ...) each.

        delta_t = r_{t+1} + gamma d_{t+1} V(o_{t+1}) - V(o_t)
        A_T     = 0
        A_t     = delta_t + gamma lam d_{t+1} continues[t] A_{t+1}
        returns = A + V(o_0 .. o_{T-1})      (the value targets)

    `values` are V(o_0) .. V(o_T), shape (T+1, ...). lam = 1 gives the
    bootstrapped returns to the window's or the episode's end (whichever comes
    first) as `returns`; lam = 0 gives the one-step TD error as advantages.
    """
    r = _as_array(rewards)
    d, v, c = _as_array(discounts, r), _as_array(values, r), _as_array(continues, r)
    _check_shapes("gae", r, discounts=(d, 0), values=(v, 1), continues=(c, 0))
    deltas = r + gamma * d * v[1:] - v[:-1]
    decay = gamma * lam * d * c
    advantages = _zeros_like(r)
    following = _zeros_like(r[0])
    for t in range(r.shape[0] - 1, -1, -1):
        following = deltas[t] + decay[t] * following
        advantages[t] = following
    returns = advantages + v[:-1]
    return _like(advantages, rewards), _like(returns, rewards)


def vtrace(rewards: Any, discounts: Any, values: Any, continues: Any, log_rhos: Any, gamma: float,
           rho_bar: float = 1.0, c_bar: float = 1.0, lam: float = 1.0) -> tuple[Any, Any]:
    """V-trace targets and policy-gradient advantages (Espeholt et al. 2018), (T, ...) each.

    With ratio_t = pi(a_t|o_t) / mu(a_t|o_t) = exp(log_rhos[t]) of the learner's policy pi over the
    actor's mu, rho_t = min(rho_bar, ratio_t) and c_t = lam min(c_bar, ratio_t):

        delta_t  = rho_t (r_{t+1} + gamma d_{t+1} V(o_{t+1}) - V(o_t))
        vs_t     = V(o_t) + delta_t + gamma d_{t+1} continues[t] c_t (vs_{t+1} - V(o_{t+1}))
        pg_adv_t = rho_t (r_{t+1} + gamma d_{t+1} vs'_{t+1} - V(o_t))

    where vs'_{t+1} is vs_{t+1} while the episode goes on inside the window and V(o_{t+1}) where it
    does not (the window's last step, or o_{t+1} is LAST). Returns (vs, pg_adv). With pi = mu and
    rho_bar, c_bar >= 1 these are `gae(..., lam)`'s returns and advantages.
    """
    r = _as_array(rewards)
    d, v, c, log_rho = (_as_array(x, r) for x in (discounts, values, continues, log_rhos))
    _check_shapes("vtrace", r, discounts=(d, 0), values=(v, 1), continues=(c, 0), log_rhos=(log_rho, 0))
    ratio = np.exp(log_rho) if isinstance(r, np.ndarray) else log_rho.exp()
    rho = ratio.clip(max=rho_bar)
    bootstrap = gamma * d
    deltas = rho * (r + bootstrap * v[1:] - v[:-1])
    decay = bootstrap * c * lam * ratio.clip(max=c_bar)
    corrections = _zeros_like(v)  # vs_t - V(o_t), with 0 after the window's last step.
    for t in range(r.shape[0] - 1, -1, -1):
        corrections[t] = deltas[t] + decay[t] * corrections[t + 1]
    vs = corrections[:-1] + v[:-1]
    advantages = rho * (r + bootstrap * (v[1:] + c * corrections[1:]) - v[:-1])
    return _like(vs, rewards), _like(advantages, rewards)


def discounted_returns(rewards: Any, discounts: Any, gamma: float) -> Any:
    """Monte-Carlo returns of whole episodes (REINFORCE), (T, ...):

        G_T = 0,   G_t = r_{t+1} + gamma d_{t+1} G_{t+1}

    Nothing is bootstrapped: a truncated episode counts as if it ended there.
    For windows that cross episode boundaries, use `gae` (lam = 1 for bootstrapped returns) instead.
    """
    r = _as_array(rewards)
    d = _as_array(discounts, r)
    _check_shapes("discounted_returns", r, discounts=(d, 0))
    returns = _zeros_like(r)
    following = _zeros_like(r[0]) if r.shape[0] else None
    for t in range(r.shape[0] - 1, -1, -1):
        following = r[t] + gamma * d[t] * following
        returns[t] = following
    return _like(returns, rewards)


def normalize_advantages(advantages: Any, mask: Any = None, eps: float = 1e-8) -> Any:
    """(A - mean) / (std + eps), the statistics taken over the entries where `mask` is true.

    The std is the population one (no Bessel correction), so a single valid
    entry gives 0 rather than NaN. Entries outside the mask are set to 0, so
    they add nothing even if a loss forgets the mask; with no valid entry at
    all every entry is 0.
    """
    a = _as_tensor(advantages)
    if mask is None:
        m = torch.ones_like(a, dtype=torch.bool)
    else:
        m = torch.as_tensor(mask).to(device=a.device, dtype=torch.bool)
        if m.shape != a.shape:
            raise ValueError(f"normalize_advantages: mask has shape {tuple(m.shape)}, advantages "
                             f"{tuple(a.shape)}; they must match.")
    count = m.sum()
    if count == 0:
        return _like(torch.zeros_like(a), advantages)
    weights = m.to(a.dtype)
    mean = (a * weights).sum() / count
    std = torch.sqrt((((a - mean) * weights) ** 2).sum() / count)
    normalized = torch.where(m, (a - mean) / (std + eps), torch.zeros_like(a))
    return _like(normalized, advantages)


def merge_time_and_batch(nest: Any) -> Any:
    """Every leaf (T, B, ...) -> (T * B, ...), e.g. to run a network once over a whole trajectory batch."""
    def merge(x: Any) -> Any:
        if len(x.shape) < 2:
            raise ValueError(f"merge_time_and_batch: leaves need (T, B, ...) shapes, got {tuple(x.shape)}.")
        return x.reshape((x.shape[0] * x.shape[1],) + tuple(x.shape[2:]))
    return tree.map_structure(merge, nest)


def split_time_and_batch(nest: Any, time: int) -> Any:
    """Every leaf (T * B, ...) -> (T, B, ...) with T = `time`; undoes `merge_time_and_batch`."""
    def split(x: Any) -> Any:
        if len(x.shape) < 1 or x.shape[0] % time:
            raise ValueError(f"split_time_and_batch: leading axis of shape {tuple(x.shape)} is not a multiple "
                             f"of time={time}.")
        return x.reshape((time, x.shape[0] // time) + tuple(x.shape[1:]))
    return tree.map_structure(split, nest)


def swap_time_and_batch(nest: Any) -> Any:
    """Every leaf (B, T, ...) <-> (T, B, ...): replay items are batch-major, these estimators time-major."""
    def swap(x: Any) -> Any:
        if len(x.shape) < 2:
            raise ValueError(f"swap_time_and_batch: leaves need at least 2 axes, got shape {tuple(x.shape)}.")
        return x.transpose(0, 1) if isinstance(x, torch.Tensor) else np.swapaxes(x, 0, 1)
    return tree.map_structure(swap, nest)
