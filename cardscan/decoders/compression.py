"""Compressed streams: gzip, bzip2, xz/lzma, zstd.

Recognised by magic bytes (a rotated ``app.log.1.gz`` and a gzip without
an extension alike); a ``.lzma`` file, which has no reliable magic, by its
name. Each yields one layer, the decompressed stream, with no member name:
``backup.tar.gz`` is read as the tar inside it. Decompression streams in
bounded steps, so a 20 GB ``.gz`` scans in constant memory and a bomb stops
at the limits (see base.py). Concatenated streams (multi-member gzip,
pbzip2, concatenated xz/zstd frames) are read to the end.
"""
from __future__ import annotations

from typing import BinaryIO, ClassVar, Iterator

from ..errors import DecodeError, MissingDependency
from .base import CHUNK, Layer, Limits, Part
from .streams import BufferedDecomp, DecompressStream, ZlibDecomp

GZIP_MAGIC = b"\x1f\x8b"
BZIP2_MAGIC = b"BZh"
XZ_MAGIC = b"\xfd7zXZ\x00"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"


class _Compression:
    name: ClassVar[str] = ""
    kind: ClassVar[str] = "compression"
    priority: ClassVar[int] = 10
    extensions: ClassVar[tuple[str, ...]] = ()

    def accepts(self, name: str, head: bytes) -> bool:
        return self._magic(head)

    def _magic(self, head: bytes) -> bool:  # pragma: no cover - abstract
        raise NotImplementedError

    def stream(self, stream: BinaryIO) -> DecompressStream:  # pragma: no cover - abstract
        raise NotImplementedError

    def open(self, stream: BinaryIO, name: str, limits: Limits) -> Iterator[Part]:
        yield Layer((), self.stream(stream), self.name)


class GzipDecoder(_Compression):
    name = "gzip"

    def _magic(self, head: bytes) -> bool:
        return head[:3] == b"\x1f\x8b\x08"

    def stream(self, stream: BinaryIO) -> DecompressStream:
        return DecompressStream(stream, lambda: ZlibDecomp(31), "gzip", magic=GZIP_MAGIC)


class Bzip2Decoder(_Compression):
    name = "bzip2"

    def _magic(self, head: bytes) -> bool:
        return (head[:3] == BZIP2_MAGIC and head[3:4] in (b"1", b"2", b"3", b"4", b"5", b"6", b"7", b"8", b"9")
                and head[4:10] in (b"1AY&SY", b"\x17rE8P\x90"))

    def stream(self, stream: BinaryIO) -> DecompressStream:
        import bz2

        return DecompressStream(stream, lambda: BufferedDecomp(bz2.BZ2Decompressor(), (OSError, EOFError), "bzip2"),
                                "bzip2", magic=BZIP2_MAGIC)


class XzDecoder(_Compression):
    """.xz by magic; legacy .lzma ("LZMA alone") by name and a plausible header."""

    name = "xz"

    def _magic(self, head: bytes) -> bool:
        return head.startswith(XZ_MAGIC)

    def accepts(self, name: str, head: bytes) -> bool:
        if self._magic(head):
            return True
        # LZMA alone: properties byte (lc/lp/pb < 225), dictionary size, size.
        return name.lower().endswith((".lzma", ".tlz")) and len(head) >= 13 and head[0] < 225

    def stream(self, stream: BinaryIO) -> DecompressStream:
        import lzma

        return DecompressStream(
            stream, lambda: BufferedDecomp(lzma.LZMADecompressor(lzma.FORMAT_AUTO), (lzma.LZMAError, EOFError), "xz"),
            "xz", magic=XZ_MAGIC)


class ZstdDecomp:
    """zstandard's decompressobj has no output bound per call, so it is fed in
    small steps: one 2 KB step of a zstd bomb (~32000:1) makes ~64 MB at most."""

    STEP = 2048

    def __init__(self) -> None:
        try:
            import zstandard
        except ImportError:
            raise MissingDependency("zstd needs the 'zstandard' package: pip install 'cardscan[archives]'") from None
        self._d = zstandard.ZstdDecompressor().decompressobj()
        self._err = zstandard.ZstdError
        self._pending = b""
        self._pos = 0
        self._out = b""

    @property
    def eof(self) -> bool:
        return bool(self._d.eof) and not self._out

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data + self._pending[self._pos:]

    def feed(self, data: bytes, n: int) -> bytes:
        if data:
            self._pending = self._pending[self._pos:] + data
            self._pos = 0
        while len(self._out) < n and self._pos < len(self._pending) and not self._d.eof:
            step = self._pending[self._pos:self._pos + self.STEP]
            self._pos += len(step)
            try:
                self._out += self._d.decompress(step)
            except self._err as exc:
                raise DecodeError(f"corrupt zstd data ({exc})") from None
        out, self._out = self._out[:n], self._out[n:]
        return out


class ZstdDecoder(_Compression):
    name = "zstd"

    def _magic(self, head: bytes) -> bool:
        return head.startswith(ZSTD_MAGIC)

    def accepts(self, name: str, head: bytes) -> bool:
        if self._magic(head):
            return True
        # A skippable frame first (magic 0x184D2A5?) is valid zstd but rare: trust the name then.
        return (name.lower().endswith((".zst", ".zstd", ".tzst")) and len(head) >= 4
                and head[1:4] == b"\x2a\x4d\x18" and head[0] & 0xF0 == 0x50)

    def stream(self, stream: BinaryIO) -> DecompressStream:
        ZstdDecomp()  # fail early, before the layer is yielded, if zstandard is missing
        return DecompressStream(stream, ZstdDecomp, "zstd", magic=ZSTD_MAGIC, step=CHUNK)

