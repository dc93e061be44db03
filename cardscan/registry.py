"""Lazy plugin tables: name -> "module:Class", filled from entry points.

Importing cardscan loads no optional dependency; a plugin's module is
imported the first time it is used, and a missing optional dependency turns
into a ``MissingDependency`` error naming the extra to install
(``pip install 'cardscan[s3]'``), never a traceback.
"""
from __future__ import annotations

import importlib
import os
import re
import sys
from functools import lru_cache
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
        "smb": "cardscan.remediate.smb:SMBRemediator",
    },
}

#: Which extra provides the dependencies of a plugin (for install hints).
EXTRAS: dict[str, str] = {
    "cardscan.sources:s3": "s3",
    "cardscan.sources:sql": "sql",
    "cardscan.sources:smb": "smb",
    "cardscan.remediators:s3": "s3",
    "cardscan.remediators:sql": "sql",
    "cardscan.remediators:smb": "smb",
}

# Built-in decoders: the class, and what it recognises, as DATA, so that
# "is this a container?" (decoders/expand.py ``is_container``: the sweep
# planner, the pre-commit hook, ``expand`` itself) is answered without
# importing any decoder. The data may say yes where the decoder then declines
# (the object is scanned as plain bytes); it must never say no where the
# decoder's ``accepts()`` says yes (DecoderContract checks it for each one).
#
#   magic     (offset, bytes): these bytes at this offset of the head;
#   search    (window, bytes): these bytes anywhere in the first window bytes;
#   suffixes  name endings (lower case) the decoder trusts without magic;
#   headers   a text head that starts with a header block naming one of these.
#
# Decoders are asked in the order of each class's ``priority``, by magic
# bytes first and by name second (see decoders/base.py).
DECODERS: dict[str, dict[str, Any]] = {
    "gzip": {"target": "cardscan.decoders.compression:GzipDecoder", "magic": ((0, b"\x1f\x8b\x08"),)},
    "bzip2": {"target": "cardscan.decoders.compression:Bzip2Decoder", "magic": ((0, b"BZh"),)},
    "xz": {"target": "cardscan.decoders.compression:XzDecoder", "magic": ((0, b"\xfd7zXZ\x00"),),
           "suffixes": (".lzma", ".tlz")},  # legacy LZMA ("alone") has no magic
    "zstd": {"target": "cardscan.decoders.compression:ZstdDecoder", "magic": ((0, b"\x28\xb5\x2f\xfd"),),
             "suffixes": (".zst", ".zstd", ".tzst")},  # a skippable frame first has other bytes
    # zip: office documents too (office.py)
    "zip": {"target": "cardscan.decoders.archives:ZipDecoder",
            "magic": ((0, b"PK\x03\x04"), (0, b"PK\x05\x06"), (0, b"PK\x07\x08"))},
    "tar": {"target": "cardscan.decoders.archives:TarDecoder", "magic": ((257, b"ustar"),),
            "suffixes": (".tar",)},  # v7 tars have no magic
    "unsupported-archive": {"target": "cardscan.decoders.archives:UnsupportedArchive",
                            "magic": ((0, b"7z\xbc\xaf\x27\x1c"), (0, b"Rar!\x1a\x07"))},
    "pdf": {"target": "cardscan.decoders.pdf:PdfDecoder", "search": ((1024, b"%PDF-"),)},
    "ole": {"target": "cardscan.decoders.ole:OleDecoder", "magic": ((0, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"),)},
    "mail": {"target": "cardscan.decoders.mail:MailDecoder", "suffixes": (".eml", ".mht", ".mhtml"),
             "headers": (b"from:", b"received:", b"message-id:", b"mime-version:", b"return-path:",
                         b"delivered-to:")},
    "mbox": {"target": "cardscan.decoders.mail:MboxDecoder", "magic": ((0, b"From "),)},
    # database dumps: a tool's header line, or a dump's name (dumps.py checks for statements)
    "sql-dump": {"target": "cardscan.decoders.dumps:DumpDecoder",
                 "search": ((512, b"-- PostgreSQL database dump"), (512, b"-- MySQL dump"), (512, b"-- MariaDB dump"),
                            (512, b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;")),
                 "suffixes": (".sql", ".dump", ".pgsql", ".mysql")},
}
#: The keys of a DECODERS entry that describe what it recognises.
FORMAT_KEYS = ("magic", "search", "suffixes", "headers")
BUILTIN["cardscan.decoders"].update({name: d["target"] for name, d in DECODERS.items()})

# Git history (``cardscan scan --git-history``, ``git+file://`` URLs) and the
# report formats (``--format sarif|junit|csv``).
BUILTIN["cardscan.sources"]["git"] = "cardscan.sources.git:GitSource"
BUILTIN["cardscan.sinks"].update({
    "sarif": "cardscan.sinks.sarif:SarifSink",
    "junit": "cardscan.sinks.junit:JUnitSink",
    "csv": "cardscan.sinks.csv:CsvSink",
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
    group: str, name: str, target: str, extra: str | None = None, schemes: tuple[str, ...] = (),
    **recognises: Any,
) -> None:
    """Register ``target`` ("module:Class") under ``name`` in ``group``.

    ``schemes``: further URL schemes a source handles (its name is one already).
    A decoder may declare what it recognises (``magic=((0, b"RIFF"),)``,
    ``suffixes=(".wav",)``: the keys of :data:`DECODERS`); one that declares
    nothing is asked through its ``accepts()`` instead, like an entry point.
    """
    global _generation
    if group not in BUILTIN:
        raise ConfigError(f"unknown plugin group {group!r}")
    unknown = set(recognises) - set(FORMAT_KEYS)
    if unknown or (recognises and group != "cardscan.decoders"):
        raise ConfigError(f"unknown argument(s) for {group}: {', '.join(sorted(unknown or recognises))}")
    BUILTIN[group][name] = target
    if group == "cardscan.decoders":
        DECODERS[name] = {"target": target, **{k: tuple(v) for k, v in recognises.items() if v}}
    if extra:
        EXTRAS[f"{group}:{name}"] = extra
    for scheme in schemes:
        SCHEMES[scheme.lower()] = name
    _table.cache_clear()
    _generation += 1


def refresh() -> None:
    """Forget the cached tables, e.g. after installing a plugin at run time
    (the decoders loaded from them too: see :func:`generation`)."""
    global _generation
    _table.cache_clear()
    _declared_groups.cache_clear()
    _generation += 1


_generation = 0


def generation() -> int:
    """A number that changes whenever the tables may have changed
    (:func:`register`, :func:`refresh`): caches built from them compare it."""
    return _generation


def decoder_formats() -> dict[str, dict[str, Any]]:
    """What each decoder that declared it recognises (see :data:`DECODERS`), by name.

    Decoders missing here (entry points, decoders registered without data)
    must be loaded and asked through ``accepts()``.
    """
    table = _table("cardscan.decoders")
    out = {}
    for name, target in table.items():
        d = DECODERS.get(name)
        if d is not None and d["target"] == target and any(k in d for k in FORMAT_KEYS):
            out[name] = d
    return out


@lru_cache(maxsize=None)
def _table(group: str) -> dict[str, Any]:
    table: dict[str, Any] = dict(BUILTIN[group])
    if may_declare(group):
        # Deferred: importing importlib.metadata costs ~15 ms, a tenth of the
        # pre-commit hook's start-up, and most environments declare no plugin.
        from importlib.metadata import entry_points

        for ep in entry_points(group=group):
            table.setdefault(ep.name, ep)
    return table


@lru_cache(maxsize=1)
def _declared_groups() -> frozenset[str] | None:
    """:func:`_scan_declared_groups`, cached until :func:`refresh`."""
    return _scan_declared_groups()


def _scan_declared_groups() -> frozenset[str] | None:
    """The entry-point groups the installed distributions declare, read from
    their ``entry_points.txt`` files directly; None when that cannot tell
    (a zip on ``sys.path``, a finder of distributions other than Python's own):
    importlib.metadata must be asked then. Costs a directory listing per
    ``sys.path`` entry.

    Every start-up reads them (~6 M instructions as first written), so: a
    name is lowered only when its last character can end a distribution's
    (only ``o``/``O`` lower to ``o``, ``g``/``G`` to ``g``), paths are
    joined as strings, a file is looked for with ``os.access`` before it is
    opened (most ``.dist-info`` have no ``entry_points.txt``: an exception
    each), and read as bytes, decoded as the text mode would (``splitlines``
    sees the same lines).
    """
    from importlib.machinery import PathFinder

    if any(getattr(f, "find_distributions", None) is not None and f is not PathFinder for f in sys.meta_path):
        return None
    groups: set[str] = set()
    for entry in sys.path:
        root = entry or "."
        try:
            names = os.listdir(root)
        except FileNotFoundError:
            continue
        except OSError:  # a zip file, an unreadable directory: cannot tell
            return None
        for name in names:
            if name[-1:] not in _LAST_OF_DIST:
                continue
            low = name.lower()
            if low.endswith((".dist-info", ".egg-info")):
                path = f"{root}/{name}/entry_points.txt"  # (a listed name is no absolute path: os.path.join's)
            elif low.endswith(".egg"):
                path = f"{root}/{name}/EGG-INFO/entry_points.txt"
            else:
                continue
            try:
                if os.access(path, os.F_OK):
                    with open(path, "rb") as fh:
                        text = fh.read().decode("utf-8", "replace")
                else:
                    text = None
            except (FileNotFoundError, NotADirectoryError):
                text = None
            except OSError:
                return None
            if text is None:
                if low.endswith(".egg") and os.path.isfile(os.path.join(root, name)):
                    return None  # a zipped egg
                continue  # no entry points (or an egg-info file: metadata only)
            for line in text.splitlines():
                if "]" not in line:  # (no section header: the common line, passed at once)
                    continue
                line = line.strip()
                if line.startswith("[") and line.endswith("]"):
                    groups.add(line.strip("[]").strip())
    return frozenset(groups)


#: The last character of a name ending in .dist-info, .egg-info or .egg, in any case.
_LAST_OF_DIST = frozenset("oOgG")


def may_declare(group: str, *, fresh: bool = False) -> bool:
    """Might an installed distribution declare entry points in ``group``?
    False only when their ``entry_points.txt`` files say none does, so a
    caller can skip importlib.metadata's scan of every distribution (~15 ms,
    plus ~15 ms to import it). ``fresh``: read the files again (~4 ms), not
    the answer cached until :func:`refresh`."""
    declared = _scan_declared_groups() if fresh else _declared_groups()
    return declared is None or group in declared


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
