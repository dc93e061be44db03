"""Lazy plugin tables: name -> "module:Class", filled from entry points.

Importing cardscan loads no optional dependency; a plugin's module is
imported the first time it is used, and a missing optional dependency turns
into a ``MissingDependency`` error naming the extra to install
(``pip install 'cardscan[s3]'``), never a traceback.
"""
from __future__ import annotations

import importlib
import re
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

from .errors import ConfigError, MissingDependency

GROUPS = ("cardscan.sources", "cardscan.decoders", "cardscan.sinks", "cardscan.remediators")

#: Built-in plugins, registered exactly like third-party ones would be.
BUILTIN: dict[str, dict[str, str]] = {
    "cardscan.sources": {
        "file": "cardscan.sources.fs:FileSource",
        "s3": "cardscan.sources.s3:S3Source",
        "sql": "cardscan.sources.sql:SQLSource",
        "smb": "cardscan.sources.smb:SMBSource",
    },
    "cardscan.decoders": {},
    "cardscan.sinks": {
        "jsonl": "cardscan.sinks.jsonl:JsonlSink",
        "text": "cardscan.sinks.console:ConsoleSink",
    },
    "cardscan.remediators": {
        "file": "cardscan.remediate.files:FileRemediator",
        "s3": "cardscan.remediate.s3:S3Remediator",
        "sql": "cardscan.remediate.sql:SQLRemediator",
    },
}

#: Which extra provides the dependencies of a plugin (for install hints).
EXTRAS: dict[str, str] = {
    "cardscan.sources:s3": "s3",
    "cardscan.sources:sql": "sql",
    "cardscan.sources:smb": "smb",
    "cardscan.remediators:s3": "s3",
    "cardscan.remediators:sql": "sql",
}

# Built-in decoders (see decoders/base.py): asked in the order of each class's
# ``priority``, by magic bytes first and by name second.
BUILTIN["cardscan.decoders"].update({
    "gzip": "cardscan.decoders.compression:GzipDecoder",
    "bzip2": "cardscan.decoders.compression:Bzip2Decoder",
    "xz": "cardscan.decoders.compression:XzDecoder",
    "zstd": "cardscan.decoders.compression:ZstdDecoder",
    "zip": "cardscan.decoders.archives:ZipDecoder",  # office documents too (office.py)
    "tar": "cardscan.decoders.archives:TarDecoder",
    "unsupported-archive": "cardscan.decoders.archives:UnsupportedArchive",
    "pdf": "cardscan.decoders.pdf:PdfDecoder",
    "ole": "cardscan.decoders.ole:OleDecoder",
    "mail": "cardscan.decoders.mail:MailDecoder",
    "mbox": "cardscan.decoders.mail:MboxDecoder",
})
# Git history (``cardscan scan --git-history``, ``git+file://`` URLs) and the
# CI report formats (``--format sarif|junit``).
BUILTIN["cardscan.sources"]["git"] = "cardscan.sources.git:GitSource"
BUILTIN["cardscan.sinks"].update({
    "sarif": "cardscan.sinks.sarif:SarifSink",
    "junit": "cardscan.sinks.junit:JUnitSink",
})
EXTRAS.update({
    "cardscan.decoders:zstd": "archives",
    "cardscan.decoders:pdf": "archives",
    "cardscan.decoders:ole": "archives",
})

#: URL scheme -> source name for the built-in sources. A third-party source
#: needs no entry here: its entry-point name *is* its URL scheme.
#: ``dialect+driver`` schemes (``mysql+pymysql``) are looked up by dialect.
SCHEMES: dict[str, str] = {
    "file": "file",
    "s3": "s3",
    "sqlite": "sql",
    "postgresql": "sql",
    "postgres": "sql",
    "mysql": "sql",
    "mariadb": "sql",
    "smb": "smb",
}

_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]+)://")


def register(
    group: str, name: str, target: str, extra: str | None = None, schemes: tuple[str, ...] = ()
) -> None:
    """Register ``target`` ("module:Class") under ``name`` in ``group``.

    ``schemes``: further URL schemes a source handles (its name is one already).
    """
    if group not in BUILTIN:
        raise ConfigError(f"unknown plugin group {group!r}")
    BUILTIN[group][name] = target
    if extra:
        EXTRAS[f"{group}:{name}"] = extra
    for scheme in schemes:
        SCHEMES[scheme.lower()] = name
    _table.cache_clear()


def refresh() -> None:
    """Forget the cached tables, e.g. after installing a plugin at run time."""
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


def source_for_url(url: str) -> str:
    """Name of the source that handles ``url``.

    A plain path or ``file://`` URL is ``"file"``; ``s3://`` is ``"s3"``;
    SQLAlchemy URLs (``sqlite:///x.db``, ``postgresql+psycopg2://...``) are
    ``"sql"``; any other scheme is the name of a source registered under it
    (``memory://`` -> the ``memory`` entry point).
    """
    m = _SCHEME.match(url)
    if m is None:  # a path (incl. C:\\... on Windows): the file source
        return "file"
    scheme = m.group(1).lower()
    dialect = scheme.split("+", 1)[0]
    for s in (scheme, dialect):
        if s in SCHEMES:
            return SCHEMES[s]
    table = _table("cardscan.sources")
    for s in (scheme, dialect):
        if s in table:
            return s
    raise ConfigError(f"no source for URL scheme {scheme!r} (known: {', '.join(sorted(set(SCHEMES) | set(table)))})")
