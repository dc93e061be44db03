"""The inline allow pragma, in every comment syntax, and the near misses."""
from __future__ import annotations

import io

import pytest
from hypothesis import given, settings, strategies as st

from cardscan import Scanner
from cardscan.allow import (
    MAX_LINE,
    LineWatch,
    allowed_at,
    allowed_in_file,
    honoured,
    line_allows,
    line_allows_next,
    may_allow,
    split_seekable,
    verdict,
)
from cardscan.engine.config import ScanConfig
from cardscan.findings import Location
from cardscan.testing import make_pan

ALLOWED = [
    "x = '{pan}'  # cardscan: allow",
    "const pan = '{pan}'; // cardscan: allow",
    "<td>{pan}</td> <!-- cardscan: allow -->",
    "card = {pan} /* cardscan: allow */",
    "SELECT '{pan}'; -- cardscan: allow",
    "card={pan} ; cardscan: allow",
    "{pan} % cardscan: allow",
    "x = \"{pan}\" ' cardscan: allow",
    "REM cardscan: allow {pan}",
    "x = {pan}  #CardScan:Allow",
    "x = {pan}  #  cardscan :  allow  (fixture for the refund tests)",
    "# cardscan: allow\tbefore the number {pan}",
]

NOT_ALLOWED = [
    "x = '{pan}'",
    "x = '{pan}'  # cardscan allow",  # no colon
    "x = '{pan}'  # cardscan: allowed-ish",  # the word must end
    "x = '{pan}'  # cardscan: deny",
    "x,{pan},cardscan: allow",  # a data value, not a comment
    "x = '{pan}'  # cardscan: al low",
    "x = '{pan}'  # cardscan: allow-next-line",  # the next line, not this one
    "x = '{pan}'  # cardscan: allow-nextline",
    "x = '{pan}'  # cardscan: allow_me",
]


@pytest.mark.parametrize("template", ALLOWED)
def test_pragma_in_each_comment_syntax(template: str, rng) -> None:
    pan = make_pan("455673", 16, rng)
    line = template.format(pan=pan).encode()
    assert line_allows(line)
    at = line.index(pan.encode())
    assert allowed_at(line, at, len(pan))


@pytest.mark.parametrize("template", NOT_ALLOWED)
def test_near_misses_do_not_allow(template: str, rng) -> None:
    pan = make_pan("455673", 16, rng)
    line = template.format(pan=pan).encode()
    assert not line_allows(line)


def test_pragma_applies_to_its_own_line_only(rng) -> None:
    a, b = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    data = f"card = {a}  # cardscan: allow\ncard = {b}\n".encode()
    assert allowed_at(data, data.index(a.encode()), 16)
    assert not allowed_at(data, data.index(b.encode()), 16)
    # The pragma on the line before does not allow the next line.
    data = f"# cardscan: allow\ncard = {b}\n".encode()
    assert not allowed_at(data, data.index(b.encode()), 16)


def test_crlf_and_cr_line_ends(rng) -> None:
    a, b = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    for nl in (b"\r\n", b"\r"):
        data = f"card = {a}  # cardscan: allow".encode() + nl + f"card = {b}".encode() + nl
        assert allowed_at(data, data.index(a.encode()), 16)
        assert not allowed_at(data, data.index(b.encode()), 16)


def test_utf16_text(rng) -> None:
    pan = make_pan("455673", 16, rng)
    text = f"card = {pan}  # cardscan: allow\nnext line\n"
    for enc in ("utf-16-le", "utf-16-be"):
        data = text.encode(enc)
        at = data.index(pan.encode(enc))
        assert allowed_at(data, at, 32)


def test_very_long_line_window(rng) -> None:
    pan = make_pan("455673", 16, rng)
    near = (f"card={pan}" + " " * 100 + "// cardscan: allow").encode()
    far = (f"card={pan}" + " " * (MAX_LINE + 10) + "// cardscan: allow").encode()
    assert allowed_at(near, 5, 16)
    assert not allowed_at(far, 5, 16)


