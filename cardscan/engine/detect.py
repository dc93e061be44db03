"""Detection: where the card numbers and track data in bytes are.

The pure core of the engine: candidate finder -> validator -> context ->
filters, over a buffer, a stream or a byte range, giving :class:`Hit`s
(offset, length, kind, brand, digits, confidence, reasons, encoding,
line/column). A hit holds the digits and no key; it never leaves the
process: :mod:`cardscan.engine.scanner` turns hits into Findings (masked,
fingerprinted), and :mod:`cardscan.privacy` masks hits' spans in place
(:mod:`cardscan.engine.redact`). No I/O beyond reading a stream it is
given, no printing, no keys.
"""
from __future__ import annotations

import functools
import io
from typing import IO, Any, Iterator, Protocol, TypeVar

from . import context, filters, issuers, track
from .candidates import (
    ID_ALL_RANGES,
    ID_CARD_WINDOW,
    ID_DROP,
    NORANGE,
    SEP,
    UTF16,
    get_finder,
    lines_at,
    newlines,
)
from .chunker import Chunker
from .columns import HEADER_MAX, MAX_ROW_BACK, Columns, Field, Fields, sniff
from .config import DEFAULT_MIN_CONFIDENCE, ScanConfig
from .inline import encoded_offset, find_encoded, may_hold_encoded, unescape_context
from .validate import printed_outside_ranges, windows

#: What a number only a wide issuer row admits loses (issue 16 class 4):
#: bare, BASE - 15 stays below the default threshold; with a card word, a
#: card field or a printed grouping it is reported.
WIDE_RANGE_PENALTY = 15
#: Longest candidate span in bytes: 19 digits + 4 separators, doubled for UTF-16.
_MAX_SPAN = 46
#: Longest track data after a PAN (track 1 is at most 79 characters).
_MAX_TRACK = 120
#: The first read of a stream; later reads grow to chunk_size (see chunks).
_FIRST_READ = 1 << 16


def _big_endian(buf: bytes, a: int, b: int, base: int) -> bool:
    """Byte order of UTF-16 digits at buf[a], buf[a+2], ... buf[b-1].

    A NUL only before the first digit means big-endian, only after the last
    means little-endian. With NULs on both sides:

    * one NUL each side: inside UTF-16 text, where only alignment can tell:
      text starting at an even offset puts digits at odd offsets in UTF-16BE
      and at even ones in UTF-16LE;
    * an odd run before and exactly two after: a big-endian string and its
      two-byte terminator (``00 '5' 00 00``);
    * anything else (zero padding, a terminator after a little-endian string):
      little-endian, by far the more common order (Windows, x86 memory).
    """
    n = len(buf)
    before = 0
    while before < 8 and a - before - 1 >= 0 and buf[a - before - 1] == 0:
        before += 1
    after = 0
    while after < 8 and b + after < n and buf[b + after] == 0:
        after += 1
    if not before:
        return False
    if not after:
        return True
    if before == 1 and after == 1:
        return (base + a) % 2 == 1
    return after == 2 and before % 2 == 1


