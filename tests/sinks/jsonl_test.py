"""Tests for cardscan/sinks/jsonl.py: the manifest writer."""
from __future__ import annotations

import io
import json
import os
import stat
from pathlib import Path
from typing import Any

import pytest

from cardscan.errors import ManifestError
from cardscan.findings import ErrorRecord, Finding, FingerprintKey, Location, mask
from cardscan.manifest import load_manifest
from cardscan.sinks.jsonl import JsonlSink
from cardscan.sinks.staged import StagedManifest
from cardscan.sources.base import Item
from cardscan.testing import SinkCase, SinkContract
from tests.treegen import KEY, pan

SUMMARY = {"status": "complete", "findings": 1}


def finding(rng, uri: str = "file:///srv/a.txt") -> Finding:
    p = pan(rng)
    return Finding(Location(uri=uri, offset=3, length=16, line=1, column=4), "pan", "visa", mask(p),
                   FingerprintKey(KEY).fingerprint(p), 85, ("issuer_luhn",), obj={"size": 10})


def info() -> dict:
    return {"cardscan_version": "0", "key_id": FingerprintKey(KEY).key_id}


def test_manifest_is_created_0600_and_streamed_per_item(tmp_path: Path, rng) -> None:
    path = tmp_path / "m.jsonl"
    sink = JsonlSink(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    sink.begin(info())
    sink.finding(finding(rng))
    sink.error(ErrorRecord(Location(uri="file:///srv/b"), "permission", "Permission denied"))
    before = path.read_text().count("\n")
    sink.end_item(Item(uri="file:///srv/a.txt", source="file"), {})
    after = path.read_text().count("\n")
    assert (before, after) == (1, 3)  # the scan line at begin; the item's records at end_item
    sink.close(SUMMARY)
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert [x["type"] for x in lines] == ["scan", "finding", "error", "summary"]
    assert lines[0]["schema_version"] == 1
    m = load_manifest(path)
    assert m.complete and len(m.findings) == 1 and m.errors[0].kind == "permission"


def test_existing_world_readable_file_is_narrowed_before_writing(tmp_path: Path, rng) -> None:
    path = tmp_path / "m.jsonl"
    path.write_text("old content\n")
    os.chmod(path, 0o644)
    sink = JsonlSink(path)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600 and path.read_text() == ""
    sink.close(SUMMARY)


def test_symlink_at_manifest_path_is_refused(tmp_path: Path) -> None:
    target = tmp_path / "elsewhere"
    target.write_text("")
    os.symlink(target, tmp_path / "m.jsonl")
    with pytest.raises(ManifestError):
        JsonlSink(tmp_path / "m.jsonl")


def test_dash_writes_to_stdout(capfd, rng) -> None:
    sink = JsonlSink("-")
    sink.begin(info())
    sink.finding(finding(rng))
    sink.end_item(None, {})
    sink.close(SUMMARY)
    out = capfd.readouterr().out
    assert [json.loads(x)["type"] for x in out.splitlines()] == ["scan", "finding", "summary"]


def test_text_and_binary_streams(rng) -> None:
    for stream in (io.StringIO(), io.BytesIO()):
        sink = JsonlSink(stream)
        sink.begin(info())
        sink.close(SUMMARY)
        value = stream.getvalue()
        text = value.decode() if isinstance(value, bytes) else value
        assert text.count("\n") == 2


def test_records_are_ascii_and_survive_odd_names(tmp_path: Path, rng) -> None:
    path = tmp_path / "m.jsonl"
    sink = JsonlSink(path)
    sink.begin(info())
    f = finding(rng, uri="file:///srv/%C3%BC%0Aname.txt")
    sink.finding(f.with_location(member=("caf\u00e9.zip", "a\nb.txt")))
    sink.close(SUMMARY)
    raw = path.read_bytes()
    assert raw.isascii() and raw.count(b"\n") == 3
    assert load_manifest(path).findings[0].location.member == ("caf\u00e9.zip", "a\nb.txt")


def _manifest_ids(output: bytes) -> list[str]:
    recs = [json.loads(line) for line in output.splitlines() if line.strip()]
    return [Finding.from_dict(r).id for r in recs if r["type"] == "finding"]


def _manifest_errors(output: bytes) -> int:
    return sum(json.loads(line)["type"] == "error" for line in output.splitlines() if line.strip())


class TestJsonlSinkContract(SinkContract):
    @pytest.fixture
    def sink_case(self) -> SinkCase:
        return SinkCase(JsonlSink, view=_manifest_ids, errors=_manifest_errors)


class TestStagedManifestContract(SinkContract):
    """With a state, the manifest is staged in PATH.partial and renamed over PATH when complete."""

    @pytest.fixture
    def sink_case(self) -> SinkCase:
        def read(path: Path) -> bytes:  # an interrupted run's manifest stays in PATH.partial
            partial = Path(str(path) + ".partial")
            return (partial if partial.exists() else path).read_bytes()

        return SinkCase(StagedManifest, view=_manifest_ids, errors=_manifest_errors, read=read)


def test_an_item_is_written_with_sigint_and_sigterm_blocked(tmp_path: Path, rng, monkeypatch) -> None:
    """Ctrl-C cannot cut a line: each item's write runs with SIGINT and
    SIGTERM blocked, and the mask the thread had (another signal blocked
    too) is back afterwards."""
    import signal

    from cardscan.sinks import jsonl

    real_write = os.write
    seen: list[set[int]] = []

    def write(fd: int, data: bytes) -> int:
        seen.append({int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])})
        return real_write(fd, data)

    before = signal.pthread_sigmask(signal.SIG_BLOCK, [signal.SIGUSR1])
    try:
        sink = JsonlSink(tmp_path / "m.jsonl")
        monkeypatch.setattr(jsonl.os, "write", write)
        sink.begin(info())
        sink.finding(finding(rng))
        sink.end_item(None, {})
        monkeypatch.undo()
        sink.close(SUMMARY)
        assert len(seen) == 2 and all({signal.SIGINT, signal.SIGTERM, signal.SIGUSR1} <= s for s in seen)
        assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == {signal.SIGUSR1} | before
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)
    assert len(load_manifest(tmp_path / "m.jsonl").findings) == 1


