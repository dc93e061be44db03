"""The journal (crash safety) and the audit log (who changed what), both JSON Lines, 0600.

Journal records, one line each, flushed and fsync'ed before the step they
announce is taken::

    {"event": "begin", "run": ..., "time": ..., "object": <object id>, "where": <location>,
     "action": "redact", "findings": [ids], "before_sha256": ..., "temp": <temp file, files only>}
    {"event": "prepared", "object": ..., "before_sha256": ..., "after_sha256": ...}
    {"event": "end", "object": ..., "status": "done" | "stale" | ..., "after_sha256": ...}

``begin`` is written before anything is created, ``prepared`` once the new
content is complete and synced (beside the original, not yet in its place),
``end`` after the atomic rename (or the UPDATE's commit, or the PUT). An
object with a ``begin`` and no ``end`` was interrupted: it is either
untouched (the rename did not happen) or fully remediated (it did), and the
``prepared`` record says which content is ours. A re-run therefore knows an
object whose digest is a ``prepared``/``end`` ``after_sha256`` reached from
the scanned digest as "changed by cardscan", not "changed by someone": it
resumes cleanly, and a later batch on the same object (``--select``) is not
refused as stale. Temp files named by unfinished ``begin`` records are
removed when the journal is opened.

The journal is locked (``flock``) while a run uses it: two runs of the same
remediation cannot interleave.

Audit records (one per finding and run, never a PAN)::

    {"time", "run", "user", "host", "manifest", "key_id", "finding_id", "location",
     "action", "status", "message", "brand", "kind", "masked",
     "before_sha256", "after_sha256", "destination", "backup", "detail"}
"""
from __future__ import annotations

import fcntl
import json
import os
import stat
from collections import defaultdict
from datetime import datetime, timezone
from typing import IO, Any

from .. import _files
from ..errors import ConfigError
from ..findings import FingerprintKey
from ..privacy import mask_name
from ..seal import SealError

#: Journal fields that hold paths (a temp file beside the object, a quarantine destination).
_PATHS = ("temp", "destination", "where")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def open_append(path: str) -> IO[bytes]:
    """``path`` opened for appending, created 0600; refuses a symlink or a file others can read."""
    try:
        fd = _files.open_private(path, append=True, narrow=False)  # refused below, not narrowed
    except OSError as exc:
        raise ConfigError(f"cannot write {path}: {exc.strerror}") from None
    st = os.fstat(fd)
    if not stat.S_ISREG(st.st_mode):
        os.close(fd)
        raise ConfigError(f"{path} is not a regular file")
    if stat.S_IMODE(st.st_mode) & 0o077:
        os.close(fd)
        raise ConfigError(f"{path} is accessible by group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
                          f"fix it with: chmod 600 {path}")
    return os.fdopen(fd, "ab", buffering=0)


def _line(record: dict[str, Any]) -> bytes:
    return (json.dumps(record, ensure_ascii=True, separators=(",", ":"), default=str) + "\n").encode("ascii")


