"""The sweep state's SQLite store: what was scanned, when, under which settings, with what findings.

``cardscan scan --state FILE`` keeps a SQLite database (created 0600, WAL
journal) with one row per object the sweep looked at:

* identity: ``uri``, ``version``, the source's ``ukey`` (files
  ``size:mtime_ns:dev:inode``, S3 ``ETag`` / ``version:ETag``, git blob id),
  the identity "unchanged" compares (computed by :mod:`.policy`), size,
  mtime, and the content ``sha256`` where the scan computed it;
* outcome: ``status`` (``done``: scanned without error; ``failed``: at least
  one error record, so it is scanned again next time), when, by which run,
  and its findings as the manifest's finding records (JSON, table
  ``findings``);
* the settings fingerprint it was scanned under.

What to reuse and what to rescan is decided in :mod:`.policy`; this module
only stores and answers.

Crash safety (the order matters; see docs/scale.md):

1. an object's manifest records are written and flushed (``os.write``, so
   they survive the death of the process) before
2. its row and findings are committed to the state: rows are buffered and
   written, for a whole batch of results, in one transaction (so each
   object is all or nothing; a failed write rolls the batch back, and its
   objects are simply scanned again next time).

So the state never claims an object whose findings no manifest received: a
kill between 1 and 2 leaves the object unclaimed, and the next run scans it
again. Each run writes a *fresh* manifest that holds every finding once
(carried over or new), so nothing is lost and nothing is doubled whatever
the point of the kill. SQLite's WAL makes each commit atomic and durable
against process death (``synchronous=NORMAL``: a power cut may lose the
last commits, whose objects are then simply scanned again).

One sweep at a time uses a state: the sweep holds an exclusive ``flock`` on
the database file, and a second one is refused with a clear message. Keep
the state on a local disk: SQLite's WAL does not work on network
filesystems.
"""
from __future__ import annotations

import fcntl
import json
import logging
import os
import socket
import sqlite3
import stat
from dataclasses import dataclass, field
from typing import Any, Iterable, Iterator

from ... import _files
from ...errors import CardscanError
from ...findings import ErrorRecord, Finding
from ...privacy import mask_name, public_record
from ...sources.base import Item

log = logging.getLogger("cardscan.run.state")

