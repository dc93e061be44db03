"""Office documents: the text a person sees in docx/xlsx/pptx and OpenDocument.

Office files are zips of XML, so the zip decoder (archives.py) opens them and
asks this module which parts hold text (:func:`detect`, :func:`part_kind`).
A text part becomes a layer of *extracted text*: UTF-8, one paragraph (or
spreadsheet cell, or shared string) per line, text runs joined in document
order, so a number Word split across runs (``<w:t>4111 1111</w:t><w:t>1111
1111</w:t>``) reads as one. Offsets in such a layer are offsets in that
extracted text, not in the XML; the member chain ends in the part name
(``customers.xlsx!xl/sharedStrings.xml``) and the layer's encoding says so
(``docx-text``, ``xlsx-text``, ``pptx-text``, ``odt-text`` ...).

Spreadsheet numbers: a numeric cell's value is written out as digits
(``4.111111111111111E+15`` -> ``4111111111111111``), so a PAN stored as a
number is found whenever the file holds all its digits. A number typed into
Excel keeps only 15 significant digits: the 16th digit of such a "PAN" is
gone from the file (it reads ``...1110``), nothing can recover it, and
cardscan does not guess.

Every other part of the zip (embedded objects, media, custom XML,
relationships) is an ordinary zip member: scanned raw, opened again if it is
a container (an xlsx embedded in a docx).
"""
from __future__ import annotations

import re
import xml.parsers.expat as expat
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any, Callable, Iterator

from ..errors import DecodeError
from .base import CHUNK

OOXML = {"word/document.xml": "docx", "xl/workbook.xml": "xlsx", "ppt/presentation.xml": "pptx"}
_EXT = {
    ".docx": "docx", ".docm": "docx", ".dotx": "docx", ".dotm": "docx",
    ".xlsx": "xlsx", ".xlsm": "xlsx", ".xltx": "xlsx", ".xltm": "xlsx",
    ".pptx": "pptx", ".pptm": "pptx", ".potx": "pptx", ".ppsx": "pptx",
    ".odt": "odt", ".ott": "odt", ".ods": "ods", ".ots": "ods", ".odp": "odp", ".otp": "odp", ".odg": "odg",
}
_ODF_MIME = {
    b"application/vnd.oasis.opendocument.text": "odt",
    b"application/vnd.oasis.opendocument.spreadsheet": "ods",
    b"application/vnd.oasis.opendocument.presentation": "odp",
    b"application/vnd.oasis.opendocument.graphics": "odg",
}

_PARTS: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"word/(document|footnotes|endnotes|comments\w*|header\d*|footer\d*|glossary/document)\.xml"), "word"),
    (re.compile(r"xl/sharedStrings\.xml"), "sst"),
    (re.compile(r"xl/worksheets/sheet\d*\.xml"), "sheet"),
    (re.compile(r"xl/(comments\d*|threadedComments/[^/]+)\.xml"), "drawing"),
    (re.compile(r"ppt/(slides/slide|notesSlides/notesSlide|comments/\w+)\d*\.xml"), "drawing"),
    (re.compile(r"(content|styles)\.xml"), "odf"),
]


@dataclass
class Office:
    """What the zip holds: ``flavor`` (docx, xlsx, pptx, odt, ods, odp ...)."""

    flavor: str
    #: OpenDocument entries the manifest marks as encrypted.
    encrypted: set[str] = field(default_factory=set)

    @property
    def encoding(self) -> str:
        return f"{self.flavor}-text"


def detect(names: list[str] | None, read: Callable[[str], bytes | None] | None, head: bytes, name: str) -> Office | None:
    """The office flavor of a zip, from its entry names (or, read forward, its head and name)."""
    if names is not None:
        present = set(names)
        if "[Content_Types].xml" in present:
            for part, flavor in OOXML.items():
                if part in present:
                    return Office(flavor)
        if "mimetype" in present and read is not None:
            mime = (read("mimetype") or b"").strip()
            flavor = _ODF_MIME.get(mime) or ("odf" if mime.startswith(b"application/vnd.oasis.opendocument") else None)
            if flavor:
                office = Office(flavor)
                manifest = read("META-INF/manifest.xml") if "META-INF/manifest.xml" in present else None
                if manifest:
                    office.encrypted = _odf_encrypted(manifest)
                return office
        return None
    # Forward reading: the first entry's name (at offset 30 of a local header) and the file name.
    if head[30:38] == b"mimetype":
        for mime, flavor in _ODF_MIME.items():
            if head[38:38 + len(mime)] == mime:
                return Office(flavor)
    low = name.lower()
    for ext, flavor in _EXT.items():
        if low.endswith(ext):
            return Office(flavor)
    if head[30:49] == b"[Content_Types].xml":
        return Office("ooxml")
    return None


