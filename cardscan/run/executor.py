"""Runners: take work units (lists of items) and give back their results.

The seam is :class:`ExecutorRunner`, which drives *any*
``concurrent.futures.Executor``-like object (``submit`` returning futures):
the local ``ProcessPoolExecutor`` built by :func:`process_pool`, or a Dask
``distributed.Client.get_executor()``. It keeps a bounded window of units in
flight, so the walk that produces them stays streaming, and yields results as
they complete (unordered, like ``imap_unordered``).

Dask plugs in through the same class (run/dask.py): its ``ClientExecutor``
is an Executor, and ``task`` names the function each unit is submitted to.

``--jobs 1`` uses :class:`InProcessRunner`: no pool, no pickling. A sweep
with a single unit of work never starts a pool either (``one item, no pool``).
An owned pool starts on a thread; until its first worker answers, the
parent scans the small plain files of the units itself
(:meth:`~cardscan.pipeline.Pipeline.scan_plain`) and keeps the rest of each
unit for the workers.

A worker process that dies (out of memory, a crash in a native decoder)
breaks a process pool: the runner rebuilds the pool (when it owns it) and
retries the affected items one by one; an item that kills a worker twice
becomes an ``internal`` error record. No item is ever dropped silently.
"""
from __future__ import annotations

import errno
import logging
import os
import signal
import sys
import threading
import time
from collections import deque
from concurrent.futures import FIRST_COMPLETED, Executor, Future, wait
from typing import Any, Callable, Iterable, Iterator, Protocol

from ..findings import ErrorRecord, Location
from ..pipeline import ItemResult, Pipeline
from ..sources.base import Item
from . import worker

log = logging.getLogger("cardscan.run.executor")

Unit = list[Item]


class BatchUnit(list):  # type: ignore[type-arg]
    """A unit with no items: a batch of small files (``fs.SmallBatch``) that a
    worker reads, pre-checks and scans itself (:func:`worker.scan_small_files`).

    The sweep makes it (``Sweep._small_files``, when the runner says
    ``batch_units``) with two callbacks of its own: ``settle(payload)`` takes
    the worker's answer (tallies the clean files, emits the error records)
    and gives (the results, units of the files left to the sweep: big ones it
    may split); ``relist()`` gives the batch's files as units of items, as
    the parent path lists them, for the one-by-one retry after a dead worker.
    """

    def __init__(self, batch: Any, split_size: int,
                 settle: Callable[[Any], tuple[list[ItemResult], list[Unit]]],
                 relist: Callable[[], list[Unit]]) -> None:
        super().__init__()
        self.batch = batch
        self.split_size = split_size
        self.settle = settle
        self.relist = relist
#: How often a waiting parent checks whether it was asked to stop (seconds).
POLL = 0.2


def default_jobs() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


class Runner(Protocol):
    def run(self, units: Iterable[Unit], should_stop: Callable[[], bool] = ...) -> Iterator[tuple[Unit, list[ItemResult]]]:
        ...

    def shutdown(self, cancel: bool = False) -> None:
        ...


class InProcessRunner:
    """Scans units in this process, one after another (``--jobs 1``), with its own pipeline."""

    #: The sweep may read small local files in batches itself (see Sweep._small_files), in line.
    small_batches = True
    read_ahead = False

    def __init__(self, spec: dict[str, Any]) -> None:
        self.pipeline = Pipeline.from_spec(spec)

    def run(
        self, units: Iterable[Unit], should_stop: Callable[[], bool] = lambda: False
    ) -> Iterator[tuple[Unit, list[ItemResult]]]:
        for unit in units:
            results = []
            for item in unit:
                if should_stop():
                    return
                results.append(self.pipeline.scan_item(item))
            yield unit, results

    def scan_plain(self, unit: Unit, should_stop: Callable[[], bool]) -> tuple[list[ItemResult], list[Item]]:
        """(results of the unit's small plain files, the items left for a worker)."""
        done: list[ItemResult] = []
        later: list[Item] = []
        for item in unit:
            r = None if should_stop() else self.pipeline.scan_plain(item)
            if r is None:
                later.append(item)
            else:
                done.append(r)
        return done, later

    def shutdown(self, cancel: bool = False) -> None:
        pass


