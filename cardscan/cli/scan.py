"""Scan files and directories for card numbers; write findings and a manifest.

``cardscan scan SOURCE... [options]``. Exit status: 0 clean and complete,
1 card numbers found, 2 the scan could not look at everything (and found
nothing), 130 interrupted. See docs/cli.md.

Built to be extended without rewriting: option groups are small functions
in ``OPTION_GROUPS``; per-source options are built by ``SOURCE_OPTIONS``;
stdout formats are a name -> sink factory table (``STDOUT_FORMATS``);
runners are a name -> factory table (``EXECUTORS``: ``local``, ``dask``).
``--state FILE`` makes the sweep resumable and incremental (docs/scale.md).
"""
from __future__ import annotations

import argparse
import os
import sys

from . import args as argtypes
from typing import IO, Any, Callable

HELP = "scan files, directories, S3 and SQL databases for card numbers"

EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE = 0, 1, 2
EXIT_BY_REASON = {"signal": 130, "terminated": 143}

#: Built-in defaults (the lowest layer under settings files and the command line).
DEFAULTS: dict[str, Any] = {
    "sources": [],
    "manifest": None,
    "format": "text",
    "include": [],
    "exclude": [],
    "gitignore": False,
    "max_file_size": None,
    "follow_symlinks": False,
    "jobs": None,  # all cores
    "split_size": 64 << 20,
    "min_confidence": None,  # the engine's default
    "test_cards": True,
    "quiet": False,
    "progress": None,  # auto: a bar when stderr is a terminal
    "log_level": "warning",
    "key_file": None,
    "executor": "local",
}


# -- option groups --------------------------------------------------------------
def add_output_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("output")
    g.add_argument("--manifest", metavar="PATH", default=None,
                   help="write the JSON Lines remediation manifest to PATH (created 0600; '-' for stdout)")
    g.add_argument("--format", choices=sorted(STDOUT_FORMATS), default=None,
                   help="what goes to stdout: text lines (default) or jsonl manifest records")
    g.add_argument("-q", "--quiet", action="store_true", default=None,
                   help="print nothing; the exit status (and the manifest) tell")
    g.add_argument("--progress", action=argparse.BooleanOptionalAction, default=None,
                   help="progress bar on stderr (default: when stderr is a terminal)")
    g.add_argument("--log-level", choices=["debug", "info", "warning", "error"], default=None,
                   help="diagnostic logging on stderr (card numbers are masked)")


def add_selection_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("what to scan")
    g.add_argument("--include", action="append", metavar="GLOB", default=None,
                   help="scan only files matching GLOB (gitignore syntax; repeatable)")
    g.add_argument("--exclude", action="append", metavar="GLOB", default=None,
                   help="skip files and directories matching GLOB (gitignore syntax; repeatable)")
    g.add_argument("--gitignore", action="store_true", default=None,
                   help="also skip what .gitignore files ignore (and .git directories)")
    g.add_argument("--max-file-size", type=argtypes.size, metavar="SIZE", default=None,
                   help="skip files larger than SIZE (e.g. 500MB, 2GiB)")
    g.add_argument("--follow-symlinks", action="store_true", default=None,
                   help="follow symbolic links while walking (loops are detected)")


def add_detection_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("detection")
    g.add_argument("--min-confidence", type=argtypes.confidence, metavar="N", default=None,
                   help="report findings with confidence >= N (0-100; default 50)")
    g.add_argument("--no-test-cards", dest="test_cards", action="store_false", default=None,
                   help="do not report published test card numbers")
    g.add_argument("--no-columns", dest="columns", action="store_false", default=None,
                   help="do not read CSV headers or SQL column names as the field names of values")


