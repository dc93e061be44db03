"""Files and shares: redact in place (atomically), quarantine, delete.

Every action starts by opening the file again (never following a symlink)
and checking it is the one the scan read: its SHA-256, computed the way the
scan did (``sha256_mode``), must equal the manifest's, or be what an
earlier cardscan run of this journal made of it. Each finding's span is then
checked by fingerprint. Only then is anything written:

* redact: the new content goes to a temp file beside the original (created
  0600, ``.<name>.cardscan-<random>.tmp``), is fsync'ed, gets the original's
  mode, owner (where permitted), extended attributes and, with
  ``--preserve-mtime``, its times; the original is checked unchanged once
  more (inode, size, mtime) and replaced with ``os.replace``; the directory
  is fsync'ed. A crash leaves the old file or the new one, never a mix.
  Plain files and plain compressed files are streamed at any size;
  archives and office files are rewritten in memory (``--max-rewrite-size``).
* quarantine: the file is moved under the quarantine directory (created
  0700), at its absolute path below it; a tombstone note
  ``<name>.cardscan-quarantined.txt`` (0600) is left in its place.
* delete (``--yes-delete-files``): the file is removed; a tombstone
  ``<name>.cardscan-deleted.txt`` says why and when.

A file with several hard links is not redacted (the other links would keep
the card): ``unsupported``. So is a path that is now a symlink.
"""
from __future__ import annotations

import errno
import hashlib
import os
import stat
import time
from typing import Any, BinaryIO, ClassVar

