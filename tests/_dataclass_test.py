"""Tests for cardscan/_dataclass.py: a class its ``dataclass`` makes is the
class ``dataclasses.dataclass`` makes from the same body (fields, flags,
defaults, ``__match_args__``, ``__init__`` and its signature, ``__post_init__``,
frozen or not), only made for less.

Each class is made twice from one body, by each decorator, and the two
compared; then every dataclass of the scan path made here is compared with
a twin the stdlib makes from a copy of its body.
"""
from __future__ import annotations

import copy
import dataclasses
import inspect
import pickle
from typing import Any, Callable, ClassVar

import pytest

from cardscan import _dataclass
from cardscan._byvalue import ByValue, ByValueUnhashable
from tests._byvalue_test import classes


def _bodies() -> dict[str, Callable[[Any], type]]:
    """name -> a function making the class with the decorator it is given."""

    def plain(dc: Any) -> type:
        @dc(frozen=True, eq=False, repr=False)
        class Plain(ByValue):
            """Fields without defaults."""

            a: int
            b: str

        return Plain

    def defaults(dc: Any) -> type:
        @dc(frozen=True, eq=False, repr=False)
        class Defaults(ByValue):
            """Defaults, a factory, fields left out of __init__, and a post-init check."""

            a: int
            b: str = "b"
            c: list[int] = dataclasses.field(default_factory=list)
            d: int = dataclasses.field(default=4, init=False)
            e: dict[str, int] = dataclasses.field(default_factory=dict, init=False)
            f: tuple[int, ...] = dataclasses.field(default=(), compare=False, repr=False, metadata={"m": 1})

            def __post_init__(self) -> None:
                if self.a < 0:
                    raise ValueError("a < 0")

        return Defaults

    def mutable(dc: Any) -> type:
        @dc(eq=False, repr=False)
        class Mutable(ByValueUnhashable):
            """Not frozen: __init__ assigns plainly."""

            a: int
            items: list[int] = dataclasses.field(default_factory=list)

        return Mutable

    def self_named(dc: Any) -> type:
        @dc(frozen=True, eq=False, repr=False)
        class SelfNamed(ByValue):
            """A field called self."""

            self: int
            other: int = 2

        return SelfNamed

    def empty(dc: Any) -> type:
        @dc(frozen=True, eq=False, repr=False)
        class Empty(ByValue):
            """No field at all."""

        return Empty

    return {f.__name__: f for f in (plain, defaults, mutable, self_named, empty)}


BODIES = _bodies()


def field_facts(cls: type) -> list[tuple[Any, ...]]:
    return [(f.name, f.type, f.default, f.default_factory, f.init, f.repr, f.hash, f.compare, dict(f.metadata),
             f.kw_only) for f in dataclasses.fields(cls)]  # type: ignore[arg-type]


def class_facts(cls: type) -> dict[str, Any]:
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    return {
        "params": {k: getattr(params, k) for k in params.__slots__},
        "fields": field_facts(cls),
        "match_args": cls.__match_args__,  # type: ignore[attr-defined]
        "defaults": {k: v for k, v in vars(cls).items() if k in cls.__dataclass_fields__},  # type: ignore[attr-defined]
        "doc": cls.__doc__,
        "hash": cls.__dict__.get("__hash__", "absent"),
        "own": sorted(k for k in vars(cls) if k.startswith("__") and callable(vars(cls)[k])),
    }


def init_facts(init: Any) -> tuple[Any, ...]:
    return (init.__qualname__, init.__name__, init.__defaults__, init.__kwdefaults__, init.__annotations__,
            init.__module__, init.__globals__ is vars(__import__(init.__module__, fromlist=["x"])),
            init.__code__.co_filename, init.__code__.co_varnames[:init.__code__.co_argcount])


