"""How cardscan shows things to people: locations, paths, sizes.

Shared by the console and report sinks, the HTML/text report, baselines and
remediation messages, so one location is written the same way everywhere.
Control characters in names are escaped (a file name cannot forge output
lines), and card numbers in names are masked (``Location.public()``).
"""
from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

from .findings import ref_members
from .privacy import Masked, runs_across

if TYPE_CHECKING:
    from .findings import Location


def printable(text: str) -> str:
    """``text`` with control characters and undecodable bytes escaped."""
    if text.isprintable() and "\\" not in text:  # the common case, at C speed
        return text
    out = []
    for ch in text:
        o = ord(ch)
        if o < 0x20 or o == 0x7F or 0xD800 <= o <= 0xDFFF:
            out.append(f"\\x{o & 0xFF:02x}")
        elif ch == "\\":
            out.append("\\\\")
        else:
            out.append(ch)
    return "".join(out)


def uri_display(uri: str) -> str:
    """A path for ``file://`` URIs; other URIs as they are."""
    if uri.startswith("file://"):
        path = uri[len("file://"):]
        if path.startswith("localhost/"):
            path = path[len("localhost"):]
        # (unquote's own answer without a '%': the path as it is; ~1k
        # instructions of each new name on the console, a call into urllib.)
        return unquote(path, errors="surrogateescape") if "%" in path else path
    return uri


def format_location(loc: "Location") -> str:
    """``path!member!member:line:col`` (or ``@offset``, or a SQL cell); card
    numbers in names masked."""
    return "".join(map(str, location_fields(loc)))


def location_fields(loc: "Location") -> list[str | int]:
    """:func:`format_location` in pieces: each of the place's names (uri,
    members, a cell's table, column and key) as a field of its own, line and
    column (or offset) as numbers, so an output boundary can mask each piece
    once (the same for every finding of an object: from the cache) and leave
    the numbers (privacy.mask_fields); one field when digits run on from one
    piece into the next (:func:`_whole_if_joined`). A name that shows as it
    was checked (masked by the name rule, which is stricter than a line's)
    is marked as passed (privacy.Masked); one that shows otherwise (a
    control character escaped, a percent escape decoded) is masked again
    as text."""
    loc = loc.public()
    fields: list[str | int] = [_checked(uri_display(loc.uri), loc.uri.startswith("file://"))]
    if loc.version:
        fields += ["?versionId=", _checked(loc.version)]
    if loc.ref:  # a spreadsheet cell: Sheet1!B2 says more than the part's line and column
        for name in (*ref_members(loc.member, loc.ref), loc.ref):
            fields += ["!", _checked(name)]
        return _whole_if_joined(fields)
    for name in loc.member:
        fields += ["!", _checked(name)]
    if loc.cell is not None:
        c = loc.cell
        fields += ["#", _checked(c.schema), "."] if c.schema else ["#"]
        fields += [_checked(c.table), ".", _checked(c.column), "["]
        for i, (k, v) in enumerate(c.row_key):
            # A key value is data (a float or a BLOB is left as it is by
            # Cell.public): masked as text unless it is a checked name.
            value = _checked(v) if type(v) is str else v if type(v) is int else printable(f"{v}")
            fields += [",", _checked(k), "=", value] if i else [_checked(k), "=", value]
        fields.append("]")
    elif loc.line is not None:
        fields += [":", loc.line, ":", loc.column] if loc.column is not None else [":", loc.line, ":None"]
    elif loc.offset is not None:
        fields += ["@", loc.offset]
    if loc.dump is not None:  # a value in a dump file: its table, column, row (and key)
        # Not marked: its key values were redacted, not masked by the name rule.
        fields.append(printable("#" + loc.dump.display()))
    return _whole_if_joined(fields)


def _whole_if_joined(fields: list[str | int]) -> list[str | int]:
    """``fields``, or their text as one field (masked as a whole, as text)
    when digits run on from one into the next (privacy.runs_across): a name
    ending in ``4556 7375`` at line 8689, column 9855, a zip ``4556 7375``
    holding ``8689 9855``, a table ``7375`` in a database ``4556``."""
    if runs_across(fields):
        return ["".join(map(str, fields))]
    return fields


def _checked(name: object, decoded: bool = False) -> str:
    """A public name as shown: marked as passed (privacy.Masked) when it
    shows as the name rule read it; else plain text, masked as text. A
    decoded uri path with a '%' left in it shows a form the rule did not
    read (``4556%257375`` decoded once)."""
    if type(name) is not str:
        return printable(f"{name}")
    shown = printable(name)
    if shown is not name or decoded and "%" in shown:
        return shown
    return Masked(shown)


def local_path(uri: str) -> str | None:
    """The local path of a ``file:`` URI or plain path; None for other URIs."""
    if uri.startswith("file:"):
        parts = urlsplit(uri)
        return unquote(parts.path, errors="surrogateescape")
    if "://" not in uri and uri:
        return os.path.abspath(uri)
    return None


def relative_path(path: str, root: Path) -> str:
    """``path`` relative to ``root`` with ``/`` separators; absolute when outside it."""
    try:
        rel = os.path.relpath(path, root)
    except ValueError:  # another drive (Windows)
        return Path(path).as_posix()
    if rel == os.pardir or rel.startswith(os.pardir + os.sep):
        return Path(os.path.abspath(path)).as_posix()
    return Path(rel).as_posix()


def is_terminal(stream: object) -> bool:
    """Whether ``stream`` is a terminal a person watches (False for a pipe, a
    file, a closed stream or an object without ``isatty``)."""
    try:
        return bool(stream.isatty())  # type: ignore[attr-defined]
    except (AttributeError, ValueError, OSError):
        return False


def human_bytes(n: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000
    return f"{n:.1f} PB"  # pragma: no cover
