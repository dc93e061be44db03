"""The Sink protocol: where a sweep pushes what it finds.

The parent process calls, in order::

    begin(scan_info)              once: the manifest's scan record fields
    finding(f) / error(e) ...     as results arrive, item by item
    allowed(f) ...                (optional) findings a ``cardscan: allow``
                                  comment allows (cardscan/allow.py): not
                                  findings; SARIF reports them as suppressed
    end_item(item, stats)         after each item's records (item is None for
                                  listing errors); a good place to flush
    end_batch()                   (optional) after the records of a batch of
                                  items that arrived together: where output
                                  for a reader (not a record of each object)
                                  may be flushed once instead of per item
    close(summary)                once, also after Ctrl-C (summary["status"]
                                  is then "interrupted")

Sinks never see content or full PANs: findings carry masked numbers and
keyed fingerprints only. A sink is a class with a stable ``name`` registered
in the ``cardscan.sinks`` entry-point group.
"""
from __future__ import annotations

import os
import sys
from typing import IO, Any, ClassVar, Protocol, cast, runtime_checkable

from .._files import open_private
from ..findings import ErrorRecord, Finding
from ..sources.base import Item


@runtime_checkable
class Sink(Protocol):
    name: ClassVar[str]

    def begin(self, scan_info: dict[str, Any]) -> None: ...

    def finding(self, finding: Finding) -> None: ...

    def error(self, error: ErrorRecord) -> None: ...

    def end_item(self, item: Item | None, stats: dict[str, Any]) -> None: ...

    def close(self, summary: dict[str, Any]) -> None: ...


def open_report(out: IO[str] | str) -> tuple[IO[str], bool]:
    """``(stream, owned)`` for a report destination: a text stream, ``-`` for
    stdout, or a path (created 0600, like every file cardscan writes); behind
    the output boundary (privacy.MaskedStream), whoever built the sink."""
    from ..privacy import MaskedStream

    if not isinstance(out, str):
        return cast(IO[str], MaskedStream.around(out)), False  # it writes like the stream it wraps
    if out == "-":
        return cast(IO[str], MaskedStream.around(sys.stdout)), False
    fd = open_private(out)
    return cast(IO[str], MaskedStream(os.fdopen(fd, "w", encoding="utf-8"))), True


class BaseSink:
    """A sink that ignores everything; subclass and override what you need."""

    name: ClassVar[str] = "base"

    def begin(self, scan_info: dict[str, Any]) -> None:
        pass

    def finding(self, finding: Finding) -> None:
        pass

    def error(self, error: ErrorRecord) -> None:
        pass

    def allowed(self, finding: Finding) -> None:
        """A finding an allow comment allows (optional: the sweep calls it where present)."""

    def end_item(self, item: Item | None, stats: dict[str, Any]) -> None:
        pass

    def end_batch(self) -> None:
        """The records of a batch of items that arrived together were given (optional: called where present)."""

    def close(self, summary: dict[str, Any]) -> None:
        pass


class ListSink(BaseSink):
    """Collects everything in lists: for tests and library use (a list is a sink)."""

    name: ClassVar[str] = "list"

    def __init__(self) -> None:
        self.scan_info: dict[str, Any] | None = None
        self.findings: list[Finding] = []
        self.errors: list[ErrorRecord] = []
        self.allowed_findings: list[Finding] = []
        self.items: list[tuple[Item | None, dict[str, Any]]] = []
        self.summary: dict[str, Any] | None = None

    def begin(self, scan_info: dict[str, Any]) -> None:
        self.scan_info = scan_info

    def finding(self, finding: Finding) -> None:
        self.findings.append(finding)

    def error(self, error: ErrorRecord) -> None:
        self.errors.append(error)

    def allowed(self, finding: Finding) -> None:
        self.allowed_findings.append(finding)

    def end_item(self, item: Item | None, stats: dict[str, Any]) -> None:
        self.items.append((item, stats))

    def close(self, summary: dict[str, Any]) -> None:
        self.summary = summary
