"""Archives: zip (zip64, stored/deflated/bzip2/lzma/zstd members) and tar.

Zip is read through its central directory when the archive can seek (the
item itself, or a nested zip of at most ``Limits.max_buffer`` bytes copied
into memory); a bigger nested zip, or one whose central directory is missing
(truncated), is read forward entry by entry from its local headers. Member
data is decompressed by cardscan itself, in bounded steps, with the size and
CRC the archive declares checked. Entries whose data overlap (the
"overlapping entries" zip bomb) and entries that declare an expansion ratio
above the limit are refused before any byte is inflated.

Tar (plain, and inside any compression: tar.gz, tgz, tar.bz2, tar.xz,
tar.zst) is read forward member by member (``tarfile`` stream mode), so a
tar of any size costs constant memory.

7z and rar are recognised and reported as not supported (docs/containers.md
says why); their raw bytes are still scanned.

Member names are only labels: nothing is written to disk, no name is ever
used as a path.
"""
from __future__ import annotations

import struct
import tarfile
import zipfile
import zlib
from typing import Any, BinaryIO, ClassVar, Iterator

from ..errors import DecodeError, LimitError
from .base import CHUNK, Failure, Layer, Limits, Part, TextLayer
from .streams import (
    BufferedDecomp,
    DecompressStream,
    IterStream,
    LimitedStream,
    RangeStream,
    Stream,
    ZlibDecomp,
    head_of,
    seekable_view,
)

LOCAL = b"PK\x03\x04"
CENTRAL = b"PK\x01\x02"
EOCD = b"PK\x05\x06"
EOCD64 = b"PK\x06\x06"
EOCD64_LOCATOR = b"PK\x06\x07"
DESCRIPTOR = b"PK\x07\x08"
DIGITAL_SIG = b"PK\x05\x05"

_STORED, _DEFLATED, _BZIP2, _LZMA, _ZSTD, _AES = 0, 8, 12, 14, 93, 99
_METHODS = {0: "stored", 8: "deflate", 9: "deflate64", 12: "bzip2", 14: "lzma", 93: "zstd", 95: "xz", 98: "ppmd"}


# -- member data ------------------------------------------------------------------


class _Checked(Stream):
    """Checks the size and CRC-32 the archive declared when the member ends."""

    def __init__(self, inner: Any, size: int | None, crc: int | None) -> None:
        super().__init__()
        self._in, self._size, self._crc = inner, size, crc
        self._n = 0
        self._running = 0
        self.counts = getattr(inner, "counts", True)
        self.ok: bool | None = None

    @property
    def compressed_in(self) -> int | None:  # type: ignore[override]
        return getattr(self._in, "compressed_in", None)

    def _read(self, n: int) -> bytes:
        data = self._in.read(n)
        if data:
            self._n += len(data)
            self._running = zlib.crc32(data, self._running)
            if self._size is not None and self._n > self._size:
                raise DecodeError("member data longer than its declared size")
            return data
        if self.ok is None:
            self.ok = True
            if self._size is not None and self._n != self._size:
                self.ok = False
                raise DecodeError("member data shorter than its declared size (truncated)")
            if self._crc is not None and self._running != self._crc:
                self.ok = False
                raise DecodeError("CRC-32 mismatch: member data is corrupt")
        return b""

    @property
    def crc(self) -> int:
        return self._running

    @property
    def size(self) -> int:
        return self._n


class _ZipLzma:
    """LZMA as zip stores it: 2-byte version, 2-byte properties size, properties, raw LZMA1."""

    def __init__(self) -> None:
        self._head = b""
        self._d: BufferedDecomp | None = None

    @property
    def eof(self) -> bool:
        return self._d is not None and self._d.eof

    @property
    def unused_data(self) -> bytes:
        return self._d.unused_data if self._d is not None else b""

    def feed(self, data: bytes, n: int) -> bytes:
        import lzma

        if self._d is None:
            self._head += data
            if len(self._head) < 4:
                return b""
            psize = struct.unpack("<H", self._head[2:4])[0]
            if len(self._head) < 4 + psize:
                return b""
            try:
                filt = lzma._decode_filter_properties(lzma.FILTER_LZMA1, self._head[4:4 + psize])  # type: ignore[attr-defined]
            except (lzma.LZMAError, ValueError) as exc:
                raise DecodeError(f"corrupt lzma properties ({exc})") from None
            self._d = BufferedDecomp(lzma.LZMADecompressor(lzma.FORMAT_RAW, filters=[filt]), (lzma.LZMAError, EOFError), "lzma")
            data, self._head = self._head[4 + psize:], b""
        return self._d.feed(data, n)


