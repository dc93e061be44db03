"""cardscan: find leaked payment card numbers, map them, remove them.

The library API (see docs/api.md)::

    import cardscan
    for f in cardscan.scan_bytes(b"card 4111 1111 1111 1111"):
        print(f.location.offset, f.brand, f.masked, f.confidence)

Everything is imported lazily so ``import cardscan`` (and the pre-commit
hook's start-up) stays cheap.
"""
from __future__ import annotations

import os
from typing import IO, TYPE_CHECKING, Any, Iterator

from ._version import __version__

__all__ = [
    "Finding", "Location", "Cell", "Scanner", "ScanConfig", "FingerprintKey",
    "scan_bytes", "scan_text", "scan_stream", "scan_path", "redact", "RedactingFilter",
    "mask", "sweep", "SweepOptions", "load_manifest", "__version__",
]

# Typed for checkers only where it adds no import edge upward: sinks, the
# baseline and the sweep state import this package for __version__, so
# naming run, options or manifest here would close cycles through them
# (sweep, SweepOptions and load_manifest come through __getattr__ untyped).
if TYPE_CHECKING:
    from .engine.config import ScanConfig
    from .engine.scanner import Scanner
    from .findings import Cell, Finding, FingerprintKey, Location, mask
    from .privacy import RedactingFilter, redact

_LAZY = {
    "Finding": ("findings", "Finding"),
    "Location": ("findings", "Location"),
    "Cell": ("findings", "Cell"),
    "FingerprintKey": ("findings", "FingerprintKey"),
    "mask": ("findings", "mask"),
    "Scanner": ("engine.scanner", "Scanner"),
    "ScanConfig": ("engine.config", "ScanConfig"),
    "redact": ("privacy", "redact"),
    "RedactingFilter": ("privacy", "RedactingFilter"),
    "load_manifest": ("manifest", "load_manifest"),
    "sweep": ("run", "sweep"),
    "SweepOptions": ("options", "SweepOptions"),
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        module, attr = _LAZY[name]
        value = getattr(importlib.import_module(f".{module}", __name__), attr)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cardscan' has no attribute {name!r}")


def _scanner(key: Any, **settings: Any) -> "Scanner":
    from .engine.config import ScanConfig
    from .engine.scanner import Scanner
    from .privacy import install_scan_boundary

    # Here, at the entry points, not at import: importing cardscan leaves the
    # host's logging as it was; a scan puts cardscan's and its libraries' log
    # records behind the boundary (docs/design.md, "The output boundary").
    install_scan_boundary()

    return Scanner(ScanConfig(**settings), key=key)


def scan_bytes(
    data: bytes, *, key: bytes | str | None = None, field: str | None = None, **settings: Any
) -> list["Finding"]:
    """Findings in ``data``. ``settings`` are :class:`ScanConfig` fields.

    Without ``key`` (and without ``CARDSCAN_FINGERPRINT_KEY``) a random key is
    used, so fingerprints do not correlate across calls. ``field`` names the
    field ``data`` is the value of (a database column, a form field): a
    number filling it is judged by that name, as ``merchant_id=...`` or
    ``card_number=...`` would be.
    """
    return _scanner(key, **settings).scan_bytes(data, field=field)


def scan_text(
    text: str, *, key: bytes | str | None = None, field: str | None = None, **settings: Any
) -> list["Finding"]:
    """Findings in ``text``, with ``location.offset``/``length``/``column``
    counted in characters of ``text`` (``text[f.location.offset:][:f.location.length]``
    is the number as written); :func:`scan_bytes` counts bytes of its input.
    The text is scanned as UTF-8."""
    if not isinstance(text, str):
        raise TypeError(f"scan_text() takes str, not {type(text).__name__} (bytes: use scan_bytes)")
    data = text.encode("utf-8", "surrogatepass")
    findings = scan_bytes(data, key=key, field=field, **settings)
    if data.isascii():  # one byte per character: the offsets are right already
        return findings

    def chars(start: int, end: int) -> int:
        return len(data[start:end].decode("utf-8", "surrogatepass"))

    out = []
    for f in findings:
        loc = f.location
        if loc.offset is None:
            out.append(f)
            continue
        offset = chars(0, loc.offset)
        changes: dict[str, Any] = {"offset": offset}
        if loc.length is not None:
            changes["length"] = chars(loc.offset, loc.offset + loc.length)
        if loc.column is not None:
            line_start = data.rfind(b"\n", 0, loc.offset) + 1
            changes["column"] = chars(line_start, loc.offset) + 1
        out.append(f.with_location(**changes))
    return out


def scan_stream(fileobj: IO[bytes], *, key: bytes | str | None = None, uri: str = "", **settings: Any) -> Iterator["Finding"]:
    """Findings from a binary stream, read in chunks, in constant memory."""
    from .findings import Location

    return _scanner(key, **settings).scan_stream(fileobj, Location(uri=uri))


def scan_path(path: str | os.PathLike[str], *, key: bytes | str | None = None, **settings: Any) -> Iterator["Finding"]:
    """Findings in one file; the location's uri is ``file:///abs/path``."""
    from pathlib import Path

    from .findings import Location

    p = Path(path).resolve()
    scanner = _scanner(key, **settings)

    def gen() -> Iterator["Finding"]:
        with open(p, "rb") as fh:
            yield from scanner.scan_stream(fh, Location(uri=p.as_uri()))

    return gen()
