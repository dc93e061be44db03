"""Tests for cardscan/decoders/expand.py: the expand() seam, limits and bombs, is_container.

Bombs are built for real but never inflated by the test itself: zeros are
compressed in a stream, so a 256 MB bomb costs the test a few hundred KB.
"""
from __future__ import annotations

import gzip
import io
import os
import time
import zipfile
import zlib
from typing import Iterator

import pytest
from hypothesis import given, settings, strategies as st

from cardscan import registry
from cardscan.decoders.base import Failure, Layer, Limits, TextLayer
from cardscan.decoders.expand import containers, decoders, expand, is_container, strip_compression
from cardscan.errors import ConfigError

from .build import pans, scan, tar_bytes, zip_bytes

P = pans(6, seed=31)


def gzip_bomb(megabytes: int) -> bytes:
    """A gzip of ``megabytes`` MiB of zeros, compressed in a stream (~1000:1)."""
    c = zlib.compressobj(9, zlib.DEFLATED, 31)
    zeros = bytes(1 << 20)
    return b"".join([c.compress(zeros) for _ in range(megabytes)] + [c.flush()])


def drain(parts: Iterator) -> tuple[list[Failure], int]:  # type: ignore[type-arg]
    failures, total = [], 0
    for p in parts:
        if isinstance(p, Failure):
            failures.append(p)
        else:
            while chunk := p.stream.read(1 << 20):
                total += len(chunk)
    return failures, total


def test_plain_item_is_the_very_stream_rewound() -> None:
    fh = io.BytesIO(b"xx card " + P[0].encode())
    fh.seek(3)
    parts = list(expand(fh, "file:///srv/app.log", Limits()))
    assert len(parts) == 1 and isinstance(parts[0], Layer)
    assert parts[0].stream is fh and fh.tell() == 3
    assert parts[0].member == () and parts[0].encoding == ""


def test_member_prefix_is_kept() -> None:
    parts = list(expand(io.BytesIO(gzip.compress(b"x")), "a.gz", None, member=("outer.zip",)))
    assert [p.member for p in parts] == [("outer.zip",)]


def test_gzip_bomb_stops_at_the_ratio_limit_while_streaming() -> None:
    bomb = gzip_bomb(256)  # 256 MiB of zeros in ~250 KB
    assert len(bomb) < 400_000
    t = time.perf_counter()
    failures, total = drain(expand(io.BytesIO(bomb), "bomb.gz", Limits()))
    assert [(f.kind, f.limit) for f in failures] == [("limit", "ratio")]
    assert total < 64 * 1024 * 1024, "the bomb was inflated far beyond the limit"
    assert time.perf_counter() - t < 5


def test_total_bytes_limit_stops_the_item_and_says_so() -> None:
    lim = Limits(max_ratio=1e9, max_total_bytes=10 * 1024 * 1024)
    failures, total = drain(expand(io.BytesIO(gzip_bomb(64)), "bomb.gz", lim))
    assert [(f.kind, f.limit) for f in failures] == [("limit", "total_bytes")]
    assert total == 10 * 1024 * 1024


def test_total_bytes_limit_stops_later_members_too() -> None:
    data = zip_bytes({f"m{i}.txt": bytes(300_000) for i in range(5)})
    r = scan(data, "x.zip", Limits(max_ratio=1e9, max_total_bytes=700_000))
    assert len(r.layers) == 3 and sum(len(b) for _, _, b in r.layers) == 700_000
    assert r.kinds() == [("limit", "total_bytes")]


def test_zip_entry_declaring_a_bomb_ratio_is_not_inflated() -> None:
    data = zip_bytes({"zeros.bin": bytes(20 * 1024 * 1024), "cards.csv": b"card " + P[1].encode() + b"\n"})
    r = scan(data, "x.zip")
    assert [(f.member, f.kind, f.limit) for f in r.failures] == [(("zeros.bin",), "limit", "ratio")]
    assert r.where(P[1]) == [("cards.csv",)]


