"""Process plumbing for a sweep's workers: one Pipeline per process (or thread).

The scanning itself is :class:`cardscan.pipeline.Pipeline`; this module only
gets one built where the work runs and hands it the items:

* a local process pool: :func:`init_pool_worker` (the pool initializer)
  builds the process's pipeline from its spec once; tasks run
  :func:`scan_batch`;
* an executor without an initializer (a thread pool, a foreign executor):
  :func:`scan_batch_with` carries the spec with each task and builds the
  pipeline once per process and spec;
* Dask: the worker plugin (run/dask.py) calls :func:`register_spec` once
  per worker process; :func:`scan_batch_registered` tasks carry only a token,
  and each executing thread builds its own pipeline.

Results go back to the parent as :class:`~cardscan.pipeline.ItemResult`
(findings and error records, never bytes of the scanned content). Only the
parent writes sinks and progress.
"""
from __future__ import annotations

import gc
import hashlib
import io
import logging
import os
import struct
import threading
import time
from typing import Any, Callable

from ..pipeline import ItemResult, Pipeline
from ..privacy import PublishedOver
from ..sources.base import Item

#: This process's pipeline (set by the pool initializer): a process-wide
#: global is what a pool initializer can hand to later tasks.
_PIPELINE: Pipeline | None = None
_TOKEN: Any = None


def init_worker(spec: dict[str, Any]) -> None:
    """Build this process's pipeline from ``spec`` (see :meth:`Pipeline.spec`)."""
    global _PIPELINE, _TOKEN
    _PIPELINE = Pipeline.from_spec(spec)
    _TOKEN = None


def init_pool_worker(spec: dict[str, Any]) -> None:
    """Pool initializer: like :func:`init_worker`, and leave Ctrl-C to the parent.

    The terminal sends SIGINT to the whole process group; the parent decides
    how to stop (cancel, terminate, write the summary), so workers ignore it.
    """
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)
    from ..privacy import install_boundary

    # Every record made here (pypdf's, botocore's, ``warnings``) is masked,
    # with or without a level set: a spawned worker inherits nothing of the parent's.
    install_boundary()
    level = spec.get("log_level")
    if level:
        handler = logging.StreamHandler()
        handler.setFormatter(logging.Formatter(f"cardscan[{os.getpid()}]: %(levelname)s %(name)s: %(message)s"))
        install_boundary(handler)
        root = logging.getLogger("cardscan")
        root.setLevel(level.upper())
        root.addHandler(handler)
        root.propagate = False
    init_worker(spec)
    # A pool worker's pipeline and modules live as long as the process: kept
    # out of the collector's full collections (see Sweep.run).
    gc.freeze()


def pipeline() -> Pipeline:
    """This process's pipeline (after :func:`init_worker`)."""
    if _PIPELINE is None:
        raise RuntimeError("cardscan worker used before init_worker(spec)")
    return _PIPELINE


def scan_batch(items: list[Item]) -> list[ItemResult]:
    """Scan several small items in one task (amortises the per-task cost)."""
    p = pipeline()
    return [p.scan_item(item) for item in items]


def scan_batch_lean(items: list[Item]) -> list[ItemResult]:
    """:func:`scan_batch` whose results leave out their item (``item`` None):
    the parent has the unit, and pickling each item back cost a few us per
    small file on both sides. The runner puts the items back, in order."""
    results = scan_batch(items)
    for r in results:
        r.item = None  # type: ignore[assignment]
    return results


def spec_token(spec: dict[str, Any]) -> str:
    """A digest naming one spec (which workers were initialised with what)."""
    return hashlib.sha256(repr(sorted((k, repr(v)) for k, v in spec.items())).encode()).hexdigest()


def scan_batch_with(spec: dict[str, Any], items: list[Item]) -> list[ItemResult]:
    """:func:`scan_batch` for executors without an initializer (a thread pool, a
    foreign executor): the spec travels with each task and builds the
    process's pipeline once."""
    global _TOKEN
    token = spec_token(spec)
    if _PIPELINE is None or token != _TOKEN:
        init_worker(spec)
        _TOKEN = token
    return scan_batch(items)