def process_pool(spec: dict[str, Any], jobs: int) -> Callable[[], Executor]:
    """A factory of local process pools whose workers build their pipeline from ``spec``.

    Uses the ``forkserver`` start method where available: the parent may run
    threads (progress, counting walk), and forking a threaded process can
    deadlock the child. Workers are forked from a server that has imported
    the worker module once, so start-up stays cheap (see :func:`_forkserver`
    for how it finds the same cardscan as this process).
    """
    def make() -> Executor:
        # Imported when a pool starts, not when the runner is made: multiprocessing and
        # concurrent.futures.process (~15 ms) are start-up time of every sweep, and one
        # with nothing or one unit to scan never starts a pool.
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        methods = multiprocessing.get_all_start_methods()
        ctx = multiprocessing.get_context("forkserver" if "forkserver" in methods else None)
        if "forkserver" in methods:
            _forkserver(ctx)
        return ProcessPoolExecutor(
            max_workers=jobs, mp_context=ctx, initializer=worker.init_pool_worker, initargs=(spec,)
        )

    make.jobs = jobs  # type: ignore[attr-defined]
    #: Its workers may instead be forked from the sweep's own process (ExecutorRunner.prepare):
    #: they build the same pipeline from the same spec, which that process has built already.
    make.forkable = True  # type: ignore[attr-defined]
    return make


_FORKSERVER_LOCK = threading.Lock()


def _forkserver(ctx: Any) -> None:
    """Start the forkserver (once per process) so that it imports what this process imports.

    The server is a fresh ``python -c`` process: its ``sys.path`` starts
    with the working directory, and Python before 3.12 ignores the parent's
    path it is handed. Run from a checkout of cardscan (a contributor's
    working tree), it would preload the checkout's ``cardscan/`` instead of
    the one this process runs, and every worker forked from it would too.
    So the server starts with this process's ``sys.path`` as ``PYTHONPATH``
    and ``PYTHONSAFEPATH`` (no working directory; Python 3.11+). Where that
    is not available, nothing of cardscan is preloaded: each worker imports
    it after taking the parent's ``sys.path`` (spawn's preparation step).
    """
    from multiprocessing import forkserver

    with _FORKSERVER_LOCK:
        if sys.version_info < (3, 11):
            ctx.set_forkserver_preload([])
            return
        ctx.set_forkserver_preload(["cardscan.run.worker"])
        # Only the server inherits this environment (it is started here, or
        # restarted here if it died); set for the moment it takes to start.
        path = os.pathsep.join(os.path.abspath(p) if p else os.getcwd() for p in sys.path)
        saved = {k: os.environ.get(k) for k in ("PYTHONPATH", "PYTHONSAFEPATH")}
        os.environ["PYTHONPATH"], os.environ["PYTHONSAFEPATH"] = path, "1"
        try:
            forkserver.ensure_running()
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v


#: Units a forked worker holds at once (sent, not answered yet): the next is
#: there when it finishes one, and the parent scans what is left meanwhile.
FORK_DEPTH = 3
#: A forked worker's answer when it died, or its task failed (see ForkedWorkers.wait).
FAILED = object()


def fork_safe() -> bool:
    """May this process fork workers from itself? Only on Linux (elsewhere a
    system library may not survive a fork: macOS) and only while it runs one
    thread: a thread holding a lock (logging's, an allocator's) at the fork
    would hold it forever in the child. Threads of a C library count too
    (``/proc/self/task``), not only ``threading``'s."""
    if not sys.platform.startswith("linux") or not hasattr(os, "fork"):
        return False
    if threading.active_count() != 1 or threading.current_thread() is not threading.main_thread():
        return False
    # A thread threading saw end (joined: the CLI's key id thread) is still in
    # the kernel's list for a moment while it leaves (about half of the checks made at
    # once after a join; longer on a busy machine): such a sweep forked
    # nothing and ran its tree on one core. So a few short looks, ~10 ms at
    # most (a C library's live thread costs a sweep that much, once).
    for _ in range(FORK_LOOKS):
        try:
            if len(os.listdir("/proc/self/task")) == 1:
                return True
        except OSError:
            return False
        time.sleep(0.0005)
    return False


#: How often fork_safe looks for threads still leaving (0.5 ms apart).
FORK_LOOKS = 20


#: A file this big, or a byte range, is a child's whole FORK_DEPTH (_weight).
BIG_UNIT = 1 << 20


