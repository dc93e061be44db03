"""Content with findings masked: plain bytes, compressed streams, zip, tar, office parts.

:class:`Rewriter` walks an object's content the way the scan's decoders did
(the same magic-byte rules, the same member names), checks every finding's
span and masks the card numbers that are still there. Containers are
rewritten so that everything the findings do not touch stays as it was:

* gzip, bzip2, xz/lzma, zstd: decompressed, masked, compressed again the
  same way (gzip: the original header byte for byte, same level class;
  bzip2: same block size; xz: same integrity check; zstd: same checksum and
  content-size flags). A multi-member gzip becomes a single member.
* zip (office files too): the entries that change are compressed again with
  their own method; every other entry (local header, data, descriptor) is
  copied byte for byte, the central directory is copied with offsets and the
  changed entries' sizes/CRC updated, the archive comment kept.
* tar: changed members get their new content (same header when the size is
  unchanged, which redaction guarantees at the innermost level); every other
  header and member is copied byte for byte.
* docx/xlsx/pptx/odt text parts: see :mod:`cardscan.remediate.office`.

Anything else (PDF, OLE, mail, 7z) is ``unsupported``: quarantine or delete
such files. Plain content is masked in place only when it is text
(:func:`not_text`): the bytes of a SQLite database, an executable, an image
or any other binary format have lengths, checksums and indexes of their own
that masking would break, so such content is ``unsupported`` too (the file
sweep reads SQLite files as databases: their cells are redacted with SQL). Containers are rewritten in memory, up to ``max_bytes`` in all
(nothing holding card data goes to a temp file); plain files and plain
compressed streams are streamed by :class:`SpanPatcher` at any size.
"""
from __future__ import annotations

import bz2
import copy
import io
import lzma
import os
import struct
import tarfile
import zipfile
import zlib
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..decoders import office as office_decoder
from ..decoders.base import HEAD_SIZE
from ..decoders.expand import pick, strip_compression
from ..errors import CardscanError, DecodeError
from ..findings import Finding, FingerprintKey
from ..privacy import safe_message
from . import office, spans

STALE, UNSUPPORTED = "stale", "unsupported"

