"""Shared helpers for remediation tests: real scans make the manifests.

Every manifest here is written by ``cardscan scan`` itself (``main([...])``),
so the tests exercise the real contract between the scan and remediation.
"""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Iterable

from cardscan.cli.main import main
from cardscan.findings import FingerprintKey
from cardscan.remediate import Options, Selection, remediate
from cardscan.testing import distinct_pans

KEY = b"remediate-tests-key, 32 bytes or longer"
FKEY = FingerprintKey(KEY)


#: Fresh, distinct numbers (the one generator: cardscan.testing.pans).
pans = distinct_pans


def key_file(tmp: Path) -> Path:
    p = tmp / "fingerprint.key"
    if not p.exists():
        fd = os.open(p, os.O_WRONLY | os.O_CREAT, 0o600)
        os.write(fd, KEY)
        os.close(fd)
    return p


def scan(tmp: Path, *sources: str | Path, name: str = "scan.jsonl", extra: Iterable[str] = ()) -> Path:
    """Run the real ``cardscan scan`` and return the manifest path."""
    manifest = tmp / name
    argv = ["scan", *map(str, sources), "--manifest", str(manifest), "--key-file", str(key_file(tmp)),
            "-j", "1", "-q", "--no-progress", "--no-config", *extra]
    status = main(argv)
    assert status in (0, 1), f"scan failed with exit status {status}"
    return manifest


def findings(manifest: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in manifest.read_text().splitlines() if '"type":"finding"' in line]


def run(manifest: Path, action: str = "redact", apply: bool = True, selection: Selection | None = None,
        **options: Any) -> tuple[Any, list[Any]]:
    """The library entry point; (report, results)."""
    got: list[Any] = []
    verify = options.pop("verify", False)
    audit = options.pop("audit_log", None)
    journal = options.pop("journal", None)
    report = remediate(str(manifest), Options(action=action, apply=apply, **options), FKEY, selection,
                       on_result=got.append, audit_log=audit, journal=journal, verify=verify)
    return report, got


def statuses(results: list[Any]) -> dict[str, str]:
    """finding id -> status."""
    return {r.finding.id: r.status for r in results}


def fps(found: Iterable[Any]) -> set[str]:
    return {f.fingerprint for f in found}


def fp(pan: str) -> str:
    return FKEY.fingerprint(pan)
