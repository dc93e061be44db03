"""JUnit XML output (``--format junit``) for CI dashboards.

One ``<testsuite name="cardscan">``; one ``<testcase>`` per scanned object
(``classname`` ``cardscan``, ``name`` its path relative to the working
directory), passing when nothing was found in it; one ``<failure>`` per card
number (``type`` the rule id ``cardscan/pan``, ``message`` brand, masked
number, line and confidence, the text why) and one ``<error>`` per part that
could not be read (``type`` ``cardscan/error/<kind>``). Errors of the walk
itself (a directory that could not be listed) get a test case of their own.

JUnit has no streaming form (the suite's counts come first), so test cases
are kept in memory until the end: a few hundred bytes per scanned file. For
sweeps of millions of files use the JSON Lines manifest.

Names and messages are sanitised: XML 1.0 cannot hold most control
characters, and a file name must not be able to forge markup.
"""
from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import IO, Any, ClassVar
from xml.sax.saxutils import escape, quoteattr

from ..display import local_path, printable, relative_path
from ..explain import brand_name, summary
from ..findings import ErrorRecord, Finding, Location, ref_members
from ..sources.base import Item
from .base import BaseSink, open_report


def _clean(text: str) -> str:
    return printable(text)


def _attr(text: str) -> str:
    return quoteattr(_clean(text))


class JUnitSink(BaseSink):
    """Writes a JUnit XML report to ``out`` (a text stream or a path, ``-`` = stdout)."""

    name: ClassVar[str] = "junit"

    def __init__(self, out: IO[str] | str = "-", root: str | os.PathLike[str] | None = None) -> None:
        self._out, self._own = open_report(out)
        self.root = os.path.abspath(root if root is not None else os.getcwd())
        self._cases: list[str] = []
        self._pending_f: list[Finding] = []
        self._pending_e: list[ErrorRecord] = []
        self.tests = self.failures = self.errors = 0
        self._time = 0.0
        self._started = ""

    def begin(self, scan_info: dict[str, Any]) -> None:
        self._started = str((scan_info or {}).get("started", ""))

    def finding(self, finding: Finding) -> None:
        self._pending_f.append(finding)

    def error(self, error: ErrorRecord) -> None:
        self._pending_e.append(error)

    def end_item(self, item: Item | None, stats: dict[str, Any]) -> None:
        findings, errors = self._pending_f, self._pending_e
        self._pending_f, self._pending_e = [], []
        seconds = float(stats.get("seconds", 0.0) or 0.0)
        if item is None:  # errors of the walk: one case per error
            for e in errors:
                self._case(self.path_of(e.location, None), [], [e], 0.0)
            return
        self._case(self.path_of(Location(uri=item.uri, version=item.version), item.meta), findings, errors, seconds)

    def _case(self, name: str, findings: list[Finding], errors: list[ErrorRecord], seconds: float) -> None:
        self.tests += 1
        self.failures += len(findings)
        self.errors += len(errors)
        self._time += seconds
        parts = [f"    <testcase classname=\"cardscan\" name={_attr(name)} time=\"{seconds:.3f}\""]
        if not findings and not errors:
            self._cases.append(parts[0] + "/>")
            return
        parts[0] += ">"

        for f in findings:
            loc = f.location.public()  # member names may hold card numbers too
            pos = (f"cell {loc.ref}" if loc.ref else f"line {loc.line}, column {loc.column}" if loc.line is not None
                   else f"byte {loc.offset}" if loc.offset is not None else "")
            member = ref_members(loc.member, loc.ref) if loc.ref else loc.member
            inside = f" in {'!'.join(member)}" if member else ""
            message = (f"{brand_name(f.brand)} {f.masked}{inside}" + (f" at {pos}" if pos else "")
                       + f" (confidence {f.confidence})")
            body = summary(f)
            if f.obj.get("commit"):
                body += f"\ncommit {f.obj['commit']}"
            parts.append(f"      <failure type=\"cardscan/{_clean(f.kind)}\" message={_attr(message)}>"
                         f"{escape(_clean(body))}</failure>")
        for e in errors:
            where = "!".join(e.location.public().member)
            message = f"not scanned ({e.kind}): {e.message}"
            parts.append(f"      <error type=\"cardscan/error/{_clean(e.kind)}\" message={_attr(message)}>"
                         f"{escape(_clean((where + ': ' if where else '') + message))}</error>")
        parts.append("    </testcase>")
        self._cases.append("\n".join(parts))

    def path_of(self, loc: Location, meta: dict[str, Any] | None) -> str:
        loc, meta = loc.public(), meta or {}
        if meta.get("commit") and meta.get("path") and meta.get("repo"):
            text = relative_path(os.path.join(meta["repo"], meta["path"]), Path(self.root))
            return f"{text}@{str(meta['commit'])[:12]}"  # public parts; the stream masks on the way out
        local = local_path(loc.uri)
        text = relative_path(local, Path(self.root)) if local is not None else loc.uri
        if loc.version:
            text += f"?versionId={loc.version}"
        if loc.member:
            text = "!".join([text, *loc.member])
        return text

    def close(self, summary: dict[str, Any]) -> None:
        if self._pending_f or self._pending_e:  # records not followed by end_item (library use)
            pending, self._pending_f = self._pending_f, []
            by_path: dict[str, list[Finding]] = {}
            for f in pending:
                by_path.setdefault(self.path_of(f.location.__class__(uri=f.location.uri), f.obj), []).append(f)
            for path, found in by_path.items():
                self._case(path, found, [], 0.0)
            if self._pending_e:
                self.end_item(None, {})
        summary = summary or {}
        duration = float(summary.get("duration_s", self._time) or 0.0)
        stamp = self._started.replace("Z", "") if self._started else ""
        attrs = (f"name=\"cardscan\" tests=\"{self.tests}\" failures=\"{self.failures}\" "
                 f"errors=\"{self.errors}\" skipped=\"0\" time=\"{duration:.3f}\"")
        suite_attrs = attrs + (f" timestamp={_attr(stamp)}" if stamp else "") + f" hostname={_attr(socket.gethostname())}"
        out = ['<?xml version="1.0" encoding="UTF-8"?>', f"<testsuites {attrs}>", f"  <testsuite {suite_attrs}>"]
        status = summary.get("status")
        if status:
            out.append(f"    <properties><property name=\"status\" value={_attr(str(status))}/></properties>")
        out.extend(self._cases)
        out.append("  </testsuite>")
        out.append("</testsuites>")
        self._out.write("\n".join(out) + "\n")
        self._out.flush()
        if self._own:
            self._out.close()
