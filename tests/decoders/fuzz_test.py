"""Fuzzing every decoder with damaged input (hypothesis, bounded for CI).

Each format starts from a valid sample built by tests/decoders/build.py;
hypothesis truncates it, flips, zeroes and inserts bytes. Whatever comes out,
expand() must not raise, every layer must read to its end without raising,
and every failure must be a known kind. Runs derandomized (the same cases in
every CI run); budget: well under 30 s for all formats together.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma

import pytest
import zstandard
from hypothesis import HealthCheck, given, settings, strategies as st

from cardscan.decoders import Failure, Layer, Limits, expand
from cardscan.engine.inline import find_encoded
from cardscan.findings import ERROR_KINDS

from .build import docx, mbox, message, ole, pans, pdf, pptx, tar_bytes, xlsx, zip_bytes

P = pans(2, seed=81)
TEXT = b"id,card\n1," + P[0].encode() + b"\n2,none\n" * 20
LIMITS = Limits(max_total_bytes=32 * 1024 * 1024, max_buffer=4 * 1024 * 1024)

SAMPLES = {
    "gzip": (gzip.compress(TEXT), "a.gz"),
    "bzip2": (bz2.compress(TEXT), "a.bz2"),
    "xz": (lzma.compress(TEXT), "a.xz"),
    "zstd": (zstandard.ZstdCompressor(write_checksum=True).compress(TEXT), "a.zst"),
    "zip": (zip_bytes({"a.csv": TEXT, "b/c.txt": b"hello", "n.zip": zip_bytes({"x": TEXT})}), "a.zip"),
    "zip-streamed": (zip_bytes({"a.csv": TEXT, "b.txt": b"x"}, streamed=True), "a.zip"),
    "tar.gz": (tar_bytes({"a.csv": TEXT, "b.txt": b"x" * 700}, mode="w:gz"), "a.tar.gz"),
    "docx": (docx([["card ", P[0][:8], P[0][8:]], ["second"]], header="h"), "a.docx"),
    "xlsx": (xlsx([["a"], ["b", "c"]], [("A1", "s", "1"), ("B1", None, "4.1E+15")]), "a.xlsx"),
    "pptx": (pptx([[["x", "y"]]]), "a.pptx"),
    "pdf": (pdf([["card " + P[0]], ["page two"]], info={"Title": "t"}), "a.pdf"),
    "ole": (ole({"WordDocument": b"\xec\xa5" + b"\x00" * 10 + TEXT, "Other": b"x"}), "a.doc"),
    "eml": (message("card " + P[1], attachments={"a.zip": zip_bytes({"a": TEXT})}).as_bytes(), "a.eml"),
    "mbox": (mbox([message("one").as_bytes(), message("two " + P[1]).as_bytes()]), "a.mbox"),
}
EXAMPLES = {"pdf": 40, "eml": 50, "mbox": 50}


@st.composite
def damaged(draw: st.DrawFn, sample: bytes) -> bytes:
    data = bytearray(sample)
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["truncate", "flip", "zero", "insert", "splice"]))
        pos = draw(st.integers(0, max(0, len(data) - 1)))
        if op == "truncate":
            del data[pos:]
        elif op == "flip" and data:
            data[pos] ^= draw(st.integers(1, 255))
        elif op == "zero":
            n = draw(st.integers(1, 64))
            data[pos:pos + n] = bytes(len(data[pos:pos + n]))
        elif op == "insert":
            data[pos:pos] = draw(st.binary(min_size=1, max_size=32))
        else:  # copy a piece of the file over another place (confuses offsets and lengths)
            a = draw(st.integers(0, max(0, len(data) - 1)))
            data[pos:pos + 16] = data[a:a + 16]
    return bytes(data)


def check(data: bytes, name: str) -> None:
    for part in expand(io.BytesIO(data), name, LIMITS):
        if isinstance(part, Failure):
            assert part.kind in ERROR_KINDS
            assert isinstance(part.message, str) and part.message
            assert part.limit is None or part.kind == "limit"
        else:
            assert isinstance(part, Layer)
            while part.stream.read(1 << 16):
                pass


@pytest.mark.parametrize("fmt", sorted(SAMPLES))
def test_damaged_input_never_crashes(fmt: str) -> None:
    sample, name = SAMPLES[fmt]
    check(sample, name)  # the intact sample works too

    @settings(max_examples=EXAMPLES.get(fmt, 60), deadline=None, derandomize=True, database=None,
              suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
    @given(damaged(sample))
    def run(data: bytes) -> None:
        check(data, name)

    run()


@settings(max_examples=150, deadline=None, derandomize=True, database=None)
@given(st.binary(max_size=2048))
def test_random_bytes_never_crash(data: bytes) -> None:
    check(data, "x")
    for hint in ("x.zip", "x.tar", "x.lzma", "x.eml"):  # names that make decoders try harder
        check(data, hint)


@settings(max_examples=200, deadline=None, derandomize=True, database=None)
@given(st.binary(max_size=600) | st.text(alphabet="NDExMTEwIj%2034&#;x0123456789+/=-_ ", max_size=300).map(str.encode))
def test_inline_decoding_never_crashes(data: bytes) -> None:
    last = -1
    for start, end, decoded, enc in find_encoded(data):
        assert 0 <= start < end <= len(data) and start >= last
        assert enc in ("base64", "percent", "entity") and isinstance(decoded, bytes)
        last = end
