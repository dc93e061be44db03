"""Human output: one line per finding on stdout, errors and a summary on stderr.

``/srv/share/hr/export.csv:12:31  visa  411111******1111  85``

Members inside containers are joined with ``!``
(``/x/march.zip!customers.xlsx!xl/sharedStrings.xml:1:220``), SQL cells are
``db-url#schema.table.column[id=7]``. Control characters in names are
escaped, so a file name cannot forge output lines.
"""
from __future__ import annotations

import sys
from collections import Counter
from functools import lru_cache
from typing import IO, Any, ClassVar

from ..display import (
    _checked,
    format_location,
    human_bytes,
    is_terminal,
    location_fields,
    printable,
    uri_display,
)
from ..findings import ErrorRecord, Finding, Location
from ..privacy import end_stretch, runs_across_place
from ..sources.base import Item
from .base import BaseSink

__all__ = [
    "ConsoleSink", "format_finding", "summary_line",
    # shown the same way everywhere (cardscan.display); importable from here too
    "format_location", "printable", "uri_display",
]


def format_finding(f: Finding) -> str:
    return "".join(map(str, finding_fields(f)))


def finding_fields(f: Finding) -> list[str | int]:
    """:func:`format_finding` in pieces, for ``MaskedStream.write_fields``."""
    place = _line_place(f.location)
    fields: list[str | int] = [*(place or location_fields(f.location)), "  ", f.brand, "  ", f.masked, "  ",
                               f.confidence]
    if f.kind != "pan":
        fields += ["  ", f.kind]
    if f.test_card:
        fields += ["  ", "test-card"]
    return fields


def _line_place(loc: Location) -> list[str | int] | None:
    """:func:`location_fields` of the usual finding's place: a name (no
    members, version, cell, ref or dump), a line and a column; None for
    any other. The name as shown is worked out once per name, and whether
    digits run on from it into the line and column
    (privacy.runs_across_place) from what its end holds. Tests compare
    the two."""
    pub = loc.public()
    line, column = pub.line, pub.column
    if type(line) is not int or type(column) is not int or pub.version or pub.ref or pub.member or \
            pub.cell is not None or pub.dump is not None:
        return None
    name, stretch = _shown_place(pub.uri)
    if runs_across_place(name, line, column, stretch):
        return None  # (one field: the general path joins them)
    return [name, ":", line, ":", column]


@lru_cache(maxsize=256)
def _shown_place(uri: str) -> tuple[str, int | None]:
    """The name as location_fields shows it (display._checked marks it
    passed or not), and privacy.end_stretch of it: one cache entry per
    object's uri, not one here and one in privacy's cache of stretches."""
    name = _checked(uri_display(uri), uri.startswith("file://"))
    return name, end_stretch(name)


class ConsoleSink(BaseSink):
    """Text lines for findings on ``out``; errors and the end summary on ``err``.

    ``quiet`` silences everything (the exit status and the manifest still
    tell); ``show_findings=False`` keeps stderr output only (stdout is taken
    by ``--manifest -`` or ``--format jsonl``).
    """

    name: ClassVar[str] = "text"
    #: end_item of an object with no records does nothing here: the sweep may count clean objects in batches.
    wants_clean_items: ClassVar[bool] = False

    def __init__(
        self,
        out: IO[str] | None = None,
        err: IO[str] | None = None,
        *,
        quiet: bool = False,
        show_findings: bool = True,
        manifest_path: str | None = None,
    ) -> None:
        from ..privacy import MaskedStream

        # Behind the output boundary, whoever built the sink (the CLI's streams are already).
        self.out = MaskedStream.around(out or sys.stdout)
        self.err = MaskedStream.around(err or sys.stderr)
        self.quiet = quiet
        self.show_findings = show_findings and not quiet
        self.manifest_path = manifest_path
        self._pending = False
        # A person watching gets each object's lines as it ends; a pipe or a
        # file gets each batch's (end_batch): a write per object, and a
        # wake-up of the reader, cost a 20,000-file sweep with 2,000 findings
        # ~7% of its time.
        self._each = is_terminal(self.out)

    def finding(self, finding: Finding) -> None:
        if self.show_findings:
            self.out.write_fields(finding_fields(finding))
            self._pending = True

    def error(self, error: ErrorRecord) -> None:
        if not self.quiet:
            if self._pending:  # the lines before it first: stdout and stderr may be one file (2>&1)
                self._flush()
            extra = f" ({error.limit})" if error.limit else ""
            self.err.write(f"cardscan: {format_location(error.location)}: {error.kind}{extra}: {printable(error.message)}\n")

    def end_item(self, item: Item | None, stats: dict[str, Any]) -> None:
        if self._pending and self._each:
            self._flush()

    def end_batch(self) -> None:
        if self._pending:
            self._flush()

    def _flush(self) -> None:
        self._pending = False
        self.out.flush()

    def close(self, summary: dict[str, Any]) -> None:
        if self._pending:
            self._flush()
        if self.quiet:
            return
        self.err.write(summary_line(summary) + "\n")
        if self.manifest_path:
            self.err.write(f"cardscan: manifest written to {printable(self.manifest_path)}\n")
        self.err.flush()


def summary_line(summary: dict[str, Any]) -> str:
    n = summary.get("findings", 0)
    bands = Counter(summary.get("findings_by_confidence", {}))
    band_text = ", ".join(f"{bands[b]} {b}" for b in ("high", "medium", "low") if bands.get(b))
    text = f"cardscan: {n} finding{'s' if n != 1 else ''}"
    if band_text:
        text += f" ({band_text})"
    carried = summary.get("carried_over") or {}  # sweeps with a state (docs/scale.md)
    objects = summary.get("objects_scanned", 0) + carried.get("objects", 0)
    text += (
        f" in {summary.get('objects_with_findings', 0)} of {objects} objects, "
        f"{human_bytes(summary.get('bytes_scanned', 0))} in {summary.get('duration_s', 0):.1f} s"
    )
    if carried.get("objects"):
        text += f"; {carried['objects']} unchanged objects carried over"
    allowed = summary.get("allowed", 0)
    if allowed:
        text += f"; {allowed} allowed by 'cardscan: allow' comments"
    skipped = {k: v for k, v in (summary.get("skipped") or {}).items() if v}
    if skipped:  # what the walk left out (too big, excluded, links ...): not scanned, not errors
        n = sum(skipped.values())
        why = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in sorted(skipped.items(), key=lambda kv: -kv[1]))
        text += f"; {n} skipped ({why})"
    gone = (summary.get("gone") or {}).get("objects", 0)
    if gone:
        text += f"; {gone} object{'s' if gone != 1 else ''} gone since the last sweep"
    errors = summary.get("errors", 0)
    if errors:
        text += f"; {errors} error{'s' if errors != 1 else ''} (not everything could be scanned)"
    if summary.get("status") != "complete":
        text += f"; INTERRUPTED ({summary.get('reason', 'unknown')})"
    return text
