"""Tests for cardscan/run/sweep.py: planning, splitting, merging, tallying, stopping."""
from __future__ import annotations

import gzip
import io
import os
import sys
from pathlib import Path
from typing import Any

import pytest

from cardscan.engine.config import ScanConfig
from cardscan.engine.scanner import Scanner
from cardscan.findings import ErrorRecord, FingerprintKey, Location
from cardscan.manifest import object_digest, object_unchanged
from cardscan.pipeline import Pipeline
from cardscan.run.executor import ExecutorRunner, InProcessRunner, process_pool
from cardscan.run.progress import ScanCallback
from cardscan.run.sweep import Sweep, Tally, scan_info
from cardscan.sinks.base import BaseSink, ListSink
from cardscan.sources.fs import FileSource, path_to_uri
from tests.treegen import KEY, make_tree, pan, racy_read, write_planted


def settings(src: FileSource | None = None) -> dict[str, Any]:
    specs = [{"name": "file", "url": r, "options": src.options()} for r in src.roots] if src else []
    return Pipeline(Scanner(ScanConfig(), FingerprintKey(KEY)), sources=specs).spec()


def sweep(src: FileSource, *, jobs: int = 1, sinks: list[Any] | None = None, **kw: Any) -> tuple[dict[str, Any], ListSink]:
    sink = ListSink()
    s = settings(src)
    runner = InProcessRunner(s) if jobs == 1 else ExecutorRunner(process_pool(s, jobs), s, initialized=True, jobs=jobs)
    summary = Sweep([src], runner, [sink, *(sinks or [])], **kw).run()
    return summary, sink


def test_sweep_finds_every_planted_pan_and_tallies(tmp_path: Path, rng) -> None:
    tree = make_tree(tmp_path, rng)
    summary, sink = sweep(FileSource(tmp_path))
    assert {f.fingerprint for f in sink.findings} == tree.fingerprints()
    assert summary["status"] == "complete" and "reason" not in summary
    assert summary["findings"] == len(tree.pans) == 7
    assert summary["objects_scanned"] == 6 and summary["objects_with_findings"] == 4
    assert summary["errors"] == 0
    assert summary["skipped"]["fifo"] == 1 and summary["skipped"]["symlink"] == 2
    dirs = summary["findings_by_directory"]
    assert dirs == {str(tmp_path / "finance"): 3, str(tmp_path / "hr"): 3, str(tmp_path): 1}
    assert sum(summary["findings_by_brand"].values()) == 7
    assert sink.summary == summary and len(sink.items) == 6


