"""Tests for cardscan/decoders/ole.py: legacy .doc/.xls/.msg compound files.

The compound files are written by a small OLE2 writer (tests/decoders/build.py)
and read back by olefile, as real ones are.
"""
from __future__ import annotations

import struct

from cardscan.decoders.ole import OleDecoder

from .build import ole, pans, scan, zip_bytes

P = pans(4, seed=61)


def test_utf16_text_in_a_word_stream_is_found() -> None:
    fib = b"\xec\xa5" + b"\x00" * 10  # wIdent of a Word binary file, flags clear
    data = ole({"WordDocument": fib + ("Card on file: " + P[0]).encode("utf-16-le"),
                "\x05SummaryInformation": b"\x00" * 64})
    r = scan(data, "old.doc")
    assert r.failures == []
    assert r.where(P[0]) == [("WordDocument",)]
    assert ("\\x05SummaryInformation",) in r.members()  # control characters shown, not kept
    f = next(f for m, f in r.findings if m == ("WordDocument",))
    assert f.encoding == "utf-16le"


def test_msg_attachment_stream_is_opened() -> None:
    attached = zip_bytes({"cards.csv": b"card\n" + P[1].encode() + b"\n"})
    data = ole({"__substg1.0_0037001F": "Subject".encode("utf-16-le"),
                "__substg1.0_37010102": attached})
    r = scan(data, "mail.msg")
    assert r.where(P[1]) == [("__substg1.0_37010102", "cards.csv")]


def test_encrypted_word_and_excel_and_ooxml_package() -> None:
    fib = bytearray(b"\xec\xa5" + b"\x00" * 10)
    fib[10:12] = struct.pack("<H", 0x0100)  # fEncrypted
    assert scan(ole({"WordDocument": bytes(fib)}), "x.doc").kinds() == [("encrypted", None)]
    book = struct.pack("<HH", 0x0809, 4) + b"\x00" * 4 + struct.pack("<HH", 0x002F, 2) + b"\x00\x00"
    assert scan(ole({"Workbook": book}), "x.xls").kinds() == [("encrypted", None)]
    package = ole({"EncryptionInfo": b"\x04\x00\x04\x00", "EncryptedPackage": b"\x00" * 100})
    assert scan(package, "locked.xlsx").kinds() == [("encrypted", None)]


def test_unencrypted_excel_stream_is_scanned() -> None:
    sst = b"card " + P[2].encode()  # 8-bit "compressed" unicode, as BIFF8 stores Latin-1 strings
    book = struct.pack("<HH", 0x0809, 4) + b"\x00" * 4 + struct.pack("<HH", 0x00FC, len(sst)) + sst
    r = scan(ole({"Workbook": book}), "x.xls")
    assert r.failures == [] and r.where(P[2]) == [("Workbook",)]


def test_corrupt_ole_is_a_decode_failure() -> None:
    data = bytearray(ole({"WordDocument": b"\xec\xa5" + b"\x00" * 100}))
    data[0x30:0x34] = b"\xff\xff\xff\x7f"  # first directory sector far out of the file
    r = scan(bytes(data), "x.doc")
    assert [k for k, _ in r.kinds()] == ["decode"]


def test_accepts() -> None:
    assert OleDecoder().accepts("", ole({"a": b"b"})[:8]) and not OleDecoder().accepts("x.doc", b"plain")
