"""Files and mounted shares: redact in place (atomically), quarantine, delete.

Every action starts by reaching the file again the way the scan did, but
never through a link: its directory is opened from the scan root one
component at a time with ``O_NOFOLLOW`` (:func:`resolve`), and every later
step (open, temp file, rename, unlink, link, tombstone) is relative to that
directory descriptor, so a directory swapped for a symlink after the scan
redirects nothing. The file must be the one the scan read: its SHA-256,
computed the way the scan did (``sha256_mode``), must equal the manifest's
(and its inode the scanned one), or be what an earlier cardscan run of this
journal made of it. It must have a single hard link, for every action: the
other names would keep the card. Each finding's span is then checked by
fingerprint. Only then is anything written:

* redact: only text is masked as bytes (``containers.not_text``: a SQLite
  file, an executable, an image ... is ``unsupported``); the new content goes
  to a temp file beside the original (created 0600, ``.cardscan-<random>.tmp``,
  a short name not derived from the original's), is fsync'ed, gets the
  original's mode, owner (where permitted), extended attributes and, with
  ``--preserve-mtime``, its times; the original is checked unchanged once
  more (inode, device, size, mtime, ctime, links) and replaced with a rename;
  the directory is fsync'ed. A crash leaves the old file or the new one,
  never a mix. Plain files and plain compressed files are streamed at any
  size; archives and office files are rewritten in memory
  (``--max-rewrite-size``).
* quarantine: the file is moved under the quarantine directory, which must
  be the running user's, 0700 and not a link, at every level (levels are
  created 0700; another user's or an open one is refused, never reused), at
  its absolute path below it; a tombstone ``<name>.cardscan-quarantined.txt``
  (0600) is left in its place.
* delete (``--yes-delete-files``): the file is removed; a tombstone
  ``<name>.cardscan-deleted.txt`` says why and when.

Tombstones never overwrite a file (``<name>.cardscan-deleted.1.txt`` ...); a
file quarantined or deleted earlier is ``already_remediated`` for any action.
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
import time
from typing import Any, BinaryIO, Callable, ClassVar, Iterator

from .. import _files
from ..decoders.base import HEAD_SIZE
from ..decoders.expand import pick, strip_compression
from ..errors import CardscanError
from ..findings import Finding
from ..privacy import mask_name, safe_message
from ..sources.fs import uri_to_path
from . import backup
from .base import NOTE_SUFFIX, Context, Result, note_body, object_id, parse_note, results, safe_display
from .containers import Rewriter, SpanPatcher, Unsupported, compressor, not_text, tree
from .journal import now_iso

READ = 1 << 20
QUARANTINE_NOTE = NOTE_SUFFIX["quarantine"]
DELETE_NOTE = NOTE_SUFFIX["delete"]


class _Stale(CardscanError):
    pass


# -- digests ---------------------------------------------------------------------------


def _spec(obj: dict[str, Any]) -> tuple[str, int]:
    if obj.get("sha256_mode", "whole") == "ranges" and obj.get("sha256_range_size"):
        return ("ranges", int(obj["sha256_range_size"]))
    return ("whole", 0)


class Digests:
    """SHA-256 of a stream in each way the manifest may have recorded it (see manifest.object_digest)."""

    def __init__(self, specs: set[tuple[str, int]]) -> None:
        self.whole = hashlib.sha256() if ("whole", 0) in specs else None
        # size -> [outer hash, hash of the current range, its start, bytes in it]
        self.ranges: dict[int, list[Any]] = {
            size: [hashlib.sha256(), hashlib.sha256(), 0, 0] for kind, size in specs if kind == "ranges"}

    def update(self, data: bytes) -> None:
        if self.whole is not None:
            self.whole.update(data)
        for size, st in self.ranges.items():
            view = memoryview(data)
            while view:
                outer, h, start, n = st
                take = min(size - n, len(view))
                h.update(view[:take])
                n += take
                view = view[take:]
                if n == size:
                    outer.update(f"{start}-{start + n}:{h.hexdigest()}\n".encode("ascii"))
                    st[1], st[2], st[3] = hashlib.sha256(), start + n, 0
                else:
                    st[3] = n

    def result(self) -> dict[tuple[str, int], str]:
        out: dict[tuple[str, int], str] = {}
        if self.whole is not None:
            out[("whole", 0)] = self.whole.hexdigest()
        for size, (outer, h, start, n) in self.ranges.items():
            o = outer.copy()
            if n or start == 0:
                o.update(f"{start}-{start + n}:{h.hexdigest()}\n".encode("ascii"))
            out[("ranges", size)] = o.hexdigest()
        return out


class _Tee:
    """Reads a file, feeding every byte to the digests."""

    def __init__(self, fh: BinaryIO, digests: Digests) -> None:
        self.fh, self.digests = fh, digests

    def read(self, n: int = -1) -> bytes:
        data = self.fh.read(n)
        if data:
            self.digests.update(data)
        return data

    def drain(self) -> None:
        while self.read(READ):
            pass


def specs_of(findings: list[Finding]) -> set[tuple[str, int]]:
    return {_spec(f.obj) for f in findings} or {("whole", 0)}


def digest_bytes(data: bytes, spec: tuple[str, int]) -> str:
    d = Digests({spec})
    d.update(data)
    return d.result()[spec]


# -- where the file is ------------------------------------------------------------------

_DIR_FLAGS = os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0)
_NOFOLLOW = getattr(os, "O_NOFOLLOW", 0)
#: A name may be at most this many bytes (Linux, most file systems).
NAME_MAX = 255


class PathChanged(CardscanError):
    """A directory on the way to the file is no longer a plain directory (a symlink now ...)."""


class Place:
    """A file's directory, opened one component at a time from the scan root
    without following a link, and the file's name in it.

    Everything done to the file (open, temp file, rename, unlink, link,
    tombstone) is done relative to this directory descriptor (``*at()``
    calls), so swapping a directory on the path for a symlink after it was
    opened redirects nothing: cardscan acts only inside the tree it scanned.
    """

    def __init__(self, fd: int, name: str, path: str) -> None:
        self.fd = fd
        self.name = name
        #: The file's path (for messages, masked, and the journal, sealed).
        self.path = path

    def sibling(self, name: str) -> str:
        return os.path.join(os.path.dirname(self.path), name)

    def lstat(self, name: str | None = None) -> os.stat_result:
        return os.stat(name or self.name, dir_fd=self.fd, follow_symlinks=False)

    def open_file(self) -> int:
        flags = os.O_RDONLY | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
        return os.open(self.name, flags, dir_fd=self.fd)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> "Place":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()


def scan_roots(scan_records: list[dict[str, Any]]) -> list[str]:
    """The local roots the manifest's scans walked (longest first)."""
    roots = set()
    for rec in scan_records:
        for src in rec.get("sources") or ():
            if isinstance(src, dict) and src.get("name") == "file" and isinstance(src.get("url"), str):
                try:
                    roots.add(os.path.abspath(uri_to_path(src["url"])))
                except CardscanError:
                    continue
    return sorted(roots, key=len, reverse=True)