class _Calls(BaseSink):
    """The order of the sink calls a sweep makes (findings, batch ends, close)."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def finding(self, finding: Any) -> None:
        self.calls.append("finding")

    def end_batch(self) -> None:
        self.calls.append("end_batch")

    def close(self, summary: dict[str, Any]) -> None:
        self.calls.append("close")


@pytest.mark.parametrize("jobs", [1, 2])
def test_each_batch_of_results_ends_with_end_batch(tmp_path: Path, rng, jobs: int) -> None:
    # 60 small files with a card each: they arrive in batches, each batch's
    # findings followed by one end_batch (the console's flush for a pipe),
    # fewer end_batch than findings, none of them after close.
    for i in range(60):
        (tmp_path / f"f{i:02d}.log").write_text(f"2024-06-11 INFO paid with {pan(rng)} ok\n")
    calls = _Calls()
    summary, _ = sweep(FileSource(tmp_path), jobs=jobs, sinks=[calls])
    assert summary["findings"] == 60
    c = calls.calls
    assert c.count("finding") == 60 and c[-1] == "close"
    assert c[-2] == "end_batch"  # the last findings were ended before close
    assert 1 <= c.count("end_batch") < 60


def test_big_file_split_across_workers_matches_a_whole_file_scan(tmp_path: Path, rng) -> None:
    p = tmp_path / "dump.log"
    write_planted(p, rng, 40, filler=6)
    size = p.stat().st_size
    whole = Scanner(ScanConfig(), FingerprintKey(KEY)).scan_bytes(p.read_bytes(), Location(uri=path_to_uri(str(p))))
    summary, sink = sweep(FileSource(tmp_path), jobs=2, split_size=4096)
    key = lambda f: (f.location.offset, f.fingerprint)  # noqa: E731
    got = sorted(sink.findings, key=key)
    assert [(f.location, f.fingerprint, f.kind) for f in got] == [(f.location, f.fingerprint, f.kind) for f in whole]
    obj = got[0].obj
    assert obj["sha256_mode"] == "ranges" and obj["sha256_range_size"] == 4096
    with open(p, "rb") as fh:
        assert object_unchanged(fh, obj)
    with open(p, "r+b") as fh:  # one byte changes: the identity no longer matches
        fh.seek(size // 2)
        fh.write(b"#")
    with open(p, "rb") as fh:
        assert not object_unchanged(fh, obj)
    assert summary["objects_scanned"] == 1 and summary["bytes_scanned"] == size
    assert len(sink.items) == 1 and sink.items[0][1]["ranges"] == -(-size // 4096)


def test_split_file_lines_survive_ranges_without_newlines(tmp_path: Path, rng) -> None:
    # A range that holds no newline at all must not break line numbers after it.
    p = tmp_path / "wide.txt"
    card = write_planted(tmp_path / "tmp", rng, 1)[0]
    p.write_text("x" * 9000 + "\n" + "y" * 5000 + f" card {card} exp 01/28\n")
    _, sink = sweep(FileSource(p), split_size=1000)
    (f,) = sink.findings
    assert (f.location.line, f.location.column) == (2, 5007)


def test_containers_are_not_split(tmp_path: Path, rng) -> None:
    card = write_planted(tmp_path / "src.txt", rng, 1)[0]
    (tmp_path / "src.txt").unlink()
    noise = bytes(rng.randrange(256) for _ in range(30_000))  # incompressible
    (tmp_path / "x.gz").write_bytes(gzip.compress(noise + f"\ncard {card} exp 01/28\n".encode()))
    _, sink = sweep(FileSource(tmp_path), split_size=1000)
    assert len(sink.findings) == 1
    assert sink.findings[0].obj["sha256_mode"] == "whole"


def test_listing_errors_reach_the_sinks(tmp_path: Path) -> None:
    summary, sink = sweep(FileSource(tmp_path / "missing"))
    assert [e.kind for e in sink.errors] == ["not_found"]
    assert summary["errors"] == 1 and summary["errors_by_kind"] == {"not_found": 1}
    assert sink.items == [(None, {"findings": 0, "errors": 1})]


class StopAfter(BaseSink):
    def __init__(self, sweep_ref: list[Sweep], n: int) -> None:
        self.ref, self.n, self.seen = sweep_ref, n, 0

    def end_item(self, item: Any, stats: dict[str, Any]) -> None:
        self.seen += 1
        if self.seen == self.n:
            self.ref[0].request_stop("signal")


def test_stop_request_writes_an_interrupted_summary(tmp_path: Path, rng) -> None:
    for i in range(10):
        write_planted(tmp_path / f"f{i}.txt", rng, 1, start=i)
    src = FileSource(tmp_path)
    s = settings(src)
    ref: list[Sweep] = []
    sink = ListSink()
    sw = Sweep([src], InProcessRunner(s), [sink, StopAfter(ref, 3)], batch_items=1)
    ref.append(sw)
    summary = sw.run()
    assert summary["status"] == "interrupted" and summary["reason"] == "signal"
    assert summary["objects_scanned"] == 3 and sink.summary == summary


class Boom(BaseSink):
    def end_item(self, item: Any, stats: dict[str, Any]) -> None:
        raise BrokenPipeError


def test_a_broken_sink_still_closes_the_others(tmp_path: Path, rng) -> None:
    write_planted(tmp_path / "a.txt", rng, 1)
    src = FileSource(tmp_path)
    sink = ListSink()
    with pytest.raises(BrokenPipeError):
        Sweep([src], InProcessRunner(settings(src)), [sink, Boom()]).run()
    assert sink.summary is not None and sink.summary["status"] == "interrupted"
    assert sink.summary["reason"] == "broken_pipe"


def test_tally_top_dir() -> None:
    t = Tally(["file:///srv/share", "s3://bucket/exports", "file:///srv/share/nested"])
    assert t.top_dir("file:///srv/share/hr/2024/a.csv") == "/srv/share/hr"
    assert t.top_dir("file:///srv/share/a.csv") == "/srv/share"
    assert t.top_dir("file:///srv/share/nested/x/y.txt") == "/srv/share/nested/x"
    assert t.top_dir("s3://bucket/exports/2024/06/a.csv") == "s3://bucket/exports/2024"
    assert t.top_dir("file:///srv/share%20two/a%20b/c.txt") == "/srv/share two/a b"
    assert t.top_dir("postgresql://db.example/app#public.customers") == "postgresql://db.example"


def test_tally_top_dir_remembered_per_directory_is_the_same() -> None:
    roots = ["file:///srv/share", "s3://bucket/exports", "file:///srv/share/nested", "file:///srv/share/a.csv"]
    uris = ["file:///srv/share/hr/2024/a.csv", "file:///srv/share/hr/2024/b.csv", "file:///srv/share/a.csv",
            "file:///srv/share/b.csv", "file:///srv/share/nested/x/y.txt", "file:///srv/share/nested/z.txt",
            "file:///srv/share/nested", "s3://bucket/exports/2024/06/a.csv", "s3://bucket/exports/b.csv",
            "file:///srv/share%20two/a%20b/c.txt", "postgresql://db.example/app#public.customers",
            "postgresql://db.example/app#public.orders", "file:///elsewhere/x.log", "file:///y.log", "relative"]
    t = Tally(roots)
    for uri in uris * 2:  # the second time from what was remembered
        assert t._top_dir_of(uri) == Tally(roots).top_dir(uri), uri


def test_scan_info_never_holds_the_key_or_a_password() -> None:
    class Src:
        name = "sql"
        url = "postgresql://app:hunter2@db.example/app"

    key = FingerprintKey(b"super secret key material")
    info = scan_info([Src()], {"engine": {}}, key, "file")
    text = repr(info)
    assert "super secret" not in text and "hunter2" not in text
    assert info["key_id"] == key.key_id and info["sources"][0]["url"] == "postgresql://app:***@db.example/app"
    assert info["plugins"]["sources"] and "file" in info["plugins"]["sources"]


def test_scan_info_names_host_python_and_platform_as_the_standard_library_does() -> None:
    import platform
    import socket

    info = scan_info([], {}, FingerprintKey(b"k" * 32), "file")
    assert info["host"] == socket.gethostname()
    assert info["python"] == platform.python_version()
    assert info["platform"] == platform.platform(terse=True)


def test_platform_name_cleans_like_the_platform_module(monkeypatch) -> None:
    import importlib
    import os

    sweep_mod = importlib.import_module("cardscan.run.sweep")  # (cardscan.run.sweep is also a function)

    fake = os.uname_result(("Linux", "h", "6.1.0-rt (custom) a/b", "#1", "x86_64"))
    monkeypatch.setattr(os, "uname", lambda: fake)
    monkeypatch.setattr(os, "confstr", lambda name: "glibc 2.36")
    assert sweep_mod.platform_name() == "Linux-6.1.0-rt_-custom-_a-b-x86_64-with-glibc2.36"


def test_platform_name_asks_the_platform_module_off_glibc(monkeypatch) -> None:
    import importlib
    import os
    import platform

    sweep_mod = importlib.import_module("cardscan.run.sweep")  # (cardscan.run.sweep is also a function)

    monkeypatch.setattr(os, "confstr", lambda name: None)  # musl: no CS_GNU_LIBC_VERSION
    monkeypatch.setattr(platform, "platform", lambda terse=False: f"from-platform-{terse}")
    assert sweep_mod.platform_name() == "from-platform-True"


class _Recorder(ScanCallback):
    """A progress callback that keeps what it is told."""

    def __init__(self) -> None:
        self.files = self.findings = self.nbytes = 0
        self.sizes: list[Any] = []

    def set_size(self, files: Any = None, nbytes: Any = None) -> None:
        self.sizes.append((files, nbytes))

    def relative_update(self, files: int = 0, nbytes: int = 0, findings: int = 0, errors: int = 0) -> None:
        self.files += files
        self.nbytes += nbytes
        self.findings += findings


def test_progress_gets_counts(tmp_path: Path, rng) -> None:
    class Rec(_Recorder):
        closed = False

        def close(self, summary: Any = None) -> None:
            self.closed = True

    tree = make_tree(tmp_path, rng, specials=False)
    rec = Rec()
    summary, _ = sweep(FileSource(tmp_path), progress=rec, count=True)
    assert rec.files == 6 and rec.findings == len(tree.pans) and rec.closed
    assert rec.nbytes == summary["bytes_scanned"]
    assert rec.sizes[-1] == (6, summary["bytes_scanned"])  # the bar ends at the true totals


def test_object_digest_whole_file(tmp_path: Path) -> None:
    import hashlib

    data = b"abc" * 1000
    assert object_digest(io.BytesIO(data), {}) == hashlib.sha256(data).hexdigest()


def test_error_records_do_not_count_as_scanned(tmp_path: Path) -> None:
    t = Tally()
    t.error(ErrorRecord(Location(uri="file:///x"), "io", "Input/output error"))
    s = t.summary("complete", "2024-01-01T00:00:00Z", 0.5)
    assert s["errors"] == 1 and s["objects_scanned"] == 0


class FailingListing(FileSource):
    def items(self):  # type: ignore[override]
        yield from super().items()
        raise RuntimeError("the share went away")


def test_a_listing_that_fails_becomes_an_error_record(tmp_path: Path, rng) -> None:
    write_planted(tmp_path / "a.txt", rng, 1)
    src = FailingListing(tmp_path)
    summary, sink = sweep(src)
    assert summary["status"] == "complete" and summary["findings"] == 1
    assert [(e.kind, e.location.uri) for e in sink.errors] == [("source", path_to_uri(str(tmp_path)))]
    assert "RuntimeError" in sink.errors[0].message


def test_formats_known_by_name_or_header_are_decoded_not_split(tmp_path: Path, rng, monkeypatch) -> None:
    # Issue 13: a big .lzma (no magic bytes) was cut into raw byte ranges and
    # never decoded; so was an mbox. Here at a smaller scale: files many times
    # --split-size, each with its card at the very end.
    from cardscan.cli.main import main
    from cardscan.manifest import load_manifest
    from tests.decoders.build import lzma_alone, mbox_with_zip_at_the_end, noise_text

    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY.decode())
    root = tmp_path / "share"
    root.mkdir()
    a, b = write_planted(tmp_path / "cards", rng, 2)
    (root / "app.log.lzma").write_bytes(lzma_alone(noise_text(300_000, rng) + f"\ncard {a} exp 01/28\n".encode()))
    (root / "inbox").write_bytes(mbox_with_zip_at_the_end(b, rng, 200_000))
    assert min(p.stat().st_size for p in root.iterdir()) > 8 * 16384
    m = tmp_path / "m.jsonl"
    assert main(["scan", str(root), "--split-size", "16KiB", "--manifest", str(m), "--no-progress", "-q"]) == 1
    found = {f.location.uri.rsplit("/", 1)[1]: f for f in load_manifest(m).findings}
    fp = FingerprintKey(KEY)
    assert found["app.log.lzma"].fingerprint == fp.fingerprint(a)
    assert found["inbox"].fingerprint == fp.fingerprint(b)
    assert found["inbox"].location.member == ("message-5", "attachment:export.zip", "cards.csv")
    assert {f.obj["sha256_mode"] for f in found.values()} == {"whole"}  # read whole, not in ranges


# -- batches: progress per fraction of a second of work, not per 128 files (issue 14.11) --------


class Recording:
    """A runner passing units through to another, remembering the size of each."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.sizes: list[int] = []

    def run(self, units, should_stop=lambda: False):  # type: ignore[no-untyped-def]
        def counted():
            for u in units:
                self.sizes.append(len(u))
                yield u
        yield from self.inner.run(counted(), should_stop)

    def shutdown(self, cancel: bool = False) -> None:
        self.inner.shutdown(cancel)


