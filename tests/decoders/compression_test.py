"""Tests for cardscan/decoders/compression.py: gzip, bzip2, xz/lzma, zstd.

Every stream is made by the real compressor; PANs are fresh (make_pan) and
checked by fingerprint, never printed.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import sys
import tracemalloc
import zlib

import pytest
import zstandard

from cardscan.decoders import Limits, expand
from cardscan.decoders.compression import Bzip2Decoder, GzipDecoder, XzDecoder, ZstdDecoder

from .build import Unseekable, pans, scan

P = pans(6, seed=11)
LOG = (b"2024-03-01T10:00:00Z INFO payment accepted order=881 card=" + P[0].encode() + b" exp=04/29\n"
       + b"2024-03-01T10:00:01Z INFO heartbeat ok\n" * 50)


def _zstd(data: bytes) -> bytes:
    # With a checksum, as the zstd command line writes it by default.
    return zstandard.ZstdCompressor(write_checksum=True).compress(data)


FORMATS = {
    "gzip": (gzip.compress, "app.log.1.gz"),
    "bzip2": (bz2.compress, "app.log.bz2"),
    "xz": (lzma.compress, "app.log.xz"),
    "lzma": (lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE), "app.log.lzma"),
    "zstd": (_zstd, "app.log.zst"),
}


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_pan_in_compressed_log_is_found_with_no_member_name(fmt: str) -> None:
    compress, name = FORMATS[fmt]
    r = scan(compress(LOG), name)
    assert r.failures == []
    assert r.where(P[0]) == [()]  # compression layers add no member name
    expected = "xz" if fmt == "lzma" else fmt
    assert [enc for _, enc, _ in r.layers] == [expected]
    assert r.layers[0][2] == LOG


@pytest.mark.parametrize("fmt", ["gzip", "bzip2", "xz", "zstd"])
def test_recognised_by_magic_bytes_not_by_name(fmt: str) -> None:
    compress, _ = FORMATS[fmt]
    r = scan(compress(LOG), "no-extension")
    assert r.where(P[0]) == [()]
    assert r.layers[0][1] == fmt


def test_a_gz_name_without_gzip_content_is_scanned_as_it_is() -> None:
    r = scan(LOG, "plain.log.gz")
    assert r.failures == [] and r.layers[0][1] == "" and r.where(P[0]) == [()]


def test_lzma_alone_needs_its_name() -> None:
    data = lzma.compress(LOG, format=lzma.FORMAT_ALONE)
    assert XzDecoder().accepts("x.lzma", data[:64]) and not XzDecoder().accepts("", data[:64])


def test_multi_member_gzip_rotation_reads_every_member() -> None:
    # logrotate + `cat a.gz b.gz > c.gz`: several members in one file.
    parts = [gzip.compress(b"line %d card " % i + p.encode() + b"\n") for i, p in enumerate(P[:3])]
    r = scan(b"".join(parts), "app.log.2.gz")
    assert r.failures == []
    for p in P[:3]:
        assert r.where(p) == [()], "a PAN in a later gzip member was missed"


@pytest.mark.parametrize("fmt,compress", [("bzip2", bz2.compress), ("xz", lzma.compress), ("zstd", _zstd)])
def test_concatenated_streams_are_read_to_the_end(fmt: str, compress) -> None:  # type: ignore[no-untyped-def]
    data = compress(b"a card " + P[1].encode() + b"\n") + compress(b"b card " + P[2].encode() + b"\n")
    r = scan(data, "x")
    assert r.failures == []
    assert r.where(P[1]) == [()] and r.where(P[2]) == [()]


def test_zero_padding_after_gzip_is_fine_but_garbage_is_reported() -> None:
    body = gzip.compress(LOG)
    assert scan(body + b"\x00" * 700, "x.gz").failures == []
    r = scan(body + b"trailing plain text", "x.gz")
    assert r.where(P[0]) == [()]
    assert r.kinds() == [("decode", None)]
    assert "after the end" in r.failures[0].message


@pytest.mark.parametrize("fmt", sorted(FORMATS))
def test_truncated_stream_scans_what_it_has_then_reports_decode(fmt: str) -> None:
    compress, name = FORMATS[fmt]
    big = LOG + os.urandom(40000).hex().encode()  # incompressible tail so the cut lands after the PAN
    if fmt == "bzip2":  # block-sorted: output comes per complete block (100 KB at level 1)
        big = LOG + os.urandom(200000).hex().encode()
        compress = lambda d: bz2.compress(d, 1)  # noqa: E731
    if fmt == "zstd":  # output comes per complete block (128 KB)
        big = LOG + os.urandom(200000).hex().encode()
    data = compress(big)
    r = scan(data[: len(data) * 3 // 4], name)
    assert r.kinds() == [("decode", None)]
    assert "truncated" in r.failures[0].message
    assert r.where(P[0]) == [()], "data before the cut must still be scanned"


@pytest.mark.parametrize("fmt", ["gzip", "bzip2", "xz", "zstd"])
def test_corrupt_stream_is_a_decode_failure_not_an_exception(fmt: str) -> None:
    compress, name = FORMATS[fmt]
    data = bytearray(compress(LOG + os.urandom(20000).hex().encode()))
    for i in range(len(data) // 2, len(data) // 2 + 64):
        data[i] ^= 0x5A
    r = scan(bytes(data), name)
    assert [k for k, _ in r.kinds()] == ["decode"]


def test_empty_gzip_is_an_empty_layer() -> None:
    r = scan(gzip.compress(b""), "empty.gz")
    assert r.failures == [] and r.layers == [((), "gzip", b"")]


def test_tar_gz_inside_reads_as_the_tar_not_as_a_gz_name() -> None:
    from .build import tar_bytes

    data = gzip.compress(tar_bytes({"exports/cards.csv": b"card\n" + P[3].encode() + b"\n"}))
    r = scan(data, "backup.tgz")
    assert r.where(P[3]) == [("exports/cards.csv",)]


def test_non_seekable_source_works() -> None:
    r = scan(Unseekable(gzip.compress(LOG)), "pipe")  # type: ignore[arg-type]
    assert r.failures == [] and r.where(P[0]) == [()]


def test_big_gzip_streams_in_constant_memory() -> None:
    # 24 MB of log text, compressed while generated; reading it back must not
    # hold more than a few chunks at a time.
    comp = zlib.compressobj(1, zlib.DEFLATED, 31)
    out = [comp.compress(LOG)]
    for _ in range(96):
        out.append(comp.compress(os.urandom(128 * 1024).hex().encode()))
    out.append(comp.flush())
    data = b"".join(out)
    tracemalloc.start()
    try:
        total = 0
        for part in expand(io.BytesIO(data), "big.log.gz", Limits()):
            s = part.stream  # type: ignore[union-attr]
            while chunk := s.read(1 << 20):
                total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert total == len(LOG) + 96 * 256 * 1024
    assert peak < 12 * 1024 * 1024, f"peak {peak} bytes: decompression is not streaming"


def test_missing_zstandard_is_a_failure_with_install_hint(monkeypatch: pytest.MonkeyPatch) -> None:
    data = _zstd(LOG)
    monkeypatch.setitem(sys.modules, "zstandard", None)  # import zstandard -> ImportError
    r = scan(data, "x.zst")
    assert r.kinds() == [("decode", None)]
    assert "pip install 'cardscan[archives]'" in r.failures[0].message


def test_accepts_looks_at_magic_only() -> None:
    assert GzipDecoder().accepts("", b"\x1f\x8b\x08\x00") and not GzipDecoder().accepts("x.gz", b"hello")
    assert Bzip2Decoder().accepts("", bz2.compress(b"x")[:10]) and not Bzip2Decoder().accepts("", b"BZh9hello!")
    assert ZstdDecoder().accepts("", _zstd(b"x")[:8]) and not ZstdDecoder().accepts("x.zst", b"plain")
