"""The sweep state's policy: which objects a sweep may carry over, and which it scans again.

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

Results are reused only under the same settings fingerprint: engine
settings, container limits, fingerprint key id, cardscan version, baseline.
The records live in :mod:`.store`.
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import replace
from typing import Any, Iterable

from ... import __version__
from ...findings import ErrorRecord, Finding, FingerprintKey
from ...privacy import mask_name
from ...sources.base import Item
from ...sources.fs import object_meta
from .store import RunInfo, StateError, StateStore

log = logging.getLogger("cardscan.run.state")


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
    parts: dict[str, Any] = {"engine": engine, "limits": limits, "key_id": key_id, "cardscan_version": __version__}
    if extra:
        parts["extra"] = extra
    text = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:24], parts


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
        listed, item = item, self._stored(item)
        prior = self.store.prior(item.uri, item.version)
        if prior is None or prior.status != "done" or prior.settings != self.fingerprint:
            return None
        ident = identity(item)
        if ident is None or ident != prior.identity:
            return None
        self.store.seen(item.uri, item.version, self.run.id)
        out: list[Finding] = []
        if prior.findings:
            fresh = {k: v for k, v in object_meta(listed).items() if v is not None}
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
                          findings=findings, errors=errors, obj=obj, sha256=sha256, identity=identity(item, obj))

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
    And a key shorter than 32 bytes: the state keeps fingerprints for good.
    """
    if getattr(key, "random", False):
        raise StateError("--state needs a stable fingerprint key (--key-file or CARDSCAN_FINGERPRINT_KEY): "
                         "with a random key no earlier result can be reused")
    key.require_strong("--state")
    fingerprint, parts = settings_fingerprint(engine, limits, key.key_id, extra)
    return SweepState(StateStore(path), fingerprint, parts, full=full, manifest=manifest, key=key)