def add_container_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("inside files (archives, compression, encodings; docs/containers.md)")
    g.add_argument("--max-depth", type=int, metavar="N", default=None,
                   help="containers nested deeper than N are reported as a 'limit' error (default 3)")
    g.add_argument("--max-ratio", type=float, metavar="R", default=None,
                   help="stop a layer that expands more than R times its compressed size (default 200)")
    g.add_argument("--max-total-bytes", type=argtypes.size, metavar="SIZE", default=None,
                   help="stop decoding an item after SIZE decoded bytes (default 20GiB)")
    g.add_argument("--max-members", type=argtypes.positive_int, metavar="N", default=None,
                   help="stop after N archive members in one item (default 100000)")
    g.add_argument("--no-inline", dest="inline", action="store_false", default=None,
                   help="do not decode base64, percent-encoding and HTML entities inside text")


def add_run_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("running")
    g.add_argument("-j", "--jobs", type=argtypes.positive_int, metavar="N", default=None,
                   help="worker processes (default: all cores; 1 = no pool)")
    g.add_argument("--split-size", type=argtypes.size, metavar="SIZE", default=None,
                   help="split files bigger than SIZE into byte ranges scanned in parallel (default 64MiB)")


def add_key_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("fingerprint key")
    g.add_argument("--key-file", metavar="PATH", default=None,
                   help="HMAC key for fingerprints (mode 0600); default $CARDSCAN_FINGERPRINT_KEY, else a random key")


def add_config_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("settings file")
    g.add_argument("--config", metavar="FILE", default=None,
                   help="read settings from FILE (.cardscan.toml, or pyproject.toml [tool.cardscan])")
    g.add_argument("--no-config", action="store_true", help="ignore settings files")


#: Option groups, in help order. Later features append their own.
OPTION_GROUPS: list[Callable[[argparse.ArgumentParser], None]] = [
    add_output_options,
    add_selection_options,
    add_detection_options,
    add_container_options,
    add_run_options,
    add_key_options,
    add_config_options,
]

#: Command-line dest -> settings name, where they differ.
DEST_TO_SETTING: dict[str, str] = {}
#: Command-line dests that are not settings.
NOT_SETTINGS = {"command", "_module", "config", "no_config", "sources"}


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("sources", nargs="+", metavar="SOURCE",
                        help="files or directories (a mounted share is a directory), s3://bucket/prefix/, "
                             "sqlite:///x.db, postgresql://..., mysql+pymysql://... (docs/sources.md)")
    for add in OPTION_GROUPS:
        add(parser)


# -- building the parts ------------------------------------------------------------
def resolve(args: argparse.Namespace) -> dict[str, Any]:
    """Effective options: defaults < settings file < command line."""
    from ..settings import load_config

    opts = dict(DEFAULTS)
    file_settings, config_path = ({}, None) if args.no_config else load_config(args.config)
    opts.update(file_settings)
    for dest, value in vars(args).items():
        if dest in NOT_SETTINGS or value is None:
            continue
        name = DEST_TO_SETTING.get(dest, dest)
        if name in ("include", "exclude"):
            value = list(opts.get(name) or []) + list(value)  # both layers' patterns apply
        opts[name] = value
    opts["sources"] = list(args.sources)
    opts["config_file"] = config_path
    return opts


def _file_options(opts: dict[str, Any]) -> dict[str, Any]:
    return {
        "include": list(opts["include"]),
        "exclude": list(opts["exclude"]),
        "gitignore": bool(opts["gitignore"]),
        "follow_symlinks": bool(opts["follow_symlinks"]),
        "max_file_size": opts["max_file_size"],
    }


#: Source name -> options for ``Source.from_url(url, **options)`` from the effective options.
SOURCE_OPTIONS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {
    "file": _file_options,
}


#: Functions (url, effective options) -> url applied to each SOURCE first
#: (``--git-history`` turns a directory into its repository's history).
URL_REWRITERS: list[Callable[[str, dict[str, Any]], str]] = []


def build_sources(opts: dict[str, Any]) -> tuple[list[Any], list[dict[str, Any]]]:
    """(source instances, worker specs) for every SOURCE argument."""
    from .. import registry

    sources, specs = [], []
    for url in opts["sources"]:
        for rewrite in URL_REWRITERS:
            url = rewrite(url, opts)
        name = registry.source_for_url(url)
        cls = registry.load("cardscan.sources", name)
        options = SOURCE_OPTIONS.get(name, lambda o: {})(opts)
        sources.append(cls.from_url(url, **options))
        specs.append({"name": name, "url": url if name != "file" else os.path.abspath(_local(url)), "options": options})
    return sources, specs


