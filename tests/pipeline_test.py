"""Tests for cardscan/pipeline.py: scanning one item (the sweep's workers, the hook, remediation)."""
from __future__ import annotations

import gzip
import hashlib
import io
import os
import pickle
import time
from dataclasses import fields
from pathlib import Path
from typing import Any, Iterator

import pytest

import cardscan.pipeline
from cardscan.decoders import Failure, Layer, Limits
from cardscan.engine.config import ScanConfig
from cardscan.engine.scanner import Scanner
from cardscan.findings import Cell, ErrorRecord, FingerprintKey, Location
from cardscan.pipeline import (
    HashingReader,
    ItemResult,
    Pipeline,
    attach_object,
    item_name,
    publish,
    ranges_digest,
)
from cardscan.sources.base import Item
from cardscan.sources.fs import FileSource, path_to_uri
from cardscan.testing import assert_no_pan
from tests.treegen import KEY, pan, write_planted

FP = FingerprintKey(KEY)


def pipeline(sources: list[Any] = (), key: FingerprintKey = FP, limits: Limits | None = None) -> Pipeline:  # type: ignore[assignment]
    return Pipeline(Scanner(ScanConfig(), key), limits, sources)


def item_for(path: Path) -> Item:
    (item,) = [x for x in FileSource(path).items()]
    return item


def test_whole_file_findings_carry_object_metadata(tmp_path: Path, rng) -> None:
    p = tmp_path / "log.txt"
    pans = write_planted(p, rng, 3)
    os.chmod(p, 0o640)
    r = pipeline().scan_item(item_for(p))
    assert r.errors == []
    assert sorted(f.fingerprint for f in r.findings) == sorted(FP.fingerprint(x) for x in pans)
    data = p.read_bytes()
    obj = r.findings[0].obj
    st = os.stat(p)
    assert obj["sha256"] == hashlib.sha256(data).hexdigest() and obj["sha256_mode"] == "whole"
    assert obj["size"] == len(data) and obj["ukey"].startswith(f"{len(data)}:{st.st_mtime_ns}:")
    # (pytest's temp root is 0700: nobody but the owner reaches the file, whatever its mode)
    assert obj["mode"] == "0640" and obj["exposure"] == "private" and obj["owner"]
    assert obj["readers"] == [f"user:{obj['owner']}"]
    assert obj["mtime"].endswith("Z")
    assert r.nbytes == len(data) and r.sha256 == obj["sha256"]
    assert all(f.location.uri == path_to_uri(str(p)) for f in r.findings)
    pickle.loads(pickle.dumps(r))  # results cross process boundaries


def test_missing_file_is_an_error_record_not_an_exception(tmp_path: Path) -> None:
    p = tmp_path / "gone.txt"
    p.write_text("x")
    item = item_for(p)
    p.unlink()
    r = pipeline().scan_item(item)
    assert r.findings == [] and [e.kind for e in r.errors] == ["not_found"]
    assert r.sha256 is None
    # The item's base location (made past Location's __init__): the class's own, field by field, in order.
    loc, want = r.errors[0].location, Location(uri=item.uri)
    want.public()  # (published: marked, as the pipeline's)
    assert loc == want and list(loc.__dict__.items()) == list(want.__dict__.items())
    assert pickle.dumps(loc) == pickle.dumps(want)


def test_compressed_member_findings_and_hash_of_the_container(tmp_path: Path, rng) -> None:
    card = pan(rng)
    p = tmp_path / "dump.txt.gz"
    p.write_bytes(gzip.compress(f"payment card {card} exp 10/27\n".encode()))
    r = pipeline().scan_item(item_for(p))
    assert r.errors == []
    assert [f.fingerprint for f in r.findings] == [FP.fingerprint(card)]
    # The object's hash is of the bytes on disk (what remediation would check).
    assert r.findings[0].obj["sha256"] == hashlib.sha256(p.read_bytes()).hexdigest()


def test_decoder_failures_become_error_records(tmp_path: Path, monkeypatch, rng) -> None:
    card = pan(rng)
    p = tmp_path / "box.zip"
    p.write_bytes(b"PK\x03\x04ignored")  # zip magic: a plain object never reaches expand() (pipeline._scan_small)

    def fake_expand(stream, name, limits=None, member=()) -> Iterator[Any]:
        stream.read()
        yield Layer(("inner.txt",), io.BytesIO(f"card {card} exp 01/29".encode()))
        yield Failure(("secret.docx",), "encrypted", "member is encrypted")
        yield Failure(("bomb.bin",), "limit", "expansion ratio over 200", "ratio")

    monkeypatch.setattr(cardscan.pipeline, "expand", fake_expand)
    r = pipeline().scan_item(item_for(p))
    assert [f.location.member for f in r.findings] == [("inner.txt",)]
    assert [(e.kind, e.location.member, e.limit) for e in r.errors] == [
        ("encrypted", ("secret.docx",), None), ("limit", ("bomb.bin",), "ratio")]


def test_unexpected_exception_is_internal_error_with_masked_message(tmp_path: Path, monkeypatch, rng) -> None:
    card = pan(rng)
    p = tmp_path / "x.txt"
    p.write_bytes(b"PK\x03\x04x")  # zip magic: a plain object never reaches expand() (pipeline._scan_small)

    def broken(stream, name, limits=None, member=()):
        raise ValueError(f"could not parse {card}")
        yield  # pragma: no cover

    monkeypatch.setattr(cardscan.pipeline, "expand", broken)
    r = pipeline().scan_item(item_for(p))
    assert [e.kind for e in r.errors] == ["internal"]
    leaked = card in r.errors[0].message
    assert not leaked, "the error message carries the full number"


def test_an_exception_scanning_a_plain_small_file_is_an_internal_error(tmp_path: Path, monkeypatch, rng) -> None:
    # The small plain-file path scans without expand(): its failures are records too.
    card = pan(rng)
    p = tmp_path / "x.txt"
    p.write_text("x")

    def broken(self, data, location, **kw):
        raise ValueError(f"could not parse {card}")

    monkeypatch.setattr(Scanner, "scan_bytes", broken)
    r = pipeline().scan_item(item_for(p))
    assert [e.kind for e in r.errors] == ["internal"] and r.sha256 is not None
    assert card not in r.errors[0].message


class _Growing(io.FileIO):
    """A real file that another writer appends to while it is being read."""

    grown = False

    def read(self, size: int = -1) -> bytes:
        data = super().read(size)
        if data and not self.grown:
            self.grown = True
            with open(self.name, "ab") as fh:
                fh.write(b"more\n")
        return data


