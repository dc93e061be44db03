"""``==``, ``hash()`` and ``repr()`` of dataclasses by their fields, written once.

``@dataclass`` writes ``__eq__``, ``__hash__`` (frozen classes) and
``__repr__`` as source text and compiles them for each class, when its module
is imported: for the 21 dataclasses every scan imports, a quarter to a half
of each one's creation (the wide ones most) and ~5 ms of each run's serial
start-up. A dataclass declared
``@dataclass(..., eq=False, repr=False)`` and derived from :class:`ByValue`
(frozen) or :class:`ByValueUnhashable` (not frozen) has the same three
methods with the same results, as the stdlib would generate them:

* ``==``: instances of the very same class, field by field (fields with
  ``compare=True``), else ``NotImplemented``;
* ``hash()``: of the fields with ``hash=True``, or ``hash=None`` and
  ``compare=True``; a class that is not frozen is unhashable;
* ``repr()``: ``Name(field=value!r, ...)`` of the fields with ``repr=True``
  (``...`` for an instance inside itself). A ``__repr__`` of the class's own
  (Location's public form) still wins, as it does over a generated one.

tests/_byvalue_test.py checks each class that uses it against a twin made by
the stdlib.

:class:`ByValueFrozen` goes one step further, for classes made a few times
per process (the option table's ``Spec`` rows and ``SweepOptions``): declared
``@dataclass(eq=False, repr=False)`` (not ``frozen=True``), they are frozen by
its ``__setattr__`` and ``__delattr__`` instead of two generated ones (~2 ms of
every start-up for those two classes: SweepOptions has 51 fields), and their
generated ``__init__`` assigns fields plainly. Not for a class made per file
or per finding: each assignment of its ``__init__`` would call Python code.
"""
from __future__ import annotations

import reprlib
from dataclasses import FrozenInstanceError, fields
from operator import attrgetter
from typing import Any, Callable, TypeVar

__all__ = ["ByValue", "ByValueUnhashable", "ByValueFrozen", "built"]

Getter = Callable[[Any], tuple[Any, ...]]
_C = TypeVar("_C")

#: class -> (compared fields' values, hashed fields' values, (name, value) of the shown fields)
_GETTERS: dict[type, tuple[Getter, Getter, Callable[[Any], Any]]] = {}


def _values_of(names: list[str]) -> Getter:
    if len(names) > 1:
        return attrgetter(*names)  # type: ignore[return-value]  # a tuple for two names or more
    if names:
        one = attrgetter(names[0])
        return lambda obj: (one(obj),)
    return lambda obj: ()


def _getters(cls: type) -> tuple[Getter, Getter, Callable[[Any], Any]]:
    found = _GETTERS.get(cls)
    if found is None:
        own: Any = cls
        fs = fields(own)
        shown = [f.name for f in fs if f.repr]
        values = _values_of(shown)
        found = _GETTERS[cls] = (
            _values_of([f.name for f in fs if f.compare]),
            _values_of([f.name for f in fs if (f.compare if f.hash is None else f.hash)]),
            lambda obj: zip(shown, values(obj)),
        )
    return found


class ByValue:
    """The ``==``, ``hash()`` and ``repr()`` of a frozen dataclass (see the module)."""

    __slots__ = ()

    def __eq__(self, other: object) -> bool:
        if other.__class__ is self.__class__:
            compared = _getters(self.__class__)[0]
            return compared(self) == compared(other)
        return NotImplemented

    def __hash__(self) -> int:
        return hash(_getters(self.__class__)[1](self))

    @reprlib.recursive_repr()
    def __repr__(self) -> str:
        shown = ", ".join(f"{name}={value!r}" for name, value in _getters(self.__class__)[2](self))
        return f"{self.__class__.__qualname__}({shown})"


class ByValueUnhashable(ByValue):
    """The ``==`` and ``repr()`` of a dataclass that is not frozen (unhashable, as it is)."""

    __slots__ = ()
    __hash__ = None  # type: ignore[assignment]


class ByValueFrozen(ByValue):
    """:class:`ByValue` for a dataclass declared ``@dataclass(eq=False, repr=False)``,
    frozen by this class: a field is set once (by ``__init__``), then
    assigning or deleting any attribute raises ``FrozenInstanceError``, with
    the stdlib's messages. (``object.__setattr__`` still sets one in
    ``__post_init__``, as for a frozen dataclass.) Every field of such a class
    must be set by ``__init__`` (an ``init=False`` field needs a default), or
    it could be set once later: tests/_byvalue_test.py checks it."""

    __slots__ = ()

    def __setattr__(self, name: str, value: Any) -> None:
        values = self.__dict__
        if name in values or name not in self.__dataclass_fields__:  # type: ignore[attr-defined]
            raise FrozenInstanceError(f"cannot assign to field {name!r}")
        values[name] = value  # (a field is no descriptor: what object.__setattr__ would do)

    def __delattr__(self, name: str) -> None:
        raise FrozenInstanceError(f"cannot delete field {name!r}")


#: class -> its fields' names, as dict keys (built compares a dict's keys with them)
_FIELD_KEYS: dict[type, Any] = {}


def built(cls: type[_C], values: dict[str, Any]) -> _C:
    """``cls(**values)`` past a frozen dataclass's ``__init__`` (an
    ``object.__setattr__`` per field: ~1-2 us), for the objects made per hit
    or per file (the engine's Window, Location and Finding; a listed file's
    Item). ``values`` holds every field and only those (else TypeError),
    in field order, and becomes the instance's ``__dict__`` as it is: give a
    fresh dict. Only for a class with no ``__post_init__`` (none is run;
    nor a default factory): tests keep the classes so."""
    keys = _FIELD_KEYS.get(cls)
    if keys is None:
        keys = _FIELD_KEYS[cls] = dict.fromkeys(f.name for f in fields(cls)).keys()  # type: ignore[arg-type]
    if values.keys() != keys:
        raise TypeError(f"{cls.__name__} needs every field, and only those: {sorted(keys)}")
    return adopted(cls, values)


def adopted(cls: type[_C], values: dict[str, Any]) -> _C:
    """:func:`built` without its check of the keys (~3k instructions), for
    a dict of every field written in field order where it is made (a test
    of that place compares the object with the constructor's), or one a
    pickle brought back as the sender's ``__dict__``."""
    new = _new(cls)
    _set(new, "__dict__", values)
    return new


_new = object.__new__
_set = object.__setattr__
