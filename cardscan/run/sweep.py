"""The parent's loop of a sweep: list, plan, run, merge, report.

:class:`Sweep` walks the sources (streaming), groups small items into units,
splits big non-container files into byte ranges, hands units to a runner,
merges range results back into one object, pushes records to the sinks and
tallies the summary. Ctrl-C (or SIGTERM) asks it to stop: workers are
stopped, and the sinks still get a summary with ``status: interrupted``.

With a state (:class:`~cardscan.run.state.SweepState`, ``--state``), items
unchanged since a good earlier scan are not handed to workers: their stored
findings are re-emitted, marked ``carried_over``. Each scanned object is
recorded in the state after its records reached the sinks (see state/store.py for
why that order), and committed after each batch of results.
"""
from __future__ import annotations

import gc
import logging
import os
import signal
import sys
import threading
import time
from collections import Counter, deque
from concurrent.futures import Future
from dataclasses import field
from datetime import datetime, timezone
from functools import partial
from typing import TYPE_CHECKING, Any, Iterable, Iterator
from urllib.parse import unquote

from .._byvalue import ByValueUnhashable
from .._dataclass import dataclass
from ..decoders.base import HEAD_SIZE
from ..decoders.expand import is_container, load_failures
from ..display import uri_display
from ..engine.scanner import RangeStats
from ..findings import ErrorRecord, Finding, Location
from ..manifest import confidence_band
from ..pipeline import (
    SMALL_FILE,
    ItemResult,
    attach_object,
    batch_verdicts,
    is_database,
    item_name,
    ranges_digest,
)
from ..privacy import mask_name, published
from ..sinks.base import BaseSink
from ..sources.base import (
    ByteSource,
    CountableSource,
    DescribedSource,
    Item,
    RootedSource,
    RowSource,
    StatsSource,
)
from ..sources.fs import SmallBatch, object_meta, read_files
from .executor import BatchUnit, InProcessRunner, Runner, Unit
from .progress import ScanCallback

if TYPE_CHECKING:  # the state (sqlite3 and its store) is imported only by a sweep that has one
    from .state import SweepState

log = logging.getLogger("cardscan.run.sweep")

DEFAULT_SPLIT_SIZE = 64 << 20
#: Batches of small files read ahead on a thread (runner.read_ahead): a few, their data is held meanwhile.
READ_AHEAD = 2
#: _read_ahead's answer for a batch it left to a worker (the runner's ``batch_units``): not read here.
TO_WORKER = object()
#: Worker time a batch of small items should take, once items' cost is known:
#: progress moves at least this often per worker, however slow the share.
UNIT_SECONDS = 0.25

#: The young generation's threshold while a sweep runs (Python's default: 700).
GC_YOUNG = 10_000


def now_iso() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


#: confidence_band of each score (0-100).
_BANDS = tuple(confidence_band(c) for c in range(101))


class Tally:
    """The summary record's counts, updated as records are emitted."""

    def __init__(self, roots: Iterable[str] = ()) -> None:
        # Longest root first, so nested roots attribute to the innermost.
        self.roots = sorted({r.rstrip("/") for r in roots if r}, key=len, reverse=True)
        self.by_brand: Counter[str] = Counter()
        self.by_kind: Counter[str] = Counter()
        self.by_band: Counter[str] = Counter()
        self.by_dir: Counter[str] = Counter()
        self.errors_by_kind: Counter[str] = Counter()
        self.skipped: Counter[str] = Counter()
        self.findings = self.errors = self.allowed = 0
        self.objects = self.objects_with_findings = self.bytes = 0
        self.carried_objects = self.carried_bytes = self.carried_findings = 0
        self._last_uri, self._last_dir = "", ""
        self._root_set = frozenset(self.roots)
        #: top_dir by the directory of an object (not itself a root): the
        #: answer depends on that alone, and each flagged file is a new uri.
        self._by_parent: dict[str, str] = {}

    def _top_dir_of(self, uri: str) -> str:
        """:meth:`top_dir`, remembered per directory holding the object."""
        base = uri.split("#", 1)[0]
        parent = base.rpartition("/")[0]
        if not parent or base in self._root_set:
            return self.top_dir(uri)
        top = self._by_parent.get(parent)
        if top is None:
            if len(self._by_parent) >= 4096:
                self._by_parent.clear()
            top = self._by_parent[parent] = self.top_dir(uri)
        return top

    def top_dir(self, uri: str) -> str:
        """The top-level directory under the scanned root that holds ``uri``, for humans."""
        base = uri.split("#", 1)[0]
        for root in self.roots:
            if base == root:
                return uri_display(root)
            if base.startswith(root + "/"):
                rest = base[len(root) + 1:]
                if "/" in rest:
                    return uri_display(root + "/" + rest.split("/", 1)[0])
                return uri_display(root)
        return uri_display(base.rsplit("/", 1)[0] if "/" in base else base)

    def finding(self, f: Finding) -> None:
        self.findings += 1
        self.by_brand[f.brand] += 1
        self.by_kind[f.kind] += 1
        c = f.confidence
        self.by_band[_BANDS[c] if type(c) is int and 0 <= c <= 100 else confidence_band(c)] += 1
        uri = f.location.uri
        if uri != self._last_uri:  # findings come grouped by object
            self._last_uri, self._last_dir = uri, self._top_dir_of(uri)
        self.by_dir[self._last_dir] += 1

    def error(self, e: ErrorRecord) -> None:
        self.errors += 1
        self.errors_by_kind[e.kind] += 1

    def summary(self, status: str, started: str, duration: float, reason: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "status": status,
            "started": started,
            "finished": now_iso(),
            "duration_s": round(duration, 3),
            "objects_scanned": self.objects,
            "objects_with_findings": self.objects_with_findings,
            "bytes_scanned": self.bytes,
            "findings": self.findings,
            "findings_by_brand": dict(self.by_brand.most_common()),
            "findings_by_kind": dict(self.by_kind.most_common()),
            "findings_by_confidence": dict(self.by_band.most_common()),
            "findings_by_directory": dict(self.by_dir.most_common()),
            "allowed": self.allowed,
            "errors": self.errors,
            "errors_by_kind": dict(self.errors_by_kind.most_common()),
            "skipped": dict(self.skipped.most_common()),
        }
        if reason:
            out["reason"] = reason
        return out