def _local(url: str) -> str:
    from ..sources.fs import uri_to_path

    return uri_to_path(url)


def build_config(opts: dict[str, Any]) -> Any:
    from ..engine.config import ScanConfig

    fields = {}
    for name in ("min_confidence", "test_cards", "utf16", "backend", "context_window", "chunk_size", "inline",
                 "columns"):
        if opts.get(name) is not None:
            fields[name] = opts[name]
    return ScanConfig(**fields)


def build_limits(opts: dict[str, Any]) -> Any:
    from ..decoders import Limits

    fields = {n: opts[n] for n in ("max_depth", "max_ratio", "max_total_bytes", "max_members") if opts.get(n) is not None}
    return Limits(**fields)


def _text_sink(opts: dict[str, Any], out: IO[str], err: IO[str]) -> Any:
    from ..sinks.console import ConsoleSink

    to_stdout = opts.get("manifest") != "-"
    manifest = opts.get("manifest") if opts.get("manifest") not in (None, "-") else None
    return ConsoleSink(out, err, quiet=opts["quiet"], show_findings=to_stdout, manifest_path=manifest)


def _jsonl_sink(opts: dict[str, Any], out: IO[str], err: IO[str]) -> Any:
    from ..sinks.jsonl import JsonlSink

    return JsonlSink(out if out is not sys.stdout else "-")


#: --format name -> factory(opts, stdout, stderr) -> sink for stdout.
STDOUT_FORMATS: dict[str, Callable[[dict[str, Any], IO[str], IO[str]], Any]] = {
    "text": _text_sink,
    "jsonl": _jsonl_sink,
}


def build_sinks(opts: dict[str, Any], out: IO[str], err: IO[str]) -> list[Any]:
    from ..errors import ConfigError
    from ..sinks.console import ConsoleSink
    from ..sinks.jsonl import JsonlSink

    fmt = opts["format"]
    if fmt not in STDOUT_FORMATS:
        raise ConfigError(f"unknown --format {fmt!r} (known: {', '.join(sorted(STDOUT_FORMATS))})")
    sinks: list[Any] = []
    manifest = opts.get("manifest")
    if manifest == "-":
        if fmt != "text":
            raise ConfigError("--manifest - already writes the manifest to stdout; drop --format")
        sinks.append(JsonlSink(out if out is not sys.stdout else "-"))
        sinks.append(ConsoleSink(out, err, quiet=opts["quiet"], show_findings=False))
        return sinks
    staged = None
    if manifest and opts.get("state"):
        # With a state, PATH only ever holds a finished manifest (run/state.py).
        from ..run.state import StagedManifest

        staged = StagedManifest(manifest)
        sinks.append(staged)
        opts = {**opts, "manifest": None}  # the notice below says where it went
    elif manifest:
        sinks.append(JsonlSink(manifest))
    sinks.append(STDOUT_FORMATS[fmt](opts, out, err))
    if fmt != "text" and not opts["quiet"]:
        # stdout is machine-readable; keep errors and the summary on stderr.
        sinks.append(ConsoleSink(out, err, show_findings=False, manifest_path=opts.get("manifest")))
    if staged is not None and not opts["quiet"]:
        sinks.append(staged.notice_sink(err))
    return sinks


def build_progress(opts: dict[str, Any], err: IO[str]) -> Any:
    from ..run.progress import ScanCallback, StatusLines, TqdmProgress

    if opts["quiet"] or opts["progress"] is False:
        return ScanCallback()
    tty = _isatty(err)
    if opts["progress"] or tty:
        return TqdmProgress(err)
    return StatusLines(err, interval=30.0)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _local_runner(opts: dict[str, Any], settings: dict[str, Any]) -> Any:
    from ..run.executor import ExecutorRunner, InProcessRunner, default_jobs, process_pool

    jobs = opts["jobs"] or default_jobs()
    if jobs == 1:
        return InProcessRunner(settings)
    return ExecutorRunner(process_pool(settings, jobs), settings, initialized=True, jobs=jobs)


