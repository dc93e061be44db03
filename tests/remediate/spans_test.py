"""Checking and masking one finding's bytes, for every span form the engine reports."""
from __future__ import annotations

import base64

import pytest

from cardscan.engine.config import ScanConfig
from cardscan.engine.scanner import Scanner
from cardscan.remediate import spans
from cardscan.remediate.containers import Rewriter, SpanPatcher
from cardscan.testing import break_luhn
from tests.remediate.helpers import FKEY, pans

SCANNER = Scanner(ScanConfig(min_confidence=0), key=FKEY)


def patch(data: bytes, fs: list, keep_last: int = 4, chunk: int = 0) -> tuple[bytes, list[str]]:
    rw = Rewriter(FKEY, keep_last)
    p = SpanPatcher(fs, rw)
    if chunk:
        out = b"".join(p.feed(data[i:i + chunk]) for i in range(0, len(data), chunk)) + p.finish()
    else:
        out = p.feed(data) + p.finish()
    return out, [rw.states[f.id][0] for f in fs]


def forms(p: str) -> list[bytes]:
    grouped = f"{p[:4]} {p[4:8]} {p[8:12]} {p[12:]}"
    dashed = grouped.replace(" ", "-")
    return [
        f"card {p} exp".encode(),
        f"card {grouped} exp".encode(),
        f"card {p} paid".encode("utf-16-le"),
        f"card {p} paid".encode("utf-16-be"),
        f"%B{p}^DOE/JANE^2912101000000000000?".encode(),
        f";{p}=29121010000000000?".encode(),
        b"q=card%3D" + "".join(f"%{ord(c):02X}" for c in p).encode() + b"&x=1",
        b"<td>card " + "".join(f"&#x{ord(c):04x};" for c in p).encode() + b"</td>",
        b"token=" + base64.b64encode(f'{{"card":"{p}"}}'.encode()) + b" ok",
        b"t=" + base64.urlsafe_b64encode(f'ab{{"card":"{dashed}"}}'.encode()).rstrip(b"=") + b"\n",
    ]


@pytest.mark.parametrize("i", range(10))
@pytest.mark.parametrize("chunk", [0, 7, 64])
def test_every_form_is_masked_in_place_and_then_seen_as_masked(i: int, chunk: int) -> None:
    p = pans(3, seed=i)[i % 3]
    data = forms(p)[i]
    fs = SCANNER.scan_bytes(data)
    assert len(fs) == 1, "the engine must find the planted number"
    out, states = patch(data, fs, chunk=chunk)
    assert states == ["pan"] and len(out) == len(data) and out != data
    assert not SCANNER.scan_bytes(out), "nothing may be found after masking"
    again, states2 = patch(out, fs, chunk=chunk)
    assert again == out and states2 == ["masked"]


def test_keep_last_four_or_none() -> None:
    p = pans(1)[0]
    data = f"card {p}".encode()
    fs = SCANNER.scan_bytes(data)
    assert patch(data, fs)[0] == f"card {'*' * 12}{p[-4:]}".encode()
    assert patch(data, fs, keep_last=0)[0] == b"card " + b"*" * 16


def test_another_number_is_other_and_left_alone() -> None:
    p = pans(2)
    fs = SCANNER.scan_bytes(f"card {p[0]}".encode())
    other = f"card {p[1]}".encode()
    out, states = patch(other, fs)
    assert out == other and states == ["other"]
    broken = f"card {break_luhn(p[0])}".encode()
    assert patch(broken, fs)[1] == ["other"]


def test_masked_form_must_match_the_finding() -> None:
    p = pans(1)[0]
    f = SCANNER.scan_bytes(f"card {p}".encode())[0]
    assert spans.is_masked(f"{'*' * 12}{p[-4:]}".encode(), f)
    assert spans.is_masked(b"*" * 16, f)
    assert not spans.is_masked(f"{'*' * 12}0000".encode(), f) or p.endswith("0000")
    assert not spans.is_masked(b"*" * 15, f)


def test_data_shorter_than_the_location() -> None:
    p = pans(1)[0]
    fs = SCANNER.scan_bytes(f"xx card {p}".encode())
    out, states = patch(b"xx card 4111", fs)
    assert out == b"xx card 4111" and states == ["other"]


def test_entity_and_percent_masks_keep_each_unit_length() -> None:
    assert spans._star_unit(b"&#52;", "entity") == b"&#42;"
    assert spans._star_unit(b"&#0052;", "entity") == b"&#0042;"
    assert spans._star_unit(b"&#x34;", "entity") == b"&#x2A;"
    assert spans._star_unit(b"&#X0034;", "entity") == b"&#X002A;"
    assert spans._star_unit(b"%34", "percent") == b"%2A"
    assert spans._star_unit(b"4", "percent") == b"*"


def test_utf16_cards_anywhere_are_masked_in_place_digit_bytes_only() -> None:
    """Remediation of a UTF-16 card at even and odd offsets, ending the data
    or touching other bytes, replaces exactly the digits it hides: its span
    ended one byte past the data (state ``other``: "the data ends before the
    recorded location") or took in the byte after the last digit."""
    from tests.engine.detect_test import _utf16_cases

    p = pans(1, seed=7)[0]
    wrong = []
    for label, data in _utf16_cases(p):
        fs = [f for f in SCANNER.scan_bytes(data) if f.fingerprint == FKEY.fingerprint(p)]
        if not fs:
            continue  # (digits touching the card make another number)
        out, states = patch(data, fs)
        first = data.index("\x00".join(p).encode())
        hidden = {first + 2 * i for i in range(len(p) - 4)}
        changed = {i for i, (x, y) in enumerate(zip(data, out)) if x != y}
        if states != ["pan"] or changed != hidden or any(out[i] != 0x2A for i in hidden) or len(out) != len(data):
            wrong.append((label, states))
    assert wrong == []