def test_zip_entry_lying_about_its_size_is_caught_while_streaming() -> None:
    # A bomb whose header claims a modest size: the inflater stops at the declared size.
    data = bytearray(zip_bytes({"zeros.bin": bytes(8 * 1024 * 1024)}))
    for sig, at in ((b"PK\x03\x04", 22), (b"PK\x01\x02", 24)):
        i = data.find(sig)
        data[i + at:i + at + 4] = (1000).to_bytes(4, "little")  # uncompressed size: 1000
    failures, total = drain(expand(io.BytesIO(bytes(data)), "x.zip", Limits()))
    assert total <= 1000 + 65536
    assert [f.kind for f in failures] == ["decode"]


def test_42_zip_nesting_stops_at_max_depth() -> None:
    level = zip_bytes({"0.txt": b"card " + P[2].encode() + b"\n"})
    for depth in range(5):  # 5 levels of zips, 3 copies each
        level = zip_bytes({f"{depth}-{i}.zip": level for i in range(3)})
    r = scan(level, "42.zip")  # default max_depth 3
    assert r.layers == []
    assert r.failures and {(f.kind, f.limit) for f in r.failures} == {("limit", "depth")}
    assert all(len(f.member) == 3 for f in r.failures)  # the 4th level is where it stopped
    r = scan(level, "42.zip", Limits(max_depth=6))
    assert len(r.where(P[2])) == 3 ** 5 and r.failures == []


def test_compression_does_not_count_as_a_level_but_gz_in_gz_does() -> None:
    inner = zip_bytes({"a.csv": b"card " + P[3].encode() + b"\n"})
    tgz = tar_bytes({"x.zip": inner}, mode="w:gz")
    assert scan(tgz, "a.tgz", Limits(max_depth=2)).where(P[3]) == [("x.zip", "a.csv")]
    assert scan(tgz, "a.tgz", Limits(max_depth=1)).kinds() == [("limit", "depth")]
    nested = gzip.compress(gzip.compress(gzip.compress(b"card " + P[3].encode())))
    assert scan(nested, "x.gz.gz.gz", Limits(max_depth=2)).where(P[3]) == [()]
    assert scan(nested, "x.gz.gz.gz", Limits(max_depth=1)).kinds() == [("limit", "depth")]


def _overlapping_zip() -> bytes:
    """Two central entries that point at the same local header (a classic bomb shape)."""
    data = bytearray(zip_bytes({"a.txt": b"A" * 5000, "b.txt": b"B" * 5000, "c.csv": b"card " + P[4].encode()},
                               method=zipfile.ZIP_STORED))
    first = data.find(b"PK\x01\x02")
    second = data.find(b"PK\x01\x02", first + 4)
    data[second + 42:second + 46] = data[first + 42:first + 46]  # b.txt's header offset := a.txt's
    return bytes(data)


def test_overlapping_entries_are_refused() -> None:
    r = scan(_overlapping_zip(), "bomb.zip")
    assert [(f.member, f.kind, f.limit) for f in r.failures] == [((), "limit", "overlap")]
    assert r.members() == [("c.csv",)]
    assert r.where(P[4]) == [("c.csv",)]


def test_member_limit_counts_all_containers_of_an_item() -> None:
    data = zip_bytes({f"f{i}.txt": b"x" for i in range(20)})
    r = scan(data, "x.zip", Limits(max_members=5))
    assert len(r.layers) == 5 and r.kinds() == [("limit", "members")]
    huge_declared = zip_bytes({f"f{i}.txt": b"x" for i in range(30)})
    r = scan(tar_bytes({"a.zip": huge_declared}), "x.tar", Limits(max_members=10))
    assert ("limit", "members") in r.kinds()