def test_a_write_cut_short_is_finished_under_the_same_mask(tmp_path: Path, rng, monkeypatch) -> None:
    """One os.write per item as a rule; where the kernel takes part of it (a
    pipe, a signal arriving), the rest follows in the same masked stretch."""
    import signal

    from cardscan.sinks import jsonl

    real_write = os.write
    masks: list[set[int]] = []

    def short(fd: int, data: Any) -> int:
        masks.append({int(s) for s in signal.pthread_sigmask(signal.SIG_BLOCK, [])})
        return real_write(fd, bytes(data[:7]))

    sink = JsonlSink(tmp_path / "m.jsonl")
    sink.begin(info())
    monkeypatch.setattr(jsonl.os, "write", short)
    for _ in range(3):
        sink.finding(finding(rng))
    sink.end_item(None, {})
    monkeypatch.undo()
    sink.close(SUMMARY)
    assert len(masks) > 3 and all({signal.SIGINT, signal.SIGTERM} <= m for m in masks)
    assert len(load_manifest(tmp_path / "m.jsonl").findings) == 3


def test_each_item_false_writes_a_batch_at_its_end_and_at_most_batch_lines_waiting(tmp_path: Path, rng,
                                                                                   monkeypatch) -> None:
    from cardscan.sinks import jsonl

    path = tmp_path / "m.jsonl"
    sink = JsonlSink(path, each_item=False)
    sink.begin(info())
    assert path.read_text().count("\n") == 1  # the scan line at once
    for i in range(3):
        sink.finding(finding(rng, f"file:///srv/{i}.txt"))
        sink.end_item(Item(uri=f"file:///srv/{i}.txt", source="file"), {})
    assert path.read_text().count("\n") == 1  # held until the batch ends
    sink.end_batch()
    assert path.read_text().count("\n") == 4
    sink.end_batch()  # nothing waiting: nothing written
    assert path.read_text().count("\n") == 4
    monkeypatch.setattr(jsonl, "BATCH_LINES", 2)
    sink.finding(finding(rng))
    sink.end_item(None, {})
    assert path.read_text().count("\n") == 4
    sink.finding(finding(rng))
    assert path.read_text().count("\n") == 4  # (never within an item)
    sink.end_item(None, {})
    assert path.read_text().count("\n") == 6
    sink.finding(finding(rng))
    sink.close(SUMMARY)  # what waits, then the summary
    assert [json.loads(x)["type"] for x in path.read_text().splitlines()] == ["scan"] + ["finding"] * 6 + ["summary"]


@pytest.mark.parametrize("state", [False, True])
def test_a_sweeps_manifest_is_written_per_batch_without_a_state_per_object_with_one(tmp_path: Path,
                                                                                   state: bool) -> None:
    # With a state, each object's records reach the file before the state claims it (state/store.py).
    from cardscan.options import SweepOptions
    from cardscan.run import _manifest_sinks

    for manifest in (str(tmp_path / "m.jsonl"), "-"):
        sinks, _ = _manifest_sinks(SweepOptions(manifest=manifest), state)
        inner = getattr(sinks[0], "_inner", sinks[0])  # (StagedManifest: its JsonlSink)
        assert type(inner) is JsonlSink and inner._each is (state or manifest == "-")  # (stdout: per object)
        if inner._fd is not None and inner._own:
            os.close(inner._fd)


def test_a_manifest_into_a_pipe_is_written_per_object_even_when_batches_are_asked(tmp_path: Path, rng) -> None:
    # A reader at the other end (`--manifest >(consumer)`, a FIFO) sees each object
    # when it ends, and one that went away stops the sweep at that object, not a batch later.
    import select
    import threading

    fifo = tmp_path / "m.fifo"
    os.mkfifo(fifo)
    got: list[int] = []
    opener = threading.Thread(target=lambda: got.append(os.open(fifo, os.O_RDONLY)))
    opener.start()
    sink = JsonlSink(fifo, each_item=False)
    opener.join(10)
    reader = got[0]
    try:
        sink.begin(info())
        sink.finding(finding(rng, "file:///srv/a.txt"))
        sink.end_item(Item(uri="file:///srv/a.txt", source="file"), {})
        seen = b""
        while seen.count(b"\n") < 2 and select.select([reader], [], [], 5)[0]:
            seen += os.read(reader, 65536)
        assert [json.loads(x)["type"] for x in seen.splitlines()] == ["scan", "finding"]
        sink.close(SUMMARY)
    finally:
        os.close(reader)