def _decompressor(method: int) -> Any:
    if method == _DEFLATED:
        return lambda: ZlibDecomp(-15)
    if method == _BZIP2:
        import bz2

        return lambda: BufferedDecomp(bz2.BZ2Decompressor(), (OSError, EOFError), "bzip2")
    if method == _LZMA:
        return _ZipLzma
    if method == _ZSTD:
        from .compression import ZstdDecomp

        ZstdDecomp()  # MissingDependency now rather than mid-stream
        return ZstdDecomp
    raise DecodeError(f"compression method {_METHODS.get(method, method)} is not supported")


def member_stream(raw: Any, method: int, size: int | None, crc: int | None) -> _Checked:
    """The decompressed, size- and CRC-checked data of one zip entry."""
    if method == _STORED:
        return _Checked(raw, size, crc)
    new = _decompressor(method)
    return _Checked(DecompressStream(raw, new, _METHODS.get(method, "zip"), expected_size=size), size, crc)


# -- zip ------------------------------------------------------------------------------


def eocd_entries(fp: BinaryIO) -> int | None:
    """Entries the end-of-central-directory record declares, None if there is none."""
    fp.seek(0, 2)
    size = fp.tell()
    start = max(0, size - (22 + 65535 + 20))
    fp.seek(start)
    tail = fp.read(size - start)
    i = tail.rfind(EOCD)
    if i < 0 or len(tail) - i < 22:
        return None
    # The record (and its comment) must end the file: an end record found
    # elsewhere belongs to a zip stored inside this one, and a zip cut short
    # must not be read as that one.
    if i + 22 + struct.unpack("<H", tail[i + 20:i + 22])[0] != len(tail):
        return None
    count = struct.unpack("<H", tail[i + 10:i + 12])[0]
    loc = i - 20
    if loc >= 0 and tail[loc:loc + 4] == EOCD64_LOCATOR:
        off = struct.unpack("<Q", tail[loc + 8:loc + 16])[0]
        try:
            fp.seek(off)
            rec = fp.read(56)
        except (OSError, ValueError, OverflowError):
            return count
        if rec[:4] == EOCD64 and len(rec) >= 40:
            count = max(count, struct.unpack("<Q", rec[32:40])[0])
    return count


def _name_len(info: zipfile.ZipInfo) -> int:
    enc = "utf-8" if info.flag_bits & 0x800 else "cp437"
    try:
        return len(info.orig_filename.encode(enc))
    except UnicodeEncodeError:
        return len(info.orig_filename.encode("utf-8"))


def overlapping(infos: list[zipfile.ZipInfo], start_dir: int | None) -> set[int]:
    """Indexes of entries whose data overlap another entry or the central directory."""
    order = sorted(range(len(infos)), key=lambda i: infos[i].header_offset)
    bad: set[int] = set()
    for a, b in zip(order, order[1:]):
        ia, ib = infos[a], infos[b]
        # The smallest possible end of entry a: its local header has at least
        # the fixed 30 bytes and its name; data of compress_size follows.
        end = ia.header_offset + 30 + _name_len(ia) + ia.compress_size
        if ib.header_offset < end:
            bad.update((a, b))
    if start_dir is not None and order:
        last = infos[order[-1]]
        if last.header_offset + 30 + _name_len(last) + last.compress_size > start_dir:
            bad.add(order[-1])
    return bad


