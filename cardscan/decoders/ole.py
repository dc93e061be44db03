"""Legacy binary Office and Outlook files (.doc, .xls, .ppt, .msg) via ``olefile``.

An OLE2 compound file is a little file system of streams. Each stream is a
layer, member = its path inside the file (``WordDocument``,
``__substg1.0_1000001F``, ``__attach_version1.0_#00000000/__substg1.0_37010102``),
encoding ``ole``, scanned as raw bytes: Word and Outlook keep text as
8-bit or UTF-16 characters, both of which the engine reads. Streams are opened
again by the usual rules, so a zip attached to a .msg is looked into.

Not seen: numbers an old .xls stores as binary floating point (NUMBER and RK
records) and strings split across a CONTINUE record; use xlsx where it matters.

Encrypted files (an encrypted OOXML package, a .doc with the FIB "encrypted"
flag, an .xls with a FILEPASS record, an encrypted .ppt) are failures of
kind ``encrypted``.
"""
from __future__ import annotations

import struct
from typing import BinaryIO, ClassVar, Iterator

from ..errors import DecodeError, LimitError, MissingDependency
from ..privacy import safe_message
from .base import EncryptedError, Failure, Layer, Limits, Part
from .streams import BytesStream, seekable_view

OLE_MAGIC = b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1"


def _label(path: list[str]) -> str:
    # OLE names start with control characters (\x05SummaryInformation).
    return "/".join("".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in p) for p in path)


def _xls_encrypted(data: bytes) -> bool:
    """A FILEPASS record (0x002F) in the workbook globals means the workbook is encrypted."""
    pos = 0
    for _ in range(400):
        if pos + 4 > len(data):
            return False
        rtype, size = struct.unpack("<HH", data[pos:pos + 4])
        if rtype == 0x002F:
            return True
        if rtype == 0x000A:  # EOF of the globals substream
            return False
        pos += 4 + size
    return False


class OleDecoder:
    name: ClassVar[str] = "ole"
    priority: ClassVar[int] = 60

    def accepts(self, name: str, head: bytes) -> bool:
        return head.startswith(OLE_MAGIC)

    def open(self, stream: BinaryIO, name: str, limits: Limits) -> Iterator[Part]:
        try:
            import olefile
        except ImportError:
            raise MissingDependency("legacy Office files need the 'olefile' package: pip install 'cardscan[archives]'") from None
        fp = seekable_view(stream, limits)
        if fp is None:
            raise LimitError(f"nested OLE file bigger than max_buffer ({limits.max_buffer} bytes) not opened", "buffer")
        try:
            ole = olefile.OleFileIO(fp)
            paths = ole.listdir(streams=True, storages=False)
        except Exception as exc:  # noqa: BLE001 - olefile raises many kinds on damaged files
            raise DecodeError(f"corrupt OLE file ({safe_message(exc)})") from None
        names = {tuple(p) for p in paths}
        if ("EncryptionInfo",) in names and ("EncryptedPackage",) in names:
            raise EncryptedError("password-protected Office document (encrypted package); not readable without the password")
        if ("EncryptedSummary",) in names:
            raise EncryptedError("password-protected PowerPoint file; not readable without the password")
        try:
            if ("WordDocument",) in names:
                fib = ole.openstream("WordDocument").read(12)
                if len(fib) >= 12 and struct.unpack("<H", fib[10:12])[0] & 0x0100:
                    raise EncryptedError("password-protected Word document; not readable without the password")
            for book in ("Workbook", "Book"):
                if (book,) in names and _xls_encrypted(ole.openstream(book).read(1 << 16)):
                    raise EncryptedError("password-protected Excel workbook; not readable without the password")
        except EncryptedError:
            raise
        except Exception as exc:  # noqa: BLE001
            raise DecodeError(f"corrupt OLE file ({safe_message(exc)})") from None
        for path in paths:
            member = (_label(path),)
            try:
                size = ole.get_size(path)
                if size > limits.max_buffer:
                    yield Failure(member, "limit", f"OLE stream bigger than max_buffer ({limits.max_buffer} bytes); "
                                  "not read", "buffer")
                    continue
                data = ole.openstream(path).read()
            except Exception as exc:  # noqa: BLE001 - one damaged stream must not stop the others
                yield Failure(member, "decode", f"OLE stream unreadable ({safe_message(exc)})")
                continue
            yield Layer(member, BytesStream(data, counts=False), "ole")
