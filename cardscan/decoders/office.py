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

Cell references (xlsx): a finding in a sheet's text is placed at its cell
(``Sheet1!B2``, the sheet's name from ``xl/workbook.xml`` and its
relationships; a bare ``B2`` when the zip is read forward and they are not
at hand). Text typed into Excel is stored once in ``xl/sharedStrings.xml``
and referred to by index from the cells that show it: a finding there is
placed at the cells that use that string (``Sheet1!B2,Sheet2!A7``, the first
three, then ``(+N more)``), found by reading the sheets again, only for a
workbook with such a finding and only when the zip can be read at random.
:func:`extract` records where each cell's (or string's) text starts, and
:func:`locator` turns lines of the extracted text into references: the
decoder hands it on with the layer (``Layer.locate``), the pipeline asks it
about its findings' lines (``Location.ref``).
"""
from __future__ import annotations

import re
import xml.parsers.expat as expat
from bisect import bisect_right
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
    #: xlsx: sheet part -> the sheet's name (``xl/worksheets/sheet1.xml`` -> ``Sheet1``), in workbook order.
    sheets: dict[str, str] = field(default_factory=dict)
    #: The zip's entry names (None when read forward).
    names: list[str] | None = None
    #: Opens a part again for reading (set by the zip decoder when it can seek).
    open_part: Callable[[str], Any] | None = None
    #: Shared-string index -> (first cells using it, how many), filled on demand.
    _shared: dict[int, tuple[list[str], int]] | None = None

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
                    office = Office(flavor, names=list(names))
                    if flavor == "xlsx" and read is not None:
                        office.sheets = _sheet_names(read)
                    return office
        if "mimetype" in present and read is not None:
            mime = (read("mimetype") or b"").strip()
            odf = _ODF_MIME.get(mime) or ("odf" if mime.startswith(b"application/vnd.oasis.opendocument") else None)
            if odf:
                office = Office(odf)
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


_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def _sheet_names(read: Callable[[str], bytes | None]) -> dict[str, str]:
    """Sheet part -> sheet name, from xl/workbook.xml and its relationships (empty if unreadable)."""
    ids: list[tuple[str, str]] = []  # (relationship id, name) in workbook order
    targets: dict[str, str] = {}

    def book(tag: str, attrs: dict[str, str]) -> None:
        if tag.rpartition(" ")[2] == "sheet":
            rid = attrs.get(f"{_RELS} id")
            if rid and attrs.get("name"):
                ids.append((rid, attrs["name"]))

    def rels(tag: str, attrs: dict[str, str]) -> None:
        if tag.rpartition(" ")[2] == "Relationship" and attrs.get("Id") and attrs.get("Target"):
            target = attrs["Target"]
            targets[attrs["Id"]] = target.lstrip("/") if target.startswith("/") else "xl/" + target

    for part, handler in (("xl/workbook.xml", book), ("xl/_rels/workbook.xml.rels", rels)):
        data = read(part)
        if not data:
            return {}
        p = _parser()
        p.StartElementHandler = handler
        try:
            p.Parse(data, True)
        except (expat.ExpatError, DecodeError):
            return {}
    return {targets[rid]: name for rid, name in ids if rid in targets}


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


_CELL = re.compile(r"([A-Za-z]{1,3})([0-9]{1,7})")


def column_letters(n: int) -> str:
    """1 -> ``A``, 26 -> ``Z``, 27 -> ``AA``."""
    out = ""
    while n > 0:
        n, r = divmod(n - 1, 26)
        out = chr(65 + r) + out
    return out


def _column_number(letters: str) -> int:
    n = 0
    for ch in letters.upper():
        n = n * 26 + ord(ch) - 64
    return n


class _Cells:
    """Where a sheet's cells are: ``<row r>`` and ``<c r>``, or counted when absent."""

    def __init__(self) -> None:
        self.row = 0
        self.col = 0

    def start_row(self, attrs: dict[str, str]) -> None:
        r = attrs.get("r", "")
        self.row = int(r) if r.isdigit() else self.row + 1
        self.col = 0

    def start_cell(self, attrs: dict[str, str]) -> str:
        m = _CELL.fullmatch(attrs.get("r", ""))
        if m:
            self.col, self.row = _column_number(m.group(1)), int(m.group(2))
        else:
            self.col += 1
        return f"{column_letters(self.col)}{self.row}"


class _Text:
    """SAX handlers that collect the visible text of one part kind."""

    WORD_TEXT = frozenset({"t", "delText", "instrText"})
    DRAWING_TEXT = frozenset({"t", "text"})
    DRAWING_LINES = frozenset({"p", "si", "comment", "threadedComment", "cm"})
    ODF_PARAS = frozenset({"p", "h"})

    def __init__(self, kind: str, refs: list[tuple[int, Any]] | None = None) -> None:
        self.kind = kind
        #: (first line of a cell's or shared string's text, its cell reference or string index).
        self.refs = refs
        self.lines = 0  # newlines written so far (sheet and sst parts, for refs)
        self.cells = _Cells()
        self.cell_ref = ""
        self.shared = 0
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
            elif local == "si":
                if self.refs is not None:
                    self.refs.append((self.lines + 1, self.shared))
                self.shared += 1
        elif k == "sheet":
            if local == "row":
                self.cells.start_row(attrs)
            elif local == "c":
                self.cell_type = attrs.get("t", "n")
                self.cell = []
                self.cell_ref = self.cells.start_cell(attrs)
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
                self.lines += 1
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
                    if self.refs is not None:
                        self.refs.append((self.lines + 1, self.cell_ref))
                    out.append(text + "\n")
                    self.lines += text.count("\n") + 1
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
            if self.kind == "sst":
                self.lines += text.count("\n")


