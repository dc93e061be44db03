"""Every built-in decoder passes the decoder contract (cardscan/testing/contracts.py).

The samples are real files written by tests/decoders/build.py; near misses are
plain text, look-alikes and other formats each decoder must decline.
"""
from __future__ import annotations

import bz2
import gzip
import lzma

import pytest

from cardscan.testing import DecoderCase, DecoderContract

from .build import docx, mbox, message, ole, pans, pdf, tar_bytes, xlsx, zip_bytes

P = pans(16, seed=71)
LOG = b"2024-03-01T10:00:00Z INFO payment accepted card=%s exp=04/29\n" + b"2024-03-01T10:00:01Z INFO ok\n" * 40
PLAIN = [("app.log", b"2024-03-01T10:00:00Z INFO payment accepted order=881\n" * 20),
         ("export.csv", b"id,name,amount\n1,Ann,10.00\n"), ("notes.txt", b""), ("empty", b"")]


def log(pan: str) -> bytes:
    return LOG % pan.encode()


def v7_tar(name: str, data: bytes) -> bytes:
    """A tar without the ustar magic (pre-POSIX "v7"): header rewritten, checksum fixed."""
    raw = bytearray(tar_bytes({name: data}))
    raw[257:265] = bytes(8)
    raw[148:156] = b" " * 8
    raw[148:155] = b"%06o\x00" % sum(raw[:512])
    return bytes(raw)


class TestGzip(DecoderContract):
    @pytest.fixture
    def decoder_case(self) -> DecoderCase:
        samples = [("app.log.1.gz", gzip.compress(log(P[0]))), ("no-extension", gzip.compress(log(P[1])))]
        return DecoderCase("gzip", samples, [P[0], P[1]], PLAIN + [("fake.gz", b"not compressed at all")])


class TestBzip2(DecoderContract):
    @pytest.fixture
    def decoder_case(self) -> DecoderCase:
        return DecoderCase("bzip2", [("app.log.bz2", bz2.compress(log(P[2])))], [P[2]],
                           PLAIN + [("fake.bz2", b"BZh9 is how a bzip2 starts, this is text")])


class TestXz(DecoderContract):
    @pytest.fixture
    def decoder_case(self) -> DecoderCase:
        return DecoderCase("xz", [("app.log.xz", lzma.compress(log(P[3]))),
                                  ("app.log.lzma", lzma.compress(log(P[4]), format=lzma.FORMAT_ALONE))],
                           [P[3], P[4]], PLAIN + [("short.lzma", b"tiny"), ("bad.lzma", b"\xff" * 40),
                                                  ("app.log", lzma.compress(log(P[4]), format=lzma.FORMAT_ALONE))])


class TestZstd(DecoderContract):
    @pytest.fixture
    def decoder_case(self) -> DecoderCase:
        zstandard = pytest.importorskip("zstandard")
        return DecoderCase("zstd", [("app.log.zst", zstandard.ZstdCompressor(write_checksum=True).compress(log(P[5])))],
                           [P[5]], PLAIN + [("x.zst", b"abc")])


class TestZip(DecoderContract):
    @pytest.fixture
    def decoder_case(self) -> DecoderCase:
        return DecoderCase("zip", [
            ("export.zip", zip_bytes({"a.csv": b"id,card\n1," + P[6].encode() + b"\n", "b.txt": b"hello"})),
            ("letter.docx", docx([["your card ", P[7]]])),
            ("sheet.xlsx", xlsx([["card", P[8]]], [("A1", "s", "0"), ("B1", "s", "1")])),
        ], [P[6], P[7], P[8]], PLAIN + [("fake.zip", b"not a zip"), ("odd.bin", b"\x00\x01PK\x03\x04" + b"\x00" * 40)])


class TestTar(DecoderContract):
    @pytest.fixture
    def decoder_case(self) -> DecoderCase:
        old = v7_tar("old.csv", b"card," + P[10].encode() + b"\n")
        return DecoderCase("tar", [("backup.tar", tar_bytes({"a.csv": b"card," + P[9].encode() + b"\n"})),
                                   ("old.tar", old)],
                           [P[9], P[10]], PLAIN + [("fake.tar", b"not a tar" * 100), ("old.txt", old)])