def resolve(path: str, roots: list[str]) -> Place:
    """The file's :class:`Place`, reached from the scan root that holds it.

    The root itself is opened as the scan opened it (an explicit root is
    followed, as the scan did; a root that was a file: its directory);
    every directory below it is opened with ``O_NOFOLLOW``. Without a known
    root, every component from ``/`` is. Raises :class:`PathChanged` when a
    component is now a symlink or not a directory, ``OSError`` otherwise.
    """
    path = os.path.abspath(path)
    root = next((r for r in roots if path == r or path.startswith(r.rstrip(os.sep) + os.sep)), None)
    if root is None:
        base, rest = os.sep, path.lstrip(os.sep).split(os.sep)
    elif root == path:
        base, rest = os.path.dirname(path), [os.path.basename(path)]
    else:
        base, rest = root, path[len(root):].strip(os.sep).split(os.sep)
    fd = os.open(base, _DIR_FLAGS)
    try:
        for part in rest[:-1]:
            try:
                nfd = os.open(part, _DIR_FLAGS | _NOFOLLOW, dir_fd=fd)
            except OSError as exc:
                if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                    raise PathChanged("a directory on the path is now a symbolic link (or no longer a directory): "
                                      "cardscan does not follow links when it changes files; nothing was changed; "
                                      "rescan and remediate the link's target") from None
                raise
            os.close(fd)
            fd = nfd
    except BaseException:
        os.close(fd)
        raise
    return Place(fd, rest[-1], path)


def fit_name(name: str, suffix: str) -> str:
    """``name + suffix``, or, when that exceeds NAME_MAX, a shortened name that
    still starts like ``name`` (plus a short digest of it) and ends in ``suffix``."""
    if len(os.fsencode(name + suffix)) <= NAME_MAX:
        return name + suffix
    raw = os.fsencode(name)
    tag = "~" + hashlib.sha256(raw).hexdigest()[:12]
    keep = raw[:NAME_MAX - len(os.fsencode(tag + suffix))]
    return os.fsdecode(keep).rstrip("\udcff") + tag + suffix  # (a cut UTF-8 sequence stays surrogate-escaped)