def _files(root: Path, n: int) -> None:
    root.mkdir(exist_ok=True)
    for i in range(n):
        (root / f"f{i:04d}.txt").write_text(f"line {i}\n")


def test_a_scan_that_fits_one_batch_stays_one_unit(tmp_path: Path) -> None:
    _files(tmp_path / "t", 100)
    src = FileSource(tmp_path / "t")
    runner = Recording(InProcessRunner(settings(src)))
    Sweep([src], runner, [ListSink()]).run()
    assert runner.sizes == [100]  # one unit: the runner scans it in-process, no pool to start


def test_batches_ramp_up_from_one_item_on_a_pool(tmp_path: Path) -> None:
    """Results (and the bar) come in after the first item, not after the first 128 (issue 14.11)."""
    _files(tmp_path / "t", 400)
    src = FileSource(tmp_path / "t")
    s = settings(src)
    runner = Recording(ExecutorRunner(process_pool(s, 2), s, initialized=True, jobs=2))
    summary = Sweep([src], runner, [ListSink()]).run()
    assert summary["objects_scanned"] == 400 and sum(runner.sizes) == 400
    # Before any result, a ramp from 1 (while the pool starts this process
    # scans units itself, so results, and the cost of items, may come sooner:
    # then batches follow that cost, test below).
    assert runner.sizes[0] == 1


