"""Copies of frozen dataclasses with some fields changed, for the recharge's hot path.

``dataclasses.replace`` looks the fields up and runs ``__init__`` again (``object.__setattr__``
per field): 7 µs for an SMS and 22 µs for an order here (``evolve``: 3.5 and 3.2 µs, same
run), several times per recharge. A frozen dataclass without ``__post_init__`` has nothing
to re-check, so its copy can take the instance dictionary as it is.
"""
from __future__ import annotations

from dataclasses import replace
from typing import Any, TypeVar

T = TypeVar("T")
_new = object.__new__


def evolve(obj: T, **changes: Any) -> T:
    """``dataclasses.replace(obj, **changes)``, without re-running ``__init__`` when the class
    has no ``__post_init__`` (otherwise it is exactly ``replace``)."""
    cls = type(obj)
    state = getattr(obj, "__dict__", None)
    if state is None or hasattr(cls, "__post_init__"):
        return replace(obj, **changes)
    if not changes.keys() <= state.keys():
        raise TypeError(f"{cls.__name__} has no field(s) {sorted(changes.keys() - state.keys())}")
    new = _new(cls)
    new.__dict__.update(state, **changes)
    return new


def build(cls: type[T], fields: dict[str, Any]) -> T:
    """An instance of the frozen dataclass ``cls`` from all its fields, as ``cls(**fields)``
    would make it when ``cls`` has no ``__post_init__`` (the caller vouches for the types)."""
    new = _new(cls)
    new.__dict__.update(fields)
    return new
