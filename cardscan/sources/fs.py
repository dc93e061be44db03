"""Local files and mounted shares: a streaming ``os.scandir`` walk.

The walk never holds the tree in memory: files are yielded as the directory
iterator produces them, and only the *names* of not-yet-visited
subdirectories wait on a stack (one directory iterator is open at a time).
On a tree of many small files ``os.scandir`` is several times faster than
fsspec's local filesystem (``find(detail=True)`` builds a dict per file and
lists whole levels); see docs/cli.md "The walk" for the measurement.

What the walk does with each directory entry:

* regular file: an :class:`~cardscan.sources.base.Item` (after
  ``--include``/``--exclude``, ``.gitignore`` when asked, ``--max-file-size``);
* directory: visited later, unless excluded or it would close a loop (its
  device/inode is already on the current path: bind mounts, followed symlinks);
* symlink: skipped unless ``follow_symlinks`` (explicit roots are always followed);
* FIFO, socket, device: skipped, counted in :attr:`FileSource.stats`, never opened;
  named as a root itself, an :class:`~cardscan.findings.ErrorRecord` (``source``);
* an entry that cannot be stat'ed or a directory that cannot be listed:
  an :class:`~cardscan.findings.ErrorRecord` (``permission``, ``not_found``,
  ``io``) and the walk goes on.

Skips are not errors (the user asked for them, or there is nothing to read);
they are counted by reason in ``stats["skipped"]`` and end up in the
manifest's summary.
"""
from __future__ import annotations

import errno
import fcntl
import grp
import os
import pwd
import re
import stat
import struct
from collections import Counter
from datetime import datetime, timezone
from functools import lru_cache
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Iterable, Iterator, NamedTuple
from urllib.parse import quote_from_bytes, unquote_to_bytes, urlsplit

from .._byvalue import adopted
from ..errors import ConfigError, SourceError
from ..findings import ErrorRecord, Location
from ..privacy import Published, mask_name, published
from .base import Item
from .exposure import file_exposure, file_exposure_ids

#: Exposure hints, worst first (reports sort by this).
EXPOSURES = ("world-readable", "group-readable", "private")


def os_error_kind(exc: OSError) -> str:
    """The manifest error kind for an OS error."""
    if exc.errno in (errno.ENOENT, errno.ENOTDIR):
        return "not_found"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission"
    return "io"


def os_error_message(exc: OSError) -> str:
    """``exc`` without the file name (names are in the location; keep messages short)."""
    return exc.strerror or type(exc).__name__


def path_to_uri(path: str) -> str:
    """``file:///abs/path`` with unsafe bytes percent-encoded (RFC 8089)."""
    return Path(os.path.abspath(path)).as_uri()


def uri_to_path(uri: str) -> str:
    """The local path of a ``file://`` URI (or a plain path, returned as is)."""
    if not uri.startswith("file:"):
        return uri
    # (Three ``in`` tests, not ``any()`` over a generator: ~7k instructions
    # less, and this runs for every flagged file's exposure.)
    if uri.startswith("file:///") and uri.isascii() and "%" not in uri and "?" not in uri and "#" not in uri:
        return uri[7:]  # what the general path gives for a URI with nothing quoted (most), without urlsplit
    parts = urlsplit(uri)
    if parts.netloc not in ("", "localhost"):
        raise ConfigError(f"not a local file URI (host {parts.netloc!r}): mount the share and scan the mount point")
    return os.fsdecode(unquote_to_bytes(parts.path))


def exposure(mode: int) -> str:
    """Who can read the file by its own mode bits alone (the manifest's
    ``exposure`` also considers the directories above and ACLs: exposure.py)."""
    if mode & stat.S_IROTH:
        return "world-readable"
    if mode & stat.S_IRGRP:
        return "group-readable"
    return "private"


