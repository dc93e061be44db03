"""``dataclass`` for the classes that take ``==``, ``hash()`` and ``repr()`` from
:mod:`cardscan._byvalue`, made for less at import.

``@dataclass(..., eq=False, repr=False)`` from here makes the same class as
the stdlib's, with the same fields, flags (``__dataclass_params__``),
``__match_args__`` and behaviour, for less: the stdlib writes each generated
method as source text and compiles it when the class is made, ~0.5 M
instructions each, and made three for each of the 16 frozen classes a scan
imports (``__init__``, ``__setattr__``, ``__delattr__``): ~35 M instructions
(~9 ms) of every scan's start-up. Here

* a frozen class's ``__setattr__`` and ``__delattr__`` are closures over the
  class and its field names, doing what the generated ones do (the same
  test, the same ``FrozenInstanceError`` and message, the same call up the
  MRO otherwise): nothing to compile;
* ``__init__`` is the stdlib's (its parameters, defaults, annotations and
  statements), compiled the first time it is read: by the class's first
  instance, or by ``help()``/``inspect.signature`` (until then ``__init__``
  is a stand-in, :class:`_LazyInit`, that makes it and binds it on the
  class): most of these classes are built past their ``__init__``
  (``_byvalue.built``, pickling) or not at all in a given run.

Only the common case takes this way: ``eq=False, repr=False``, the other
flags at their defaults, a docstring of its own, no dataclass base, and no
``ClassVar``, ``InitVar`` or ``KW_ONLY`` annotation; anything else is the
stdlib's ``dataclass`` unchanged. Type checkers see the stdlib's.
tests/_dataclass_test.py compares each class with its stdlib twin.

(No ``from __future__ import annotations`` here: ``exec`` compiles the
``__init__`` text with this module's future flags, which would turn its
annotations into text the stdlib's are not.)
"""
import dataclasses
import sys
from typing import TYPE_CHECKING, Any

__all__ = ["dataclass"]

#: The only flags taken here (with their defaults: the rest must be left alone).
_OWN = {"eq": False, "repr": False}

if TYPE_CHECKING:
    from dataclasses import dataclass
else:
    def dataclass(cls: Any = None, /, **flags: Any) -> Any:
        """``dataclasses.dataclass``; see the module for what is made differently, and when."""
        if set(flags) - {"frozen"} != set(_OWN) or any(flags[k] != v for k, v in _OWN.items()):
            return dataclasses.dataclass(cls, **flags)

        def wrap(cls: type) -> type:
            return _process(cls, bool(flags.get("frozen", False)))

        return wrap if cls is None else wrap(cls)


def _process(cls: type, frozen: bool) -> type:
    if not _plain(cls):
        return dataclasses.dataclass(cls, frozen=frozen, **_OWN)  # type: ignore[no-any-return]
    # The stdlib finds the fields, sets the defaults, __dataclass_fields__ and
    # __match_args__, and nothing it would compile; then the flags are what was asked.
    cls = dataclasses.dataclass(cls, init=False, **_OWN)
    params = cls.__dataclass_params__  # type: ignore[attr-defined]
    params.init, params.frozen = True, frozen
    fields = dataclasses.fields(cls)  # type: ignore[arg-type]
    if len(fields) != len(cls.__dataclass_fields__):  # type: ignore[attr-defined]
        raise TypeError(f"{cls.__qualname__}: a ClassVar or InitVar field; use dataclasses.dataclass")
    seen_default = False
    for f in fields:  # the stdlib's check, which its __init__ would make at once
        if f.init:
            if not (f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING):
                seen_default = True
            elif seen_default:
                raise TypeError(f"non-default argument {f.name!r} follows default argument")
    if "__init__" not in cls.__dict__:  # (the stdlib keeps a class's own, too)
        cls.__init__ = _lazy_init(cls, fields, frozen, hasattr(cls, "__post_init__"))  # type: ignore[misc]
    if frozen:
        for fn in _frozen_methods(cls, tuple(f.name for f in fields)):
            if fn.__name__ in cls.__dict__:
                raise TypeError(f"Cannot overwrite attribute {fn.__name__} in class {cls.__name__}")
            setattr(cls, fn.__name__, fn)
    return cls


def _plain(cls: type) -> bool:
    """Is ``cls`` a case made here (see the module)?"""
    if not cls.__dict__.get("__doc__"):  # the stdlib would write one from the signature
        return False
    if any(hasattr(b, "__dataclass_fields__") for b in cls.__mro__[1:]):
        return False
    for annotation in cls.__dict__.get("__annotations__", {}).values():
        text = annotation if isinstance(annotation, str) else repr(annotation)
        if "ClassVar" in text or "InitVar" in text or "KW_ONLY" in text:
            return False
    return not any(isinstance(v, dataclasses.Field) and getattr(v, "kw_only", None) is True
                   for v in cls.__dict__.values())