def chunks(fileobj: IO[bytes], size: int, limit: int | None = None) -> Iterator[bytes | memoryview]:
    """``fileobj`` in chunks of at most ``size`` bytes, ``limit`` in all.

    Where the file object has ``readinto``, chunks land in one reused buffer
    (valid until the next chunk): a new 1 MiB ``bytes`` per read took page
    faults costing ~30% of a whole scan of the benchmark log. The buffer
    starts at 64 KiB and grows while reads fill it, so a small file costs no
    1 MiB allocation (that alone tripled the per-file cost in pool workers).
    A grown buffer is placed at the stream position's offset in a page
    (:func:`_aligned`).
    """
    step = min(size, _FIRST_READ)
    view = memoryview(bytearray(step)) if hasattr(fileobj, "readinto") else None
    # A reader that hashes on a thread may hash a chunk in place
    # (pipeline.HashingReader.readinto_lent) when the chunk's bytes stay as
    # they are while it does: chunks go round ``lend`` buffers (the consumer
    # copies what it keeps and never writes into a chunk), so the thread
    # has the time of several chunks' scans for each.
    readinto = getattr(fileobj, "readinto_lent", None)
    lend = int(getattr(fileobj, "LEND", 1)) if readinto is not None else 1
    readinto = readinto or getattr(fileobj, "readinto", None)
    views: list[memoryview | None] = [view] + [None] * (lend - 1)
    turn = 0
    left = size if limit is None else limit
    while left > 0:
        want = step if limit is None else min(step, left)
        chunk: bytes | memoryview | None = None
        if view is not None:
            view = views[turn]
            if view is None:  # (the first pass round: this buffer is new)
                view = views[turn] = _aligned(step, _position(fileobj))
            turn = (turn + 1) % lend
            try:
                n = readinto(view[:want])  # type: ignore[misc]
            except (NotImplementedError, io.UnsupportedOperation):  # read() only
                view = None
            else:
                if n is not None:
                    chunk = view[:n]
        if chunk is None:
            chunk = fileobj.read(want)
        if not chunk:
            return
        if limit is not None:
            left -= len(chunk)
        yield chunk
        if len(chunk) == step < size:  # a big stream: read bigger
            step = min(size, step * 4)
            if view is not None:
                views = [_aligned(step, _position(fileobj))] + [None] * (lend - 1)
                turn = 0


def _position(fileobj: IO[bytes]) -> int:
    """Where the next read of ``fileobj`` starts (0 if it cannot say: only
    the copy's speed depends on it, see _aligned)."""
    try:
        return fileobj.tell()
    except (OSError, AttributeError, ValueError, io.UnsupportedOperation):
        return 0


#: Bytes in a memory page (the unit _aligned places buffers by).
_PAGE = 4096


def _aligned(size: int, pos: int) -> memoryview:
    """A writable buffer of ``size`` bytes whose address is ``pos`` modulo a page.

    The kernel copies a file's cached pages into the buffer a read names;
    on this AMD EPYC VM that copy ran 3-4x slower (0.14 s instead of 0.04 s
    per 256 MB, as much as the candidate finder) when the buffer's address
    was 1-31 bytes past the file offset's place in a page, which is where an
    allocation of 1 MiB lands (16 bytes into a page) when the allocator
    maps it afresh: the speed of a scan's reads depended on the allocator. An anonymous map starts on a page, so the buffer is placed at
    the position's offset into it; the reads after keep the alignment (their
    sizes are multiples of a page).
    """
    import mmap

    off = pos % _PAGE
    return memoryview(mmap.mmap(-1, size + off))[off:]


class Hit:
    """A decided candidate: where it is and what it is, digits included.

    Lives only inside the process, briefly: turned into a Finding (masked,
    fingerprinted) or into a masked span. Its repr never shows the digits.
    """

    __slots__ = (
        "offset", "length", "kind", "brand", "digits", "confidence", "reasons", "test_card", "encoding", "line_col",
    )

    offset: int
    length: int
    kind: str
    brand: str
    digits: str
    confidence: int
    reasons: list[str]
    test_card: bool
    encoding: str
    #: (line, column), 1-based line, column counted in bytes from the last newline.
    line_col: tuple[int, int]

    def __repr__(self) -> str:  # never show digits
        return f"Hit(offset={self.offset}, kind={self.kind}, brand={self.brand})"