class Journal:
    """Intent and result of each object's change; see the module docstring."""

    def __init__(self, path: str, run_id: str, read_only: bool = False, key: FingerprintKey | None = None) -> None:
        self.path = path
        self.run_id = run_id
        #: Seals paths whose names hold a card number (seal.py); the journal must
        #: know the real temp file to clean up after a crash, and show no PAN.
        self.key = key
        #: object id -> {before digest -> set of after digests} from this and earlier runs.
        self._edges: dict[str, dict[str, set[str]]] = defaultdict(lambda: defaultdict(set))
        self._produced: dict[str, set[str]] = defaultdict(set)
        self.unfinished: list[dict[str, Any]] = []
        self._load()
        self._fh: Any = None
        if read_only:  # a dry run: what earlier runs did counts, nothing is written
            return
        self._fh = open_append(path)
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._fh.close()
            raise ConfigError(f"another cardscan remediate is using the journal {path}; wait for it to finish") from None
        self._cleanup()

    def _load(self) -> None:
        try:
            fh = open(self.path, "rb")
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ConfigError(f"cannot read the journal {self.path}: {exc.strerror}") from None
        open_begins: dict[str, dict[str, Any]] = {}
        with fh:
            for raw in fh:
                try:
                    r = json.loads(raw)
                except ValueError:
                    continue  # a line cut short by a crash: what it announced did not complete
                if not isinstance(r, dict):
                    continue
                obj, event = r.get("object"), r.get("event")
                if not isinstance(obj, str):
                    continue
                if event == "begin":
                    open_begins[obj] = r
                elif event in ("prepared", "end"):
                    before, after = r.get("before_sha256"), r.get("after_sha256")
                    if before and after and (event == "prepared" or r.get("status") == "done"):
                        self._edges[obj][before].add(after)
                        self._produced[obj].add(after)
                    if event == "end":
                        open_begins.pop(obj, None)
        self.unfinished = list(open_begins.values())

    def _cleanup(self) -> None:
        """Remove temp files that interrupted runs left beside their objects."""
        for r in self.unfinished:
            temp = self._path(r, "temp")
            if isinstance(temp, str) and ".cardscan-" in os.path.basename(temp):
                try:
                    os.unlink(temp)
                except FileNotFoundError:
                    pass
                except OSError:
                    pass  # left for a later run; it holds only remediated content

    def record(self, event: str, object_id: str, **fields: Any) -> None:
        if self._fh is None:
            return
        for name in _PATHS:
            value = fields.get(name)
            if isinstance(value, str) and mask_name(value) is not value:
                fields[name] = mask_name(value)
                if self.key is not None:
                    fields[name + "_sealed"] = self.key.seal(value.encode("utf-8", "surrogateescape"))
        rec = {"event": event, "run": self.run_id, "time": now_iso(), "object": object_id, **fields}
        self._fh.write(_line(rec))
        os.fsync(self._fh.fileno())
        before, after = fields.get("before_sha256"), fields.get("after_sha256")
        if before and after and (event == "prepared" or fields.get("status") == "done"):
            self._edges[object_id][before].add(after)
            self._produced[object_id].add(after)

    def _path(self, rec: dict[str, Any], name: str) -> Any:
        """A path field of a journal record, opened if it was sealed (None if it cannot be)."""
        sealed = rec.get(name + "_sealed")
        if sealed is None:
            return rec.get(name)
        if self.key is None:
            return None
        try:
            return self.key.unseal(sealed).decode("utf-8", "surrogateescape")
        except SealError:
            return None

    def produced(self, object_id: str, digest: str) -> bool:
        return digest in self._produced.get(object_id, ())

    def descends(self, object_id: str, start: str, digest: str) -> bool:
        """Is ``digest`` reachable from ``start`` through cardscan's own changes?"""
        edges = self._edges.get(object_id)
        if not edges:
            return False
        seen, todo = {start}, [start]
        while todo:
            for nxt in edges.get(todo.pop(), ()):
                if nxt == digest:
                    return True
                if nxt not in seen:
                    seen.add(nxt)
                    todo.append(nxt)
        return False

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()


class AuditLog:
    """Appends one record per finding result; never a PAN."""

    def __init__(self, path: str, common: dict[str, Any]) -> None:
        self.path = path
        self.common = common
        self._fh = open_append(path)

    def write(self, result: Any) -> None:
        rec = {"time": now_iso(), **self.common, **result.to_dict()}
        self._fh.write(_line(rec))

    def close(self) -> None:
        try:
            os.fsync(self._fh.fileno())
        except OSError:
            pass
        self._fh.close()


def default_paths(manifest: str, audit: str | None, journal: str | None) -> tuple[str, str]:
    """(audit log, journal): the journal lives next to the audit log."""
    if audit is None:
        base = manifest[:-6] if manifest.endswith(".jsonl") else manifest
        audit = base + ".audit.jsonl"
    if journal is None:
        base = audit[:-6] if audit.endswith(".jsonl") else audit
        journal = base + ".journal.jsonl"
    return audit, journal