#: --executor name -> factory(opts, settings) -> runner. (Dask plugs in here.)
EXECUTORS: dict[str, Callable[[dict[str, Any], dict[str, Any]], Any]] = {
    "local": _local_runner,
}

#: Functions (opts, key, runner) -> runner wrapped around the chosen runner
#: (``--baseline`` drops accepted findings before the sweep counts them).
RUNNER_WRAPPERS: list[Callable[[dict[str, Any], Any, Any], Any]] = []


def public_settings(opts: dict[str, Any], config: Any, limits: Any) -> dict[str, Any]:
    """The effective settings recorded in the manifest (never the key)."""
    from ..run.executor import default_jobs

    return {
        "engine": config.to_dict(),
        "limits": limits.to_dict(),
        "selection": {k: opts[k] for k in ("include", "exclude", "gitignore", "max_file_size", "follow_symlinks")},
        "run": {"jobs": opts["jobs"] or default_jobs(), "split_size": opts["split_size"], "executor": opts["executor"],
                **({"scheduler": _safe_address(opts.get("scheduler"))} if opts["executor"] == "dask" else {})},
        "config_file": opts.get("config_file"),
    }


def _safe_address(address: str | None) -> str | None:
    from ..run.sweep import _safe_url

    return _safe_url(address) if address else address


def setup_logging(level: str, err: IO[str]) -> None:
    import logging

    from ..prevent import RedactingFilter

    logger = logging.getLogger("cardscan")
    logger.setLevel(level.upper())
    for h in list(logger.handlers):
        if getattr(h, "_cardscan_cli", False):
            logger.removeHandler(h)
    handler = logging.StreamHandler(err)
    handler._cardscan_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("cardscan: %(levelname)s %(name)s: %(message)s"))
    handler.addFilter(RedactingFilter())  # whatever a log line holds, no PAN leaves
    logger.addHandler(handler)
    logger.propagate = False


def exit_status(summary: dict[str, Any]) -> int:
    """130/143 interrupted > 1 findings > 2 incomplete (errors) > 0 clean. See docs/cli.md."""
    if summary.get("status") == "interrupted":
        return EXIT_BY_REASON.get(summary.get("reason", ""), EXIT_BY_REASON["signal"])
    if summary.get("findings", 0):
        return EXIT_FINDINGS
    if summary.get("errors", 0):
        return EXIT_INCOMPLETE
    return EXIT_CLEAN


# -- running -----------------------------------------------------------------------
def execute(opts: dict[str, Any], out: IO[str] | None = None, err: IO[str] | None = None) -> tuple[int, dict[str, Any]]:
    """Run a scan from effective options; (exit status, summary)."""
    from ..run.sweep import Sweep, scan_info
    from ..run.worker import make_settings
    from ..settings import load_key

    out = out or sys.stdout
    err = err or sys.stderr
    setup_logging(opts.get("log_level") or "warning", err)
    key, key_source = load_key(opts.get("key_file"))
    if key_source == "random" and not opts["quiet"]:
        err.write("cardscan: note: no fingerprint key (--key-file or CARDSCAN_FINGERPRINT_KEY); "
                  "fingerprints from this run will not match other runs\n")
    sources, specs = build_sources(opts)
    config = build_config(opts)
    limits = build_limits(opts)
    settings = make_settings(config, key, limits, specs)
    settings["log_level"] = opts.get("log_level") or "warning"
    info = scan_info(sources, public_settings(opts, config, limits), key, key_source)
    state = open_state(opts, config, limits, key)
    try:
        runner = EXECUTORS[opts["executor"]](opts, settings)
        for wrap in RUNNER_WRAPPERS:
            runner = wrap(opts, key, runner)
        progress = build_progress(opts, err)
        guard = getattr(progress, "guard", None)
        if guard is not None:  # findings and errors are printed above the bar, not through it
            if _isatty(out):
                out = guard(out)
            err = guard(err)
        try:
            sinks = build_sinks(opts, out, err)
        except BaseException:
            progress.close()
            raise
        summary = Sweep(sources, runner, sinks, scan_info=info, progress=progress, split_size=opts["split_size"],
                        state=state).run()
    finally:
        if state is not None:
            state.store.close()
    return exit_status(summary), summary