def _weight(unit: Unit) -> int:
    """A unit's share of a child's FORK_DEPTH: all of it for a byte range or
    a big file (~0.1 s and more each: queued behind one, another would wait
    while a child that is done sits idle), else one."""
    if isinstance(unit, BatchUnit):
        return 1
    big = any(i.byte_range is not None or (i.size or 0) >= BIG_UNIT for i in unit)
    return FORK_DEPTH if big else 1


class _Child:
    """One forked worker, as its parent sees it."""

    def __init__(self, pid: int, requests: int, replies: int) -> None:
        self.pid, self.requests, self.replies = pid, requests, replies
        self.out = bytearray()  # request bytes the pipe did not take yet (it was full)
        self.inbox = bytearray()  # reply bytes not yet a whole message
        self.sent: dict[int, Unit] = {}  # request number -> unit
        self.load = 0  # the units' weights (_weight)
        self.alive = True


#: What ForkedWorkers._flush blocks while writing to a child (Linux only: forked workers are).
_SIGPIPE = frozenset({signal.SIGPIPE}) if hasattr(signal, "SIGPIPE") else frozenset()


class ForkedWorkers:
    """Workers forked from the sweep's own process (``ExecutorRunner.prepare``).

    A process-pool worker (forkserver) is a fresh interpreter that imports
    cardscan and builds its pipeline: ~0.15 s of CPU each, up 0.15-0.3 s
    after being asked, longer than a sweep of 20,000 small files takes. A
    fork of this process has all of that already and is up in a few ms.
    Forking is safe only while this process runs a single thread (see
    :func:`fork_safe`): the sweep asks before it starts any of its own.

    Each child serves requests from a pipe (:func:`worker.serve_forked`) and
    answers on another: units go as pickles of plain data, results come back
    as a pool's do; only this process writes sinks, state and progress. Its
    ends of the pipes are non-blocking, with what a full pipe did not take
    kept for later, so neither side can wait on the other forever. A child
    exits at end of file on its requests: this process closed them, or died.
    """

    def __init__(self, p: Pipeline, n: int) -> None:
        import select  # (a module of the standard library in C: no start-up cost to speak of)

        self._select = select.select
        self._pipeline = p
        self.children: list[_Child] = []
        #: The children every unit may go to; any after them are a reserve (free()).
        self.active = n
        self._number = 0
        try:
            for _ in range(n):
                self.grow()
        except BaseException:
            self.close(kill=True)
            raise

    def grow(self) -> None:
        """Fork one more child (the caller checked :func:`fork_safe`)."""
        import signal

        for stream in (sys.stdout, sys.stderr):  # nothing buffered here is written twice
            try:
                stream.flush()
            except (AttributeError, OSError, ValueError):
                pass
        # This process's ends of the other children's pipes: closed in the new one, or
        # a child that dies would leave its replies open (no end of file seen here).
        ours = [fd for c in self.children if c.alive for fd in (c.requests, c.replies)]
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        try:
            pid = os.fork()
        except BaseException:
            for fd in (req_r, req_w, rep_r, rep_w):
                os.close(fd)
            raise
        if pid == 0:  # the child: serve, then leave without running this process's exit code
            code = 1
            try:
                for fd in (*ours, req_w, rep_r):
                    os.close(fd)
                signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
                signal.signal(signal.SIGTERM, signal.SIG_DFL)
                worker.serve_forked(self._pipeline, req_r, rep_w)
                code = 0
            finally:
                os._exit(code)  # (no atexit, no flush of buffers that are the parent's)
        os.close(req_r)
        os.close(rep_w)
        os.set_blocking(req_w, False)
        os.set_blocking(rep_r, False)
        self.children.append(_Child(pid, req_w, rep_r))

    @property
    def alive(self) -> bool:
        return all(c.alive for c in self.children) and bool(self.children)

    def free(self, reserve: bool = False) -> _Child | None:
        """The child with the least work, if it holds less than FORK_DEPTH
        units' worth: of the first :attr:`active` children, or of all with
        ``reserve`` (work the parent does not take: see ExecutorRunner.prepare)."""
        children = self.children if reserve else self.children[:self.active]
        best = min((c for c in children if c.alive), key=lambda c: c.load, default=None)
        return best if best is not None and best.load < FORK_DEPTH else None

    def busy(self) -> int:
        """Units sent and not answered yet."""
        return sum(len(c.sent) for c in self.children)

    def send(self, child: _Child, unit: Unit) -> None:
        if isinstance(unit, BatchUnit):
            b = unit.batch
            request: tuple[Any, ...] = ("batch", (b.dir, b.uri, b.names, unit.split_size))
        else:
            request = ("items", list(unit))
        self._number += 1
        import pickle  # (here, not at import: a scan that sends nothing never needs it; start-up)

        data = pickle.dumps((self._number, *request), pickle.HIGHEST_PROTOCOL)
        child.out += worker.HEADER.pack(len(data)) + data
        child.sent[self._number] = unit
        child.load += _weight(unit)
        self._flush(child)

    def _flush(self, child: _Child) -> None:
        if not child.out:
            return
        # A child that died leaves a pipe with no reader: a write raises
        # SIGPIPE, which kills a host program that has it at its default (a
        # CLI tool's set-up; Python ignores it). Blocked while writing, and
        # one raised taken back before unblocking: the write's EPIPE says it.
        blocked = signal.pthread_sigmask(signal.SIG_BLOCK, _SIGPIPE)
        try:
            while child.out:
                try:
                    n = os.write(child.requests, child.out)
                except BlockingIOError:
                    return
                except OSError as exc:  # its end is closed: it died (wait() sees the end of its replies)
                    child.out.clear()
                    if exc.errno == errno.EPIPE and signal.SIGPIPE not in blocked:
                        signal.sigtimedwait(_SIGPIPE, 0)
                    return
                del child.out[:n]
        finally:
            if signal.SIGPIPE not in blocked:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, _SIGPIPE)

    def wait(self, timeout: float) -> list[tuple[Unit, Any]]:
        """(unit, answer) for each unit answered within ``timeout``
        seconds (0: only what is there). ``answer`` is FAILED for each unit
        of a child that died, and for a task that failed."""
        live = [c for c in self.children if c.alive]
        if not live:
            return []
        readable, writable, _ = self._select([c.replies for c in live], [c.requests for c in live if c.out],
                                             [], timeout)
        done: list[tuple[Unit, Any]] = []
        for c in live:
            if c.requests in writable:
                self._flush(c)
            if c.replies not in readable:
                continue
            try:
                chunk = os.read(c.replies, 1 << 20)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            if not chunk:  # end of file: the child is gone, with what it held
                self._reap(c, kill=True)
                done += [(unit, FAILED) for unit in c.sent.values()]
                c.sent.clear()
                continue
            c.inbox += chunk
            size = worker.HEADER.size
            while len(c.inbox) >= size:
                (n,) = worker.HEADER.unpack_from(c.inbox)
                if len(c.inbox) < size + n:
                    break
                import pickle  # (see send)

                number, answer = pickle.loads(bytes(c.inbox[size:size + n]))
                del c.inbox[:size + n]
                unit = c.sent.pop(number)
                c.load -= _weight(unit)
                done.append((unit, FAILED if answer is None else answer))
        return done

    def _reap(self, c: _Child, kill: bool) -> None:
        if not c.alive:
            return
        c.alive = False
        for fd in (c.requests, c.replies):
            try:
                os.close(fd)  # its requests at end of file: it leaves after its task
            except OSError:
                pass
        if kill:
            try:
                os.kill(c.pid, 9)  # (SIGKILL; a child it is not yet is reaped all the same)
            except OSError:
                pass
        try:
            os.waitpid(c.pid, 0)
        except ChildProcessError:
            pass

    def units(self) -> list[Unit]:
        """Units sent and not answered (to hand to another runner)."""
        return [u for c in self.children for u in c.sent.values()]

    def close(self, kill: bool = False) -> None:
        """End the children: at once (``kill``), or after their current task."""
        for c in self.children:
            self._reap(c, kill)