#: Specs registered on this process by token (the Dask worker plugin, run/dask.py).
_REGISTERED: dict[str, dict[str, Any]] = {}
_LOCAL = threading.local()


def register_spec(token: str, spec: dict[str, Any]) -> None:
    """Make ``spec`` available to :func:`scan_batch_registered` tasks in this
    process (a Dask worker), and put its logging behind the output boundary."""
    from ..privacy import install_boundary

    install_boundary()
    _REGISTERED[token] = spec


def scan_batch_registered(token: str, items: list[Item]) -> list[ItemResult]:
    """:func:`scan_batch` with the spec registered once per process (Dask).

    The task carries only the token. Each executing thread builds its own
    pipeline from the registered spec, once: a Dask worker may run several
    tasks at the same time in threads.
    """
    pipelines = getattr(_LOCAL, "pipelines", None)
    if pipelines is None:
        pipelines = _LOCAL.pipelines = {}
    p = pipelines.get(token)
    if p is None:
        spec = _REGISTERED.get(token)
        if spec is None:
            raise RuntimeError("cardscan spec is not registered in this worker (the worker plugin did not run)")
        p = pipelines[token] = Pipeline.from_spec(spec)
    return [p.scan_item(item) for item in items]


#: The source that lists a batch's files where a worker reads them (a source
#: that batches has no options: ``FileSource.can_batch``).
_BATCH_SOURCE: Any = None


def scan_small_files(dirpath: str, uri: str, names: tuple[str, ...], split_size: int) -> tuple[
        list[ItemResult], list[Any], int, int]:
    """A :class:`~cardscan.sources.fs.SmallBatch` as a unit (``ExecutorRunner``
    once its pool is up): read, pre-checked and scanned here as the sweep does
    it in the parent (``Sweep._small_files``), so the parent only tallies.

    Gives (the results of the files scanned, the entries left for the parent:
    error records as ``batch_entry`` lists them, items bigger than
    ``split_size`` (the sweep may split them) and the files not scanned once
    :data:`BATCH_SECONDS` were spent, the number of clean files, their bytes).
    """
    p = pipeline()
    return small_files(p, p.scan_item, dirpath, uri, names, split_size)


#: Seconds of scanning a batch's flagged files in one task: the rest go back
#: to the parent as items, units of their own for any worker. A batch of 20,000
#: small log lines' files takes ~4 ms; 256 files of digits of 1 MB each would
#: otherwise hold one worker for a minute, the others idle and no progress.
BATCH_SECONDS = 0.1


def small_files(p: Pipeline, scan: Callable[[Item], ItemResult | None], dirpath: str, uri: str,
                names: tuple[str, ...], split_size: int) -> tuple[list[ItemResult], list[Any], int, int]:
    """:func:`scan_small_files` with ``p``, its files that need a scan given to
    ``scan`` (``p.scan_item``; or ``p.scan_plain`` in a parent: a file it
    declines, None, is left to the parent as the others are)."""
    global _BATCH_SOURCE
    from ..pipeline import SMALL_FILE, batch_verdicts
    from ..sources.fs import FileSource, SmallBatch, read_files

    if _BATCH_SOURCE is None:
        _BATCH_SOURCE = FileSource([])
    src = _BATCH_SOURCE
    batch = SmallBatch(dirpath, uri, tuple(names))
    read: dict[str, Any] = {}
    try:
        data, ends, status, stats = read_files(dirpath, batch.names, SMALL_FILE, stats=True)
        clean, nbytes, plain = batch_verdicts(p.scanner.detector, batch.names, data, ends, status)
        read = {"data": data, "ends": ends, "status": status, "stats": stats, "plain": plain}
    except Exception:  # noqa: BLE001 - as in the parent: each file goes the item way
        logging.getLogger("cardscan.run.worker").debug("batch read failed; its files are scanned one by one",
                                                       exc_info=True)
        clean, nbytes = set(), 0
    results: list[ItemResult] = []
    left: list[Any] = []
    until = time.perf_counter() + BATCH_SECONDS
    # As the parent's Sweep._small_files: a file read whole is scanned from
    # the batch's bytes (if still the same file, fs._still).
    for entry in src.batch_entries(batch, clean, **read):
        r = None
        if isinstance(entry, Item) and (entry.size or 0) <= split_size and time.perf_counter() < until:
            r = scan(entry)
        if r is not None:
            results.append(r)
        else:
            left.append(entry)
    return results, left, len(clean), nbytes