def _odf_encrypted(manifest: bytes) -> set[str]:
    out: set[str] = set()
    current: list[str | None] = [None]

    def start(tag: str, attrs: dict[str, str]) -> None:
        local = tag.rpartition(" ")[2]
        if local == "file-entry":
            current[0] = next((v for k, v in attrs.items() if k.endswith(" full-path")), None)
        elif local == "encryption-data" and current[0]:
            out.add(current[0])

    p = _parser()
    p.StartElementHandler = start
    try:
        p.Parse(manifest, True)
    except (expat.ExpatError, DecodeError):
        pass
    return out


def part_kind(office: Office, part: str) -> str | None:
    """Which text extractor reads ``part``, or None for a part scanned as it is."""
    for pattern, kind in _PARTS:
        if pattern.fullmatch(part):
            if (kind == "odf") != office.flavor.startswith("od"):
                return None
            return kind
    return None


def encoding_for(office: Office, part: str) -> str:
    if office.flavor == "ooxml":  # read forward without a name: tell by the part's folder
        top = part.split("/", 1)[0]
        return {"word": "docx", "xl": "xlsx", "ppt": "pptx"}.get(top, "ooxml") + "-text"
    return office.encoding


# -- extraction ------------------------------------------------------------------------

_NUMBER = re.compile(r"[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?")


def number_text(value: str) -> str:
    """A numeric cell as the digits it holds: ``4.111111111111111E+15`` -> ``4111111111111111``.

    Integral values are written without exponent or decimal point; anything
    else is kept as it is stored.
    """
    v = value.strip()
    if not _NUMBER.fullmatch(v) or not ("e" in v or "E" in v or "." in v):
        return v
    try:
        d = Decimal(v)
    except InvalidOperation:  # pragma: no cover - the regex admits only valid numbers
        return v
    if d != d.to_integral_value() or d.adjusted() > 30:
        return v
    return str(int(d))


def _digits(s: str) -> str:
    return "".join(c for c in s if c.isdigit())


def _forbid(*_: Any) -> None:
    raise DecodeError("DOCTYPE or entity declaration in office XML (not allowed)")


def _parser() -> Any:
    p = expat.ParserCreate(namespace_separator=" ")
    # Office XML never declares a DOCTYPE or entities: refusing them stops
    # entity-expansion bombs and external entities outright.
    p.StartDoctypeDeclHandler = _forbid
    p.EntityDeclHandler = _forbid
    p.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    p.buffer_text = True
    p.buffer_size = CHUNK
    return p


