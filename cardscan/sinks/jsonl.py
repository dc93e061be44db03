"""The manifest writer: JSON Lines, streamed, flushed per item (or per batch), created 0600.

Each item's records (``each_item=False``: each batch's, see
:class:`JsonlSink`) are written with one ``os.write`` while SIGINT/SIGTERM
are blocked, so Ctrl-C can never leave half a line: whatever happens, the
file is valid JSON Lines up to the last complete item, and ``close`` appends
the summary (``status: interrupted`` after Ctrl-C). A hard kill loses at
most the item (the batch) being written.
"""
from __future__ import annotations

import os
import signal
import stat
import sys
from typing import IO, Any, ClassVar

from .. import manifest
from ..findings import ErrorRecord, Finding
from ..sources.base import Item
from .base import BaseSink

#: With ``each_item=False``: records held at most, written at the end of the item that reaches it.
BATCH_LINES = 4096

_BLOCK = {getattr(signal, n) for n in ("SIGINT", "SIGTERM") if hasattr(signal, n)}


class JsonlSink(BaseSink):
    """Writes the manifest to ``path`` (``-`` for stdout) or to an open stream.

    ``each_item`` (the default): an object's records are written when it
    ends (``end_item``), as a sweep with a state needs them: the state
    claims an object only once its records are in the file (state/store.py).
    ``each_item=False``: at the end of each batch of results
    (``end_batch``), or at the end of an item once :data:`BATCH_LINES`
    records are waiting: a write (and
    two signal-mask calls) per object cost a sweep of many small flagged
    files ~2-3 us of each; a kill then loses at most the batch being
    written, each line whole or not at all as before. A path that is not a
    regular file (a pipe, a FIFO, a terminal) is written per object all
    the same.
    """

    name: ClassVar[str] = "jsonl"
    #: end_item of an object with no records does nothing here: the sweep may count clean objects in batches.
    wants_clean_items: ClassVar[bool] = False

    def __init__(self, target: str | os.PathLike[str] | IO[Any] = "-", *, fsync: bool = True,
                 each_item: bool = True) -> None:
        self._buf: list[bytes] = []
        self._each = each_item
        self._stream: IO[Any] | None = None
        self._fd: int | None = None
        self._own = False
        self._fsync = fsync
        self.path: str | None = None
        if isinstance(target, (str, os.PathLike)) and os.fspath(target) == "-":
            sys.stdout.flush()
            try:
                self._fd = sys.stdout.fileno()
            except (AttributeError, OSError, ValueError):  # stdout replaced (tests, embedding): write to it
                self._stream = sys.stdout
        elif isinstance(target, (str, os.PathLike)):
            self.path = os.fspath(target)
            self._fd = manifest.open_private(self.path)
            self._own = True
            if not each_item and not stat.S_ISREG(os.fstat(self._fd).st_mode):
                # A pipe, a FIFO, a terminal: a reader is at the other end,
                # and one that went away must stop the sweep at the object
                # it missed, not a batch later.
                self._each = True
        else:
            self._stream = target

    def begin(self, scan_info: dict[str, Any]) -> None:
        self._buf.append(manifest.dumps(manifest.scan_record(scan_info)))
        self._flush()

    def finding(self, finding: Finding) -> None:
        self._buf.append(manifest.finding_line(finding))

    def error(self, error: ErrorRecord) -> None:
        self._buf.append(manifest.dumps(manifest.error_record(error)))

    def end_item(self, item: Item | None, stats: dict[str, Any]) -> None:
        buf = self._buf
        if buf and (self._each or len(buf) >= BATCH_LINES):
            self._flush()

    def end_batch(self) -> None:
        if self._buf:
            self._flush()

    def close(self, summary: dict[str, Any]) -> None:
        try:
            self._buf.append(manifest.dumps(manifest.summary_record(summary)))
            self._flush()
            if self._own and self._fd is not None and self._fsync:
                try:
                    os.fsync(self._fd)
                except OSError:  # e.g. /dev/null, pipes
                    pass
        finally:
            if self._own and self._fd is not None:
                os.close(self._fd)
                self._fd = None

    def _flush(self) -> None:
        buf = self._buf
        data = buf[0] if len(buf) == 1 else b"".join(buf)  # (an object's one line: no join)
        buf.clear()
        if self._stream is not None:
            try:
                self._stream.write(data)
            except TypeError:  # a text stream
                self._stream.write(data.decode("ascii"))
            self._stream.flush()
            return
        assert self._fd is not None
        old = _block()
        try:
            n = os.write(self._fd, data)  # all of it, but where a signal cut a write into a pipe short
            if n < len(data):
                view = memoryview(data)[n:]
                while view:
                    n = os.write(self._fd, view)
                    view = view[n:]
        finally:
            _unblock(old)


def _sigmask_call() -> Any:
    """The C ``pthread_sigmask`` (signal's own, the module it wraps):
    ``signal.pthread_sigmask`` turns each mask it returns into a set of
    ``Signals`` members, ~5 us of the two calls per item written; the mask
    goes back unread. None where there is no such call."""
    raw = getattr(signal, "_signal", None)  # (signal.py imports it; no stub names it for the type checker)
    return getattr(raw, "pthread_sigmask", None) or getattr(signal, "pthread_sigmask", None)


_SIGMASK = _sigmask_call()


def _block() -> Any:
    if _SIGMASK is None:
        return None
    return _SIGMASK(signal.SIG_BLOCK, _BLOCK)


def _unblock(old: Any) -> None:
    if old is not None:
        _SIGMASK(signal.SIG_SETMASK, old)