class GrowingSource(FileSource):
    name = "growing"

    def open(self, item: Item) -> Any:
        from cardscan.sources.fs import uri_to_path

        return _Growing(uri_to_path(item.uri), "rb")


def test_file_changing_while_read_is_reported(tmp_path: Path, rng) -> None:
    p = tmp_path / "live.log"
    write_planted(p, rng, 1)
    growing = pipeline([{"name": "growing", "target": "tests.pipeline_test:GrowingSource", "url": str(tmp_path),
                         "options": {}}])
    item = Item(uri=path_to_uri(str(p)), source="growing", size=p.stat().st_size)
    r = growing.scan_item(item)
    assert len(r.findings) == 1
    assert [e.kind for e in r.errors] == ["changed"]


class _Dropping(io.RawIOBase):
    """A network stream whose connection drops after ``ok`` bytes: every later read fails."""

    def __init__(self, data: bytes, ok: int) -> None:
        self._data, self._ok, self._pos = data, ok, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        self._pos = offset if whence == io.SEEK_SET else self._pos + offset if whence == io.SEEK_CUR \
            else len(self._data) + offset
        return self._pos

    def tell(self) -> int:
        return self._pos

    def readinto(self, b: Any) -> int:
        from cardscan.errors import SourceError

        if self._pos >= self._ok:
            raise SourceError("connection lost (ConnectionResetError) while reading", kind="io")
        n = min(len(b), self._ok - self._pos, len(self._data) - self._pos)
        b[:n] = self._data[self._pos:self._pos + n]
        self._pos += n
        return n


