"""Tests for cardscan/run/progress.py: counts only, on stderr."""
from __future__ import annotations

import io
import re

from cardscan.run.progress import ScanCallback, StatusLines, TqdmProgress, human_bytes


def test_status_lines_every_interval() -> None:
    out = io.StringIO()
    p = StatusLines(out, interval=0)
    p.set_size(10, 10_000_000)
    p.relative_update(files=2, nbytes=2_000_000, findings=3, errors=1)
    p.relative_update(files=1, nbytes=1_000_000)
    lines = out.getvalue().splitlines()
    assert len(lines) == 2
    assert re.fullmatch(r"cardscan: 3/10 files, 3\.0 MB, 3 findings, 1 errors, [0-9.]+ [KMGT]?B/s, ETA \d+:\d\d:\d\d",
                        lines[1]), lines[1]


def test_status_lines_quiet_between_intervals() -> None:
    out = io.StringIO()
    p = StatusLines(out, interval=3600)
    for _ in range(100):
        p.relative_update(files=1, nbytes=10)
    assert out.getvalue() == "" and p.files == 100


def test_tqdm_bar_shows_counts_and_totals() -> None:
    out = io.StringIO()
    p = TqdmProgress(out, mininterval=0)
    p.relative_update(files=1, nbytes=1000, findings=2)
    p.set_size(4, 4000)
    p.relative_update(files=1, nbytes=1000, errors=1)
    p.close()
    text = out.getvalue()
    assert "2/4 files, 2 findings, 1 errors" in text
    assert "2.00k/4.00k" in text or "2.0k/4.0k" in text


def test_tqdm_bar_starts_no_thread_and_still_redraws_after_a_burst() -> None:
    # A sweep forks its workers only while it runs one thread (executor.fork_safe):
    # tqdm's monitor thread would keep the CLI's bar from ever having them.
    import threading
    import time

    before = {t.ident for t in threading.enumerate()}
    out = io.StringIO()
    p = TqdmProgress(out, mininterval=0.01)
    for _ in range(2000):  # a burst of fast updates (tqdm's dynamic miniters would grow here)
        p.relative_update(files=1, nbytes=1)
    assert {t.ident for t in threading.enumerate()} == before
    assert p._bar.monitor_interval == 0  # (a monitor another tqdm started is no thread of this bar's)
    time.sleep(0.02)
    p.relative_update(files=1, nbytes=1)  # the next slow update is drawn at once
    assert "2001/? files" in out.getvalue()
    p.close()


def test_base_callback_is_a_no_op() -> None:
    cb = ScanCallback()
    cb.set_size(1, 2)
    cb.relative_update(files=1)
    cb.close({})


def test_human_bytes() -> None:
    assert human_bytes(999) == "999 B"
    assert human_bytes(1500) == "1.5 KB"
    assert human_bytes(2_500_000_000) == "2.5 GB"


def test_guarded_stream_writes_above_the_bar() -> None:
    err = io.StringIO()
    p = TqdmProgress(err, mininterval=0)
    p.relative_update(files=1, nbytes=10)
    g = p.guard(err)
    g.write("cardscan: /x: permission: Permission denied\n")
    p.relative_update(files=1, nbytes=10)
    p.close()
    text = err.getvalue()
    line = text.index("cardscan: /x")
    # The bar was drawn before the line and again after it.
    assert text.rfind("scanning", 0, line) != -1 and text.find("scanning", line) != -1


def test_file_total_is_shown_once_the_byte_total_is() -> None:
    """The sweep sets the totals after the last item (sources it cannot count ahead,
    git history): the bar's last line must not read "300/? files" under a known size."""
    out = io.StringIO()
    p = TqdmProgress(out, mininterval=0)
    for _ in range(3):
        p.relative_update(files=1, nbytes=100)
    assert "3/? files" in out.getvalue()
    p.set_size(3, 300)
    p.close()
    last = out.getvalue().replace("\r", "\n").strip().splitlines()[-1]
    assert "3/3 files" in last and "?" not in last.split("]")[0].split("[")[0] and "300/300" in last


def test_set_size_without_a_change_does_not_redraw() -> None:
    out = io.StringIO()
    p = TqdmProgress(out, mininterval=0)
    p.set_size(10, 1000)
    drawn = len(out.getvalue())
    for _ in range(5):  # the sweep calls it before every update
        p.set_size(10, 1000)
    assert len(out.getvalue()) == drawn
    p.close()
