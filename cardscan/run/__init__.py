"""Where a sweep is assembled and where concurrency lives.

:func:`sweep` is the one composition root: from a
:class:`~cardscan.options.SweepOptions` it alone builds the sources, the
engine settings, the limits, the key, the state, the manifest, the baseline
filter and the runner, and records what the manifest's scan record says
about them. ``cardscan scan`` is argv -> options -> :func:`sweep` -> exit
status; ``cardscan.sweep`` is this function.

* ``worker``: process plumbing: each worker process (or Dask thread) builds
  one :class:`~cardscan.pipeline.Pipeline` from its plain-data spec, then
  runs ``scan_batch``;
* ``executor``: runs work units on any ``concurrent.futures.Executor`` with a
  bounded window of in-flight units, or in-process for ``jobs=1``;
* ``dask``: the same on a Dask cluster (the spec once per worker, by plugin);
* ``sweep``: the parent's loop: list sources, plan units (splitting big
  files into byte ranges), merge results, push to sinks, tally the summary;
* ``state``: the SQLite state that makes sweeps resumable and incremental;
* ``progress``: the callback protocol and its tqdm / status-line versions.

Library use::

    import cardscan
    from cardscan.options import SweepOptions

    summary = cardscan.sweep(SweepOptions(sources=("/srv/share",), manifest="share.jsonl",
                                          state="share.state", jobs=8), key=b"...")
    # the same, with the fields as keyword arguments
    summary = cardscan.sweep(["/srv/share"], manifest="share.jsonl", state="share.state", jobs=8, key=b"...")

    # on a Dask cluster: the same call, given the client
    from distributed import Client
    summary = cardscan.sweep(["s3://bucket/"], manifest="m.jsonl", key=b"...",
                             executor=Client("tcp://scheduler:8786"))
"""
from __future__ import annotations

import os
from dataclasses import replace
from typing import IO, Any, Callable, Iterable, Iterator

from ..errors import ConfigError
from ..options import NEXT_TO_MANIFEST, SweepOptions

# The parent's loop lives in the submodule run/sweep.py, and importing a
# submodule binds its name on the package. Import it here, first, so that the
# function defined below is what ``cardscan.run.sweep`` names, whoever imports
# the submodule later (``from cardscan.run.sweep import Sweep`` still works).
from . import sweep as _loop  # noqa: E402,F401

__all__ = ["sweep", "run_sweep", "runner_for", "SweepOptions"]