class ZipDecoder:
    name: ClassVar[str] = "zip"
    priority: ClassVar[int] = 30
    encoding: ClassVar[str] = "zip"

    def accepts(self, name: str, head: bytes) -> bool:
        return head[:4] in (LOCAL, EOCD, DESCRIPTOR)

    def context(self, names: list[str] | None, read: Any, head: bytes, name: str) -> Any:
        """Office documents are zips: which one this is, if any (office.py)."""
        from . import office

        return office.detect(names, read, head, name)

    def member(self, name: str, stream: Any, limits: Limits, ctx: Any) -> Iterator[Part]:
        if ctx is not None:
            from . import office

            if name in ctx.encrypted:
                yield Failure((name,), "encrypted", "encrypted OpenDocument part; not readable without the password")
                return
            kind = office.part_kind(ctx, name)
            if kind is not None:
                refs: list[tuple[int, Any]] = []
                yield TextLayer((name,), IterStream(office.extract(stream, kind, refs)), office.encoding_for(ctx, name),
                                office.locator(ctx, name, kind, refs))
                return
        yield Layer((name,), stream, self.encoding)

    def open(self, stream: BinaryIO, name: str, limits: Limits) -> Iterator[Part]:
        head = head_of(stream, 512)
        fp = seekable_view(stream, limits)
        if fp is None:  # nested and bigger than max_buffer: read forward
            yield from self._forward(stream, limits, self.context(None, None, head, name))  # type: ignore[arg-type]
            return
        count = eocd_entries(fp)
        if count is None:
            fp.seek(0)
            yield Failure((), "decode", "zip has no end record at its end (truncated?); entries read from local headers")
            yield from self._forward(_FileForward(fp), limits, self.context(None, None, head, name))
            return
        if count > limits.max_members:
            # Parsing a huge central directory costs memory before the limit
            # could act: read forward, and the member limit stops it in time.
            fp.seek(0)
            yield from self._forward(_FileForward(fp), limits, self.context(None, None, head, name))
            return
        fp.seek(0)
        try:
            zf = zipfile.ZipFile(fp)  # type: ignore[arg-type]
        except (zipfile.BadZipFile, zipfile.LargeZipFile, NotImplementedError, ValueError, EOFError,
                struct.error, UnicodeDecodeError) as exc:
            raise DecodeError(f"corrupt zip ({exc})") from None
        infos = zf.infolist()
        bad = overlapping(infos, getattr(zf, "start_dir", None))
        if bad:
            yield Failure((), "limit", f"{len(bad)} entries overlap each other (a zip bomb pattern); not opened",
                          "overlap")
        by_name = {i.filename: i for i in infos}

        def read_small(part: str) -> bytes | None:
            info = by_name.get(part)
            if info is None or info.flag_bits & 0x41 or info.file_size > 1 << 20:
                return None
            try:
                return self._open_entry(fp, info).read(1 << 20)
            except DecodeError:
                return None

        ctx = self.context(list(by_name), read_small, head, name)
        if ctx is not None:  # office.py reads sheets again to place shared strings at their cells
            ctx.open_part = lambda part: self._reopen(fp, by_name.get(part), limits)
        for i, info in enumerate(infos):
            if i in bad or info.is_dir():
                continue
            yield from self._entry(fp, info, limits, ctx)

    def _entry(self, fp: BinaryIO, info: zipfile.ZipInfo, limits: Limits, ctx: Any) -> Iterator[Part]:
        fn = info.filename
        if info.flag_bits & 0x41 or info.compress_type == _AES:
            yield Failure((fn,), "encrypted", "password-protected zip entry; not readable without the password")
            return
        if info.file_size > limits.ratio_after and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            yield Failure((fn,), "limit", f"zip entry declares {info.file_size} bytes from {info.compress_size} "
                          f"(ratio above max_ratio {limits.max_ratio:g}:1); not opened", "ratio")
            return
        try:
            data = self._open_entry(fp, info)
        except DecodeError as exc:
            yield Failure((fn,), exc.kind, str(exc))
            return
        yield from self.member(fn, data, limits, ctx)

    def _reopen(self, fp: BinaryIO, info: zipfile.ZipInfo | None, limits: Limits) -> _Checked | None:
        """An entry read again (None for one that is absent, encrypted or beyond the ratio limit)."""
        if info is None or info.flag_bits & 0x41 or info.compress_type == _AES:
            return None
        if info.file_size > limits.ratio_after and info.file_size > limits.max_ratio * max(info.compress_size, 1):
            return None
        return self._open_entry(fp, info)

    @staticmethod
    def _open_entry(fp: BinaryIO, info: zipfile.ZipInfo) -> _Checked:
        fp.seek(info.header_offset)
        h = fp.read(30)
        if len(h) < 30 or h[:4] != LOCAL:
            raise DecodeError("bad local header for zip entry")
        nlen, xlen = struct.unpack("<HH", h[26:30])
        raw = RangeStream(fp, info.header_offset + 30 + nlen + xlen, info.compress_size)
        return member_stream(raw, info.compress_type, info.file_size, info.CRC)

    def _forward(self, src: Stream, limits: Limits, ctx: Any) -> Iterator[Part]:
        """Entries from local headers, in order, for a zip that cannot seek."""
        while True:
            sig = _read_exact(src, 4)
            if sig == LOCAL:
                hdr = _read_exact(src, 26)
                if len(hdr) < 26:
                    raise DecodeError("zip ends inside a local header (truncated)")
                _ver, flag, method, _t, _d, crc, csize, usize, nlen, xlen = struct.unpack("<HHHHHIIIHH", hdr)
                raw_name = _read_exact(src, nlen)
                extra = _read_exact(src, xlen)
                if len(raw_name) < nlen or len(extra) < xlen:
                    raise DecodeError("zip ends inside a local header (truncated)")
                fn = raw_name.decode("utf-8" if flag & 0x800 else "cp437", "replace")
                zip64 = False
                if csize == 0xFFFFFFFF or usize == 0xFFFFFFFF:
                    sizes = _zip64_sizes(extra)
                    if sizes is not None:
                        usize, csize = sizes
                        zip64 = True
                dd = bool(flag & 0x08)
                if flag & 0x41 or method == _AES:
                    yield Failure((fn,), "encrypted", "password-protected zip entry; not readable without the password")
                    if dd:
                        raise DecodeError("cannot find the end of an encrypted entry without the central directory")
                    LimitedStream(src, csize).skip()
                    continue
                if dd and method != _DEFLATED:
                    raise DecodeError("entry with a data descriptor that is not deflated cannot be read "
                                      "without the central directory")
                if dd:
                    yield from self._forward_dd(src, fn, limits, ctx, zip64)
                    continue
                if fn.endswith("/") and csize == 0:
                    continue
                if usize > limits.ratio_after and usize > limits.max_ratio * max(csize, 1):
                    yield Failure((fn,), "limit", f"zip entry declares {usize} bytes from {csize} "
                                  f"(ratio above max_ratio {limits.max_ratio:g}:1); not opened", "ratio")
                    LimitedStream(src, csize).skip()
                    continue
                raw = LimitedStream(src, csize)
                try:
                    data = member_stream(raw, method, usize, crc)
                except DecodeError as exc:
                    yield Failure((fn,), exc.kind, str(exc))
                else:
                    yield from self.member(fn, data, limits, ctx)
                raw.skip()
            elif sig in (CENTRAL, EOCD, EOCD64, DIGITAL_SIG, EOCD64_LOCATOR):
                return
            elif sig == DESCRIPTOR:  # spanned-archive marker at the very start
                continue
            elif not sig:
                raise DecodeError("zip ends before its central directory (truncated)")
            else:
                raise DecodeError("unexpected data where a zip entry header should be (corrupt)")

    def _forward_dd(self, src: Stream, fn: str, limits: Limits, ctx: Any, zip64: bool) -> Iterator[Part]:
        inflate = DecompressStream(src, lambda: ZlibDecomp(-15), "deflate", pushback=True)
        data = _Checked(inflate, None, None)
        yield from self.member(fn, data, limits, ctx)
        # Find the end of the entry: the rest must be inflated (there is no size).
        drained = 0
        while data.read(CHUNK):
            drained += CHUNK
            if drained > limits.max_total_bytes:
                raise LimitError("entry too large to skip without the central directory", "total_bytes")
        d = _read_exact(src, 4)
        if d != DESCRIPTOR:
            src.unread(d)
        desc = _read_exact(src, 20 if zip64 else 12)
        crc = struct.unpack("<I", desc[:4])[0] if len(desc) >= 4 else None
        if crc != data.crc:
            yield Failure((fn,), "decode", "CRC-32 mismatch: member data is corrupt")