def test_batch_size_follows_the_cost_of_items(tmp_path: Path) -> None:
    _files(tmp_path / "t", 400)
    src = FileSource(tmp_path / "t")
    runner = Recording(InProcessRunner(settings(src)))
    sweep_ = Sweep([src], runner, [ListSink()])
    sweep_.run()
    # In-process, results follow each unit: quick small files go back to batch_items at once.
    assert runner.sizes[0] == 1 and max(runner.sizes) == 128 and sum(runner.sizes) == 400
    # Slow items (a second each, as on a slow share): one item per batch.
    sweep_._item_seconds = 1.0
    assert sweep_._batch_limit(64) == 1
    sweep_._item_seconds = 0.01
    assert sweep_._batch_limit(64) == 25
    sweep_._item_seconds = None  # before any result: the ramp, capped
    assert sweep_._batch_limit(4) == 4 and sweep_._batch_limit(1024) == 128


def test_allowed_lines_in_a_file_split_into_ranges(tmp_path: Path, rng) -> None:
    """A big file scanned as byte ranges honours 'cardscan: allow' like a whole one, across range edges."""
    cards = write_planted(tmp_path / "tmp", rng, 3)
    p = tmp_path / "big.log"
    filler = "x" * 3000 + "\n"
    p.write_text(filler + f"card {cards[0]} exp 01/28 # cardscan: allow\n" + filler
                 + "# cardscan: allow-next-line\n" + f"card {cards[1]} exp 01/28\n" + filler
                 + f"card {cards[2]} exp 01/28\n")
    summary, sink = sweep(FileSource(p), split_size=1000)
    assert [f.fingerprint for f in sink.findings] == [FingerprintKey(KEY).fingerprint(cards[2])]
    assert sorted(f.fingerprint for f in sink.allowed_findings) == sorted(
        FingerprintKey(KEY).fingerprint(c) for c in cards[:2])
    assert [f.location.line for f in sorted(sink.allowed_findings, key=lambda f: f.location.offset)] == [2, 5]
    assert summary["allowed"] == 2 and summary["findings"] == 1


def test_a_sweep_over_before_the_totals_are_wanted_never_counts(tmp_path: Path, rng) -> None:
    # StatusLines print the first line after their interval: a sweep shorter
    # than count_after must not walk the tree a second time to count it.
    from cardscan.run.progress import StatusLines

    make_tree(tmp_path, rng, specials=False)
    counted: list[int] = []

    class Counting(FileSource):
        def count_items(self):  # type: ignore[override]
            counted.append(1)
            yield from super().count_items()

    for interval, want in ((3600, []), (0, [1])):
        counted.clear()
        src = Counting(tmp_path)
        progress = StatusLines(io.StringIO(), interval=interval)
        s = Sweep([src], InProcessRunner(settings(src)), [ListSink()], progress=progress, count=True)
        assert s.run()["objects_scanned"] == 6
        assert s._counter is not None
        # The sweep leaves no counting thread behind (a test counting threads saw one end late).
        assert not s._counter.is_alive()
        assert counted == want, interval


def test_findings_carry_the_exposure_the_walk_no_longer_computes(open_tmp_path: Path, rng) -> None:
    from cardscan.sources.fs import _access, uri_to_path

    tree = make_tree(open_tmp_path, rng, specials=False)
    for jobs in (1, 2):
        _, sink = sweep(FileSource(open_tmp_path), jobs=jobs)
        assert len(sink.findings) == len(tree.pans)
        for f in sink.findings:
            path = uri_to_path(f.location.uri)
            st = os.stat(path)
            eager = _access(st, path)
            assert list(f.obj)[:len(eager)] == list(eager) and all(f.obj[k] == v for k, v in eager.items())
            assert f.obj["size"] == st.st_size


def test_a_sweep_leaves_nothing_frozen_from_the_collector(tmp_path: Path, rng) -> None:
    # Sweep.run freezes what exists while it runs; a process running many
    # sweeps (a service, this test suite) must get its cyclic garbage collected after.
    import gc

    make_tree(tmp_path, rng, specials=False)
    before = gc.get_freeze_count()
    sweep(FileSource(tmp_path))
    assert gc.get_freeze_count() == before


# -- small files in batches (Sweep._small_files) -----------------------------------------
class QuietListSink(ListSink):
    """A ListSink that, like the manifest, does not want end_item of clean objects:
    the sweep then reads small files in batches (a ListSink keeps the item path)."""

    wants_clean_items = False


def mixed_tree(root: Path, rng) -> None:
    """Small files of every kind a batch meets, beside the generated tree."""
    import sqlite3
    import zipfile

    make_tree(root, rng)
    d = root / "mixed"
    d.mkdir()
    p = pan(rng, 3)
    (d / "plain.log").write_text(f"payment card={p} exp 09/27\n")
    (d / "clean.log").write_text("2024-06-11T09:00:30Z INFO req=636775791 user=398664 took 567ms\n" * 3)
    (d / "percent.log").write_text("q=" + "".join(f"%{b:02X}" for b in f"card {p}".encode()) + "\n")
    (d / "utf16.txt").write_bytes(f"card number {pan(rng, 4)}".encode("utf-16-le"))
    (d / "empty").write_bytes(b"")
    (d / "log.gz").write_bytes(gzip.compress(f"card={pan(rng, 5)} exp 01/28\n".encode()))
    with zipfile.ZipFile(d / "z.zip", "w") as z:
        z.writestr("in.txt", f"card_number: {pan(rng, 6)}\n")
    (d / "clean.gz").write_bytes(gzip.compress(b"nothing here\n"))
    (d / "mbox").write_text(f"From someone Mon Jan  1 00:00:00 2024\nSubject: x\n\ncard {pan(rng, 7)}\n")
    (d / "dump.sql").write_text("-- PostgreSQL database dump\nCOPY t (id, card_number) FROM stdin;\n"
                                f"1\t{pan(rng, 8)}\n\\.\n")
    db = sqlite3.connect(d / "shop.db")
    db.execute("create table cards (id integer primary key, card_number text)")
    db.execute("insert into cards (card_number) values (?)", (pan(rng, 9),))
    db.commit()
    db.close()
    (d / "big.log").write_text(("filler line without numbers\n" * 2600) + f"card={pan(rng, 10)}\n")  # > 64 KiB
    (d / "track.txt").write_text(f"%B{pan(rng, 11)}^DOE/JOHN^2512101000000000000?\n")
    (d / f"named-{pan(rng, 12)}.txt").write_text("a card number in the name only\n")
    for i in range(300):  # more than one batch in a directory (BATCH_NAMES)
        (d / f"f{i:03d}.log").write_text("2024-06-11 INFO ok\n" if i % 7 else f"card={pan(rng, i)} exp 09/27\n")


