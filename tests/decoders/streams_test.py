"""cardscan/decoders/streams.py: the streams decoders read and hand on.
Forward reads with peek and push-back, bounded decompression (members,
padding, trailing data, truncation, declared sizes), tagged I/O errors,
and the seekable view with its memory limit."""
from __future__ import annotations

import bz2
import gzip
import io
import json
import lzma
import os
from pathlib import Path

import pytest

from cardscan.decoders.base import CHUNK, Limits, SourceReadError
from cardscan.decoders.streams import (
    BufferedDecomp,
    BytesStream,
    DecompressStream,
    ItemStream,
    IterStream,
    LimitedStream,
    RangeStream,
    ZlibDecomp,
    head_of,
    seekable_view,
)
from cardscan.errors import DecodeError, LimitError

DATA = os.urandom(3000) + b"card data\n" * 500


def read_all(stream, size: int) -> bytes:
    out = []
    while chunk := stream.read(size):
        assert len(chunk) <= size
        out.append(chunk)
    return b"".join(out)


def gunzip(data: bytes, **kw) -> DecompressStream:
    return DecompressStream(io.BytesIO(data), lambda: ZlibDecomp(31), "gzip", magic=b"\x1f\x8b", **kw)


@pytest.mark.parametrize("size", [1, 7, 4096, CHUNK])
def test_streams_read_the_same_at_any_read_size(size: int) -> None:
    assert read_all(BytesStream(DATA), size) == DATA
    assert read_all(IterStream([DATA[:10], b"", DATA[10:2000], b"", DATA[2000:]]), size) == DATA
    assert read_all(gunzip(gzip.compress(DATA)), size) == DATA


def test_peek_and_unread_leave_the_bytes_in_the_stream() -> None:
    s = IterStream([DATA[:3], DATA[3:5], DATA[5:]])
    assert s.peek(100) == DATA[:100]
    assert s.read(2) == DATA[:2]
    s.unread(DATA[:2])
    assert s.read(-1) == DATA
    assert s.peek(10) == b"" and s.read(10) == b""


def test_readinto_and_readall() -> None:
    s = BytesStream(DATA)
    buf = bytearray(100)
    assert s.readinto(buf) == 100 and bytes(buf) == DATA[:100]
    assert s.readall() == DATA[100:]


def test_range_streams_of_one_file_take_turns(tmp_path: Path) -> None:
    path = tmp_path / "big.bin"
    path.write_bytes(DATA)
    with path.open("rb") as fh:
        a, b = RangeStream(fh, 0, 1000), RangeStream(fh, 2000, 500)
        got_a, got_b = [], []
        for _ in range(200):
            got_a.append(a.read(7))
            got_b.append(b.read(3))
        assert b"".join(got_a) == DATA[:1000] and b"".join(got_b) == DATA[2000:2500]
        assert a.counts is False  # a view: no new bytes


def test_a_range_past_the_end_of_its_file_is_truncated(tmp_path: Path) -> None:
    path = tmp_path / "short.bin"
    path.write_bytes(DATA[:100])
    with path.open("rb") as fh, pytest.raises(DecodeError, match="truncated"):
        RangeStream(fh, 50, 100).read(-1)


def test_limited_stream_stops_at_its_length_and_skip_drains_the_rest() -> None:
    src = BytesStream(DATA)
    part = LimitedStream(src, 1000)
    assert part.read(10) == DATA[:10]
    part.skip()
    assert part.read(10) == b""
    assert src.read(5) == DATA[1000:1005]  # the next member starts where this one ended
    with pytest.raises(DecodeError, match="truncated"):
        LimitedStream(BytesStream(DATA[:10]), 20).read(-1)


@pytest.mark.parametrize("size", [1, 999, 4096, 1 << 20])
def test_members_of_a_multi_member_gzip_are_all_read_once(size: int) -> None:
    # Reads smaller than a member's output left zlib's unconsumed tail behind at
    # the member's end, and the next member was read twice (or without end).
    data = gzip.compress(DATA[:1000]) + gzip.compress(b"") + gzip.compress(DATA[1000:])
    s = gunzip(data)
    assert read_all(s, size) == DATA
    assert s.compressed_in == len(data)


def test_a_card_in_the_second_member_of_a_compressible_gzip_log_is_found_once(tmp_path: Path) -> None:
    import random

    from cardscan.cli.main import main
    from cardscan.testing import make_pan

    rng = random.Random(3)
    pan = make_pan("455673", 16, rng)
    # ~75:1, more than the 1 MiB read / 64 KiB step: the reads are output-bound
    first = b"".join(b"2024-06-11 09:00:00 GET /health 200 ok %d\n" % rng.randrange(4) for _ in range(100_000))
    second = f"2024-06-11 10:00:00 payment card {pan} declined\n".encode()
    (tmp_path / "app.log.gz").write_bytes(gzip.compress(first) + gzip.compress(second) + gzip.compress(b"end\n"))
    manifest = tmp_path / "m.jsonl"
    assert main(["scan", str(tmp_path / "app.log.gz"), "--manifest", str(manifest), "-q", "--no-config",
                 "--no-progress"]) == 1
    found = [r for r in map(json.loads, manifest.read_text().splitlines()) if r["type"] == "finding"]
    assert [r["location"]["offset"] for r in found] == [len(first) + second.index(pan.encode())]