#: Layout version of the state database (``meta.format``).
FORMAT = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS runs (
    id INTEGER PRIMARY KEY,
    started TEXT NOT NULL,
    finished TEXT,
    status TEXT NOT NULL,            -- running, complete, interrupted, killed
    mode TEXT NOT NULL,              -- new, resume, incremental, full
    settings TEXT NOT NULL,          -- settings fingerprint
    settings_parts TEXT NOT NULL,    -- JSON: what the fingerprint covers
    roots TEXT NOT NULL,             -- JSON list of root URIs
    manifest TEXT,
    host TEXT,
    pid INTEGER,
    summary TEXT                     -- JSON summary record
);
CREATE TABLE IF NOT EXISTS objects (
    uri TEXT NOT NULL,
    version TEXT NOT NULL,           -- '' when the store keeps no versions
    source TEXT NOT NULL,
    identity TEXT,                   -- what "unchanged" compares; NULL: never reused
    ukey TEXT,
    size INTEGER,
    mtime REAL,
    sha256 TEXT,
    status TEXT NOT NULL,            -- done, failed
    settings TEXT NOT NULL,
    run INTEGER NOT NULL,            -- the run that scanned it
    scanned_at TEXT NOT NULL,
    findings INTEGER NOT NULL,
    errors INTEGER NOT NULL,
    error_kinds TEXT,                -- JSON list
    seen_run INTEGER NOT NULL,       -- the last run whose listing had it
    gone_run INTEGER,                -- the complete run that no longer listed it
    PRIMARY KEY (uri, version)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS findings (
    uri TEXT NOT NULL,
    version TEXT NOT NULL,
    n INTEGER NOT NULL,
    record TEXT NOT NULL,            -- the manifest finding record, JSON, without "type"
    PRIMARY KEY (uri, version, n)
) WITHOUT ROWID;
"""


class StateError(CardscanError):
    """The state file cannot be used (locked by another sweep, not a state, unwritable)."""


def _changed_parts(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    names = {"engine": "engine settings", "limits": "container limits", "key_id": "fingerprint key",
             "cardscan_version": "cardscan version", "extra": "baseline"}
    return [names.get(k, k) for k in sorted(set(old) | set(new)) if old.get(k) != new.get(k)]


# -- the store -------------------------------------------------------------------
@dataclass
class Prior:
    """What the state knows about one object."""

    uri: str
    version: str | None
    identity: str | None
    status: str
    settings: str
    run: int
    scanned_at: str
    findings: int
    size: int | None


@dataclass
class RunInfo:
    """The run a sweep is, as recorded in the state."""

    id: int
    mode: str  # new, resume, incremental, full
    previous: dict[str, Any] | None = None
    settings_changed: list[str] = field(default_factory=list)

    def describe(self, path: str) -> dict[str, Any]:
        """The ``state`` field of the manifest's scan record."""
        out: dict[str, Any] = {"path": path, "run": self.id, "mode": self.mode}
        if self.previous:
            out["previous_run"] = {k: self.previous[k] for k in ("id", "started", "status") if k in self.previous}
        if self.settings_changed:
            out["settings_changed"] = self.settings_changed
        return out


def _create_private(path: str) -> None:
    """Create ``path`` 0600 (never chmod after writing); narrow an existing file; refuse links."""
    try:
        fd = _files.open_private(path, read=True, narrow=False)
    except OSError as exc:
        raise StateError(f"cannot open state {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StateError(f"state {path} is not a regular file")
        if stat.S_IMODE(st.st_mode) & 0o077:
            os.fchmod(fd, _files.FILE_MODE)  # an existing state describes where cards are: owner only
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):  # SQLite gives them the database file's mode when it creates them
        try:
            st = os.lstat(path + suffix)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077:
            os.chmod(path + suffix, _files.FILE_MODE)


class StateStore:
    """The SQLite state of a sweep. One sweep at a time (an exclusive flock).

    >>> with StateStore("share.state") as store:   # doctest: +SKIP
    ...     print(store.runs()[-1]["status"])
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        _create_private(self.path)
        # An exclusive flock on the database file for the life of the store.
        # SQLite itself uses POSIX (fcntl) locks, which flock does not touch on
        # local filesystems; this fd is closed only after the connection.
        self._lock_fd = os.open(self.path, os.O_RDONLY | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NOFOLLOW", 0))
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(self._lock_fd)
            raise StateError(f"state {self.path} is in use by another sweep (one sweep at a time per state)") from None
        try:
            self.db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            mode = self.db.execute("PRAGMA journal_mode=WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                log.warning("state %s: WAL journal not available (%s); keep the state on a local disk", self.path, mode)
            self.db.execute("PRAGMA synchronous=NORMAL")
            self.db.execute("PRAGMA busy_timeout=5000")
            self.db.executescript(_SCHEMA)  # idempotent; the flock keeps other sweeps out
            self.db.execute("BEGIN IMMEDIATE")
            row = self.db.execute("SELECT value FROM meta WHERE name='format'").fetchone()
            if row is None:
                self.db.execute("INSERT INTO meta VALUES ('format', ?)", (str(FORMAT),))
            elif int(row[0]) > FORMAT:
                raise StateError(f"state {self.path} was written by a newer cardscan (format {row[0]}): upgrade cardscan")
            self.db.execute("COMMIT")
        except sqlite3.DatabaseError as exc:
            self._close_quietly()
            raise StateError(f"{self.path} is not a usable cardscan state: {exc}") from None
        except BaseException:
            self._close_quietly()
            raise
        _create_private(self.path)  # the -wal/-shm files now exist: make sure they are private
        # Writes buffered until commit(): one executemany per table per batch
        # (a statement per object cost ~50 us per file; benchmarks/bench_scale.py).
        # By (uri, version): an object listed twice (overlapping roots) is recorded once, the last time.
        self._objects: dict[tuple[str, str], tuple[Any, ...]] = {}
        self._findings: dict[tuple[str, str], list[tuple[str, str, int, str]]] = {}
        self._seen: list[tuple[int, str, str]] = []

    # -- plumbing -----------------------------------------------------------------
    def __enter__(self) -> "StateStore":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def _close_quietly(self) -> None:
        db = getattr(self, "db", None)
        if db is not None:
            try:
                db.close()
            except sqlite3.Error:
                pass
        os.close(self._lock_fd)

    def close(self) -> None:
        """Commit what is pending and release the state."""
        if getattr(self, "_lock_fd", None) is None:
            return
        try:
            self.commit()
            self.db.close()
        finally:
            os.close(self._lock_fd)
            self._lock_fd = None  # type: ignore[assignment]

    def _tx(self) -> None:
        if not self.db.in_transaction:
            self.db.execute("BEGIN")

    def commit(self) -> None:
        """Write what was recorded since the last commit, in one transaction.

        All or nothing: if the write fails, the transaction is rolled back
        and the buffered objects are dropped (they were not claimed, so the
        next run scans them again), and :class:`StateError` is raised.
        """
        db = self.db
        if not (self._objects or self._seen or db.in_transaction):
            return
        objects, findings, seen = self._objects, self._findings, self._seen
        self._objects, self._findings, self._seen = {}, {}, []
        try:
            self._tx()
            if objects:
                db.executemany("DELETE FROM findings WHERE uri=? AND version=?", objects.keys())
                db.executemany(
                    "INSERT OR REPLACE INTO objects (uri, version, source, identity, ukey, size, mtime, sha256, status, "
                    "settings, run, scanned_at, findings, errors, error_kinds, seen_run, gone_run) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, NULL)", objects.values())
            if findings:
                db.executemany("INSERT INTO findings VALUES (?, ?, ?, ?)", (r for rows in findings.values() for r in rows))
            if seen:
                db.executemany("UPDATE objects SET seen_run=?, gone_run=NULL WHERE uri=? AND version=?", seen)
            db.execute("COMMIT")
        except BaseException as exc:
            try:
                if db.in_transaction:
                    db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            if isinstance(exc, sqlite3.Error):
                raise StateError(f"cannot write the state {self.path}: {exc}") from None
            raise

    # -- runs ---------------------------------------------------------------------
    def runs(self) -> list[dict[str, Any]]:
        cur = self.db.execute("SELECT id, started, finished, status, mode, settings, settings_parts, roots, manifest, "
                              "host, pid, summary FROM runs ORDER BY id")
        out = []
        for r in cur:
            out.append({"id": r[0], "started": r[1], "finished": r[2], "status": r[3], "mode": r[4],
                        "settings": r[5], "settings_parts": json.loads(r[6]), "roots": json.loads(r[7]),
                        "manifest": r[8], "host": r[9], "pid": r[10],
                        "summary": json.loads(r[11]) if r[11] else None})
        return out

    def begin_run(
        self, *, started: str, fingerprint: str, parts: dict[str, Any], roots: Iterable[str],
        manifest: str | None = None, full: bool = False,
    ) -> RunInfo:
        """Record a new run and say what kind it is (new, resume, incremental, full)."""
        self.commit()
        self._tx()
        prev_row = self.db.execute("SELECT id, started, status, settings, settings_parts FROM runs "
                                   "ORDER BY id DESC LIMIT 1").fetchone()
        previous = None
        changed: list[str] = []
        if prev_row is not None:
            status = prev_row[2]
            if status == "running":  # we hold the lock: the process that wrote this is gone
                status = "killed"
                self.db.execute("UPDATE runs SET status='killed' WHERE id=?", (prev_row[0],))
            previous = {"id": prev_row[0], "started": prev_row[1], "status": status}
            if prev_row[3] != fingerprint:
                changed = _changed_parts(json.loads(prev_row[4]), parts) or ["settings"]
        if full:
            mode = "full"
        elif previous is None:
            mode = "new"
        elif previous["status"] in ("interrupted", "killed"):
            mode = "resume"
        else:
            mode = "incremental"
        cur = self.db.execute(
            "INSERT INTO runs (started, status, mode, settings, settings_parts, roots, manifest, host, pid) "
            "VALUES (?, 'running', ?, ?, ?, ?, ?, ?, ?)",
            # Through the output boundary: a root or a setting may be named with a card number.
            (started, mode, fingerprint, json.dumps(public_record(parts), sort_keys=True, default=str),
             json.dumps(public_record(list(roots))),
             manifest, socket.gethostname(), os.getpid()),
        )
        self.commit()
        return RunInfo(int(cur.lastrowid or 0), mode, previous, changed)

    def finish_run(self, run: int, status: str, summary: dict[str, Any], finished: str) -> None:
        self.commit()
        self._tx()
        self.db.execute("UPDATE runs SET status=?, finished=?, summary=? WHERE id=?",
                        (status, finished, json.dumps(public_record(summary), default=str), run))
        self.commit()

    # -- objects ------------------------------------------------------------------
    def prior(self, uri: str, version: str | None) -> Prior | None:
        row = self.db.execute(
            "SELECT identity, status, settings, run, scanned_at, findings, size FROM objects WHERE uri=? AND version=?",
            (uri, version or ""),
        ).fetchone()
        if row is None:
            return None
        return Prior(uri, version, row[0], row[1], row[2], row[3], row[4], row[5], row[6])

    def finding_records(self, uri: str, version: str | None) -> Iterator[dict[str, Any]]:
        """The stored finding records of an object, in the order they were written."""
        cur = self.db.execute("SELECT record FROM findings WHERE uri=? AND version=? ORDER BY n", (uri, version or ""))
        for (text,) in cur:
            yield json.loads(text)

    def seen(self, uri: str, version: str | None, run: int) -> None:
        """The listing of ``run`` had this object (carried over, not rescanned). Written at the next commit."""
        self._seen.append((run, uri, version or ""))

    def record(
        self, item: Item, *, run: int, settings: str, scanned_at: str, findings: list[Finding],
        errors: list[ErrorRecord], obj: dict[str, Any] | None = None, sha256: str | None = None,
        identity: str | None = None,
    ) -> None:
        """Record one scanned object: its row and findings, written at the next :meth:`commit`.

        Called after the object's manifest records were written and flushed.
        ``identity``: what "unchanged" will compare (:func:`.policy.identity`;
        None: never reused).
        """
        obj = obj or {}
        version = item.version or ""
        kinds = sorted({e.kind for e in errors})
        key = (item.uri, version)
        self._findings.pop(key, None)
        if findings:
            self._findings[key] = [(item.uri, version, n, json.dumps(public_record(f.to_dict()), separators=(",", ":"), default=str))
                                   for n, f in enumerate(findings)]
        self._objects[key] = (
            item.uri, version, item.source, identity, obj.get("ukey") or item.ukey,
            obj.get("size", item.size), item.mtime, sha256, "failed" if errors else "done", settings, run,
            scanned_at, len(findings), len(errors), json.dumps(kinds) if kinds else None, run,
        )

    def unseen(self, roots: Iterable[str], run: int) -> Iterator[tuple[str, str, int]]:
        """(uri, version, findings) of objects under ``roots`` the listing of ``run`` did not have."""
        self.commit()
        # Uris are stored public (policy.py _stored): so is the root they are under.
        for root in sorted({mask_name(r) for r in roots}):
            if not root:
                continue
            cur = self.db.execute(
                "SELECT uri, version, findings FROM objects WHERE uri >= ? AND uri < ? AND seen_run < ? "
                "AND gone_run IS NULL", (root, root + "\U0010ffff", run))
            for uri, version, nfind in cur:
                if _under(uri, root):
                    yield uri, version, nfind

    def mark_gone(self, keys: Iterable[tuple[str, str]], run: int) -> None:
        self.commit()
        self._tx()
        self.db.executemany("UPDATE objects SET gone_run=? WHERE uri=? AND version=?",
                            ((run, uri, version) for uri, version in keys))

    def counts(self) -> dict[str, int]:
        """Objects by status (gone ones apart), for tools and tests."""
        out: dict[str, int] = {}
        for status, gone, n in self.db.execute(
                "SELECT status, gone_run IS NOT NULL, count(*) FROM objects GROUP BY 1, 2"):
            out["gone" if gone else status] = out.get("gone" if gone else status, 0) + n
        return out


def _under(uri: str, root: str) -> bool:
    if uri == root or root.endswith("/"):
        return uri.startswith(root)
    # "\x00": a root that is itself a masked file name, followed by its seal
    return uri.startswith(root) and uri[len(root)] in "/#?\x00"