@pytest.mark.parametrize("name", BODIES)
def test_the_class_is_the_one_the_stdlib_makes(name: str) -> None:
    mine, theirs = BODIES[name](_dataclass.dataclass), BODIES[name](dataclasses.dataclass)
    assert class_facts(mine) == class_facts(theirs)
    # __init__: made on the first instance, then the stdlib's, parameter for parameter.
    args = [7] if name != "empty" else []
    if name in ("plain",):
        args = [7, "x"]
    a, b = mine(*args), theirs(*args)
    assert vars(a) == vars(b)
    assert str(inspect.signature(mine)) == str(inspect.signature(theirs))
    assert init_facts(mine.__init__) == init_facts(theirs.__init__)  # type: ignore[misc]
    assert [vars(mine(*args)) for _ in range(2)] == [vars(b)] * 2  # (the made __init__, bound on the class)
    frozen = mine.__dataclass_params__.frozen  # type: ignore[attr-defined]
    for target in (a, b):
        if frozen:
            for attr in [f.name for f in dataclasses.fields(mine)][:1] + ["not_a_field"]:  # type: ignore[arg-type]
                with pytest.raises(dataclasses.FrozenInstanceError) as err:
                    setattr(target, attr, 1)
                assert str(err.value) == f"cannot assign to field {attr!r}"
                with pytest.raises(dataclasses.FrozenInstanceError) as err:
                    delattr(target, attr)
                assert str(err.value) == f"cannot delete field {attr!r}"
        elif args:
            target.a = 9
    assert vars(a) == vars(b)
    if frozen:
        assert mine.__setattr__.__qualname__ == theirs.__setattr__.__qualname__
        assert mine.__delattr__.__qualname__ == theirs.__delattr__.__qualname__


def test_init_checks_and_defaults_as_the_stdlibs_do() -> None:
    mine, theirs = BODIES["defaults"](_dataclass.dataclass), BODIES["defaults"](dataclasses.dataclass)
    for cls in (mine, theirs):
        x, y = cls(1), cls(1)
        assert x.c == [] and x.c is not y.c and x.e == {} and x.e is not y.e and x.d == 4 and "d" not in vars(x)
        assert vars(cls(1, "z", [2], f=(3,))) == vars(theirs(1, "z", [2], f=(3,)))
        with pytest.raises(ValueError, match="a < 0"):
            cls(-1)
        with pytest.raises(TypeError) as err:
            cls(1, d=5)
        assert "unexpected keyword argument 'd'" in str(err.value)
        with pytest.raises(TypeError):
            cls()
    assert dataclasses.replace(mine(1), b="q") == mine(1, "q")


def test_a_subclass_may_set_its_own_attributes_and_call_the_frozen_init() -> None:
    for dc in (_dataclass.dataclass, dataclasses.dataclass):
        base = BODIES["plain"](dc)

        class Sub(base):  # type: ignore[valid-type,misc]
            def __init__(self, a: int) -> None:
                super().__init__(a, "sub")
                self.extra = 1  # not a field, not the frozen class itself: allowed

        s = Sub(3)
        assert (s.a, s.b, s.extra) == (3, "sub", 1)
        with pytest.raises(dataclasses.FrozenInstanceError):
            s.a = 4
        del s.extra


def test_other_cases_are_the_stdlibs_own() -> None:
    # Other flags, no docstring, a ClassVar, a dataclass base: dataclasses.dataclass itself.
    @_dataclass.dataclass(frozen=True)
    class Flags:
        """Generated eq and repr."""

        a: int

    @_dataclass.dataclass(frozen=True, eq=False, repr=False)
    class NoDoc(ByValue):
        a: int

    @_dataclass.dataclass(frozen=True, eq=False, repr=False)
    class WithClassVar(ByValue):
        """A ClassVar."""

        a: int
        b: ClassVar[int] = 2

    @_dataclass.dataclass(frozen=True, eq=False, repr=False)
    class Derived(BODIES["plain"](_dataclass.dataclass)):  # type: ignore[misc]
        """A dataclass base."""

        c: int = 0

    for cls in (Flags, NoDoc, WithClassVar, Derived):
        init = cls.__init__  # type: ignore[misc]
        assert init.__code__.co_filename == "<string>" and init.__code__.co_name == "__init__", cls
    assert Derived(1, "b", 2).c == 2 and Derived.__dataclass_params__.frozen  # type: ignore[attr-defined]
    with pytest.raises(TypeError, match="non-default argument 'b' follows default argument"):
        @_dataclass.dataclass(frozen=True, eq=False, repr=False)
        class Order(ByValue):
            """A field without a default after one with."""

            a: int = 1
            b: int  # type: ignore[misc]


