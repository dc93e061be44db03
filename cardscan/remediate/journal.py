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

The journal decides what cardscan deletes (temp files of interrupted runs)
and which changes it accepts as its own, so it is trusted only when it is
ours: it must be a regular file (never followed through a symlink) owned by
the running user, mode 0600, and every record carries ``mac``, an
HMAC-SHA256 of the rest of its line under a key derived from the
fingerprint key. A journal of another user, open to others, written under
another key, or holding one complete record whose MAC does not verify is
refused as a whole, with a clear error (a last line cut short by a crash is
ignored, as before). Temp files named by unfinished records are removed only
when they look like cardscan's (``.cardscan-<hex>.tmp``), are regular files
and are ours.

Audit records (one per finding and run, never a PAN)::

    {"time", "run", "user", "host", "manifest", "key_id", "finding_id", "location",
     "action", "status", "message", "brand", "kind", "masked",
     "before_sha256", "after_sha256", "destination", "backup", "detail"}
"""
from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import stat
from collections import defaultdict
from datetime import datetime, timezone
from typing import IO, Any

from .. import _files
from ..errors import ConfigError
from ..findings import FingerprintKey
from ..privacy import mask_name, public_record
from ..seal import SealError

#: Journal fields that hold paths (a temp file beside the object, a quarantine destination).
_PATHS = ("temp", "destination", "where")


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


#: A temp file cardscan makes beside an object (_files.temp_name), the only kind the journal removes.
_TEMP_NAME = re.compile(r"\.cardscan-[0-9a-f]{16}\.tmp")
_MAC = b',"mac":"'


def _check_ours(fd: int, path: str) -> None:
    """Refuse (closing ``fd``) a file that is not a regular file of ours, mode 0600 or narrower."""
    st = os.fstat(fd)
    problem = None
    if not stat.S_ISREG(st.st_mode):
        problem = "is not a regular file"
    elif st.st_uid != os.geteuid():
        problem = (f"belongs to another user (uid {st.st_uid}): its records could have been written by anyone; "
                   "refusing to trust it")
    elif stat.S_IMODE(st.st_mode) & 0o077:
        problem = (f"is accessible by group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
                   f"fix it with: chmod 600 {mask_name(path)}")
    if problem is not None:
        os.close(fd)
        raise ConfigError(f"{mask_name(path)} {problem}")


def open_append(path: str) -> IO[bytes]:
    """``path`` opened for appending, created 0600; refuses a symlink, a file of
    another user or a file others can read."""
    try:
        fd = _files.open_private(path, append=True, narrow=False)  # refused below, not narrowed
    except OSError as exc:
        raise ConfigError(f"cannot write {mask_name(path)}: {exc.strerror}") from None
    _check_ours(fd, path)
    return os.fdopen(fd, "ab", buffering=0)


def journal_key(key: FingerprintKey) -> bytes:
    """The key journal records are authenticated with (derived: never the fingerprint key itself)."""
    return hmac.new(key.raw(), b"cardscan remediation journal v1", hashlib.sha256).digest()


def _seal_line(body: bytes, mac_key: bytes) -> bytes:
    """``{...}`` -> ``{...,"mac":"<hmac of {...}>"}``."""
    mac = hmac.new(mac_key, body, hashlib.sha256).hexdigest()
    return body[:-1] + _MAC + mac.encode("ascii") + b'"}\n'


def _open_line(raw: bytes, mac_key: bytes) -> bytes | None:
    """The record's JSON if its MAC verifies, else None."""
    line = raw.rstrip(b"\r\n")
    body, sep, tail = line.rpartition(_MAC)
    if not sep or not tail.endswith(b'"}') or len(tail) != 66:
        return None
    want = hmac.new(mac_key, body + b"}", hashlib.sha256).hexdigest().encode("ascii")
    return body + b"}" if hmac.compare_digest(want, tail[:-2]) else None


def _line(record: dict[str, Any]) -> bytes:
    # The journal and the audit log pass the output boundary here, whatever a record holds.
    return (json.dumps(public_record(record), ensure_ascii=True, separators=(",", ":"), default=str) + "\n").encode("ascii")


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
        self._cut = False
        if key is None:
            raise ConfigError("the journal is authenticated under the fingerprint key: a key is needed to use it")
        self._mac_key = journal_key(key)
        self._load()
        self._fh: Any = None
        if read_only:  # a dry run: what earlier runs did counts, nothing is written
            return
        self._fh = open_append(path)
        try:
            fcntl.flock(self._fh.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            self._fh.close()
            raise ConfigError(f"another cardscan remediate is using the journal {mask_name(path)}; "
                              "wait for it to finish") from None
        if self._cut:
            self._fh.write(b"\n")
        self._cleanup()

    def _load(self) -> None:
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
        try:
            fd = os.open(self.path, flags)
        except FileNotFoundError:
            return
        except OSError as exc:
            raise ConfigError(f"cannot read the journal {mask_name(self.path)}: {exc.strerror}") from None
        _check_ours(fd, self.path)
        open_begins: dict[str, dict[str, Any]] = {}
        with os.fdopen(fd, "rb") as fh:
            data = fh.read()
        #: A crash cut the last line short: the next record must start on a line of its own.
        self._cut = bool(data) and not data.endswith(b"\n")
        for n, raw in enumerate(data.split(b"\n")):
            if not raw.strip():
                continue
            body = _open_line(raw, self._mac_key)
            if body is None:
                try:
                    json.loads(raw)
                except ValueError:
                    continue  # a line cut short by a crash: what it announced did not complete
                raise ConfigError(
                    f"the journal {mask_name(self.path)} holds a record (line {n + 1}) that cardscan did not "
                    "write with this fingerprint key: it was changed by someone else, or written with another "
                    "key or an older cardscan. Nothing was done. Use the key it was written with, or move it "
                    "aside (changes earlier runs made are then reported stale; a fresh scan fixes that)")
            r = json.loads(body)
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

    def unfinished_temps(self) -> list[str]:
        """Temp files (paths, or URIs on a share) named by interrupted objects'
        ``begin`` records, opened if sealed; only names cardscan makes."""
        out = []
        for r in self.unfinished:
            temp = self._path(r, "temp")
            if isinstance(temp, str) and _TEMP_NAME.fullmatch(temp.replace("\\", "/").rsplit("/", 1)[-1]):
                out.append(temp)
        return out

    def _cleanup(self) -> None:
        """Remove temp files that interrupted runs left beside their objects
        (only cardscan's: that name pattern, a regular file, ours). Temp files on
        a share (``smb://``) are removed by their remediator (remediate/smb.py)."""
        for temp in self.unfinished_temps():
            if "://" in temp:
                continue
            try:
                st = os.lstat(temp)
                if stat.S_ISREG(st.st_mode) and st.st_uid == os.geteuid():
                    os.unlink(temp)
            except OSError:
                pass  # gone already, or left for a later run; it holds only remediated content

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
        self._fh.write(_seal_line(_line(rec).rstrip(b"\n"), self._mac_key))
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