def outcome(summary: dict[str, Any], sink: ListSink) -> tuple[Any, ...]:
    found = sorted((f.location.uri, f.location.member, f.location.offset, f.location.cell, f.fingerprint, f.kind,
                    f.confidence, tuple(f.reasons), tuple(sorted((f.obj or {}).items()))) for f in sink.findings)
    errors = sorted((e.location.uri, e.kind, e.message) for e in sink.errors)
    counts = {k: v for k, v in summary.items() if k not in ("started", "finished", "duration_s")}
    return found, errors, counts


@pytest.mark.parametrize("jobs", [1, 2])
def test_batched_small_files_give_what_the_item_path_gives(tmp_path: Path, rng, jobs: int) -> None:
    mixed_tree(tmp_path, rng)
    before = sweep(FileSource(tmp_path), jobs=jobs, split_size=32 << 10)  # a ListSink: items, as main does
    summary, sink = sweep(FileSource(tmp_path), jobs=jobs, split_size=32 << 10, sinks=[])
    assert outcome(*before) == outcome(summary, sink)  # (the same path: the check of the check)
    quiet = QuietListSink()
    s = settings(FileSource(tmp_path))
    runner = InProcessRunner(s) if jobs == 1 else ExecutorRunner(process_pool(s, jobs), s, initialized=True, jobs=jobs)
    batched = Sweep([FileSource(tmp_path)], runner, [quiet], split_size=32 << 10).run()
    assert outcome(batched, quiet) == outcome(*before)
    assert batched["objects_scanned"] > 300 and len(quiet.items) < len(before[1].items)  # clean ones only counted
    assert any(f.location.cell is not None for f in quiet.findings)  # the SQLite file, as a database
    assert any(f.location.member for f in quiet.findings)  # the zip's member


def test_batched_files_in_the_same_order_with_one_job(tmp_path: Path, rng) -> None:
    mixed_tree(tmp_path, rng)
    _, items = sweep(FileSource(tmp_path))
    quiet = QuietListSink()
    Sweep([FileSource(tmp_path)], InProcessRunner(settings(FileSource(tmp_path))), [quiet]).run()
    assert [f.id for f in quiet.findings] == [f.id for f in items.findings]
    assert [(e.location.uri, e.kind) for e in quiet.errors] == [(e.location.uri, e.kind) for e in items.errors]


def test_flagged_files_of_a_batch_are_scanned_from_its_read(tmp_path: Path, rng, monkeypatch) -> None:
    # A file the batch read whole and the pre-check flagged is scanned from
    # those bytes and that fstat (fs.FileSource.read_entry), not opened again;
    # its records are the item way's, object metadata included. Containers,
    # databases and the big file are opened by the general path, as before.
    mixed_tree(tmp_path, rng)
    _, items = sweep(FileSource(tmp_path))  # ListSink: every file the item way
    real = FileSource._open_regular
    opened: list[str] = []

    def counting(self: FileSource, item: Any) -> Any:
        opened.append(item.uri.rsplit("/", 1)[1])
        return real(self, item)

    monkeypatch.setattr(FileSource, "_open_regular", counting)
    pipeline_module = sys.modules["cardscan.pipeline"]
    sniffed: list[str] = []
    real_sniff = pipeline_module.is_container

    def sniffing(name: str, head: bytes) -> bool:
        sniffed.append(name)
        return real_sniff(name, head)

    monkeypatch.setattr(pipeline_module, "is_container", sniffing)
    quiet = QuietListSink()
    Sweep([FileSource(tmp_path)], InProcessRunner(settings(FileSource(tmp_path))), [quiet]).run()
    assert [(f, f.obj) for f in quiet.findings] == [(f, f.obj) for f in items.findings]
    assert [(f.id, f.location) for f in quiet.findings] == [(f.id, f.location) for f in items.findings]
    assert [(e.location, e.kind, e.message) for e in quiet.errors] == [
        (e.location, e.kind, e.message) for e in items.errors]
    flagged = {f.location.uri.rsplit("/", 1)[1] for f in quiet.findings if not f.location.member}
    assert "plain.log" in flagged and "f000.log" in flagged
    assert "plain.log" not in opened and "f000.log" not in opened and "utf16.txt" not in opened
    assert {"big.log", "shop.db"} <= set(opened)  # bigger than a small file, a database: opened as before
    # The batch found these no container: not sniffed again; a container is.
    assert "plain.log" not in sniffed and "f000.log" not in sniffed and "z.zip" in sniffed


def test_files_gone_swapped_or_changed_after_the_listing(tmp_path: Path, rng, monkeypatch) -> None:
    # Between the directory listing and the batched read: a file vanishes, one
    # becomes a FIFO, one a link, one changes while read (read_files says so).
    sweep_module = sys.modules["cardscan.run.sweep"]  # (cardscan.run.sweep names the function)

    d = tmp_path / "d"
    d.mkdir()
    for n in ("gone.log", "fifo.log", "link.log", "grows.log", "ok.log"):
        (d / n).write_text(f"card={pan(rng, 1)} exp 09/27\n" if n == "grows.log" else "ok\n")
    monkeypatch.setattr(sweep_module, "read_files", racy_read(d, sweep_module.read_files))
    quiet = QuietListSink()
    summary = Sweep([FileSource(tmp_path)], InProcessRunner(settings(FileSource(tmp_path))), [quiet]).run()
    errors = {e.location.uri.rsplit("/", 1)[1]: (e.kind, e.message) for e in quiet.errors}
    assert errors["gone.log"][0] == "not_found"
    assert errors["fifo.log"] == ("changed", "no longer a regular file (fifo)")
    assert errors["link.log"] == ("changed", "no longer a regular file (symlink)")
    assert [f.location.uri.rsplit("/", 1)[1] for f in quiet.findings] == ["grows.log"]  # read again, as an item
    assert summary["objects_scanned"] == 2 and summary["errors"] == 3 and summary["status"] == "complete"