@dataclass(eq=False, repr=False)  # ==, repr(): ByValueUnhashable
class _Split(ByValueUnhashable):
    """A file scanned as byte ranges: its ranges' results, merged once all ``parts`` are in."""

    item: Item
    parts: int
    results: dict[int, ItemResult] = field(default_factory=dict)


class _Count(threading.Thread):
    """Counts what the sources will yield, ahead of the scan, for progress totals."""

    def __init__(self, sources: list[Any], delay: float = 0.0) -> None:
        super().__init__(name="cardscan-count", daemon=True)
        self._sources = sources
        self._delay = delay
        self._stopped = threading.Event()
        self.files = self.nbytes = 0
        self.done = False

    @property
    def stop(self) -> bool:
        return self._stopped.is_set()

    @stop.setter
    def stop(self, value: bool) -> None:
        if value:
            self._stopped.set()

    def run(self) -> None:
        if self._delay > 0 and self._stopped.wait(self._delay):
            return  # the sweep ended before the totals were wanted
        try:
            for src in self._sources:
                for size in src.count_items():
                    if self.stop:
                        return
                    self.files += 1
                    self.nbytes += size
            self.done = True
        except Exception:  # progress totals are a nicety; never fail the scan
            log.debug("counting walk failed", exc_info=True)