def test_allowed_in_file_reads_only_around(rng) -> None:
    pan, other = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    filler = b"x" * 10_000 + b"\n"
    data = filler + f"card {pan} # cardscan: allow\n".encode() + filler + f"card {other}\n".encode()
    fh = io.BytesIO(data)
    assert allowed_in_file(fh, data.index(pan.encode()), 16)
    assert not allowed_in_file(fh, data.index(other.encode()), 16)


def test_works_with_scanner_findings(rng) -> None:
    """The offsets the engine reports are the ones the pragma check takes."""
    pan, other = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    data = f"pay:\n  card: {pan}   # cardscan: allow\n  card: {other}\n".encode()
    findings = Scanner(key=b"k").scan_bytes(data)
    assert len(findings) == 2
    verdicts = [allowed_at(data, f.location.offset, f.location.length) for f in findings]
    assert verdicts == [True, False]


def test_out_of_range_offset_is_not_allowed() -> None:
    assert not allowed_at(b"abc # cardscan: allow", 100, 16)
    assert not allowed_at(b"abc # cardscan: allow", -1, 16)


# -- the next-line form ---------------------------------------------------------------------

NEXT_LINE = [
    "# cardscan: allow-next-line\n{pan},Jane Doe,04/29",
    "// CardScan: Allow-Next-Line (fixture)\nconst pan = '{pan}';",
    "<!-- cardscan: allow-next-line -->\n<td>{pan}</td>",
    "-- cardscan: allow-next-line\r\nINSERT INTO t VALUES ('{pan}');",
    "REM cardscan: allow-next-line\rset PAN={pan}",
]


@pytest.mark.parametrize("template", NEXT_LINE)
def test_next_line_pragma_allows_the_line_after_it(template: str, rng) -> None:
    pan = make_pan("455673", 16, rng)
    data = template.format(pan=pan).encode()
    assert allowed_at(data, data.index(pan.encode()), 16)


def test_next_line_pragma_reaches_one_line_only(rng) -> None:
    a, b = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    data = f"# cardscan: allow-next-line\n{a}\n{b}\n".encode()
    assert allowed_at(data, data.index(a.encode()), 16)
    assert not allowed_at(data, data.index(b.encode()), 16)
    # A blank line in between ends it; on its own line it allows nothing.
    for text in (f"# cardscan: allow-next-line\n\n{a}\n", f"# cardscan: allow-next-line\r\n\r\n{a}\r\n",
                 f"x = {a}  # cardscan: allow-next-line\n"):
        data = text.encode()
        assert not allowed_at(data, data.index(a.encode()), 16)
    # A data value with the words is not a comment.
    data = f"note,cardscan: allow-next-line\n{a}\n".encode()
    assert not allowed_at(data, data.index(a.encode()), 16)


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("nl", ["\n", "\r\n"])
def test_next_line_pragma_in_utf16(encoding: str, nl: str, rng) -> None:
    pan = make_pan("455673", 16, rng)
    data = f"# cardscan: allow-next-line{nl}card = {pan}{nl}".encode(encoding)
    assert allowed_at(data, data.index(pan.encode(encoding)), 32)
    data = f"# cardscan: allow-next-line{nl}{nl}card = {pan}{nl}".encode(encoding)
    assert not allowed_at(data, data.index(pan.encode(encoding)), 32)


def test_verdict_names_the_form() -> None:
    assert verdict(b"x # cardscan: allow", b"") == "line"
    assert verdict(b"x", b"# cardscan: allow-next-line") == "next-line"
    assert verdict(b"x", b"# cardscan: allow") is None
    assert line_allows_next(b"; cardscan: allow-next-line") and not line_allows(b"; cardscan: allow-next-line")


def test_allowed_in_file_keeps_the_position(rng) -> None:
    pan = make_pan("455673", 16, rng)
    data = b"x" * 100 + f"\n# cardscan: allow-next-line\n{pan}\n".encode()
    fh = io.BytesIO(data)
    fh.seek(7)
    assert allowed_in_file(fh, data.index(pan.encode()), 16) and fh.tell() == 7