class _Text:
    """SAX handlers that collect the visible text of one part kind."""

    WORD_TEXT = frozenset({"t", "delText", "instrText"})
    DRAWING_TEXT = frozenset({"t", "text"})
    DRAWING_LINES = frozenset({"p", "si", "comment", "threadedComment", "cm"})
    ODF_PARAS = frozenset({"p", "h"})

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self.out: list[str] = []
        self.stack: list[str] = []
        self.collect = 0
        self.skip = 0
        self.cell_type = "n"
        self.cell: list[str] | None = None
        self.cell_value: str | None = None
        self.cell_mark = 0

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        local = tag.rpartition(" ")[2]
        parent = self.stack[-1] if self.stack else ""
        self.stack.append(local)
        k = self.kind
        out = self.out
        if k == "word":
            if local in self.WORD_TEXT:
                self.collect += 1
            elif parent == "r" and local == "tab":
                out.append("\t")
            elif parent == "r" and local in ("br", "cr"):
                out.append("\n")
            elif parent == "r" and local == "noBreakHyphen":
                out.append("-")
            elif local == "fldSimple":
                instr = next((v for a, v in attrs.items() if a.rpartition(" ")[2] == "instr"), "")
                if instr:
                    out.append(instr.strip() + " ")
        elif k == "sst":
            if local == "rPh":
                self.skip += 1
            elif local == "t":
                self.collect += 1
        elif k == "sheet":
            if local == "c":
                self.cell_type = attrs.get("t", "n")
                self.cell = []
            elif local == "v" and self.cell_type not in ("s", "b", "e"):
                self.collect += 1
            elif local == "t" and "is" in self.stack:
                self.collect += 1
            elif local == "rPh":
                self.skip += 1
        elif k == "drawing":
            if local in self.DRAWING_TEXT:
                self.collect += 1
            elif local == "br":
                out.append("\n")
        elif k == "odf":
            if local in self.ODF_PARAS:
                self.collect += 1
            elif local in ("creator", "date"):  # annotation metadata, not text
                self.skip += 1
            elif self.collect and local == "s":
                count = next((v for a, v in attrs.items() if a.rpartition(" ")[2] == "c"), "1")
                out.append(" " * min(int(count) if count.isdigit() else 1, 1000))
            elif self.collect and local == "tab":
                out.append("\t")
            elif self.collect and local == "line-break":
                out.append("\n")
            elif local == "table-cell":
                self.cell_value = next((v for a, v in attrs.items() if a.endswith(" value")), None)
                self.cell_mark = len(out)

    def end(self, tag: str) -> None:
        local = self.stack.pop() if self.stack else tag.rpartition(" ")[2]
        k = self.kind
        out = self.out
        if k == "word":
            if local in self.WORD_TEXT:
                self.collect -= 1
            elif local == "p":
                out.append("\n")
        elif k == "sst":
            if local == "rPh":
                self.skip -= 1
            elif local == "t":
                self.collect -= 1
            elif local == "si":
                out.append("\n")
        elif k == "sheet":
            if local == "rPh":
                self.skip -= 1
            elif local in ("v", "t") and self.collect:
                self.collect -= 1
            elif local == "c" and self.cell is not None:
                text = "".join(self.cell)
                if self.cell_type == "n":
                    text = number_text(text)
                if text:
                    out.append(text + "\n")
                self.cell = None
        elif k == "drawing":
            if local in self.DRAWING_TEXT:
                self.collect -= 1
            elif local in self.DRAWING_LINES:
                out.append("\n")
        elif k == "odf":
            if local in self.ODF_PARAS:
                self.collect -= 1
                out.append("\n")
            elif local in ("creator", "date"):
                self.skip -= 1
            elif local == "table-cell":
                value = self.cell_value
                if value:
                    # The cell's full value, where its displayed text does not show it all.
                    v = number_text(value)
                    seen = _digits("".join(out[self.cell_mark:]))
                    if _digits(v) and _digits(v) not in seen:
                        out.append(v + "\n")
                self.cell_value = None

    def data(self, text: str) -> None:
        if self.skip or not self.collect:
            return
        if self.cell is not None:
            self.cell.append(text)
        else:
            self.out.append(text)


def extract(stream: Any, kind: str) -> Iterator[bytes]:
    """The visible text of one XML part, as UTF-8 chunks, streaming."""
    p = _parser()
    h = _Text(kind)
    p.StartElementHandler = h.start
    p.EndElementHandler = h.end
    p.CharacterDataHandler = h.data
    while True:
        chunk = stream.read(CHUNK)
        error = None
        try:
            p.Parse(chunk, not chunk)
        except expat.ExpatError as exc:
            error = DecodeError(f"malformed XML ({expat.ErrorString(exc.code)}, line {exc.lineno})")
        # Keep an open cell's text back (odf compares it at the cell's end).
        keep = h.cell_mark if h.cell_value is not None else len(h.out)
        if keep:
            text = "".join(h.out[:keep])
            del h.out[:keep]
            h.cell_mark = 0
            if text:
                yield text.encode("utf-8", "replace")
        if error is not None:
            raise error
        if not chunk:
            if h.out:
                yield "".join(h.out).encode("utf-8", "replace")
            return