class Sweep:
    """One scan: ``Sweep(sources, runner, sinks).run() -> summary``."""

    def __init__(
        self,
        sources: list[Any],
        runner: Runner,
        sinks: list[Any],
        *,
        scan_info: dict[str, Any] | None = None,
        progress: ScanCallback | None = None,
        split_size: int = DEFAULT_SPLIT_SIZE,
        batch_items: int | None = None,
        batch_bytes: int | None = None,
        count: bool | None = None,
        state: SweepState | None = None,
    ) -> None:
        if split_size < 1:
            raise ValueError("split_size must be positive")
        self.sources = sources
        self.runner = runner
        self.sinks = sinks
        self.scan_info = scan_info or {}
        self.progress = progress or ScanCallback()
        self.split_size = split_size
        # Small items travel in batches (one task each): 128 items / 2 MiB by
        # default, or what the runner asks for (Dask: bigger, its round trip
        # per task costs more). A local pool task costs the parent ~0.7 ms of
        # CPU (queue threads, pickling, wake-ups): with 32-item batches that
        # was ~20 us per small file, a quarter of the parent's per-file cost
        # (benchmarks/bench_scale.py; docs/scale.md).
        self.batch_items = batch_items or getattr(runner, "batch_items", None) or 128
        self.batch_bytes = batch_bytes or getattr(runner, "batch_bytes", None) or 2 << 20
        self._count = count if count is not None else progress is not None and type(progress) is not ScanCallback
        roots: list[str] = []
        for s in sources:
            roots += (s.root_uris if isinstance(s, RootedSource) else None) or [getattr(s, "url", "")]
        self.tally = Tally(roots)
        self._splits: dict[tuple[str, str | None], _Split] = {}
        self._stop_reason: str | None = None
        self._counter: _Count | None = None
        self.state = state
        self._stamp_at, self._stamp_text = -1e9, ""
        #: Worker seconds per small item (moving average over results; None until one arrives).
        self._item_seconds: float | None = None
        # Small local files in batches (fs.SmallBatch, _small_files): a clean
        # one is then only counted, so not with a state (it records every object)
        # nor with a sink that wants each object's end_item (JUnit: a case per file).
        self._batches = (state is None and bool(getattr(runner, "small_batches", False))
                         and not any(_wants_clean_items(s) for s in sinks))

    # -- stopping ------------------------------------------------------------
    def request_stop(self, reason: str = "signal") -> None:
        """Ask the sweep to stop at the next item boundary (signal-handler safe)."""
        self._stop_reason = self._stop_reason or reason

    def _should_stop(self) -> bool:
        return self._stop_reason is not None

    def _install_signals(self) -> dict[int, Any]:
        if threading.current_thread() is not threading.main_thread():
            return {}
        old: dict[int, Any] = {}

        def on_int(signum: int, frame: Any) -> None:
            if self._stop_reason is not None:  # second Ctrl-C: stop right now
                raise KeyboardInterrupt
            self.request_stop("signal")

        def on_term(signum: int, frame: Any) -> None:
            self.request_stop("terminated")

        for sig, handler in ((signal.SIGINT, on_int), (getattr(signal, "SIGTERM", None), on_term)):
            if sig is not None:
                try:
                    old[sig] = signal.signal(sig, handler)
                except (ValueError, OSError):
                    pass
        return old

    # -- the loop ------------------------------------------------------------
    def run(self) -> dict[str, Any]:
        # What exists now (modules, settings, the scanner) outlives the sweep:
        # out of the collector's sight meanwhile, its full collections do not
        # walk it again (a 20,000-file run's one full collection: 28 -> 0.7 ms).
        # Unfrozen after, so a process running many sweeps leaks no cycle.
        gc.freeze()
        # Young collections less often meanwhile: a result's objects (its
        # item, findings, their locations and metadata, the lines written)
        # live for a batch, and a collection every 700 allocations walked
        # them again and again (~8k instructions of each flagged file's
        # result in the parent). Nothing in a result makes a cycle; what is
        # garbage is freed by its count as before. Set back after, unless
        # another sweep (a thread's) changed it meanwhile.
        threshold = gc.get_threshold()
        young = threshold[0] < GC_YOUNG and threshold[0] > 0
        if young:
            gc.set_threshold(GC_YOUNG, *threshold[1:])
        try:
            return self._run()
        finally:
            if young and gc.get_threshold()[0] == GC_YOUNG:
                gc.set_threshold(*threshold)
            gc.unfreeze()

    def _run(self) -> dict[str, Any]:
        started, t0 = now_iso(), time.monotonic()
        if self.state is not None:
            self.scan_info = {**self.scan_info, "state": self.state.begin(self.tally.roots, started)}
        for sink in self.sinks:
            sink.begin(self.scan_info)
        old = self._install_signals()
        failure: BaseException | None = None
        try:
            prepare = getattr(self.runner, "prepare", None)
            if prepare is not None:  # (forks its workers, if it may: before this sweep starts a thread)
                prepare()
            if self._count and all(isinstance(s, CountableSource) and s.countable for s in self.sources):
                self._counter = _Count(self.sources, float(getattr(self.progress, "count_after", 0.0) or 0.0))
                self._counter.start()
            # (Optional: sinks/base.py; a sink's flush for a reader, per batch, not per object.)
            batch_ends = [end for end in (getattr(s, "end_batch", None) for s in self.sinks) if end is not None]
            for _unit, results in self.runner.run(self._units(), self._should_stop):
                for r in results:
                    self._result(r)
                for end in batch_ends:
                    end()
                if self.state is not None:  # after the records were flushed (state/store.py: crash safety)
                    self.state.commit()
                if self._should_stop():
                    break
        except KeyboardInterrupt:
            self.request_stop("signal")
        except BrokenPipeError as exc:
            self.request_stop("broken_pipe")
            failure = exc
        except BaseException as exc:
            self.request_stop("error")
            failure = exc
        finally:
            if self._counter is not None:
                self._counter.stop = True
                # It wakes at once from its wait, or stops at the next listed
                # item: a sweep leaves no thread of its own behind (a short
                # wait only, a listing call may block longer: it is a daemon).
                self._counter.join(timeout=1.0)
            try:
                self.runner.shutdown(cancel=self._should_stop())
            finally:
                for sig, handler in old.items():
                    signal.signal(sig, handler)
        status = "interrupted" if self._stop_reason else "complete"
        for src in self.sources:  # what the walk skipped so far, also when interrupted
            if isinstance(src, StatsSource) and isinstance(src.stats, dict):
                self.tally.skipped.update(src.stats.get("skipped", {}))
        if status == "complete":  # the bar ends at 100% whatever the counting thread got to
            t = self.tally
            self.progress.set_size(t.objects + t.carried_objects, t.bytes)
        summary = self.tally.summary(status, started, time.monotonic() - t0, self._stop_reason)
        if self.state is not None:
            failure = self._state_summary(status, summary, failure)
        self.progress.close(summary)  # before the sinks' last words, so they are not drawn over
        for sink in self.sinks:
            try:
                sink.close(summary)
            except Exception as exc:  # one broken sink (closed stdout) must not lose the manifest
                log.debug("sink %s failed to close: %s", getattr(sink, "name", sink), type(exc).__name__)
                if failure is None and not isinstance(exc, BrokenPipeError):
                    failure = exc
        if self.state is not None and self.state.run is not None:
            try:  # after the manifest's summary: the run is over only once that is written
                self.state.finish(status, summary, summary["finished"])
            except Exception as exc:
                failure = failure or exc
        if failure is not None:
            raise failure
        return summary

    def _state_summary(self, status: str, summary: dict[str, Any], failure: BaseException | None
                       ) -> BaseException | None:
        """Carried-over and gone counts, and the state's own line, in the summary."""
        t, state = self.tally, self.state
        assert state is not None
        summary["carried_over"] = {"objects": t.carried_objects, "bytes": t.carried_bytes,
                                   "findings": t.carried_findings}
        try:
            state.commit()
            if status == "complete":
                summary["gone"] = state.gone(self.tally.roots)
        except Exception as exc:
            failure = failure or exc
        if state.run is not None:
            summary["state"] = {"path": state.store.path, "run": state.run.id, "mode": state.run.mode}
        return failure

    def _batch_limit(self, ramp: int) -> int:
        """Items in the next batch: enough for :data:`UNIT_SECONDS` of work at
        the cost items have shown, at most ``batch_items``; before any result,
        ``ramp`` (doubling from 1), so a slow share shows progress at once."""
        per_item = self._item_seconds
        if per_item is None:
            return min(ramp, self.batch_items)
        return max(1, min(self.batch_items, int(UNIT_SECONDS / max(per_item, 1e-9))))

    def _units(self) -> Iterator[Unit]:
        # The first full batch is held until the listing shows there is more:
        # a scan that fits in one batch stays one unit (the runner scans it in
        # this process, no pool to start). Beyond it, batches are sized by
        # _batch_limit, so results (and the bar) come in per fraction of a
        # second of work, not per 128 files.
        batch: list[Item] = []
        size = 0
        held: list[Item] | None = None
        ramp = 1
        # The batch limit, worked out once between yields: ramp and the item
        # cost it depends on change only while this generator waits at a
        # yield (results are taken in then), not once per listed file.
        limit: int | None = None
        for src in self.sources:
            batched = self._batches and getattr(src, "can_batch", False)
            entries = _listing(src, batched)
            for entry in self._small_files(src, entries) if batched else entries:
                if self._should_stop():
                    return
                if isinstance(entry, ErrorRecord):
                    self._emit(None, [], [entry], {})
                    continue
                if isinstance(entry, BatchUnit):
                    yield entry
                    continue
                if self.state is not None:
                    carried = self.state.carry(entry)
                    if carried is not None:
                        self._carried(entry, carried)
                        continue
                parts = self._plan(src, entry)
                if parts:
                    self._splits[(entry.uri, entry.version)] = _Split(entry, len(parts))
                    for p in parts:
                        yield [p]
                    limit = None
                    continue
                if held is not None:  # the listing goes on: release the first batch in a ramp
                    while held:
                        n = self._batch_limit(ramp)
                        yield held[:n]
                        del held[:n]
                        ramp *= 2
                    held = limit = None
                batch.append(entry)
                size += entry.size or 0
                if limit is None:
                    limit = self.batch_items if ramp == 1 else self._batch_limit(ramp)
                if len(batch) >= limit or size >= self.batch_bytes:
                    if ramp == 1:  # the first batch: hold it (see above)
                        held = batch
                    else:
                        yield batch
                        ramp *= 2
                    batch, size = [], 0
                    limit = None
        if held:
            yield held
        if batch:
            yield batch

    def _plan(self, src: Any, item: Item) -> list[Item] | None:
        """Byte ranges for a big, seekable item no decoder opens (None: scan it whole).

        Whether a decoder might open it is the decoders' one answer
        (``is_container``): by magic bytes, by name (``.lzma``, ``.tar``,
        ``.eml``) or by header (mail), and third-party decoders are asked.
        """
        if not item.size or item.size <= self.split_size or item.byte_range is not None:
            return None
        if isinstance(src, RowSource) or not isinstance(src, ByteSource):
            return None
        try:
            with src.open(item) as fh:
                if not fh.seekable():
                    return None
                head = fh.read(HEAD_SIZE)
        except Exception:  # the worker will open it again and report the error
            return None
        if is_container(item_name(item.uri), head) or is_database(head):
            return None  # (a database file is read as a database: pipeline.py)
        s = self.split_size
        return [item.range(a, min(a + s, item.size)) for a in range(0, item.size, s)]

    # -- results -------------------------------------------------------------
    def _small_files(self, src: Any, entries: Iterator[Any]) -> Iterator[Item | ErrorRecord | BatchUnit]:
        """``entries`` with each :class:`~cardscan.sources.fs.SmallBatch` read
        here, in one call (:func:`~cardscan.sources.fs.read_files`, in C
        without the GIL), and replaced by the items of the files that need a
        scan; the others are counted as scanned (:func:`pipeline.batch_verdicts`
        says which: what scan_item would give for them is a result with
        nothing in it). The files given as items (flagged, a container or
        database, bigger than a small file, changed, not readable, not a
        regular file by now) are listed as the walk lists them and go on as
        any item: split when big, scanned by a worker, re-read there; except
        that a file read whole carries the bytes and fstat of this read
        (``FileSource.read_entry``), and is not read again in this process.

        Once a pool of several workers is up (the runner's ``batch_units``),
        a batch goes to a worker whole instead (a :class:`BatchUnit`: it
        reads, checks and scans there, :func:`worker.scan_small_files`), and
        this process only tallies (:meth:`_settle`): read and checked here,
        the batches made this process the limit of the sweep."""
        detector = self._detector()
        t = self.tally
        for entry, got in self._read_ahead(entries):
            if got is None:
                yield entry
                continue
            if got is TO_WORKER:
                yield BatchUnit(entry, self.split_size, partial(self._settle, src),
                                partial(self._relist, src, entry))
                continue
            read: dict[str, Any] = {}
            try:
                if isinstance(got, BaseException):
                    raise got
                data, ends, status, stats = got
                clean, nbytes, plain = batch_verdicts(detector, entry.names, data, ends, status)
                read = {"data": data, "ends": ends, "status": status, "stats": stats, "plain": plain}
            except Exception:  # noqa: BLE001 - a bug here must cost no file: each goes the item way
                log.debug("batch read of %s failed; its files are scanned one by one", mask_name(entry.dir),
                          exc_info=True)
                clean, nbytes = set(), 0
            if clean:
                t.objects += len(clean)
                t.bytes += nbytes
                self._progress_size()
                self.progress.relative_update(files=len(clean), nbytes=nbytes, findings=0, errors=0)
            # A file read whole and unchanged: its item carries those bytes and
            # their fstat, and is scanned without reading the file again
            # (fs.FileSource.read_entry; a worker, if it goes to one, reads).
            yield from src.batch_entries(entry, clean, **read)
            got = data = None  # (the batch's bytes: not kept while the next batch is read)
            read = {}

    def _settle(self, src: Any, payload: Any) -> tuple[list[ItemResult], list[Unit]]:
        """A worker's answer for a BatchUnit: its clean files counted as
        _small_files counts them, its error records emitted as _units emits
        them; (the results of the files it scanned, units of those left here)."""
        results, left, n, nbytes = payload
        if n:
            t = self.tally
            t.objects += n
            t.bytes += nbytes
            self._progress_size()
            self.progress.relative_update(files=n, nbytes=nbytes, findings=0, errors=0)
        return results, self._relisted(src, left)

    def _relist(self, src: Any, batch: SmallBatch) -> list[Unit]:
        """A BatchUnit's files as units of items (its worker died): as the parent path lists them."""
        return self._relisted(src, [src.batch_entry(batch, name) for name in batch.names])

    def _relisted(self, src: Any, entries: list[Item | ErrorRecord]) -> list[Unit]:
        """``entries`` of a batch as _units lists them: error records
        emitted, items as units of one (split where big, as :meth:`_plan` says)."""
        units: list[Unit] = []
        for entry in entries:
            if isinstance(entry, ErrorRecord):
                self._emit(None, [], [entry], {})
                continue
            parts = self._plan(src, entry)
            if parts:
                self._splits[(entry.uri, entry.version)] = _Split(entry, len(parts))
                units += [[p] for p in parts]
            else:
                units.append([entry])
        return units

    def _read_ahead(self, entries: Iterator[Any]) -> Iterator[tuple[Any, Any]]:
        """(entry, what read_files gave for it, or None if it is no batch), in order.

        With a runner of several jobs (``runner.read_ahead``), the next
        batches are read on a thread while this one is checked and its items
        scanned: read_files lets go of the GIL, so the reads take the other
        core. With ``--jobs 1``, in line (one thread).
        """
        if not getattr(self.runner, "read_ahead", False):
            for entry in entries:
                yield entry, (_read(entry) if isinstance(entry, SmallBatch) else None)
            return
        runner = self.runner
        queue: deque[tuple[Any, Any]] = deque()
        # Made for the first batch read here: forked workers take every batch
        # whole (TO_WORKER), and its import (~4 M instructions) came before the
        # first of them was sent, while the worker waited.
        pool: Any = None
        try:
            for entry in entries:
                if not isinstance(entry, SmallBatch):
                    queue.append((entry, None))
                elif getattr(runner, "batch_units", False):
                    queue.append((entry, TO_WORKER))
                else:
                    if pool is None:
                        from concurrent.futures import ThreadPoolExecutor

                        pool = ThreadPoolExecutor(1, thread_name_prefix="cardscan-read")
                    queue.append((entry, pool.submit(_read, entry)))
                while queue and (not isinstance(queue[0][1], Future) or len(queue) > READ_AHEAD):
                    yield _taken(queue.popleft())
            while queue:
                yield _taken(queue.popleft())
        finally:
            if pool is not None:
                pool.shutdown(wait=True, cancel_futures=True)

    def _detector(self) -> Any:
        """The scan's detector (for the batch pre-check): the in-process pipeline's, or one from the spec."""
        pipeline = getattr(self.runner, "pipeline", None)
        if pipeline is not None:
            return pipeline.scanner.detector
        from ..engine.config import ScanConfig
        from ..engine.detect import Detector

        spec = getattr(self.runner, "_spec", None) or {}  # (ExecutorRunner's: the runners that batch are these two)
        return Detector(ScanConfig.from_dict(spec.get("config", {})))

    def _result(self, r: ItemResult) -> None:
        item = r.item
        if item.byte_range is None:
            # The cost of a small item (from the worker), for _batch_limit.
            s = r.seconds
            self._item_seconds = s if self._item_seconds is None else 0.9 * self._item_seconds + 0.1 * s
            self._emit(item, r.findings, r.errors, {"bytes": r.nbytes, "seconds": r.seconds},
                       read=r.sha256 is not None or r.nbytes > 0, obj=r.obj, sha256=r.sha256, allowed=r.allowed)
            return
        key = (item.uri, item.version)
        split = self._splits.get(key)
        if split is None:  # a range handed in from outside: pass it through
            self._emit(item, r.findings, r.errors, {"bytes": r.nbytes}, read=True, allowed=r.allowed)
            return
        split.results[item.byte_range[0]] = r
        if len(split.results) == split.parts:
            del self._splits[key]
            self._merge(split)

    def _merge(self, split: _Split) -> None:
        """Put a split item back together: file lines, one object digest, one record set."""
        lines, last_nl, lines_known = 0, -1, True
        findings: list[Finding] = []
        allowed: list[Finding] = []
        errors: list[ErrorRecord] = []
        seen_errors: set[tuple[str, str]] = set()
        digests: list[tuple[int, int, str]] = []
        nbytes = seconds = 0.0
        for start in sorted(split.results):
            r = split.results[start]
            end = r.item.byte_range[1]  # type: ignore[index]
            for e in r.errors:
                if (e.kind, e.message) not in seen_errors:  # "changed" is seen by every range
                    seen_errors.add((e.kind, e.message))
                    errors.append(e)
            rs = r.range_stats
            if rs is None or not lines_known:
                lines_known = False
                findings += [f.with_location(line=None, column=None) for f in r.findings]
                allowed += [f.with_location(line=None, column=None) for f in r.allowed]
            else:
                findings += RangeStats.fix(r.findings, lines, last_nl)
                allowed += RangeStats.fix(r.allowed, lines, last_nl)
                lines += rs.newlines
                if rs.last_newline is not None:
                    last_nl = rs.last_newline
            if r.sha256 is not None:
                digests.append((start, end, r.sha256))
            nbytes += r.nbytes
            seconds += r.seconds
        item = split.item
        obj = dict(object_meta(item))
        if len(digests) == split.parts:
            obj.update(sha256=ranges_digest(digests), sha256_mode="ranges", sha256_range_size=self.split_size)
        obj = published(obj)  # masked once for all of the item's findings (privacy.Published)
        attach_object(findings, obj)
        attach_object(allowed, obj)
        self._emit(item, findings, errors, {"bytes": int(nbytes), "seconds": seconds, "ranges": split.parts},
                   read=len(digests) == split.parts, sha256=obj.get("sha256"), allowed=allowed)

    def _stamp(self) -> str:
        """``now_iso()``, formatted at most once a second (it is per object)."""
        now = time.monotonic()
        if now - self._stamp_at >= 1.0:
            self._stamp_at, self._stamp_text = now, now_iso()
        return self._stamp_text

    def _carried(self, item: Item, findings: list[Finding]) -> None:
        """An unchanged object: its earlier findings go to the sinks again, nothing is read."""
        t = self.tally
        for f in findings:
            t.finding(f)
            for sink in self.sinks:
                sink.finding(f)
        t.carried_objects += 1
        t.carried_bytes += item.size or 0
        t.carried_findings += len(findings)
        if findings:
            t.objects_with_findings += 1
        stats = {"carried_over": True, "findings": len(findings), "errors": 0}
        for sink in self.sinks:
            sink.end_item(item, stats)
        self._progress_size()
        # A carried object counts as a file done but not as bytes: the bytes
        # (rate, ETA) are what is actually read, and its size leaves the total.
        self.progress.relative_update(files=1, nbytes=0, findings=len(findings))

    def _progress_size(self) -> None:
        c = self._counter
        if c is not None:
            self.progress.set_size(c.files if c.done else None,
                                   c.nbytes - self.tally.carried_bytes if c.done else None)

    def _emit(
        self, item: Item | None, findings: list[Finding], errors: list[ErrorRecord], stats: dict[str, Any],
        read: bool = False, obj: dict[str, Any] | None = None, sha256: str | None = None,
        allowed: list[Finding] | None = None,
    ) -> None:
        t = self.tally
        for f in findings:
            t.finding(f)
            for sink in self.sinks:
                sink.finding(f)
        if allowed:  # allow.py: suppressed, for the sinks that report them (SARIF)
            t.allowed += len(allowed)
            for sink in self.sinks:
                report = getattr(sink, "allowed", None)
                if report is not None:
                    for f in allowed:
                        report(f)
        for e in errors:
            t.error(e)
            for sink in self.sinks:
                sink.error(e)
        if item is not None:
            if read:
                t.objects += 1
                t.bytes += int(stats.get("bytes", 0))
            if findings:
                t.objects_with_findings += 1
        stats = {**stats, "findings": len(findings), "errors": len(errors)}
        for sink in self.sinks:
            sink.end_item(item, stats)
        if self.state is not None and item is not None:
            # Only now: the object's records were written (and flushed) by the sinks.
            self.state.record(item, findings, errors, scanned_at=self._stamp(), obj=obj, sha256=sha256)
        if self._counter is not None:
            self._progress_size()
        if item is not None:
            self.progress.relative_update(files=1, nbytes=item.size or 0, findings=len(findings), errors=len(errors))
        else:
            self.progress.relative_update(files=0, nbytes=0, findings=len(findings), errors=len(errors))


