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


class _InspectWhenUsed(types.ModuleType):
    """``dataclasses``' name for ``inspect``, imported on first use (see :func:`_dataclasses_without_inspect`)."""

    def __getattr__(self, name: str) -> Any:
        import importlib

        real = importlib.import_module("inspect")  # (this stand-in is in no sys.modules by now)
        dataclasses = sys.modules.get("dataclasses")
        if dataclasses is not None and getattr(dataclasses, "inspect", None) is self:
            dataclasses.inspect = real  # type: ignore[attr-defined]
        return getattr(real, name)


def _dataclasses_without_inspect() -> None:
    """Import ``dataclasses`` without importing ``inspect`` (and ``ast``, ``dis``) with it.

    ``dataclasses`` imports ``inspect`` at its top but uses it only to write
    a docstring for a class that has none (``inspect.signature``); the
    command line's classes all have one, and nothing else on a scan's path
    imports ``inspect``. Importing the three was ~30 M instructions (~7 ms)
    of every start-up. Here ``dataclasses`` binds a stand-in that imports
    the real module the first time it is used; ``sys.modules`` never holds
    the stand-in after this returns, so any other ``import inspect`` gets
    the real one. Nothing is done if either module is imported already.
    (``importlib.util.LazyLoader`` cannot do this: ``import inspect`` reads
    the module's ``__spec__``, which loads it.)
    """
    if "dataclasses" in sys.modules or "inspect" in sys.modules:
        return
    stand_in = sys.modules["inspect"] = _InspectWhenUsed("inspect")
    try:
        import dataclasses  # noqa: F401
    finally:
        if sys.modules.get("inspect") is stand_in:
            del sys.modules["inspect"]


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