def extract(stream: Any, kind: str, refs: list[tuple[int, Any]] | None = None) -> Iterator[bytes]:
    """The visible text of one XML part, as UTF-8 chunks, streaming.

    ``refs``, when given, receives ``(line, where)`` for each cell of a sheet
    (``where`` = ``B2``) and each string of ``sharedStrings.xml`` (``where`` =
    its index), in order: see :func:`locator`.
    """
    p = _parser()
    h = _Text(kind, refs)
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


# -- cell references ------------------------------------------------------------------------

#: Cells named for a shared string; more are counted.
SHOWN_CELLS = 3
#: Bytes of sheets read again to place shared strings (per workbook).
LOOKUP_BYTES = 256 << 20


def qualified(sheet: str | None, cell: str) -> str:
    """``Sheet1!B2``; a sheet name Excel would quote is quoted (``'My data'!B2``)."""
    if not sheet:
        return cell
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_.]*", sheet) and not _CELL.fullmatch(sheet):
        return f"{sheet}!{cell}"
    return "'" + sheet.replace("'", "''") + f"'!{cell}"


def locator(office: Office, part: str, kind: str, refs: list[tuple[int, Any]]
            ) -> Callable[[list[int | None]], list[str | None]] | None:
    """lines of the part's extracted text -> cell references (None where there is none).

    ``refs`` is the list :func:`extract` fills while the part is read; the
    locator is asked once the part has been scanned.
    """
    if kind == "sheet":
        sheet = office.sheets.get(part)

        def cells(lines: list[int | None]) -> list[str | None]:
            return [qualified(sheet, c) if c else None for c in _at(refs, lines)]
        return cells
    if kind == "sst":
        def shared(lines: list[int | None]) -> list[str | None]:
            indexes = _at(refs, lines)
            users = shared_users(office, {i for i in indexes if i is not None})
            out: list[str | None] = []
            for i in indexes:
                found = users.get(i) if i is not None else None
                if not found:
                    out.append(None)
                    continue
                first, count = found
                text = ",".join(first)
                out.append(text + (f" (+{count - len(first)} more)" if count > len(first) else ""))
            return out
        return shared
    return None


def _at(refs: list[tuple[int, Any]], lines: list[int | None]) -> list[Any]:
    starts = [line for line, _ in refs]
    out = []
    for line in lines:
        i = bisect_right(starts, line) - 1 if line is not None else -1
        out.append(refs[i][1] if i >= 0 else None)
    return out


def shared_users(office: Office, wanted: set[int]) -> dict[int, tuple[list[str], int]]:
    """For each wanted shared-string index: (the first cells that show it, how many do).

    Reads the sheets again (only possible when the zip can be read at random);
    empty when it cannot. Cached per workbook for the indexes asked so far.
    """
    if office._shared is None:
        office._shared = {}
    cache = office._shared
    todo = {i for i in wanted if i not in cache}
    if todo and office.open_part is not None:
        for i in todo:
            cache[i] = ([], 0)
        budget = [LOOKUP_BYTES]
        for part in _sheet_parts(office):
            if budget[0] <= 0:
                break
            try:
                _scan_shared(office.open_part(part), office.sheets.get(part), todo, cache, budget)
            except (expat.ExpatError, DecodeError, OSError, ValueError):
                continue  # that sheet stays unread: fewer cells named, never a failure
    return {i: cache[i] for i in wanted if i in cache and cache[i][1]}


def _sheet_parts(office: Office) -> list[str]:
    listed = list(office.sheets)
    others = sorted(n for n in office.names or () if n not in office.sheets and _is_sheet(n))
    return listed + others


def _is_sheet(name: str) -> bool:
    return re.fullmatch(r"xl/worksheets/sheet\d*\.xml", name) is not None


def _scan_shared(stream: Any, sheet: str | None, todo: set[int], cache: dict[int, tuple[list[str], int]],
                 budget: list[int]) -> None:
    """Note the cells of one sheet that show a wanted shared string."""
    if stream is None:
        return
    cells = _Cells()
    state = {"ref": "", "shared": False, "v": False, "text": []}

    def start(tag: str, attrs: dict[str, str]) -> None:
        local = tag.rpartition(" ")[2]
        if local == "row":
            cells.start_row(attrs)
        elif local == "c":
            state["ref"] = cells.start_cell(attrs)
            state["shared"] = attrs.get("t") == "s"
        elif local == "v" and state["shared"]:
            state["v"], state["text"] = True, []

    def end(tag: str) -> None:
        if tag.rpartition(" ")[2] == "v" and state["v"]:
            state["v"] = False
            value = "".join(state["text"]).strip()  # type: ignore[arg-type]
            if value.isdigit() and int(value) in todo:
                first, count = cache[int(value)]
                if len(first) < SHOWN_CELLS:
                    first.append(qualified(sheet, str(state["ref"])))
                cache[int(value)] = (first, count + 1)

    def data(text: str) -> None:
        if state["v"]:
            state["text"].append(text)  # type: ignore[union-attr,attr-defined]

    p = _parser()
    p.StartElementHandler, p.EndElementHandler, p.CharacterDataHandler = start, end, data
    while budget[0] > 0:
        chunk = stream.read(CHUNK)
        budget[0] -= len(chunk)
        p.Parse(chunk, not chunk)
        if not chunk:
            break