def _taken(queued: tuple[Any, Any]) -> tuple[Any, Any]:
    """A queued (entry, its read's future, None or TO_WORKER) of _read_ahead, as it yields it."""
    e, f = queued
    return e, (f.result() if isinstance(f, Future) else f)


def _read(batch: SmallBatch) -> Any:
    """read_files of a batch, or the exception it raised (handled where the batch is checked)."""
    try:
        return read_files(batch.dir, batch.names, SMALL_FILE, stats=True)
    except Exception as exc:  # noqa: BLE001 - see Sweep._small_files
        return exc


def _wants_clean_items(sink: Any) -> bool:
    """Does ``sink`` want ``end_item`` for an object with no records (see
    BaseSink.wants_clean_items)? Yes unless it says no, or keeps BaseSink's no-op."""
    wants = getattr(sink, "wants_clean_items", None)
    if wants is not None:
        return bool(wants)
    return getattr(type(sink), "end_item", None) is not BaseSink.end_item


def _listing(src: Any, batched: bool = False) -> Iterator[Item | ErrorRecord]:
    """``src.items()`` (``src.batched_items()`` if ``batched``), with a failure
    of the listing itself turned into an error record."""
    it = iter(src.batched_items() if batched else src.items())
    while True:
        try:
            entry = next(it)
        except StopIteration:
            return
        except Exception as exc:  # a source bug or an unexpected client error: report it, go on
            from ..errors import SourceError

            roots = (src.root_uris if isinstance(src, RootedSource) else None) or [getattr(src, "url", "") or getattr(src, "name", "source")]
            kind = exc.kind if isinstance(exc, SourceError) else "source"
            message = f"listing failed: {type(exc).__name__}: {exc}"  # ErrorRecord masks, then cuts
            log.debug("listing of %s failed", roots[0], exc_info=True)
            yield ErrorRecord(Location(uri=_safe_url(str(roots[0]))), kind, message)
            return
        yield entry


