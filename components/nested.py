"""Tensor operations on observations that may be nests (dicts, tuples) of arrays.

Learners and recurrent cores slice, flatten and concatenate observations along their leading axes; with
these the same line serves a single array (dm-tree skipped) and a dict observation (each leaf alike).
"""

from __future__ import annotations

from typing import Any, Sequence

import torch
import tree

from environments.nests import map_structure


def first_leaf(nest: Any) -> Any:
    """The first array of a nest (the nest itself when it is one array)."""
    return tree.flatten(nest)[0] if tree.is_nested(nest) else nest


def leading_size(nest: Any) -> int:
    """The size of the leading (batch) axis, shared by every leaf."""
    return int(first_leaf(nest).shape[0])


def to_tensors(nest: Any, device: torch.device | str | None = None) -> Any:
    """`torch.as_tensor` on every leaf (no copy where the dtype and device already match)."""
    return map_structure(lambda x: torch.as_tensor(x, device=device), nest)


def take(nest: Any, index: Any) -> Any:
    """`x[index]` on every leaf: a slice, a mask or an index tensor along the leading axes."""
    return map_structure(lambda x: x[index], nest)


def flatten_leading(nest: Any) -> Any:
    """(B, T, ...) -> (B * T, ...) on every leaf."""
    return map_structure(lambda x: x.flatten(0, 1), nest)


def concatenate(nests: Sequence[Any]) -> Any:
    """`torch.cat` along axis 0, leaf by leaf."""
    return map_structure(lambda *xs: torch.cat(xs), *nests)
