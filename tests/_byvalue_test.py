"""Tests for cardscan/_byvalue.py: each dataclass that takes ``==``, ``hash()``
and ``repr()`` from ByValue behaves as the stdlib's generated methods would.

Each class is compared with a twin that ``dataclasses.make_dataclass`` makes
from the same fields (the same compare, hash and repr flags, frozen or not):
equal and unequal instances, hashes, reprs.
"""
from __future__ import annotations

import importlib
from dataclasses import field, fields, make_dataclass
from typing import Any

import pytest

from cardscan._byvalue import ByValue, ByValueUnhashable

#: Every module whose dataclasses use it (the scan path's).
MODULES = ("cardscan.options", "cardscan.findings", "cardscan.engine.config", "cardscan.engine.validate",
           "cardscan.engine.issuers", "cardscan.engine.columns", "cardscan.engine.context", "cardscan.decoders.base",
           "cardscan.sources.base", "cardscan.pipeline", "cardscan.run.sweep", "cardscan.manifest")


def classes() -> list[type]:
    for name in MODULES:
        importlib.import_module(name)
    found, todo = [], [ByValue]
    while todo:
        for sub in todo.pop().__subclasses__():
            todo.append(sub)
            if sub.__module__.startswith("cardscan.") and hasattr(sub, "__dataclass_fields__"):
                found.append(sub)
    return sorted(found, key=lambda c: (c.__module__, c.__qualname__))


def twin_of(cls: type) -> type:
    twin = make_dataclass(cls.__name__, [(f.name, Any, field(compare=f.compare, hash=f.hash, repr=f.repr))
                                         for f in fields(cls)],
                          frozen=cls.__dataclass_params__.frozen)  # type: ignore[attr-defined]
    twin.__qualname__ = cls.__qualname__
    return twin


def made(cls: type, values: list[Any]) -> Any:
    """An instance holding ``values`` (its checks and __post_init__ are not what is tested here)."""
    obj = object.__new__(cls)
    for f, value in zip(fields(cls), values):
        object.__setattr__(obj, f.name, value)
    return obj


def test_the_scan_paths_dataclasses_use_it() -> None:
    names = {c.__qualname__ for c in classes()}
    assert {"SweepOptions", "Spec", "Finding", "Location", "Cell", "DumpCell", "ErrorRecord", "ScanConfig", "Window",
            "Issuer", "Range", "Columns", "Field", "Context", "Limits", "Layer", "Failure", "Item", "ItemResult",
            "_Split", "Manifest"} <= names


@pytest.mark.parametrize("cls", classes(), ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_eq_hash_and_repr_are_the_generated_ones(cls: type) -> None:
    twin = twin_of(cls)
    base = [f"v{i}" for i, _ in enumerate(fields(cls))]
    variants = [base] + [base[:i] + [("other", i)] + base[i + 1:] for i in range(len(base))]
    hashable = cls.__dataclass_params__.frozen  # type: ignore[attr-defined]
    assert issubclass(cls, ByValue if hashable else ByValueUnhashable)
    for values in variants:
        mine, theirs = made(cls, values), made(twin, values)
        if "__repr__" not in cls.__dict__:  # a class's own repr (Location's public form) wins over both
            assert repr(mine) == repr(theirs)
        if hashable:
            assert hash(mine) == hash(theirs)
        else:
            with pytest.raises(TypeError):
                hash(mine)
        for other in variants:
            assert (mine == made(cls, other)) == (theirs == made(twin, other))
            assert (mine != made(cls, other)) == (theirs != made(twin, other))
            if hashable and theirs == made(twin, other):
                assert hash(mine) == hash(made(cls, other))
        assert mine != theirs and (mine == object()) is False  # another class is never equal


def test_an_instance_inside_itself_is_shown_once() -> None:
    mutable = make_dataclass("Node", [("name", str), ("child", Any)], bases=(ByValueUnhashable,), eq=False, repr=False)
    node = mutable("a", None)
    node.child = node
    assert repr(node) == "Node(name='a', child=...)"
