"""Log files: list a directory, a file or an S3 prefix, and stream each one.

Everything here is a generator: a listing is walked (or paged, on S3) as it
is read, and a file is read in blocks, gunzipped on the fly when its first
bytes are gzip's magic (whatever its name), and cut into lines. Nothing
holds more than one block and one line. A file that cannot be opened, a
gzip stream that is damaged or cut short, and a line longer than
``MAX_LINE`` become :class:`LogProblem` values in the stream, never
exceptions: the caller turns them into error records and goes on.
"""
from __future__ import annotations

import errno
import os
import stat
import zlib
from dataclasses import dataclass
from typing import Any, BinaryIO, Iterator

from ..sources.fs import path_to_uri

#: Bytes read at a time.
BLOCK = 1 << 20
#: A longer line is skipped (an error record): no real log line comes near it,
#: and holding it whole would make memory depend on the input.
MAX_LINE = 1 << 20

_GZIP_MAGIC = b"\x1f\x8b"


@dataclass(frozen=True)
class LogFile:
    """One log file: ``url`` is a local path or ``s3://bucket/key``."""

    url: str
    #: ``S3Source`` options for s3:// files (endpoint); empty for local files.
    endpoint_url: str | None = None

    @property
    def uri(self) -> str:
        """The file as a URI (what error records name)."""
        if self.url.startswith("s3://"):
            return self.url
        return path_to_uri(os.path.abspath(self.url))


@dataclass(frozen=True)
class LogProblem:
    """A file or line that could not be read. ``line`` is 1-based or None for the file."""

    kind: str  # a manifest error kind: io, not_found, permission, decode, limit
    message: str  # fixed text: never the line's content
    line: int | None = None
    #: What ``line`` counts: ``line`` (text logs) or ``record`` (CloudTrail's JSON records).
    unit: str = "line"


# -- listing -----------------------------------------------------------------

def list_logs(url_or_dir: str, *, endpoint_url: str | None = None) -> Iterator[LogFile | LogProblem]:
    """The log files under a local directory (walked in name order, hidden
    files skipped), one local file, or every object under an ``s3://`` prefix."""
    if url_or_dir.startswith("s3://"):
        yield from _list_s3(url_or_dir, endpoint_url)
        return
    path = url_or_dir
    try:
        st = os.stat(path)
    except OSError as exc:
        yield LogProblem(_os_kind(exc), f"cannot read {exc.strerror or 'the log path'}")
        return
    if not stat.S_ISDIR(st.st_mode):
        yield LogFile(path)
        return
    yield from _walk(path)


def _walk(top: str) -> Iterator[LogFile | LogProblem]:
    try:
        with os.scandir(top) as it:
            entries = sorted(it, key=lambda e: e.name)
    except OSError as exc:
        yield LogProblem(_os_kind(exc), f"cannot list a log directory: {exc.strerror}")
        return
    for e in entries:
        if e.name.startswith("."):
            continue
        try:
            if e.is_dir(follow_symlinks=False):
                yield from _walk(e.path)
            elif e.is_file(follow_symlinks=True):
                yield LogFile(e.path)
        except OSError as exc:
            yield LogProblem(_os_kind(exc), f"cannot stat a log file: {exc.strerror}")


def _s3_fs(url: str, endpoint_url: str | None) -> Any:
    from ..sources.s3 import S3Source  # the s3 extra (s3fs) is optional: imported only for s3:// logs

    return S3Source(url, endpoint_url=endpoint_url, exposure=False).filesystem()


def _list_s3(url: str, endpoint_url: str | None) -> Iterator[LogFile | LogProblem]:
    from ..sources.s3 import split_uri  # the s3 extra, as above

    bucket, prefix = split_uri(url)
    try:
        fs = _s3_fs(url, endpoint_url)
        kwargs: dict[str, Any] = {"Bucket": bucket, "Prefix": prefix}
        while True:  # page by page: a log prefix may hold millions of keys
            page = fs.call_s3("list_objects_v2", **kwargs)
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if key.endswith("/"):
                    continue  # a console "folder" marker
                yield LogFile(f"s3://{bucket}/{key}", endpoint_url)
            if not page.get("IsTruncated"):
                return
            kwargs["ContinuationToken"] = page["NextContinuationToken"]
    except Exception as exc:  # noqa: BLE001 - any listing failure is one error record
        yield LogProblem(_s3_kind(exc), f"cannot list the log prefix ({type(exc).__name__})")


# -- reading -----------------------------------------------------------------

def open_raw(log: LogFile) -> BinaryIO:
    """The file's bytes as stored (gzip not undone). Raises OSError."""
    if log.url.startswith("s3://"):
        return _s3_fs(log.url, log.endpoint_url).open(log.url, "rb")
    return open(log.url, "rb")