def sweep(
    options: SweepOptions | Iterable[str | os.PathLike[str]],
    *,
    sinks: Iterable[Any] = (),
    progress: Any = None,
    executor: Any = None,
    key: Any = None,
    notices: IO[str] | None = None,
    **changes: Any,
) -> dict[str, Any]:
    """Run one sweep; return the summary record.

    ``options``: a :class:`~cardscan.options.SweepOptions`, or, for short,
    the sources (paths or URLs) with the other fields as keyword arguments
    (``sweep(["/srv"], manifest="m.jsonl", jobs=4)``); keyword fields
    given with a SweepOptions replace its values.

    ``sinks``: more sinks after the manifest (a :class:`~cardscan.sinks.base.ListSink`,
    a console). ``progress``: a :class:`~cardscan.run.progress.ScanCallback`.
    ``executor``: None for local processes (``options.jobs``; or Dask when
    ``options.executor == "dask"``), else see :func:`runner_for`. ``key``:
    the fingerprint key (bytes, str or :class:`~cardscan.findings.FingerprintKey`);
    default ``options.key_file``, else ``CARDSCAN_FINGERPRINT_KEY``, else
    random. ``notices``: where notes for a person go (a random key, findings
    accepted by the baseline, where a staged manifest went, a SOURCE inside
    another); the command line passes stderr, the default is silence.
    """
    from ..privacy import install_scan_boundary

    # In a host program (the CLI has its own, wider boundary): cardscan's and
    # its libraries' log records and warnings are masked before the host's
    # handlers see them (pypdf logs an /Encoding name, which may be a card).
    install_scan_boundary()
    if not isinstance(options, SweepOptions):
        options = SweepOptions(sources=options)  # type: ignore[arg-type]
    if changes:
        options = replace(options, **changes)
    if not options.sources:
        raise ConfigError("nothing to scan: give at least one source")
    _check(options)
    fkey, key_source = _key(options, key)
    # The key id (PBKDF2, slow on purpose: ~0.03 s) is made on a thread while
    # the sources and the engine are built; hashlib lets go of the GIL, so on
    # an idle core it takes no time from the start-up. Awaited where the scan
    # record needs it. (The CLI starts it earlier still: cli/scan.py execute.)
    fkey.start_key_id()
    if options.manifest is not None:
        # A manifest keeps masked numbers beside their fingerprints: under a short key
        # the two give the card numbers back (a key file or the env var is checked on load).
        fkey.require_strong("a manifest")
    if key_source == "random":
        _note(notices, "no fingerprint key (--key-file or CARDSCAN_FINGERPRINT_KEY); "
                       "fingerprints from this run will not match other runs")
    built, specs = build_sources(options, notices)
    config, limits = build_config(options), build_limits(options)
    spec = _worker_spec(config, fkey, limits, specs, options.log_level)

    info = _loop.scan_info(built, record(options, config, limits, executor), fkey, key_source)
    state = _open_state(options, config, limits, fkey)
    runner = None
    try:
        all_sinks, staged = _manifest_sinks(options, state is not None)
        all_sinks += list(sinks)
        if staged is not None and notices is not None:
            all_sinks.append(staged.notice_sink(notices))
        baseline = _load_baseline(options, fkey)
        runner = _runner(options, spec, executor)
        if baseline is not None:
            runner = BaselineRunner(runner, baseline, notices, str(options.baseline))
        return _loop.Sweep(built, runner, all_sinks, scan_info=info, progress=progress, split_size=options.split_size,
                     state=state).run()
    finally:
        if state is not None:
            state.store.close()


def run_sweep(
    sources: Iterable[str | os.PathLike[str]],
    *,
    config: Any = None,
    limits: Any = None,
    source_options: dict[str, dict[str, Any]] | None = None,
    sinks: Iterable[Any] = (),
    progress: Any = None,
    executor: Any = None,
    key: Any = None,
    **fields_: Any,
) -> dict[str, Any]:
    """:func:`sweep` taking the engine's ``config`` (ScanConfig), the decoders' ``limits`` (Limits) and
    ``source_options`` (source name -> ``from_url`` keyword arguments) as objects; they are turned into
    the SweepOptions fields that feed them (a keyword no field feeds is a ConfigError)."""
    changes = dict(fields_)
    if config is not None:
        changes.update(config.to_dict())
    if limits is not None:
        changes.update(_unfed("limits", limits.to_dict(), type(limits)().to_dict()))
    for name, kwargs in (source_options or {}).items():
        changes.update(_unfed(name, kwargs, None))
    return sweep(SweepOptions(sources=tuple(os.fspath(s) for s in sources), **changes), sinks=sinks,
                 progress=progress, executor=executor, key=key)


def _unfed(part: str, kwargs: dict[str, Any], defaults: dict[str, Any] | None) -> dict[str, Any]:
    """SweepOptions fields for ``part``'s keyword arguments (the table, read backwards)."""
    from ..options import table

    by_kwarg = {(s.kwarg or f.name): f.name for f, s in table() if part in s.feeds}
    out = {}
    for kwarg, value in kwargs.items():
        if kwarg in by_kwarg:
            out[by_kwarg[kwarg]] = value
        elif defaults is None or defaults.get(kwarg) != value:
            raise ConfigError(f"no option feeds {part} {kwarg!r}")
    return out


# -- the parts ---------------------------------------------------------------------
def _note(notices: IO[str] | None, text: str) -> None:
    if notices is None:
        return
    try:
        notices.write(f"cardscan: note: {text}\n")
        notices.flush()
    except (BrokenPipeError, ValueError):
        pass


