"""The state store of a sweep: what was scanned and what it held, so sweeps resume and repeat cheaply.

``cardscan scan --state FILE`` keeps a SQLite database (created 0600, WAL
journal) with one row per object the sweep looked at:

* identity: ``uri``, ``version``, the source's ``ukey`` (files
  ``size:mtime_ns:dev:inode``, S3 ``ETag`` / ``version:ETag``, git blob id),
  size, mtime, and the content ``sha256`` where the scan computed it;
* outcome: ``status`` (``done``: scanned without error; ``failed``: at least
  one error record, so it is scanned again next time), when, by which run,
  and its findings as the manifest's finding records (JSON, table
  ``findings``);
* the settings fingerprint it was scanned under (engine settings, container
  limits, fingerprint key id, cardscan version, baseline): results made
  under other settings are never reused.

A later sweep with the same state *carries over* every object whose
identity is unchanged and whose previous scan is ``done`` under the same
settings: it is not read again, and its findings are re-emitted into the new
manifest marked ``carried_over`` (with ``scanned_at``). A sweep that was
interrupted (Ctrl-C, SIGKILL, a crash, a reboot) therefore resumes where it
stopped: what it finished is carried over, the rest is scanned. Objects
that were listed by an earlier sweep under the same roots and are no longer
listed are counted as ``gone`` in the summary when a sweep completes.

"Unchanged" means the same ``uri`` and ``version`` and the same identity:
for files, size, mtime (ns) and inode (the device number is left out: it
changes when a network share is remounted); for S3, the ETag (and version
id); for git blobs, the blob id. Objects without an identity (SQL tables)
are always rescanned.

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
import hashlib
import json
import logging
import os
import socket
import sqlite3
import stat
from dataclasses import dataclass, field, replace
from typing import Any, Iterable, Iterator

from ..errors import CardscanError
from ..findings import ErrorRecord, Finding, FingerprintKey
from ..privacy import mask_name
from ..sinks.base import BaseSink
from ..sources.base import Item

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


# -- identity and settings -------------------------------------------------------
def identity(item: Item, obj: dict[str, Any] | None = None) -> str | None:
    """What "unchanged" compares for ``item`` (None: no identity, never reused).

    ``obj`` is the object metadata measured when the item was read (``fstat``
    at open): when given, its ``ukey`` describes the bytes actually scanned
    and wins over the listing's.
    """
    ukey = (obj or {}).get("ukey") or item.ukey
    if not ukey:
        return None
    if item.source == "file":
        parts = ukey.split(":")
        if len(parts) == 4:  # size:mtime_ns:dev:inode; st_dev changes when a share is remounted
            return f"{parts[0]}:{parts[1]}:{parts[3]}"
    return str(ukey)


def settings_fingerprint(
    engine: dict[str, Any], limits: dict[str, Any], key_id: str, extra: dict[str, Any] | None = None
) -> tuple[str, dict[str, Any]]:
    """(fingerprint, parts) of everything that decides an object's findings.

    Engine settings, container limits, the fingerprint key (by its id), the
    cardscan version (a new release may find more) and ``extra`` (the CLI
    adds the baseline's digest). Selection options are not part of it: they
    decide what is listed, not what an object holds.
    """
    from .. import __version__

    parts: dict[str, Any] = {"engine": engine, "limits": limits, "key_id": key_id, "cardscan_version": __version__}
    if extra:
        parts["extra"] = extra
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24], parts


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
    flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags, 0o600)
    except OSError as exc:
        raise StateError(f"cannot open state {path}: {exc.strerror}") from None
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise StateError(f"state {path} is not a regular file")
        if stat.S_IMODE(st.st_mode) & 0o077:
            os.fchmod(fd, 0o600)  # an existing state describes where cards are: owner only
    finally:
        os.close(fd)
    for suffix in ("-wal", "-shm"):  # SQLite gives them the database file's mode when it creates them
        try:
            st = os.lstat(path + suffix)
        except FileNotFoundError:
            continue
        if stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077:
            os.chmod(path + suffix, 0o600)


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
            (started, mode, fingerprint, json.dumps(parts, sort_keys=True, default=str), json.dumps(list(roots)),
             manifest, socket.gethostname(), os.getpid()),
        )
        self.commit()
        return RunInfo(int(cur.lastrowid or 0), mode, previous, changed)

    def finish_run(self, run: int, status: str, summary: dict[str, Any], finished: str) -> None:
        self.commit()
        self._tx()
        self.db.execute("UPDATE runs SET status=?, finished=?, summary=? WHERE id=?",
                        (status, finished, json.dumps(summary, default=str), run))
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
    ) -> None:
        """Record one scanned object: its row and findings, written at the next :meth:`commit`.

        Called after the object's manifest records were written and flushed.
        """
        obj = obj or {}
        version = item.version or ""
        kinds = sorted({e.kind for e in errors})
        key = (item.uri, version)
        self._findings.pop(key, None)
        if findings:
            self._findings[key] = [(item.uri, version, n, json.dumps(f.to_dict(), separators=(",", ":"), default=str))
                                   for n, f in enumerate(findings)]
        self._objects[key] = (
            item.uri, version, item.source, identity(item, obj), obj.get("ukey") or item.ukey,
            obj.get("size", item.size), item.mtime, sha256, "failed" if errors else "done", settings, run,
            scanned_at, len(findings), len(errors), json.dumps(kinds) if kinds else None, run,
        )

    def unseen(self, roots: Iterable[str], run: int) -> Iterator[tuple[str, str, int]]:
        """(uri, version, findings) of objects under ``roots`` the listing of ``run`` did not have."""
        self.commit()
        for root in sorted(set(roots)):
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
    return uri.startswith(root) and uri[len(root)] in "/#?"


# -- what the sweep uses -----------------------------------------------------------
class SweepState:
    """The state as one sweep sees it: carry over, record, count, finish.

    ``Sweep(..., state=SweepState(store, fingerprint, parts))``; the sweep
    calls :meth:`begin`, then :meth:`carry` for each listed item,
    :meth:`record` after each scanned object's records reached the sinks,
    :meth:`commit` after each batch of results, :meth:`gone` and
    :meth:`finish` at the end.
    """

    def __init__(
        self, store: StateStore, fingerprint: str, parts: dict[str, Any], *, full: bool = False,
        manifest: str | None = None, key: FingerprintKey | None = None,
    ) -> None:
        self.store = store
        self.fingerprint = fingerprint
        self.parts = parts
        self.full = full
        self.manifest = manifest
        self.key = key
        self.run: RunInfo | None = None
        self._gone: list[tuple[str, str]] = []

    def _stored(self, item: Item) -> Item:
        """``item`` as the store knows it: a uri whose name holds a card number
        is kept masked, with the real one sealed after a NUL (which sorts
        first, so prefix queries under a root still work), never in full."""
        masked = mask_name(item.uri)
        if masked is item.uri:
            return item
        if self.key is None:
            raise StateError("a state needs the fingerprint key to record an object whose name holds a card number")
        return replace(item, uri=masked + "\x00" + self.key.seal(item.uri.encode("utf-8", "surrogatepass")))

    def begin(self, roots: Iterable[str], started: str) -> dict[str, Any]:
        """Start the run; the ``state`` field for the manifest's scan record."""
        self.run = self.store.begin_run(started=started, fingerprint=self.fingerprint, parts=self.parts,
                                        roots=roots, manifest=self.manifest, full=self.full)
        if self.run.settings_changed and not self.full:
            log.warning("settings changed since the last sweep in this state (%s): earlier results are not "
                        "reused; every object is scanned again", ", ".join(self.run.settings_changed))
        return self.run.describe(self.store.path)

    def carry(self, item: Item) -> list[Finding] | None:
        """The findings of ``item`` if it is unchanged since a good scan under these settings, else None.

        Carried findings are marked (``carried_over`` = when that scan read
        the object); their object metadata is refreshed from this listing
        (owner, mode, exposure may change without the content changing).
        """
        assert self.run is not None, "begin() first"
        if self.full or item.byte_range is not None:
            return None
        item = self._stored(item)
        prior = self.store.prior(item.uri, item.version)
        if prior is None or prior.status != "done" or prior.settings != self.fingerprint:
            return None
        ident = identity(item)
        if ident is None or ident != prior.identity:
            return None
        self.store.seen(item.uri, item.version, self.run.id)
        out: list[Finding] = []
        if prior.findings:
            fresh = {k: v for k, v in item.meta.items() if v is not None}
            shared: dict[str, Any] | None = None
            for rec in self.store.finding_records(item.uri, item.version):
                f = Finding.from_dict(rec)
                if shared is None:  # one object dict for all findings of the object, as scans do
                    shared = {**f.obj, **fresh}
                object.__setattr__(f, "obj", shared)
                object.__setattr__(f, "carried_over", prior.scanned_at)
                out.append(f)
        return out

    def record(
        self, item: Item, findings: list[Finding], errors: list[ErrorRecord], *, scanned_at: str,
        obj: dict[str, Any] | None = None, sha256: str | None = None,
    ) -> None:
        assert self.run is not None, "begin() first"
        if item.byte_range is not None:  # a range handed in from outside: the state is per whole object
            return
        self.store.record(self._stored(item), run=self.run.id, settings=self.fingerprint, scanned_at=scanned_at,
                          findings=findings, errors=errors, obj=obj, sha256=sha256)

    def commit(self) -> None:
        self.store.commit()

    def gone(self, roots: Iterable[str]) -> dict[str, int]:
        """Objects under ``roots`` an earlier sweep listed and this one did not (call at the end of a complete run)."""
        assert self.run is not None
        self._gone = []
        with_findings = 0
        for uri, version, nfind in self.store.unseen(roots, self.run.id):
            self._gone.append((uri, version))
            with_findings += bool(nfind)
        return {"objects": len(self._gone), "objects_with_findings": with_findings}

    def finish(self, status: str, summary: dict[str, Any], finished: str) -> None:
        """Record the end of the run (after the manifest's summary was written)."""
        assert self.run is not None
        if status == "complete" and self._gone:
            self.store.mark_gone(self._gone, self.run.id)
        self.store.finish_run(self.run.id, status, summary, finished)


def open_state(
    path: str | os.PathLike[str], *, engine: dict[str, Any], limits: dict[str, Any], key: Any,
    full: bool = False, extra: dict[str, Any] | None = None, manifest: str | None = None,
) -> SweepState:
    """A :class:`SweepState` for ``path`` (created if missing) and these settings.

    Refuses a random fingerprint key: carried-over fingerprints must be
    comparable with the new ones, so the key has to be the same every run.
    """
    if getattr(key, "random", False):
        raise StateError("--state needs a stable fingerprint key (--key-file or CARDSCAN_FINGERPRINT_KEY): "
                         "with a random key no earlier result can be reused")
    fingerprint, parts = settings_fingerprint(engine, limits, key.key_id, extra)
    return SweepState(StateStore(path), fingerprint, parts, full=full, manifest=manifest, key=key)


# -- the manifest of a run with a state --------------------------------------------
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
        from ..sinks.jsonl import JsonlSink

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
            os.replace(self.partial, self.path)
            _fsync_dir(os.path.dirname(os.path.abspath(self.path)))
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
        from ..display import printable

        s = self._staged
        if s.written == s.path:
            self._err.write(f"cardscan: manifest written to {printable(s.path)}\n")
        elif s.written:
            self._err.write(f"cardscan: the manifest so far is in {printable(s.partial)} ({printable(s.path)} is "
                            "unchanged); run the same command again to resume\n")
        self._err.flush()


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
