"""Readable summaries of manifests: text for the terminal, one self-contained HTML page.

``build(manifests, audits=())`` reads one or more manifests (each one or more
sweeps) and remediation audit logs, replays them oldest first, and computes
what the renderers show (docs/report.md):

* what was scanned (sweeps, roots, objects, bytes) next to what was found;
* every object holding cards: masked name, source, brands, counts,
  confidence, exposure, owner and readers, first and last seen;
* where they are by directory, worst exposure first (one order:
  ``model.EXPOSURES``), distinct cards by keyed fingerprint, totals;
* the trend over several sweeps and remediation runs: found, remediated,
  gone, and what is left, by exposure;
* what was skipped and what could not be read.

``render_text`` and ``render_html`` print the same sections in the same
order (``model.SECTIONS``). Masked numbers and masked names only.
"""
from __future__ import annotations

import os

from .. import _files
from ..errors import CardscanError
from .model import (
    EXPOSURE_ORDER,
    EXPOSURES,
    SECTIONS,
    ReportData,
    build,
    exposure_rank,
    object_dir,
    object_name,
    severity,
)
from .page import render_chart, render_html
from .text import render_text

__all__ = [
    "EXPOSURES", "EXPOSURE_ORDER", "SECTIONS", "ReportData", "build", "exposure_rank", "object_dir", "object_name",
    "render_chart", "render_html", "render_text", "severity", "write_private",
]


def write_private(path: str | os.PathLike[str], text: str) -> None:
    """Write ``text`` to ``path``, created 0600 (reports describe where cards are)."""
    try:
        fd = _files.open_private(path)
    except OSError as exc:
        raise CardscanError(f"cannot write {os.fspath(path)}: {exc.strerror}") from None
    with os.fdopen(fd, "w", encoding="utf-8") as fh:
        fh.write(text)