# -- a worker forked from the parent (executor.ForkedWorkers) -------------------------------
#: A message's header: the length of the pickle that follows.
HEADER = struct.Struct("<Q")


def _dumps(pickle: Any, answer: Any) -> bytes:
    """``pickle.dumps(answer)``, with each object's metadata that is a
    :class:`~cardscan.privacy.PublishedOver` sent as its two parts
    (:func:`published_over`): the shared part (a directory's owner, mode,
    exposure, readers), one object for the files that share it, goes once
    per message (the pickle's memo), and is one object in the parent too,
    whose manifest writer then encodes it once (manifest._object_text),
    as for a file it scanned itself. Of a batch with 100 flagged files:
    ~100 dicts, lists and strings fewer to build there, and to encode."""
    global _DISPATCH
    if _DISPATCH is None:
        import copyreg

        _DISPATCH = {**copyreg.dispatch_table, PublishedOver: _reduce_over}
    buf = io.BytesIO()
    pickler = pickle.Pickler(buf, pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _DISPATCH
    pickler.dump(answer)
    return buf.getvalue()


#: The dispatch table of :func:`_dumps` (copyreg's, and PublishedOver's reduce).
_DISPATCH: dict[Any, Any] | None = None


def _reduce_over(obj: Any) -> Any:
    # (privacy.published_over's record is {**base, **extra}, in that order.)
    return (published_over, (obj.base, obj.extra))


def published_over(base: Any, extra: Any) -> Any:
    """The :class:`~cardscan.privacy.PublishedOver` record :func:`_dumps`
    sent, rebuilt from its parts: ``{**base, **extra}``, in that order, as
    privacy.published_over built it in the worker. Both parts arrive as
    :class:`~cardscan.privacy.Published` records (checked there, as a
    plain Published record sent whole is: its own reduce rebuilds it as it
    came), so nothing is checked again here."""
    out = PublishedOver(base)
    _update(out, extra)  # (dict's own: a Published record refuses its update, being read-only once built)
    out.base, out.extra = base, extra
    return out


_update = dict.update


def serve_forked(p: Pipeline, requests: int, replies: int) -> None:
    """The loop of a worker forked from the sweep's own process (see
    executor.ForkedWorkers): it has the parent's modules and pipeline already.
    Reads (number, kind, payload) requests from the fd ``requests`` until end
    of file (the parent is done, or gone), writes (number, results) back to
    ``replies``; ``kind`` is ``batch`` (a SmallBatch's dir, uri, names and the
    split size: :func:`scan_small_files`' answer) or ``items`` (a unit:
    :func:`scan_batch_lean`'s). A failed task answers (number, None): the
    parent then scans its items again elsewhere. Nothing is written anywhere
    else: the sinks, the state and the progress are the parent's.
    """
    global _PIPELINE
    _PIPELINE = p
    with os.fdopen(requests, "rb") as rd, os.fdopen(replies, "wb") as wr:
        while True:
            head = rd.read(HEADER.size)
            if len(head) < HEADER.size:
                return
            import pickle  # (once there is a request: the parent's scan may send none)

            (size,) = HEADER.unpack(head)
            number, kind, payload = pickle.loads(rd.read(size))
            try:
                answer: Any = (scan_small_files(*payload) if kind == "batch" else scan_batch_lean(payload))
            except Exception:  # noqa: BLE001 - the parent retries the unit elsewhere
                logging.getLogger("cardscan.run.worker").debug("forked worker task failed", exc_info=True)
                answer = None
            data = _dumps(pickle, (number, answer))
            wr.write(HEADER.pack(len(data)))
            wr.write(data)
            wr.flush()