def open_state(opts: dict[str, Any], config: Any, limits: Any, key: Any) -> Any:
    """The sweep state for ``--state FILE`` (None without it). See docs/scale.md."""
    from ..errors import ConfigError

    path = opts.get("state")
    if not path:
        if opts.get("full"):
            raise ConfigError("--full rescans what a state would carry over: it needs --state FILE")
        return None
    manifest = opts.get("manifest")
    if path == STATE_NEXT_TO_MANIFEST:
        if not manifest or manifest == "-":
            raise ConfigError("--state without FILE puts the state next to the manifest: give --manifest PATH "
                              "or --state FILE")
        path = manifest + ".state"
    from ..run.state import open_state as _open

    extra = {}
    if opts.get("baseline"):  # carried-over findings were filtered by the baseline of their run
        import hashlib

        try:
            with open(opts["baseline"], "rb") as fh:
                extra["baseline"] = hashlib.sha256(fh.read()).hexdigest()
        except OSError:
            pass  # the baseline wrapper reports it
    return _open(path, engine=config.to_dict(), limits=limits.to_dict(), key=key, full=bool(opts.get("full")),
                 extra=extra, manifest=manifest if manifest != "-" else None)


def run(args: argparse.Namespace) -> int:
    opts = resolve(args)
    status, _ = execute(opts)
    return status


# -- S3 and SQL sources (docs/sources.md) --------------------------------------------
def add_s3_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("S3 sources (s3://bucket/prefix/)")
    g.add_argument("--endpoint-url", dest="s3_endpoint_url", metavar="URL", default=None,
                   help="S3-compatible store (MinIO, Ceph ...); default $AWS_ENDPOINT_URL, else AWS")
    g.add_argument("--region", dest="s3_region", metavar="NAME", default=None,
                   help="client region (default: the AWS config chain)")
    g.add_argument("--profile", dest="s3_profile", metavar="NAME", default=None,
                   help="AWS profile for credentials (default: the standard credential chain)")
    g.add_argument("--no-sign-request", dest="s3_anon", action="store_true", default=None,
                   help="anonymous requests (public buckets)")
    g.add_argument("--requester-pays", dest="s3_requester_pays", action="store_true", default=None,
                   help="scan requester-pays buckets (your account pays the transfer)")
    g.add_argument("--all-versions", dest="all_versions", action="store_true", default=None,
                   help="also scan non-current object versions (deleted cards live on in them)")


def add_sql_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("SQL sources (sqlite:///x.db, postgresql://..., mysql+pymysql://...)")
    for flag, dest, what in (
        ("--schema", "sql_schemas", "scan only schemas matching GLOB"),
        ("--exclude-schema", "sql_exclude_schemas", "skip schemas matching GLOB"),
        ("--table", "sql_tables", "scan only tables matching GLOB (table or schema.table)"),
        ("--exclude-table", "sql_exclude_tables", "skip tables matching GLOB"),
        ("--column", "sql_columns", "scan only columns matching GLOB (column, table.column ...)"),
        ("--exclude-column", "sql_exclude_columns", "skip columns matching GLOB"),
    ):
        g.add_argument(flag, dest=dest, action="append", metavar="GLOB", default=None, help=what + " (repeatable)")
    g.add_argument("--sample", dest="sql_sample", type=_rows, metavar="N", default=None,
                   help="read only the first N rows of each table (a quick survey; default: every row)")
    g.add_argument("--exposure", dest="exposure", action=argparse.BooleanOptionalAction, default=None,
                   help="look up who may read each S3 object and SQL table (default: on)")


