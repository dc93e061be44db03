"""The card-holding objects of a manifest, indexed for the join.

One :class:`CardObject` per object that holds findings: a local file, an
S3 object (one version), or a SQL table. Findings inside a container count
for the container (the object a reader fetches). The index is proportional
to the objects with findings, not to the logs.

Names are kept in their public (masked) form for output. With the
fingerprint key, a location sealed because its name held a card number is
opened, so the join can compare real names; without it, log names are
masked the same way and compared masked.
"""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from ..findings import FingerprintKey, Location
from ..manifest import iter_records
from ..privacy import mask_name
from .events import Event, parse_iso


@dataclass
class CardObject:
    """An object holding card numbers, as the manifest describes it."""

    kind: str  # file, s3, sql
    uri: str  # public (masked) uri
    real_uri: str | None  # the real uri when known (unmasked, or opened with the key)
    version: str | None = None
    #: When the object's content last changed before the scan (mtime,
    #: S3 last-modified), seconds since the epoch; None when unknown (SQL).
    changed: float | None = None
    changed_text: str | None = None
    size: int | None = None
    findings: int = 0
    is_latest: bool | None = None
    # sql
    database: str | None = None  # the database name from the URL
    schema: str | None = None
    table: str | None = None
    dialect: str | None = None
    obj: dict[str, Any] = field(default_factory=dict)

    @property
    def ident(self) -> tuple[Any, ...]:
        return (self.kind, self.uri, self.version, self.schema, self.table)

    def describe(self) -> dict[str, Any]:
        """The object as access records show it (public names only)."""
        d: dict[str, Any] = {"kind": self.kind, "uri": self.uri}
        if self.version is not None:
            d["version"] = self.version
        if self.kind == "sql":
            d["schema"] = self.schema
            d["table"] = self.table
        d["last_changed"] = self.changed_text
        d["findings"] = self.findings
        return d

    @property
    def bucket_key(self) -> tuple[str, str] | None:
        uri = self.real_uri or self.uri
        if self.kind != "s3" or not uri.startswith("s3://"):
            return None
        bucket, _, key = uri[len("s3://"):].partition("/")
        return bucket, key


@dataclass
class ScanWindow:
    """When a scan in the manifest ran (its own reads touch atime)."""

    started: float | None
    finished: float | None


@dataclass
class Inventory:
    objects: list[CardObject]
    scans: list[ScanWindow]
    unsupported: int  # card-holding objects of sources with no access evidence here (git, smb ...)
    masked_names: int  # objects whose names are masked and could not be opened (no key)


def load(manifest: str | os.PathLike[str], key: FingerprintKey | None = None) -> Inventory:
    """The card-holding objects of a manifest (several concatenated scans: the
    last description of an object wins)."""
    objects: dict[tuple[Any, ...], CardObject] = {}
    scans: list[ScanWindow] = []
    unsupported: set[str] = set()
    ids_by_object: dict[tuple[Any, ...], set[str]] = {}
    for record in iter_records(manifest):
        t = record.get("type")
        if t == "scan":
            scans.append(ScanWindow(parse_iso(record.get("started")), None))
        elif t == "summary" and scans:
            scans[-1].finished = parse_iso(record.get("finished"))
        elif t == "finding":
            obj = _card_object(record, key)
            if obj is None:
                unsupported.add(str(record.get("location", {}).get("uri")))
                continue
            ids = ids_by_object.setdefault(obj.ident, set())
            ids.add(str(record.get("id") or len(ids)))  # concatenated scans repeat findings: count each once
            obj.findings = len(ids)
            objects[obj.ident] = obj  # the latest description of the object wins
    masked = sum(1 for o in objects.values() if o.real_uri is None)
    return Inventory(list(objects.values()), scans, len(unsupported), masked)


def _card_object(record: dict[str, Any], key: FingerprintKey | None) -> CardObject | None:
    loc_d = record.get("location") or {}
    obj = record.get("object") or {}
    if not isinstance(loc_d, dict) or not isinstance(loc_d.get("uri"), str):
        return None
    public_uri = loc_d["uri"]
    real = Location.from_dict({**loc_d, "sealed": None})
    real_uri: str | None = public_uri  # a name that needed no masking is its own real name
    if loc_d.get("sealed"):
        real_uri = None
        if key is not None:
            try:
                real = Location.from_dict(loc_d, key)
                real_uri = real.uri
            except Exception:  # noqa: BLE001 - sealed under another key: only the masked name is known
                pass
    version = loc_d.get("version")
    if real.cell is not None:
        parts = urlsplit(public_uri)
        return CardObject(
            kind="sql", uri=public_uri, real_uri=real_uri, schema=real.cell.schema, table=real.cell.table,
            database=unquote(parts.path.lstrip("/")) or None, dialect=parts.scheme.split("+")[0], obj=obj,
        )
    if public_uri.startswith("file://"):
        return CardObject(
            kind="file", uri=public_uri, real_uri=real_uri, changed=parse_iso(obj.get("mtime")),
            changed_text=obj.get("mtime"), size=obj.get("size"), obj=obj,
        )
    if public_uri.startswith("s3://"):
        changed_text = obj.get("last_modified") or obj.get("mtime")
        latest = obj.get("is_latest")
        return CardObject(
            kind="s3", uri=public_uri, real_uri=real_uri, version=version, changed=parse_iso(changed_text),
            changed_text=changed_text, size=obj.get("size"), is_latest=latest if isinstance(latest, bool) else None,
            obj=obj,
        )
    return None


class Index:
    """Find the card objects a log event is about."""

    def __init__(self, objects: list[CardObject]) -> None:
        self.s3: dict[tuple[str, str], list[CardObject]] = {}
        self.s3_masked: dict[str, list[CardObject]] = {}
        self.sql: dict[tuple[str | None, str], list[CardObject]] = {}
        for o in objects:
            if o.kind == "s3":
                bk = o.bucket_key
                if o.real_uri is not None and bk is not None:
                    self.s3.setdefault(bk, []).append(o)
                else:
                    self.s3_masked.setdefault(o.uri, []).append(o)
            elif o.kind == "sql" and o.dialect == "postgresql":
                self.sql.setdefault((o.schema, o.table or ""), []).append(o)
        self.buckets = {bk[0] for bk in self.s3} | {u[len("s3://"):].split("/", 1)[0] for u in self.s3_masked}

    def may_hold(self, bucket: str | None, key: str) -> bool:
        """Could (bucket, key) be a card-holding object? (cheap: checked on every log line)"""
        if bucket not in self.buckets:
            return False
        if (bucket, key) in self.s3:
            return True
        # mask_name returns at once for a name without a run of digits.
        return bool(self.s3_masked) and mask_name(f"s3://{bucket}/{key}") in self.s3_masked

    def s3_objects(self, e: Event) -> list[CardObject]:
        if e.bucket is None or e.key is None or e.bucket not in self.buckets:
            return []
        found = self.s3.get((e.bucket, e.key), [])
        if self.s3_masked:
            public = mask_name(f"s3://{e.bucket}/{e.key}")
            found = found + self.s3_masked.get(public, [])
        return found

    def sql_objects(self, e: Event) -> list[CardObject]:
        if e.table is None:
            return []
        out = []
        for o in self.sql.get((e.schema, e.table), []):
            if e.database is None or o.database is None or e.database == o.database:
                out.append(o)
        return out
