"""Tests for cardscan/decoders/expand.py: the expand() seam, limits and bombs, is_container.

Bombs are built for real but never inflated by the test itself: zeros are
compressed in a stream, so a 256 MB bomb costs the test a few hundred KB.
"""
from __future__ import annotations

import gzip
import io
import time
import zipfile
import zlib
from typing import Iterator

import pytest

from cardscan import registry
from cardscan.decoders.expand import decoders
from cardscan.decoders.base import Failure, Layer, Limits, TextLayer
from cardscan.decoders.expand import expand, strip_compression

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
