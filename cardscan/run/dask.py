"""Run a sweep's work on a Dask cluster (``pip install 'cardscan[dask]'``).

The driver (the process running the sweep) lists the sources, plans units
(batches of small items, byte ranges of big ones) and writes the one
manifest; Dask workers scan units and send back :class:`ItemResult` s
(findings and error records: masked numbers and fingerprints, never
content). The seam is the same as for the local pool: an
:class:`~cardscan.run.executor.ExecutorRunner` over the ``concurrent.futures``
executor of a ``distributed.Client`` (``client.get_executor()``). Nothing in
the engine or the sources knows where it runs.

The pipeline's spec reaches each worker once: :class:`CardscanWorkerPlugin`
is registered with the client (``client.register_plugin``) and stores it in
every worker process, including workers that join later; tasks carry only a
token. Each worker thread builds its own Pipeline from it, once.

Workers must be able to open what the driver lists: the same cardscan
version installed, the same paths mounted for files, credentials for S3
(environment, instance roles, a mounted secret: see docs/scale.md). The
fingerprint key travels to the workers inside the plugin: use a TLS
scheduler address (``tls://``) on networks you do not trust.

Library use::

    from distributed import Client
    import cardscan.run

    client = Client("tcp://scheduler:8786")
    summary = cardscan.run.run_sweep(["s3://bucket/exports/"], manifest="exports.jsonl",
                                 key=open("key", "rb").read(), executor=client)
"""
from __future__ import annotations

import logging
from functools import partial
from typing import Any

from . import worker
from .executor import ExecutorRunner

log = logging.getLogger("cardscan.run.dask")

try:
    from distributed import Client
    from distributed.diagnostics.plugin import WorkerPlugin
except ImportError:  # pragma: no cover - the extra is not installed
    from ..errors import MissingDependency

    raise MissingDependency("the Dask executor needs dask.distributed: pip install 'cardscan[dask]'") from None


class CardscanWorkerPlugin(WorkerPlugin):
    """Gives every worker process of the cluster the sweep's pipeline spec, once."""

    idempotent = False

    def __init__(self, spec: dict[str, Any], token: str) -> None:
        self.spec = spec
        self.token = token

    def setup(self, worker: Any) -> None:
        from . import worker as cardscan_worker

        cardscan_worker.register_spec(self.token, self.spec)

    def __repr__(self) -> str:  # never the key
        return f"CardscanWorkerPlugin(token={self.token[:12]!r})"


class DaskRunner(ExecutorRunner):
    """An :class:`ExecutorRunner` on a ``distributed.Client``.

    ``own=True`` (the CLI) closes the client, and the cluster if one was
    started for the run, on shutdown; a client handed in by library code is
    left open, only the work this run submitted is cancelled when it stops.

    Units are bigger than for a local pool (``batch_items``/``batch_bytes``,
    read by the sweep): a Dask task costs a scheduler round trip and a few
    milliseconds of bookkeeping, a local pool task a pipe write.
    """

    batch_items = 512
    batch_bytes = 16 << 20

    def __init__(
        self, client: Any, spec: dict[str, Any], *, window: int | None = None, own: bool = False,
        cluster: Any = None,
    ) -> None:
        check_workers(client)
        token = worker.spec_token(spec)
        self.plugin_name = f"cardscan-{token[:16]}"
        client.register_plugin(CardscanWorkerPlugin(spec, token), name=self.plugin_name)
        threads = sum(client.nthreads().values()) or 1
        super().__init__(
            client.get_executor(pure=False), spec, window=window, jobs=threads,
            task=partial(worker.scan_batch_registered, token),
        )
        self.client = client
        self.threads = threads
        self._own = own
        self._cluster = cluster

    def shutdown(self, cancel: bool = False) -> None:
        ex = self._executor
        if cancel and ex is not None:
            ex.shutdown(wait=False)  # cancels this run's futures; the client stays usable
        if self._own:
            try:
                self.client.close()
            finally:
                if self._cluster is not None:
                    self._cluster.close()


def _version() -> str:
    from .. import __version__

    return __version__


def check_workers(client: Any) -> None:
    """Refuse workers without cardscan, or with another version (they would find other things)."""
    from .. import __version__
    from ..errors import ConfigError

    try:
        versions = client.run(_version)
    except Exception as exc:  # cardscan cannot even be imported there
        raise ConfigError(f"cardscan does not run on the Dask workers ({type(exc).__name__}): install "
                          f"cardscan {__version__} (with the extras your sources need) in the workers' environment"
                          ) from None
    other = sorted({v for v in versions.values() if v != __version__})
    if other:
        raise ConfigError(f"Dask workers run cardscan {', '.join(other)}, this driver {__version__}: "
                          "install the same version on every worker")


def connect(scheduler: str | None, *, workers: int | None = None) -> tuple[Any, Any]:
    """(client, cluster or None) for ``--scheduler``.

    ``tcp://host:8786`` (or ``tls://``) connects to a running scheduler;
    ``local`` starts a ``LocalCluster`` of ``workers`` single-threaded
    processes for this run; None uses Dask's own configuration
    (``DASK_SCHEDULER_ADDRESS``).
    """
    from ..errors import ConfigError

    if scheduler == "local":
        from distributed import LocalCluster

        cluster = LocalCluster(n_workers=workers or worker_count(), threads_per_worker=1, processes=True,
                               dashboard_address=None)
        return Client(cluster), cluster
    if scheduler is None:
        import dask

        scheduler = dask.config.get("scheduler-address", None)
        if not scheduler:
            raise ConfigError("--executor dask needs --scheduler ADDRESS (tcp://host:8786, or 'local'), "
                              "or DASK_SCHEDULER_ADDRESS")
    try:
        client = Client(scheduler, timeout="30s")
    except (OSError, TimeoutError) as exc:
        raise ConfigError(f"cannot reach the Dask scheduler at {scheduler}: {type(exc).__name__}") from None
    return client, None


def worker_count() -> int:
    from .executor import default_jobs

    return default_jobs()
