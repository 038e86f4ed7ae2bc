"""Errors raised by a user's own environment code, re-raised with the class and the call that failed."""

from __future__ import annotations

from typing import Any


class EnvironmentCallError(RuntimeError):
    """An environment's own reset(), step() or render() (or its factory) raised; the original is the cause."""


def qualified_name(thing: Any) -> str:
    """`module.Class` of an object (or `module.function` of a function), for messages about user code."""
    target = thing if callable(thing) and hasattr(thing, "__qualname__") else type(thing)
    return f"{getattr(target, '__module__', '?')}.{getattr(target, '__qualname__', type(thing).__name__)}"