def _check(options: SweepOptions) -> None:
    """Combinations the table cannot express field by field."""
    if options.full and not options.state:
        raise ConfigError("--full rescans what a state would carry over: it needs --state FILE")
    if options.state == NEXT_TO_MANIFEST and options.manifest in (None, "-"):
        raise ConfigError("--state without FILE puts the state next to the manifest: give --manifest PATH "
                          "or --state FILE")


def _key(options: SweepOptions, key: Any) -> tuple[Any, str]:
    """(FingerprintKey, where it came from: argument, file, env or random)."""
    from ..findings import FingerprintKey

    if key is not None:
        # A key settings.load_key made (the CLI loads it early) says where it came from.
        fkey = key if isinstance(key, FingerprintKey) else FingerprintKey(key)
        return fkey, fkey.source or "argument"
    from ..settings import load_key

    return load_key(options.key_file)


# -- sources -------------------------------------------------------------------------
def build_sources(options: SweepOptions, notices: IO[str] | None = None) -> tuple[list[Any], list[dict[str, Any]]]:
    """(source instances, worker specs), one per distinct SOURCE; keyword arguments come from the table."""
    history = options.git_history or options.git_range is not None  # a range implies the history
    urls = [_git_url(u) if history else u for u in options.sources]
    built, specs = [], []
    for url, name, inside in distinct_roots(urls):
        if inside is not None:
            _note(notices, f"{_shown(url)} is inside {_shown(inside)}: scanned once")
            continue
        kwargs = options.feeding(name)
        built.append(_load_source(name, url).from_url(url, **kwargs))
        specs.append({"name": name, "url": _local_path(url) if name == "file" else url, "options": kwargs})
    return built, specs


def _shown(url: str) -> str:
    from ..privacy import mask_name

    return mask_name(url)


def distinct_roots(urls: list[str]) -> Iterator[tuple[str, str, str | None]]:
    """(url, source name, the earlier SOURCE holding it or None) for each url.

    The same root twice, or a root inside another (``share share/hr``, a
    file of a scanned directory, ``s3://b/p/ s3://b/p/q/``), would scan the
    same objects twice and double every finding: the inner one is dropped.
    Files compare by real path (a symlink to a scanned directory is that
    directory), S3 by bucket and key prefix, everything else by URL.
    """
    from .. import registry

    keyed: list[tuple[str, str, tuple[str, ...]]] = []
    for url in urls:
        name = registry.source_for_url(url)
        keyed.append((url, name, _root_key(name, url)))
    for i, (url, name, k) in enumerate(keyed):
        holder = None
        for j, (other, oname, ok) in enumerate(keyed):
            if j == i or oname != name or not _contains(name, ok, k):
                continue
            if _contains(name, k, ok) and j > i:
                continue  # the same root: the first one given is kept
            holder = other
            break
        yield url, name, holder


def _root_key(name: str, url: str) -> tuple[str, ...]:
    if name == "file":
        return (os.path.realpath(_local_path(url)),)
    if name == "s3":
        bucket, _, prefix = url[len("s3://"):].partition("/")
        return (bucket, prefix)
    return (url.rstrip("/"),)


def _contains(name: str, outer: tuple[str, ...], inner: tuple[str, ...]) -> bool:
    if name == "file":
        o, i = outer[0], inner[0]
        return i == o or i.startswith(o.rstrip(os.sep) + os.sep)
    if name == "s3":
        if outer[0] != inner[0]:
            return False
        o, i = outer[1], inner[1]
        # s3://b/p names p and p/... (not p.csv); s3://b/p/ everything under p/.
        return o == "" or i == o or i.startswith(o if o.endswith("/") else o + "/")
    return outer == inner


def _local_path(url: str) -> str:
    from ..sources.fs import uri_to_path

    return os.path.abspath(uri_to_path(url))