#: Formats whose bytes are never masked in place, by their first bytes (named in the message).
_BINARY_MAGIC = (
    (b"SQLite format 3\x00", "a SQLite database"),
    (b"\x7fELF", "an ELF executable"),
    (b"\xca\xfe\xba\xbe", "a Java class or Mach-O file"),
    (b"\xcf\xfa\xed\xfe", "a Mach-O file"),
    (b"\x00asm", "a WebAssembly module"),
    (b"dex\n", "an Android DEX file"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF8", "a GIF image"),
    (b"RIFF", "a RIFF (audio, video, WebP) file"),
    (b"OggS", "an Ogg file"),
    (b"\x1aE\xdf\xa3", "a Matroska/WebM file"),
    (b"PAR1", "a Parquet file"),
    (b"ORC", "an ORC file"),
    (b"Obj\x01", "an Avro file"),
    (b"ARROW1", "an Arrow file"),
    (b"\x93NUMPY", "a NumPy array"),
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file"),
)
_BOMS = (b"\xef\xbb\xbf", b"\xff\xfe", b"\xfe\xff")
#: Control bytes that do not occur in text (tab, LF, VT, FF, CR and ESC do).
_CONTROL = bytes(c for c in range(32) if c not in (9, 10, 11, 12, 13, 27)) + b"\x7f"
_NOT_TEXT_HINT = "masking its bytes in place could corrupt it; quarantine or delete the file instead"
_SQLITE_HINT = ("masking its bytes would corrupt its pages and indexes; scan the database file itself (the file "
                "sweep reads it as a database and its cells are redacted with SQL), or quarantine or delete the file")


def not_text(head: bytes) -> str | None:
    """Why content starting with ``head`` must not be masked as bytes (None: it is text).

    Text is what a card number can be masked in without breaking anything
    else: ASCII/UTF-8/Latin-1 text (no NUL, hardly any control bytes), and
    UTF-16 (with a BOM, or NULs in every other byte).
    """
    for magic, what in _BINARY_MAGIC:
        if head.startswith(magic):
            return f"the content is {what}, not text: " + (_SQLITE_HINT if magic.startswith(b"SQLite") else _NOT_TEXT_HINT)
    if not head or head.startswith(_BOMS):
        return None
    if 0 in head:
        half = max(1, len(head) // 2)
        even, odd = head[0::2].count(0), head[1::2].count(0)
        if (odd * 3 >= half and even * 50 <= half) or (even * 3 >= half and odd * 50 <= half):
            return None  # UTF-16 without a BOM: ASCII characters with a NUL beside each
        return "the content is not text (it holds NUL bytes): " + _NOT_TEXT_HINT
    control = len(head) - len(head.translate(None, _CONTROL))
    if control * 100 > len(head):
        return "the content is not text (it holds control bytes): " + _NOT_TEXT_HINT
    return None


class Unsupported(CardscanError):
    """This content cannot be rewritten; the message says why."""


@dataclass
class Node:
    """Findings at one level of an object, and the members below it."""

    findings: list[Finding] = field(default_factory=list)
    children: dict[str, "Node"] = field(default_factory=dict)

    def all(self) -> Iterator[Finding]:
        yield from self.findings
        for c in self.children.values():
            yield from c.all()


def tree(findings: list[Finding]) -> Node:
    root = Node()
    for f in findings:
        node = root
        for name in f.location.member:
            node = node.children.setdefault(name, Node())
        node.findings.append(f)
    return root


def _base(name: str) -> str:
    return os.path.basename(name) if "/" in name else name


class Rewriter:
    """Masks findings in content; records each finding's state.

    ``states[finding id] = (state, message)`` with state ``pan`` (masked now),
    ``masked`` (was masked already), ``other`` (stale: something else is
    there), ``unsupported``.
    """

    def __init__(self, key: FingerprintKey, keep_last: int = 4, max_bytes: int = 1 << 30) -> None:
        self.key = key
        self.keep_last = keep_last
        self.max_bytes = max_bytes
        self.used = 0
        self.states: dict[str, tuple[str, str]] = {}

    # -- bookkeeping ------------------------------------------------------------
    def mark(self, f: Finding, st: str, why: str = "") -> None:
        self.states[f.id] = (st, why)

    def mark_all(self, node: Node, st: str, why: str) -> None:
        for f in node.all():
            self.states[f.id] = (st, why)

    def _take(self, n: int) -> None:
        self.used += n
        if self.used > self.max_bytes:
            raise Unsupported(f"rewriting it needs more than --max-rewrite-size ({self.max_bytes} bytes) in memory")

    # -- dispatch -----------------------------------------------------------------
    def rewrite(self, data: bytes, name: str, node: Node) -> bytes | None:
        """``data`` with the node's findings masked; None when nothing changes."""
        dec = pick(_base(name), data[:HEAD_SIZE]) if data else None
        if dec is None or getattr(dec, "in_place", False):  # (a dump: its findings are offsets in these bytes)
            return self.plain(data, node)
        dname = getattr(dec, "name", type(dec).__name__)
        kind = getattr(dec, "kind", "container")
        if kind != "compression" and dname not in ("zip", "tar"):
            self.mark_all(node, UNSUPPORTED, f"redaction inside {dname} content is not supported; "
                          "quarantine or delete the file instead")
            return None
        if node.findings:
            for f in node.findings:
                self.mark(f, "other", f"the object is now a {dname} container, not what was scanned")
        try:
            if kind == "compression":
                return self.compressed(dname, dec, data, name, node)
            if dname == "zip":
                return self.zip(data, name, node)
            return self.tar(data, node)
        except Unsupported as exc:
            self.mark_all(node, UNSUPPORTED, str(exc))
            return None
        except (DecodeError, zipfile.BadZipFile, tarfile.TarError, EOFError, zlib.error, lzma.LZMAError, OSError,
                struct.error, ValueError) as exc:
            self.mark_all(node, UNSUPPORTED, f"{dname} content could not be read back: {_safe(exc)}")
            return None

    # -- plain bytes ----------------------------------------------------------------
    def plain(self, data: bytes, node: Node) -> bytes | None:
        for child in node.children.values():
            self.mark_all(child, "other", "the object is no longer a container holding the scanned member")
        why = not_text(data[:HEAD_SIZE])
        if why is not None:
            for f in node.findings:
                self.mark(f, UNSUPPORTED, why)
            return None
        p = SpanPatcher(node.findings, self, text_only=True)
        out = p.feed(data) + p.finish()
        return out if p.changed else None

    # -- compression ---------------------------------------------------------------
    def compressed(self, dname: str, dec: Any, data: bytes, name: str, node: Node) -> bytes | None:
        inner = self._read_all(dec.stream(io.BytesIO(data)))
        new = self.rewrite(inner, strip_compression(name), node)
        if new is None:
            return None
        c = compressor(dname, data[:1 << 16], len(new))
        return c.compress(new) + c.flush()

    def _read_all(self, stream: Any) -> bytes:
        parts: list[bytes] = []
        while True:
            b = stream.read(1 << 20)
            if not b:
                return b"".join(parts)
            self._take(len(b))
            parts.append(b)

    # -- zip -----------------------------------------------------------------------
    def zip(self, data: bytes, name: str, node: Node) -> bytes | None:
        zf = zipfile.ZipFile(io.BytesIO(data))
        infos = zf.infolist()
        counts: dict[str, int] = {}
        for i in infos:
            counts[i.filename] = counts.get(i.filename, 0) + 1
        by_name = {i.filename: i for i in infos}

        def read_small(part: str) -> bytes | None:
            info = by_name.get(part)
            if info is None or info.flag_bits & 0x41 or info.file_size > 1 << 20:
                return None
            try:
                return zf.read(info)
            except (zipfile.BadZipFile, NotImplementedError, RuntimeError, OSError, EOFError, zlib.error):
                return None

        ctx = office_decoder.detect(list(by_name), read_small, data[:512], _base(name))
        changed: dict[int, bytes] = {}
        index = {id(i): n for n, i in enumerate(infos)}
        for cname, child in node.children.items():
            info = by_name.get(cname)
            if info is None:
                self.mark_all(child, "other", "the scanned member is not in the archive any more")
                continue
            if counts[cname] > 1:
                self.mark_all(child, UNSUPPORTED, f"the archive has {counts[cname]} entries with the scanned "
                              "member's name: which one was scanned cannot be told")
                continue
            if info.flag_bits & 0x41 or (ctx is not None and cname in ctx.encrypted):
                self.mark_all(child, UNSUPPORTED, "encrypted archive entry")
                continue
            self._take(info.file_size)
            try:
                content = zf.read(info)
            except (NotImplementedError, RuntimeError) as exc:
                self.mark_all(child, UNSUPPORTED, f"the member cannot be read: {_safe(exc)}")
                continue
            kind = office_decoder.part_kind(ctx, cname) if ctx is not None else None
            if kind is not None:
                if child.children:
                    self.mark_all(child, "other", "an office text part holds no members")
                    continue
                new = office.redact_part(content, kind, child.findings, self)
            else:
                new = self.rewrite(content, cname, child)
            if new is not None and new != content:
                changed[index[id(info)]] = new
        if not changed:
            return None
        return write_zip(data, zf, infos, changed)

    # -- tar -----------------------------------------------------------------------
    def tar(self, data: bytes, node: Node) -> bytes | None:
        tf = tarfile.open(fileobj=io.BytesIO(data), mode="r:")
        members = tf.getmembers()
        counts: dict[str, int] = {}
        for ti in members:
            counts[ti.name] = counts.get(ti.name, 0) + 1
        by_name = {ti.name: ti for ti in members}
        new_content: dict[int, bytes] = {}
        for cname, child in node.children.items():
            ti = by_name.get(cname)  # type: ignore[assignment]  # None is handled at once
            if ti is None or not ti.isreg():
                self.mark_all(child, "other", "the scanned member is not in the archive any more")
                continue
            if counts[cname] > 1:
                self.mark_all(child, UNSUPPORTED, f"the archive has {counts[cname]} members with the scanned "
                              "member's name: which one was scanned cannot be told")
                continue
            if ti.sparse is not None:
                self.mark_all(child, UNSUPPORTED, "sparse tar members are not rewritten")
                continue
            content = data[ti.offset_data:ti.offset_data + ti.size]
            new = self.rewrite(content, cname, child)
            if new is not None and new != content:
                new_content[id(ti)] = new
        if not new_content:
            return None
        out = bytearray()
        pos = 0
        for ti in members:
            new = new_content.get(id(ti))
            if new is None:
                continue
            out += data[pos:ti.offset]
            if len(new) == ti.size:
                out += data[ti.offset:ti.offset_data]  # the very same header blocks
            else:
                t2 = copy.copy(ti)
                t2.size = len(new)
                t2.pax_headers = {k: v for k, v in ti.pax_headers.items() if k != "size"}
                out += t2.tobuf(tf.format, tf.encoding, tf.errors)
            out += new + b"\0" * (-len(new) % tarfile.BLOCKSIZE)
            pos = ti.offset_data + ti.size + (-ti.size % tarfile.BLOCKSIZE)
        out += data[pos:]
        return bytes(out)


def _safe(exc: BaseException) -> str:
    return safe_message(exc)


# -- streaming spans ------------------------------------------------------------------


class SpanPatcher:
    """Masks findings in a byte stream fed in chunks (offsets from the stream's start).

    Bytes are passed through as soon as no pending span (with its margin, see
    :data:`spans.MARGIN`) can reach them; a span is decided (card there?
    masked? something else?) once its bytes and margin have arrived. Memory:
    one chunk plus the longest span and two margins.
    """

    def __init__(self, findings: list[Finding], rw: Rewriter, text_only: bool = False) -> None:
        self.rw = rw
        #: In a file's text: a span with NUL bytes near it is inside binary data (not masked).
        self.text_only = text_only
        self.todo = sorted(findings, key=lambda f: (f.location.offset or 0))
        self.i = 0
        self.buf = bytearray()
        self.pos = 0  # stream offset of buf[0]
        self.changed = False

    def feed(self, chunk: bytes) -> bytes:
        self.buf += chunk
        self._run(final=False)
        end = self.pos + len(self.buf)
        # Everything before the next undecided span's margin can go.
        if self.i >= len(self.todo):
            limit = end
        else:
            limit = max(self.pos, (self.todo[self.i].location.offset or 0) - spans.MARGIN)
        n = min(limit, end) - self.pos
        out = bytes(self.buf[:n])
        del self.buf[:n]
        self.pos += n
        return out

    def finish(self) -> bytes:
        self._run(final=True)
        out = bytes(self.buf)
        self.pos += len(out)
        self.buf.clear()
        return out

    def _run(self, final: bool) -> None:
        end = self.pos + len(self.buf)
        while self.i < len(self.todo):
            f = self.todo[self.i]
            start = f.location.offset or 0
            stop = start + (f.location.length or 0)
            if not final and stop + spans.MARGIN > end:
                break
            if stop > end:
                self.rw.mark(f, "other", "the data ends before the recorded location")
            else:
                self._decide(f, start - self.pos)
            self.i += 1

    def _decide(self, f: Finding, a: int) -> None:
        if a < 0:  # overlaps a span decided before (cannot happen for engine findings)
            self.rw.mark(f, "other", "overlaps another finding")
            return
        w0 = max(0, a - spans.MARGIN)
        window = bytes(self.buf[w0:a + (f.location.length or 0) + spans.MARGIN])
        if self.text_only and 0 in window and not f.encoding.startswith("utf-16"):
            self.rw.mark(f, UNSUPPORTED, "the number lies in binary data (NUL bytes around it): " + _NOT_TEXT_HINT)
            return
        st, why = spans.state(window, f, self.rw.key, a - w0)
        if st == spans.PAN:
            if not spans.mask(self.buf, a, f, self.rw.keep_last, self.rw.key):
                self.rw.mark(f, spans.UNSUPPORTED, f"the {f.encoding} text could not be masked in place")
                return
            self.changed = True
        self.rw.mark(f, st, why)


# -- compressors ------------------------------------------------------------------------


def gzip_header(head: bytes) -> bytes:
    """The original gzip member header (FEXTRA, FNAME, FCOMMENT, FHCRC kept verbatim)."""
    if head[:3] != b"\x1f\x8b\x08" or len(head) < 10:
        raise Unsupported("not a deflate gzip stream")
    flg, pos = head[3], 10
    try:
        if flg & 4:
            pos += 2 + int.from_bytes(head[pos:pos + 2], "little")
        if flg & 8:
            pos = head.index(b"\x00", pos) + 1
        if flg & 16:
            pos = head.index(b"\x00", pos) + 1
    except ValueError:
        raise Unsupported("gzip header too long to copy") from None
    if flg & 2:
        pos += 2
    if pos > len(head):
        raise Unsupported("gzip header too long to copy")
    return head[:pos]


class _Gzip:
    def __init__(self, head: bytes) -> None:
        self.header = gzip_header(head)
        xfl = head[8]
        level = 9 if xfl == 2 else 1 if xfl == 4 else 6
        self.c = zlib.compressobj(level, zlib.DEFLATED, -15)
        self.crc = 0
        self.size = 0
        self.started = False

    def compress(self, data: bytes) -> bytes:
        self.crc = zlib.crc32(data, self.crc)
        self.size += len(data)
        out = self.c.compress(data)
        if not self.started:
            self.started = True
            out = self.header + out
        return out

    def flush(self) -> bytes:
        out = self.c.flush() + struct.pack("<II", self.crc, self.size & 0xFFFFFFFF)
        return (b"" if self.started else self.header) + out


class _Zstd:
    def __init__(self, head: bytes, size: int | None) -> None:
        import zstandard  # the archives extra: only zstd content needs it

        fhd = head[4] if len(head) > 4 else 0
        declared = zstd_content_size(head)
        if size is None:
            size = declared
        sized = (fhd >> 6 or fhd & 0x20) and size is not None
        self.c = zstandard.ZstdCompressor(level=3, write_checksum=bool(fhd & 0x04),
                                          write_content_size=bool(sized)).compressobj(size=size if sized and size is not None else -1)

    def compress(self, data: bytes) -> bytes:
        return self.c.compress(data)  # type: ignore[no-any-return]

    def flush(self) -> bytes:
        return self.c.flush()  # type: ignore[no-any-return]


def zstd_content_size(head: bytes) -> int | None:
    """The decompressed size a zstd frame header declares (None if it declares none)."""
    if len(head) < 6 or head[:4] != b"\x28\xb5\x2f\xfd":
        return None
    fhd = head[4]
    fcs_flag, single, dict_flag = fhd >> 6, (fhd >> 5) & 1, fhd & 3
    pos = 5 + (0 if single else 1) + (0, 1, 2, 4)[dict_flag]
    n = (1 if single else 0, 2, 4, 8)[fcs_flag]
    if not n or len(head) < pos + n:
        return None
    value = int.from_bytes(head[pos:pos + n], "little")
    return value + 256 if n == 2 else value


def compressor(dname: str, head: bytes, size: int | None = None) -> Any:
    """A compressor (``compress(bytes)``, ``flush()``) making a stream like the one ``head`` starts."""
    if dname == "gzip":
        return _Gzip(head)
    if dname == "bzip2":
        level = int(chr(head[3])) if len(head) > 3 and 49 <= head[3] <= 57 else 9
        return bz2.BZ2Compressor(level)
    if dname == "xz":
        if head.startswith(b"\xfd7zXZ\x00"):
            check = head[7] & 0x0F if len(head) > 7 else lzma.CHECK_CRC64
            return lzma.LZMACompressor(format=lzma.FORMAT_XZ, check=check)
        return lzma.LZMACompressor(format=lzma.FORMAT_ALONE)
    if dname == "zstd":
        return _Zstd(head, size)
    raise Unsupported(f"{dname} streams are not written back")


# -- zip writing ------------------------------------------------------------------------

_LOCAL = b"PK\x03\x04"
_CENTRAL = b"PK\x01\x02"
_EOCD = b"PK\x05\x06"


def _strip_zip64(extra: bytes) -> bytes:
    out, i = bytearray(), 0
    while i + 4 <= len(extra):
        tag, size = struct.unpack("<HH", extra[i:i + 4])
        if tag != 1:
            out += extra[i:i + 4 + size]
        i += 4 + size
    out += extra[i:]
    return bytes(out)


def _compress_member(method: int, flag: int, data: bytes) -> bytes:
    if method == zipfile.ZIP_STORED:
        return data
    if method == zipfile.ZIP_DEFLATED:
        level = {0: 6, 1: 9, 2: 1, 3: 1}[(flag >> 1) & 3]
        c = zlib.compressobj(level, zlib.DEFLATED, -15)
        return c.compress(data) + c.flush()
    if method == zipfile.ZIP_BZIP2:
        return bz2.compress(data, 9)
    if method == zipfile.ZIP_LZMA:
        c = zipfile.LZMACompressor()  # type: ignore[attr-defined]
        return c.compress(data) + c.flush()  # type: ignore[no-any-return]
    if method == 93:
        import zstandard  # the archives extra: only zstd members need it

        return zstandard.ZstdCompressor(level=3).compress(data)  # type: ignore[no-any-return]
    raise Unsupported(f"zip compression method {method} is not written back")


def _eocd(data: bytes) -> int:
    """Offset of the end record whose comment ends the archive (-1 if none)."""
    at = len(data)
    while True:
        at = data.rfind(_EOCD, max(0, len(data) - 22 - 65535), at)
        if at < 0:
            return -1
        if at + 22 <= len(data) and at + 22 + struct.unpack("<H", data[at + 20:at + 22])[0] == len(data):
            return at


def _entry_end(data: bytes, at: int, flag: int, crc: int, limit: int) -> int:
    """Where an entry whose compressed data ends at ``at`` really ends: after
    its data descriptor, if it has one (12 bytes, or 16 with the optional
    signature: the one whose CRC field matches is it)."""
    if not flag & 0x08:
        return at
    if data[at:at + 4] == b"PK\x07\x08" and struct.unpack("<I", data[at + 4:at + 8])[0] == crc and at + 16 <= limit:
        return at + 16
    if at + 12 <= limit and struct.unpack("<I", data[at:at + 4])[0] == crc:
        return at + 12
    raise Unsupported("a zip entry's data descriptor was not found where its sizes say")


def write_zip(data: bytes, zf: zipfile.ZipFile, infos: list[zipfile.ZipInfo], changed: dict[int, bytes]) -> bytes:
    """The archive with ``changed`` entries (index -> new content) replaced, the rest copied raw."""
    start_dir = zf.start_dir  # type: ignore[attr-defined]
    eocd_at = _eocd(data)
    if eocd_at < 0:
        raise Unsupported("zip end record not found at the end of the archive")
    if eocd_at >= 20 and data[eocd_at - 20:eocd_at - 16] == b"PK\x06\x07":
        raise Unsupported("zip64 archives are not rewritten")
    # Raw central directory records, in directory order (the order of infolist()).
    records: list[bytes] = []
    pos = start_dir
    for info in infos:
        if data[pos:pos + 4] != _CENTRAL:
            raise Unsupported("unexpected central directory layout")
        n, m, k = struct.unpack("<HHH", data[pos + 28:pos + 34])
        rec = data[pos:pos + 46 + n + m + k]
        if struct.unpack("<I", rec[42:46])[0] != info.header_offset:
            raise Unsupported("archive with data before it (self-extracting?) is not rewritten")
        if 0xFFFFFFFF in struct.unpack("<III", rec[20:24] + rec[24:28] + rec[42:46]):
            raise Unsupported("zip64 archives are not rewritten")
        records.append(rec)
        pos += len(rec)
    order = sorted(range(len(infos)), key=lambda i: infos[i].header_offset)
    first = infos[order[0]].header_offset if order else start_dir
    out = bytearray(data[:first])
    new_offset: dict[int, int] = {}
    new_local: dict[int, tuple[int, int, int, int]] = {}
    for j, idx in enumerate(order):
        info = infos[idx]
        begin = info.header_offset
        end = infos[order[j + 1]].header_offset if j + 1 < len(order) else start_dir
        new_offset[idx] = len(out)
        content = changed.get(idx)
        if content is None:
            out += data[begin:end]
            continue
        h = data[begin:begin + 30]
        if h[:4] != _LOCAL:
            raise Unsupported("bad local header")
        ver, flag, method, mtime, mdate = struct.unpack("<HHHHH", h[4:14])
        nlen, xlen = struct.unpack("<HH", h[26:30])
        fname = data[begin + 30:begin + 30 + nlen]
        extra = _strip_zip64(data[begin + 30 + nlen:begin + 30 + nlen + xlen])
        old_end = _entry_end(data, begin + 30 + nlen + xlen + info.compress_size, flag, info.CRC, end)
        comp = _compress_member(method, flag, content)
        crc = zlib.crc32(content)
        flag &= ~0x08  # sizes go in the local header: no data descriptor
        out += struct.pack("<4sHHHHHIIIHH", _LOCAL, ver, flag, method, mtime, mdate, crc, len(comp), len(content),
                           nlen, len(extra)) + fname + extra + comp
        # Whatever lay between this entry and the next (or the central directory)
        # is not ours to drop: an APK signing block, padding, another tool's data.
        out += data[old_end:end]
        new_local[idx] = (flag, crc, len(comp), len(content))
    cd_start = len(out)
    for idx, rec in enumerate(records):
        r = bytearray(rec)
        r[42:46] = struct.pack("<I", new_offset[idx])
        if idx in new_local:
            flag, crc, csize, usize = new_local[idx]
            r[8:10] = struct.pack("<H", flag)
            r[16:28] = struct.pack("<III", crc, csize, usize)
            n, m = struct.unpack("<HH", r[28:32])
            extra = _strip_zip64(bytes(r[46 + n:46 + n + m]))
            r = r[:46 + n] + extra + r[46 + n + m:]
            r[30:32] = struct.pack("<H", len(extra))
        out += r
    cd_size = len(out) - cd_start
    eocd = bytearray(data[eocd_at:])
    eocd[12:20] = struct.pack("<II", cd_size, cd_start)
    out += eocd
    if len(out) >= 0xFFFFFFFF:
        raise Unsupported("the rewritten archive would need zip64")
    return bytes(out)