class DroppingSource(FileSource):
    name = "dropping"

    def open(self, item: Item) -> Any:
        from cardscan.sources.fs import uri_to_path

        data = Path(uri_to_path(item.uri)).read_bytes()
        return io.BufferedReader(_Dropping(data, len(data) // 3), 4096)


@pytest.mark.parametrize("whole", [True, False])
def test_a_connection_lost_mid_item_is_one_error_record(tmp_path: Path, rng, whole: bool) -> None:
    # The scan's read fails, then hashing the rest fails the same way: one
    # failure, one record (there were two, a SourceError escaping the hash).
    p = tmp_path / "share.log"
    write_planted(p, rng, 4, filler=200)
    dropping = pipeline([{"name": "dropping", "target": "tests.pipeline_test:DroppingSource", "url": str(tmp_path),
                          "options": {}}])
    size = p.stat().st_size
    item = Item(uri=path_to_uri(str(p)), source="dropping", size=size)
    r = dropping.scan_item(item if whole else item.range(0, size))
    assert [(e.kind, e.message) for e in r.errors] == [
        ("io", "connection lost (ConnectionResetError) while reading")]
    assert r.sha256 is None  # what was not read is not vouched for


def test_byte_range_scan_reports_only_its_range(tmp_path: Path, rng) -> None:
    p = tmp_path / "big.log"
    pans = write_planted(p, rng, 8, filler=20)
    size = p.stat().st_size
    item = item_for(p)
    half = size // 2
    p_ = pipeline()
    a = p_.scan_item(item.range(0, half))
    b = p_.scan_item(item.range(half, size))
    assert a.errors == [] and b.errors == []
    assert sorted(f.fingerprint for f in a.findings + b.findings) == sorted(FP.fingerprint(x) for x in pans)
    assert a.findings and b.findings
    assert a.range_stats is not None and b.range_stats is not None
    data = p.read_bytes()
    assert a.sha256 == hashlib.sha256(data[:half]).hexdigest()
    assert b.sha256 == hashlib.sha256(data[half:]).hexdigest()
    assert a.nbytes == half and b.nbytes == size - half
    assert a.range_stats.newlines == data[:half].count(b"\n")


class RowsSource:
    """A minimal row source: one 'table' of cells, like the SQL source's shape."""

    name = "rows"

    def __init__(self, url: str) -> None:
        self.url = url

    @classmethod
    def from_url(cls, url: str, **options: Any) -> "RowsSource":
        return cls(url)

    def items(self) -> Iterator[Item]:
        yield Item(uri=self.url + "#public.customers", source=self.name)

    def cells(self, item: Item) -> Iterator[Any]:
        card = item.meta.get("card", "")
        yield Cell("customers", "note", (("id", 7),), "public"), f"card {card} exp 10/27".encode()
        yield Cell("customers", "name", (("id", 7),), "public"), "Ann Example"
        yield Cell("customers", "blob", (("id", 8),), "public"), None
        # a card-shaped id: its column name says what it is
        yield Cell("customers", "loyalty_id", (("id", 8),), "public"), item.meta.get("loyalty", "").encode()
        yield ErrorRecord(Location(uri=item.uri), "permission", "permission denied for column ssn")


def test_row_source_cells_are_scanned_with_cell_locations(rng) -> None:
    card = pan(rng)
    rows = pipeline([{"name": "rows", "target": "tests.pipeline_test:RowsSource", "url": "sqlite:///x.db",
                      "options": {}}])
    item = Item(uri="sqlite:///x.db#public.customers", source="rows", meta={"card": card, "loyalty": pan(rng)})
    r = rows.scan_item(item)
    assert [f.fingerprint for f in r.findings] == [FP.fingerprint(card)]
    loc = r.findings[0].location
    assert loc.cell == Cell("customers", "note", (("id", 7),), "public") and loc.uri == "sqlite:///x.db"
    assert [e.kind for e in r.errors] == ["permission"]


# -- HashingReader ---------------------------------------------------------------
def test_hashing_reader_survives_seeks_like_a_zip_reader() -> None:
    data = bytes(range(256)) * 1000
    r = HashingReader(io.BytesIO(data))
    r.read(10)
    r.seek(-100, io.SEEK_END)  # central directory first
    r.read(100)
    r.seek(5)
    r.read(50_000)  # overlaps what was hashed
    assert r.finish() == hashlib.sha256(data).hexdigest()
    assert r.hashed == len(data)


def test_hashing_reader_range_and_readinto() -> None:
    data = os.urandom(10_000)
    r = HashingReader(io.BytesIO(data), 1000, 7000)
    r.seek(900)
    buf = bytearray(3000)
    assert r.readinto(buf) == 3000
    assert r.finish() == hashlib.sha256(data[1000:7000]).hexdigest()


@pytest.mark.parametrize("start,end", [(0, None), (1000, 700_000)])
def test_hashing_reader_on_a_thread_gives_the_same_digest(monkeypatch, start: int, end: int | None) -> None:
    """Past THREAD_AFTER bytes the digest is made on a thread of its own: the
    same digest, with seeks back (allow comments, zip directories) between reads."""
    monkeypatch.setattr(HashingReader, "THREAD_AFTER", 4096)
    monkeypatch.setattr(cardscan.pipeline, "spare_core", lambda: True)
    data = os.urandom(1 << 20)
    r = HashingReader(io.BufferedReader(io.BytesIO(data), 1000), start, end)
    r.seek(max(0, start - 10))
    pos = r.tell()
    threads = set()
    while pos < 600_000:
        got = r.read(7_777)
        pos += len(got)
        r.seek(pos - 500)  # back a little: bytes hashed once, not twice
        r.read(300)
        r.seek(pos)
        threads.add(r._thread is not None)
    assert threads == {False, True}  # started on the way, not from the first byte
    want = data[start:end]
    assert r.finish() == hashlib.sha256(want).hexdigest()
    assert r._thread is None and r.hashed == start + len(want)


@pytest.mark.parametrize("thread", [False, True])
def test_hashing_reader_readinto_one_reused_buffer(monkeypatch, thread: bool) -> None:
    """readinto reads straight into the caller's buffer, which the caller
    then overwrites: the digest (in line or on the thread) is of what was read."""
    monkeypatch.setattr(HashingReader, "THREAD_AFTER", 4096)
    monkeypatch.setattr(cardscan.pipeline, "spare_core", lambda: thread)
    data = os.urandom(300_000)
    r = HashingReader(io.BufferedReader(io.BytesIO(data), 1000), 100, 250_000)
    r.seek(50)
    buf = bytearray(8192)
    got = bytearray()
    while n := r.readinto(buf):
        got += buf[:n]
        buf[:] = bytes(len(buf))  # the caller reuses its buffer at once
    assert bytes(got) == data[50:]
    assert (r._thread is not None) == thread
    assert r.finish() == hashlib.sha256(data[100:250_000]).hexdigest()


@pytest.mark.parametrize("thread", [False, True])
@pytest.mark.parametrize("end", [None, 150_000])
def test_hashing_reader_lent_buffers_are_hashed_in_place_before_their_reuse(monkeypatch, thread: bool,
                                                                           end: int | None) -> None:
    """readinto_lent: the thread hashes the caller's buffers themselves (no
    copy); a caller going round LEND buffers reads into each again only
    once the thread has hashed it, and any other call waits for all: the
    digest is of what was read, with a slow hashing thread, reads past the
    range's end (nothing to hash there) and seeks between."""
    monkeypatch.setattr(HashingReader, "THREAD_AFTER", 4096)
    monkeypatch.setattr(cardscan.pipeline, "spare_core", lambda: thread)
    real = cardscan.pipeline._hash_from

    def slow(h, chunks):
        def get():
            item = q_get()
            time.sleep(0.002)  # behind the reads: the waits must hold
            return item
        q_get = chunks.get
        chunks.get = get
        real(h, chunks)

    monkeypatch.setattr(cardscan.pipeline, "_hash_from", slow)
    data = os.urandom(400_000)
    r = HashingReader(io.BufferedReader(io.BytesIO(data), 1000), 100, end)
    r.seek(50)
    bufs = [bytearray(8192) for _ in range(HashingReader.LEND)]
    got = bytearray()
    turn = 0
    lent_seen = False
    while True:
        buf = bufs[turn]
        n = r.readinto_lent(buf)  # overwrites it: only once the thread has hashed it
        if not n:
            break
        got += buf[:n]
        lent_seen = lent_seen or any(not e.is_set() for e in r._lent)
        turn = (turn + 1) % len(bufs)
        if len(got) % 7 == 0:
            r.seek(r.tell())  # another call: waits for every lent buffer
            assert all(e.is_set() for e in r._lent) and not r._lent
    assert bytes(got) == data[50:]
    assert (r._thread is not None) == thread and (lent_seen or not thread)
    assert r.finish() == hashlib.sha256(data[100:end]).hexdigest()
    assert not r._lent


def test_chunks_lend_their_buffer_to_a_hashing_reader(monkeypatch) -> None:
    from cardscan.engine.detect import chunks

    monkeypatch.setattr(HashingReader, "THREAD_AFTER", 4096)
    monkeypatch.setattr(cardscan.pipeline, "spare_core", lambda: True)
    real_hash = cardscan.pipeline._hash_from

    def slow(h, chunks):  # behind the reads: chunks must go round its buffers
        q_get = chunks.get
        chunks.get = lambda: (time.sleep(0.003), q_get())[1]
        real_hash(h, chunks)

    monkeypatch.setattr(cardscan.pipeline, "_hash_from", slow)
    data = os.urandom(9 << 20)
    r = HashingReader(io.BytesIO(data))
    lent = []
    real = r.readinto_lent
    monkeypatch.setattr(r, "readinto_lent", lambda b: lent.append(len(b)) or real(b))
    assert b"".join(bytes(c) for c in chunks(r, 1 << 20)) == data
    assert len(lent) > HashingReader.LEND and r.finish() == hashlib.sha256(data).hexdigest()


def test_hashing_reader_readinto_without_raw_readinto() -> None:
    class ReadOnly:
        def __init__(self, data: bytes) -> None:
            self._b = io.BytesIO(data)
            self.read, self.seek, self.tell = self._b.read, self._b.seek, self._b.tell

    data = os.urandom(20_000)
    r = HashingReader(ReadOnly(data))  # type: ignore[arg-type]
    buf = bytearray(3000)
    assert r.readinto(buf) == 3000 and bytes(buf) == data[:3000]
    assert r.finish() == hashlib.sha256(data).hexdigest()


def test_a_hashing_thread_ends_with_its_reader(monkeypatch) -> None:

    monkeypatch.setattr(HashingReader, "THREAD_AFTER", 4096)
    monkeypatch.setattr(cardscan.pipeline, "spare_core", lambda: True)
    r = HashingReader(io.BytesIO(os.urandom(100_000)))
    r.read(50_000)
    r.read(50_000)
    t = r._thread
    assert t is not None and t.is_alive()
    r.close()  # a scan that failed before finish()
    assert not t.is_alive()


def test_no_hashing_thread_without_a_spare_core(monkeypatch) -> None:
    monkeypatch.setattr(HashingReader, "THREAD_AFTER", 4096)
    monkeypatch.setattr(cardscan.pipeline, "spare_core", lambda: False)
    data = os.urandom(100_000)
    r = HashingReader(io.BytesIO(data))
    while r.read(10_000):
        assert r._thread is None
    assert r.finish() == hashlib.sha256(data).hexdigest()


def test_a_spare_core_is_judged_by_the_load(monkeypatch) -> None:
    # Where the system cannot say what runs now: the 1-minute load average.
    monkeypatch.setattr(cardscan.pipeline, "_running_now", lambda: None)
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(os, "getloadavg", lambda: (cores - 1.0, 0.0, 0.0))
    assert cardscan.pipeline.spare_core()
    monkeypatch.setattr(os, "getloadavg", lambda: (cores + 0.0, 0.0, 0.0))
    assert not cardscan.pipeline.spare_core()


def test_a_spare_core_is_judged_by_what_runs_now_not_the_trailing_average(monkeypatch) -> None:
    # A minute of work on every core just ended (the average says busy); now only this thread runs.
    cores = len(os.sched_getaffinity(0))
    monkeypatch.setattr(os, "getloadavg", lambda: (cores + 2.0, 0.0, 0.0))
    monkeypatch.setattr(cardscan.pipeline, "_running_now", lambda: 1)
    assert cardscan.pipeline.spare_core() == (cores > 1)
    monkeypatch.setattr(cardscan.pipeline, "_running_now", lambda: cores)  # every core taken, this one included
    assert not cardscan.pipeline.spare_core()


def test_running_now_reads_the_runnable_count(tmp_path, monkeypatch) -> None:
    import builtins

    fake = tmp_path / "loadavg"
    fake.write_bytes(b"3.50 1.70 1.10 2/185 12181\n")
    real_open = builtins.open
    monkeypatch.setattr(builtins, "open", lambda f, *a, **k: real_open(fake if f == "/proc/loadavg" else f, *a, **k))
    assert cardscan.pipeline._running_now() == 2
    fake.write_bytes(b"")
    assert cardscan.pipeline._running_now() is None
    fake.unlink()
    assert cardscan.pipeline._running_now() is None


def test_ranges_digest_is_order_and_boundary_sensitive() -> None:
    a, b = "0" * 64, "1" * 64
    assert ranges_digest([(0, 5, a), (5, 9, b)]) != ranges_digest([(0, 5, b), (5, 9, a)])
    assert ranges_digest([(0, 5, a), (5, 9, b)]) != ranges_digest([(0, 4, a), (4, 9, b)])


def test_item_result_defaults() -> None:
    r = ItemResult(Item(uri="file:///x", source="file"))
    assert r.findings == [] and r.errors == [] and r.sha256 is None


def test_a_base_location_is_the_dataclasss_own() -> None:
    from cardscan.pipeline import _base_location

    for version in (None, "v1"):
        item = Item(uri="file:///x", source="file", version=version)
        a, b = _base_location(item), Location(uri=item.uri, version=version)
        assert type(a) is Location and a == b and list(a.__dict__.items()) == list(b.__dict__.items())
        assert [f.name for f in fields(Location)] == list(a.__dict__)


def test_a_fresh_result_is_item_result_of_the_item() -> None:
    from cardscan.pipeline import _fresh_result

    item = Item(uri="file:///x", source="file")
    a, b = _fresh_result(item), ItemResult(item)
    assert type(a) is ItemResult and a == b and list(a.__dict__.items()) == list(b.__dict__.items())
    assert [f.name for f in fields(ItemResult)] == list(a.__dict__)
    c = _fresh_result(item)
    assert a.findings is not c.findings and a.obj is not c.obj and a.allowed is not c.allowed and a.errors is not c.errors


@pytest.mark.parametrize("named", [False, True])
@pytest.mark.parametrize("given", [False, True])
def test_publish_of_one_finding_is_the_general_way(rng, named, given) -> None:
    # publish's way for a result with one finding and no error gives what
    # its general way gives (here reached with the same finding twice and
    # the second dropped after): the same location, sealed when its name
    # holds a card, and the same published object metadata.
    from cardscan.engine.scanner import Scanner

    name_pan, card = pan(rng), pan(rng)
    scanner = Scanner(key=FP)
    loc = Location(uri=f"file:///srv/{name_pan if named else 'plain'}/notes.txt")
    (finding,) = scanner.scan_bytes(f"card {card}".encode(), loc)
    meta = {"path": f"scans/{name_pan}.txt", "sha256": "ab" * 32, "size": 7}
    obj = {"owner": f"u{name_pan}", "size": 9} if given else None
    one = ItemResult(Item(uri=loc.uri, source="file"), findings=[finding])
    two = ItemResult(Item(uri=loc.uri, source="file"), findings=[finding, finding])
    attach_object(one.findings, dict(meta))
    attach_object(two.findings, dict(meta))
    publish(one, FP, obj)
    publish(two, FP, obj)
    (f,), g = one.findings, two.findings[0]
    assert f == g and f.location.to_dict() == g.location.to_dict() and f.obj == g.obj
    assert type(f.obj) is type(g.obj) and (f.location is finding.location) is (not named)
    assert bool(f.location.sealed) is named
    if named:
        assert Location.from_dict(f.location.to_dict(), FP).uri == loc.uri
    assert_no_pan(repr(f) + str(f.to_dict(FP)), [name_pan, card], "a published finding")


def test_decoder_file_name_from_uris() -> None:
    _name = item_name
    assert _name("file:///data/logs/app%20old.log.gz") == "app old.log.gz"
    assert _name("s3://bucket/exports/march#2.csv.gz") == "march#2.csv.gz"
    assert _name("s3://bucket/a?b.zip") == "a?b.zip"
    assert _name("git+file:///repo/src/fixtures.json?commit=abc123") == "fixtures.json"


def test_results_leave_the_worker_with_names_masked_and_sealed(rng) -> None:
    from cardscan.engine.scanner import Scanner

    name_pan, card = pan(rng), pan(rng)
    scanner = Scanner(key=FP)
    loc = Location(uri=f"file:///srv/{name_pan}/notes.txt")
    result = ItemResult(Item(uri=loc.uri, source="file"))
    result.findings = scanner.scan_bytes(f"card {card}".encode(), loc) * 2
    sha = "4556737586899855" + "a" * 48  # a digest that happens to hold 16 digits stays as it is
    attach_object(result.findings, {"path": f"scans/{name_pan}.txt", "sha256": sha, "repo": "/r"})
    result.errors = [ErrorRecord(loc, "io", "Input/output error"), ErrorRecord(Location(uri="file:///srv/x"), "io", "x")]
    publish(result, FP)
    for f in result.findings:
        assert f.location.sealed and Location.from_dict(f.location.to_dict(), FP).uri == loc.uri
        assert f.obj["sha256"] == sha and f.obj["repo"] == "/r"
        assert_no_pan(repr(f) + str(f.to_dict()) + f.obj["path"], [name_pan], "a published finding")
    assert result.errors[0].location.sealed and result.errors[1].location.sealed is None


# -- the pipeline as an object: spec, sources, no process state ---------------------------


def test_spec_is_plain_data_and_builds_an_equal_pipeline(tmp_path: Path, rng) -> None:
    p = tmp_path / "log.txt"
    write_planted(p, rng, 2)
    limits = Limits(max_depth=2, max_members=50)
    original = Pipeline(Scanner(ScanConfig(min_confidence=40), FP), limits,
                        [{"name": "file", "url": str(tmp_path), "options": {"exclude": ["*.iso"]}}])
    spec = original.spec()
    assert set(spec) == {"config", "key", "limits", "sources"}
    copy = pickle.loads(pickle.dumps(spec))  # what crosses to a worker process
    rebuilt = Pipeline.from_spec(copy)
    assert rebuilt.spec() == spec
    assert rebuilt.limits == limits and rebuilt.scanner.config == original.scanner.config
    item = item_for(p)
    assert [f.id for f in rebuilt.scan_item(item).findings] == [f.id for f in original.scan_item(item).findings]
    assert Pipeline.from_spec({**spec, "log_level": "debug"}).spec() == spec  # the runner's keys are ignored


def test_two_pipelines_in_one_process_keep_their_own_key_and_settings(tmp_path: Path, rng) -> None:
    p = tmp_path / "log.txt"
    (card,) = write_planted(p, rng, 1)
    other = FingerprintKey(b"another key, another team" * 2)
    a, b = pipeline(), pipeline(key=other)
    item = item_for(p)
    for _ in range(2):  # interleaved: nothing of one leaks into the other
        assert [f.fingerprint for f in a.scan_item(item).findings] == [FP.fingerprint(card)]
        assert [f.fingerprint for f in b.scan_item(item).findings] == [other.fingerprint(card)]
    from tests.decoders.build import zip_bytes

    z = tmp_path / "export.zip"
    z.write_bytes(zip_bytes({"a.csv": p.read_bytes()}))
    shallow = pipeline(limits=Limits(max_depth=0))
    assert [(e.kind, e.limit) for e in shallow.scan_item(item_for(z)).errors] == [("limit", "depth")]
    assert len(a.scan_item(item_for(z)).findings) == 1


def test_source_instances_are_used_as_they_are_but_cannot_cross_processes(tmp_path: Path, rng) -> None:
    p = tmp_path / "live.log"
    write_planted(p, rng, 1)
    growing = GrowingSource(tmp_path)
    r = pipeline([growing]).scan_item(Item(uri=path_to_uri(str(p)), source="growing"))
    assert [e.kind for e in r.errors] == ["changed"]
    with pytest.raises(TypeError):
        pipeline([growing]).spec()


def test_an_item_of_a_source_not_given_is_opened_from_its_uri(tmp_path: Path, rng) -> None:
    p = tmp_path / "a.txt"
    (card,) = write_planted(p, rng, 1)
    r = Pipeline(Scanner(key=FP)).scan_item(FileSource([]).item_for(p))
    assert [f.fingerprint for f in r.findings] == [FP.fingerprint(card)] and r.errors == []


def test_scan_cells_scans_values_read_elsewhere_like_a_row_source(rng) -> None:
    card, other = pan(rng), pan(rng)
    item = Item(uri="sqlite:///x.db", source="sql")
    cells = [(Cell("customers", "note", (("id", 7),), "public"), f"card {card} exp 10/27"),
             (Cell("customers", "blob", (("id", 7),), "public"), None),
             ErrorRecord(Location(uri="sqlite:///x.db"), "permission", "permission denied for column ssn"),
             (Cell("customers", "loyalty_id", (("id", 8),), "public"), other.encode())]
    r = pipeline().scan_cells(item, cells)
    # The column name is the field name, as in a sweep: a card-shaped loyalty id is no card.
    assert [f.fingerprint for f in r.findings] == [FP.fingerprint(card)]
    assert r.findings[0].location.cell == cells[0][0] and r.findings[0].location.uri == "sqlite:///x.db"
    assert [e.kind for e in r.errors] == ["permission"]


def test_decoded_says_whether_offsets_are_in_the_objects_own_bytes(tmp_path: Path, rng) -> None:
    card = pan(rng)
    plain, packed = tmp_path / "a.txt", tmp_path / "a.txt.gz"
    plain.write_text(f"card {card}\n")
    packed.write_bytes(gzip.compress(plain.read_bytes()))
    assert not pipeline().scan_item(item_for(plain)).decoded
    r = pipeline().scan_item(item_for(packed))
    assert r.decoded and r.findings[0].location.member == ()


def test_a_big_lzma_is_decoded_whole(tmp_path: Path, rng) -> None:
    from tests.decoders.build import lzma_alone, noise_text

    card = pan(rng)
    p = tmp_path / "archive.log.lzma"
    p.write_bytes(lzma_alone(noise_text(200_000, rng) + f"\ncard {card} exp 01/28\n".encode()))
    r = pipeline().scan_item(item_for(p))
    assert [f.fingerprint for f in r.findings] == [FP.fingerprint(card)] and r.decoded and r.errors == []


def test_allowed_lines_are_set_aside_in_file_bytes_not_in_extracted_text(tmp_path: Path, rng) -> None:
    """The allow policy is applied where findings are collected (cardscan/allow.py):
    lines of a file, of a .gz and of a zip member; never a spreadsheet cell."""
    from tests.decoders.build import xlsx, zip_bytes

    a, b, c = pan(rng), pan(rng), pan(rng)
    (tmp_path / "a.txt").write_text(f"x {a} # cardscan: allow\ny {b}\n")
    (tmp_path / "b.txt.gz").write_bytes(gzip.compress(f"# cardscan: allow-next-line\n{a}\n{b}\n".encode()))
    (tmp_path / "c.zip").write_bytes(zip_bytes({"d/e.py": f"A = '{a}'  # cardscan: allow\n".encode(),
                                                "f.txt": f"{b}\n".encode()}))
    (tmp_path / "d.xlsx").write_bytes(xlsx([[f"{c} # cardscan: allow"]], [("A1", "s", "0")]))
    p = pipeline()
    fp = FP.fingerprint
    for name, kept, allowed in (("a.txt", [b], [a]), ("b.txt.gz", [b], [a]), ("c.zip", [b], [a]),
                                ("d.xlsx", [c], [])):
        r = p.scan_item(item_for(tmp_path / name))
        assert [f.fingerprint for f in r.findings] == [fp(x) for x in kept], name
        assert [f.fingerprint for f in r.allowed] == [fp(x) for x in allowed], name
        assert all(f.obj.get("sha256") for f in r.allowed)  # object metadata like any finding
    pickle.loads(pickle.dumps(r))


# -- small files: one read, the same records ------------------------------------------


def _small_cases(tmp_path: Path, rng) -> list[Path]:
    """Small files of every shape the one-read path must treat like the general one."""
    out = []
    p = tmp_path / "plain.log"
    write_planted(p, rng, 3)
    out.append(p)
    p = tmp_path / "allowed.log"
    p.write_text(f"ok {pan(rng, 1)} exp 01/29\ntest card {pan(rng, 2)}  # cardscan: allow\n")
    out.append(p)
    p = tmp_path / "export.csv"  # a header names the columns: merchant_id against, card_number for
    p.write_text("merchant_id,card_number\n" + "".join(f"{pan(rng, i)},{pan(rng, i + 10)}\n" for i in range(3)))
    out.append(p)
    p = tmp_path / "wide.txt"  # UTF-16LE with a BOM
    p.write_bytes(f"\ufeffcard number {pan(rng, 3)} exp 02/28\n".encode("utf-16-le"))
    out.append(p)
    p = tmp_path / "small.log.gz"  # a container: decoded, offsets in the decoded bytes
    p.write_bytes(gzip.compress(f"payment card {pan(rng, 4)} exp 10/27\n".encode(), mtime=0))
    out.append(p)
    p = tmp_path / "empty.txt"
    p.write_bytes(b"")
    out.append(p)
    p = tmp_path / "near-misses.txt"  # ids and a Luhn-invalid number: nothing to report
    bad = pan(rng, 5)
    bad = bad[:-1] + str((int(bad[-1]) + 1) % 10)
    p.write_text(f"order_id={pan(rng, 6)} trace 1234567890123 card {bad}\n")
    out.append(p)
    p = tmp_path / "edge.log"  # exactly one buffer
    line = f"card {pan(rng, 7)} exp 03/30\n".encode()
    p.write_bytes(b"x" * (cardscan.pipeline.SMALL_FILE - len(line)) + line)
    out.append(p)
    return out


def _record(r: ItemResult) -> tuple[Any, ...]:
    return (r.findings, [f.obj for f in r.findings], r.allowed, r.errors, r.nbytes, r.sha256, r.obj, r.decoded)


def test_small_files_give_the_same_records_as_the_general_path(tmp_path: Path, rng, monkeypatch) -> None:
    files = _small_cases(tmp_path, rng)
    assert all(p.stat().st_size <= cardscan.pipeline.SMALL_FILE for p in files)
    fast = [pipeline().scan_item(item_for(p)) for p in files]
    calls = []
    real_open = FileSource.open
    monkeypatch.setattr(FileSource, "open", lambda self, item: calls.append(item) or real_open(self, item))
    monkeypatch.setattr(cardscan.pipeline, "SMALL_FILE", -1)  # every file through open() and the chunker
    general = [pipeline().scan_item(item_for(p)) for p in files]
    assert len(calls) == len(files)
    for p, a, b in zip(files, fast, general):
        assert _record(a) == _record(b), p.name
    by_name = {p.name: r for p, r in zip(files, fast)}
    assert len(by_name["plain.log"].findings) == 3
    assert len(by_name["allowed.log"].findings) == 1 and len(by_name["allowed.log"].allowed) == 1
    assert by_name["wide.txt"].findings and by_name["small.log.gz"].decoded
    assert by_name["near-misses.txt"].findings == [] and by_name["near-misses.txt"].sha256
    assert by_name["edge.log"].findings[0].location.line == 1
    assert by_name["empty.txt"].sha256 == hashlib.sha256(b"").hexdigest()


def test_small_files_are_read_once_without_open(tmp_path: Path, rng, monkeypatch) -> None:
    p = tmp_path / "plain.log"
    write_planted(p, rng, 1)
    monkeypatch.setattr(FileSource, "open", lambda self, item: pytest.fail("opened through open()"))
    r = pipeline().scan_item(item_for(p))
    assert len(r.findings) == 1 and r.errors == []


def test_a_small_file_that_grew_past_one_buffer_is_scanned_whole(tmp_path: Path, rng) -> None:
    p = tmp_path / "grew.log"
    write_planted(p, rng, 1)
    item = item_for(p)  # listed small
    late = pan(rng, 9)
    with open(p, "a") as fh:
        fh.write("y" * cardscan.pipeline.SMALL_FILE + f"\ncard {late} exp 01/30\n")
    r = pipeline().scan_item(item)
    assert FP.fingerprint(late) in {f.fingerprint for f in r.findings}
    assert r.sha256 == hashlib.sha256(p.read_bytes()).hexdigest() and r.nbytes == p.stat().st_size


def test_a_small_file_replaced_by_a_fifo_is_refused(tmp_path: Path) -> None:
    p = tmp_path / "x.log"
    p.write_text("x")
    item = item_for(p)
    p.unlink()
    os.mkfifo(p)
    r = pipeline().scan_item(item)  # must not block on the FIFO
    assert [e.kind for e in r.errors] == ["changed"] and r.sha256 is None


def test_a_small_subclass_with_its_own_open_is_opened_through_it(tmp_path: Path, rng) -> None:
    p = tmp_path / "x.log"
    write_planted(p, rng, 2)
    opened = []

    class Counting(FileSource):
        def open(self, item: Item) -> Any:
            opened.append(item.uri)
            return super().open(item)

    r = pipeline([Counting(tmp_path)]).scan_item(item_for(p))
    assert len(r.findings) == 2 and opened == [item_for(p).uri]


def test_scan_plain_takes_only_what_cannot_crash_the_process(tmp_path: Path, rng) -> None:
    """What a pool's parent scans while its workers start: small plain files only."""
    plain = tmp_path / "plain.log"
    write_planted(plain, rng, 2)
    gz = tmp_path / "x.log.gz"  # a decoder (a native library) would open it
    gz.write_bytes(gzip.compress(f"card {pan(rng, 1)}\n".encode()))
    hidden = tmp_path / "no-suffix"  # a container by its magic bytes only
    hidden.write_bytes(gzip.compress(f"card {pan(rng, 2)}\n".encode()))
    big = tmp_path / "big.log"
    big.write_bytes(b"y" * (cardscan.pipeline.SMALL_FILE + 1))
    p = pipeline()
    r = p.scan_plain(item_for(plain))
    assert r is not None and _record(r) == _record(p.scan_item(item_for(plain)))
    assert [p.scan_plain(item_for(x)) for x in (gz, hidden, big)] == [None, None, None]
    assert p.scan_plain(item_for(plain).range(0, 10)) is None


def test_batch_verdicts_say_what_each_file_alone_would(tmp_path: Path, rng) -> None:
    # clean: read whole, not flagged, no database or container; plain: the
    # flagged ones read whole that are no database or container either (the
    # pipeline then does not sniff their bytes again), as is_container and
    # is_database say of each file alone.
    import sqlite3

    from cardscan.decoders.base import HEAD_SIZE
    from cardscan.decoders.expand import is_container
    from cardscan.engine import precheck
    from cardscan.pipeline import SQLITE_MAGIC, batch_verdicts
    from cardscan.sources.fs import read_files

    d = tmp_path / "d"
    d.mkdir()
    card = f"card={pan(rng, 1)} exp 09/27\n"
    (d / "plain.log").write_text(card)
    (d / "clean.log").write_text("nothing here\n")
    (d / "card.gz").write_bytes(gzip.compress(card.encode()))
    (d / "clean.gz").write_bytes(gzip.compress(b"nothing\n"))
    (d / "card.tar").write_text(card)  # a container by its name
    (d / "mail.eml").write_text(f"From: a@b.c\nSubject: x\n\n{card}")
    (d / "big.log").write_text(card * 4000)  # bigger than the limit: not read
    db = sqlite3.connect(d / "shop.db")
    db.execute("create table t (card_number text)")
    db.execute("insert into t values (?)", (pan(rng, 2),))
    db.commit()
    db.close()
    names = sorted(os.listdir(d))
    detector = Scanner(ScanConfig(), FP).detector
    data, ends, status = read_files(str(d), names, 1 << 16)
    clean, nbytes, plain = batch_verdicts(detector, names, data, ends, status)
    flagged = precheck.flagged(data, ends, detector)
    for i, name in enumerate(names):
        content = data[ends[i]:ends[i + 1] - 1]
        alone = not status[i] and not content.startswith(SQLITE_MAGIC) and not is_container(name, content[:HEAD_SIZE])
        assert (i in clean) == (alone and i not in flagged), name
        assert (i in plain) == (alone and i in flagged), name
    assert {names[i] for i in plain} == {"plain.log"} and {names[i] for i in clean} == {"clean.log"}
    assert nbytes == (d / "clean.log").stat().st_size


def test_batch_verdicts_count_the_bytes_of_the_clean_files_alone(tmp_path: Path, rng) -> None:
    # Every file read (the all-read path) and one not (a FIFO): nbytes is the
    # clean files' sizes, empty files and a flagged file in between.
    from cardscan.pipeline import batch_verdicts
    from cardscan.sources.fs import read_files

    sizes = {"a.log": 0, "b.log": 7, "c.log": 300, "e.log": 1}
    for name, size in sizes.items():
        (tmp_path / name).write_bytes(b"." * size)
    (tmp_path / "d.log").write_text(f"card={pan(rng, 1)}\n")
    detector = Scanner(ScanConfig(), FP).detector
    names = sorted(sizes) + ["d.log"]
    names.sort()
    data, ends, status = read_files(str(tmp_path), names, 1 << 16)
    assert not any(status)
    clean, nbytes, plain = batch_verdicts(detector, names, data, ends, status)
    assert {names[i] for i in clean} == set(sizes) and {names[i] for i in plain} == {"d.log"}
    assert nbytes == sum(sizes.values())
    os.mkfifo(tmp_path / "f.log")
    names.insert(1, "f.log")
    data, ends, status = read_files(str(tmp_path), names, 1 << 16)
    assert status[1] and (clean := batch_verdicts(detector, names, data, ends, status)[0]) is not None
    assert {names[i] for i in clean} == set(sizes)
    assert batch_verdicts(detector, names, data, ends, status)[1] == sum(sizes.values())


# -- a result's trip between processes (ItemResult.__reduce__) ------------------------------


def same(a: Any, b: Any, where: str = "result", *, parts: bool = False) -> None:
    """``a`` and ``b`` alike all the way down: the same types (tuples stay
    tuples, a Published stays one; a PublishedOver arrives as the plain
    Published it pickles as, or with ``parts`` as a PublishedOver of the
    same two parts: a forked worker's answer, run.worker._dumps), dicts in the same order, objects' fields
    and other attributes (Location's public mark, ListedMeta's perm) and
    slots (RangeStats, which has no ==) the same. (Of a ListedMeta's
    attributes only perm crosses: the bytes a batch read are not sent.)"""
    from cardscan.privacy import Published, PublishedOver
    from cardscan.sources.fs import ListedMeta

    if type(a) is PublishedOver:  # (its two parts stay in the sending process: privacy.PublishedOver)
        if parts:
            assert type(b) is PublishedOver, f"{where}: {type(b).__name__} != PublishedOver"
            for name in ("base", "extra"):
                assert type(getattr(b, name)) is Published, f"{where}.{name}"
                same(dict(getattr(a, name)), dict(getattr(b, name)), f"{where}.{name}")
        else:
            assert type(b) is Published, f"{where}: {type(b).__name__} != Published"
        same(dict(a), dict(b), where)
        return
    assert type(a) is type(b), f"{where}: {type(a).__name__} != {type(b).__name__}"
    if type(a) is ListedMeta:
        same(dict(a), dict(b), where)
        assert a.perm == b.perm, f"{where}.perm"
        return
    if isinstance(a, dict):
        assert list(a) == list(b), where
        for k in a:
            same(a[k], b[k], f"{where}[{k!r}]", parts=parts)
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for n, (x, y) in enumerate(zip(a, b)):
            same(x, y, f"{where}[{n}]", parts=parts)
    if hasattr(a, "__dict__") or any(getattr(t, "__slots__", ()) for t in type(a).__mro__):
        slots = [s for t in type(a).__mro__ for s in getattr(t, "__slots__", ()) if s != "__dict__"]
        attrs = dict(getattr(a, "__dict__", {}))
        other = dict(getattr(b, "__dict__", {}))
        assert sorted(attrs) == sorted(other), where
        for name in sorted(attrs):
            same(attrs[name], other[name], f"{where}.{name}", parts=parts)
        for name in slots:
            assert hasattr(a, name) == hasattr(b, name), f"{where}.{name}"
            if hasattr(a, name):
                same(getattr(a, name), getattr(b, name), f"{where}.{name}", parts=parts)
    elif not isinstance(a, (dict, list, tuple)):
        assert a == b, where


def full_result() -> ItemResult:
    """A result with something in every field: findings (one in a member of a
    zip, shared object metadata), a SQL cell's and a dump's locations, a
    public mark, errors, allowed findings, a range's stats, names not ASCII."""
    from cardscan.engine.scanner import RangeStats
    from cardscan.findings import DumpCell, Finding
    from cardscan.privacy import published
    from cardscan.sources.fs import ListedMeta

    uri = "file:///srv/données/relevé-ü.zip"
    meta = ListedMeta({"owner": "zoë", "group": "staff", "mode": "0640"})
    meta.perm = (1000, 50, 0o100640, 64768)
    item = Item(uri=uri, source="file", size=2048, mtime=1796653305.25, ukey="2048:1:2:3",
                version=None, byte_range=(0, 2048), meta=meta)
    obj = published({"owner": "zoë", "mode": "0640", "readers": ["user:zoë", "*"],
                     "group_members": {"staff": 3}, "size": 2048, "sha256": "ab" * 32})
    in_member = Location(uri=uri, member=("exports/mars-é.zip", "clients.csv"), offset=85, length=16,
                         line=2, column=23).public()
    in_cell = Location(uri="sqlite:////srv/base.db", cell=Cell("cartes", "numéro", (("id", 7),), schema="main",
                                                               stable=False))
    in_dump = Location(uri=uri, offset=900, length=16, line=40, column=3, ref="Feuil1!B2",
                       dump=DumpCell("cards", "pan", 7, (("id", 7),), "public"), sealed="sealed-token")

    def finding(loc: Location, masked: str, **more: Any) -> Finding:
        return Finding(location=loc, kind="pan", brand="visa", masked=masked, fingerprint="hmac-sha256:" + "0f" * 32,
                       confidence=95, reasons=("issuer_luhn", "field_keyword"), obj=obj, **more)

    findings = [finding(in_member, "455673******9855"),
                finding(in_cell, "411111******1111", test_card=True, encoding="utf-16-le", digits=16),
                finding(in_dump, "378282*****0005", digits=15, carried_over="2026-12-01T10:00:00Z")]
    stats = RangeStats(0, 2048)
    stats.newlines, stats.last_newline = 40, 2000
    return ItemResult(
        item=item, findings=findings,
        errors=[ErrorRecord(Location(uri=uri, member=("données.7z",)), "encrypted", "chiffré: mot de passe"),
                ErrorRecord(Location(uri=uri), "limit", "too deep", limit="depth")],
        nbytes=2048, sha256="cd" * 32, range_stats=stats,
        obj={"size": 2048, "mtime": "2026-12-07T14:21:45.25Z", "ukey": "2048:1:2:3"},
        seconds=0.0125, decoded=True, allowed=[finding(Location(uri=uri, offset=7, length=16, line=1, column=8),
                                                       "455673******1234")])


def _trips() -> list[Any]:
    import copy

    return [lambda r: pickle.loads(pickle.dumps(r, pickle.HIGHEST_PROTOCOL)),
            lambda r: pickle.loads(pickle.dumps(r, 2)),
            lambda r: pickle._loads(pickle._dumps(r, pickle.HIGHEST_PROTOCOL)),  # the pure-Python pickler
            copy.copy, copy.deepcopy]


@pytest.mark.parametrize("trip", range(5))
def test_a_result_comes_back_from_a_pickle_the_same_in_every_field(trip: int) -> None:
    r = full_result()
    back = _trips()[trip](r)
    same(r, back)
    assert back is not r and back.findings[0] is not r.findings[0]
    # RangeStats has no ==: the result's == holds with the very object (same() compared its slots).
    assert r == ItemResult(**{**vars(back), "range_stats": r.range_stats})
    assert back.findings[0].obj is back.findings[1].obj is back.allowed[0].obj  # one object's metadata, shared
    assert back.findings[0].location.clean_uri() == r.findings[0].location.clean_uri()
    assert repr(back.findings) == repr(r.findings) and repr(back.item) == repr(r.item)
    assert [f.id for f in back.findings] == [f.id for f in r.findings]
    with pytest.raises(TypeError):  # still the read-only published metadata
        back.findings[0].obj["owner"] = "x"  # type: ignore[index]


def test_a_result_without_item_or_findings_and_one_of_another_shape_pickle_too() -> None:
    r = full_result()
    lean = ItemResult(item=None, nbytes=1)  # type: ignore[arg-type]  # a forked worker's lean answer
    same(lean, pickle.loads(pickle.dumps(lean, pickle.HIGHEST_PROTOCOL)))

    class Mine(ItemResult):
        pass

    sub = Mine(**vars(r))  # a subclass: the default pickle (its class is found by name: a module's)
    assert ItemResult.__reduce__(sub)[0] is not cardscan.pipeline._unpacked_result
    odd = ItemResult(item=r.item, findings=[r.findings[0], "not a finding"])  # type: ignore[list-item]
    same(odd, pickle.loads(pickle.dumps(odd, pickle.HIGHEST_PROTOCOL)))
    extra = full_result()
    extra.note = "kept"  # type: ignore[attr-defined]  # an attribute past the fields goes along
    assert pickle.loads(pickle.dumps(extra)).note == "kept"


def test_a_scanned_results_pickle_is_smaller_than_the_default_and_the_same(tmp_path: Path, rng) -> None:
    import copyreg

    d = tmp_path / "données"
    d.mkdir()
    for n in range(3):
        write_planted(d / f"relevé-{n}.log", rng, 2, start=n)
    results = [pipeline().scan_item(item) for item in FileSource(d).items()]
    assert all(len(r.findings) == 2 for r in results) and len(results) == 3
    packed = pickle.dumps(results, pickle.HIGHEST_PROTOCOL)
    back = pickle.loads(packed)
    same(results, back)
    assert back == results
    default = pickle.Pickler  # the default way, for its size: each result by copyreg's reduce
    import io

    buf = io.BytesIO()
    pk = default(buf, pickle.HIGHEST_PROTOCOL)
    pk.dispatch_table = {ItemResult: lambda r: (copyreg.__newobj__, (ItemResult,), r.__dict__)}
    pk.dump(results)
    assert len(packed) < len(buf.getvalue())
    same(results, pickle.loads(buf.getvalue()))