def _zip64_sizes(extra: bytes) -> tuple[int, int] | None:
    i = 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack("<HH", extra[i:i + 4])
        if tag == 1 and size >= 16:
            return struct.unpack("<QQ", extra[i + 4:i + 20])  # type: ignore[return-value]
        i += 4 + size
    return None


def _read_exact(src: Any, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        b = src.read(n - got)
        if not b:
            break
        parts.append(b)
        got += len(b)
    return b"".join(parts)


class _FileForward(Stream):
    """A seekable file read forward (the local-header fallback)."""

    counts = False

    def __init__(self, fp: BinaryIO) -> None:
        super().__init__()
        self._fp = fp
        self._pos = fp.tell()

    def _read(self, n: int) -> bytes:
        self._fp.seek(self._pos)
        out = self._fp.read(n)
        self._pos += len(out)
        return out


# -- tar ------------------------------------------------------------------------------


class _TarInfo(tarfile.TarInfo):
    """Remembers why tarfile stopped: it ends quietly on a bad header after the first."""

    @classmethod
    def fromtarfile(cls, tf: tarfile.TarFile) -> tarfile.TarInfo:  # type: ignore[override]
        try:
            return super().fromtarfile(tf)
        except (tarfile.InvalidHeaderError, tarfile.TruncatedHeaderError,  # type: ignore[attr-defined]
                tarfile.EmptyHeaderError) as exc:  # type: ignore[attr-defined]
            tf._cardscan_stop = exc  # type: ignore[attr-defined]
            raise


class _View(Stream):
    """A tar member: a view of bytes already counted (no new bytes)."""

    counts = False

    def __init__(self, f: Any) -> None:
        super().__init__()
        self._f = f

    def _read(self, n: int) -> bytes:
        return self._f.read(n)


def _tar_checksum_ok(block: bytes) -> bool:
    if len(block) < 512:
        return False
    try:
        stored = int(block[148:156].replace(b"\x00", b" ").strip() or b"-1", 8)
    except ValueError:
        return False
    calc = sum(block[:148]) + 8 * 32 + sum(block[156:512])
    return stored == calc


class TarDecoder:
    name: ClassVar[str] = "tar"
    priority: ClassVar[int] = 40

    def accepts(self, name: str, head: bytes) -> bool:
        if head[257:262] == b"ustar" and _tar_checksum_ok(head[:512]):
            return True
        # Old (v7) tars have no magic: trust the name with a valid header checksum.
        return bool(name) and name.lower().endswith(".tar") and _tar_checksum_ok(head[:512])

    def open(self, stream: BinaryIO, name: str, limits: Limits) -> Iterator[Part]:
        try:
            tf = tarfile.open(fileobj=stream, mode="r|", tarinfo=_TarInfo)  # type: ignore[call-overload]
        except (tarfile.TarError, EOFError, ValueError) as exc:
            raise DecodeError(f"corrupt tar ({exc})") from None
        n = 0
        while True:
            try:
                ti = tf.next()
            except (tarfile.TarError, EOFError, ValueError, UnicodeDecodeError) as exc:
                raise DecodeError(f"corrupt or truncated tar after {n} members ({exc})") from None
            if ti is None:
                break
            n += 1
            tf.members.clear()  # type: ignore[attr-defined]  # stream mode keeps every header otherwise
            if not ti.isreg():
                continue  # directories, links, devices: no content of their own
            f = tf.extractfile(ti)
            if f is None:  # pragma: no cover - isreg() members always have data
                continue
            yield Layer((ti.name,), _View(f), "tar")
        stop = getattr(tf, "_cardscan_stop", None)
        if isinstance(stop, tarfile.EmptyHeaderError):  # type: ignore[attr-defined]
            raise DecodeError(f"tar ends without its end-of-archive marker after {n} members (truncated?)")
        if stop is not None:
            raise DecodeError(f"corrupt or truncated tar header after {n} members; the rest was not read")


# -- recognised, not supported ----------------------------------------------------


class UnsupportedArchive:
    """7z and rar: no maintained pure-Python reader; reported, raw bytes scanned."""

    name: ClassVar[str] = "unsupported-archive"
    priority: ClassVar[int] = 45
    MAGIC: ClassVar[dict[bytes, str]] = {b"7z\xbc\xaf\x27\x1c": "7z", b"Rar!\x1a\x07": "rar"}

    def accepts(self, name: str, head: bytes) -> bool:
        return any(head.startswith(m) for m in self.MAGIC)

    def open(self, stream: BinaryIO, name: str, limits: Limits) -> Iterator[Part]:
        head = head_of(stream, 8)
        what = next((v for m, v in self.MAGIC.items() if head.startswith(m)), "this")
        yield Failure((), "decode", f"{what} archives are not supported; members were not opened "
                      "(only the raw bytes were scanned, see docs/containers.md)")
        yield TextLayer((), stream if isinstance(stream, Stream) else _View(stream), "raw")
