"""Progress by callback (fsspec ``Callback`` style): the sweep reports, the CLI shows.

The sweep calls ``set_size`` when it learns the totals (a counting walk in a
thread, for sources cheap to list twice) and ``relative_update`` after each
item; ``close`` at the end. Callbacks only ever receive counts: no path, no
content, never a card number.

* :class:`ScanCallback`: the protocol, and a no-op;
* :class:`TqdmProgress`: a bar on stderr (bytes, files, findings, errors,
  rate, ETA), the default when stderr is a terminal;
* :class:`StatusLines`: one plain line every ``interval`` seconds, for logs
  of non-interactive runs (cron, CI).
"""
from __future__ import annotations

import functools
import sys
import time
from typing import IO, Any

from ..display import human_bytes


class ScanCallback:
    """Receives progress counts. Subclass and override what you need."""

    #: Seconds into the sweep before the totals are first wanted: the counting
    #: walk (a second listing, in a thread) waits that long, and a sweep over
    #: sooner never counts. A bar wants them at once (0).
    count_after: float = 0.0

    def set_size(self, files: int | None = None, nbytes: int | None = None) -> None:
        """Totals to expect (may be called again as the count grows)."""

    def relative_update(self, files: int = 0, nbytes: int = 0, findings: int = 0, errors: int = 0) -> None:
        """Work done since the last call."""

    def close(self, summary: dict[str, Any] | None = None) -> None:
        """The sweep ended (complete or interrupted)."""


NoProgress = ScanCallback


class _Counts(ScanCallback):
    def __init__(self) -> None:
        self.files = self.nbytes = self.findings = self.errors = 0
        self.total_files: int | None = None
        self.total_bytes: int | None = None
        self.started = time.monotonic()

    def set_size(self, files: int | None = None, nbytes: int | None = None) -> None:
        self.total_files, self.total_bytes = files, nbytes

    def relative_update(self, files: int = 0, nbytes: int = 0, findings: int = 0, errors: int = 0) -> None:
        self.files += files
        self.nbytes += nbytes
        self.findings += findings
        self.errors += errors


class TqdmProgress(_Counts):
    """A tqdm bar over bytes on stderr; files, findings and errors in the postfix."""

    def __init__(self, file: IO[str] | None = None, **tqdm_kwargs: Any) -> None:
        super().__init__()
        from tqdm import tqdm

        options: dict[str, Any] = dict(
            total=None, unit="B", unit_scale=True, unit_divisor=1000, file=file or sys.stderr,
            desc="scanning", mininterval=0.25, miniters=1, leave=True,
        )
        options.update(tqdm_kwargs)
        self._bar = _bar_class(tqdm)(**options)

    def set_size(self, files: int | None = None, nbytes: int | None = None) -> None:
        changed = (files, nbytes) != (self.total_files, self.total_bytes)
        super().set_size(files, nbytes)
        if nbytes is not None and self._bar.total != nbytes:
            self._bar.total = nbytes
        if changed:  # the file total goes with the byte total (never "300/?" under a known size)
            self._postfix()
            self._bar.refresh()

    def relative_update(self, files: int = 0, nbytes: int = 0, findings: int = 0, errors: int = 0) -> None:
        super().relative_update(files, nbytes, findings, errors)
        self._postfix()
        self._bar.update(nbytes)

    def _postfix(self) -> None:
        total = self.total_files if self.total_files is not None else "?"
        self._bar.set_postfix_str(
            f"{self.files}/{total} files, {self.findings} findings, {self.errors} errors", refresh=False
        )

    def close(self, summary: dict[str, Any] | None = None) -> None:
        self._bar.close()

    def guard(self, stream: IO[str]) -> IO[str]:
        """``stream`` wrapped so that lines written to it clear and redraw the bar."""
        return _AboveBar(stream, self._bar)  # type: ignore[return-value]  # write and flush: all print() needs


@functools.lru_cache(maxsize=None)
def _bar_class(tqdm: Any) -> Any:
    """tqdm without its monitor thread: a sweep forks its workers only while
    it runs a single thread (executor.fork_safe). The monitor redraws a bar
    whose dynamic ``miniters`` grew in a fast phase; with ``miniters=1``
    (above) every update looks at the clock, so there is no such bar."""
    return type("CardscanBar", (tqdm,), {"monitor_interval": 0})


class _AboveBar:
    """A text stream whose writes go above the bar (tqdm ``external_write_mode``)."""

    def __init__(self, stream: IO[str], bar: Any) -> None:
        self._stream, self._bar = stream, bar

    def write(self, text: str) -> int:
        if self._bar.disable or getattr(self._bar, "fp", None) is None:
            return self._stream.write(text)
        with self._bar.external_write_mode(file=self._bar.fp):
            n = self._stream.write(text)
            self._stream.flush()
        return n

    def __getattr__(self, name: str) -> Any:
        return getattr(self._stream, name)


class StatusLines(_Counts):
    """``cardscan: 1204/5000 files, 1.2 GB, 3 findings, 0 errors, 85.0 MB/s, ETA 0:01:10``."""

    def __init__(self, file: IO[str] | None = None, interval: float = 30.0) -> None:
        super().__init__()
        self._file = file or sys.stderr
        self.interval = interval
        # The first line comes after ``interval``: counting can wait, and a
        # short sweep (20,000 small files: ~25% more CPU, a second walk) never counts.
        self.count_after = min(10.0, interval / 2)
        self._next = time.monotonic() + interval

    def relative_update(self, files: int = 0, nbytes: int = 0, findings: int = 0, errors: int = 0) -> None:
        super().relative_update(files, nbytes, findings, errors)
        now = time.monotonic()
        if now >= self._next:
            self._next = now + self.interval
            self._file.write(self.line(now) + "\n")
            self._file.flush()

    def line(self, now: float | None = None) -> str:
        elapsed = max(1e-6, (now or time.monotonic()) - self.started)
        rate = self.nbytes / elapsed
        total = f"/{self.total_files}" if self.total_files is not None else ""
        text = (
            f"cardscan: {self.files}{total} files, {human_bytes(self.nbytes)}, "
            f"{self.findings} findings, {self.errors} errors, {human_bytes(rate)}/s"
        )
        if self.total_bytes and rate > 0:
            left = max(0.0, (self.total_bytes - self.nbytes) / rate)
            text += f", ETA {int(left // 3600)}:{int(left % 3600 // 60):02d}:{int(left % 60):02d}"
        return text