def test_concatenated_bzip2_and_xz_streams() -> None:
    bz = DecompressStream(io.BytesIO(bz2.compress(DATA[:10]) + bz2.compress(DATA[10:])),
                          lambda: BufferedDecomp(bz2.BZ2Decompressor(), (OSError, EOFError), "bzip2"),
                          "bzip2", magic=b"BZh")
    assert read_all(bz, 4096) == DATA
    xz = DecompressStream(io.BytesIO(lzma.compress(DATA) + lzma.compress(b"x")),
                          lambda: BufferedDecomp(lzma.LZMADecompressor(), (lzma.LZMAError, EOFError), "xz"),
                          "xz", magic=b"\xfd7zXZ\x00")
    assert read_all(xz, 4096) == DATA + b"x"


def test_decompression_is_bounded_by_what_is_read() -> None:
    bomb = gzip.compress(b"\x00" * (64 << 20))  # 64 MiB of zeros in ~64 KiB
    s = gunzip(bomb, step=1024)
    out = s.read(4096)
    assert len(out) == 4096
    # one read costs at most a step or two of input, not the whole member
    assert s.compressed_in <= 4 * 1024 and s.produced == 4096


def test_zero_padding_after_the_last_member_is_fine_anything_else_is_said() -> None:
    padded = gzip.compress(DATA) + b"\x00" * 10_000
    assert read_all(gunzip(padded), 4096) == DATA
    with pytest.raises(DecodeError, match="data after the end of the gzip stream"):
        read_all(gunzip(gzip.compress(DATA) + b"PK\x03\x04 and more"), 4096)


def test_truncated_and_corrupt_members_are_decode_errors() -> None:
    whole = gzip.compress(DATA)
    with pytest.raises(DecodeError, match="truncated gzip"):
        read_all(gunzip(whole[: len(whole) // 2]), 4096)
    damaged = whole[:20] + bytes(b ^ 0xFF for b in whole[20:60]) + whole[60:]
    with pytest.raises(DecodeError, match="corrupt"):
        read_all(gunzip(damaged), 4096)


def test_a_declared_size_is_checked_both_ways() -> None:
    data = gzip.compress(DATA)
    assert read_all(gunzip(data, expected_size=len(DATA)), 4096) == DATA
    with pytest.raises(DecodeError, match="larger than its declared size"):
        read_all(gunzip(data, expected_size=len(DATA) - 1), 4096)
    with pytest.raises(DecodeError, match="shorter than its declared size"):
        read_all(gunzip(data, expected_size=len(DATA) + 1), 4096)


def test_pushback_returns_what_follows_the_member_to_its_source() -> None:
    src = BytesStream(gzip.compress(DATA) + b"NEXT HEADER")
    s = DecompressStream(src, lambda: ZlibDecomp(31), "deflate", pushback=True)
    assert read_all(s, 4096) == DATA
    assert src.read(-1) == b"NEXT HEADER"


class _Failing(io.BytesIO):
    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        raise OSError(5, "Input/output error")


def test_the_items_own_read_errors_are_tagged_and_closing_keeps_it_open() -> None:
    with pytest.raises(SourceReadError):
        ItemStream(_Failing(b"x")).read(10)
    raw = io.BytesIO(DATA)
    item = ItemStream(raw)
    assert item.read(5) == DATA[:5] and item.seekable()
    item.seek(0)
    assert item.tell() == 0
    item.close()
    assert not raw.closed and raw.read(3) == DATA[:3]


def test_head_of_leaves_the_head_unread() -> None:
    for stream in (BytesStream(DATA), io.BytesIO(DATA), ItemStream(io.BytesIO(DATA))):
        assert head_of(stream, 64) == DATA[:64]
        assert stream.read(64) == DATA[:64]


def test_seekable_view_uses_the_item_copies_small_streams_and_refuses_big_ones() -> None:
    limits = Limits(max_buffer=1000)
    item = ItemStream(io.BytesIO(DATA))
    assert seekable_view(item, limits) is item
    small = seekable_view(BytesStream(DATA[:900]), limits)
    assert small is not None and small.read() == DATA[:900]
    big = BytesStream(DATA)
    assert seekable_view(big, limits) is None
    assert big.read(-1) == DATA  # nothing lost: the bytes read were pushed back
    with pytest.raises(LimitError, match="max_buffer"):
        seekable_view(io.BufferedReader(_Unseekable(DATA)), limits)


class _Unseekable(io.RawIOBase):
    def __init__(self, data: bytes) -> None:
        self._src = io.BytesIO(data)

    def readable(self) -> bool:
        return True

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        data = self._src.read(len(b))
        b[: len(data)] = data
        return len(data)
