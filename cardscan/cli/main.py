"""``cardscan`` entry point: ``main(argv=None) -> int``.

One table of subcommands (name -> module), one place that maps exceptions to
exit statuses:

* ``CardscanError`` (bad option, unreadable key file, bad manifest ...):
  ``cardscan: error: <message>`` on stderr, exit 2;
* ``KeyboardInterrupt``: exit 130;
* ``BrokenPipeError`` (``cardscan scan . | head``): quiet, exit 141 (like a
  process killed by SIGPIPE), with stdout pointed at /dev/null so Python's
  final flush does not complain.
"""
from __future__ import annotations

import argparse
import importlib
import os
import sys
from typing import Any, NoReturn, Sequence

from . import setting_up

#: name -> module implementing ``configure(parser)`` and ``run(args) -> int``.
COMMANDS: dict[str, str] = {
    "scan": "cardscan.cli.scan",
    "report": "cardscan.cli.report",
    "demo": "cardscan.cli.demo",
    "hook": "cardscan.cli.hook",
    "baseline": "cardscan.cli.baseline",
    "remediate": "cardscan.cli.remediate",
    "access": "cardscan.cli.access",
    "keygen": "cardscan.cli.keygen",
}

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


def version_text() -> str:
    """``cardscan 0.1.0 (engine backend: c)``: which candidate finder this install runs."""
    from .. import __version__
    from ..engine.candidates import best_backend

    backend = best_backend()
    what = "C extension" if backend == "c" else "pure Python; the C extension is not built"
    return f"cardscan {__version__} (engine backend: {backend}, {what})"


class _Version(argparse.Action):
    """``--version``, computed only when asked (it imports the engine)."""

    def __init__(self, option_strings: Sequence[str], dest: str = argparse.SUPPRESS, **kw: Any) -> None:
        super().__init__(option_strings, dest, nargs=0, default=argparse.SUPPRESS, **kw)

    def __call__(self, parser: argparse.ArgumentParser, *args: Any, **kw: Any) -> None:
        sys.stdout.write(version_text() + "\n")
        parser.exit()


