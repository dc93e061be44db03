"""Rewriting containers: compression formats, zip, tar, nesting; what is refused.

Findings come from the decoders and scanner exactly as the sweep's worker
makes them (``expand`` + ``Scanner`` with the member chain).
"""
from __future__ import annotations

import bz2
import gzip
import io
import lzma
import tarfile
import zipfile
from dataclasses import replace

import pytest

from cardscan.decoders import expand
from cardscan.decoders.base import Failure
from cardscan.engine.scanner import Scanner
from cardscan.findings import Location
from cardscan.remediate.containers import Rewriter, tree
from tests.decoders.build import pdf, tar_bytes, zip_bytes
from tests.remediate.helpers import FKEY, fp, pans

SCANNER = Scanner(key=FKEY)


def found(data: bytes, name: str) -> list:
    out = []
    for part in expand(io.BytesIO(data), name):
        if isinstance(part, Failure):
            continue
        loc = Location(uri="file:///x/" + name, member=tuple(part.member))
        out += [replace(f, obj={}) for f in SCANNER.scan_stream(part.stream, loc)]
    return out


def rewrite(data: bytes, name: str, keep_last: int = 4, fs: list | None = None) -> tuple[bytes | None, dict[str, str], list]:
    fs = found(data, name) if fs is None else fs
    rw = Rewriter(FKEY, keep_last)
    new = rw.rewrite(data, name, tree(fs))
    return new, {k: v[0] for k, v in rw.states.items()}, fs


def assert_clean(data: bytes, name: str, planted: list[str]) -> None:
    left = {f.fingerprint for f in found(data, name)} & {fp(p) for p in planted}
    assert not left, f"{len(left)} planted numbers still found"


@pytest.mark.parametrize("name,compress,decompress", [
    ("a.log.gz", lambda d: gzip.compress(d, compresslevel=9, mtime=5), gzip.decompress),
    ("a.log.bz2", lambda d: bz2.compress(d, 3), bz2.decompress),
    ("a.log.xz", lambda d: lzma.compress(d, check=lzma.CHECK_SHA256), lzma.decompress),
    ("a.log.lzma", lambda d: lzma.compress(d, format=lzma.FORMAT_ALONE), lzma.decompress),
])
def test_compressed_streams_are_rewritten_the_same_way(name, compress, decompress) -> None:
    p = pans(2)
    raw = f"card {p[0]}\n".encode() + b"x" * 5000 + f"\ncard {p[1]}\n".encode()
    data = compress(raw)
    new, states, fs = rewrite(data, name)
    assert new is not None and set(states.values()) == {"pan"}
    out = decompress(new)
    assert len(out) == len(raw) and out.replace(b"*", b"") != raw
    assert_clean(new, name, p)
    if name.endswith(".gz"):
        assert new[:10] == data[:10]  # same header: flags, mtime, level class, OS
    if name.endswith(".bz2"):
        assert new[:4] == b"BZh3"
    if name.endswith(".xz"):
        assert new[:12] == data[:12]  # same stream header: the SHA-256 check
    again, states2, _ = rewrite(new, name, fs=fs)
    assert again is None and set(states2.values()) == {"masked"}


def test_zstd() -> None:
    zstandard = pytest.importorskip("zstandard")
    p = pans(1)
    raw = f"card {p[0]}\n".encode()
    data = zstandard.ZstdCompressor(write_checksum=True).compress(raw)
    new, states, _ = rewrite(data, "a.zst")
    assert new is not None and states == {next(iter(states)): "pan"}
    assert zstandard.ZstdDecompressor().decompress(new) == f"card {'*' * 12}{p[0][-4:]}\n".encode()
    assert new[4] & 0x04  # checksum flag kept