def scan_info(
    sources: list[Any],
    settings: dict[str, Any],
    key: Any,
    key_source: str,
) -> dict[str, Any]:
    """The scan record's fields (without type/schema_version). Never the key itself."""
    from .. import __version__, registry

    described: list[dict[str, Any]] = []
    for s in sources:
        if isinstance(s, DescribedSource):
            out = s.describe()
            described += out if isinstance(out, list) else [out]
        else:
            described.append({"name": getattr(s, "name", type(s).__name__), "url": _safe_url(getattr(s, "url", ""))})
    described = [_sealed_source(d, key) for d in described]
    plugins = {g.split(".", 1)[1]: registry.names(g) for g in registry.GROUPS}
    failed = load_failures()
    return {
        "cardscan_version": __version__,
        "started": now_iso(),
        "host": os.uname().nodename,  # gethostname(); socket is not imported for it
        "user": _user(),
        "python": sys.version.split()[0],  # platform.python_version()
        "platform": platform_name(),
        "sources": described,
        "settings": settings,
        "key_id": key.key_id,
        "key_source": key_source,
        "plugins": plugins,
        **({"plugin_errors": {"decoders": failed}} if failed else {}),
    }


def _sealed_source(d: dict[str, Any], key: Any) -> dict[str, Any]:
    """A source's description as the manifest writes it: a url named with a
    card number (``root_<PAN>/``, a bucket ``4556-...``) is masked by the
    boundary, so the real one is sealed beside it for remediation
    (:func:`cardscan.remediate.runner.unseal_sources`)."""
    from ..privacy import mask_name

    url = d.get("url")
    if not isinstance(url, str) or mask_name(url) is url or not hasattr(key, "seal"):
        return d
    return {**d, "url": mask_name(url), "url_sealed": key.seal(url.encode("utf-8", "surrogateescape"))}