# -- the remediator -----------------------------------------------------------------------


class FileRemediator:
    """Local files and mounted shares (``file://`` locations)."""

    name: ClassVar[str] = "file"

    def remediate(self, findings: list[Finding], ctx: Context) -> list[Result]:
        action = ctx.options.action
        try:
            path = uri_to_path(findings[0].location.uri)
        except CardscanError as exc:
            return results(findings, action, "unsupported", str(exc))
        try:
            place = resolve(path, scan_roots(ctx.options.scan_records))
        except PathChanged as exc:
            return results(findings, action, "unsupported", str(exc))
        except FileNotFoundError:
            return results(findings, action, "stale", "the file's directory no longer exists")
        except OSError as exc:
            return results(findings, action, "error", _os_message(exc))
        with place:
            try:
                if action == "redact":
                    return self._redact(place, findings, ctx)
                return self._remove(place, findings, ctx)
            except QuarantineRefused as exc:
                return results(findings, action, "error", str(exc))
            except OSError as exc:
                return results(findings, action, "error", _os_message(exc))

    # -- common checks ------------------------------------------------------------
    def _open(self, place: Place, findings: list[Finding], ctx: Context) -> tuple[Any, os.stat_result] | list[Result]:
        action = ctx.options.action
        try:
            st = place.lstat()
        except FileNotFoundError:
            ids = {f.id for f in findings}
            for done in ("quarantine", "delete"):  # whatever is asked now: gone by our hand is done
                note = _read_note(place, done)
                if note is not None and ids <= note["ids"]:
                    return results(findings, action, "already_remediated",
                                   f"{'quarantined' if done == 'quarantine' else 'deleted'} earlier",
                                   destination=note.get("destination"))
            return results(findings, action, "stale", "the file no longer exists")
        if stat.S_ISLNK(st.st_mode):
            return results(findings, action, "unsupported", "the path is now a symbolic link; remediate its target")
        if not stat.S_ISREG(st.st_mode):
            return results(findings, action, "stale", "the path is no longer a regular file")
        fh = os.fdopen(place.open_file(), "rb")
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            fh.close()
            return results(findings, action, "stale", "the path is no longer a regular file")
        return fh, st

    # -- redact ----------------------------------------------------------------------
    def _redact(self, place: Place, findings: list[Finding], ctx: Context) -> list[Result]:
        opened = self._open(place, findings, ctx)
        if isinstance(opened, list):
            return opened
        fh, st = opened
        with fh:
            if st.st_nlink > 1:
                # The new content replaces this name by a rename: every other name would keep the card.
                return results(findings, "redact", "unsupported",
                               f"the file has {st.st_nlink} hard links: the others would keep the card number; "
                               "remove the other links first (find them with find -samefile), or quarantine them all")
            return self._redact_open(place, fh, st, findings, ctx)

    def _redact_open(self, place: Place, fh: BinaryIO, st: os.stat_result, findings: list[Finding],
                     ctx: Context) -> list[Result]:
        oid = object_id(ctx.key, "file", findings[0].location.uri)
        opts = ctx.options
        specs = specs_of(findings)
        rw = Rewriter(ctx.key, opts.keep_last, opts.max_rewrite_bytes)
        node = tree(findings)
        name = place.name
        temp: _Temp | None = None
        if ctx.apply:
            temp = _Temp(place)
            ctx.begin(oid, safe_display(findings[0]), findings, temp=temp.path)
        try:
            if temp is not None:
                temp.open()
            head = fh.read(HEAD_SIZE)
            fh.seek(0)
            dec = pick(name, head) if head else None
            if dec is not None and getattr(dec, "in_place", False):  # a dump: text, masked as it streams
                dec = None
            digests = Digests(specs)
            tee = _Tee(fh, digests)
            stream_mode = dec is None or (getattr(dec, "kind", "") == "compression" and not node.children)
            new_digests = Digests(specs)
            done = False
            if stream_mode:
                done = self._stream(dec, name, head, tee, node, rw, temp, new_digests)
                if not done:  # a container inside the compression: do it in memory
                    fh.seek(0)
                    digests = Digests(specs)
                    tee = _Tee(fh, digests)
                    rw = Rewriter(ctx.key, opts.keep_last, opts.max_rewrite_bytes)
                    new_digests = Digests(specs)
                    if temp is not None:
                        temp.reset()
            if not done:
                try:
                    data = _read_capped(tee, opts.max_rewrite_bytes)
                    new = rw.rewrite(data, name, node)
                except Unsupported as exc:
                    if temp is not None:
                        temp.discard()
                    if ctx.apply:
                        ctx.end(oid, "unsupported")
                    return results(findings, "redact", "unsupported", str(exc))
                content = new if new is not None else data
                new_digests.update(content)
                if temp is not None and new is not None:
                    temp.write(content)
            tee.drain()
            current = digests.result()
            after = new_digests.result()
            out = decide(findings, rw, ctx, oid, current, "redact", lambda f: _same_inode(f, st))
            changing = [r for r in out if r.status in ("planned", "done")]
            if not changing or not ctx.apply:
                if temp is not None:
                    temp.discard()
                if ctx.apply:
                    ctx.end(oid, _summary(out))
                return out
            spec = _spec(findings[0].obj)
            before_sha, after_sha = current[spec], after[spec]
            assert temp is not None
            notes = temp.finish(fh, st, opts.preserve_mtime)
            ctx.prepared(oid, before_sha256=before_sha, after_sha256=after_sha, temp=temp.path)
            backup_path = None
            if opts.backup_dir:
                fh.seek(0)
                backup_path = backup.write(opts.backup_dir, opts.backup_key or b"", f"{oid}-{_stamp()}",
                                           {"uri": findings[0].location.uri, "sha256": before_sha, "time": now_iso(),
                                            "mode": format(stat.S_IMODE(st.st_mode), "04o")}, fh)
            _unchanged_since(place, st)
            ctx.checkpoint("before_rename")
            temp.commit()
            ctx.checkpoint("after_rename")
            temp = None
            for r in changing:
                r.status = "done"
                r.before_sha256, r.after_sha256 = before_sha, after_sha
                r.backup = backup_path
                if notes:
                    r.message = "; ".join(notes)
            for r in out:
                r.before_sha256 = r.before_sha256 or before_sha
            ctx.end(oid, "done", before_sha256=before_sha, after_sha256=after_sha)
            return out
        except _Stale as exc:
            if temp is not None:
                temp.discard()
            if ctx.apply:
                ctx.end(oid, "stale")
            return results(findings, "redact", "stale", str(exc))
        except BaseException:
            if temp is not None:
                temp.discard()
            raise

    def _stream(self, dec: Any, name: str, head: bytes, tee: _Tee, node: Any, rw: Rewriter, temp: "_Temp | None",
                new_digests: Digests) -> bool:
        """Stream plain content (or one compression layer over plain content). False: not plain inside."""
        comp = None
        src: Any = tee
        pending = b""
        if dec is not None:
            first = tee.fh.read(1 << 16)
            tee.fh.seek(0)
            src = dec.stream(tee)
            parts, size = [], 0
            while size < HEAD_SIZE:
                b = src.read(READ)
                if not b:
                    break
                parts.append(b)
                size += len(b)
            pending = b"".join(parts)
            rw_inner = pick(strip_compression(name), pending[:HEAD_SIZE]) if pending else None
            if rw_inner is not None and not getattr(rw_inner, "in_place", False):
                return False
            comp = compressor(dec.name, first)
            head = pending[:HEAD_SIZE]
        for child in node.children.values():
            rw.mark_all(child, "other", "the object is no longer a container holding the scanned member")
        why = not_text(head)
        if why is not None:  # never masked as bytes: a database, an executable, an image ...
            for f in node.findings:
                rw.mark(f, "unsupported", why)
            return True
        patcher = SpanPatcher(node.findings, rw, text_only=True)

        def emit(data: bytes) -> None:
            if comp is not None:
                out = comp.compress(data)
            else:
                out = data
            if out:
                new_digests.update(out)
                if temp is not None:
                    temp.write(out)

        try:
            if pending:
                emit(patcher.feed(pending))
            while True:
                chunk = src.read(READ)
                if not chunk:
                    break
                emit(patcher.feed(chunk))
            emit(patcher.finish())
        except CardscanError as exc:  # a decode error: the file is not what was scanned
            rw.mark_all(node, "unsupported", f"the file could not be read back: {safe_message(exc)}")
            return True
        if comp is not None:
            tail = comp.flush()
            new_digests.update(tail)
            if temp is not None:
                temp.write(tail)
        return True

    # -- --verify ----------------------------------------------------------------------
    def rescan(self, findings: list[Finding], ctx: Context) -> list[Finding]:
        """The object scanned again through the sweep's pipeline (nothing if it is gone),
        read through the same link-free directory descriptor as the change."""
        from ..sources.base import Item

        uri = findings[0].location.uri
        try:
            place = resolve(uri_to_path(uri), scan_roots(ctx.options.scan_records))
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise CardscanError(f"the rescan could not reach the file: {_os_message(exc)}") from None
        with place:
            try:
                place.lstat()
            except FileNotFoundError:
                return []
            return rescan_items([Item(uri=uri, source="file")], [_PlaceSource(place)], ctx)

    # -- quarantine and delete ---------------------------------------------------------
    def _remove(self, place: Place, findings: list[Finding], ctx: Context) -> list[Result]:
        action = ctx.options.action
        opened = self._open(place, findings, ctx)
        if isinstance(opened, list):
            return opened
        fh, st = opened
        oid = object_id(ctx.key, "file", findings[0].location.uri)
        with fh:
            if st.st_nlink > 1:
                # Removing one name leaves the content, and the card, readable through the others.
                return results(findings, action, "unsupported",
                               f"the file has {st.st_nlink} hard links: the card would stay readable through the "
                               "others; find them (find -samefile) and remediate or remove them first")
            specs = specs_of(findings)
            d = Digests(specs)
            _Tee(fh, d).drain()
            current = d.result()
            for f in findings:
                if not f.obj.get("sha256"):
                    return results(findings, action, "unsupported",
                                   "the manifest records no sha256 for this file: it cannot be verified")
                ident = identity(ctx, oid, f, current, lambda f: _same_inode(f, st))
                if ident == "changed":
                    return results(findings, action, "stale", "the file changed since the scan (sha256 differs); rescan it")
                if ident == "other-file":
                    return results(findings, action, "stale", OTHER_FILE)
            before = current[_spec(findings[0].obj)]
            dest = None
            qroot = None
            if action == "quarantine":
                if "://" in (ctx.options.quarantine_to or ""):
                    return results(findings, action, "unsupported",
                                   "files are quarantined to a directory: --quarantine-to DIR (select the S3 "
                                   "objects and the files in separate runs)")
                qroot = os.path.abspath(ctx.options.quarantine_to or "")
                dest = _quarantine_path(qroot, place.path)
            if not ctx.apply:
                return results(findings, action, "planned", before_sha256=before, destination=dest)
            ctx.begin(oid, safe_display(findings[0]), findings, before_sha256=before, destination=dest)
            backup_path = None
            if action == "delete" and ctx.options.backup_dir:
                fh.seek(0)
                backup_path = backup.write(ctx.options.backup_dir, ctx.options.backup_key or b"", f"{oid}-{_stamp()}",
                                           {"uri": findings[0].location.uri, "sha256": before, "time": now_iso()}, fh)
            qdir = None
            try:
                if qroot is not None:  # every level checked (or made) before the file moves
                    qdir = Quarantine(qroot).directory(os.path.dirname(place.path))
                _unchanged_since(place, st)
                ctx.checkpoint("before_rename")
                if qdir is not None:
                    dest = _move(place, fh, qdir)
                else:
                    os.unlink(place.name, dir_fd=place.fd)
                    _files.fsync_fd(place.fd)
            except _Stale as exc:
                ctx.end(oid, "stale")
                return results(findings, action, "stale", str(exc))
            except BaseException:
                ctx.end(oid, "error")
                raise
            finally:
                if qdir is not None:
                    qdir.close()
            ctx.checkpoint("after_rename")
            _write_note(place, action, findings, dest, ctx)
            ctx.end(oid, "done", before_sha256=before, destination=dest)
            return results(findings, action, "done", before_sha256=before, destination=dest, backup=backup_path)