def _git_url(url: str) -> str:
    """With ``--git-history``, a local SOURCE becomes its repository's history (``git+file://top``)."""
    if url.startswith("git+"):
        return url
    from .. import registry

    if registry.source_for_url(url) != "file":
        raise ConfigError(f"--git-history needs a local repository, not {url}")
    from pathlib import Path

    from ..sources.git import repo_toplevel

    path = _local_path(url)
    if not os.path.lexists(path):
        raise ConfigError(f"{url}: no such file or directory (a revision range goes in --git-range A..B)")
    return "git+" + Path(repo_toplevel(path)).as_uri()


#: SQL dialect -> the extra that installs SQLAlchemy *and* its driver: one install, not two.
_SQL_EXTRA = {"postgresql": "postgres", "postgres": "postgres", "mysql": "mysql", "mariadb": "mysql"}


def _load_source(name: str, url: str) -> Any:
    from .. import registry
    from ..errors import MissingDependency

    try:
        return registry.load("cardscan.sources", name)
    except MissingDependency as exc:
        dialect = url.split(":", 1)[0].split("+", 1)[0].lower()
        extra = _SQL_EXTRA.get(dialect) if name == "sql" else None
        if extra is None:
            raise
        raise MissingDependency(f"{dialect} sources need SQLAlchemy and a driver: pip install 'cardscan[{extra}]'") \
            from exc


# -- engine, limits, workers ----------------------------------------------------------
def build_config(options: SweepOptions) -> Any:
    from ..engine.config import ScanConfig

    return ScanConfig(**options.feeding("engine"))


def build_limits(options: SweepOptions) -> Any:
    from ..decoders import Limits

    return Limits(**options.feeding("limits"))


def _worker_spec(config: Any, key: Any, limits: Any, specs: list[dict[str, Any]], log_level: str | None) -> Any:
    """The spec each worker builds its :class:`~cardscan.pipeline.Pipeline` from
    (plain data, sent once per process); the one place a sweep makes it."""
    from ..engine.scanner import Scanner
    from ..pipeline import Pipeline

    spec = Pipeline(Scanner(config, key), limits, specs).spec()
    if log_level:
        spec["log_level"] = log_level  # the runner's, not the pipeline's (see worker.init_pool_worker)
    return spec


def record(options: SweepOptions, config: Any, limits: Any, executor: Any = None) -> dict[str, Any]:
    """The effective settings the scan record holds (never the key): the same for the CLI and the library."""
    from .executor import default_jobs

    jobs: int | None
    if executor is None:
        name, jobs = options.executor, options.jobs or default_jobs()
    else:
        name, jobs = type(executor).__name__, options.jobs
    run: dict[str, Any] = {"jobs": jobs, "split_size": options.split_size, "executor": name}
    if name == "dask":
        run["scheduler"] = _safe_address(options.scheduler)
    return {
        "engine": config.to_dict(),
        "limits": limits.to_dict(),
        "selection": options.feeding("file"),
        "run": run,
        "config_file": options.config_file,
    }


def _safe_address(address: str | None) -> str | None:
    return _loop._safe_url(address) if address else address


# -- state, manifest, baseline --------------------------------------------------------
def _state_path(options: SweepOptions) -> str | None:
    if options.state == NEXT_TO_MANIFEST:
        return f"{options.manifest}.state"
    return options.state


def _open_state(options: SweepOptions, config: Any, limits: Any, key: Any) -> Any:
    """The sweep state for ``options.state`` (None without one). See docs/scale.md."""
    path = _state_path(options)
    if not path:
        return None
    from .state import open_state

    extra = {}
    if options.baseline:  # carried-over findings were filtered by the baseline of their run
        import hashlib

        try:
            with open(options.baseline, "rb") as fh:
                extra["baseline"] = hashlib.sha256(fh.read()).hexdigest()
        except OSError:
            pass  # loading the baseline reports it
    manifest = options.manifest if options.manifest != "-" else None
    return open_state(path, engine=config.to_dict(), limits=limits.to_dict(), key=key, full=options.full,
                      extra=extra, manifest=manifest)