def test_no_batches_with_a_state_or_a_sink_that_wants_every_object(tmp_path: Path, rng, monkeypatch) -> None:
    sweep_module = sys.modules["cardscan.run.sweep"]  # (cardscan.run.sweep names the function)

    make_tree(tmp_path, rng)
    monkeypatch.setattr(sweep_module, "read_files", None)  # would fail if called
    summary, sink = sweep(FileSource(tmp_path))  # ListSink: end_item of every object
    assert summary["objects_scanned"] == 6 and len(sink.items) == 6
    assert sweep_module._wants_clean_items(ListSink()) and not sweep_module._wants_clean_items(BaseSink())
    assert not sweep_module._wants_clean_items(QuietListSink())


def test_progress_counts_batched_files_too(tmp_path: Path, rng) -> None:
    class Rec(_Recorder):
        count_after = 0.0

    tree = make_tree(tmp_path, rng, specials=False)
    rec, quiet = Rec(), QuietListSink()
    summary = Sweep([FileSource(tmp_path)], InProcessRunner(settings(FileSource(tmp_path))), [quiet], progress=rec,
                    count=True).run()
    assert len(quiet.items) == 4  # the objects with findings only: the clean ones were counted in batches
    assert rec.files == summary["objects_scanned"] == 6 and rec.findings == len(tree.pans)
    assert rec.nbytes == summary["bytes_scanned"] and rec.sizes[-1] == (6, summary["bytes_scanned"])


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_batch_that_cannot_be_read_is_scanned_file_by_file(tmp_path: Path, rng, monkeypatch, jobs: int) -> None:
    sweep_module = sys.modules["cardscan.run.sweep"]
    tree = make_tree(tmp_path, rng)

    def broken(*args: Any) -> Any:
        raise MemoryError("no room for the batch")

    monkeypatch.setattr(sweep_module, "read_files", broken)
    monkeypatch.setattr(sys.modules["cardscan.sources.fs"], "read_files", broken)  # (a forked worker's)
    quiet = QuietListSink()
    s = settings(FileSource(tmp_path))
    runner = InProcessRunner(s) if jobs == 1 else ExecutorRunner(process_pool(s, jobs), s, initialized=True, jobs=jobs)
    summary = Sweep([FileSource(tmp_path)], runner, [quiet]).run()
    assert {f.fingerprint for f in quiet.findings} == tree.fingerprints()
    assert summary["objects_scanned"] == 6 and summary["errors"] == 0 and len(quiet.items) == 6


# -- the small-file batches give what items give (red-team cases) ---------------------


class _FindingsOnly(ListSink):
    """A sink that wants no end_item of a clean object (as the CLI's text and
    JSON Lines sinks): small files may then be read in batches."""

    wants_clean_items = False


def _sweep_batched(src: FileSource, jobs: int = 1) -> tuple[dict[str, Any], ListSink]:
    """sweep() with only a sink that wants no clean items (as ``cardscan scan``)."""
    sink = _FindingsOnly()
    s = settings(src)
    runner = InProcessRunner(s) if jobs == 1 else ExecutorRunner(process_pool(s, jobs), s, initialized=True, jobs=jobs)
    summary = Sweep([src], runner, [sink]).run()
    return summary, sink


def _quiet_lzma(rng) -> tuple[str, bytes]:  # type: ignore[no-untyped-def]
    """A card in a legacy LZMA file (known by its suffix only: no magic) whose
    bytes hold no digit run, escape, no-break space, '+' or base64-like run:
    nothing in the raw bytes hints at a card."""
    import lzma
    import re

    from cardscan.testing import make_pan

    while True:
        pan = make_pan("4", 16, rng)
        z = lzma.compress(f"card number {pan}\n".encode(), format=lzma.FORMAT_ALONE)
        if not re.search(rb"[%&\\\xa0\xaf+]|[A-Za-z0-9+/=]{10}|[0-9][ -]?[0-9]", z):
            return pan, z


def test_a_name_whose_lower_case_is_longer_does_not_hide_a_container_named_after_it(tmp_path: Path, rng) -> None:
    # "İ".lower() is two characters: a batch that matches suffixes in the
    # lower-cased names joined must not shift every later name by one.
    pans = []
    for i in range(8):
        (tmp_path / f"{'İ' * 20}{i}.txt").write_text("hello\n")
    for i in range(6):
        pan, z = _quiet_lzma(rng)
        (tmp_path / f"z{i}.lzma").write_bytes(z)
        pans.append(pan)
    for i in range(8):
        (tmp_path / f"{'İ' * 20}b{i}.txt").write_text("hello\n")
    _, sink = _sweep_batched(FileSource(tmp_path))
    k = FingerprintKey(KEY)
    assert {f.fingerprint for f in sink.findings} == {k.fingerprint(p) for p in pans}


def test_one_job_reports_files_in_listing_order_when_links_are_followed(tmp_path: Path, rng) -> None:
    # With --jobs 1 the output is deterministic: findings come in the order
    # the walk lists the files. Followed links are listed where they stand
    # in the directory, between the regular files, not before them all.
    from cardscan.testing import make_pan

    for i in range(12):
        (tmp_path / f"f{i}.txt").write_text(f"card {make_pan('4', 16, rng)}\n")
        if i % 3 == 0:
            (tmp_path / f"link{i}.txt").symlink_to(f"f{i}.txt")
    listed = [e.name for e in os.scandir(tmp_path)]
    _, sink = _sweep_batched(FileSource(tmp_path, follow_symlinks=True))
    got = [f.location.uri.rsplit("/", 1)[-1] for f in sink.findings]
    assert sorted(got) == sorted(listed)
    assert got == listed