@lru_cache(maxsize=4096)
def _owner(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


@lru_cache(maxsize=4096)
def _group(gid: int) -> str:
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _iso(ns: int) -> str | None:
    """``ns`` (an mtime in nanoseconds) as ``2026-12-07T09:23:37.733897Z``:
    what ``datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat(
    timespec="microseconds")`` writes (:func:`_iso_datetime`), with the
    date and time of day formatted once per second (a datetime per call cost
    ~4 us of every object with findings; files written together share their
    second). The microseconds are rounded as fromtimestamp rounds the float
    (its fraction times 1e6, half to even; tests compare the two). In C
    where built (_fsbatch.iso: ~8k -> ~2k instructions per object with
    findings), for the times it covers."""
    if _C_ISO is not None and type(ns) is int and 0 <= ns < _ISO_END_NS:
        return _C_ISO(ns)  # type: ignore[no-any-return]
    t = ns / 1e9
    if not 0.0 <= t < _ISO_END:  # (before 1970, or years past 9999: as datetime does it)
        return _iso_datetime(ns)
    sec = int(t)
    us = round((t - sec) * 1e6)  # (t - sec is exact: C's modf)
    if us >= 1000000:
        sec, us = sec + 1, us - 1000000
    prefix = _ISO_SECONDS.get(sec)
    if prefix is None:
        if len(_ISO_SECONDS) >= 4096:
            _ISO_SECONDS.clear()
        prefix = _ISO_SECONDS[sec] = datetime.fromtimestamp(sec, tz=timezone.utc).isoformat(timespec="seconds")[:19]
    return f"{prefix}.{us:06d}Z"


def _iso_datetime(ns: int) -> str | None:
    try:
        return datetime.fromtimestamp(ns / 1e9, tz=timezone.utc).isoformat(timespec="microseconds").replace(
            "+00:00", "Z")
    except (ValueError, OverflowError, OSError):
        # Past year 9999 or before year 1 (tmpfs and XFS keep such times):
        # no RFC 3339 text (the manifest's schema) holds it, so none (null);
        # the exact time stays in the ukey. Raising made the whole object an
        # internal error, not counted as scanned.
        return None


#: The date and time of day of the seconds _iso wrote lately (bounded: cleared when full).
_ISO_SECONDS: dict[int, str] = {}
#: 10000-01-01T00:00:00Z, where datetime ends (the last second of 9999 may round up to it: the general path).
_ISO_END = 253402300799.0
#: What _fsbatch.iso takes: ns in 64 bits (to 2262; ns / 1e9 is below _ISO_END there).
_ISO_END_NS = 2**63


def ukey(st: os.stat_result) -> str:
    """Identity of a file's content for change detection: ``size:mtime_ns:dev:inode``."""
    return f"{st.st_size}:{st.st_mtime_ns}:{st.st_dev}:{st.st_ino}"


def describe(path: str, st: os.stat_result) -> dict[str, Any]:
    """The ``object`` metadata of the file at ``path``, from its stat."""
    return {"size": st.st_size, "mtime": _iso(st.st_mtime_ns), "ukey": ukey(st), **_access(st, path)}


def _access(st: os.stat_result, path: str, exposure: bool = True) -> dict[str, Any]:
    # What the listing records (cheap); size/mtime/ukey are taken again with
    # fstat when the worker opens the file, describing the bytes it read.
    # Exposure and readers: the directories above, the ACL (exposure.py).
    out = {"owner": _owner(st.st_uid), "group": _group(st.st_gid), "mode": _mode(stat.S_IMODE(st.st_mode))}
    if exposure:
        out.update(file_exposure(path, st))
    return out


class ListedMeta(dict):  # type: ignore[type-arg]
    """``Item.meta`` of a file the walk listed: owner, group and mode; its
    exposure (``exposure``, ``readers`` ...) is added by :func:`object_meta`
    where an object's metadata is written, that is for objects with findings.

    Why: exposure costs a ``listxattr`` per file and a lookup (~15 us in the
    walk, which is the parent's and the bottleneck of a sweep of small
    files), and most files have no finding. The answer is the same as the
    walk's (the same path, owner, group, mode and the ACL read then); a
    change of permissions between listing and scanning is seen, not missed.
    """

    #: (st_uid, st_gid, st_mode, st_dev) of the listing's stat.
    perm: tuple[int, int, int, int]
    #: (content, fstat, path) of a file the sweep's batch read whole already
    #: (:meth:`FileSource.read_entry`): :meth:`FileSource.read_small` gives
    #: it once instead of reading the file again, if the file is still what
    #: was read. Not pickled: a worker reads.
    preread: tuple[bytes, os.stat_result, str] | None = None
    #: That content, when the batch found it no database and no container
    #: (pipeline.batch_verdicts): the very bytes object, so the verdict holds for it alone.
    plain: bytes | None = None

    def __reduce__(self) -> Any:  # plain data across processes: (dict, perm)
        return (_listed_meta, (dict(self), self.perm))


def _listed_meta(base: dict[str, Any], perm: tuple[int, int, int, int]) -> ListedMeta:
    meta = ListedMeta(base)
    meta.perm = perm
    return meta


def object_meta(item: Item) -> dict[str, Any]:
    """``item.meta`` as a finding's object metadata: with the exposure of a
    file the walk listed worked out now (see :class:`ListedMeta`)."""
    meta = item.meta
    if type(meta) is not ListedMeta:
        return meta
    return {**meta, **file_exposure_ids(uri_to_path(item.uri), *meta.perm)}


def published_meta(item: Item) -> Published | None:
    """``published(object_meta(item))`` for a file the walk listed (None
    for any other item, or when a key of it is masked), made once for the files that share it: the
    listing's owner, group and mode and the exposure answer (one dict per
    directory and permissions, exposure.LocalExposure.of) are the same for
    most files of a directory, and each flagged file's check of them cost
    more than its scan's rules for the one hit (privacy.PublishedOver)."""
    meta = item.meta
    if type(meta) is not ListedMeta:
        return None
    expo = file_exposure_ids(uri_to_path(item.uri), *meta.perm)  # (no _Perm made: ~2k instructions)
    try:
        key = (id(expo), *meta.items())
        got = _PUBLISHED_META.get(key)
    except TypeError:  # a value that is not hashable (a ListedMeta not made by the walk): not remembered
        return None
    if got is None or got[0] is not expo:
        if len(_PUBLISHED_META) >= 256:
            _PUBLISHED_META.clear()
        merged = {**meta, **expo}
        pub: Published | None = published(merged)
        if pub.keys() != merged.keys():  # type: ignore[union-attr]
            pub = None  # a key masked (moved to the end of its record): the object's record is published whole
        # (The exposure dict is held with it: its id is not reused while the entry lives.)
        got = _PUBLISHED_META[key] = (expo, pub)
    return got[1]


#: published_meta's answers by (id of the exposure dict, the listing's
#: items), with that dict. Names and modes only, no content. Bounded:
#: cleared when full.
_PUBLISHED_META: dict[tuple[Any, ...], tuple[dict[str, Any], Published | None]] = {}


@lru_cache(maxsize=512)
def _mode(bits: int) -> str:
    return format(bits, "04o")


_SPECIAL = (
    (stat.S_ISFIFO, "fifo"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "device"),
    (stat.S_ISBLK, "device"),
)


def _special_kind(mode: int) -> str:
    for test, kind in _SPECIAL:
        if test(mode):
            return kind
    return "other"


#: A directory of the walk (made by call, as exposure.py's tuples: see there).
_Dir = NamedTuple("_Dir", [
    ("path", str),
    #: Path relative to the root with a trailing "/" ("" for the root), for pattern matching.
    ("rel", str),
    #: (dev, inode) of this directory and its ancestors, innermost first (a linked chain).
    ("chain", tuple[Any, ...]),
    #: (base rel path, GitIgnoreSpec) of .gitignore files on the way down, outermost first.
    ("ignores", tuple[tuple[str, Any], ...]),
    #: ``file://`` URI of this directory (quoted once, not per file).
    ("uri", str),
])


#: Names quote_from_bytes leaves as they are (its always-safe set): most names, quoted without encoding them.
_PLAIN_NAME = re.compile(r"[A-Za-z0-9_.~-]+")


def _quote_name(name: str) -> str:
    """A file name as it appears in a ``file://`` URI (percent-encoded bytes)."""
    if _PLAIN_NAME.fullmatch(name):
        return name
    return quote_from_bytes(os.fsencode(name))


def _on_chain(chain: tuple[Any, ...], ident: tuple[int, int]) -> bool:
    while chain:
        if chain[0] == ident:
            return True
        chain = chain[1]
    return False


#: Regular files of one directory, by name, for one batched read
#: (:func:`read_files`; the sweep's ``Sweep._small_files``): what
#: :meth:`FileSource.batched_items` yields in place of their items. Not
#: stat'ed yet: the read's own ``fstat`` tells size and type, and a file
#: that needs a scan becomes its item then (:meth:`FileSource.batch_entry`).
#: (Made by call, as exposure.py's tuples: see there.)
SmallBatch = NamedTuple("SmallBatch", [
    #: The directory's path.
    ("dir", str),
    #: Its ``file://`` URI (quoted once).
    ("uri", str),
    #: The names of the files, in listing order.
    ("names", tuple[str, ...]),
])


#: Names per batch: one directory's files in batches of this many (progress and workers move per batch).
BATCH_NAMES = 256


def _read_files_python(dirpath: str, names: tuple[str, ...] | list[str], limit: int, stats: bool = False
                       ) -> Any:
    """The pure-Python twin of the C ``read_files`` (``_fsbatch.c``, which says
    what it returns); the tests compare them."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0) | O_NOFOLLOW
    parts: list[bytes] = []
    ends = [0]
    status = bytearray()
    packed: list[bytes] = []
    pos = 0
    try:
        dfd: int | None = os.open(dirpath, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | getattr(os, "O_CLOEXEC", 0))
    except OSError:
        dfd = None
    try:
        for name in names:
            st, data, fst = _READ_DIR, b"", None
            if dfd is not None and name:
                st, data, fst = _read_one(dfd, name, flags, limit)
            parts.append(data)
            parts.append(b"\n")
            pos += len(data) + 1
            ends.append(pos)
            status.append(st)
            if stats:
                packed.append(_NO_STAT if fst is None else _pack_stat(fst))
    finally:
        if dfd is not None:
            os.close(dfd)
    if stats:
        return b"".join(parts), ends, bytes(status), b"".join(packed)
    return b"".join(parts), ends, bytes(status)


#: One file's record in read_files' ``stats`` (_fsbatch.c put_stat): mode, ino, dev,
#: nlink, uid, gid, size, then seconds and nanoseconds of atime, mtime and ctime.
_STAT = struct.Struct("=qQQ10q")
_STAT_FIELDS = 13
_NO_STAT = bytes(_STAT.size)


def _pack_stat(st: os.stat_result) -> bytes:
    return _STAT.pack(st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid, st.st_size,
                      *divmod(st.st_atime_ns, 10**9), *divmod(st.st_mtime_ns, 10**9), *divmod(st.st_ctime_ns, 10**9))


def batch_stat(stats: bytes, i: int) -> os.stat_result:
    """The fstat read_files took of file ``i`` of a batch (read whole, status
    0) before reading it, from its ``stats``: what ``os.fstat`` gave, as
    ``os.stat_result`` builds it (its float times included): the first of
    :func:`batch_stat_key`'s two."""
    return batch_stat_key(stats, i)[0]


def batch_stat_key(stats: bytes, i: int) -> tuple[os.stat_result, str]:
    """``(batch_stat(stats, i), ukey(that))``, in one call in C where built
    (_fsbatch.batch_stat_key: the stat_result filled and the ukey formatted
    there, ~11k -> ~3k instructions per flagged file; tests compare it
    with the Python way)."""
    if _C_BATCH_STAT_KEY is not None:
        return _C_BATCH_STAT_KEY(os.stat_result, stats, i)  # type: ignore[no-any-return]
    st = _batch_stat_python(stats, i)
    return st, ukey(st)


def _batch_stat_python(stats: bytes, i: int) -> os.stat_result:
    mode, ino, dev, nlink, uid, gid, size, a_s, a_ns, m_s, m_ns, c_s, c_ns = _STAT.unpack_from(stats, i * _STAT.size)
    # (The float times as CPython's fill_time makes them: sec + nsec * 1e-9.)
    return os.stat_result((mode, ino, dev, nlink, uid, gid, size, a_s, m_s, c_s,
                           a_s + a_ns * 1e-9, m_s + m_ns * 1e-9, c_s + c_ns * 1e-9,
                           a_s * 10**9 + a_ns, m_s * 10**9 + m_ns, c_s * 10**9 + c_ns))


def _read_upto(fd: int, size: int, limit: int) -> bytes | None:
    """A regular file's content, of at most ``limit`` bytes (None: more), from
    one ``read`` of ``limit + 1`` and more only while short of ``size`` (its
    fstat). O_NONBLOCK does not apply to regular files; a short read is the
    end of the file, and one that changed meanwhile shows in the fstat after."""
    data = os.read(fd, limit + 1)
    while 0 < len(data) < size:
        more = os.read(fd, limit + 1 - len(data))
        if not more:
            break
        data += more
    return None if len(data) > limit else data


_READ_OK, _READ_OPEN, _READ_NOTREG, _READ_BIG, _READ_CHANGED, _READ_ERROR, _READ_DIR = range(7)


def _read_one(dfd: int, name: str, flags: int, limit: int) -> tuple[int, bytes, os.stat_result | None]:
    try:
        fd = open_noatime(name, flags, dir_fd=dfd)
    except OSError:
        return _READ_OPEN, b"", None
    try:
        a = os.fstat(fd)
        if not stat.S_ISREG(a.st_mode):
            return _READ_NOTREG, b"", None
        if a.st_size > limit:
            return _READ_BIG, b"", None
        data = _read_upto(fd, a.st_size, limit)  # as read_small reads
        if data is None:
            return _READ_BIG, b"", None
        b = os.fstat(fd)
        if (a.st_size, a.st_mtime_ns, a.st_ino) != (b.st_size, b.st_mtime_ns, b.st_ino):
            return _READ_CHANGED, b"", None
        return _READ_OK, data, a
    except OSError:
        return _READ_ERROR, b"", None
    finally:
        os.close(fd)


def _load_read_files() -> Any:
    from ..engine.candidates import pure_python_forced

    if pure_python_forced():
        return None
    try:
        from ._fsbatch import read_files as c_read_files  # type: ignore[import-not-found,unused-ignore]
    except ImportError:  # pragma: no cover - no compiler at install time
        return None
    return c_read_files


_C_READ_FILES = _load_read_files()


def _load_batch_c() -> tuple[Any, Any, Any]:
    if _C_READ_FILES is None:  # (pure Python forced, or not built: the same answers for all)
        return None, None, None
    from ._fsbatch import batch_stat_key, iso, still  # type: ignore[import-not-found,unused-ignore]

    return batch_stat_key, still, iso


_C_BATCH_STAT_KEY, _C_STILL, _C_ISO = _load_batch_c()


def read_files(dirpath: str, names: tuple[str, ...] | list[str], limit: int, stats: bool = False) -> Any:
    """The files ``names`` of the directory ``dirpath``, each of at most
    ``limit`` bytes, read in one call (in C without the GIL where built):
    ``(data, ends, status)``. File ``i`` is ``data[ends[i]:ends[i + 1] - 1]``
    when ``status[i] == 0`` (read whole, unchanged while read); every file is
    followed by one ``b"\n"`` in ``data``. A nonzero status (could not open,
    not a regular file or a link by now, bigger than ``limit``, changed while
    read, a read error) means: take that file through the general path,
    which reports the problem as it always has. Opened like
    :meth:`FileSource.read_small` (O_NONBLOCK, O_NOATIME where allowed), and
    with O_NOFOLLOW. ``stats=True``: a fourth element, the fstat of each
    file read whole (:func:`batch_stat` gives file ``i``'s)."""
    if _C_READ_FILES is not None:
        if stats:
            return _C_READ_FILES(os.fsencode(dirpath), os.fsencode("\0".join(names)), limit, stats=True)
        return _C_READ_FILES(os.fsencode(dirpath), os.fsencode("\0".join(names)), limit)
    return _read_files_python(dirpath, names, limit, stats)


class FileSource:
    """Files under one or more local paths (a mounted share is a directory).

    >>> src = FileSource.from_url("/srv/share", exclude=["*.iso"], max_file_size=1 << 30)
    >>> for item in src.items(): ...            # doctest: +SKIP
    """

    name: ClassVar[str] = "file"
    #: Listing is cheap enough to do twice (progress totals count in a thread).
    countable: ClassVar[bool] = True

    def __init__(
        self,
        roots: str | os.PathLike[str] | Iterable[str | os.PathLike[str]],
        *,
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
        gitignore: bool = False,
        follow_symlinks: bool = False,
        max_file_size: int | None = None,
    ) -> None:
        if isinstance(roots, (str, os.PathLike)):
            roots = [roots]
        self.roots = [os.path.abspath(os.fspath(r)) for r in roots]
        self.include = list(include)
        self.exclude = list(exclude)
        self.gitignore = bool(gitignore)
        self.follow_symlinks = bool(follow_symlinks)
        if max_file_size is not None and max_file_size < 0:
            raise ConfigError("max_file_size must not be negative")
        self.max_file_size = max_file_size
        self._include = path_matcher(self.include, "--include")
        self._exclude = path_matcher(self.exclude, "--exclude")
        #: Counters: files, dirs, bytes listed; skipped[reason].
        self.stats: dict[str, Any] = {"files": 0, "dirs": 0, "bytes": 0, "skipped": Counter()}

    @classmethod
    def from_url(cls, url_or_path: str | os.PathLike[str], **options: Any) -> "FileSource":
        """A source for a path or ``file://`` URL; ``options`` are the keyword arguments."""
        return cls([uri_to_path(os.fspath(url_or_path))], **options)

    def options(self) -> dict[str, Any]:
        """Plain-data options: ``from_url(root, **options())`` rebuilds an equivalent source."""
        return {
            "include": list(self.include),
            "exclude": list(self.exclude),
            "gitignore": self.gitignore,
            "follow_symlinks": self.follow_symlinks,
            "max_file_size": self.max_file_size,
        }

    def describe(self) -> list[dict[str, Any]]:
        """What the manifest's scan record says about this source (one entry per root)."""
        return [{"name": self.name, "url": path_to_uri(r), "options": self.options()} for r in self.roots]

    @property
    def root_uris(self) -> list[str]:
        return [path_to_uri(r) for r in self.roots]

    def __getstate__(self) -> dict[str, Any]:
        # Workers get a fresh copy: no counters from the parent's walk.
        state = self.__dict__.copy()
        state["stats"] = {"files": 0, "dirs": 0, "bytes": 0, "skipped": Counter()}
        return state

    # -- listing -----------------------------------------------------------
    def items(self) -> Iterator[Item | ErrorRecord]:
        for root in self.roots:
            yield from self._walk_root(root)

    @property
    def can_batch(self) -> bool:
        """Can :meth:`batched_items` list this source's small files in batches?
        Not with patterns, ``.gitignore`` or a size limit (those look at each
        file's name or stat: the walk of :meth:`items` does), nor for a
        subclass (it may open files its own way), nor when links are followed
        (the walk lists a followed link as it meets it: batches would change
        the order of one job's records)."""
        return (type(self) is FileSource and self._include is None and self._exclude is None
                and not self.gitignore and self.max_file_size is None and not self.follow_symlinks)

    def batched_items(self) -> Iterator[Item | ErrorRecord | SmallBatch]:
        """:meth:`items`, with the regular files of each directory as
        :class:`SmallBatch` entries of names (the sweep reads each with one
        call, :func:`read_files`); everything else as :meth:`items` gives it.
        Only where :attr:`can_batch`."""
        if not self.can_batch:
            yield from self.items()
            return
        for root in self.roots:
            yield from self._walk_root(root, batches=True)

    def batch_entry(self, batch: SmallBatch, name: str) -> Item | ErrorRecord:
        """What :meth:`items` would have listed for the file ``name`` of
        ``batch``, from an ``lstat`` now (``stat`` when following links): its
        item, or an error record (vanished: as the walk reports it; a link
        by now, not followed: ``changed``). (Nothing is skipped: a source
        that batches has no patterns or size limit.)"""
        path = os.path.join(batch.dir, name)
        try:
            st = os.stat(path, follow_symlinks=self.follow_symlinks)
        except OSError as exc:
            return self._error(path, exc)
        uri = batch.uri + "/" + _quote_name(name)
        if stat.S_ISLNK(st.st_mode):  # listed as a file, a link by now: not followed
            return ErrorRecord(Location(uri=uri), "changed", "no longer a regular file (symlink)")
        # Anything else that is no regular file by now (a FIFO swapped in) is
        # refused when the item is opened, as for a swap after any listing.
        return self._batch_item(uri, path, st)

    def batch_entries(self, batch: SmallBatch, skip: set[int] | frozenset[int] = frozenset(), data: bytes = b"",
                      ends: list[int] | None = None, status: bytes = b"", stats: bytes | None = None,
                      plain: set[int] | frozenset[int] = frozenset()) -> Iterator[Item | ErrorRecord]:
        """The entries of ``batch``'s files but those in ``skip`` (the clean
        ones), in order: :meth:`read_entry` for a file ``read_files`` read
        whole (with ``stats``; ``plain``: found no database nor container),
        :meth:`batch_entry` for any other, or for all without ``stats``."""
        names = batch.names
        # (Most files of a batch are clean: the others found by set operations, in order.)
        for i in sorted(set(range(len(names))).difference(skip)) if skip else range(len(names)):
            name = names[i]
            if stats is not None and ends is not None and not status[i]:
                st, key = batch_stat_key(stats, i)
                yield self.read_entry(batch, name, st, data[ends[i]:ends[i + 1] - 1], i in plain, key)
            else:
                yield self.batch_entry(batch, name)

    def read_entry(self, batch: SmallBatch, name: str, st: os.stat_result, data: bytes, plain: bool = False,
                   key: str | None = None) -> Item:
        """:meth:`batch_entry` of a file ``read_files`` read whole and
        unchanged (status 0): ``st`` its fstat then (:func:`batch_stat`),
        ``data`` its content. The item is what batch_entry's stat would give
        (the read did not follow a link and found a regular file), and it
        carries the content: :meth:`read_small` gives it instead of opening
        the file again (a worker process, which gets the item pickled
        without it, reads the file). ``plain``: the batch found the content
        no database and no container (the pipeline does not sniff it again).
        ``key``: ``ukey(st)``, when the caller has it (:func:`batch_stat_key`)."""
        d = batch.dir  # (os.path.join's answer for a listed name, which holds no '/': ~12k instructions less)
        path = d + name if d.endswith("/") else d + "/" + name
        item = self._batch_item(batch.uri + "/" + _quote_name(name), path, st, key)
        meta: ListedMeta = item.meta  # type: ignore[assignment]
        meta.preread = (data, st, path)
        if plain:
            meta.plain = data
        return item

    def _batch_item(self, uri: str, path: str, st: os.stat_result, key: str | None = None) -> Item:
        """The item of a regular file of a batch with stat ``st``, as :meth:`_file` makes one
        (``key``: ``ukey(st)``, when the caller has it)."""
        uid, gid, mode = st.st_uid, st.st_gid, st.st_mode
        # (_access(st, path, exposure=False): the same names, by one lookup for
        # the files that share owner, group and mode; the names were cached
        # per uid and gid already.)
        base = _LISTED_ACCESS.get((uid, gid, mode))
        if base is None:
            if len(_LISTED_ACCESS) >= 4096:
                _LISTED_ACCESS.clear()
            base = _LISTED_ACCESS[(uid, gid, mode)] = _access(st, path, exposure=False)
        meta = ListedMeta(base)
        meta.perm = (uid, gid, mode, st.st_dev)
        return _item(uri, self.name, st.st_size, st.st_mtime, ukey(st) if key is None else key, meta)

    def count_items(self) -> Iterator[int]:
        """Sizes of the files a walk would yield (for progress totals), from a fresh walk.

        Where the source can batch, a regular file costs one ``lstat`` here,
        not an item (owner, group, ukey: ~4x more, in a thread that holds the
        GIL against the scan); the same files, the same sizes."""
        clone = FileSource(self.roots, **self.options())
        for it in clone.batched_items():
            if isinstance(it, Item):
                yield it.size or 0
            elif isinstance(it, SmallBatch):
                for name in it.names:
                    try:
                        st = os.stat(os.path.join(it.dir, name), follow_symlinks=self.follow_symlinks)
                    except OSError:
                        continue  # the walk reports it; not a file it yields
                    if stat.S_ISREG(st.st_mode):
                        yield st.st_size

    def _walk_root(self, root: str, batches: bool = False) -> Iterator[Any]:
        try:
            st = os.stat(root)  # explicit roots are followed, like ripgrep and find -H
        except OSError as exc:
            yield self._error(root, exc)
            return
        if stat.S_ISREG(st.st_mode):
            rel = _explicit_rel(root)
            item = self._file(root, rel, st, (), path_to_uri(root))
            if item is not None:
                yield item
            return
        if not stat.S_ISDIR(st.st_mode):
            # Named explicitly, yet never opened (a FIFO would block, a device never
            # ends): an error, so the scan does not report "0 of 0 objects" and exit 0.
            kind = _special_kind(st.st_mode)
            yield ErrorRecord(Location(uri=path_to_uri(root)), "source",
                              f"not a regular file or directory ({kind}): cardscan does not read a {kind}")
            return
        ignores: tuple[tuple[str, Any], ...] = ()
        stack = [_Dir(root, "", ((st.st_dev, st.st_ino), ()), ignores, path_to_uri(root).rstrip("/"))]
        while stack:
            yield from self._visit(stack.pop(), stack, batches)

    def _visit(self, d: _Dir, stack: list[_Dir], batches: bool = False) -> Iterator[Any]:
        self.stats["dirs"] += 1
        ignores = d.ignores
        if self.gitignore:
            spec, err = _read_gitignore(d.path)
            if err is not None:
                yield err
            if spec is not None:
                ignores = ignores + ((d.rel, spec),)
        try:
            it = os.scandir(d.path)
        except OSError as exc:
            yield self._error(d.path, exc)
            return
        subdirs: list[tuple[str, os.stat_result]] = []
        names: list[str] = []
        with it:
            while True:
                try:
                    entry = next(it)
                except StopIteration:
                    break
                except OSError as exc:  # EIO while reading the directory itself
                    yield self._error(d.path, exc)
                    break
                name = entry.name
                if batches:
                    # A regular file by the directory's own record (d_type; an
                    # lstat only where the filesystem does not fill it in): no
                    # stat here, the batched read's fstat tells the rest.
                    try:
                        regular = entry.is_file(follow_symlinks=False)
                    except OSError:
                        regular = False  # the general path below reports it
                    if regular:
                        names.append(name)
                        if len(names) >= BATCH_NAMES:
                            yield SmallBatch(d.path, d.uri, tuple(names))
                            names = []
                        continue
                path = entry.path  # d.path joined with name, made by scandir in C
                rel = d.rel + name
                try:
                    if entry.is_symlink() and not self.follow_symlinks:
                        self._skip("symlink", path)
                        continue
                    st = entry.stat(follow_symlinks=self.follow_symlinks)
                except OSError as exc:  # vanished, dangling link, permission on a followed link
                    yield self._error(path, exc)
                    continue
                mode = st.st_mode
                if stat.S_ISDIR(mode):
                    if self.gitignore and name == ".git":
                        self._skip("gitignored", path)
                    elif self._exclude is not None and self._exclude.match_file(rel + "/"):
                        self._skip("excluded", path)
                    elif ignores and _ignored(ignores, rel + "/"):
                        self._skip("gitignored", path)
                    else:
                        subdirs.append((name, st))
                elif stat.S_ISREG(mode):
                    item = self._file(path, rel, st, ignores, d.uri + "/" + _quote_name(name))
                    if item is not None:
                        yield item
                else:
                    self._skip(_special_kind(mode), path)
        if names:
            yield SmallBatch(d.path, d.uri, tuple(names))
        # Visit subdirectories in name order (deterministic output) after
        # closing this directory's iterator: one open directory at a time.
        for name, st in sorted(subdirs, key=lambda s: s[0], reverse=True):
            ident = (st.st_dev, st.st_ino)
            path = os.path.join(d.path, name)
            if _on_chain(d.chain, ident):
                self._skip("loop", path)
                continue
            uri = d.uri + "/" + quote_from_bytes(os.fsencode(name))
            stack.append(_Dir(path, d.rel + name + "/", (ident, d.chain), ignores, uri))

    def _file(
        self, path: str, rel: str, st: os.stat_result, ignores: tuple[tuple[str, Any], ...], uri: str
    ) -> Item | None:
        if self._exclude is not None and self._exclude.match_file(rel):
            self._skip("excluded", path)
            return None
        if self._include is not None and not self._include.match_file(rel):
            self._skip("not_included", path)
            return None
        if ignores and _ignored(ignores, rel):
            self._skip("gitignored", path)
            return None
        if self.max_file_size is not None and st.st_size > self.max_file_size:
            self._skip("too_large", path)
            return None
        self.stats["files"] += 1
        self.stats["bytes"] += st.st_size
        meta = _listed_meta(_access(st, path, exposure=False), (st.st_uid, st.st_gid, st.st_mode, st.st_dev))
        return _item(uri, self.name, st.st_size, st.st_mtime, ukey(st), meta)

    def item_for(self, path: str | os.PathLike[str], exposure: bool = True) -> Item:
        """The item for one local file named by its path (the pre-commit hook's files).

        Not filtered by this source's patterns or size limit. A path that
        cannot be stat'ed still gets an item: opening it reports why.
        ``exposure=False``: without ``exposure`` and ``readers`` in its
        metadata (the hook reports no exposure, and working them out reads
        the permissions and ACLs of every directory above the file).
        """
        path = os.path.abspath(os.fspath(path))
        try:
            st = os.stat(path)
        except OSError:
            return Item(uri=path_to_uri(path), source=self.name)
        return Item(uri=path_to_uri(path), source=self.name, size=st.st_size, mtime=st.st_mtime, ukey=ukey(st),
                    meta=_access(st, path, exposure))

    def _skip(self, reason: str, path: str) -> None:
        self.stats["skipped"][reason] += 1
        # logging is imported here, not at the top: the pre-commit hook uses this
        # module and never logs, and importing logging costs it ~7 ms (measured).
        import logging

        logging.getLogger("cardscan.sources.fs").debug("skipped (%s): %s", reason, mask_name(path))

    def _error(self, path: str, exc: OSError) -> ErrorRecord:
        return ErrorRecord(Location(uri=path_to_uri(path)), os_error_kind(exc), os_error_message(exc))

    # -- opening -----------------------------------------------------------
    def _open_regular(self, item: Item) -> tuple[int, os.stat_result]:
        """(fd, fstat) of the item's file, still O_NONBLOCK; refuses (and closes)
        anything that is no longer a regular file."""
        # O_NONBLOCK: a FIFO swapped in since the listing must not hang the worker.
        flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
        path = uri_to_path(item.uri)
        # A file the walk listed below a root without following links is a link
        # now only if one was swapped in since: not followed, as the batched
        # reads (read_files) do not follow it. An explicit root is followed
        # (like find -H), and so are the files the hook names (item_for).
        nofollow = not self.follow_symlinks and isinstance(item.meta, ListedMeta) and path not in self.roots
        try:
            fd = open_noatime(path, (flags | O_NOFOLLOW) if nofollow else flags)
        except OSError as exc:
            if nofollow and exc.errno == errno.ELOOP:
                raise SourceError("no longer a regular file (symlink)", kind="changed") from None
            raise
        try:
            st = os.fstat(fd)
        except BaseException:
            os.close(fd)
            raise
        if not stat.S_ISREG(st.st_mode):
            os.close(fd)
            raise SourceError(f"no longer a regular file ({_special_kind(st.st_mode)})", kind="changed")
        return fd, st

    def open(self, item: Item) -> BinaryIO:
        """The file, opened for reading. Refuses anything that is no longer a regular file."""
        fd, _ = self._open_regular(item)
        try:
            flags = fcntl.fcntl(fd, fcntl.F_GETFL)
            fcntl.fcntl(fd, fcntl.F_SETFL, flags & ~getattr(os, "O_NONBLOCK", 0))
            return os.fdopen(fd, "rb")
        except BaseException:
            os.close(fd)
            raise

    def read_small(self, item: Item, limit: int) -> tuple[bytes, os.stat_result, os.stat_result] | None:
        """(content, fstat before, fstat after reading) of a file of at most
        ``limit`` bytes, read whole with one ``read`` call; None when it is
        bigger (then :meth:`open` it). Refuses what :meth:`open` refuses.

        An item of :meth:`read_entry` gives the content its batch read, with
        that read's fstat as both (the read saw no change), once, if an
        ``lstat`` now finds the same file (:func:`_still`); else the file is
        read as any other, and what it is now is recorded (a link, a FIFO, a
        file gone or rewritten since: ``changed``, ``not_found``, new bytes)."""
        meta = item.meta
        if type(meta) is ListedMeta and meta.preread is not None:
            content, fstat, path = meta.preread
            meta.preread = None  # (once: the bytes go with the scan, not with the item)
            if len(content) <= limit and _still(path, fstat):
                return content, fstat, fstat
        fd, st = self._open_regular(item)
        try:
            if st.st_size > limit:
                return None
            data = _read_upto(fd, st.st_size, limit)
            if data is None:
                return None
            return data, st, os.fstat(fd)
        except BlockingIOError:  # a filesystem that honours O_NONBLOCK on files: the general path
            return None
        finally:
            os.close(fd)


#: The owner, group and mode names of _access by (st_uid, st_gid, st_mode):
#: one lookup for the files of a batch that share them (_batch_item).
#: Names only. Bounded: cleared when full.
_LISTED_ACCESS: dict[tuple[int, int, int], dict[str, Any]] = {}

def _item(uri: str, source: str, size: int, mtime: float, key: str, meta: ListedMeta) -> Item:
    """``Item(uri=uri, source=source, size=size, mtime=mtime, ukey=key,
    meta=meta)`` past the frozen dataclass's ``__init__`` (_byvalue.built: an
    ``object.__setattr__`` per field was ~15k instructions of each flagged
    file of a batch), its fields in their order (the same ``__dict__``, so
    the same pickle). A test compares the two, so the fields are not
    checked here as built checks them (~3k instructions per flagged file)."""
    return adopted(Item, {"uri": uri, "source": source, "size": size, "mtime": mtime, "ukey": key, "version": None,
                          "byte_range": None, "meta": meta})


def _still(path: str, st: os.stat_result) -> bool:
    """Is ``path`` (not followed) the file of fstat ``st``, unchanged? A
    read's change check (``pipeline._changed``: size, mtime, inode) and more:
    the same device, type and ctime (a rename or a chmod sets it). A
    batch's bytes wait for their scan behind whatever its directory listed
    first (a big file, an archive: seconds): one lstat (~1 us) instead of
    the open, fstat, read, fstat and close of a read (~15 us). In C where
    built (_fsbatch.still: no stat_result made for the lstat, ~5k
    instructions less; tests compare the two)."""
    if _C_STILL is not None and type(st) is os.stat_result:
        return _C_STILL(path, st)  # type: ignore[no-any-return]
    return _still_python(path, st)


def _still_python(path: str, st: os.stat_result) -> bool:
    try:
        now = os.lstat(path)
    except OSError:
        return False
    return (now.st_ino == st.st_ino and now.st_dev == st.st_dev and now.st_mode == st.st_mode
            and now.st_size == st.st_size and now.st_mtime_ns == st.st_mtime_ns and now.st_ctime_ns == st.st_ctime_ns)


#: Linux: a read through this descriptor leaves the file's access time alone.
O_NOATIME: int = getattr(os, "O_NOATIME", 0)
O_NOFOLLOW: int = getattr(os, "O_NOFOLLOW", 0)


def open_noatime(path: str, flags: int, dir_fd: int | None = None) -> int:
    """``os.open(path, flags, dir_fd=dir_fd)`` without touching the file's atime where allowed.

    A scan reads every file; on a relatime mount its read would set atime,
    hiding the next 24 hours of reads by others, the only trace of them that
    ``cardscan access`` has (docs/access.md). The kernel allows O_NOATIME
    to the file's owner and to CAP_FOWNER; anyone else gets EPERM, and then
    the file is opened as usual.
    """
    if O_NOATIME:
        try:
            return os.open(path, flags | O_NOATIME, dir_fd=dir_fd)
        except PermissionError as exc:
            if exc.errno != errno.EPERM:  # EACCES: not readable at all, with or without the flag
                raise
    return os.open(path, flags, dir_fd=dir_fd)


def path_matcher(patterns: list[str], option: str) -> Any:
    """A gitignore-syntax matcher for ``--include``/``--exclude`` patterns (None: no patterns);
    a bad pattern is a ConfigError naming ``option``. The smb source matches with it too."""
    if not patterns:
        return None
    import pathspec  # start-up: ~35 ms of CPU, needed only with --include/--exclude/--gitignore

    try:
        return pathspec.GitIgnoreSpec.from_lines(patterns)
    except Exception as exc:  # pathspec raises several types for bad patterns
        raise ConfigError(f"bad {option} pattern: {exc}") from None


def _read_gitignore(dirpath: str) -> tuple[Any, ErrorRecord | None]:
    path = os.path.join(dirpath, ".gitignore")
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            lines = fh.read().splitlines()
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        if exc.errno == errno.EISDIR:
            return None, None
        return None, ErrorRecord(Location(uri=path_to_uri(path)), os_error_kind(exc), os_error_message(exc))
    import pathspec  # start-up (see above)

    try:
        return pathspec.GitIgnoreSpec.from_lines(lines), None
    except Exception as exc:
        return None, ErrorRecord(Location(uri=path_to_uri(path)), "decode", f"bad .gitignore pattern: {type(exc).__name__}")


def _ignored(ignores: tuple[tuple[str, Any], ...], rel: str) -> bool:
    # The deepest .gitignore with an opinion wins (negations included), as in git.
    for base, spec in reversed(ignores):
        result = spec.check_file(rel[len(base):])
        if result.include is not None:
            return bool(result.include)
    return False


def _explicit_rel(path: str) -> str:
    # Patterns apply to files named on the command line relative to the
    # working directory when they are below it (``cardscan scan $(git ls-files)``).
    try:
        rel = os.path.relpath(path)
    except ValueError:
        rel = path
    if rel.startswith(".." + os.sep) or rel == "..":
        rel = path.lstrip(os.sep)
    return rel.replace(os.sep, "/")
