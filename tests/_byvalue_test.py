"""Tests for cardscan/_byvalue.py: each dataclass that takes ``==``, ``hash()``
and ``repr()`` from ByValue behaves as the stdlib's generated methods would.

Each class is compared with a twin that ``dataclasses.make_dataclass`` makes
from the same fields (the same compare, hash and repr flags, frozen or not):
equal and unequal instances, hashes, reprs.
"""
from __future__ import annotations

import copy
import importlib
import pickle
from dataclasses import FrozenInstanceError, field, fields, make_dataclass, replace
from typing import Any

import pytest

from cardscan._byvalue import ByValue, ByValueFrozen, ByValueUnhashable

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


def frozen(cls: type) -> bool:
    return cls.__dataclass_params__.frozen or issubclass(cls, ByValueFrozen)  # type: ignore[attr-defined,no-any-return]


def twin_of(cls: type) -> type:
    twin = make_dataclass(cls.__name__, [(f.name, Any, field(compare=f.compare, hash=f.hash, repr=f.repr))
                                         for f in fields(cls)],
                          frozen=frozen(cls))
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
    hashable = frozen(cls)
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


def frozen_by_the_class() -> list[type]:
    return [c for c in classes() if issubclass(c, ByValueFrozen)]


def test_the_option_table_is_frozen_by_the_class() -> None:
    assert {c.__qualname__ for c in frozen_by_the_class()} == {"SweepOptions", "Spec"}


def instance(cls: type) -> Any:
    from cardscan.options import spec

    return spec("jobs") if cls.__name__ == "Spec" else cls(sources=("/srv",), jobs=2)


@pytest.mark.parametrize("cls", frozen_by_the_class(), ids=lambda c: c.__qualname__)
def test_frozen_by_the_class_as_a_frozen_dataclass_is(cls: type) -> None:
    obj = instance(cls)
    twin = twin_of(cls)(*[getattr(obj, f.name) for f in fields(cls)])
    assert set(vars(obj)) == {f.name for f in fields(cls)}  # every field set by __init__: none can be set later
    for target in (obj, twin):
        for name in (fields(cls)[0].name, fields(cls)[-1].name, "not_a_field"):
            with pytest.raises(FrozenInstanceError) as mine:
                setattr(target, name, 1)
            assert str(mine.value) == f"cannot assign to field {name!r}"
            with pytest.raises(FrozenInstanceError) as mine:
                delattr(target, name)
            assert str(mine.value) == f"cannot delete field {name!r}"
    assert vars(obj) == vars(instance(cls)) and obj == instance(cls)  # nothing changed
    first = fields(cls)[0]
    changed = replace(obj, **{first.name: getattr(obj, first.name)})  # through __init__ (and __post_init__)
    assert changed == obj and changed is not obj
    assert copy.copy(obj) == obj and hash(copy.copy(obj)) == hash(obj)
    if cls.__name__ == "SweepOptions":  # (a Spec holds its parser, a local function: no pickle, frozen or not)
        assert pickle.loads(pickle.dumps(obj)) == obj and copy.deepcopy(obj) == obj
