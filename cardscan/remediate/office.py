"""Masking card numbers in office text parts (docx, xlsx, pptx, OpenDocument).

The scan reports findings in office files at offsets in the *extracted text*
of a part (``customers.xlsx!xl/sharedStrings.xml``, one shared string per
line; see docs/containers.md), not in its XML. To mask one, the part is
parsed again with the very extractor the scan used, instrumented to record
where in the XML each piece of text came from (expat reports character data
with its byte position; a piece is "direct" when its UTF-8 bytes are exactly
the XML bytes there: no entity or character reference, no CR/LF folding).

For each finding the span in the extracted text is checked (fingerprint, as
for any span), then each digit to mask is traced back to its byte in a text
node and replaced by ``*`` there. Runs split by formatting (``<w:t>4111
1111</w:t><w:t>1111 1111</w:t>``) are fine: each digit maps to its own node.
Markup, attributes and every other part of the file are untouched, and the
part keeps its length.

A number cell in a spreadsheet (``<c><v>4111111111111111</v></c>``) cannot
hold ``************1111``: such a cell becomes an inline string cell with
the masked text (``<c t="inlineStr"><is><t>...</t></is></c>``), keeping its
reference and style. A cell with a formula is not changed (``unsupported``):
its value would come back on recalculation.

After masking, the part is extracted again and must read exactly as the old
text with the findings' spans masked (same length, same everything else);
otherwise nothing is changed and the findings are ``unsupported``. Digits
the mapping cannot reach (written as ``&#52;``, OpenDocument cell values
shown differently than stored) are ``unsupported`` too: never a guess.
"""
from __future__ import annotations

import io
import re
from dataclasses import dataclass
from typing import Any, Protocol

from ..decoders import office as dec
from ..findings import Finding, FingerprintKey
from . import spans


class Marker(Protocol):
    """What a part's redaction needs from its container's rewriter
    (:class:`~cardscan.remediate.containers.Rewriter`): the key, how many
    digits to keep, and where to record each finding's outcome."""

    key: FingerprintKey
    keep_last: int

    def mark(self, f: Finding, st: str, why: str = "") -> None: ...


class _Piece(str):
    """Extracted text that came from one place in the XML."""

    pos: int | None  # byte offset of its text in the XML (None: not a direct copy)
    cell: "_Cell | None"


@dataclass
class _Cell:
    """A spreadsheet number cell: where its start tag and <v> element are."""

    start: int
    v_start: int = -1
    v_end: int = -1
    formula: bool = False
    prefix: bytes = b""


def _piece(text: str, pos: int | None, cell: "_Cell | None" = None) -> _Piece:
    p = _Piece(text)
    p.pos = pos
    p.cell = cell
    return p


class _Mapped(dec._Text):
    """The scan's extractor, recording where each piece of text came from."""

    def __init__(self, kind: str, xml: bytes) -> None:
        super().__init__(kind)
        self.xml = xml
        self.parser: Any = None
        self.num: _Cell | None = None

    def start(self, tag: str, attrs: dict[str, str]) -> None:
        local = tag.rpartition(" ")[2]
        if self.kind == "sheet":
            if local == "c":
                self.num = _Cell(self.parser.CurrentByteIndex)
            elif self.num is not None and local == "v":
                self.num.v_start = self.parser.CurrentByteIndex
                raw = self.xml[self.num.v_start + 1:self.num.v_start + 64]
                self.num.prefix = raw[:raw.index(b"v")] if b"v" in raw else b""
            elif self.num is not None and local == "f":
                self.num.formula = True
        super().start(tag, attrs)

    def end(self, tag: str) -> None:
        local = tag.rpartition(" ")[2]
        if self.kind == "sheet" and self.num is not None and local == "v":
            at = self.parser.CurrentByteIndex
            self.num.v_end = self.xml.index(b">", at) + 1
        if self.kind == "sheet" and local == "c" and self.cell is not None:
            # As _Text.end, keeping the pieces (and, for numbers, the cell).
            self.stack.pop() if self.stack else None
            text = "".join(self.cell)
            if self.cell_type == "n":
                shown = dec.number_text(text)
                pieces: list[str] = [_piece(shown, None, self.num)]
            else:
                pieces = list(self.cell)
            if text:
                self.out.extend(pieces)
                self.out.append("\n")
            self.cell = None
            self.num = None
            return
        super().end(tag)

    def data(self, text: str) -> None:
        if self.skip or not self.collect:
            return
        pos = self.parser.CurrentByteIndex
        raw = text.encode("utf-8")
        direct = pos if self.xml[pos:pos + len(raw)] == raw and self.xml[pos:pos + 1] != b"&" else None
        super().data(_piece(text, direct))


def _extract(xml: bytes, kind: str) -> list[str]:
    h = _Mapped(kind, xml)
    p = dec._parser()
    p.buffer_text = False  # one callback per contiguous run: positions stay exact
    p.StartElementHandler = h.start
    p.EndElementHandler = h.end
    p.CharacterDataHandler = h.data
    h.parser = p
    p.Parse(xml, True)
    return h.out