from ..decoders.base import HEAD_SIZE, pick, strip_compression
from ..errors import CardscanError
from ..findings import Finding
from ..sources.fs import uri_to_path
from . import backup
from .base import NOTE_SUFFIX, Context, Result, note_body, object_id, parse_note, results, safe_display
from .containers import Rewriter, SpanPatcher, Unsupported, compressor, tree
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
        self.ranges = {size: [hashlib.sha256(), hashlib.sha256(), 0, 0] for kind, size in specs if kind == "ranges"}

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
            if action == "redact":
                return self._redact(path, findings, ctx)
            return self._remove(path, findings, ctx)
        except OSError as exc:
            return results(findings, action, "error", _os_message(exc))

    # -- common checks ------------------------------------------------------------
    def _open(self, path: str, findings: list[Finding], ctx: Context) -> tuple[Any, os.stat_result] | list[Result]:
        action = ctx.options.action
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            note = _read_note(path, action)
            ids = {f.id for f in findings}
            if note is not None and ids <= note["ids"]:
                return results(findings, action, "already_remediated",
                               f"{'quarantined' if action == 'quarantine' else 'deleted'} earlier",
                               destination=note.get("destination"))
            return results(findings, action, "stale", "the file no longer exists")
        if stat.S_ISLNK(st.st_mode):
            return results(findings, action, "unsupported", "the path is now a symbolic link; remediate its target")
        if not stat.S_ISREG(st.st_mode):
            return results(findings, action, "stale", "the path is no longer a regular file")
        flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0) | getattr(os, "O_NONBLOCK", 0)
        fd = os.open(path, flags)
        fh = os.fdopen(fd, "rb")
        st = os.fstat(fh.fileno())
        if not stat.S_ISREG(st.st_mode):
            fh.close()
            return results(findings, action, "stale", "the path is no longer a regular file")
        return fh, st

    # -- redact ----------------------------------------------------------------------
    def _redact(self, path: str, findings: list[Finding], ctx: Context) -> list[Result]:
        opened = self._open(path, findings, ctx)
        if isinstance(opened, list):
            return opened
        fh, st = opened
        with fh:
            if st.st_nlink > 1:
                return results(findings, "redact", "unsupported",
                               f"the file has {st.st_nlink} hard links: the others would keep the card number; "
                               "quarantine it or remove the other links first")
            return self._redact_open(path, fh, st, findings, ctx)

    def _redact_open(self, path: str, fh: BinaryIO, st: os.stat_result, findings: list[Finding],
                     ctx: Context) -> list[Result]:
        oid = object_id(ctx.key, "file", findings[0].location.uri)
        opts = ctx.options
        specs = specs_of(findings)
        rw = Rewriter(ctx.key, opts.keep_last, opts.max_rewrite_bytes)
        node = tree(findings)
        name = os.path.basename(path)
        temp: _Temp | None = None
        if ctx.apply:
            temp = _Temp(path)
            ctx.begin(oid, safe_display(findings[0]), findings, temp=temp.path)
        try:
            if temp is not None:
                temp.open()
            head = fh.read(HEAD_SIZE)
            fh.seek(0)
            dec = pick(name, head) if head else None
            digests = Digests(specs)
            tee = _Tee(fh, digests)
            stream_mode = dec is None or (getattr(dec, "kind", "") == "compression" and not node.children)
            new_digests = Digests(specs)
            done = False
            if stream_mode:
                done = self._stream(dec, name, tee, node, rw, temp, new_digests)
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
            out = self._decide(findings, rw, ctx, oid, current, "redact")
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
            _unchanged_since(path, st)
            ctx.pause("before_rename")
            temp.commit()
            ctx.pause("after_rename")
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

    def _stream(self, dec: Any, name: str, tee: _Tee, node: Any, rw: Rewriter, temp: "_Temp | None",
                new_digests: Digests) -> bool:
        """Stream plain content (or one compression layer over plain content). False: not plain inside."""
        comp = None
        src: Any = tee
        pending = b""
        if dec is not None:
            head = tee.fh.read(1 << 16)
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
            if rw_inner is not None:
                return False
            comp = compressor(dec.name, head)
        for cname, child in node.children.items():
            rw.mark_all(child, "other", "the object is no longer a container holding the scanned member")
        patcher = SpanPatcher(node.findings, rw)

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
            rw.mark_all(node, "unsupported", f"the file could not be read back: {exc}")
            return True
        if comp is not None:
            tail = comp.flush()
            new_digests.update(tail)
            if temp is not None:
                temp.write(tail)
        return True

    # -- deciding -------------------------------------------------------------------
    def _decide(self, findings: list[Finding], rw: Rewriter, ctx: Context, oid: str,
                current: dict[tuple[str, int], str], action: str) -> list[Result]:
        out = []
        for f in findings:
            recorded = f.obj.get("sha256")
            ident = ctx.identity(oid, recorded, current.get(_spec(f.obj)))
            st, why = rw.states.get(f.id, ("other", "not found at the recorded location"))
            cur = current.get(_spec(f.obj))
            if st == "masked":
                out.append(Result(f, action, "already_remediated", "the card number there is masked already",
                                  before_sha256=cur))
            elif st == "unsupported":
                out.append(Result(f, action, "unsupported", why, before_sha256=cur))
            elif st == "other":
                msg = why if ident != "changed" else "the file changed since the scan (sha256 differs); " + why
                out.append(Result(f, action, "stale", msg, before_sha256=cur))
            elif not recorded:
                out.append(Result(f, action, "unsupported",
                                  "the manifest records no sha256 for this file: it cannot be verified", before_sha256=cur))
            elif ident == "changed":
                out.append(Result(f, action, "stale", "the file changed since the scan (sha256 differs); rescan it",
                                  before_sha256=cur))
            else:
                out.append(Result(f, action, "planned", before_sha256=cur))
        return out

    # -- --verify ----------------------------------------------------------------------
    def rescan(self, findings: list[Finding], ctx: Context) -> list[Finding]:
        """The object scanned again by the sweep's worker (nothing if it is gone)."""
        from ..sources.base import Item

        uri = findings[0].location.uri
        path = uri_to_path(uri)
        if not os.path.lexists(path):
            return []
        return rescan_items([Item(uri=uri, source="file")], [{"name": "file", "url": path}], ctx)

    # -- quarantine and delete ---------------------------------------------------------
    def _remove(self, path: str, findings: list[Finding], ctx: Context) -> list[Result]:
        action = ctx.options.action
        opened = self._open(path, findings, ctx)
        if isinstance(opened, list):
            return opened
        fh, st = opened
        oid = object_id(ctx.key, "file", findings[0].location.uri)
        with fh:
            specs = specs_of(findings)
            d = Digests(specs)
            _Tee(fh, d).drain()
            current = d.result()
            for f in findings:
                if not f.obj.get("sha256"):
                    return results(findings, action, "unsupported",
                                   "the manifest records no sha256 for this file: it cannot be verified")
                if ctx.identity(oid, f.obj["sha256"], current[_spec(f.obj)]) == "changed":
                    return results(findings, action, "stale", "the file changed since the scan (sha256 differs); rescan it")
            before = current[_spec(findings[0].obj)]
            dest = None
            if action == "quarantine":
                if "://" in (ctx.options.quarantine_to or ""):
                    return results(findings, action, "unsupported",
                                   "files are quarantined to a directory: --quarantine-to DIR (select the S3 "
                                   "objects and the files in separate runs)")
                dest = _quarantine_path(ctx.options.quarantine_to or "", path)
            if not ctx.apply:
                return results(findings, action, "planned", before_sha256=before, destination=dest)
            ctx.begin(oid, safe_display(findings[0]), findings, before_sha256=before, destination=dest)
            backup_path = None
            if action == "delete" and ctx.options.backup_dir:
                fh.seek(0)
                backup_path = backup.write(ctx.options.backup_dir, ctx.options.backup_key or b"", f"{oid}-{_stamp()}",
                                           {"uri": findings[0].location.uri, "sha256": before, "time": now_iso()}, fh)
            try:
                _unchanged_since(path, st)
            except _Stale as exc:
                ctx.end(oid, "stale")
                return results(findings, action, "stale", str(exc))
            ctx.pause("before_rename")
            if action == "quarantine":
                assert dest is not None
                dest = _move(path, dest, os.path.abspath(ctx.options.quarantine_to or ""))
            else:
                os.unlink(path)
                _fsync_dir(os.path.dirname(path))
            ctx.pause("after_rename")
            _write_note(path, action, findings, dest, ctx)
            ctx.end(oid, "done", before_sha256=before, destination=dest)
            return results(findings, action, "done", before_sha256=before, destination=dest, backup=backup_path)