class _BrokenFile(io.RawIOBase):
    def __init__(self, data: bytes, fail_at: int) -> None:
        self._b, self._fail = io.BytesIO(data), fail_at

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, pos: int, whence: int = 0) -> int:
        return self._b.seek(pos, whence)

    def tell(self) -> int:
        return self._b.tell()

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        if self._b.tell() >= self._fail:
            raise OSError(5, "Input/output error")
        data = self._b.read(min(len(b), self._fail - self._b.tell()))
        b[: len(data)] = data
        return len(data)


def test_io_error_of_the_item_itself_is_kind_io() -> None:
    data = gzip.compress(b"card " + P[5].encode() + b"\n" + bytes(range(256)) * 4000)
    failures, _ = drain(expand(_BrokenFile(data, len(data) // 2), "x.gz", Limits()))
    assert [f.kind for f in failures] == ["io"]


def test_a_layer_stream_never_raises_for_bad_data() -> None:
    data = gzip.compress(bytes(range(256)) * 1000)
    for part in expand(io.BytesIO(data[:-100]), "x.gz"):
        if isinstance(part, Layer):
            while part.stream.read(4096):
                pass  # no exception: the failure comes after the layer


def test_failure_messages_never_hold_a_pan() -> None:
    class Leaky:
        name = "leaky"
        priority = -1

        def accepts(self, name: str, head: bytes) -> bool:
            return head.startswith(b"LEAK")

        def open(self, stream, name, limits):  # type: ignore[no-untyped-def]
            yield Failure(("x",), "decode", f"bad value {P[0]} in header")
            raise ValueError(f"cannot parse {P[1]}")

    _with_plugin(Leaky)
    try:
        r = scan(b"LEAK", "x")
    finally:
        _without_plugin()
    from cardscan.testing import assert_no_pan

    assert len(r.failures) == 2
    assert_no_pan(" ".join(f.message for f in r.failures), P[:2], "failure messages")


def _with_plugin(cls: type) -> None:
    registry.BUILTIN["cardscan.decoders"]["test-plugin"] = f"{__name__}:{cls.__name__}"
    globals()[cls.__name__] = cls
    registry.refresh()


def _without_plugin() -> None:
    registry.BUILTIN["cardscan.decoders"].pop("test-plugin", None)
    registry.refresh()


class Rot13:
    """A third-party decoder: ROT13 text marked by a header line."""

    name = "rot13"

    def accepts(self, name: str, head: bytes) -> bool:
        return head.startswith(b"ROT13\n")

    def open(self, stream, name, limits):  # type: ignore[no-untyped-def]
        import codecs

        text = stream.read()[6:].decode()
        yield TextLayer(("decoded",), io.BytesIO(codecs.encode(text, "rot13").encode()), "rot13")


def test_third_party_decoder_through_the_registry() -> None:
    import codecs

    _with_plugin(Rot13)
    try:
        hidden = b"ROT13\n" + codecs.encode("card " + P[0], "rot13").encode()
        r = scan(zip_bytes({"note.txt": hidden}), "x.zip")
    finally:
        _without_plugin()
    assert r.where(P[0]) == [("note.txt", "decoded")]
    assert r.layers[0][1] == "rot13"


@pytest.mark.parametrize("name,expected", [
    ("backup.tar.gz", "backup.tar"), ("x.tgz", "x.tar"), ("app.log.1.gz", "app.log.1"),
    ("a.tar.zst", "a.tar"), ("DATA.CSV.XZ", "DATA.CSV"), ("plain.txt", "plain.txt"),
])
def test_strip_compression(name: str, expected: str) -> None:
    assert strip_compression(name) == expected


def test_every_builtin_decoder_is_registered_and_loads() -> None:
    names = {d.name for d in decoders()}
    assert {"gzip", "bzip2", "xz", "zstd", "zip", "tar", "pdf", "ole", "mail", "mbox"} <= names


def test_total_bytes_stop_inside_a_tar_gz_is_reported_once() -> None:
    data = tar_bytes({f"m{i}.bin": bytes(200_000) for i in range(4)}, mode="w:gz")
    r = scan(data, "x.tar.gz", Limits(max_ratio=1e9, max_total_bytes=500_000))
    assert r.kinds() == [("limit", "total_bytes")]


# -- is_container: one answer for the planner, the hook and expand() ---------------------


def v7_tar(name: str, data: bytes) -> bytes:
    """A tar without the ustar magic (pre-POSIX "v7" format): header rewritten, checksum fixed."""
    raw = bytearray(tar_bytes({name: data}))
    raw[257:265] = bytes(8)  # magic and version
    raw[148:156] = b" " * 8
    raw[148:155] = b"%06o\x00" % sum(raw[:512])
    return bytes(raw)


def mail_message(body: str) -> bytes:
    from email.message import EmailMessage

    m = EmailMessage()
    m["From"], m["To"], m["Subject"] = "billing@example.com", "ops@example.com", "export"
    m.set_content(body)
    return m.as_bytes()


@pytest.mark.parametrize("head", [
    b"\x1f\x8b\x08", b"PK\x03\x04", b"PK\x05\x06", b"BZh91AY&SY", b"\xfd7zXZ\x00\x00", b"\x28\xb5\x2f\xfd",
    b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07\x00", b"\x00" * 257 + b"ustar\x0000", b"%PDF-1.7",
    b"junk before the header %PDF-1.4", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1",
    b"From billing@example.com Mon Mar  4 10:00:00 2024\nFrom: a@b\n",
])
def test_containers_by_magic_whatever_their_name(head: bytes) -> None:
    assert is_container("", head + bytes(300))
    assert is_container("notes.txt", head + bytes(300))


def test_formats_recognised_by_name_or_header_only() -> None:
    import lzma

    log = b"order 1 shipped\n" * 20
    alone = lzma.compress(log, format=lzma.FORMAT_ALONE)
    assert not is_container("", alone[:4096])  # LZMA "alone" has no magic ...
    assert is_container("app.log.lzma", alone[:4096])  # ... its name says it
    assert is_container("/srv/exports/APP.LZMA", alone[:4096])
    tar = v7_tar("a.csv", b"x,1\n")
    assert not is_container("", tar[:4096]) and is_container("backup.tar", tar[:4096])
    raw = mail_message("hello")
    assert is_container("", raw[:4096])  # a mail by its headers, without a name
    assert is_container("message.eml", b"Subject: hi\nFrom: a@b\n\nbody")


@pytest.mark.parametrize("name,head", [
    ("app.log", b"2024-06-11 INFO order 17 shipped\n"),
    ("app.log", b"2024-06-11T10:00:00Z order 17 shipped\nReceived payment\n"),  # a header-like first line
    ("export.csv", b"id,card\n1,x\n"),
    ("data.json", b'{"a": 1}'),
    ("config.yaml", b"name: shop\nversion: 2\n"),
    ("status.txt", b"Date: today\nStatus: 200\n\nbody"),  # HTTP-ish headers, no mail header
    ("odd.bin", b"\x00\x01PK\x03\x04"),  # zip magic not at the start
    ("archive.gz", b"plain text that is not gzip"),  # names trusted only where a decoder trusts them
    ("", b""),
])
def test_not_containers(name: str, head: bytes) -> None:
    assert not is_container(name, head)


def test_a_plain_file_imports_no_decoder(tmp_path) -> None:
    import subprocess
    import sys

    code = ("import sys, io\n"
            "from cardscan.decoders import expand, is_container\n"
            "assert not is_container('app.log', b'2024-06-11 INFO shipped')\n"
            "list(expand(io.BytesIO(b'2024-06-11 INFO shipped'), 'app.log'))\n"
            "print(sorted(m for m in sys.modules if m.startswith('cardscan.decoders.')))\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}).stdout
    assert out.strip() == "['cardscan.decoders.base', 'cardscan.decoders.expand', 'cardscan.decoders.streams']"


def test_third_party_decoder_without_data_is_asked() -> None:
    head = b"ROT13\n" + b"x" * 40
    assert not is_container("note", head)
    _with_plugin(Rot13)
    try:
        assert is_container("note", head)
        assert not is_container("note", b"plain text")
    finally:
        _without_plugin()
    assert not is_container("note", head)


def test_declared_data_answers_without_importing_the_decoder(caplog) -> None:
    from cardscan.decoders.expand import load_failures

    registry.register("cardscan.decoders", "riff", "no_such_module_cardscan_test:Riff", magic=((0, b"RIFF"),))
    try:
        # Answered from the data: the module does not even exist.
        assert is_container("a.wav", b"RIFF\x24\x00\x00\x00WAVE")
        assert "riff" not in load_failures()
        # Opening it needs the class: the load fails, is reported, and the bytes are scanned plain.
        with caplog.at_level("WARNING", logger="cardscan.decoders"):
            r = scan(b"RIFF card " + P[0].encode(), "a.wav")
        assert r.where(P[0]) == [()]
        assert "riff" in load_failures() and "could not be loaded" in caplog.text
    finally:
        registry.DECODERS.pop("riff", None)
        registry.BUILTIN["cardscan.decoders"].pop("riff", None)
        registry.refresh()
    assert "riff" not in load_failures()


def test_register_refuses_unknown_format_keys() -> None:
    with pytest.raises(ConfigError):
        registry.register("cardscan.decoders", "x", "m:X", magik=((0, b"X"),))
    with pytest.raises(ConfigError):
        registry.register("cardscan.sinks", "x", "m:X", magic=((0, b"X"),))


def test_broken_entry_point_is_reported_and_refresh_reaches_the_decoder_cache(tmp_path, monkeypatch, caplog) -> None:
    import importlib
    import sys

    from cardscan.decoders.expand import load_failures
    from cardscan.findings import FingerprintKey
    from cardscan.run.sweep import scan_info

    dist = tmp_path / "broken_decoder-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-decoder\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[cardscan.decoders]\nbroken = no_such_module_cardscan_test:Decoder\n")
    registry.refresh()
    assert "broken" not in load_failures()
    monkeypatch.syspath_prepend(str(tmp_path))
    importlib.invalidate_caches()
    assert "broken" not in load_failures()  # the tables are cached until refreshed
    try:
        registry.refresh()
        with caplog.at_level("WARNING", logger="cardscan.decoders"):
            failures = load_failures()
        assert set(failures) == {"broken"} and "no_such_module_cardscan_test" in failures["broken"]
        assert "'broken' could not be loaded" in caplog.text
        info = scan_info([], {}, FingerprintKey(b"k" * 32), "argument")
        assert info["plugin_errors"] == {"decoders": failures}
        from cardscan.manifest import scan_record, validate_records

        assert validate_records([scan_record(info)]) == []
        assert "broken" in info["plugins"]["decoders"]
        r = scan(b"card " + P[1].encode(), "x.txt")  # the sweep goes on without it
        assert r.where(P[1]) == [()]
    finally:
        monkeypatch.undo()
        sys.path_importer_cache.pop(str(tmp_path), None)
        importlib.invalidate_caches()
        registry.refresh()
    assert load_failures() == {}
    assert "plugin_errors" not in scan_info([], {}, FingerprintKey(b"k" * 32), "argument")


def test_container_check_by_data_equals_its_plain_reading() -> None:
    """_Formats.match (asked once per object, so tuned) gives the answer of the
    rules read plainly: magic at its offset, a suffix, a header at the start of
    a line of the first block (ending at the first blank line, \\r\\n or \\n)."""
    import random
    import re

    from cardscan.decoders.expand import _BLOCK_END, _HEADER_LINE, _block_end, _loaded

    f = _loaded().formats

    def plain(name: str, head: bytes) -> bool:
        if any(head[at:at + len(m)] == m for at, m in f.magic):
            return True
        if any(m in head[:w] for w, m in f.search):
            return True
        if name and name.lower().endswith(f.suffixes):
            return True
        if _HEADER_LINE.match(head):
            block = re.split(rb"\r?\n\r?\n", head, maxsplit=1)[0]
            return any(line.lower().startswith(f.headers) for line in block.splitlines())
        return False

    rng = random.Random(7)
    parts = [b"From: a", b"\r\n", b"\n", b"\r", b"x: y", b"RECEIVED: z", b"Message-ID:", b"fro", b"m:",
             b"2024-01-01T10:11:12Z INFO", b" ", b"\x1f\x8b", b"PK\x03\x04", b"ustar", b"%PDF", b"\r\r\n",
             b"mime-version: 1", b"\n\n", b"\r\n\r\n", b"Return-Path:", b"\n\r\r\n", b"(28, b'\\x00ustar')"]
    seen = set()
    for _ in range(30_000):
        head = b"".join(rng.choice(parts) for _ in range(rng.randrange(0, 12)))
        if rng.random() < 0.1:
            head = b"\0" * 257 + b"ustar" + head
        name = rng.choice(["a.log", "x.zst", "b.TZST", "", "m.eml"])
        m = _BLOCK_END.search(head)
        assert _block_end(head) == (m.start() if m else len(head)), head
        got = f.match(name, head)
        assert got == plain(name, head), (name, head)
        seen.add(got)
    assert seen == {True, False}


def _match_reference(formats, name: str, head: bytes) -> bool:
    """_Formats.match as first written (slices, a generator): the oracle of the faster one."""
    from cardscan.decoders.expand import _HEADER_LINE, _block_end

    if any(head.startswith(m, at) for at, m in formats.magic):
        return True
    if any(m in head[:w] for w, m in formats.search):
        return True
    if formats.suffixes and name and name.lower().endswith(formats.suffixes):
        return True
    if formats.headers and _HEADER_LINE.match(head):
        low = head.lower()
        if not any(h in low for h in formats.headers):
            return False
        block = head[:_block_end(head)]
        return any(line.lower().startswith(formats.headers) for line in block.splitlines())
    return False


_PIECES = [b"PK\x03\x04", b"\x1f\x8b\x08", b"BZh", b"From ", b"ustar", b"%PDF-", b"-- MySQL dump",
           b"-- PostgreSQL database dump", b"-- MariaDB dump", b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;",
           b"From: a@b", b"Received: x", b"MESSAGE-ID: <1>", b"x-y:", b"2024-06-11T09:00:00Z INFO ", b"\n", b"\r\n",
           b"\n\n", b"card=4111111111111111 ", b" ", b"a" * 200, b"0" * 300, b"\x00"]


def test_the_container_sniff_answers_as_its_reference() -> None:
    from hypothesis import given, settings, strategies as st

    from cardscan.decoders.expand import _loaded

    formats = _loaded().formats
    names = st.sampled_from(["f.log", "x.ZIP", "d.sql", "m.eml", "a.tar", "", "noext", "y.zst"])
    heads = st.lists(st.one_of(st.sampled_from(_PIECES), st.binary(max_size=40)), max_size=40).map(b"".join)

    @settings(max_examples=600, deadline=None, database=None, derandomize=True)
    @given(names, heads.map(lambda h: h[:4096]))
    def check(name: str, head: bytes) -> None:
        assert formats.match(name, head) == _match_reference(formats, name, head)

    check()


# -- containers(): is_container for a batch of small files at once ----------------------
_HEADS = [
    b"\x1f\x8b\x08\x00", b"BZh91AY", b"\xfd7zXZ\x00\x00", b"\x28\xb5\x2f\xfd", b"PK\x03\x04", b"PK\x05\x06",
    b"7z\xbc\xaf\x27\x1c", b"Rar!\x1a\x07", b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", b"From someone Mon Jan 1\n",
    b"%PDF-1.7\n", b"x" * 1000 + b"%PDF-", b"x" * 1030 + b"%PDF-", b"-- PostgreSQL database dump\n",
    b"From: a@b\nSubject: hi\n\nbody", b"2024-06-11T09:00:30Z INFO from: nobody\n", b"Received: x\n\n",
    b"x" * 257 + b"ustar\x0000", b"x" * 250 + b"ustar", b"", b"\n", b"SQLite format 3\x00", b"plain text\n",
    b"PK", b"ROT13\nhello",
]
_NAMES = ["a.log", "b.tar", "C.TAR", "x.lzma", "notes.eml", "dump.sql", "y.zst", "tar", ".sql", "a.sql.txt"]


def _joined(files: list[bytes]) -> tuple[bytes, list[int]]:
    ends = [0]
    for f in files:
        ends.append(ends[-1] + len(f) + 1)
    return b"".join(f + b"\n" for f in files), ends


def _check_containers(names: list[str], files: list[bytes]) -> None:
    data, ends = _joined(files)
    everyone = range(len(files))
    expected = {i for i in everyone if is_container(names[i], files[i][:4096])}
    assert containers(names, data, ends, everyone) == expected
    odd = [i for i in everyone if i % 2]
    assert containers(names, data, ends, odd) == expected & set(odd)


def test_containers_answers_as_is_container_per_file() -> None:
    names = [n for n in _NAMES for _ in _HEADS]
    files = [h for _ in _NAMES for h in _HEADS]
    _check_containers(names, files)
    _check_containers(["a.log"] * 3, [b"x" * 5000 + b"PK\x03\x04", b"PK\x03\x04" + b"y" * 5000, b"z" * 4094 + b"%PDF-"])


def test_containers_asks_third_party_decoders_per_file() -> None:
    _with_plugin(Rot13)
    try:
        _check_containers(["a.txt", "b.txt", "c.txt"], [b"ROT13\nx", b"plain", b"xROT13\n"])
    finally:
        _without_plugin()


@settings(max_examples=150, deadline=None)
@given(parts=st.lists(st.tuples(st.sampled_from(_NAMES), st.lists(st.sampled_from(_HEADS + [b"abc", b"\x00"]),
                                                                   max_size=4)), min_size=1, max_size=8))
def test_containers_equals_is_container_on_generated_batches(parts: list[tuple[str, list[bytes]]]) -> None:
    _check_containers([n for n, _ in parts], [b"".join(h) for _, h in parts])


def test_containers_of_one_file_and_offsetmagic_at_the_end_of_data() -> None:
    # One file: itemgetter gives a scalar; an offset past the data's end: clamped, never a hit.
    for files in ([b"PK\x03\x04"], [b""], [b"x"], [b"x" * 257 + b"ustar"], [b"x" * 256 + b"ustar"], [b"ab", b"x" * 258]):
        _check_containers(["a.log"] * len(files), files)


def test_magic_at_and_suffixed_answer_as_the_per_file_tests() -> None:
    from cardscan.decoders.expand import _lim, _suffixed, magic_at

    files = [b"", b"\n", b"PK\x03\x04z", b"zPK\x03\x04", b"ab" * 300, b"From x", b"\xd0\xcf", b"x" * 5000 + b"PK"]
    data, ends = _joined(files)
    wanted = set(range(len(files)))
    for at in (0, 1, 2, 257, 5000, 5200, 5201, 10**6, -1):
        for magics in ((b"PK\x03\x04", b"From "), (b"ab",), (b"b",), (b"",), (b"\n",), (b"z", b""), (b"PK",)):
            expected = {i for i in wanted if data.startswith(magics, ends[i] + at, _lim(ends, i))}
            assert set(magic_at(data, ends, at, magics, wanted)) == expected, (at, magics)
            assert set(magic_at(data, ends, at, magics, {1, 2})) == expected & {1, 2}
    names = ["a.TAR", "b.tar.gz", "ΑΣ.ΤΑΣ", "x.tας", "İ.tar", "dump.SQL", "sql", ".sql", "a\nb.tar", "ß.tar", ""]
    for suffixes in ((".tar", ".sql"), ("ας",), ("ς",), ("tar", "r"), ("",), ("a\0b",), ("i̇.tar",)):
        expected = {i for i, n in enumerate(names) if n.lower().endswith(suffixes)}
        assert _suffixed(names, suffixes, set(range(len(names)))) == expected, suffixes
        assert _suffixed(names, suffixes, {0, 2, 4}) == expected & {0, 2, 4}
    assert _suffixed(["a\0.tar", "b.tar\0c"], (".tar",), {0, 1}) == {0}  # (a NUL in a name: per name)


_NEEDLES = st.lists(st.binary(min_size=1, max_size=4) | st.sampled_from([b"From:", b"from:", b"%PDF-", b"-- ", b"aA"]),
                    min_size=1, max_size=6).map(tuple)


@settings(max_examples=400, deadline=None, database=None, derandomize=True)
@given(data=st.binary(max_size=64) | st.lists(st.sampled_from([b"From:", b"FROM:", b"x", b"\n", b"-- -- ", b"aAa", b"%PDF-"]))
       .map(b"".join), needles=_NEEDLES, nocase=st.booleans(), first=st.booleans())
def test_find_all_in_c_finds_what_find_loops_find(data: bytes, needles: tuple[bytes, ...], nocase: bool,
                                                   first: bool) -> None:
    _sniff = pytest.importorskip("cardscan.decoders._sniff")
    from cardscan.decoders.expand import _find_all_python

    needles = tuple(n.lower() for n in needles) if nocase and len(needles) % 2 else needles  # (upper ones: never in lower)
    assert _sniff.find_all(data, needles, nocase=nocase, first=first) == _find_all_python(data, needles, nocase, first)


def test_find_all_refuses_what_it_cannot_answer_and_the_wrapper_takes_python() -> None:
    _sniff = pytest.importorskip("cardscan.decoders._sniff")
    from cardscan.decoders.expand import find_all

    for bad in ((b"",), (b"a", "b"), tuple(b"%d" % i for i in range(65))):
        with pytest.raises((ValueError, TypeError)):
            _sniff.find_all(b"abc", bad)
    assert find_all(b"ab", (b"",)) == [(0, 0), (1, 0), (2, 0)]
    assert find_all(b"ab", (b"b", b"")) == [(0, 1), (1, 0), (1, 1), (2, 1)]
    assert find_all(b"ab", ()) == []
    many = tuple(b"%02d" % i for i in range(70))
    assert find_all(b"x07y69", many) == [(1, 7), (4, 69)]


def test_find_all_in_c_at_every_offset_of_long_data() -> None:
    # Past 16 bytes the C pass takes 16 offsets at a time: a needle planted at
    # every offset (the last ones too, cut short), either case, one or many bytes.
    import random

    _sniff = pytest.importorskip("cardscan.decoders._sniff")
    from cardscan.decoders.expand import _find_all_python

    rnd = random.Random(17)
    needles = (b"from:", b"F", b"-- MySQL dump", b"ab", b"\xff\x00", b"x" * 20)
    for size in (15, 16, 17, 31, 32, 33, 47, 100, 200):
        for at in range(size):
            base = bytearray(rnd.choice(b"-:aAbBfFx \n\xff\x00") for _ in range(size))
            n = rnd.choice(needles)
            base[at:at + len(n)] = n.upper() if rnd.random() < 0.5 else n
            data = bytes(base[:size])
            for nocase in (False, True):
                for first in (False, True):
                    assert (_sniff.find_all(data, needles, nocase=nocase, first=first)
                            == _find_all_python(data, needles, nocase, first)), (data, nocase, first)