# -- where the policy applies -------------------------------------------------------------------


def test_honoured_in_a_files_own_bytes_only() -> None:
    for encoding in ("", "gzip", "bzip2", "xz", "lzma", "zstd", "zip", "tar"):
        assert honoured(encoding), encoding
    # Text cardscan extracts, mail, embedded streams: no comment syntax, not the author's lines.
    for encoding in ("xlsx-text", "docx-text", "pptx-text", "ods-text", "pdf-text", "pdf", "mail-headers", "mail",
                     "base64", "quoted-printable", "ole", "raw", "some-plugin"):
        assert not honoured(encoding), encoding


# -- LineWatch: the streaming check, at tiny chunk sizes -----------------------------------------


def _document(rng) -> tuple[bytes, set[str], set[str]]:
    """Text with findings allowed and not, lines longer than a chunk, CRLF and LF."""
    allowed, kept = set(), set()
    parts = []
    for i in range(12):
        a, b = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
        nl = "\r\n" if i % 3 == 0 else "\n"
        pad = " " * (i * 97 % 600)
        parts.append(f"card = {a}{pad}  // cardscan: allow{nl}")
        parts.append(f"# cardscan: allow-next-line{nl}{b},x{pad}{nl}" if i % 2 else f"# unrelated{nl}{b},x{nl}")
        allowed.add(a)
        (allowed if i % 2 else kept).add(b)
        c = make_pan("455673", 16, rng)
        parts.append(f"log: payment card {c} declined{pad}{nl}")
        kept.add(c)
    return "".join(parts).encode(), allowed, kept


@pytest.mark.parametrize("chunk_size", [1, 7, 64, 1 << 20])
def test_line_watch_matches_the_whole_text_check_at_any_chunk_size(chunk_size: int, rng) -> None:
    data, allowed, kept = _document(rng)
    scanner = Scanner(ScanConfig(chunk_size=chunk_size), key=b"k")
    expected = {f.masked for f in scanner.scan_bytes(data) if allowed_at(data, f.location.offset, f.location.length)}
    watch = LineWatch(io.BytesIO(data))
    got_kept, got_allowed = watch.split(scanner.scan_stream(watch))
    assert {f.masked for f in got_allowed} == expected == {f"{p[:6]}******{p[-4:]}" for p in allowed}
    assert {f.masked for f in got_kept} == {f"{p[:6]}******{p[-4:]}" for p in kept}


def test_line_watch_on_a_stream_without_readinto(rng) -> None:
    pan = make_pan("455673", 16, rng)

    class ReadOnly:
        def __init__(self, data: bytes) -> None:
            self._b = io.BytesIO(data)

        def read(self, n: int = -1) -> bytes:
            return self._b.read(n)

    data = f"a\ncard {pan} # cardscan: allow\nb\n".encode()
    watch = LineWatch(ReadOnly(data))
    kept, allowed = watch.split(Scanner(ScanConfig(chunk_size=5), key=b"k").scan_stream(watch))
    assert kept == [] and len(allowed) == 1


def test_line_watch_long_line_limit(rng) -> None:
    """A pragma further than MAX_LINE from the number on a long line is not seen, streamed or not."""
    pan = make_pan("455673", 16, rng)
    data = (f"card={pan}" + " " * (MAX_LINE + 10) + "// cardscan: allow\n").encode()
    for size in (13, 1 << 20):
        watch = LineWatch(io.BytesIO(data))
        kept, allowed = watch.split(Scanner(ScanConfig(chunk_size=size), key=b"k").scan_stream(watch))
        assert len(kept) == 1 and allowed == []


def test_split_seekable(rng) -> None:
    a, b = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    data = f"x {a} # cardscan: allow\n# cardscan: allow-next-line\n{b}\nplain {a}\n".encode()
    found = Scanner(key=b"k").scan_bytes(data)
    kept, allowed = split_seekable(io.BytesIO(data), found)
    assert len(allowed) == 2 and [f.location.line for f in kept] == [4]