def identity(ctx: Context, oid: str, f: Finding, current: dict[tuple[str, int], str],
             same_file: Callable[[Finding], bool]) -> str:
    """``same`` / ``ours`` (ctx.identity), ``changed``, or ``other-file``: the scanned
    content, but not the scanned file (another inode or file id: a copy put in its place).

    An object cardscan changed itself (``ours``) has a new file id by design."""
    ident = ctx.identity(oid, f.obj.get("sha256"), current.get(_spec(f.obj)))
    if ident == "same" and not same_file(f):
        return "other-file"
    return ident


def _same_inode(f: Finding, st: os.stat_result) -> bool:
    parts = str(f.obj.get("ukey") or "").split(":")
    # ukey = size:mtime_ns:dev:inode (sources/fs.py); the device number may change across reboots.
    return not (len(parts) == 4 and parts[3].isdigit() and int(parts[3]) != st.st_ino)


def decide(findings: list[Finding], rw: Rewriter, ctx: Context, oid: str, current: dict[tuple[str, int], str],
           action: str, same_file: Callable[[Finding], bool]) -> list[Result]:
    """One Result per finding from the object's identity and each span's state (``planned`` where it may go on)."""
    out = []
    for f in findings:
        recorded = f.obj.get("sha256")
        ident = identity(ctx, oid, f, current, same_file)
        state, why = rw.states.get(f.id, ("other", "not found at the recorded location"))
        cur = current.get(_spec(f.obj))
        if state == "masked":
            out.append(Result(f, action, "already_remediated", "the card number there is masked already",
                              before_sha256=cur))
        elif state == "unsupported":
            out.append(Result(f, action, "unsupported", why, before_sha256=cur))
        elif state == "other":
            msg = why if ident != "changed" else "the file changed since the scan (sha256 differs); " + why
            out.append(Result(f, action, "stale", msg, before_sha256=cur))
        elif not recorded:
            out.append(Result(f, action, "unsupported",
                              "the manifest records no sha256 for this file: it cannot be verified", before_sha256=cur))
        elif ident == "changed":
            out.append(Result(f, action, "stale", "the file changed since the scan (sha256 differs); rescan it",
                              before_sha256=cur))
        elif ident == "other-file":
            out.append(Result(f, action, "stale", OTHER_FILE, before_sha256=cur))
        else:
            out.append(Result(f, action, "planned", before_sha256=cur))
    return out


