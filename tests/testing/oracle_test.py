"""cardscan/testing/oracle.py: the leak check every test relies on must see
each form a number can leak in, and must not cry wolf on masked output."""
from __future__ import annotations

import json

import pytest

from cardscan.testing import assert_no_pan, distinct_pans, leaked_forms, make_pan, masked, scrub

PAN = distinct_pans(1, seed=11)[0]
AMEX = make_pan("37", 15)


@pytest.mark.parametrize("text", [
    f"card={PAN}",
    " ".join(PAN[i:i + 4] for i in range(0, 16, 4)),             # printed in groups
    "-".join(PAN[i:i + 4] for i in range(0, 16, 4)),
    json.dumps({"card": PAN})[:-1],                             # inside JSON
    "".join(c + "\u200b" for c in PAN),                         # a character between every digit
    "\u00a0".join(PAN[i:i + 4] for i in range(0, 16, 4)),        # grouped with no-break spaces
    f"path/{PAN}.csv",                                          # in a name
    f"{PAN[:8]}\n{PAN[8:]}".replace("\n", "\\"),                # wrapped with one character
])
def test_every_text_form_of_a_leak_is_caught(text: str) -> None:
    with pytest.raises(AssertionError) as exc:
        assert_no_pan(text, [PAN], where="the log")
    message = str(exc.value)
    assert "the log" in message and masked(PAN) in message
    assert PAN not in message  # the failure itself never shows the number


def test_bytes_and_utf16_are_caught() -> None:
    for data in (PAN.encode(), PAN.encode("utf-16-le"), b"\x00" + f"x{PAN}y".encode("utf-16-le")):
        with pytest.raises(AssertionError):
            assert_no_pan(data, [PAN])


def test_an_amex_in_its_printed_groups_is_caught() -> None:
    printed = f"{AMEX[:4]} {AMEX[4:10]} {AMEX[10:]}"
    with pytest.raises(AssertionError):
        assert_no_pan(printed, [AMEX])


@pytest.mark.parametrize("text", [
    f"card={masked(PAN)}",                  # masked: first 6 and last 4 only
    f"card={PAN[:6]}{'*' * 6}{PAN[-4:]}",
    PAN[::-1],                              # the digits in another order
    f"{PAN[:8]}  {PAN[8:]}",                # two characters between the halves: two numbers
    PAN[:-1],                               # one digit short
    "",
])
def test_near_misses_are_not_leaks(text: str) -> None:
    assert_no_pan(text, [PAN])


def test_only_the_planted_numbers_count() -> None:
    other = distinct_pans(2, seed=12)[1]
    assert_no_pan(f"card={other}", [PAN])
    with pytest.raises(AssertionError, match="1 card number"):
        assert_no_pan(f"card={other} and {PAN}", [PAN, make_pan("6011", 16)])


def test_leaked_forms_and_scrub() -> None:
    forms = leaked_forms(PAN)
    assert PAN in forms and len(forms) == len(set(forms)) >= 18
    # Every separated form (ASCII and the wide separators) holds the digits in order.
    separated = [f for f in forms if len(f) == len(PAN) + 3]  # four groups, three separators
    assert all("".join(c for c in f if c.isdigit()) == PAN for f in separated) and len(separated) >= 5
    full = PAN.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"})
    assert full in forms and "%" + "%".join(f"{ord(c):02X}" for c in PAN) in forms
    shown = scrub(f"payment with {PAN} failed")
    assert PAN not in shown and masked(PAN) in shown
    assert scrub("order 1234 shipped") == "order 1234 shipped"