def blocks(log: LogFile) -> Iterator[bytes | LogProblem]:
    """The file's content in blocks, gunzipped when it is gzip (several
    members are read as one stream, as ``zcat`` does). A damaged or cut
    gzip stream ends the blocks with a problem."""
    try:
        raw = open_raw(log)
    except Exception as exc:  # noqa: BLE001 - unreadable file: one error record
        yield LogProblem(_any_kind(exc), "cannot open the log file")
        return
    with raw:
        try:
            head = raw.read(2)
        except Exception as exc:  # noqa: BLE001
            yield LogProblem(_any_kind(exc), "cannot read the log file")
            return
        if head == _GZIP_MAGIC:
            yield from _gunzip(raw, head)
            return
        if head:
            yield head
        while True:
            try:
                block = raw.read(BLOCK)
            except Exception as exc:  # noqa: BLE001
                yield LogProblem(_any_kind(exc), "read error in the log file")
                return
            if not block:
                return
            yield block


def _gunzip(raw: BinaryIO, head: bytes) -> Iterator[bytes | LogProblem]:
    # zlib with wbits=31 reads one gzip member; a new member may follow the
    # last one (concatenated .gz files), zero padding after the last is allowed.
    d = zlib.decompressobj(31)
    started = False  # the current member has had input
    data = head
    at_end = False
    while True:
        if not data:
            if at_end:
                if started and not d.eof:
                    yield LogProblem("decode", "the gzip stream is truncated")
                return
            try:
                data = raw.read(BLOCK)
            except Exception as exc:  # noqa: BLE001
                yield LogProblem(_any_kind(exc), "read error in the log file")
                return
            at_end = not data
            continue
        if d.eof:
            if not data.strip(b"\x00"):
                data = b""
                continue
            d, started = zlib.decompressobj(31), False
        try:
            out = d.decompress(data, BLOCK)
        except zlib.error:
            yield LogProblem("decode", "the gzip stream is damaged")
            return
        started = True
        if out:
            yield out
        data = d.unused_data if d.eof else d.unconsumed_tail


def lines(log: LogFile) -> Iterator[tuple[int, bytes] | LogProblem]:
    """``(line number, line without its newline)`` for each line. A last line
    without a newline is yielded too; the caller may call it truncated when
    it does not parse (``ends_without_newline`` tells)."""
    buf = b""
    lineno = 0
    skipping = False
    for block in blocks(log):
        if isinstance(block, LogProblem):
            if buf and not skipping:
                lineno += 1
                yield lineno, buf  # the cut-short last line: let the parser judge it
            yield LogProblem(block.kind, block.message, lineno + 1 if block.line is None else block.line)
            return
        buf += block
        start = 0
        while True:
            nl = buf.find(b"\n", start)
            if nl < 0:
                break
            if skipping:
                skipping = False
            else:
                lineno += 1
                yield lineno, buf[start:nl].rstrip(b"\r")
            start = nl + 1
        buf = buf[start:]
        if len(buf) > MAX_LINE and not skipping:
            lineno += 1
            yield LogProblem("limit", f"line longer than {MAX_LINE} bytes, skipped", lineno)
            skipping = True
        if skipping:
            buf = b""
    if buf and not skipping:
        lineno += 1
        yield lineno, buf


# -- error kinds ---------------------------------------------------------------

def _os_kind(exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM):
        return "permission"
    if exc.errno == errno.ENOENT:
        return "not_found"
    return "io"


_DENIED = frozenset({"AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId", "SignatureDoesNotMatch"})
_MISSING = frozenset({"NoSuchBucket", "NoSuchKey", "404"})


def _s3_kind(exc: BaseException) -> str:
    """From botocore's error code (s3fs keeps the ClientError as the cause)."""
    for e in (exc, exc.__cause__, exc.__context__):
        response = getattr(e, "response", None)
        if isinstance(response, dict):
            code = str(response.get("Error", {}).get("Code", ""))
            if code in _DENIED:
                return "permission"
            if code in _MISSING:
                return "not_found"
    if isinstance(exc, PermissionError):
        return "permission"
    if isinstance(exc, FileNotFoundError):
        return "not_found"
    return "io"


def _any_kind(exc: BaseException) -> str:
    if isinstance(exc, PermissionError):
        return "permission"
    if isinstance(exc, FileNotFoundError):
        return "not_found"
    if isinstance(exc, OSError) and exc.errno:
        return _os_kind(exc)
    return _s3_kind(exc)


__all__ = ["LogFile", "LogProblem", "list_logs", "blocks", "lines", "open_raw", "MAX_LINE", "BLOCK"]
