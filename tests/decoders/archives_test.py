"""Tests for cardscan/decoders/archives.py: zip and tar, nested, damaged, encrypted.

Archives are written by zipfile/tarfile (and patched byte by byte where a
case needs a header no writer produces); PANs are fresh and checked by
fingerprint.
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import os
import struct
import tarfile
import zipfile
from pathlib import Path

import pytest
import zstandard

from cardscan.decoders.archives import TarDecoder, ZipDecoder
from cardscan.decoders.base import Limits

from .build import pans, scan, tar_bytes, zip_bytes

P = pans(10, seed=21)


def csv(pan: str, rows: int = 20) -> bytes:
    lines = [b"id,name,card_number,exp"]
    for i in range(rows):
        lines.append(b"%d,Customer %d,%s,04/29" % (i, i, pan.encode() if i == rows // 2 else b"n/a"))
    return b"\n".join(lines) + b"\n"


@pytest.mark.parametrize("method", [zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA])
def test_zip_members_by_method(method: int) -> None:
    data = zip_bytes({"exports/march.csv": csv(P[0]), "readme.txt": b"nothing here"}, method=method)
    r = scan(data, "exports.zip")
    assert r.failures == []
    assert r.members() == [("exports/march.csv",), ("readme.txt",)]
    assert r.where(P[0]) == [("exports/march.csv",)]
    assert {enc for _, enc, _ in r.layers} == {"zip"}


def test_zip64_entries() -> None:
    data = zip_bytes({"big.csv": csv(P[1])}, zip64=True)
    assert b"\x01\x00" in data  # the zip64 extra field tag
    r = scan(data, "x.zip")
    assert r.failures == [] and r.where(P[1]) == [("big.csv",)]


def test_zip_written_to_a_pipe_uses_data_descriptors() -> None:
    data = zip_bytes({"a.csv": csv(P[2])}, streamed=True)
    assert struct.unpack("<H", data[6:8])[0] & 0x08  # bit 3: sizes after the data
    assert scan(data, "x.zip").where(P[2]) == [("a.csv",)]
    # Nested and too big to buffer: read forward, descriptor and all.
    outer = tar_bytes({"inner.zip": data})
    r = scan(gzip.compress(outer), "x.tar.gz", Limits(max_buffer=64))
    assert r.failures == [] and r.where(P[2]) == [("inner.zip", "a.csv")]


def test_issue_example_zip_in_tar_gz_in_zip() -> None:
    inner = zip_bytes({"customers.csv": csv(P[3])})
    tgz = tar_bytes({"exports/march.zip": inner, "notes.txt": b"hi"}, mode="w:gz")
    outer = zip_bytes({"backup.tar.gz": tgz}, method=zipfile.ZIP_STORED)
    r = scan(outer, "share.zip")
    assert r.failures == []
    assert r.where(P[3]) == [("backup.tar.gz", "exports/march.zip", "customers.csv")]
    # Read forward instead of through the central directories: same result.
    r2 = scan(outer, "share.zip", Limits(max_buffer=16))
    assert r2.where(P[3]) == [("backup.tar.gz", "exports/march.zip", "customers.csv")]


@pytest.mark.parametrize("mode,name", [("w:gz", "a.tgz"), ("w:bz2", "a.tar.bz2"), ("w:xz", "a.tar.xz"), ("w", "a.tar")])
def test_tar_and_compressed_tar(mode: str, name: str) -> None:
    data = tar_bytes({"x/one.txt": b"nothing", "x/two.csv": csv(P[4])}, mode=mode)
    r = scan(data, name)
    assert r.failures == []
    assert r.where(P[4]) == [("x/two.csv",)]
    assert ("x/one.txt",) in r.members()


def test_tar_zst() -> None:
    data = zstandard.ZstdCompressor().compress(tar_bytes({"dump.sql": csv(P[5])}))
    assert scan(data, "db.tar.zst").where(P[5]) == [("dump.sql",)]


def test_tar_links_and_directories_have_no_content_and_no_failure() -> None:
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w") as t:
        d = tarfile.TarInfo("dir")
        d.type = tarfile.DIRTYPE
        t.addfile(d)
        s = tarfile.TarInfo("dir/link")
        s.type, s.linkname = tarfile.SYMTYPE, "/etc/passwd"
        t.addfile(s)
        f = tarfile.TarInfo("dir/cards.txt")
        body = csv(P[6])
        f.size = len(body)
        t.addfile(f, io.BytesIO(body))
    r = scan(b.getvalue(), "x.tar")
    assert r.failures == [] and r.members() == [("dir/cards.txt",)]


def test_member_names_are_labels_never_paths(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    evil = {"../../etc/evil.csv": csv(P[7]), "/abs/path.txt": b"x", "C:\\win\\x.txt": b"y"}
    r = scan(zip_bytes(evil), "evil.zip")
    assert r.where(P[7]) == [("../../etc/evil.csv",)]
    r = scan(tar_bytes(evil), "evil.tar")
    assert r.where(P[7]) == [("../../etc/evil.csv",)]
    assert list(tmp_path.iterdir()) == []  # nothing extracted anywhere
    assert not (tmp_path.parent.parent / "etc" / "evil.csv").exists()


def test_truncated_zip_reads_the_entries_before_the_cut() -> None:
    data = zip_bytes({"first.csv": csv(P[8]), "second.bin": os.urandom(30000)}, method=zipfile.ZIP_STORED)
    r = scan(data[: len(data) // 2], "cut.zip")
    assert r.where(P[8]) == [("first.csv",)]
    kinds = r.kinds()
    assert kinds and all(k == ("decode", None) for k in kinds)
    assert any("truncated" in f.message for f in r.failures)


def test_an_end_record_of_a_stored_inner_zip_is_not_taken_for_the_outer_one() -> None:
    inner = zip_bytes({"in.txt": b"inner"}, method=zipfile.ZIP_STORED)
    outer = zip_bytes({"a.csv": csv(P[9]), "inner.zip": inner}, method=zipfile.ZIP_STORED)
    r = scan(outer[:-30], "cut.zip")  # the outer end record is gone; the inner one is still in the bytes
    assert r.where(P[9]) == [("a.csv",)]
    assert ("decode", None) in r.kinds()


def test_crc_mismatch_is_a_decode_failure_after_the_data_was_scanned() -> None:
    body = csv(P[0])
    data = bytearray(zip_bytes({"a.csv": body}, method=zipfile.ZIP_STORED))
    i = data.find(b"Customer 3")
    data[i] = ord("X")  # stored data changed, CRC no longer matches
    r = scan(bytes(data), "x.zip")
    assert r.where(P[0]) == [("a.csv",)]
    assert [(f.member, f.kind) for f in r.failures] == [(("a.csv",), "decode")]
    assert "CRC" in r.failures[0].message


def test_not_a_zip_after_all() -> None:
    r = scan(b"PK\x03\x04" + b"garbage" * 10, "x.zip")
    assert r.layers == [] and r.failures
    assert all(k == ("decode", None) for k in r.kinds())


def _set_flag(data: bytes, name: bytes, bit: int) -> bytes:
    """Set a general-purpose flag bit for entry ``name`` in its local and central headers."""
    out = bytearray(data)
    for sig, flag_at, name_len_at, name_at in ((b"PK\x03\x04", 6, 26, 30), (b"PK\x01\x02", 8, 28, 46)):
        i = out.find(sig)
        while i >= 0:
            n = struct.unpack("<H", out[i + name_len_at:i + name_len_at + 2])[0]
            if bytes(out[i + name_at:i + name_at + n]) == name:
                flags = struct.unpack("<H", out[i + flag_at:i + flag_at + 2])[0] | bit
                out[i + flag_at:i + flag_at + 2] = struct.pack("<H", flags)
            i = out.find(sig, i + 4)
    return bytes(out)


def test_password_protected_entry_is_encrypted_and_the_rest_goes_on() -> None:
    data = zip_bytes({"secret.csv": csv(P[1]), "open.csv": csv(P[2])})
    data = _set_flag(data, b"secret.csv", 0x1)
    r = scan(data, "x.zip")
    assert [(f.member, f.kind) for f in r.failures] == [(("secret.csv",), "encrypted")]
    assert r.where(P[2]) == [("open.csv",)] and r.where(P[1]) == []
    # Read forward (nested, too big to buffer): same verdict.
    r = scan(tar_bytes({"x.zip": data}), "x.tar", Limits(max_buffer=16))
    assert [(f.member, f.kind) for f in r.failures] == [(("x.zip", "secret.csv"), "encrypted")]
    assert r.where(P[2]) == [("x.zip", "open.csv")]


def test_unsupported_method_is_reported_per_entry() -> None:
    data = zip_bytes({"a.bin": b"x" * 100, "b.csv": csv(P[3])})
    i = data.find(b"PK\x01\x02")
    data = data[:i + 10] + struct.pack("<H", 9) + data[i + 12:]  # deflate64 in the central header
    r = scan(data, "x.zip")
    assert [(f.member, f.kind) for f in r.failures] == [(("a.bin",), "decode")]
    assert "deflate64" in r.failures[0].message
    assert r.where(P[3]) == [("b.csv",)]


def test_truncated_tar_member_and_archive() -> None:
    data = tar_bytes({"a.csv": csv(P[4]), "b.bin": os.urandom(20000)})
    r = scan(data[:6000], "x.tar")
    assert r.where(P[4]) == [("a.csv",)]
    assert r.failures and all(f.kind == "decode" for f in r.failures)


def test_corrupt_tar_header_after_the_first_member_is_not_silent() -> None:
    data = bytearray(tar_bytes({"a.csv": csv(P[5]), "b.csv": csv(P[6])}))
    second = 512 + ((len(csv(P[5])) + 511) // 512) * 512
    data[second + 148:second + 156] = b"9999999\x00"  # break the second header's checksum
    r = scan(bytes(data), "x.tar")
    assert r.where(P[5]) == [("a.csv",)]
    assert [k for k, _ in r.kinds()] == ["decode"]


def test_tar_without_end_marker_is_reported() -> None:
    data = tar_bytes({"a.csv": csv(P[7])})
    body = data[: 512 + ((len(csv(P[7])) + 511) // 512) * 512]
    r = scan(body, "x.tar")
    assert r.where(P[7]) == [("a.csv",)]
    assert [k for k, _ in r.kinds()] == ["decode"]


@pytest.mark.parametrize("magic,what", [(b"7z\xbc\xaf\x27\x1c", "7z"), (b"Rar!\x1a\x07\x00", "rar")])
def test_7z_and_rar_are_reported_and_raw_bytes_scanned(magic: bytes, what: str) -> None:
    data = magic + b"\x00" * 20 + b" stored card " + P[8].encode() + b" \n"
    r = scan(data, f"x.{what}")
    assert [(f.kind, what in f.message) for f in r.failures] == [("decode", True)]
    assert r.where(P[8]) == [()]


def test_accepts() -> None:
    z = zip_bytes({"a": b"b"})
    assert ZipDecoder().accepts("", z[:64]) and not ZipDecoder().accepts("x.zip", b"hello")
    t = tar_bytes({"a": b"b"})
    assert TarDecoder().accepts("", t[:4096])
    v7 = bytearray(t[:512])
    v7[257:265] = b"\x00" * 8  # no ustar magic: an old v7 header
    v7[148:156] = b"%06o\x00 " % (sum(v7[:148]) + 256 + sum(v7[156:]))
    assert not TarDecoder().accepts("", bytes(v7)) and TarDecoder().accepts("old.tar", bytes(v7))


def test_compressed_zip_members_of_every_kind_inside_gz_bz2_xz() -> None:
    data = zip_bytes({"a.csv": csv(P[9])})
    for comp in (gzip.compress, bz2.compress, lzma.compress):
        assert scan(comp(data), "x.zip.gz").where(P[9]) == [("a.csv",)]