def _rows(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError("expected a number of rows (at least 1)")
    return int(text)


def _s3_options(opts: dict[str, Any]) -> dict[str, Any]:
    return {
        "endpoint_url": opts["s3_endpoint_url"], "region": opts["s3_region"], "profile": opts["s3_profile"],
        "anon": bool(opts["s3_anon"]), "requester_pays": bool(opts["s3_requester_pays"]),
        "all_versions": bool(opts["all_versions"]), "exposure": bool(opts["exposure"]),
    }


def _sql_options(opts: dict[str, Any]) -> dict[str, Any]:
    return {
        "schemas": opts["sql_schemas"], "exclude_schemas": opts["sql_exclude_schemas"],
        "tables": opts["sql_tables"], "exclude_tables": opts["sql_exclude_tables"],
        "columns": opts["sql_columns"], "exclude_columns": opts["sql_exclude_columns"],
        "sample": opts["sql_sample"], "exposure": bool(opts["exposure"]),
    }


def _add_remote_sources() -> None:
    """Plug the S3 and SQL sources' options into the tables above."""
    DEFAULTS.update({
        "s3_endpoint_url": None, "s3_region": None, "s3_profile": None, "s3_anon": False,
        "s3_requester_pays": False, "all_versions": False,
        "sql_schemas": None, "sql_exclude_schemas": None, "sql_tables": None, "sql_exclude_tables": None,
        "sql_columns": None, "sql_exclude_columns": None, "sql_sample": None,
        "exposure": True,
    })
    OPTION_GROUPS.extend([add_s3_options, add_sql_options])
    SOURCE_OPTIONS.update({"s3": _s3_options, "sql": _sql_options})


_add_remote_sources()


# -- resumable and incremental sweeps, Dask (docs/scale.md) ---------------------------
#: ``--state`` without FILE: ``MANIFEST.state``, next to the manifest.
STATE_NEXT_TO_MANIFEST = "\0next-to-manifest"


def add_scale_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("resuming, incremental sweeps, clusters (docs/scale.md)")
    g.add_argument("--state", nargs="?", const=STATE_NEXT_TO_MANIFEST, default=None, metavar="FILE",
                   help="keep a sweep state in FILE (SQLite, 0600; default MANIFEST.state): an interrupted sweep "
                        "resumes, a repeated one rescans only what changed; put it after SOURCE when giving no FILE")
    g.add_argument("--full", action="store_true", default=None,
                   help="with --state: scan everything again (the state is still updated)")
    g.add_argument("--executor", choices=sorted(EXECUTORS), default=None,
                   help="where workers run: local processes (default) or a Dask cluster")
    g.add_argument("--scheduler", metavar="ADDRESS", default=None,
                   help="with --executor dask: the scheduler (tcp://host:8786), or 'local' for a local cluster "
                        "of --jobs processes; default $DASK_SCHEDULER_ADDRESS")


def _dask_runner(opts: dict[str, Any], settings: dict[str, Any]) -> Any:
    from ..run.dask import DaskRunner, connect

    client, cluster = connect(opts.get("scheduler"), workers=opts.get("jobs"))
    try:
        return DaskRunner(client, settings, own=True, cluster=cluster)
    except BaseException:
        client.close()
        if cluster is not None:
            cluster.close()
        raise


def _add_scale() -> None:
    from .. import settings

    DEFAULTS.update({"state": None, "full": False, "scheduler": None})
    EXECUTORS.setdefault("dask", _dask_runner)
    if add_scale_options not in OPTION_GROUPS:
        OPTION_GROUPS.append(add_scale_options)
    settings.KNOWN.setdefault("state", settings._str)
    settings.KNOWN.setdefault("executor", settings._choice(*sorted(EXECUTORS)))
    settings.KNOWN.setdefault("scheduler", settings._str)
    settings.PATHS.add("state")


_add_scale()


# Repository and CI options: --format sarif/junit, --baseline, --git-history.
from . import scan_ci as _scan_ci  # noqa: E402  (registers into the tables above)

_scan_ci.register()