def test_a_file_swapped_for_a_link_after_listing_is_reported_alike_batched_or_not(tmp_path: Path, rng) -> None:
    # The same race must give the same records whether small files are read
    # in batches (text/JSON sinks) or one by one (a sink that wants every
    # object's end_item, a --state): what main does either way.
    from cardscan.testing import make_pan

    mine, other = make_pan("4", 16, rng), make_pan("51", 16, rng)

    def run(batched: bool) -> tuple[list[Any], list[Any]]:
        root = tmp_path / ("b" if batched else "i")
        root.mkdir()
        (root / "a.txt").write_text(f"card {mine}\n")
        (root / "target.txt").write_text(f"card {other}\n")
        src = FileSource(root)
        walk = src._walk_root

        def swapping(r: str, *a: Any, **k: Any) -> Any:
            for entry in walk(r, *a, **k):
                names = getattr(entry, "names", None) or [getattr(entry, "uri", "").rsplit("/", 1)[-1]]
                if "a.txt" in names and (root / "a.txt").is_file() and not (root / "a.txt").is_symlink():
                    (root / "a.txt").unlink()  # listed as a regular file, a link by now
                    (root / "a.txt").symlink_to("target.txt")
                yield entry

        src._walk_root = swapping  # type: ignore[method-assign]
        _, sink = _sweep_batched(src) if batched else sweep(src)
        return (sorted((f.location.uri.rsplit("/", 1)[-1], f.fingerprint) for f in sink.findings),
                sorted((e.location.uri.rsplit("/", 1)[-1], e.kind) for e in sink.errors))

    assert run(True) == run(False)


# -- batches of small files as units of a pool's workers (ExecutorRunner.batch_units) ---------


def _lead(root: Path, rng) -> FileSource:  # type: ignore[no-untyped-def]
    """A first source of 200 files with a card each: the runner's first two
    units come from it (read in this process, before the pool is asked), so
    what follows it is listed once the pool is up (then sent as batches)."""
    d = root / "lead"
    d.mkdir()
    for i in range(200):
        (d / f"c{i:03d}.log").write_text(f"card={pan(rng, i)} exp 09/27\n")
    return FileSource(d)


def _pool_up(s: dict[str, Any], make: Any = None) -> ExecutorRunner:
    runner = ExecutorRunner(make or process_pool(s, 2), s, initialized=True, jobs=2)
    runner._start_pool()
    runner._pool_ready(wait=True)  # up before the sweep: its batches go to the workers from the third unit on
    return runner


class _Settled:
    """Counts the worker answers for batches (Sweep._settle) in this process."""

    def __init__(self, monkeypatch) -> None:  # type: ignore[no-untyped-def]
        self.clean = self.batches = 0
        real = Sweep._settle

        def settle(sweep: Sweep, src: Any, payload: Any) -> Any:
            self.batches += 1
            self.clean += payload[2]
            return real(sweep, src, payload)

        monkeypatch.setattr(Sweep, "_settle", settle)


@pytest.mark.parametrize("split_size", [32 << 10, 64 << 20])
def test_batches_scanned_by_workers_give_what_the_parent_gives(tmp_path: Path, rng, monkeypatch,
                                                                split_size: int) -> None:
    mixed_tree(tmp_path / "t", rng)
    lead = _lead(tmp_path, rng)
    srcs = [lead, FileSource(tmp_path / "t")]
    s = settings(srcs[1])
    parent = QuietListSink()  # the parent path: --jobs 1
    expected = Sweep(srcs, InProcessRunner(s), [parent], split_size=split_size).run()
    settled = _Settled(monkeypatch)
    quiet = QuietListSink()
    runner = _pool_up(s)
    got = Sweep([lead, FileSource(tmp_path / "t")], runner, [quiet], split_size=split_size).run()
    assert settled.batches >= 3 and settled.clean > 200  # the mixed tree's batches went to the workers
    assert outcome(got, quiet) == outcome(expected, parent)
    assert any(f.location.cell is not None for f in quiet.findings)  # the SQLite file, as a database
    assert any(f.location.member for f in quiet.findings)  # the zip's member
    if split_size < 64 << 10:  # big.log came back from its worker to be split here
        assert any(stats.get("ranges") for _, stats in quiet.items)


def test_batches_on_workers_count_and_show_progress_as_in_the_parent(tmp_path: Path, rng, monkeypatch) -> None:
    class Rec(_Recorder):
        count_after = 0.0

    d = tmp_path / "t"
    d.mkdir()
    for i in range(600):
        (d / f"f{i:03d}.log").write_text("2024-06-11 INFO ok\n" if i % 9 else f"card={pan(rng, i)} exp 09/27\n")
    lead = _lead(tmp_path, rng)
    settled = _Settled(monkeypatch)
    rec, quiet = Rec(), QuietListSink()
    runner = _pool_up(settings(FileSource(d)))
    summary = Sweep([lead, FileSource(d)], runner, [quiet], progress=rec, count=True).run()
    assert settled.batches == 3 and settled.clean == 600 - 67
    assert summary["objects_scanned"] == rec.files == 800 and summary["findings"] == rec.findings == 267
    assert summary["bytes_scanned"] == rec.nbytes == sum(p.stat().st_size for p in tmp_path.rglob("*.log"))
    assert rec.sizes[-1] == (800, summary["bytes_scanned"]) and len(quiet.items) == 267


