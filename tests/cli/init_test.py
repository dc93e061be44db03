"""cardscan/cli/__init__.py: the start-up window without garbage collection, dataclasses without inspect,
logging without traceback."""
from __future__ import annotations

import gc
import os
import subprocess
import sys
from pathlib import Path

import cardscan
from cardscan.cli import setting_up

ROOT = Path(__file__).resolve().parents[2]


def test_setting_up_collects_nothing_then_freezes_what_it_made_and_collects_again() -> None:
    assert gc.isenabled()
    try:
        with setting_up():
            assert not gc.isenabled()
            made = [[i] for i in range(1000)]  # lives on, like a module's tables
            with setting_up():  # nested: the outer block decides
                pass
            assert not gc.isenabled()
        assert gc.isenabled() and gc.get_freeze_count() >= len(made)
        gc.disable()
        with setting_up():  # the collector was off: it stays off, nothing is frozen
            pass
        assert not gc.isenabled()
    finally:
        gc.enable()
        gc.unfreeze()


_NO_INSPECT = """\
import sys
from cardscan.cli.main import main
status = [main(["scan", "-q", "--jobs", "1", "--manifest", sys.argv[1], sys.argv[2]])]
before = [m for m in ("inspect", "ast", "dis") if m in sys.modules]
import dataclasses

@dataclasses.dataclass
class NoDocstring:
    a: int

print(status, before, NoDocstring.__doc__, dataclasses.inspect is sys.modules["inspect"])
"""


def test_a_scan_imports_no_inspect_and_dataclasses_still_has_it_when_used(tmp_path: Path) -> None:
    # dataclasses imports inspect (with ast and dis, ~7 ms) to write the docstring of a
    # class that has none: the command line's dataclasses all have one, so it waits.
    demo = Path(cardscan.__file__).parent / "data" / "demo"  # logs, a .gz, a CSV export, notes
    out = subprocess.run([sys.executable, "-c", _NO_INSPECT, str(tmp_path / "m.jsonl"), str(demo)],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "CARDSCAN_FINGERPRINT_KEY": "k" * 40})
    assert out.stdout.split("\n")[0] == "[1] [] NoDocstring(a: int) True", out.stderr[-2000:]


def test_the_stand_in_is_only_dataclasses_own_name_for_inspect() -> None:
    # In this process (pytest) both were imported long ago: nothing is replaced.
    import dataclasses
    import inspect

    from cardscan.cli import _dataclasses_without_inspect

    _dataclasses_without_inspect()
    assert sys.modules["inspect"] is inspect and dataclasses.inspect is inspect


_NO_TRACEBACK = """\
import io, sys
from cardscan.cli.main import main
status = [main(["scan", "-q", "--jobs", "1", "--manifest", sys.argv[1], sys.argv[2]])]
before = [m for m in ("traceback", "linecache", "tokenize", "textwrap") if m in sys.modules]
import logging

out = io.StringIO()
log = logging.getLogger("t")
log.addHandler(logging.StreamHandler(out))
try:
    1 / 0
except ZeroDivisionError:
    log.exception("failed")
print(status, before, "Traceback (most recent call last)" in out.getvalue(), "ZeroDivisionError" in out.getvalue(),
      logging.traceback is sys.modules["traceback"])
"""


def test_a_scan_imports_no_traceback_and_logging_still_formats_an_exception(tmp_path: Path) -> None:
    # logging imports traceback (with linecache, tokenize and textwrap, ~2.5 ms) to format
    # an exception or a stack: a scan that logs none waits for it.
    demo = Path(cardscan.__file__).parent / "data" / "demo"
    out = subprocess.run([sys.executable, "-c", _NO_TRACEBACK, str(tmp_path / "m.jsonl"), str(demo)],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "CARDSCAN_FINGERPRINT_KEY": "k" * 40})
    assert out.stdout.split("\n")[0] == "[1] [] True True True", out.stdout + out.stderr[-2000:]


def test_a_stand_in_is_only_used_where_neither_module_was_imported() -> None:
    # In this process (pytest) logging and traceback were imported long ago: nothing is replaced.
    import logging
    import traceback

    from cardscan.cli import logging_without_traceback

    logging_without_traceback()
    assert sys.modules["traceback"] is traceback and logging.traceback is traceback