OTHER_FILE = "another file now has this name (same content, another inode than the one scanned); rescan it"


class _PlaceSource:
    """The file source for one already resolved file (``--verify`` re-reads it without following links)."""

    name: ClassVar[str] = "file"

    def __init__(self, place: Place) -> None:
        self.place = place

    def open(self, item: Any) -> BinaryIO:
        fd = self.place.open_file()
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            os.close(fd)
            raise CardscanError("the path is no longer a regular file")
        return os.fdopen(fd, "rb")


def rescan_items(items: list[Any], sources: list[Any], ctx: Context) -> list[Finding]:
    """Scan ``items`` again through the sweep's pipeline (every confidence, test cards too)."""
    pipeline = ctx.rescan_pipeline(sources)
    found: list[Finding] = []
    for item in items:
        res = pipeline.scan_item(item)
        for e in res.errors:
            raise CardscanError(f"the rescan could not read {e.location.display()}: {e.message}")
        found += res.findings
    return found


# -- helpers --------------------------------------------------------------------------------


def _summary(out: list[Result]) -> str:
    statuses = {r.status for r in out}
    return statuses.pop() if len(statuses) == 1 else "mixed"


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())


def _os_message(exc: OSError) -> str:
    what = {errno.EACCES: "permission denied", errno.EPERM: "operation not permitted", errno.EROFS: "read-only file system",
            errno.ENOSPC: "no space left on device", errno.ELOOP: "the path is a symbolic link"}.get(exc.errno or 0)
    return what or exc.strerror or type(exc).__name__