def _manifest_sinks(options: SweepOptions, staged: bool) -> tuple[list[Any], Any]:
    """([manifest sink] or [], the staged manifest or None). With a state, PATH only ever holds a finished one."""
    if options.manifest is None:
        return [], None
    if staged and options.manifest != "-":
        from ..sinks.staged import StagedManifest

        s = StagedManifest(options.manifest)
        return [s], s
    from ..sinks.jsonl import JsonlSink

    # Without a state, the records of a batch of results are written at once
    # (end_batch); with one, each object's before the state claims it. On
    # stdout ('-') each object's too: stderr is often the same file (2>&1),
    # where an object's messages must stay next to its records (as the
    # console sink keeps its lines), and a reader that goes away (a broken
    # pipe) must stop the sweep at the object it missed, not a batch later.
    return [JsonlSink(options.manifest, each_item=staged or options.manifest == "-")], None


def _load_baseline(options: SweepOptions, key: Any) -> Any:
    if not options.baseline:
        return None
    from ..baseline import Baseline

    baseline = Baseline.load(options.baseline)
    baseline.check_key(key)
    return baseline


class BaselineRunner:
    """A runner that drops the findings a baseline accepts before the sweep sees them.

    Filtering at the runner keeps the sweep's counts, every sink and the exit
    status about *new* findings only.
    """

    def __init__(self, runner: Any, baseline: Any, notices: IO[str] | None, path: str) -> None:
        self._runner, self.baseline, self._notices, self._path = runner, baseline, notices, path
        self.known = 0

    def run(self, units: Iterable[Any], should_stop: Callable[[], bool] = lambda: False) -> Iterator[Any]:
        for unit, results in self._runner.run(units, should_stop):
            for r in results:
                if r.findings:
                    kept = self.baseline.new(r.findings)
                    self.known += len(r.findings) - len(kept)
                    r.findings = kept
            yield unit, results

    def shutdown(self, cancel: bool = False) -> None:
        self._runner.shutdown(cancel)
        if self.known and self._notices is not None:
            try:
                self._notices.write(f"cardscan: {self.known} finding(s) accepted by the baseline {self._path} "
                                    "(not reported)\n")
            except (BrokenPipeError, ValueError):
                pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runner, name)


# -- runners ---------------------------------------------------------------------------
def _runner(options: SweepOptions, spec: dict[str, Any], executor: Any) -> Any:
    if executor is not None:
        return runner_for(executor, spec, options.jobs)
    if options.executor == "dask":
        from .dask import DaskRunner, connect

        client, cluster = connect(options.scheduler, workers=options.jobs)
        try:
            return DaskRunner(client, spec, own=True, cluster=cluster)
        except BaseException:
            client.close()
            if cluster is not None:
                cluster.close()
            raise
    return runner_for(None, spec, options.jobs)


def runner_for(executor: Any, spec: dict[str, Any], jobs: int | None = None) -> Any:
    """The runner for ``executor``.

    * None: the local process pool of ``jobs`` workers (default: all cores;
      ``1``: in this process, no pool);
    * a ``distributed.Client``, or its ``get_executor()``: the Dask runner
      (the spec registered once per worker by a plugin);
    * any other ``concurrent.futures.Executor`` (a thread pool, your own
      process pool): units are submitted to it with the spec attached.

    ``spec``: the pipeline's, :meth:`cardscan.pipeline.Pipeline.spec`.
    """
    from .executor import ExecutorRunner, InProcessRunner, default_jobs, process_pool

    if executor is None:
        jobs = jobs or default_jobs()
        if jobs == 1:
            return InProcessRunner(spec)
        return ExecutorRunner(process_pool(spec, jobs), spec, initialized=True, jobs=jobs)
    module = type(executor).__module__ or ""
    if module.startswith("distributed"):
        client = getattr(executor, "_client", executor)  # ClientExecutor -> its Client
        from .dask import DaskRunner

        return DaskRunner(client, spec)
    return ExecutorRunner(executor, spec, jobs=jobs)
