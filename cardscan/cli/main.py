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
from typing import Sequence

#: name -> module implementing ``configure(parser)`` and ``run(args) -> int``.
COMMANDS: dict[str, str] = {
    "scan": "cardscan.cli.scan",
    "report": "cardscan.cli.report",
    "demo": "cardscan.cli.demo",
    "hook": "cardscan.cli.hook",
    "baseline": "cardscan.cli.baseline",
    "remediate": "cardscan.cli.remediate",
    "access": "cardscan.cli.access",
}

EXIT_ERROR = 2
EXIT_INTERRUPTED = 130
EXIT_BROKEN_PIPE = 141


def build_parser() -> argparse.ArgumentParser:
    from .. import __version__

    parser = argparse.ArgumentParser(
        prog="cardscan",
        description="Find leaked payment card numbers (PANs), map them in a manifest, remove them.",
    )
    parser.add_argument("--version", action="version", version=f"cardscan {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, module_name in COMMANDS.items():
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=module.HELP, description=module.__doc__.split("\n\n")[0] if module.__doc__ else None)
        module.configure(p)
        p.set_defaults(_module=module_name)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    try:
        parser = build_parser()
        args = parser.parse_args(argv)
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
        # A bug: show the traceback (masked: it must not become the leak) and
        # report "could not scan" rather than crash with Python's default.
        import traceback

        from ..prevent import redact

        _error(f"internal error ({type(exc).__name__}); please report it with this traceback:\n"
               + redact("".join(traceback.format_exception(exc))))
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
    sys.exit(main())