class ExecutorRunner:
    """Runs units on an executor with at most ``window`` units in flight.

    ``executor`` is either an Executor (not owned: never shut down or rebuilt
    here, e.g. a Dask client's) or a zero-argument factory of one (owned:
    built on first use, rebuilt if a worker dies, terminated on stop).
    ``initialized`` says whether its workers built their pipeline from the
    spec already (a pool initializer); if not, the spec travels with each
    task. ``task`` (a picklable ``unit -> list[ItemResult]``) overrides both:
    the Dask runner submits units to a function that finds the spec
    registered once per worker.
    """

    #: CPU seconds of scanning small plain files in this process before a pool starts (see _loop).
    START_AFTER = 1.0
    #: Fork the workers from this process where it may (prepare()); False: a pool, as without fork.
    FORK = True

    def __init__(
        self,
        executor: Executor | Callable[[], Executor],
        spec: dict[str, Any],
        *,
        window: int | None = None,
        initialized: bool = False,
        jobs: int | None = None,
        task: Callable[[Unit], list[ItemResult]] | None = None,
    ) -> None:
        if isinstance(executor, Executor) or hasattr(executor, "submit"):
            self._executor: Any = executor
            self._factory: Callable[[], Executor] | None = None
        else:
            self._executor = None
            self._factory = executor
        #: A local pool of its own: the sweep may read small local files in batches
        #: itself (Sweep._small_files); a foreign executor (Dask) reads every file where it runs.
        self.small_batches = self._factory is not None
        #: ... on a thread of its own, ahead of the scan (Sweep._read_ahead): there is more than one core to use.
        self.read_ahead = self.small_batches
        #: Set once the owned pool is up, with more than one job (_loop): the sweep
        #: then sends batches of small files to the workers as units (BatchUnit),
        #: and this process no longer reads and pre-checks each (it would be the limit).
        self.batch_units = False
        self._jobs = jobs or getattr(executor, "jobs", None) or default_jobs()
        self._spec = spec
        self._initialized = initialized
        self._task = task
        jobs = jobs or getattr(executor, "jobs", None) or default_jobs()
        self.window = window or max(2, 4 * jobs)
        self._generation = 0
        self._in_process: InProcessRunner | None = None
        #: (thread, its result box) while an owned pool starts in the background.
        self._starting: tuple[threading.Thread, dict[str, Any]] | None = None
        #: Workers forked from this process (prepare()), in place of the pool while they live.
        self._forked: ForkedWorkers | None = None

    # -- executor management -------------------------------------------------
    def _get(self) -> Any:
        if self._executor is None:
            assert self._factory is not None
            self._executor = self._factory()
        return self._executor

    def _submit(self, unit: Unit) -> Future:
        ex = self._get()
        if isinstance(unit, BatchUnit):
            b = unit.batch
            return ex.submit(worker.scan_small_files, b.dir, b.uri, b.names, unit.split_size)
        if self._task is not None:
            return ex.submit(self._task, unit)
        if self._initialized:
            return ex.submit(worker.scan_batch_lean, unit)
        return ex.submit(worker.scan_batch_with, self._spec, unit)

    def _rebuild(self) -> None:
        log.warning("a worker process died; restarting the pool and retrying its items one by one")
        old, self._executor = self._executor, None
        _terminate(old)
        self._generation += 1

    def _start_pool(self) -> None:
        """Build the owned pool in a thread: its workers take a while to come up
        (a forkserver importing cardscan, each worker building its pipeline:
        ~0.2-0.5 s), and meanwhile this process scans units itself. (Starting
        the forkserver sets PYTHONPATH for a moment; the scan meanwhile is of
        plain files only, whose code reads no environment variable.)"""
        if self._factory is None or self._executor is not None or self._starting is not None:
            return
        box: dict[str, Any] = {}
        factory = self._factory

        def build() -> None:
            try:
                ex = factory()
                box["executor"] = ex
                ex.submit(_ready).result()  # returns once a worker has built its pipeline
            except BaseException as exc:  # noqa: BLE001 - the loop then builds the pool itself and sees it fail
                box["error"] = exc

        thread = threading.Thread(target=build, name="cardscan-pool-start", daemon=True)
        thread.start()
        self._starting = (thread, box)

    def _unstarted(self) -> bool:
        """An owned pool not asked for yet (see _loop: batches of small files start none at once)."""
        return self._factory is not None and self._executor is None and self._starting is None

    def _pool_ready(self, wait: bool = False) -> bool:
        """Is the background start over (after ``wait``ing for it)? Then its pool is ours."""
        if self._starting is None:
            return True
        thread, box = self._starting
        if wait:
            thread.join()
        if thread.is_alive():
            return False
        self._starting = None
        if "error" in box:  # the next _get() builds a pool again, and raises what it raises
            _terminate(box.get("executor"))
        else:
            self._executor = box["executor"]
        return True

    def prepare(self) -> None:
        """Fork the workers from this process now, if it may (:func:`fork_safe`):
        the sweep calls this before it starts a thread of its own. They take
        the place of the pool (built only if one of them dies); without
        them, the pool starts as :meth:`_loop` says. Only for an owned local
        pool (``process_pool``) of several jobs: ``--jobs 1`` stays one
        process, and a foreign executor (Dask) is used as given."""
        if (not self.FORK or self._forked is not None or self._executor is not None or self._starting is not None
                or not getattr(self._factory, "forkable", False) or self._jobs < 2 or not fork_safe()):
            return
        # The pipeline the children share with this process (built here once: a fork copies it).
        self._in_process = self._in_process or InProcessRunner(self._spec)
        try:
            self._forked = ForkedWorkers(self._in_process.pipeline, self._jobs - 1)
            log.debug("forked %d of %d workers from this process", self._jobs - 1, self._jobs)
        except OSError as exc:  # (out of processes, of memory): the pool's way, as without a fork
            log.debug("forking workers failed (%s); a pool starts when needed", type(exc).__name__)
            return
        # The last job's worker, forked now and held in reserve: it takes only
        # work this process does not (byte ranges, containers, big files:
        # _forked_loop). Where this process takes a share (small files) its
        # scans and a third process's would contend for the cores. Forked
        # later, when such work comes, it was mostly never forked: the sweep
        # runs threads of its own by then (the progress counter), and a big
        # file's ranges went to one worker (the log: slower than --jobs 1).
        try:
            self._forked.grow()
            log.debug("forked worker %d of %d (in reserve)", len(self._forked.children), self._jobs)
        except OSError as exc:  # the workers there are do it
            log.debug("forking worker %d failed (%s); going on with %d", self._jobs, type(exc).__name__,
                      len(self._forked.children))

    def shutdown(self, cancel: bool = False) -> None:
        if self._forked is not None:
            forked, self._forked = self._forked, None
            forked.close(kill=cancel)
        self._pool_ready(wait=True)  # a pool still starting is stopped too, never left behind
        if self._factory is None or self._executor is None:
            return  # not ours to stop
        ex, self._executor = self._executor, None
        if cancel:
            _terminate(ex)
        else:
            ex.shutdown(wait=True)

    # -- the loop ----------------------------------------------------------------
    def run(
        self, units: Iterable[Unit], should_stop: Callable[[], bool] = lambda: False
    ) -> Iterator[tuple[Unit, list[ItemResult]]]:
        it = iter(units)
        if self._forked is not None:
            # Forked workers are up already: batches of small files go to
            # them whole (or are scanned here, _forked_loop), from the first.
            self.batch_units = True
            try:
                yield from self._forked_loop(it, should_stop)
            finally:
                self.batch_units = False
            return
        self.batch_units = False  # (a runner used again: not before its pool is up in this run)
        first = next(it, None)
        if first is None:
            return
        second = next(it, None)
        if second is None and self._factory is not None:
            # One unit of work: no pool (start-up would cost more than the scan).
            self._in_process = self._in_process or InProcessRunner(self._spec)
            yield from self._in_process.run([first], should_stop)
            return
        fresh: deque[Unit] = deque(u for u in (first, second) if u is not None)
        # Items of a unit lost with a dead worker, retried one by one and
        # alone, so that a second death names the item that caused it.
        retry: deque[Unit] = deque()
        pending: dict[Future, tuple[Unit, int, int]] = {}
        try:
            yield from self._loop(it, fresh, retry, pending, should_stop)
        finally:
            self.batch_units = False
            # Stopped (or the consumer went away): work still queued is not
            # wanted. An owned pool is terminated by shutdown(); on a shared
            # executor (a Dask cluster) cancel what this run submitted.
            if pending and self._factory is None:
                for fut in pending:
                    fut.cancel()

    def _loop(
        self, it: Iterator[Unit], fresh: deque[Unit], retry: deque[Unit],
        pending: dict[Future, tuple[Unit, int, int]], should_stop: Callable[[], bool],
    ) -> Iterator[tuple[Unit, list[ItemResult]]]:
        exhausted = False
        # While the pool starts, this process scans what cannot crash it or
        # exhaust it (small plain files, pipeline.scan_plain); the rest of
        # each unit waits for a worker, as a unit of its own.
        deferred: list[Unit] = []
        # Small plain files start no pool at once: this process scans them
        # (and the sweep reads the clean majority of a tree of small files in
        # batches, fs.SmallBatch), and 20,000 of them are over in about the
        # time a pool takes to start (0.3-1 s, on the other core, and its
        # start is waited for). What needs a worker (pipeline.scan_plain
        # declines it), or work lasting past START_AFTER, starts it; from
        # then on as before. Counted in CPU time: on a busy machine a short
        # sweep's wall time grows, its work does not, and a pool would start
        # (and be waited for) just when it helps least; and in wall time too,
        # three times as long, for files that are slow to read (a network
        # share), where workers hide the waits.
        cpu_until = time.process_time() + self.START_AFTER
        wall_until = time.monotonic() + 3 * self.START_AFTER
        while len(deferred) < self.window and (self._unstarted() or not self._pool_ready()):
            if should_stop():
                return
            if self._unstarted() and (deferred or time.process_time() >= cpu_until
                                      or time.monotonic() >= wall_until):
                self._start_pool()
            unit = fresh.popleft() if fresh else next(it, None)
            if unit is None:
                exhausted = True
                break
            self._in_process = self._in_process or InProcessRunner(self._spec)
            done, later = self._in_process.scan_plain(unit, should_stop)
            if later:
                deferred.append(later)
            if done:
                yield [r.item for r in done], done
        fresh.extendleft(reversed(deferred))
        if exhausted and not fresh:
            return  # all done here: shutdown() stops the pool that was starting
        yield from self._pooled(it, fresh, retry, pending, exhausted, should_stop)

    def _pooled(
        self, it: Iterator[Unit], fresh: deque[Unit], retry: deque[Unit],
        pending: dict[Future, tuple[Unit, int, int]], exhausted: bool, should_stop: Callable[[], bool],
    ) -> Iterator[tuple[Unit, list[ItemResult]]]:
        """The pool's part of :meth:`_loop` (started now if it is not)."""
        if self._unstarted():
            self._start_pool()
        self._pool_ready(wait=True)
        self.batch_units = (self._factory is not None and self._initialized and self._task is None
                            and self._jobs > 1)
        while True:
            while len(pending) < self.window and not should_stop():
                if retry:
                    if pending:
                        break
                    unit, attempt = retry.popleft(), 1
                elif fresh:
                    unit, attempt = fresh.popleft(), 0
                elif not exhausted:
                    nxt = next(it, None)
                    if nxt is None:
                        exhausted = True
                        continue
                    unit, attempt = nxt, 0
                else:
                    break
                pending[self._submit(unit)] = (unit, attempt, self._generation)
            if should_stop() or not pending:
                return
            finished, _ = wait(list(pending), timeout=POLL, return_when=FIRST_COMPLETED)
            for fut in finished:
                unit, attempt, generation = pending.pop(fut)
                try:
                    results = fut.result()
                    for r, item in zip(results, unit):
                        if r.item is None:  # scan_batch_lean: the item stayed here
                            r.item = item
                except BaseException as exc:  # noqa: BLE001 - any failure of the task, never of the parent
                    if isinstance(exc, (KeyboardInterrupt, SystemExit)):
                        raise
                    again = self._factory is not None and attempt == 0
                    if _broken_pool(exc) and generation == self._generation and self._factory:
                        self._rebuild()
                    if isinstance(unit, BatchUnit):  # its files as items, one by one
                        unit = [item for u in unit.relist() for item in u]  # type: ignore[assignment]
                    if again:
                        retry.extend([item] for item in unit)
                        continue
                    results = [_failed(item, exc) for item in unit]
                else:
                    if isinstance(unit, BatchUnit):  # (the sweep's own code: its failure is no worker's)
                        results, more = unit.settle(results)
                        fresh.extend(more)
                yield unit, results

    def _forked_loop(self, it: Iterator[Unit], should_stop: Callable[[], bool]
                     ) -> Iterator[tuple[Unit, list[ItemResult]]]:
        """Units to the forked workers, FORK_DEPTH each; while they all hold
        that many, this process takes the next unit itself (what cannot
        crash it: small plain files, as while a pool starts; the rest goes to
        a worker after all). Results come as they are answered (unordered,
        as a pool's). A worker that dies, or a task that fails, ends the
        forked workers: what they held goes to a pool (:meth:`_pooled`),
        the failed units' items one by one, as a pool's dead worker's."""
        forked = self._forked
        assert forked is not None
        fresh: deque[Unit] = deque()
        retry: deque[Unit] = deque()
        exhausted = False

        def take(listed_only: bool = False) -> Unit | None:
            nonlocal exhausted
            if fresh and not listed_only:
                return fresh.popleft()
            unit = None if exhausted else next(it, None)
            exhausted = unit is None
            return unit

        while not should_stop():
            if not forked.alive:
                break
            # (Work this process does not take, in ``fresh``, may go to the reserve too: prepare.)
            child = forked.free(reserve=bool(fresh))
            while child is not None:
                unit = take()
                if unit is None:
                    break
                forked.send(child, unit)
                child = forked.free(reserve=bool(fresh))
            answers = forked.wait(0)
            if not answers and child is None and not exhausted:
                # Every worker has its share: the next unit listed, here (what
                # is left of one, in ``fresh``, waits for a worker).
                unit = take(listed_only=True)
                if unit is not None:
                    yield from self._here(unit, fresh, should_stop)
                continue
            if not answers:
                if exhausted and not fresh and not forked.busy():
                    return
                answers = forked.wait(POLL)
            for unit, answer in answers:
                if answer is FAILED:
                    if isinstance(unit, BatchUnit):  # its files as items, one by one
                        unit = [item for u in unit.relist() for item in u]  # type: ignore[assignment]
                    retry.extend([item] for item in unit)
                    continue
                if isinstance(unit, BatchUnit):
                    results, more = unit.settle(answer)
                    fresh.extend(more)
                else:
                    results = answer
                    for r, item in zip(results, unit):
                        r.item = item  # (scan_batch_lean left it out)
                yield unit, results
            if retry or not forked.alive:
                break
        else:
            return  # asked to stop: shutdown() ends the workers
        # A worker died (or a task failed): a pool takes over, with the failed
        # units' items one by one and what the other workers held.
        log.warning("a worker process died; starting a pool and retrying its items one by one")
        fresh.extendleft(forked.units())
        self._forked = None
        forked.close(kill=True)
        yield from self._pooled(it, fresh, retry, {}, exhausted, should_stop)

    def _here(self, unit: Unit, fresh: deque[Unit], should_stop: Callable[[], bool]
              ) -> Iterator[tuple[Unit, list[ItemResult]]]:
        """A unit scanned in this process beside the forked workers: its small
        plain files; the rest of it goes to ``fresh``, for a worker."""
        assert self._in_process is not None
        p = self._in_process.pipeline
        if isinstance(unit, BatchUnit):
            b = unit.batch
            results, more = unit.settle(worker.small_files(p, p.scan_plain, b.dir, b.uri, b.names, unit.split_size))
            fresh.extend(more)
        else:
            results, later = self._in_process.scan_plain(unit, should_stop)
            if later:
                fresh.append(later)
        if results:
            yield [r.item for r in results], results


