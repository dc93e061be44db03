"""cardscan/sinks/base.py: the Sink protocol as a real sweep calls it,
ListSink (the reference every SinkContract compares with), BaseSink's
defaults, and report destinations created owner-only."""
from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import cardscan
from cardscan.privacy import MaskedStream
from cardscan.sinks.base import BaseSink, ListSink, Sink, open_report
from cardscan.testing import distinct_pans

KEY = b"sink-base-tests-key-of-32-bytes-or-more"


class Calls(BaseSink):
    """Records the order of the calls; inherits no-ops for the rest."""

    name = "calls"

    def __init__(self) -> None:
        self.calls: list[str] = []

    def begin(self, scan_info):  # type: ignore[no-untyped-def]
        self.calls.append("begin")

    def finding(self, finding):  # type: ignore[no-untyped-def]
        self.calls.append("finding")

    def error(self, error):  # type: ignore[no-untyped-def]
        self.calls.append("error")

    def end_item(self, item, stats):  # type: ignore[no-untyped-def]
        self.calls.append("end_item")

    def close(self, summary):  # type: ignore[no-untyped-def]
        self.calls.append("close")


def tree(tmp_path: Path) -> tuple[Path, list[str]]:
    p = distinct_pans(3, seed=21)
    root = tmp_path / "share"
    root.mkdir()
    (root / "a.log").write_text(f"card {p[0]}\ncard {p[1]}  # cardscan: allow\n")
    (root / "b.csv").write_text(f"id,card_number\n1,{p[2]}\n")
    (root / "clean.txt").write_text("nothing\n")
    (root / "broken.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"not deflate data" * 10)  # an error record
    return root, p


def test_a_sweep_pushes_begin_items_and_close_in_order(tmp_path: Path) -> None:
    root, p = tree(tmp_path)
    lst, calls = ListSink(), Calls()
    summary = cardscan.sweep([str(root)], jobs=1, key=KEY, sinks=[lst, calls], manifest=str(tmp_path / "m.jsonl"))
    assert calls.calls[0] == "begin" and calls.calls[-1] == "close"
    assert calls.calls.count("begin") == calls.calls.count("close") == 1
    # every finding or error comes before its item's end_item
    assert calls.calls[-2] == "end_item"
    assert lst.scan_info is not None and lst.summary is not None
    assert lst.summary["findings"] == summary["findings"] == len(lst.findings) == 2
    key = cardscan.FingerprintKey(KEY)
    assert {f.fingerprint for f in lst.findings} == {key.fingerprint(p[0]), key.fingerprint(p[2])}
    assert [key.fingerprint(p[1])] == [f.fingerprint for f in lst.allowed_findings]
    names = sorted(Path(item.uri).name for item, _ in lst.items if item is not None)
    assert names == ["a.log", "b.csv", "broken.gz", "clean.txt"]
    assert [Path(e.location.uri).name for e in lst.errors] == ["broken.gz"]
    assert calls.calls.index("error") < len(calls.calls) - 2


def test_list_and_base_sinks_are_sinks() -> None:
    for sink in (ListSink(), BaseSink(), Calls()):
        assert isinstance(sink, Sink)
        assert isinstance(sink.name, str) and sink.name
    base = BaseSink()  # every call is a no-op, in any order
    base.close({})
    base.begin({})
    base.end_item(None, {})
    assert base.allowed(None) is None  # type: ignore[arg-type, func-returns-value]


def test_open_report_destinations(tmp_path: Path) -> None:
    buf = io.StringIO()
    # Streams are wrapped by the output boundary (privacy.MaskedStream), not owned.
    stream, owned = open_report(buf)
    assert not owned and isinstance(stream, MaskedStream)
    stream.write("plain text\n")
    stream.flush()
    assert buf.getvalue() == "plain text\n"
    stream, owned = open_report("-")
    assert not owned and isinstance(stream, MaskedStream)
    old = os.umask(0)  # the worst case: nothing narrows the mode for us
    try:
        stream, owned = open_report(str(tmp_path / "report.txt"))
    finally:
        os.umask(old)
    with stream:
        stream.write("ok\n")
    assert owned and (tmp_path / "report.txt").read_text() == "ok\n"
    assert stat.S_IMODE((tmp_path / "report.txt").stat().st_mode) == 0o600