def test_no_batch_goes_to_a_worker_before_the_pool_is_up_nor_with_one_job(tmp_path: Path, rng, monkeypatch) -> None:
    mixed_tree(tmp_path, rng)
    settled = _Settled(monkeypatch)
    _sweep_batched(FileSource(tmp_path), jobs=1)
    s = settings(FileSource(tmp_path))
    runner = ExecutorRunner(process_pool(s, 2), s, initialized=True, jobs=2)  # START_AFTER: no pool by then
    runner.FORK = False  # (the pool's way: forked workers take batches from the first, executor_test)
    Sweep([FileSource(tmp_path)], runner, [QuietListSink()]).run()
    one = ExecutorRunner(process_pool(s, 1), s, initialized=True, jobs=1)
    one.START_AFTER = 0
    Sweep([FileSource(tmp_path)], one, [QuietListSink()]).run()
    assert settled.batches == 0 and not runner.batch_units and not one.batch_units


@pytest.mark.parametrize("jobs", [1, 2])
def test_a_flagged_file_changed_after_the_batch_read_is_not_reported_from_stale_bytes(
        tmp_path: Path, rng, monkeypatch, jobs: int) -> None:
    # Between the batched read and the scan of a flagged file: one vanishes,
    # one becomes a FIFO, one a link, one a directory, one is scrubbed of its
    # card number, one grows past a small file with a second one. The item way
    # looks at the file again (an lstat, then its own read) and reports what
    # is there now: not_found, changed (x3), no finding, two findings.
    # Findings from the batch's bytes would be card numbers that no longer
    # exist at those paths, and no "changed" error for the swapped ones.
    sweep_module = sys.modules["cardscan.run.sweep"]
    d = tmp_path / "d"
    d.mkdir()
    for n in ("gone.log", "fifo.log", "link.log", "dir.log", "scrubbed.log", "grown.log", "ok.log"):
        (d / n).write_text(f"payment card={pan(rng, 1)} exp 09/27\n")
    (d / "clean.txt").write_text("nothing here\n")
    real = sweep_module.read_files

    def read_then_change(dirpath: str, names: Any, limit: int, **kwargs: Any) -> Any:
        got = real(dirpath, names, limit, **kwargs)
        if os.path.realpath(dirpath) == os.path.realpath(d):
            (d / "gone.log").unlink()
            (d / "fifo.log").unlink()
            os.mkfifo(d / "fifo.log")
            (d / "link.log").unlink()
            os.symlink(d / "clean.txt", d / "link.log")
            (d / "scrubbed.log").write_text("payment card=[redacted] exp 09/27\n")
            (d / "dir.log").unlink()
            (d / "dir.log").mkdir()
            with open(d / "grown.log", "a") as f:  # past a small file, and a second card number
                f.write("filler line without numbers\n" * 3000 + f"payment card={pan(rng, 2)} exp 09/27\n")
        return got

    monkeypatch.setattr(sweep_module, "read_files", read_then_change)
    # (And where a worker forked from this process reads a batch: run/worker.py.)
    monkeypatch.setattr(sys.modules["cardscan.sources.fs"], "read_files", read_then_change)
    quiet = QuietListSink()
    s = settings(FileSource(tmp_path))
    runner = InProcessRunner(s) if jobs == 1 else ExecutorRunner(process_pool(s, jobs), s, initialized=True, jobs=jobs)
    Sweep([FileSource(tmp_path)], runner, [quiet]).run()
    found = sorted(f.location.uri.rsplit("/", 1)[1] for f in quiet.findings)
    assert found == ["grown.log", "grown.log", "ok.log"], f"findings for {found} (the batch's stale bytes?)"
    errors = {e.location.uri.rsplit("/", 1)[1]: (e.kind, e.message) for e in quiet.errors}
    assert errors.get("gone.log", ("",))[0] == "not_found", errors
    assert errors.get("fifo.log") == ("changed", "no longer a regular file (fifo)"), errors
    assert errors.get("link.log") == ("changed", "no longer a regular file (symlink)"), errors
    assert errors.get("dir.log", ("",))[0] == "changed", errors


def test_forked_workers_take_every_batch_so_no_read_ahead_thread_is_made(tmp_path: Path) -> None:
    # The read-ahead pool (concurrent.futures.thread) came before the first batch was
    # sent to a forked worker, which never uses it: it is made for a batch read here.
    import json
    import subprocess

    share = tmp_path / "share"
    share.mkdir()
    for i in range(300):
        (share / f"f{i}.log").write_text(f"request {i} took 12ms\n")
    planted = write_planted(share / "cards.log", __import__("random").Random(3), 2)
    m = tmp_path / "m.jsonl"
    code = ("import sys\nfrom cardscan.cli.main import main\n"
            "status = main(['scan', '-q', '--jobs', '2', '--manifest', sys.argv[1], sys.argv[2]])\n"
            "from cardscan.run import executor\n"
            "print(status, executor.fork_safe(), 'concurrent.futures.thread' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code, str(m), str(share)], capture_output=True, text=True,
                         timeout=120, cwd=tmp_path, check=True,
                         env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[2]),
                              "CARDSCAN_FINGERPRINT_KEY": KEY.decode()})
    assert out.stdout.split() == ["1", "True", "False"], out.stderr[-2000:]
    records = [json.loads(line) for line in m.read_text().splitlines()]
    assert records[-1]["objects_scanned"] == 301 and records[-1]["findings"] == len(planted)


def test_a_sweep_collects_young_garbage_less_often_and_sets_the_threshold_back(tmp_path: Path, rng) -> None:
    import gc

    from cardscan.run.sweep import GC_YOUNG

    write_planted(tmp_path / "a.log", rng, 2)
    seen: list[tuple[int, ...]] = []

    class Probe(BaseSink):
        def finding(self, finding: Any) -> None:
            seen.append(gc.get_threshold())

    before = gc.get_threshold()
    try:
        for threshold in ((700, 10, 10), (50_000, 10, 10), (0, 10, 10)):
            gc.set_threshold(*threshold)
            seen.clear()
            sweep(FileSource(tmp_path), sinks=[Probe()])
            young = threshold[0] if threshold[0] >= GC_YOUNG or not threshold[0] else GC_YOUNG
            assert seen == [(young, 10, 10)] * 2  # (a higher one, or none: left as it is)
            assert gc.get_threshold() == threshold
    finally:
        gc.set_threshold(*before)
