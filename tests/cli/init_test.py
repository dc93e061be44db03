"""cardscan/cli/__init__.py: the start-up window without garbage collection."""
from __future__ import annotations

import gc

from cardscan.cli import setting_up


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