def platform_name() -> str:
    """``platform.platform(terse=True)`` (``Linux-6.1.0-x86_64-with-glibc2.36``)
    without its ``uname -p`` child process, ~5 ms of every start-up: on
    Linux with glibc from ``os.uname`` and ``CS_GNU_LIBC_VERSION`` (what
    ``uname -p`` prints there, ``unknown`` or the machine, the platform module
    leaves out too). Elsewhere, the platform module's own answer."""
    u = os.uname()
    try:
        libc, _, version = (os.confstr("CS_GNU_LIBC_VERSION") or "").partition(" ")
    except (ValueError, OSError):
        libc = version = ""
    if u.sysname != "Linux" or libc != "glibc" or not version:
        import platform

        return platform.platform(terse=True)
    name = "-".join(x.strip() for x in (u.sysname, u.release, u.machine, "with", libc + version) if x)
    for c in ' /\\:;"()':  # the platform module's clean-up, for a file name
        name = name.replace(c, "_" if c == " " else "-")
    name = name.replace("unknown", "")
    while "--" in name:
        name = name.replace("--", "-")
    return name.rstrip("-")


def _user() -> str:
    try:
        import pwd

        return pwd.getpwuid(os.getuid()).pw_name
    except (ImportError, KeyError, AttributeError):
        return os.environ.get("USER", "")


def _safe_url(url: str) -> str:
    """``url`` without a password."""
    from urllib.parse import urlsplit, urlunsplit

    try:
        parts = urlsplit(url)
    except ValueError:
        return ""
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = unquote(parts.username or "")
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}" if user else netloc))


def run_in_process(sources: list[Any], spec: dict[str, Any], sinks: list[Any], **kwargs: Any) -> dict[str, Any]:
    """A sweep with ``--jobs 1`` semantics (library convenience, tests); ``spec``: see
    :meth:`cardscan.pipeline.Pipeline.spec`."""
    return Sweep(sources, InProcessRunner(spec), sinks, **kwargs).run()
