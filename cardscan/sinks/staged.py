"""The manifest of a sweep with a state: the file at PATH is only ever a finished manifest.

See :class:`StagedManifest`; docs/scale.md tells the whole story.
"""
from __future__ import annotations

import os
from typing import Any

from .. import _files
from ..display import printable
from ..findings import ErrorRecord, Finding
from ..sources.base import Item
from .base import BaseSink
from .jsonl import JsonlSink


class StagedManifest:
    """The manifest sink of a sweep with a state: ``PATH`` is only ever a finished manifest.

    Records stream to ``PATH.partial`` (created 0600, truncated: a resumed run
    starts a fresh file, so a torn last line left by a kill is never kept).
    When the run completes, the partial file is fsynced and atomically
    renamed over ``PATH``; until then ``PATH`` keeps the previous complete
    sweep's manifest, so a pipeline reading ``PATH`` never sees a partial or
    torn manifest. An interrupted run leaves its (valid, ``interrupted``)
    manifest in ``PATH.partial``; its findings are in the state, and the
    resumed run's manifest carries them over.
    """

    name = "jsonl"

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self.partial = self.path + ".partial"
        self._inner = JsonlSink(self.partial)
        #: Where the manifest of this run ended up (set by close()).
        self.written: str | None = None
        self.status: str | None = None

    def begin(self, scan_info: dict[str, Any]) -> None:
        self._inner.begin(scan_info)

    def finding(self, finding: Finding) -> None:
        self._inner.finding(finding)

    def error(self, error: ErrorRecord) -> None:
        self._inner.error(error)

    def end_item(self, item: Item | None, stats: dict[str, Any]) -> None:
        self._inner.end_item(item, stats)

    def close(self, summary: dict[str, Any]) -> None:
        self._inner.close(summary)  # writes the summary and fsyncs
        self.status = summary.get("status")
        if self.status == "complete":
            _files.replace(self.partial, self.path)
            self.written = self.path
        else:
            self.written = self.partial

    def notice_sink(self, err: Any) -> Any:
        """A sink that says, after the summary line, where the manifest is."""
        return _ManifestNotice(self, err)


class _ManifestNotice(BaseSink):
    """Tells the user where the manifest ended up, once the sweep closes."""

    name = "notice"

    def __init__(self, staged: StagedManifest, err: Any) -> None:
        self._staged, self._err = staged, err

    def close(self, summary: dict[str, Any]) -> None:
        s = self._staged
        if s.written == s.path:
            self._err.write(f"cardscan: manifest written to {printable(s.path)}\n")
        elif s.written:
            self._err.write(f"cardscan: the manifest so far is in {printable(s.partial)} ({printable(s.path)} is "
                            "unchanged); run the same command again to resume\n")
        self._err.flush()