def rescan_items(items: list[Any], specs: list[dict[str, Any]], ctx: Context) -> list[Finding]:
    """Scan ``items`` again with the sweep's own worker code (every confidence, test cards too)."""
    from ..engine.config import ScanConfig
    from ..run import worker

    worker.init_worker(worker.make_settings(ScanConfig(min_confidence=0, test_cards=True), ctx.key, sources=specs))
    found: list[Finding] = []
    for item in items:
        res = worker.scan_item(item)
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
    parts, size = [], 0
    while True:
        b = src.read(READ)
        if not b:
            return b"".join(parts)
        size += len(b)
        if size > cap:
            raise Unsupported(f"the file is bigger than --max-rewrite-size ({cap} bytes) and must be rewritten in memory")
        parts.append(b)


def _unchanged_since(path: str, st: os.stat_result) -> None:
    try:
        now = os.lstat(path)
    except FileNotFoundError:
        raise _Stale("the file was removed while it was being remediated") from None
    if (now.st_ino, now.st_dev, now.st_size, now.st_mtime_ns) != (st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns):
        raise _Stale("the file changed while it was being remediated; nothing was changed")


def _fsync_dir(path: str) -> None:
    try:
        fd = os.open(path or ".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


class _Temp:
    """The new content, beside the original: created 0600, renamed over it on commit."""

    def __init__(self, path: str) -> None:
        import secrets

        self.target = path
        d, name = os.path.split(path)
        self.path = os.path.join(d, f".{name}.cardscan-{secrets.token_hex(6)}.tmp")
        self.fd: int | None = None

    def open(self) -> None:
        flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
        self.fd = os.open(self.path, flags, 0o600)

    def write(self, data: bytes) -> None:
        assert self.fd is not None
        view = memoryview(data)
        while view:
            n = os.write(self.fd, view)
            view = view[n:]

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
        os.replace(self.path, self.target)
        _fsync_dir(os.path.dirname(self.target))

    def discard(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None
        try:
            os.unlink(self.path)
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


def _quarantine_path(root: str, path: str) -> str:
    return os.path.join(os.path.abspath(root), os.path.abspath(path).lstrip(os.sep))


def _private_dirs(root: str, parent: str) -> None:
    """``root`` (must not be open to others) and every directory down to ``parent``, created 0700."""
    backup.private_dir(root)
    rel = os.path.relpath(parent, root)
    at = root
    for part in ([] if rel == "." else rel.split(os.sep)):
        at = os.path.join(at, part)
        try:
            os.mkdir(at, 0o700)
        except FileExistsError:
            pass


def _move(path: str, dest: str, root: str) -> str:
    """Move ``path`` to ``dest`` (or ``dest.N`` if taken) below ``root``; directories created 0700."""
    parent = os.path.dirname(dest)
    _private_dirs(root, parent)
    final, n = dest, 0
    while os.path.lexists(final):
        n += 1
        final = f"{dest}.{n}"
    try:
        os.link(path, final)  # never overwrites, same file system: no copy of the content
        os.unlink(path)
    except OSError as exc:
        if exc.errno not in (errno.EXDEV, errno.EPERM, errno.EMLINK, errno.ENOTSUP, errno.EOPNOTSUPP):
            raise
        _copy_then_remove(path, final)
    _fsync_dir(parent)
    _fsync_dir(os.path.dirname(path))
    return final


def _copy_then_remove(path: str, final: str) -> None:
    tmp = final + ".cardscan-partial"
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
    try:
        with open(path, "rb") as src:
            for block in iter(lambda: src.read(READ), b""):
                view = memoryview(block)
                while view:
                    view = view[os.write(fd, view):]
        os.fsync(fd)
    except BaseException:
        os.close(fd)
        os.unlink(tmp)
        raise
    os.close(fd)
    os.rename(tmp, final)
    os.unlink(path)


def _note_path(path: str, action: str) -> str:
    return path + (QUARANTINE_NOTE if action == "quarantine" else DELETE_NOTE)


def _write_note(path: str, action: str, findings: list[Finding], dest: str | None, ctx: Context) -> None:
    body = note_body("file", action, findings, dest, ctx)
    note = _note_path(path, action)
    flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(note, flags, 0o600)
    try:
        os.write(fd, body)
        os.fsync(fd)
    finally:
        os.close(fd)
    _fsync_dir(os.path.dirname(path))


def _read_note(path: str, action: str) -> dict[str, Any] | None:
    if action == "redact":
        return None
    try:
        with open(_note_path(path, action), "rb") as fh:
            text = fh.read(1 << 20).decode("utf-8", "replace")
    except OSError:
        return None
    return parse_note(text)