def test_tar_gz_keeps_every_other_member_and_header() -> None:
    p = pans(2)
    files = {"a/readme.txt": b"hello\n" * 100, "a/cards.csv": f"id,card\n1,{p[0]}\n".encode(),
             "b/more.txt": f"x card {p[1]} y".encode(), "c/empty": b""}
    data = tar_bytes(files, "w:gz")
    new, states, _ = rewrite(data, "backup.tar.gz")
    assert new is not None and set(states.values()) == {"pan"}
    old_raw, new_raw = gzip.decompress(data), gzip.decompress(new)
    assert len(old_raw) == len(new_raw)
    with tarfile.open(fileobj=io.BytesIO(old_raw)) as a, tarfile.open(fileobj=io.BytesIO(new_raw)) as b:
        ma, mb = a.getmembers(), b.getmembers()
        assert [(m.name, m.size, m.mtime, m.mode) for m in ma] == [(m.name, m.size, m.mtime, m.mode) for m in mb]
        for x, y in zip(ma, mb):
            if x.name in ("a/readme.txt", "c/empty"):
                assert old_raw[x.offset:x.offset_data + x.size] == new_raw[y.offset:y.offset_data + y.size]
    assert_clean(new, "backup.tar.gz", p)


def test_zip_in_zip_and_stored_and_streamed_entries() -> None:
    p = pans(3)
    inner = zip_bytes({"deep.txt": f"card {p[0]}".encode(), "keep.txt": b"keep"})
    outer = zip_bytes({"inner.zip": inner, "top.txt": f"card {p[1]}".encode(), "z.bin": b"\0" * 300},
                      method=zipfile.ZIP_STORED)
    new, states, fs = rewrite(outer, "o.zip")
    assert {f.location.member for f in fs} == {("inner.zip", "deep.txt"), ("top.txt",)}
    assert new is not None and set(states.values()) == {"pan"}
    z = zipfile.ZipFile(io.BytesIO(new))
    assert z.testzip() is None and z.read("z.bin") == b"\0" * 300
    assert zipfile.ZipFile(io.BytesIO(z.read("inner.zip"))).read("keep.txt") == b"keep"
    assert_clean(new, "o.zip", p)
    streamed = zip_bytes({"s.txt": f"card {p[2]}".encode(), "t.txt": b"t"}, streamed=True)
    new2, states2, _ = rewrite(streamed, "s.zip")
    z2 = zipfile.ZipFile(io.BytesIO(new2))
    assert z2.testzip() is None and z2.read("t.txt") == b"t" and set(states2.values()) == {"pan"}
    assert_clean(new2, "s.zip", p)


def test_zip_comment_and_member_order_are_kept() -> None:
    p = pans(1)
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.comment = b"exported by the shop"
        z.writestr("1.txt", b"one")
        z.writestr("2.txt", f"card {p[0]}")
        z.writestr("3.txt", b"three")
    new, _, _ = rewrite(b.getvalue(), "c.zip")
    z = zipfile.ZipFile(io.BytesIO(new))
    assert z.comment == b"exported by the shop" and z.namelist() == ["1.txt", "2.txt", "3.txt"]
    assert z.read("3.txt") == b"three"


def test_a_missing_member_is_stale() -> None:
    p = pans(1)
    data = zip_bytes({"a.txt": f"card {p[0]}".encode()})
    fs = found(data, "x.zip")
    other = zip_bytes({"b.txt": f"card {p[0]}".encode()})
    rw = Rewriter(FKEY)
    assert rw.rewrite(other, "x.zip", tree(fs)) is None
    assert [s for s, _ in rw.states.values()] == ["other"]


def test_pdf_is_unsupported() -> None:
    pytest.importorskip("pypdf")
    p = pans(1)
    data = pdf([[f"card {p[0]}"]])
    new, states, fs = rewrite(data, "statement.pdf")
    assert fs and new is None and set(states.values()) == {"unsupported"}


def test_memory_cap() -> None:
    p = pans(1)
    data = gzip.compress(f"card {p[0]}\n".encode() + b"\n" * 100_000)
    fs = found(data, "big.gz")
    rw = Rewriter(FKEY, max_bytes=10_000)
    assert rw.rewrite(data, "big.gz", tree(fs)) is None
    st, why = next(iter(rw.states.values()))
    assert st == "unsupported" and "max-rewrite-size" in why


def with_block_before_directory(data: bytes, block: bytes) -> bytes:
    """``data`` (a zip) with ``block`` between the last entry and the central directory,
    as an APK signing block sits, the end record's directory offset moved past it."""
    eocd = data.rfind(b"PK\x05\x06")
    cd_size, cd_at = int.from_bytes(data[eocd + 12:eocd + 16], "little"), int.from_bytes(data[eocd + 16:eocd + 20], "little")
    end = bytearray(data[eocd:])
    end[16:20] = (cd_at + len(block)).to_bytes(4, "little")
    return data[:cd_at] + block + data[cd_at:cd_at + cd_size] + bytes(end)


