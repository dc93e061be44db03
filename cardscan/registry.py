"""Lazy plugin tables: name -> "module:Class", filled from entry points.

Importing cardscan loads no optional dependency; a plugin's module is
imported the first time it is used, and a missing optional dependency turns
into a ``MissingDependency`` error naming the extra to install
(``pip install 'cardscan[s3]'``), never a traceback.
"""
from __future__ import annotations

import importlib
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

from .errors import ConfigError, MissingDependency

GROUPS = ("cardscan.sources", "cardscan.decoders", "cardscan.sinks", "cardscan.remediators")

#: Built-in plugins, registered exactly like third-party ones would be.
BUILTIN: dict[str, dict[str, str]] = {
    "cardscan.sources": {
        "file": "cardscan.sources.fs:FileSource",
    },
    "cardscan.decoders": {},
    "cardscan.sinks": {
        "jsonl": "cardscan.sinks.jsonl:JsonlSink",
        "text": "cardscan.sinks.console:ConsoleSink",
    },
    "cardscan.remediators": {},
}

#: Which extra provides the dependencies of a plugin (for install hints).
EXTRAS: dict[str, str] = {}


def register(group: str, name: str, target: str, extra: str | None = None) -> None:
    """Register ``target`` ("module:Class") under ``name`` in ``group``."""
    if group not in BUILTIN:
        raise ConfigError(f"unknown plugin group {group!r}")
    BUILTIN[group][name] = target
    if extra:
        EXTRAS[f"{group}:{name}"] = extra
    _table.cache_clear()


@lru_cache(maxsize=None)
def _table(group: str) -> dict[str, Any]:
    table: dict[str, Any] = dict(BUILTIN[group])
    for ep in entry_points(group=group):
        table.setdefault(ep.name, ep)
    return table


def names(group: str) -> list[str]:
    return sorted(_table(group))


def load(group: str, name: str) -> Any:
    """The plugin class registered as ``name`` in ``group``."""
    table = _table(group)
    if name not in table:
        raise ConfigError(f"no {group.split('.')[-1][:-1]} named {name!r} (known: {', '.join(sorted(table)) or 'none'})")
    target = table[name]
    try:
        if isinstance(target, str):
            module, _, attr = target.partition(":")
            return getattr(importlib.import_module(module), attr)
        return target.load()
    except ImportError as exc:
        extra = EXTRAS.get(f"{group}:{name}")
        hint = f"pip install 'cardscan[{extra}]'" if extra else "install the plugin's dependencies"
        raise MissingDependency(f"{name!r} needs a package that is not installed ({exc.name or exc}): {hint}") from None
