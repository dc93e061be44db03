"""Tests for cardscan/engine/precheck.py: the batch pre-check never clears a
file the scan would find something in.

Files are built from card numbers in every written form the test oracle
knows (cardscan.testing.oracle.written_forms: grouped with every separator,
percent, entities, JSON and UTF-16 escapes, base64, fullwidth ...), in
UTF-8 and UTF-16, track data, CSV columns, form '+', near misses and filler,
at file starts and ends. For each batch, every file the scanner reports a
finding in must be flagged. Numbers are fresh and compared by boolean,
never printed.
"""
from __future__ import annotations

import base64
import random

import pytest
from hypothesis import HealthCheck, given, settings, strategies as st

from cardscan import Scanner
from cardscan.engine import precheck
from cardscan.engine.candidates import BACKENDS
from cardscan.engine.config import ScanConfig
from cardscan.findings import FingerprintKey
from cardscan.testing import PanFactory, break_luhn
from cardscan.testing.oracle import written_forms

KEY = FingerprintKey(b"precheck-tests")
FILLER = [
    b"2024-06-11T09:00:30Z INFO req=636775791 user=398664 took 567ms\n",
    b"order_id=4929123412341234 ", b"card ", b"card_number: ", b"exp 04/29 ", b"cvv 123 ", b"\n", b" ",
    b"phone +1 415 555 0100 ", b"ts=1718096430123 ", b"id: 12345678901234567890 ", b"x" * 40,
    b"\x00\x01\x02\xff\xfe", b"total = 4660+4876;", b"C:\\Users\\shop\\", b"%20", b"&amp;", b"\xc2\xa0",
    b"aGVsbG8gd29ybGQgaGVsbG8gd29ybGQ=", b"From: a@b\n", b"name,card_number,amount\n", b",",
]


def batch(files: list[bytes]) -> tuple[bytes, list[int]]:
    """Files joined as sources.fs.read_files returns them: each followed by a newline."""
    ends = [0]
    for f in files:
        ends.append(ends[-1] + len(f) + 1)
    return b"".join(f + b"\n" for f in files), ends


def fours(pan: str) -> list[str]:
    return [pan[i:i + 4] for i in range(0, len(pan), 4)]


def pieces(rng: random.Random) -> list[bytes]:
    """One card number in one form, or a near miss, as bytes."""
    f = PanFactory(rng)
    pan = f.mixed(rng.randrange(50))
    forms = written_forms(pan)
    name = rng.choice(sorted(forms))
    text = forms[name]
    enc = rng.choice(["utf-8", "utf-8", "utf-16-le", "utf-16-be"])
    out = [text.encode(enc, "replace")]
    out.append(rng.choice([
        b"%B" + pan.encode() + b"^DOE/JOHN^2512101000000000000?",  # track 1
        b";" + pan.encode() + b"=25121010000000000?",  # track 2
        base64.b64encode(b'{"card":"' + pan.encode() + b'","exp":"04/29"}'),
        b"card_number=" + "+".join(fours(pan)).encode() + b"&x=1",
        b"4111," + pan.encode() + b",12.00\n",
        break_luhn(pan).encode(),
        pan.encode() + b"0",
        pan[:-1].encode(),
        " ".join(fours(pan)).encode(),
        "-".join(fours(pan[1:])).encode(),
    ]))
    return [rng.choice(out)]


def files_from(rng: random.Random, n: int) -> list[bytes]:
    files = []
    for _ in range(n):
        parts: list[bytes] = []
        for _ in range(rng.randrange(0, 6)):
            parts += pieces(rng) if rng.random() < 0.4 else [rng.choice(FILLER)]
        files.append(b"".join(parts))
    return files


def check(scanner: Scanner, files: list[bytes]) -> None:
    data, ends = batch(files)
    flagged = precheck.flagged(data, ends, scanner.detector)
    assert flagged <= set(range(len(files)))
    for i, f in enumerate(files):
        if scanner.scan_bytes(f):
            assert i in flagged, f"file {i} of {len(files)} has findings and was not flagged"


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 8))
def test_every_file_with_a_finding_is_flagged(backend: str, seed: int, n: int) -> None:
    scanner = Scanner(ScanConfig(backend=backend), key=KEY)
    check(scanner, files_from(random.Random(seed), n))


@settings(max_examples=100, deadline=None)
@given(files=st.lists(st.binary(max_size=200), min_size=1, max_size=6), seed=st.integers(0, 2**32 - 1))
def test_random_bytes_around_numbers(files: list[bytes], seed: int) -> None:
    rng = random.Random(seed)
    files = [f + rng.choice(pieces(rng)) + f[::-1] if rng.random() < 0.5 else f for f in files]
    check(Scanner(key=KEY), files)


def test_each_written_form_at_the_start_and_end_of_a_file(rng: random.Random) -> None:
    scanner = Scanner(key=KEY)
    pan = PanFactory(rng).new("4", 16)
    files = []
    for text in written_forms(pan).values():
        for enc in ("utf-8", "utf-16-le", "utf-16-be"):
            raw = text.encode(enc, "replace")
            files += [raw, b"card " + raw, raw + b" exp 04/29"]
    check(scanner, files)
    data, ends = batch(files)
    assert precheck.flagged(data, ends, scanner.detector)  # (they are found at all)


def test_clean_log_files_are_not_flagged() -> None:
    scanner = Scanner(key=KEY)
    files = [b"2024-06-11T09:00:30Z INFO req=636775791 user=398664 took 567ms\n" * 4] * 10 + [b""]
    data, ends = batch(files)
    assert precheck.flagged(data, ends, scanner.detector) == set()


def test_each_kind_of_trigger_flags_its_own_file_only(rng: random.Random) -> None:
    scanner = Scanner(key=KEY)
    pan = PanFactory(rng).new("4", 16)
    triggers = [pan.encode(), b"50%", b"a&#52;", b"C:\\x", b"a\xa0b", b"a\xafb", b"1+2",
                b"ILMNOCDSTijyz0AEIMQUYcgk", pan.encode("utf-16-le")]
    clean = b"nothing to see here\n"
    files = [clean]
    for t in triggers:
        files += [t, clean]
    data, ends = batch(files)
    assert precheck.flagged(data, ends, scanner.detector) == set(range(1, 2 * len(triggers), 2))
    assert precheck.flagged(b"", [0], scanner.detector) == set()


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@settings(max_examples=150, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n=st.integers(1, 6))
def test_the_widest_mode_returns_every_chain_any_mode_does(backend: str, seed: int, n: int) -> None:
    # What flagged() rests on: the finder asked with ID_ALL_RANGES (no ID_DROP)
    # returns a chain starting wherever any mode the detector uses returns one.
    from cardscan.engine.candidates import ID_ALL_RANGES, ID_CARD_WINDOW, ID_DROP

    detector = Scanner(ScanConfig(backend=backend), key=KEY).detector
    data, _ = batch(files_from(random.Random(seed), n))
    words = detector._field_words[:3]
    widest = {cs for cs, _, _ in detector._find(data, words + (ID_ALL_RANGES,))}
    for mode in (0, ID_DROP, ID_CARD_WINDOW, ID_CARD_WINDOW | ID_DROP, ID_ALL_RANGES | ID_DROP):
        assert {cs for cs, _, _ in detector._find(data, words + (mode,))} <= widest