def _ready() -> bool:
    """A task that does nothing: its answer says a worker is up."""
    return True


def _broken_pool(exc: BaseException) -> bool:
    """A process pool's worker died (imported here: the in-process runner needs no pool module)."""
    from concurrent.futures.process import BrokenProcessPool

    return isinstance(exc, BrokenProcessPool)


def _failed(item: Item, exc: BaseException) -> ItemResult:
    if _broken_pool(exc):
        message = "the worker process died while scanning this item (out of memory or a crash); not scanned"
    else:
        message = f"the worker failed: {type(exc).__name__}"
    loc = Location(uri=item.uri, version=item.version)
    return ItemResult(item, errors=[ErrorRecord(loc, "internal", message)])


def _terminate(ex: Any) -> None:
    """Stop a process pool now: cancel queued work and kill busy workers."""
    if ex is None:
        return
    processes = list((getattr(ex, "_processes", None) or {}).values())
    writer = getattr(getattr(ex, "_result_queue", None), "_writer", None)  # shutdown() drops the queue
    try:
        ex.shutdown(wait=False, cancel_futures=True)
    except Exception:  # a broken pool may complain; it is being discarded
        pass
    for p in processes:
        try:
            p.terminate()
        except Exception:
            pass
    for p in processes:
        try:
            p.join(timeout=5)
        except Exception:
            pass
    # A worker killed while it wrote a result leaves the pool's manager thread
    # blocked reading the rest of that message, forever: this process holds
    # the pipe's write end too, so no EOF comes, and the interpreter then
    # hangs at exit joining that thread (seen as a Ctrl-C that never ends).
    # With the workers gone, closing our write end turns the read into EOF:
    # the thread sees a broken pool and finishes.
    if writer is not None:
        try:
            writer.close()
        except OSError:
            pass