class Detector:
    """Finds PANs and track data; holds only the frozen config and the finder.

    Build one per worker and reuse it. ``hits`` scans a buffer, ``stream``
    a stream pushed in chunks, ``range_hits`` one byte range of a big file.
    """

    #: detect's short way for a contiguous ASCII chain (no Window); tests
    #: turn it off on a detector to compare it with the way through windows().
    _plain_path = True

    def __init__(self, config: ScanConfig | None = None) -> None:
        self.config = config or ScanConfig()
        self._find = get_finder(self.config.backend)
        # Numbers behind an id field name never reach the threshold when it
        # is above MAX_WITH_NEGATIVE: the finder drops them without Python.
        self._id_fields: tuple[bytes, bytes, int] | None = context.id_field_words(self.config.context_window)
        # The same words find numbers outside every range behind card words
        # (class 5), with or without the id rule (tests turn it off: None).
        self._field_words = self._id_fields
        w = self.config.context_window
        # Inline-encoded text (base64) takes 4 bytes per 3 decoded ones, so the
        # margins cover the context window in encoded form too.
        wide = -(-w * 4 // 3) if self.config.inline else w
        self.margin_before = wide + _MAX_SPAN + 8
        self.margin_after = wide + 2 * _MAX_SPAN + _MAX_TRACK + 8
        if self.config.columns:
            # A row's start must be in the carried tail, and the header line
            # in the buffer before the first candidate is decided.
            self.margin_before = max(self.margin_before, MAX_ROW_BACK + _MAX_SPAN)
            self.margin_after = max(self.margin_after, HEADER_MAX)

    def hits(self, data: bytes | bytearray | memoryview, field: str | None = None) -> list[Hit]:
        """All hits in ``data``, in offset order.

        ``field``: the name of the field ``data`` is the whole value of (a SQL
        column, a form field), read as the field name of a number that fills
        it: ``merchant_id`` argues against a card, ``card_number`` for one.
        """
        buf = bytes(data)
        if field is not None and self.config.columns:
            fields: Fields | None = field_of(field)
        else:
            fields = sniff(buf) if self.config.columns else None  # (self.columns(buf), one call less)
        return self.detect(buf, 0, 0, len(buf), 0, -1, 0, columns=fields)

    def range_hits(self, fileobj: IO[bytes], start: int, end: int) -> tuple[list[Hit], "RangeStats"]:
        """Hits starting in bytes [start, end) of a seekable stream.

        Lets several workers share one big file: ranges tile the file, each
        worker reads a margin either side, and every PAN is decided by exactly
        one range. Lines are counted from ``start`` (a hit before the first
        newline of the range has line 1 and a column counted from ``start``);
        :meth:`RangeStats.fix` turns them into file lines once the ranges
        before are known.
        """
        columns = None
        if self.config.columns:
            fileobj.seek(0)
            columns = self.columns(fileobj.read(HEADER_MAX))
        read_from = max(0, start - self.margin_before)
        stop = end + self.margin_after
        fileobj.seek(read_from)
        chunker: Chunker[Hit] = Chunker(
            functools.partial(self.detect, columns=columns), self.margin_before, self.margin_after,
            buf_start=read_from, start=start, stop=end,
        )
        hits: list[Hit] = []
        stats = RangeStats(start, end)
        pos = read_from
        for chunk in chunks(fileobj, self.config.chunk_size, stop - read_from):
            a, b = max(start, pos) - pos, min(end, pos + len(chunk)) - pos
            if b > a:
                c, last = newlines(chunk, a, b)
                if c:
                    stats.newlines += c
                    stats.last_newline = pos + last
            hits += chunker.feed(chunk)
            pos += len(chunk)
        hits += chunker.finish()
        return hits, stats

    def stream(self) -> "HitStream":
        """A push-style scan: ``feed(chunk)`` then ``finish()``."""
        return HitStream(self)

    def columns(self, head: bytes | bytearray) -> Columns | None:
        """The column names of a stream that starts with ``head``, if any."""
        return sniff(head) if self.config.columns else None

    def detect(
        self,
        buf: bytes,
        base: int,
        lo: int,
        hi: int,
        lines: int,
        last_nl: int,
        count_from: int,
        floor: int | None = None,
        inline: bool | None = None,
        columns: Fields | None = None,
    ) -> list[Hit]:
        """Decide candidates whose absolute start is in [lo, hi).

        ``floor`` overrides min_confidence (inline decoding scores decoded text
        at 0 and applies the threshold after combining with the raw context).
        ``columns``: what names the field of a value: the stream's header if
        it is delimited text, or the field ``buf`` is the value of.
        """
        cfg = self.config
        floor = cfg.min_confidence if floor is None else floor
        rel_lo, rel_hi = lo - base, hi - base
        n = len(buf)
        hits: list[Hit] = []
        # With columns, a card-like column name can outweigh an id word in
        # the row, which the finder's rule does not know: every chain is scored.
        # Luhn-valid numbers outside every issuer range come back (NORANGE)
        # where a card field may name them: a card word just before, or a
        # card-named SQL field. (In delimited text a row holds many numbers:
        # a card-named column does not make each go through Python.)
        if columns is not None:
            # In delimited text a number outside every range could only be
            # named by a field written inside a cell: not worth a look at each.
            mode = ID_ALL_RANGES if isinstance(columns, Field) and _names_card_field(columns) else 0
        else:
            drop = self._id_fields is not None and floor > context.MAX_WITH_NEGATIVE
            mode = ID_CARD_WINDOW | (ID_DROP if drop else 0)
        for cs, ce, flags in self._find(buf, self._field_words + (mode,)):
            if ce <= rel_lo or cs >= rel_hi:
                continue
            if not flags and self._plain_path:
                # Contiguous ASCII digits in some issuer range, Luhn-checked by
                # the finder (the common case: one card in a log line).
                # windows() would give the whole chain or nothing: the row
                # check_range finds for it, Luhn known; no Window is made.
                if not rel_lo <= cs < rel_hi:
                    continue
                text = buf[cs:ce].decode("ascii")
                row = issuers.match(text)
                if row is None:
                    continue
                h = self._judge(buf, cs, ce, text, row.issuer.brand, issuers.is_test_card(text), False, False,
                                row.width == "wide", False, n, base, floor, columns)
                if h is not None:
                    h.offset += base
                    hits.append(h)
                continue
            utf16 = bool(flags & UTF16)
            if utf16 and not cfg.utf16:
                continue
            stride = 2 if utf16 else 1
            text = (buf[cs:ce:2] if utf16 else buf[cs:ce]).decode("ascii")
            if flags & NORANGE:
                if not rel_lo <= cs < rel_hi:
                    continue
                h = self._judge(buf, cs, ce, text, NO_BRAND, False, False, False, False, False, n, base, floor,
                                columns, no_range=True)
                if h is not None:
                    h.offset += base
                    hits.append(h)
                continue
            # A chain long enough for two readings (16 + CVV, or 19 digits):
            # a field named as a card number picks the longest (validate.py).
            longest = bool(flags & SEP) and len(text) >= 20 and self._card_number_field(buf, cs, ce, utf16, columns)
            # The finder has Luhn-checked contiguous chains already.
            found = windows(text, bool(flags & SEP), not flags & SEP, longest)
            if not found and flags & SEP and not utf16 and rel_lo <= cs < rel_hi:
                # A whole printed number outside every issuer range
                # (``card_number=7083 2000 0000 0000``): a card field decides.
                w = printed_outside_ranges(text)
                if w is not None:
                    h = self._judge(buf, cs, ce, w.digits, w.brand, False, w.grouped, w.in_longer_run, w.wide, False,
                                    n, base, floor, columns, no_range=True)
                    if h is not None:
                        h.offset += base
                        hits.append(h)
            for w in found:
                a = cs + w.start * stride
                if not rel_lo <= a < rel_hi:
                    continue
                b = cs + (w.end - 1) * stride + 1
                h = self._judge(buf, a, b, w.digits, w.brand, w.test_card, w.grouped, w.in_longer_run, w.wide, utf16,
                                n, base, floor, columns)
                if h is not None:
                    h.offset += base
                    hits.append(h)
        if (cfg.inline if inline is None else inline) and may_hold_encoded(buf):
            hits += self._inline(buf, base, rel_lo, rel_hi, hits)
        if not hits:
            return hits
        if len(hits) > 1:
            hits.sort(key=_offset)
        # Line and column of each hit: newlines counted in one pass from
        # count_from up to each hit (hits before it count from there).
        start = max(0, count_from - base)
        offsets = [max(h.offset - base, start) for h in hits]
        for h, (count, last) in zip(hits, lines_at(buf, offsets, start)):
            h.line_col = (lines + count + 1, h.offset - (base + last if count else last_nl))
        return hits

    def _card_number_field(self, buf: bytes, cs: int, ce: int, utf16: bool, columns: Fields | None) -> bool:
        """The value at buf[cs:ce] is the whole of a field named as a card
        number, not as a card and its security code (``card_and_cvc``)."""
        if utf16:
            return False
        name = columns.field_at(buf, cs, ce) if columns is not None else None
        if name is None:
            raw = bytes(buf[max(0, cs - self.config.context_window):cs])
            name, kind = context.own_field(raw)
            if kind != context.FIELD:
                return False
        return context.field_evidence(name) > 0 and not context.says_cvv(name)

    def _inline(self, buf: bytes, base: int, rel_lo: int, rel_hi: int, raw: list[Hit]) -> list[Hit]:
        """PANs inside base64 blobs, percent-encoding and HTML entities.

        Each is reported at the encoded text of its own digits (offset and
        length in ``buf``), decided by where those encoded digits start, so a
        blob seen by two overlapping buffers is reported once. Confidence is
        the better of the decoded text's context and the raw bytes' context.
        """
        out: list[Hit] = []
        win = self.config.context_window
        for s0, e0, decoded, enc in find_encoded(buf):
            if e0 <= rel_lo or s0 >= rel_hi:
                continue
            for h in self.detect(decoded, 0, 0, len(decoded), 0, -1, 0, floor=0, inline=False):
                p = encoded_offset(buf, s0, enc, h.offset)
                if not rel_lo <= p < rel_hi:
                    continue
                q = min(e0, max(p + 1, encoded_offset(buf, s0, enc, h.offset + h.length)))
                if enc == "base64":
                    q = min(e0, s0 + -(-(h.offset + h.length) * 4 // 3))
                # The same digits already found plainly inside the span.
                if any(r.digits == h.digits and r.offset < base + q and base + p < r.offset + r.length for r in raw):
                    continue
                # A number outside every range keeps its decoded card field's
                # judgement: the raw bytes around a blob name no field of it.
                if h.kind == "pan" and "no_issuer_range" not in h.reasons:
                    raw_before = unescape_context(bytes(buf[max(0, p - win):p]))
                    after = unescape_context(bytes(buf[q:q + win]).lower())
                    ctx = context.Context(raw_before.lower(), after, None, raw_before)
                    value, reasons = context.score(ctx, "grouped" in h.reasons)
                    # The penalties of the decoded reading (a slice of a longer run of
                    # groups, a phone, wide range, low entropy) hold whatever the raw
                    # context says: "q=1234+5678+9012+3456" is no card.
                    kept = [r for r in h.reasons if r in _KEPT_PENALTIES or r in ("test_card", "low_entropy")]
                    value -= sum(_KEPT_PENALTIES.get(r, 0) for r in kept)
                    if "low_entropy" in kept:
                        value -= context.low_entropy_cut(value)
                    if "test_card" in kept:
                        value = max(value, DEFAULT_MIN_CONFIDENCE)
                    # Only a base64 blob's decoded text has words of its own: the
                    # other spans are the number alone, so the raw bytes' context
                    # is all there is (an id field's number is no card).
                    if value > h.confidence or enc != "base64":
                        h.confidence = max(0, min(100, value))
                        h.reasons = reasons + kept
                h.reasons.append("encoded_" + enc)
                if h.confidence < self.config.min_confidence:
                    continue
                # No-break spaces are separators in plain text: the span's digits are
                # its own bytes, so it is checked and masked as ascii.
                h.offset, h.length, h.encoding = base + p, q - p, "ascii" if enc == "nbsp" else enc
                out.append(h)
        return out

    def _judge(
        self, buf: bytes, a: int, b: int, digits: str, brand: str, test_card: bool, grouped: bool,
        in_longer_run: bool, wide: bool, utf16: bool, n: int, base: int, floor: int,
        columns: Fields | None = None, no_range: bool = False,
    ) -> Hit | None:
        """The hit for the number ``digits`` at buf[a:b], or None: what a
        :class:`~cardscan.engine.validate.Window` says of it given as its
        fields (``test_card``: is_test_card of the digits; one outside every
        range is asked here)."""
        cfg = self.config
        if no_range:
            test_card = issuers.is_test_card(digits)
        if test_card and not cfg.test_cards:
            return None
        h = Hit()
        h.digits, h.brand, h.test_card = digits, brand, test_card
        if no_range:
            h.encoding = "ascii"
            h.offset, h.length = a, b - a
        elif utf16:
            be = _big_endian(buf, a, b, base)
            h.encoding = "utf-16be" if be else "utf-16le"
            # The span is the digits' code units: a BE one's NUL is before its
            # digit (always there: _big_endian saw it), an LE one's after it,
            # where the data may end first or another byte follow (digits
            # joined by NULs with none outside: the order is a guess).
            # Counting that byte put the span past the data's end or over a
            # byte of something else, and remediation called it another number.
            if be:
                h.offset, h.length = a - 1, b - a + 1
            else:
                h.offset, h.length = a, b - a + (b < n and buf[b] == 0)
        else:
            h.encoding = "ascii"
            h.offset, h.length = a, b - a
            t = track.detect(buf, a, b, 0)
            if t is not None:
                h.kind, ts, te = t
                h.offset, h.length = ts, te - ts
                h.confidence, h.reasons = context.TRACK, ["issuer_luhn", "track_data"]
                return h
        h.kind = "pan"
        win = cfg.context_window
        raw = bytes(buf[max(0, a - win):a])
        if utf16:
            raw = raw.replace(b"\x00", b"")
        raw = unescape_context(raw)  # %22card%22%3A%22 reads as "card":"
        before = raw.lower()
        field = columns.field_at(buf, a, b) if columns is not None and not utf16 else None
        # (What context.evidence(Context(before, b"", field, raw)) gives, without that Context.)
        ev = context.evidence_of(raw, field)
        # Outside every issuer range: only the number's own card field makes
        # it a candidate (store, gift and sandbox cards), or its being a
        # published test card (always reported).
        if no_range and not test_card and not context.names_card(ev):
            return None
        # Most structurally valid non-cards are ids in their own id field;
        # they cannot reach the threshold, so skip the rest of the work for them.
        if floor > context.MAX_WITH_NEGATIVE and not test_card and context.names_id(ev):
            return None
        after = buf[b:b + win]
        if utf16:
            after = after.replace(b"\x00", b"")
        after = unescape_context(after.lower())
        value, reasons = context.score_of(before, after, grouped, ev)
        if no_range:
            value -= 30
            reasons[0] = "no_issuer_range"  # Luhn and length only: no issuer_luhn
        if not utf16 and filters.is_hex_token(buf, a, b, 0, n):
            value -= 45
            reasons.append("hex_token")
        if filters.is_phone(before):
            value -= 40
            reasons.append("phone")
        if in_longer_run:
            value -= 25
            reasons.append("longer_group_run")
        if wide:
            # Only a wide catch-all row (Maestro 50/56-69, UnionPay at 14-15
            # digits) admits it: reported with card evidence, not bare.
            value -= WIDE_RANGE_PENALTY
            reasons.append("wide_range")
        # Last: low entropy lowers what the other rules left, but never on
        # its own below the default threshold (published sandbox numbers).
        if not test_card and filters.is_low_entropy(digits):
            value -= context.low_entropy_cut(value)
            reasons.append("low_entropy")
        if test_card:
            # Issue 16: a published test card is always reported at the
            # default threshold, whatever else lowered it (its reasons stay).
            value = max(value, DEFAULT_MIN_CONFIDENCE)
            reasons.append("test_card")
        h.confidence = max(0, min(100, value))
        h.reasons = reasons
        if h.confidence < floor:
            return None
        return h


#: What _judge takes off for these reasons, kept when an inline hit is re-scored.
_KEPT_PENALTIES = {"longer_group_run": 25, "phone": 40, "hex_token": 45, "wide_range": WIDE_RANGE_PENALTY}


def _offset(h: Hit) -> int:
    return h.offset


#: The brand of a number outside every issuer range (reason no_issuer_range).
NO_BRAND = "unknown"


def field_of(name: str) -> Field:
    """The field a SQL column or form field ``name`` names, as :meth:`Detector.hits` reads it."""
    return Field(name.lower().encode("utf-8", "replace"))


def is_card_field(name: str) -> bool:
    """Whether :meth:`Detector.hits` reads field ``name`` as a card field (where
    it reports Luhn-valid numbers outside every issuer range: the SQL bulk
    reader flags such rows only there)."""
    return _names_card_field(field_of(name))


@functools.lru_cache(maxsize=64)
def _names_card_field(columns: Fields) -> bool:
    """Some column (or the one field) is named as a card field."""
    names = columns.names if isinstance(columns, Columns) else (columns.name,)
    return any(context.field_evidence(n) > 0 for n in names)


class _Located(Protocol):
    @property
    def location(self) -> Any: ...

    def with_location(self, **changes: Any) -> Any: ...


F = TypeVar("F", bound=_Located)


class RangeStats:
    """Newlines in one byte range, to turn range-relative lines into file lines."""

    __slots__ = ("start", "end", "newlines", "last_newline")

    def __init__(self, start: int, end: int) -> None:
        self.start, self.end = start, end
        self.newlines = 0
        self.last_newline: int | None = None

    @staticmethod
    def fix(findings: list[F], lines_before: int, last_newline_before: int) -> list[F]:
        """File lines/columns for findings of a range, given what precedes it.

        ``findings``: anything with a ``location`` (line, column, offset) and
        ``with_location(**changes)``, i.e. :class:`~cardscan.findings.Finding`;
        ``lines_before``: newlines in the file before the range start;
        ``last_newline_before``: offset of the last of them (-1 if none).
        """
        out: list[F] = []
        for f in findings:
            loc = f.location
            if loc.line is None or loc.offset is None:
                out.append(f)
                continue
            if loc.line == 1:
                col = loc.offset - last_newline_before
            else:
                col = loc.column
            out.append(f.with_location(line=loc.line + lines_before, column=col))
        return out


class HitStream:
    """Push-style streaming detection (:meth:`Detector.stream`)."""

    def __init__(self, detector: Detector) -> None:
        self._detector = detector
        self._chunker: Chunker[Hit] = Chunker(self._process, detector.margin_before, detector.margin_after)
        self._sniffed = False
        self._columns: Columns | None = None

    def _process(self, buf: bytes, base: int, lo: int, hi: int, lines: int, last_nl: int,
                 count_from: int) -> list[Hit]:
        if not self._sniffed:
            # The first call sees at least HEADER_MAX bytes or the whole stream.
            self._sniffed = True
            self._columns = self._detector.columns(buf) if base == 0 else None
        return self._detector.detect(buf, base, lo, hi, lines, last_nl, count_from, columns=self._columns)

    @property
    def bytes_seen(self) -> int:
        return self._chunker.bytes_seen

    def feed(self, chunk: bytes | bytearray | memoryview) -> list[Hit]:
        return self._chunker.feed(chunk)

    def finish(self) -> list[Hit]:
        return self._chunker.finish()