def apk_signing_block() -> bytes:
    pairs = (8 + 4 + 20).to_bytes(8, "little") + (0x7109871A).to_bytes(4, "little") + bytes(range(20))
    size = (len(pairs) + 8 + 16).to_bytes(8, "little")
    return size + pairs + size + b"APK Sig Block 42"


@pytest.mark.parametrize("streamed", [False, True], ids=["sizes-in-header", "data-descriptors"])
def test_bytes_between_the_last_entry_and_the_directory_are_kept(streamed: bool) -> None:
    p = pans(2)
    block = apk_signing_block()
    data = with_block_before_directory(
        zip_bytes({"classes.txt": f"card {p[0]}\n".encode(), "res/last.txt": f"card {p[1]}\n".encode()},
                  streamed=streamed), block)
    assert zipfile.ZipFile(io.BytesIO(data)).testzip() is None
    new, states, _ = rewrite(data, "app.apk")
    assert new is not None and set(states.values()) == {"pan"}
    z = zipfile.ZipFile(io.BytesIO(new))
    assert z.testzip() is None and z.namelist() == ["classes.txt", "res/last.txt"]
    cd_at = int.from_bytes(new[new.rfind(b"PK\x05\x06") + 16:][:4], "little")
    assert new[cd_at - len(block):cd_at] == block, "the signing block must stay just before the central directory"
    assert_clean(new, "app.apk", p)


# -- refusals docs/remediation.md lists ("What remediation refuses, and why") ------------------
def test_a_zip64_archive_is_refused_not_rewritten(monkeypatch) -> None:
    p = pans(2)
    # zipfile writes the zip64 end records once an archive holds more entries than
    # ZIP_FILECOUNT_LIMIT: lowered here, a two-entry zip64 archive (not 65536 entries).
    monkeypatch.setattr(zipfile, "ZIP_FILECOUNT_LIMIT", 1)
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("a.txt", f"card {p[0]}\n")
        zf.writestr("b.txt", f"card {p[1]}\n")
    monkeypatch.undo()
    data = buf.getvalue()
    assert b"PK\x06\x06" in data  # the zip64 end record
    new, states, fs = rewrite(data, "big.zip")
    assert len(fs) == 2 and new is None and set(states.values()) == {"unsupported"}


def test_a_force_zip64_entry_in_a_plain_archive_is_still_rewritten() -> None:
    # The near miss: a zip64 extra field on an entry is not a zip64 archive.
    p = pans(1)
    data = zip_bytes({"a.txt": f"card {p[0]}\n".encode()}, zip64=True)
    new, states, _ = rewrite(data, "x.zip")
    assert new is not None and set(states.values()) == {"pan"}
    assert_clean(new, "x.zip", p)


def test_tar_members_sharing_the_scanned_name_are_refused() -> None:
    p = pans(2)
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode="w") as t:
        for card in p:
            d = f"card {card}\n".encode()
            ti = tarfile.TarInfo("a.txt")
            ti.size = len(d)
            t.addfile(ti, io.BytesIO(d))
    new, states, fs = rewrite(b.getvalue(), "t.tar")
    assert len(fs) == 2 and new is None and set(states.values()) == {"unsupported"}


def test_an_encrypted_zip_entry_is_refused() -> None:
    # Findings of the archive as scanned, then the entry marked encrypted (general purpose
    # flag bit 0, in the local header and the central directory): it is not rewritten.
    p = pans(1)
    data = zip_bytes({"a.txt": f"card {p[0]}\n".encode()}, method=zipfile.ZIP_STORED)
    fs = found(data, "x.zip")
    b = bytearray(data)
    b[6] |= 0x01  # local header flags
    cd = b.rfind(b"PK\x01\x02")
    b[cd + 8] |= 0x01  # central directory flags
    rw = Rewriter(FKEY)
    assert len(fs) == 1 and rw.rewrite(bytes(b), "x.zip", tree(fs)) is None
    assert list(rw.states.values()) == [("unsupported", "encrypted archive entry")]