def build_parser(argv: Sequence[str] | None = None) -> tuple[argparse.ArgumentParser, dict[str, Any]]:
    """(the parser, command name -> its subparser).

    Only the command being run gets its options (``configure``): building
    every command's parser would import every command module and the
    plugins' entry points on each pre-commit run. When the command is the
    first argument (``cardscan scan ...``), it is the only subparser: no
    other can be reached, and the top-level help that lists them all cannot
    be asked for after it (``cardscan -h scan`` still lists them).
    """
    from .options import Parser, building

    with building():
        parser = Parser(
            prog="cardscan",
            description="Find leaked payment card numbers (PANs), map them in a manifest, remove them.",
            epilog=EPILOG,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        parser.add_argument("--version", action=_Version, help="show the version and engine backend, and exit")
        sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
        return parser, _add_commands(sub, _command_in(argv), _first_argument(argv))


def _add_commands(sub: Any, wanted: str | None, first: str | None) -> dict[str, Any]:
    subparsers: dict[str, Any] = {}
    for name, module_name in COMMANDS.items():
        if first in COMMANDS and name != first:
            continue
        module = importlib.import_module(module_name) if name == wanted else None
        summary = module.HELP if module is not None else _HELPS[name]
        p = sub.add_parser(name, help=summary, description=_description(module) if module else None)
        if module is not None:
            module.configure(p)
        p.set_defaults(_module=module_name)
        subparsers[name] = p
    return subparsers


#: One-line help per command for ``cardscan --help`` (the modules are imported only when run).
_HELPS = {
    "scan": "scan files, directories, S3, SMB shares and SQL databases for card numbers",
    "report": "summarise manifests (and remediation audit logs) as text and a self-contained HTML page",
    "demo": "scan a bundled sample share and show where the results are",
    "hook": "check files being committed for card numbers (pre-commit hook)",
    "baseline": "create, update or audit the baseline of accepted findings (.cardscan-baseline.json)",
    "remediate": "redact, quarantine or delete the card numbers a manifest lists (dry run by default)",
    "access": "who read the card-holding objects of a manifest (S3 access logs, CloudTrail, pgAudit, atime)",
    "keygen": "create a random fingerprint key file (0600; never overwrites one)",
}

EPILOG = """\
exit status (scan): 0 clean, 1 card numbers found, 2 not everything could be
scanned or a usage error, 130 interrupted. Each command's --help has its own.

examples:
  cardscan demo
  cardscan keygen                          # once: a key in ~/.config/cardscan/key
  cardscan scan /srv/share --key-file ~/.config/cardscan/key --manifest share.jsonl
  cardscan report share.jsonl --html report.html
  cardscan remediate share.jsonl --key-file ~/.config/cardscan/key --action redact  # dry run
  cardscan scan --git-history .

docs/cli.md has every command and option.
"""


def _description(module: Any) -> str | None:
    return module.__doc__.split("\n\n")[0] if module.__doc__ else None


def _command_in(argv: Sequence[str] | None) -> str | None:
    """The first argument naming a command (options before it take no value)."""
    for arg in sys.argv[1:] if argv is None else argv:
        if arg in COMMANDS:
            return arg
        if not arg.startswith("-"):
            return None
    return None


def _first_argument(argv: Sequence[str] | None) -> str | None:
    args = sys.argv[1:] if argv is None else argv
    return args[0] if args else None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command in ``argv`` (default: this process's command line); the exit status.

    Without ``argv`` this is the program (the ``cardscan`` script, ``python -m
    cardscan``): the process exits when it returns, so what exists then is
    frozen (``gc.freeze``): the interpreter's last collection at exit walked
    every object of the run to find nothing worth it (~10 ms of every run).
    Files and handlers are closed and flushed before, and atexit still runs.
    """
    try:
        return _bounded(argv)
    finally:
        if argv is None:
            import gc

            gc.freeze()


#: Commands whose process may leave at once when done (:func:`program`): their files
#: (manifest, state, outputs) are closed before they return, and they are what
#: pays start-up and exit on every run (a sweep of small files, a commit's hook).
LEAVES_AT_ONCE = frozenset({"scan", "hook"})


def program() -> NoReturn:
    """The ``cardscan`` program (the console script, ``python -m cardscan``): :func:`main`, then exit.

    After ``scan`` and ``hook`` it leaves with ``os._exit`` once what an exit
    does for others is done (:func:`_leave`): the interpreter's own
    teardown (every module emptied, every object freed: ~8 ms of each run's
    wall time) is work for nobody. A library caller uses :func:`main`.
    """
    if _command_in(None) == "scan":
        key = os.environ.get("CARDSCAN_FINGERPRINT_KEY")
        if key:  # its id on the other core while the rest starts (_keyid.py; checked where the key is loaded)
            from .._keyid import start_early

            start_early(key.encode("utf-8"))
    status = main()
    if _command_in(None) in LEAVES_AT_ONCE:
        _leave(status)
    sys.exit(status)


def _leave(status: int) -> None:
    """Exit now, as the interpreter would, but without its teardown; return if that is not safe.

    Kept from a normal exit: atexit handlers (``logging.shutdown``, which
    flushes and closes every handler; multiprocessing's; ``weakref.finalize``
    callbacks), the flush of stdout and stderr, and the exit status. Not
    done: waiting for other threads, so with a thread still running that is
    not a daemon (which a normal exit would wait for), or a Dask client in
    the process (its handlers and threads close a cluster), this returns
    and the caller exits the normal way. A stream that cannot be flushed
    (a closed pipe) is also left to the normal exit, which reports it as it
    always has.
    """
    import threading

    if "distributed" in sys.modules or any(
            t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        return
    if not _flushed():
        return
    import atexit

    atexit._run_exitfuncs()
    if not _flushed():  # (what a handler wrote): the normal exit says it, without running them twice
        atexit._clear()
        return
    os._exit(status)


def _flushed() -> bool:
    try:
        for stream in (sys.stdout, sys.stderr):
            if stream is not None:
                stream.flush()
    except (OSError, ValueError):
        return False
    return True


def _bounded(argv: Sequence[str] | None) -> int:
    # The output boundary (privacy.py): stdout and stderr mask card numbers,
    # whatever a command, a library, logging's last resort or ``warnings``
    # prints there. Commands that log set up the logging boundary too
    # (cli/scan.py setup_logging); the hook does not pay logging's import.
    from ..privacy import MaskedStream

    saved = sys.stdout, sys.stderr
    stdout, stderr, null = _open_streams(saved)
    sys.stdout, sys.stderr = MaskedStream(stdout), MaskedStream(stderr)
    try:
        return _main(argv)
    finally:
        for stream in (sys.stdout, sys.stderr):
            try:
                stream.flush()
            except (OSError, ValueError):  # a closed pipe: nothing more can be said
                pass
        sys.stdout, sys.stderr = saved
        if null is not None:
            null.close()


class _ClosedOutput:
    """Standard output for a process started without one (``>&-``: Python
    then has ``sys.stdout`` None). A write fails as a write to a closed
    descriptor does, so a command that prints reports it and exits 2
    (``cardscan: error: ...``, the manifest closed with its summary), as
    grep and rg do, instead of an internal error; one that prints nothing
    there (``-q``) runs."""

    def write(self, text: str) -> int:
        import errno

        raise OSError(errno.EBADF, "standard output is closed")

    def flush(self) -> None:
        pass


def _open_streams(streams: tuple[Any, Any]) -> tuple[Any, Any, Any]:
    """(stdout, stderr, a /dev/null file to close after) for the boundary.

    A standard descriptor the process was started without is given
    /dev/null first: a file this process opens then cannot take its number,
    where a child process (git, a database client) would write into it as
    its own stdout. stderr missing: notes and errors are dropped, as Python
    drops what goes to a missing stderr; stdout missing: see _ClosedOutput.
    """
    stdout, stderr = streams
    null = None
    for fd, stream in ((1, stdout), (2, stderr)):
        if stream is None:
            try:
                os.fstat(fd)
            except OSError:  # closed indeed (not a stream set to None by a host)
                taken = os.open(os.devnull, os.O_RDWR)
                if taken != fd:
                    os.dup2(taken, fd)
                    os.close(taken)
    if stdout is None:
        stdout = _ClosedOutput()
    if stderr is None:
        stderr = null = open(os.devnull, "w")
    return stdout, stderr, null


def _main(argv: Sequence[str] | None = None) -> int:
    registry = sys.modules.get("cardscan.registry")
    if registry is not None:  # an earlier run in this process: see plugins installed since
        registry.refresh()  # type: ignore[attr-defined]
    try:
        with setting_up():
            parser, subparsers = build_parser(argv)
            args, extras = parser.parse_known_args(argv)
        if extras:
            # argparse reports a subcommand's unknown option with the top-level
            # usage; say it with the subcommand's usage, and suggest a spelling.
            where = subparsers.get(getattr(args, "command", None) or "", parser)
            where.error(where.unknown(extras))
        if not getattr(args, "_module", None):
            parser.print_help(sys.stderr)
            return EXIT_ERROR
        return int(importlib.import_module(args._module).run(args))
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except BrokenPipeError:
        _silence_stdout()
        return EXIT_BROKEN_PIPE
    except SystemExit as exc:  # argparse: --help (0) and usage errors (2)
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    except Exception as exc:
        from ..errors import CardscanError

        if isinstance(exc, CardscanError):
            _error(str(exc))
            return EXIT_ERROR
        if isinstance(exc, OSError):  # the disk filled up under the manifest, a dead terminal ...
            where = f": {exc.filename}" if exc.filename else ""
            _error(f"{exc.strerror or type(exc).__name__}{where}")
            return EXIT_ERROR
        # A bug: show the traceback (masked by the boundary on stderr) and
        # report "could not scan" rather than crash with Python's default.
        import traceback

        _error(f"internal error ({type(exc).__name__}); please report it with this traceback:\n"
               + "".join(traceback.format_exception(exc)))
        return EXIT_ERROR


def _error(message: str) -> None:
    try:
        sys.stderr.write(f"cardscan: error: {message}\n")
        sys.stderr.flush()
    except (BrokenPipeError, ValueError):
        pass


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError, AttributeError):
        pass


if __name__ == "__main__":  # pragma: no cover
    program()
