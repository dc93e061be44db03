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
from contextlib import contextmanager
from typing import Iterator


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
