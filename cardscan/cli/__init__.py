"""The command line: ``cardscan <command> ...`` (see docs/cli.md).

main.py holds the subcommand table and the one error handler; options.py
turns the option table (cardscan/options.py) into argparse and layers the
settings file under the command line; each command is a module with
``configure(parser)`` and ``run(args) -> int``. ``scan`` is argv -> options
-> ``cardscan.run.sweep`` -> exit status. Modules import heavy parts
(engine, pools, tqdm) inside ``run`` so start-up stays light (a pre-commit
hook starts cardscan once per commit), and main.py configures only the
command being run.
"""
from __future__ import annotations

import gc
import sys
import types
from contextlib import contextmanager
from typing import Any, Iterator


class _WhenUsed(types.ModuleType):
    """A module's stand-in, bound in one importer's namespace, that imports the
    real module on first use and binds that there in its place (see
    :func:`_import_without`)."""

    def __init__(self, name: str, importer: str) -> None:
        super().__init__(name)
        self.__dict__["_importer"] = importer

    def __getattr__(self, name: str) -> Any:
        import importlib

        real = importlib.import_module(self.__name__)  # (this stand-in is in no sys.modules by now)
        importer = sys.modules.get(self.__dict__["_importer"])
        if importer is not None and getattr(importer, self.__name__, None) is self:
            setattr(importer, self.__name__, real)
        return getattr(real, name)


def _import_without(importer: str, deferred: str) -> None:
    """Import module ``importer`` without importing ``deferred``, which it imports at its top.

    ``importer`` binds a stand-in that imports the real module the first time
    it is used; ``sys.modules`` never holds the stand-in after this returns,
    so any other ``import`` of ``deferred`` gets the real one. Nothing is done
    if either module is imported already. (``importlib.util.LazyLoader``
    cannot do this: ``import x`` reads the module's ``__spec__``, which loads it.)
    """
    if importer in sys.modules or deferred in sys.modules:
        return
    stand_in = sys.modules[deferred] = _WhenUsed(deferred, importer)
    try:
        __import__(importer)
    finally:
        if sys.modules.get(deferred) is stand_in:
            del sys.modules[deferred]


def _dataclasses_without_inspect() -> None:
    """Import ``dataclasses`` without importing ``inspect`` (and ``ast``, ``dis``) with it.

    ``dataclasses`` imports ``inspect`` at its top but uses it only to write
    a docstring for a class that has none (``inspect.signature``); the
    command line's classes all have one, and nothing else on a scan's path
    imports ``inspect``. Importing the three was ~30 M instructions (~7 ms)
    of every start-up.
    """
    _import_without("dataclasses", "inspect")


def logging_without_traceback() -> None:
    """Import ``logging`` without importing ``traceback`` (and ``linecache``,
    ``tokenize``, ``textwrap``) with it, for a command that sets up logging.

    ``logging`` imports ``traceback`` at its top but uses it only to format
    an exception or a stack (a record with ``exc_info`` or ``stack_info``, a
    handler's error): a scan that logs none never needs it. Importing the
    four was ~10 M instructions (~2.5 ms) of every scan's start-up.
    """
    _import_without("logging", "traceback")


_dataclasses_without_inspect()


@contextmanager
def setting_up() -> Iterator[None]:
    """No garbage collection while a command sets up (imports, the parser, the options).

    What start-up makes (modules, classes, the option table, the parser: ~100k
    objects) lives as long as the process: the collector's ~30 passes over it
    found nothing and cost ~5 ms of every run. After the block it is frozen
    (out of later collections' sight, as ``Sweep.run`` freezes what exists
    when a sweep starts) and collection is back on for the command's work.
    A block inside another (or with the collector already off) changes nothing.
    """
    if not gc.isenabled():
        yield
        return
    gc.disable()
    try:
        yield
    finally:
        gc.freeze()
        gc.enable()
