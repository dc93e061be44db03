"""Scan files, directories, S3, SQL databases and git history for card numbers.

``cardscan scan SOURCE... [options]``: argv -> options (the table in
cardscan/options.py, through cardscan/cli/options.py) -> ``cardscan.run.sweep``
-> exit status. This module only chooses what goes to stdout (``FORMATS``)
and how progress and logging look. See docs/cli.md.
"""
from __future__ import annotations

import argparse
import sys
from typing import IO, Any, Callable

HELP = "scan files, directories, S3, SMB shares and SQL databases for card numbers"

EXIT_CLEAN, EXIT_FINDINGS, EXIT_INCOMPLETE = 0, 1, 2
EXIT_BY_REASON = {"signal": 130, "terminated": 143}

EPILOG = """\
exit status:
  0    clean and complete: every object was scanned, nothing was found
  1    card numbers found (wins over errors: there are cards to remediate)
  2    nothing found, but not everything could be scanned; or a usage or
       configuration error (nothing was scanned)
  130  interrupted (Ctrl-C); 143 terminated (SIGTERM); 141 stdout closed

examples:
  cardscan scan /srv/share --manifest share.jsonl
  cardscan scan /mnt/finance --exclude '*.iso' --max-file-size 2GB -j 8
  cardscan scan . --format sarif > cardscan.sarif
  cardscan scan --git-history .                      # every commit of the repository
  cardscan scan . --git-range origin/main..HEAD      # only what a branch added
  cardscan scan s3://bucket/exports/ postgresql://scanner@db/shop --manifest m.jsonl
  cardscan scan /srv/share --manifest m.jsonl --state  # resumable, incremental

settings files (.cardscan.toml, pyproject.toml [tool.cardscan]) and every
option: docs/cli.md
"""


# -- what goes to stdout -----------------------------------------------------------------
Factory = Callable[[Any, IO[str], IO[str]], Any]


def _stream(out: IO[str]) -> Any:
    return out if out is not sys.stdout else "-"


def _text_sink(options: Any, out: IO[str], err: IO[str]) -> Any:
    from ..sinks.console import ConsoleSink

    staged = options.state and options.manifest not in (None, "-")  # the notice says where it went
    manifest = options.manifest if options.manifest not in (None, "-") and not staged else None
    return ConsoleSink(out, err, quiet=options.quiet, manifest_path=manifest)


def _jsonl_sink(options: Any, out: IO[str], err: IO[str]) -> Any:
    from ..sinks.jsonl import JsonlSink

    return JsonlSink(_stream(out))


def _sarif_sink(options: Any, out: IO[str], err: IO[str]) -> Any:
    from ..sinks.sarif import SarifSink

    return SarifSink(_stream(out))


def _junit_sink(options: Any, out: IO[str], err: IO[str]) -> Any:
    from ..sinks.junit import JUnitSink

    return JUnitSink(_stream(out))


def _csv_sink(options: Any, out: IO[str], err: IO[str]) -> Any:
    from ..sinks.csv import CsvSink

    return CsvSink(_stream(out))


#: ``--format`` name -> (factory(options, stdout, stderr) -> sink, help). Plugins of
#: the ``cardscan.sinks`` entry-point group add formats; a built-in name wins.
FORMATS: dict[str, tuple[Factory, str]] = {
    "text": (_text_sink, "one line per finding (default)"),
    "jsonl": (_jsonl_sink, "the manifest's records"),
    "sarif": (_sarif_sink, "SARIF 2.1.0 for code scanning"),
    "junit": (_junit_sink, "JUnit XML for CI dashboards"),
    "csv": (_csv_sink, "one row per finding"),
}


def plugin_formats() -> dict[str, Any]:
    """``cardscan.sinks`` entry points by name (not loaded), built-in names included."""
    from .. import registry

    # Asked twice at every start-up: the cached answer (one read of the
    # installed distributions per process; cli.main refreshes it for a
    # library caller's next run, so a plugin installed since is seen).
    if not registry.may_declare("cardscan.sinks"):
        return {}
    from importlib.metadata import entry_points

    return {ep.name: ep for ep in entry_points(group="cardscan.sinks")}


def format_names() -> list[str]:
    return [*FORMATS, *sorted(set(plugin_formats()) - set(FORMATS))]


