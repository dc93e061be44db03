"""PDF: the text of each page, document metadata, form fields, attachments.

Read with ``pypdf`` (the ``archives`` extra). One layer per page, member
``page-N`` (1-based), encoding ``pdf-text``: the page's extracted text, UTF-8;
offsets are offsets in that text. A page per layer, not one per document,
because "page 3" is what a person can go and look at. Pages without text
(scans) give no layer: an image holds no text to scan (no OCR). Besides pages:
``metadata`` (title, author, subject ...), ``form-fields`` (filled-in form
values: a card typed into a PDF form) and each embedded file as
``attachment:NAME``, opened again by the usual rules.

An encrypted PDF that opens with the empty password (owner-password only,
readable by anyone) is read; any other is a failure of kind ``encrypted``.
"""
from __future__ import annotations

import logging
from typing import Any, BinaryIO, ClassVar, Iterator

from ..errors import DecodeError, LimitError, MissingDependency
from ..privacy import safe_message
from .base import EncryptedError, Failure, Layer, Limits, Part, TextLayer
from .streams import BytesStream, seekable_view


def _pypdf() -> Any:
    try:
        import pypdf
    except ImportError:
        raise MissingDependency("PDF needs the 'pypdf' package: pip install 'cardscan[archives]'") from None
    # cardscan reports unreadable parts as failures itself; pypdf's own
    # warnings about damaged files would only repeat them on stderr.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    return pypdf


def _text(lines: list[str]) -> BytesStream:
    return BytesStream("\n".join(lines).encode("utf-8", "replace") + b"\n")


class PdfDecoder:
    name: ClassVar[str] = "pdf"
    priority: ClassVar[int] = 50

    def accepts(self, name: str, head: bytes) -> bool:
        # The header may follow some junk: readers look in the first 1024 bytes.
        return b"%PDF-" in head[:1024]

    def open(self, stream: BinaryIO, name: str, limits: Limits) -> Iterator[Part]:
        pypdf = _pypdf()
        errors = pypdf.errors
        fp = seekable_view(stream, limits)
        if fp is None:
            raise LimitError(f"nested PDF bigger than max_buffer ({limits.max_buffer} bytes) not opened", "buffer")
        try:
            reader = pypdf.PdfReader(fp, strict=False)
        except (errors.PyPdfError, ValueError, TypeError, KeyError, AttributeError, IndexError,
                RecursionError, OSError, AssertionError, ZeroDivisionError) as exc:
            raise DecodeError(f"corrupt PDF ({safe_message(exc)})") from None
        if reader.is_encrypted:
            try:
                ok = reader.decrypt("")
            except errors.DependencyError:
                raise EncryptedError("encrypted PDF (trying the empty password needs the 'cryptography' package)") from None
            except Exception:  # noqa: BLE001 - any failure here means: cannot decrypt
                ok = 0
            if not ok:
                raise EncryptedError("password-protected PDF; not readable without the password")

        lines = []
        try:
            for key, value in (reader.metadata or {}).items():
                lines.append(f"{str(key).lstrip('/')}: {value}")
        except Exception as exc:  # noqa: BLE001 - damaged metadata must not stop the pages
            yield Failure(("metadata",), "decode", safe_message(exc))
        if lines:
            yield TextLayer(("metadata",), _text(lines), "pdf-text")

        try:
            count = len(reader.pages)
        except Exception as exc:  # noqa: BLE001
            raise DecodeError(f"PDF page tree unreadable ({safe_message(exc)})") from None
        for i in range(count):
            member = (f"page-{i + 1}",)
            try:
                text = reader.pages[i].extract_text() or ""
            except Exception as exc:  # noqa: BLE001 - one bad page must not stop the others
                yield Failure(member, "decode", f"page text unreadable ({safe_message(exc)})")
                continue
            if text.strip():
                yield TextLayer(member, BytesStream(text.encode("utf-8", "replace")), "pdf-text")

        fields: list[str] = []
        try:
            for fname, fdef in (reader.get_fields() or {}).items():
                value = fdef.get("/V") if hasattr(fdef, "get") else None
                if value not in (None, ""):
                    fields.append(f"{fname}: {value}")
        except Exception as exc:  # noqa: BLE001
            yield Failure(("form-fields",), "decode", safe_message(exc))
        if fields:
            yield TextLayer(("form-fields",), _text(fields), "pdf-text")

        try:
            attachments = dict(reader.attachments)
        except Exception as exc:  # noqa: BLE001
            yield Failure(("attachments",), "decode", safe_message(exc))
            attachments = {}
        for aname, datas in attachments.items():
            for j, data in enumerate(datas):
                label = f"attachment:{aname}" if len(datas) == 1 else f"attachment:{aname}#{j + 1}"
                yield Layer((label,), BytesStream(bytes(data)), "pdf")