def _reference_text(xml: bytes, kind: str) -> bytes:
    return b"".join(dec.extract(io.BytesIO(xml), kind))


def redact_part(xml: bytes, kind: str, findings: list[Finding], rw: Marker) -> bytes | None:
    """The part with the findings masked in its text nodes; None when nothing changes."""
    try:
        pieces = _extract(xml, kind)
    except Exception as exc:  # noqa: BLE001 - malformed XML, a DOCTYPE: the part is left alone
        for f in findings:
            rw.mark(f, "unsupported", f"the part could not be parsed again: {type(exc).__name__}")
        return None
    text = "".join(pieces).encode("utf-8", "replace")
    if text != _reference_text(xml, kind):
        for f in findings:
            rw.mark(f, "unsupported", "the part's text could not be mapped back to its XML")
        return None
    # Byte offset of each piece in the extracted text.
    starts, at = [], 0
    for p in pieces:
        starts.append(at)
        at += len(p.encode("utf-8", "replace"))

    def piece_at(i: int) -> int:
        lo, hi = 0, len(starts) - 1
        while lo < hi:
            mid = (lo + hi + 1) // 2
            if starts[mid] <= i:
                lo = mid
            else:
                hi = mid - 1
        return lo

    out = bytearray(xml)
    expected = bytearray(text)
    cells: dict[int, tuple[_Cell, int, set[int]]] = {}  # piece index -> cell, piece start, text offsets to mask
    todo: list[tuple[Finding, list[int]]] = []
    for f in findings:
        off, length = f.location.offset, f.location.length
        if off is None or length is None:
            rw.mark(f, "other", "the finding has no offset in the part's text")
            continue
        if f.encoding != "ascii":
            rw.mark(f, "unsupported", f"{f.encoding}-encoded text inside office parts is not redacted in place")
            continue
        span = bytes(text[off:off + length])
        st, why = spans.state(span, f, rw.key)
        if st != spans.PAN:
            rw.mark(f, st, why)
            continue
        where = [off + i for i in spans.positions(span, f, rw.keep_last)]
        reason = None
        for i in where:
            k = piece_at(i)
            p = pieces[k]
            cell = getattr(p, "cell", None)
            if cell is not None:
                if cell.formula or cell.v_start < 0 or cell.v_end < 0:
                    reason = "the number is in a formula cell; change the workbook in a spreadsheet program"
                    break
                cells.setdefault(k, (cell, starts[k], set()))[2].add(i)
                continue
            pos = getattr(p, "pos", None)
            if pos is None:
                reason = "part of the number is written in a way that cannot be masked in place (a character reference?)"
                break
            x = pos + (i - starts[k])
            if out[x] != text[i]:
                reason = "the part's text could not be mapped back to its XML"
                break
        if reason is not None:
            for _, _, idx in list(cells.values()):
                idx.difference_update(where)
            rw.mark(f, "unsupported", reason)
            continue
        todo.append((f, where))
    if not todo:
        return None
    for _, where in todo:
        for i in where:
            k = piece_at(i)
            p = pieces[k]
            if getattr(p, "cell", None) is None:
                out[p.pos + (i - starts[k])] = spans.STAR  # type: ignore[operator,attr-defined]
            expected[i] = spans.STAR
    # Number cells become inline strings, last first so earlier offsets stay valid.
    for k in sorted(cells, key=lambda k: cells[k][0].start, reverse=True):
        cell, first, idx = cells[k]
        if not idx:
            continue
        shown = bytearray(str(pieces[k]).encode("ascii", "replace"))
        for i in idx:
            shown[i - first] = spans.STAR
        _inline(out, cell, bytes(shown))
    new = bytes(out)
    try:
        check = _reference_text(new, kind)
    except Exception:  # noqa: BLE001
        check = b""
    if check != bytes(expected):
        for f, _ in todo:
            rw.mark(f, "unsupported", "masking the part did not give the expected text; the part was not changed")
        return None
    for f, _ in todo:
        rw.mark(f, spans.PAN)
    return new


_T_ATTR = re.compile(rb"""\st\s*=\s*("[^"]*"|'[^']*')""")


def _tag_end(xml: bytearray, start: int) -> int:
    """Offset of the ``>`` that ends the start tag at ``start`` (quotes skipped)."""
    i, quote = start, 0
    while i < len(xml):
        c = xml[i]
        if quote:
            if c == quote:
                quote = 0
        elif c in (34, 39):
            quote = c
        elif c == 62:
            return i
        i += 1
    raise ValueError("unterminated tag")


def _inline(xml: bytearray, cell: _Cell, shown: bytes) -> None:
    """Turn a number cell into an inline string cell showing ``shown``."""
    pre = cell.prefix
    xml[cell.v_start:cell.v_end] = b"<" + pre + b"is><" + pre + b"t>" + shown + b"</" + pre + b"t></" + pre + b"is>"
    end = _tag_end(xml, cell.start)
    tag = bytes(xml[cell.start:end])
    m = _T_ATTR.search(tag)
    if m:
        new = tag[:m.start()] + b' t="inlineStr"' + tag[m.end():]
    else:
        new = tag + b' t="inlineStr"'
    xml[cell.start:end] = new