def stdout_sink(options: Any, out: IO[str], err: IO[str]) -> Any:
    """The sink ``--format`` names, writing to ``out``.

    A plugin is built as ``Class(out)``. A plugin named like a built-in
    format does not replace it: the built-in wins and a warning says so.
    """
    from ..errors import ConfigError

    name = options.format
    plugins = plugin_formats()
    if name in FORMATS:
        if name in plugins and not options.quiet:
            err.write(f"cardscan: warning: the cardscan.sinks plugin {name!r} ({plugins[name].value}) has the "
                      f"name of a built-in format; the built-in {name!r} is used\n")
        return FORMATS[name][0](options, out, err)
    if name in plugins:
        from ..errors import MissingDependency

        try:
            cls = plugins[name].load()
        except ImportError as exc:
            raise MissingDependency(f"the --format plugin {name!r} cannot be loaded ({exc})") from None
        return cls(_stream(out))
    import difflib

    close = difflib.get_close_matches(name, format_names(), n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    raise ConfigError(f"unknown --format {name!r}{hint}; known: {', '.join(format_names())}")


def stdout_sinks(options: Any, out: IO[str], err: IO[str]) -> list[Any]:
    """What goes to stdout and stderr besides the manifest."""
    from ..errors import ConfigError
    from ..sinks.console import ConsoleSink

    if options.manifest == "-":
        if options.format != "text":
            raise ConfigError("--manifest - already writes the manifest to stdout; drop --format")
        return [ConsoleSink(out, err, quiet=options.quiet, show_findings=False)]
    sinks = [stdout_sink(options, out, err)]
    if options.format != "text" and not options.quiet:
        # stdout is machine-readable; keep errors and the summary on stderr.
        staged = options.state and options.manifest is not None
        sinks.append(ConsoleSink(out, err, show_findings=False, manifest_path=None if staged else options.manifest))
    return sinks


# -- the command ------------------------------------------------------------------------
def configure(parser: argparse.ArgumentParser) -> None:
    from ..options import spec
    from .options import add_options

    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("sources", nargs="+", metavar="SOURCE", help=spec("sources").help)
    formats = "; ".join(f"{n}: {FORMATS[n][1] if n in FORMATS else 'a cardscan.sinks plugin'}" for n in format_names())
    add_options(parser, "scan", help_vars={"formats": formats})


def run(args: argparse.Namespace) -> int:
    from .options import to_options

    status, _ = execute(to_options(args, "scan"))
    return status


def execute(options: Any, out: IO[str] | None = None, err: IO[str] | None = None) -> tuple[int, dict[str, Any]]:
    """Run a scan from options; (exit status, summary)."""
    from . import logging_without_traceback, setting_up

    with setting_up():  # the sweep's modules
        logging_without_traceback()
        key = _early_key(options)
        from ..run import sweep
    from ..display import is_terminal

    out = out or sys.stdout
    err = err or sys.stderr
    setup_logging(options.log_level, err)
    progress = build_progress(options, err)
    try:
        guard = getattr(progress, "guard", None)
        if guard is not None:  # findings and errors are printed above the bar, not through it
            if is_terminal(out):
                out = guard(out)
            err = guard(err)
        sinks = stdout_sinks(options, out, err)
        summary = sweep(options, sinks=sinks, progress=progress, notices=None if options.quiet else err, key=key)
    except BaseException:
        progress.close()  # a setup error: the bar must not stay on the terminal
        raise
    return exit_status(summary), summary


def _early_key(options: Any) -> Any:
    """The sweep's fingerprint key, its id already being derived on a thread.

    The id (PBKDF2, ~25 ms, slow on purpose) lets go of the GIL: started
    here, it is made on another core while the sweep's modules import,
    instead of after them on the way to the scan record. The key says where
    it came from (file, env, random), so the scan record is the same. None
    when it cannot be loaded: the sweep loads it again and reports why in
    its own order (after its checks of the options)."""
    from ..errors import CardscanError
    from ..settings import load_key

    try:
        key, _ = load_key(options.key_file)
    except CardscanError:
        return None
    key.start_key_id()
    return key


def build_progress(options: Any, err: IO[str]) -> Any:
    from ..display import is_terminal
    from ..run.progress import ScanCallback, StatusLines, TqdmProgress

    if options.quiet or options.progress is False:
        return ScanCallback()
    if options.progress or is_terminal(err):
        return TqdmProgress(err)
    return StatusLines(err, interval=30.0)


def setup_logging(level: str, err: IO[str]) -> None:
    import logging

    from ..privacy import install_boundary

    logger = logging.getLogger("cardscan")
    logger.setLevel(level.upper())
    for h in list(logger.handlers):
        if getattr(h, "_cardscan_cli", False):
            logger.removeHandler(h)
    handler = logging.StreamHandler(err)
    handler._cardscan_cli = True  # type: ignore[attr-defined]
    handler.setFormatter(logging.Formatter("cardscan: %(levelname)s %(name)s: %(message)s"))
    install_boundary(handler)  # whatever a log line holds, of any logger, no PAN leaves
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
