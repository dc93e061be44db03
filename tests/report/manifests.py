"""Manifests and audit logs for report tests, written record by record.

Records are built as the sweep writes them (Finding.to_dict for findings),
or raw where a test needs a value the writer would never produce (a card
number in an owner name) to prove the report's own fence.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cardscan.findings import Cell, ErrorRecord, Finding, FingerprintKey, Location, mask
from cardscan.manifest import dumps, error_record, finding_record, scan_record, summary_record
from tests.treegen import KEY

FP = FingerprintKey(KEY)


def finding(p: str, uri: str, *, line: int = 1, exposure: str | None = "private", owner: str | None = "alice",
            brand: str = "visa", confidence: int = 90, readers: list[str] | None = None,
            cell: Cell | None = None, member: tuple[str, ...] = (), **obj: Any) -> Finding:
    meta: dict[str, Any] = {"size": 100, "sha256": "0" * 64, **obj}
    if exposure is not None:
        meta["exposure"] = exposure
    if owner is not None:
        meta["owner"] = owner
    if readers is not None:
        meta["readers"] = readers
    loc = Location(uri=uri, member=member, offset=line * 10, length=len(p), line=line, column=1, cell=cell)
    return Finding(loc, "pan", brand, mask(p), FP.fingerprint(p), confidence, ("issuer_luhn",), obj=meta)


@dataclass
class SweepSpec:
    started: str
    roots: list[tuple[str, str]] = field(default_factory=list)  # (source name, url)
    findings: list[Finding] = field(default_factory=list)
    errors: list[ErrorRecord] = field(default_factory=list)
    status: str | None = "complete"  # None: no summary (cut short)
    host: str = "scanner-1"
    key_id: str | None = None
    skipped: dict[str, int] = field(default_factory=dict)
    objects_scanned: int = 10
    bytes_scanned: int = 12_345
    extra: list[dict[str, Any]] = field(default_factory=list)  # raw records after the findings


def records(s: SweepSpec) -> list[dict[str, Any]]:
    head = scan_record({"cardscan_version": "0", "started": s.started, "host": s.host,
                        "sources": [{"name": n, "url": u, "options": {}} for n, u in s.roots],
                        "settings": {}, "key_id": s.key_id or FP.key_id})
    recs = [head, *map(finding_record, s.findings), *map(error_record, s.errors), *s.extra]
    if s.status is not None:
        by_kind: dict[str, int] = {}
        for e in s.errors:
            by_kind[e.kind] = by_kind.get(e.kind, 0) + 1
        recs.append(summary_record({
            "status": s.status, "started": s.started, "finished": s.started, "duration_s": 1.0,
            "objects_scanned": s.objects_scanned, "objects_with_findings": len({f.location.uri for f in s.findings}),
            "bytes_scanned": s.bytes_scanned, "findings": len(s.findings), "findings_by_brand": {},
            "findings_by_kind": {}, "findings_by_confidence": {}, "findings_by_directory": {},
            "errors": len(s.errors), "errors_by_kind": by_kind, "skipped": s.skipped,
            **({"reason": "signal"} if s.status == "interrupted" else {}),
        }))
    return recs


def write(path: Path, *sweeps: SweepSpec) -> Path:
    path.write_bytes(b"".join(dumps(r) for s in sweeps for r in records(s)))
    return path


def audit(path: Path, run: str, time: str, results: list[tuple[Finding, str]], action: str = "redact",
          key_id: str | None = None) -> Path:
    """Append one remediation run's audit records: (finding, status) pairs."""
    with open(path, "a") as fh:
        for f, status in results:
            fh.write(json.dumps({
                "time": time, "run": run, "user": "ana", "host": "ops-1", "manifest": "m.jsonl",
                "key_id": key_id or FP.key_id, "finding_id": f.id, "location": f.location.display(),
                "action": action, "status": status, "brand": f.brand, "kind": f.kind, "masked": f.masked,
            }) + "\n")
    return path


def access_records(path: Path, objects: list[tuple[Finding, dict[str, Any]]], summary_text: str,
                   status: str = "complete") -> Path:
    """A ``cardscan access --out`` file in its documented shape (docs/manifest.md,
    "Access records"): (a finding of the object, the access_object fields) pairs."""
    recs: list[dict[str, Any]] = [{"type": "access_scan", "schema_version": 1, "cardscan_version": "0",
                                   "started": "2024-07-01T08:00:00Z", "logs": [], "local_files": True}]
    for f, fields in objects:
        loc = f.location.public()
        obj: dict[str, Any] = {"kind": "sql" if loc.cell else ("s3" if loc.uri.startswith("s3://") else "file"),
                               "uri": loc.uri, "last_changed": None, "findings": 1}
        if loc.version:
            obj["version"] = loc.version
        if loc.cell is not None:
            obj["schema"], obj["table"] = loc.cell.schema, loc.cell.table
        recs.append({"type": "access_object", "object": obj, "principals": 0, "outside_account": None,
                     "account_unknown": None, "principals_only_during_scan": 0, "reads": 0, "reads_during_scan": 0,
                     "first_read": None, "last_read": None, "evidence": [], "logs_cover": None, **fields})
    recs.append({"type": "access_summary", "status": status, "objects": len(objects), "text": summary_text})
    path.write_text("".join(json.dumps(r) + "\n" for r in recs))
    return path
