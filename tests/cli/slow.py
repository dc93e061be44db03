"""Slow every item a sweep scans, in every process of a real ``cardscan`` run (crash tests).

A test writes a ``sitecustomize.py`` that calls :func:`slow_items` into a
directory of its own and puts that directory first on ``PYTHONPATH``: the
CLI, its forkserver and every worker import it at start-up, so each object
takes a little longer and a kill lands mid-sweep. Nothing in cardscan reads
it; :func:`sitecustomize_dir` writes the directory.
"""
from __future__ import annotations

import time
from pathlib import Path
from typing import Any


def slow_items(seconds: float) -> None:
    """Make ``Pipeline.scan_item`` (and ``scan_plain``) sleep ``seconds`` first, in this process."""
    from cardscan.pipeline import Pipeline

    scan = Pipeline.scan_item
    plain = Pipeline.scan_plain  # what a pool's parent scans while its workers start

    def scan_item(self: Any, item: Any) -> Any:
        time.sleep(seconds)
        return scan(self, item)

    def scan_plain(self: Any, item: Any) -> Any:
        time.sleep(seconds)
        return plain(self, item)

    Pipeline.scan_item = scan_item  # type: ignore[method-assign]
    Pipeline.scan_plain = scan_plain  # type: ignore[method-assign]


def sitecustomize_dir(where: Path, seconds: float) -> Path:
    """A directory holding a ``sitecustomize.py`` that slows items by ``seconds``."""
    where.mkdir(parents=True, exist_ok=True)
    (where / "sitecustomize.py").write_text(f"from tests.cli.slow import slow_items\n\nslow_items({seconds!r})\n")
    return where