def test_split_seekable_reads_blocks_and_agrees_with_the_whole_text_check(rng) -> None:
    """One block serves findings close together; far apart ones (and the end of the file) read again."""
    parts = []
    for i in range(40):
        pan = make_pan("455673", 16, rng)
        filler = "y" * (rng.randrange(0, 3) * 40_000) + "\n"
        parts.append(filler + (f"c {pan} # cardscan: allow\n" if i % 3 == 0 else
                               f"# cardscan: allow-next-line\n{pan}\n" if i % 3 == 1 else f"c {pan}\n"))
    data = "".join(parts).encode()
    found = Scanner(key=b"k").scan_bytes(data)
    assert len(found) == 40
    expected = [allowed_at(data, f.location.offset, f.location.length) for f in found]
    kept, allowed = split_seekable(io.BytesIO(data), found)
    assert [f in allowed for f in found] == expected and len(kept) == expected.count(False)
    # Offsets counted from a base: the layer starts 5 bytes into the stream.
    kept2, allowed2 = split_seekable(io.BytesIO(b"xxxx\n" + data), found, base=5)
    assert allowed2 == allowed and kept2 == kept


class _At:
    """A finding's place, as split_seekable reads it."""

    def __init__(self, offset, length) -> None:
        self.location = Location(offset=offset, length=length)

    def __repr__(self) -> str:
        return f"_At({self.location.offset}, {self.location.length})"


_PIECES = [b"x", b"\n", b"\r\n", b"\r", b"\x00", b"\x00" * 7, b"# cardscan: allow", b"cardscan: allow-next-line",
           b"4556737586899855", b" ", b"y" * 300, b"z" * 5000]


@settings(max_examples=300, deadline=None)
@given(
    pieces=st.lists(st.sampled_from(_PIECES), max_size=120),
    places=st.lists(st.tuples(st.one_of(st.none(), st.integers(0, 200_000)), st.integers(0, 40)), max_size=30),
    ordered=st.booleans(),
    base=st.sampled_from([0, 5, 9000]),
)
def test_split_seekable_on_a_file_reads_less_and_decides_as_whole_blocks(tmp_path_factory, pieces, places, ordered,
                                                                         base) -> None:
    """On a plain file only the bytes the findings' lines reach are read;
    every finding is judged as when whole blocks were read (the same block
    starts): findings near and past the end, out of order, without an
    offset, lines ending in \\r\\n and NULs, pragmas everywhere."""
    from cardscan.allow import _split_reading_blocks

    data = b"".join(pieces) * 3
    path = tmp_path_factory.mktemp("allow") / "f.log"
    path.write_bytes(b"h" * base + data)
    size = base + len(data)
    found = [_At(None if o is None else o % (size + 3000), n) for o, n in places]
    if ordered:
        found.sort(key=lambda f: -1 if f.location.offset is None else f.location.offset)
    with open(path, "rb") as fh:
        fh.seek(3)
        got = split_seekable(fh, found, base)
        assert fh.tell() == 3
        with open(path, "rb") as other:
            want = _split_reading_blocks(other, found, base)
    assert got == want


@pytest.mark.parametrize("template", ALLOWED + NOT_ALLOWED + ["plain {pan} and no word", "CARDSCAN {pan}"])
@pytest.mark.parametrize("encoding", ["utf-8", "utf-16-le", "utf-16-be"])
def test_may_allow_is_false_only_where_nothing_is_allowed(template: str, encoding: str, rng) -> None:
    # The pipeline skips looking at lines when may_allow says no: it must never
    # say no where a line allows a finding.
    data = ("prefix line\n" + template.format(pan=make_pan("4", 16, rng)) + "\nsuffix\n").encode(encoding)
    found = Scanner(key=b"k").scan_bytes(data)
    _, allowed = split_seekable(io.BytesIO(data), found)
    assert may_allow(data) or not allowed
    assert may_allow(data) == ("cardscan" in template.lower())
