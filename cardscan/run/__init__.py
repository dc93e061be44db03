"""Where concurrency lives: workers, executors, progress callbacks, the sweep state.

* ``worker``: module-level functions a pool runs (``init_worker`` once per
  process with plain-data settings, then ``scan_batch``/``scan_item``);
* ``executor``: runs work units on any ``concurrent.futures.Executor`` with a
  bounded window of in-flight units, or in-process for ``--jobs 1``;
* ``dask``: the same on a Dask cluster (settings once per worker, by plugin);
* ``sweep``: the parent's loop: list sources, plan units (splitting big
  files into byte ranges), merge results, push to sinks, tally the summary;
* ``state``: the SQLite state that makes sweeps resumable and incremental;
* ``progress``: the callback protocol and its tqdm / status-line versions.

The library entry point is :func:`run_sweep` (also ``cardscan.sweep``)::

    import cardscan.run
    summary = cardscan.run.run_sweep(["/srv/share"], manifest="share.jsonl", key=b"...",
                                 state="share.state", jobs=8)

    # on a Dask cluster: the same call, given the client
    from distributed import Client
    summary = cardscan.run.run_sweep(["s3://bucket/"], manifest="m.jsonl", key=b"...",
                                 executor=Client("tcp://scheduler:8786"))
"""
from __future__ import annotations

import os
from typing import Any, Iterable

__all__ = ["run_sweep", "runner_for"]


def runner_for(executor: Any, settings: dict[str, Any], jobs: int | None = None) -> Any:
    """The runner for ``executor``.

    * None: the local process pool of ``jobs`` workers (default: all cores;
      ``1``: in this process, no pool);
    * a ``distributed.Client``, or its ``get_executor()``: the Dask runner
      (settings registered once per worker by a plugin);
    * any other ``concurrent.futures.Executor`` (a thread pool, your own
      process pool): units are submitted to it with the settings attached.
    """
    from .executor import ExecutorRunner, InProcessRunner, default_jobs, process_pool

    if executor is None:
        jobs = jobs or default_jobs()
        if jobs == 1:
            return InProcessRunner(settings)
        return ExecutorRunner(process_pool(settings, jobs), settings, initialized=True, jobs=jobs)
    module = type(executor).__module__ or ""
    if module.startswith("distributed"):
        client = getattr(executor, "_client", executor)  # ClientExecutor -> its Client
        from .dask import DaskRunner

        return DaskRunner(client, settings)
    return ExecutorRunner(executor, settings, jobs=jobs)


def run_sweep(
    sources: Iterable[str | os.PathLike[str]],
    *,
    manifest: str | os.PathLike[str] | None = None,
    key: Any = None,
    executor: Any = None,
    jobs: int | None = None,
    state: str | os.PathLike[str] | None = None,
    full: bool = False,
    config: Any = None,
    limits: Any = None,
    source_options: dict[str, dict[str, Any]] | None = None,
    sinks: Iterable[Any] = (),
    progress: Any = None,
    split_size: int | None = None,
) -> dict[str, Any]:
    """Scan ``sources`` (paths or URLs: ``/srv/share``, ``s3://b/p/``, ``postgresql://...``); return the summary.

    ``manifest``: write the JSON Lines manifest there (0600). ``key``: the
    fingerprint key (bytes, str or :class:`~cardscan.findings.FingerprintKey`;
    default ``CARDSCAN_FINGERPRINT_KEY``, else random). ``executor``: see
    :func:`runner_for`. ``state``: a state file making the sweep resumable
    and incremental (needs a stable key; ``full=True`` rescans everything
    but still updates it); with a state the manifest is written to
    ``manifest + ".partial"`` and renamed to ``manifest`` when the sweep
    completes. ``config`` (:class:`~cardscan.engine.config.ScanConfig`), ``limits``
    (:class:`~cardscan.decoders.Limits`), ``source_options`` (source name ->
    ``from_url`` keyword arguments, e.g. ``{"file": {"exclude": ["*.iso"]}}``),
    extra ``sinks`` and a ``progress`` callback are optional.
    """
    from .. import registry
    from ..engine.config import ScanConfig
    from ..decoders import Limits
    from ..findings import FingerprintKey
    from .state import StagedManifest, open_state
    from .sweep import DEFAULT_SPLIT_SIZE, Sweep, scan_info
    from .worker import make_settings

    fkey = key if isinstance(key, FingerprintKey) else FingerprintKey(key)
    config = config or ScanConfig()
    limits = limits or Limits()
    source_options = source_options or {}
    built, specs = [], []
    for src in sources:
        url = os.fspath(src)
        name = registry.source_for_url(url)
        options = dict(source_options.get(name, {}))
        built.append(registry.load("cardscan.sources", name).from_url(url, **options))
        if name == "file":
            from ..sources.fs import uri_to_path

            url = os.path.abspath(uri_to_path(url))
        specs.append({"name": name, "url": url, "options": options})
    settings = make_settings(config, fkey, limits, specs)
    public = {"engine": config.to_dict(), "limits": limits.to_dict(),
              "run": {"jobs": jobs, "executor": "local" if executor is None else type(executor).__name__}}
    key_source = "argument" if key is not None else ("random" if fkey.random else "env")
    info = scan_info(built, public, fkey, key_source)
    sweep_state = None
    if state is not None:
        sweep_state = open_state(state, engine=config.to_dict(), limits=limits.to_dict(), key=fkey, full=full,
                                 manifest=os.fspath(manifest) if manifest else None)
    all_sinks: list[Any] = []
    try:
        if manifest is not None:
            if sweep_state is not None:
                all_sinks.append(StagedManifest(manifest))
            else:
                from ..sinks.jsonl import JsonlSink

                all_sinks.append(JsonlSink(manifest))
        all_sinks += list(sinks)
        runner = runner_for(executor, settings, jobs)
        return Sweep(built, runner, all_sinks, scan_info=info, progress=progress,
                     split_size=split_size or DEFAULT_SPLIT_SIZE, state=sweep_state).run()
    finally:
        if sweep_state is not None:
            sweep_state.store.close()
