"""The inline allow pragma, in every comment syntax, and the near misses."""
from __future__ import annotations

import io

import pytest

from cardscan import Scanner
from cardscan.allow import MAX_LINE, allowed_at, allowed_in_file, line_allows
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
