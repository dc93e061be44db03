"""CSV output (``--format csv``): one row per finding, for spreadsheets and quick triage.

Columns: ``uri, member, line, column, brand, kind, masked, confidence,
exposure, test_card, id``. ``uri`` is the object's public URI (a card number
in a name is masked, like everywhere else), ``member`` the path inside
containers joined with ``!`` (for a SQL cell: ``schema.table.column[key]``),
``exposure`` who may read the object (``unknown`` when not known). Never the
number: ``masked`` keeps at most the first 6 and last 4 digits.

Spreadsheets run a cell that starts with ``=``, ``+``, ``-``, ``@``, a tab
or a carriage return as a formula (CSV injection): a file named
``=HYPERLINK(...)`` must not become a link in the security team's sheet.
Such cells get a leading ``'``, the usual defence (OWASP), and control
characters are escaped so a name cannot forge a row.
"""
from __future__ import annotations

import csv
from typing import IO, Any, ClassVar

from ..display import printable
from ..findings import Finding
from ..sources.base import Item
from .base import BaseSink, open_report

COLUMNS = ("uri", "member", "line", "column", "brand", "kind", "masked", "confidence", "exposure", "test_card", "id")

_FORMULA = ("=", "+", "-", "@", "\t", "\r")


def cell(value: Any) -> str:
    """A value as a CSV cell that no spreadsheet evaluates."""
    text = "" if value is None else str(value)
    if text.startswith(_FORMULA):
        text = "'" + text
    return printable(text)


def row(f: Finding) -> list[str]:
    loc = f.location.public()
    member, line, column = "!".join(loc.member), loc.line, loc.column
    if loc.cell is not None:  # the cell is the position (a value's own line means little)
        c = loc.cell
        keys = ",".join(f"{k}={v}" for k, v in c.row_key)
        member = f"{c.schema + '.' if c.schema else ''}{c.table}.{c.column}[{keys}]"
        line = column = None
    if loc.dump is not None:  # a value in a dump file: line and column stay (they are the file's)
        member = f"{member}#{loc.dump.display()}" if member else loc.dump.display()
    values = (loc.uri, member, line, column, f.brand, f.kind, f.masked, f.confidence,
              f.obj.get("exposure", "unknown"), "yes" if f.test_card else "no", f.id)
    return [cell(v) for v in values]


class CsvSink(BaseSink):
    """Writes findings as CSV to ``out`` (a text stream, ``-`` for stdout, or a path created 0600)."""

    name: ClassVar[str] = "csv"
    #: end_item of an object with no records does nothing here: the sweep may count clean objects in batches.
    wants_clean_items: ClassVar[bool] = False

    def __init__(self, out: IO[str] | str = "-") -> None:
        self._out, self._own = open_report(out)
        self._writer = csv.writer(self._out, lineterminator="\n")
        self._header = False
        self.rows = 0

    def _begin(self) -> None:
        if not self._header:
            self._writer.writerow(COLUMNS)
            self._header = True

    def begin(self, scan_info: dict[str, Any]) -> None:
        self._begin()

    def finding(self, finding: Finding) -> None:
        self._begin()
        self._writer.writerow(row(finding))
        self.rows += 1

    def end_item(self, item: Item | None, stats: dict[str, Any]) -> None:
        self._out.flush()

    def close(self, summary: dict[str, Any]) -> None:
        self._begin()  # an empty sweep still gives a header: "no rows" is an answer
        self._out.flush()
        if self._own:
            self._out.close()