def _twin(cls: type) -> type:
    """``cls``'s body again, made by the stdlib."""
    ns: dict[str, Any] = {k: v for k, v in vars(cls).items()
                          if k not in ("__dict__", "__weakref__", "__init__", "__setattr__", "__delattr__",
                                       "__dataclass_fields__", "__dataclass_params__", "__match_args__")}
    for f in dataclasses.fields(cls):  # type: ignore[arg-type]
        ns[f.name] = dataclasses.field(default=f.default, default_factory=f.default_factory, init=f.init,  # type: ignore
                                       repr=f.repr, hash=f.hash, compare=f.compare, metadata=f.metadata,
                                       kw_only=f.kw_only)
    twin = type(cls.__name__, cls.__bases__, ns)
    twin.__qualname__ = cls.__qualname__
    return dataclasses.dataclass(twin, frozen=cls.__dataclass_params__.frozen,  # type: ignore[attr-defined]
                                 eq=False, repr=False)


#: The scan path's dataclasses (all made with this module's dataclass; not a plain subclass of one).
SCAN_PATH = [c for c in classes() if "__dataclass_fields__" in vars(c)]


def test_the_scan_paths_frozen_dataclasses_are_made_here() -> None:
    frozen = {c.__qualname__ for c in SCAN_PATH
              if getattr(c.__dict__.get("__setattr__"), "__code__", None) is not None
              and c.__dict__["__setattr__"].__code__.co_filename == _dataclass.__file__}
    assert frozen == {"Finding", "Location", "Cell", "DumpCell", "ErrorRecord", "ScanConfig", "Window", "Issuer",
                      "Range", "Columns", "Field", "Context", "Limits", "Layer", "Failure", "Item"}


@pytest.mark.parametrize("cls", SCAN_PATH, ids=lambda c: f"{c.__module__}.{c.__qualname__}")
def test_each_is_its_stdlib_twin(cls: type) -> None:
    twin = _twin(cls)
    facts, twin_facts = class_facts(cls), class_facts(twin)
    facts.pop("own"), twin_facts.pop("own")
    assert facts == twin_facts
    # Made here (the first instance may not come in this process): the same signature.
    init = _dataclass._init_fn(cls, dataclasses.fields(cls), cls.__dataclass_params__.frozen,  # type: ignore
                               hasattr(cls, "__post_init__"))
    assert str(inspect.signature(init)) == str(inspect.signature(twin.__init__))  # type: ignore[misc]
    facts, twin_facts = init_facts(init), init_facts(twin.__init__)  # type: ignore[misc]
    assert facts[2:5] == twin_facts[2:5] and facts[7:] == twin_facts[7:]  # (the twin's module is this one)


def test_instances_copy_and_pickle_as_before() -> None:
    from cardscan.engine.issuers import Issuer

    obj = Issuer("visa", "Visa", frozenset({16}))
    assert pickle.loads(pickle.dumps(obj)) == obj and copy.deepcopy(obj) == obj
    with pytest.raises(dataclasses.FrozenInstanceError):
        obj.brand = "x"  # type: ignore[misc]


@pytest.mark.parametrize("name", BODIES)
def test_a_class_no_instance_was_made_of_yet_shows_the_stdlibs_init(name: str) -> None:
    # help(), inspect.signature, typing.get_type_hints of a library class
    # (cardscan.SweepOptions, ScanConfig, Finding ...) before any instance:
    # the fields as parameters, not the stand-in's (*args, **kwargs).
    import pydoc
    import typing

    mine, theirs = BODIES[name](_dataclass.dataclass), BODIES[name](dataclasses.dataclass)
    assert str(inspect.signature(mine)) == str(inspect.signature(theirs))
    mine, theirs = BODIES[name](_dataclass.dataclass), BODIES[name](dataclasses.dataclass)
    assert typing.get_type_hints(mine.__init__) == typing.get_type_hints(theirs.__init__)  # type: ignore[misc]
    mine, theirs = BODIES[name](_dataclass.dataclass), BODIES[name](dataclasses.dataclass)
    assert pydoc.render_doc(mine, renderer=pydoc.plaintext) == pydoc.render_doc(theirs, renderer=pydoc.plaintext)
    assert init_facts(mine.__init__) == init_facts(theirs.__init__)  # type: ignore[misc]