def _lazy_init(cls: type, fields: tuple[dataclasses.Field[Any], ...], frozen: bool, post_init: bool) -> Any:
    return _LazyInit(cls, fields, frozen, post_init)


class _LazyInit:
    """A class's ``__init__`` until it is made (:func:`_init_fn`): made, and
    bound on the class in its place, by the first thing that reads it, as an
    instance's ``__init__`` (the first instance) or as the class's (``help``,
    ``inspect.signature``, ``typing.get_type_hints``: these see the
    stdlib's parameters, not a stand-in's ``(*args, **kwargs)``)."""

    __slots__ = ("_args", "_made")

    def __init__(self, cls: type, fields: tuple[dataclasses.Field[Any], ...], frozen: bool, post_init: bool) -> None:
        self._args = (cls, fields, frozen, post_init)
        self._made: Any = None

    def _init(self) -> Any:
        made = self._made
        if made is None:
            cls = self._args[0]
            made = self._made = _init_fn(*self._args)
            if cls.__dict__.get("__init__") is self:
                cls.__init__ = made  # type: ignore[misc]
        return made

    def __get__(self, obj: Any, owner: Any = None) -> Any:
        init = self._init()
        return init if obj is None else init.__get__(obj, owner)

    def __call__(self, *args: Any, **kwargs: Any) -> None:  # (read from the class's __dict__ and called)
        self._init()(*args, **kwargs)


def _init_fn(cls: type, fields: tuple[dataclasses.Field[Any], ...], frozen: bool, post_init: bool) -> Any:
    """The ``__init__`` ``dataclasses`` writes for ``fields`` (no InitVar, no
    keyword-only field, no slots): the same parameters, defaults,
    annotations and statements, in the class's module's globals.

    Its defaults and annotations are set on the function after, not written
    in its text for the compiler to build, which is what costs: the text the
    stdlib writes for SweepOptions' 51 fields takes ~0.8 ms to compile, this
    one ~0.45 ms. Only the names the statements use (the builtin ``object``,
    a default factory and its marker) are the closure's.
    """
    self_name = "__dataclass_self__" if "self" in {f.name for f in fields} else "self"
    closure: dict[str, Any] = {}
    if frozen:
        closure["__dataclass_builtins_object__"] = object
    body = []
    params = [self_name]
    defaults = []
    annotations: dict[str, Any] = {}
    for f in fields:
        dflt = f"_dflt_{f.name}"
        value: str | None = f.name
        if f.default_factory is not dataclasses.MISSING:
            closure[dflt] = f.default_factory
            if f.init:
                closure["_HAS_DEFAULT_FACTORY"] = _HAS_DEFAULT_FACTORY
                value = f"{dflt}() if {f.name} is _HAS_DEFAULT_FACTORY else {f.name}"
            else:
                value = f"{dflt}()"
        elif not f.init:
            value = None  # the class attribute holds its default
        if value is not None:
            body.append(f"__dataclass_builtins_object__.__setattr__({self_name},{f.name!r},{value})" if frozen
                        else f"{self_name}.{f.name}={value}")
        if f.init:
            params.append(f.name)
            annotations[f.name] = f.type
            if f.default is not dataclasses.MISSING:
                defaults.append(f.default)
            elif f.default_factory is not dataclasses.MISSING:
                defaults.append(_HAS_DEFAULT_FACTORY)
    if post_init:
        body.append(f"{self_name}.__post_init__()")
    annotations["return"] = None
    text = " def __init__({}):\n{}".format(",".join(params), "\n".join(f"  {b}" for b in body or ["pass"]))
    text = f"def __create_fn__({', '.join(closure)}):\n{text}\n return __init__"
    module = sys.modules.get(cls.__module__)
    ns: dict[str, Any] = {}
    exec(text, module.__dict__ if module is not None else {}, ns)
    fn = ns["__create_fn__"](**closure)
    fn.__defaults__ = tuple(defaults) or None
    fn.__annotations__ = annotations
    fn.__qualname__ = f"{cls.__qualname__}.{fn.__name__}"
    return fn


#: dataclasses' marker for "no value given: call the default factory".
_HAS_DEFAULT_FACTORY = getattr(dataclasses, "_HAS_DEFAULT_FACTORY", object())


def _frozen_methods(cls: Any, names: tuple[str, ...]) -> tuple[Any, Any]:
    """``__setattr__`` and ``__delattr__`` of a frozen dataclass, as the stdlib generates them."""
    def __setattr__(self: Any, name: str, value: Any) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot assign to field {name!r}")
        super(cls, self).__setattr__(name, value)

    def __delattr__(self: Any, name: str) -> None:
        if type(self) is cls or name in names:
            raise dataclasses.FrozenInstanceError(f"cannot delete field {name!r}")
        super(cls, self).__delattr__(name)

    for fn in (__setattr__, __delattr__):
        fn.__qualname__ = f"{cls.__qualname__}.{fn.__name__}"
        fn.__annotations__ = {}  # (the stdlib's have none: help() shows the same signature)
    return __setattr__, __delattr__