def _read_capped(src: _Tee, cap: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        b = src.read(READ)
        if not b:
            return b"".join(parts)
        size += len(b)
        if size > cap:
            raise Unsupported(f"the file is bigger than --max-rewrite-size ({cap} bytes) and must be rewritten in memory")
        parts.append(b)


def _unchanged_since(place: Place, st: os.stat_result) -> None:
    """The name still holds the very file that was checked: same inode, size,
    times (mtime and ctime: a chmod, a new link, a write that kept the mtime)."""
    try:
        now = place.lstat()
    except FileNotFoundError:
        raise _Stale("the file was removed while it was being remediated") from None
    if _ident(now) != _ident(st):
        raise _Stale("the file changed while it was being remediated; nothing was changed")


def _ident(st: os.stat_result) -> tuple[int, ...]:
    return (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, st.st_ctime_ns, st.st_nlink)


class _Temp:
    """The new content, beside the original: created 0600 under a short random
    name, renamed over it on commit (all relative to the file's directory)."""

    def __init__(self, place: Place) -> None:
        self.place = place
        self.name = _files.temp_name()
        #: For the journal (sealed there when it holds a number), to clean up after a crash.
        self.path = place.sibling(self.name)
        self.fd: int | None = None

    def open(self) -> None:
        self.fd = _files.open_new(self.name, dir_fd=self.place.fd)

    def write(self, data: bytes) -> None:
        assert self.fd is not None
        _files.write_all(self.fd, data)

    def reset(self) -> None:
        assert self.fd is not None
        os.ftruncate(self.fd, 0)
        os.lseek(self.fd, 0, os.SEEK_SET)

    def finish(self, src: BinaryIO, st: os.stat_result, preserve_mtime: bool) -> list[str]:
        """Give it the original's metadata and sync it; notes on what could not be kept."""
        assert self.fd is not None
        notes = []
        fd = self.fd
        os.fchmod(fd, stat.S_IMODE(st.st_mode))
        try:
            os.fchown(fd, st.st_uid, st.st_gid)
        except PermissionError:
            if (st.st_uid, st.st_gid) != (os.geteuid(), os.getegid()):
                notes.append("owner not preserved (not permitted)")
        _copy_xattrs(src.fileno(), fd)
        if preserve_mtime:
            os.utime(fd, ns=(st.st_atime_ns, st.st_mtime_ns))
        os.fsync(fd)
        return notes

    def commit(self) -> None:
        assert self.fd is not None
        os.close(self.fd)
        self.fd = None
        _files.replace(self.name, self.place.name, dir_fd=self.place.fd)

    def discard(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        try:
            os.unlink(self.name, dir_fd=self.place.fd)
        except FileNotFoundError:
            pass


def _copy_xattrs(src: int, dst: int) -> None:
    try:
        names = os.listxattr(src)
    except (OSError, AttributeError):
        return
    for n in names:
        try:
            os.setxattr(dst, n, os.getxattr(src, n))
        except OSError:
            pass  # security.* and friends need privileges; the content change matters more


# -- quarantine -------------------------------------------------------------------------------


class QuarantineRefused(CardscanError):
    """The quarantine directory (or a directory in it) is not one only we can enter."""


def _private_check(st: os.stat_result, what: str) -> None:
    if not stat.S_ISDIR(st.st_mode):
        raise QuarantineRefused(f"{what} is not a directory")
    if st.st_uid != os.geteuid():
        raise QuarantineRefused(f"{what} is owned by another user (uid {st.st_uid}): others could read what is "
                                "moved there; use a directory of your own")
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise QuarantineRefused(f"{what} is open to group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
                                "it must be 0700 (chmod 700)")


def check_quarantine_root(root: str, create: bool) -> None:
    """Refuse (ConfigError) a quarantine directory that is a symlink, not ours, or open to others."""
    from ..errors import ConfigError

    try:
        Quarantine(root, create=create).close()
    except FileNotFoundError:
        return  # a dry run: it will be created 0700 by --apply
    except QuarantineRefused as exc:
        raise ConfigError(f"the quarantine directory {mask_name(root)}: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"the quarantine directory {mask_name(root)}: {_os_message(exc)}") from None


class Quarantine:
    """The quarantine directory, opened without following a link and checked:
    owned by us, mode 0700 (no group/other bits). Missing, it is created 0700."""

    def __init__(self, root: str, create: bool = True) -> None:
        self.root = os.path.abspath(root)
        if create:
            _files.make_private_dirs(self.root)
        try:
            self.fd = os.open(self.root, _DIR_FLAGS | _NOFOLLOW)
        except OSError as exc:
            if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                raise QuarantineRefused("it is a symbolic link or not a directory") from None
            raise
        try:
            _private_check(os.fstat(self.fd), "it")
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def directory(self, parent: str) -> "QuarantineDir":
        """The directory below the root where a file from ``parent`` goes
        (``ROOT/<parent's absolute path>``): each level made 0700 or, if it is
        there, opened without following a link and checked like the root."""
        fd = os.dup(self.fd)
        at = self.root
        try:
            # Names pass the output boundary: a directory named with a card is
            # mirrored masked (the journal seals where the file came from).
            for part in [mask_name(p) for p in os.path.abspath(parent).split(os.sep) if p]:
                at = os.path.join(at, part)
                created = _files.make_private_dir(part, dir_fd=fd)
                try:
                    nfd = os.open(part, _DIR_FLAGS | _NOFOLLOW, dir_fd=fd)
                except OSError as exc:
                    if exc.errno in (errno.ELOOP, errno.ENOTDIR):
                        raise QuarantineRefused(f"{mask_name(at)} in the quarantine directory is a symbolic link "
                                                "or not a directory; refusing to move card data there") from None
                    raise
                os.close(fd)
                fd = nfd
                if created:
                    os.fchmod(fd, _files.DIR_MODE)  # whatever the umask: we must be able to write in it
                _private_check(os.fstat(fd), mask_name(at) + " in the quarantine directory")
        except BaseException:
            os.close(fd)
            self.close()
            raise
        self.close()
        return QuarantineDir(fd, at)


class QuarantineDir:
    def __init__(self, fd: int, path: str) -> None:
        self.fd, self.path = fd, path

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _quarantine_path(root: str, path: str) -> str:
    parts = [mask_name(p) for p in os.path.abspath(path).split(os.sep) if p]
    return os.path.join(os.path.abspath(root), *parts)


def _move(place: Place, fh: BinaryIO, q: QuarantineDir) -> str:
    """Move the file into ``q`` under its name (``name.N`` if taken, never
    overwriting); a hard link then an unlink on the same file system, else a
    0600 copy of the open file, synced, then the unlink. The destination path."""
    try:
        final = _link_free(q, lambda n: os.link(place.name, n, src_dir_fd=place.fd, dst_dir_fd=q.fd,
                                                follow_symlinks=False), mask_name(place.name))
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        final = _copy_into(q, fh, mask_name(place.name))
    os.unlink(place.name, dir_fd=place.fd)
    _files.fsync_fd(q.fd)
    _files.fsync_fd(place.fd)
    return os.path.join(q.path, final)


def _link_free(q: QuarantineDir, link: Any, name: str) -> str:
    """``link(candidate)`` for ``name``, ``name.1`` ... until one is free; the name used."""
    for n in range(10_000):
        candidate = name if n == 0 else fit_name(name, f".{n}")
        try:
            link(candidate)
            return candidate
        except FileExistsError:
            continue
    raise OSError(errno.EEXIST, "no free name in the quarantine directory")


def _copy_into(q: QuarantineDir, fh: BinaryIO, name: str) -> str:
    tmp = _files.temp_name()
    fd = _files.open_new(tmp, dir_fd=q.fd)
    try:
        fh.seek(0)
        for block in iter(lambda: fh.read(READ), b""):
            _files.write_all(fd, block)
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp, dir_fd=q.fd)
        raise
    os.close(fd)
    try:
        return _link_free(q, lambda n: os.link(tmp, n, src_dir_fd=q.fd, dst_dir_fd=q.fd, follow_symlinks=False), name)
    finally:
        os.unlink(tmp, dir_fd=q.fd)


# -- tombstones -------------------------------------------------------------------------------


def _note_names(name: str, action: str) -> Iterator[str]:
    """Where a tombstone for ``name`` may be: ``<name>.cardscan-quarantined.txt``,
    then ``<name>.cardscan-quarantined.1.txt`` ... (a user file is never overwritten)."""
    stem = QUARANTINE_NOTE if action == "quarantine" else DELETE_NOTE
    base = stem[:-len(".txt")]
    for n in range(100):
        yield fit_name(name, stem if n == 0 else f"{base}.{n}.txt")


def _write_note(place: Place, action: str, findings: list[Finding], dest: str | None, ctx: Context) -> None:
    body = note_body("file", action, findings, dest, ctx)
    for note in _note_names(place.name, action):
        try:
            fd = _files.open_new(note, dir_fd=place.fd)
            break
        except FileExistsError:
            continue  # never overwrite: somebody's file, or an earlier note
    else:
        return  # a hundred names taken: the journal and the audit log still say what happened
    try:
        _files.write_all(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    _files.fsync_fd(place.fd)


def _read_note(place: Place, action: str) -> dict[str, Any] | None:
    """The finding ids (all tombstones of this action together) and the last destination."""
    ids: set[str] = set()
    dest = None
    found = False
    for n, note in enumerate(_note_names(place.name, action)):
        try:
            fd = os.open(note, os.O_RDONLY | _NOFOLLOW | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0),
                         dir_fd=place.fd)
        except FileNotFoundError:
            if n:
                break
            continue
        except OSError:
            continue
        with os.fdopen(fd, "rb") as fh:
            if not stat.S_ISREG(os.fstat(fd).st_mode):
                continue
            parsed = parse_note(fh.read(1 << 20).decode("utf-8", "replace"))
        found = True
        ids |= parsed["ids"]
        dest = parsed["destination"] or dest
    return {"ids": ids, "destination": dest} if found else None