class TestUnsupportedArchive(DecoderContract):
    @pytest.fixture
    def decoder_case(self) -> DecoderCase:
        seven = b"7z\xbc\xaf\x27\x1c\x00\x04" + b"\x00" * 24 + b" card " + P[11].encode() + b" end\n"
        rar = b"Rar!\x1a\x07\x01\x00" + b"\x00" * 24 + b" card " + P[12].encode() + b" end\n"
        return DecoderCase("unsupported-archive", [("a.7z", seven), ("b.rar", rar)], [P[11], P[12]],
                           PLAIN + [("x.7z", b"7z archive notes"), ("y.rar", b"Rar! text")])


class TestPdf(DecoderContract):
    @pytest.fixture
    def decoder_case(self) -> DecoderCase:
        pytest.importorskip("pypdf")
        return DecoderCase("pdf", [("statement.pdf", pdf([["Statement", "card " + P[13]]]))], [P[13]],
                           PLAIN + [("fake.pdf", b"PDF documents are described elsewhere")])


class TestOle(DecoderContract):
    @pytest.fixture
    def decoder_case(self) -> DecoderCase:
        pytest.importorskip("olefile")
        fib = b"\xec\xa5" + b"\x00" * 10  # a Word binary file's header, flags clear
        data = ole({"WordDocument": fib + ("Card on file: " + P[14]).encode("utf-16-le")})
        return DecoderCase("ole", [("old.doc", data)], [P[14]], PLAIN + [("fake.doc", b"\xd0\xcf\x11 not OLE")])


class TestMail(DecoderContract):
    @pytest.fixture
    def decoder_case(self) -> DecoderCase:
        raw = message("card " + P[15] + "\n").as_bytes()
        return DecoderCase("mail", [("receipt.eml", raw), ("saved-message", raw)], [P[15]],
                           PLAIN + [("status.txt", b"Date: today\nStatus: 200\n\nbody"),
                                    ("x.eml", b"just some text\nwith lines"), ("config.yaml", b"name: shop\n")])


class TestMbox(DecoderContract):
    @pytest.fixture
    def decoder_case(self) -> DecoderCase:
        data = mbox([message("hello").as_bytes(), message("card " + P[0] + "\n").as_bytes()])
        return DecoderCase("mbox", [("inbox", data), ("archive.mbox", data)], [P[0]],
                           PLAIN + [("notes.txt", b"From here on, the text is plain.\nNo headers.")])


class TestSqlDump(DecoderContract):
    # Dumps as pg_dump and sqlite3 write them (tests/decoders/dumps_test.py runs the real tools).
    @pytest.fixture
    def decoder_case(self) -> DecoderCase:
        pg = (b"--\n-- PostgreSQL database dump\n--\n\nCREATE TABLE public.t (\n    id integer NOT NULL,\n    note text\n);\n\n"
              b"COPY public.t (id, note) FROM stdin;\n1\tpaid with card " + P[14].encode() + b"\n\\.\n\n"
              b"--\n-- PostgreSQL database dump complete\n--\n\n")
        lite = (b"PRAGMA foreign_keys=OFF;\nBEGIN TRANSACTION;\nCREATE TABLE t (id integer PRIMARY KEY, note text);\n"
                b"INSERT INTO t VALUES(1,'card " + P[15].encode() + b"');\nCOMMIT;\n")
        return DecoderCase("sql-dump", [("shop.sql", pg), ("no-extension", lite)], [P[14], P[15]],
                           [("notes.txt", b"card numbers are not here\n"), ("report.sql", b"SELECT 1;\n"),
                            ("app.log", b"INSERT INTO t VALUES (1);\n"), ("shop.dump", b"PGDMP\x01\x0e" + bytes(64))])


def test_every_builtin_decoder_has_a_contract_test() -> None:
    from cardscan import registry

    tested = {cls.__name__.removeprefix("Test").lower() for cls in DecoderContract.__subclasses__()}
    tested = {"unsupported-archive" if n == "unsupportedarchive" else "sql-dump" if n == "sqldump" else n
              for n in tested}
    assert set(registry.DECODERS) <= tested, f"no contract test for {sorted(set(registry.DECODERS) - tested)}"
