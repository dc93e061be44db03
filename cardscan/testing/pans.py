"""The one generator of test card numbers (tests, benchmarks, the demo).

Every number is *fresh*: random digits after a real issuer prefix, Luhn
check digit appended, so none is a real card. A :class:`Pan`'s ``repr`` is
masked: pytest prints fixture values and assertion operands with ``repr()``,
and a failing test must not become the leak.

* :func:`make_pan` one number for a prefix and length;
* :func:`mixed_pan` the ``i``-th kind of :data:`PREFIXES` (brands and
  lengths vary with ``i``);
* :class:`PanFactory` many, distinct (:func:`distinct_pans`): from given
  prefixes (:meth:`~PanFactory.take`), by kind (:meth:`~PanFactory.mixed`), or
  over weighted brands (:meth:`~PanFactory.branded`, the benchmarks' mix);
* :func:`group` prints one in groups, :func:`break_luhn` makes a near miss.
"""
from __future__ import annotations

import random
import re
from typing import Iterable, Sequence

from ..engine.luhn import luhn_valid

#: (prefix, length) pairs tests cycle through: Visa 16 and 19, Mastercard,
#: Amex, Discover, Diners.
PREFIXES: tuple[tuple[str, int], ...] = (("4", 16), ("51", 16), ("37", 15), ("6011", 16), ("4", 19), ("36", 14))

#: (brand, prefixes, lengths, weight): the mix the benchmarks plant.
BRANDS: tuple[tuple[str, tuple[str, ...], tuple[int, ...], int], ...] = (
    ("visa", ("4",), (16,), 38),
    ("visa", ("4",), (13, 19), 2),
    ("mastercard", ("51", "52", "53", "54", "55"), (16,), 18),
    ("mastercard", tuple(str(p) for p in range(2221, 2721, 7)), (16,), 6),
    ("amex", ("34", "37"), (15,), 10),
    ("discover", ("6011", "644", "645", "646", "647", "648", "649", "65"), (16,), 6),
    ("jcb", tuple(str(p) for p in range(3528, 3590)), (16,), 4),
    ("diners", ("36", "38", "300", "301", "305"), (14,), 3),
    ("unionpay", ("62",), (16, 17, 18, 19), 5),
    ("maestro", ("6759", "5018", "5020", "6304"), (16, 19), 3),
    ("mir", ("2200", "2201", "2202", "2203", "2204"), (16,), 3),
)

_WEIGHTS = [b[3] for b in BRANDS]


class Pan(str):
    """A generated card number whose repr is masked.

    With this, a failing test shows ``Pan('455671******0350')``, never the number.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return f"Pan({masked(str(self))!r})"


def masked(pan: str) -> str:
    """First 6 and last 4 digits of ``pan`` (separators dropped); short text as it is."""
    digits = re.sub(r"[^0-9]", "", pan)
    if len(digits) < 12:
        return pan
    return digits[:6] + "*" * (len(digits) - 10) + digits[-4:]


def luhn_complete(partial: str) -> str:
    """Append the Luhn check digit to ``partial``."""
    for d in "0123456789":
        if luhn_valid(partial + d):
            return partial + d
    raise AssertionError("unreachable")  # pragma: no cover


def make_pan(prefix: str, length: int = 16, rng: random.Random | None = None) -> str:
    """A random Luhn-valid number of ``length`` digits starting with ``prefix``."""
    rng = rng or random.Random()
    body = prefix + "".join(rng.choice("0123456789") for _ in range(length - len(prefix) - 1))
    return Pan(luhn_complete(body))


def mixed_pan(rng: random.Random, i: int = 0) -> str:
    """A number of the ``i``-th kind of :data:`PREFIXES`."""
    prefix, length = PREFIXES[i % len(PREFIXES)]
    return make_pan(prefix, length, rng)


def distinct_pans(n: int, seed: int = 7, prefixes: Sequence[str] = ("4", "51", "52", "53", "54", "55")) -> list[Pan]:
    """``n`` distinct 16-digit numbers, the same for the same seed."""
    return PanFactory(seed).take(n, prefixes)


def break_luhn(pan: str) -> str:
    """The same number with a wrong check digit."""
    last = int(pan[-1])
    return pan[:-1] + str((last + 1) % 10)


def group(pan: str, sizes: Iterable[int], sep: str = " ") -> Pan:
    """Print ``pan`` in groups: ``group(pan, (4, 6, 5))``."""
    out, i = [], 0
    for n in sizes:
        out.append(pan[i:i + n])
        i += n
    assert i == len(pan), "group sizes must add up to the PAN length"
    return Pan(sep.join(out))


class PanFactory:
    """Fresh numbers from one random stream, never the same one twice."""

    def __init__(self, rng: random.Random | int | None = None) -> None:
        self.rng = rng if isinstance(rng, random.Random) else random.Random(rng)
        self._seen: set[str] = set()

    def new(self, prefix: str, length: int = 16) -> Pan:
        """A number not handed out before by this factory."""
        while True:
            pan = make_pan(prefix, length, self.rng)
            if pan not in self._seen:
                self._seen.add(pan)
                return Pan(pan)

    def mixed(self, i: int) -> Pan:
        """A new number of the ``i``-th kind of :data:`PREFIXES`."""
        prefix, length = PREFIXES[i % len(PREFIXES)]
        return self.new(prefix, length)

    def take(self, n: int, prefixes: Sequence[str] = ("4", "51", "52", "53", "54", "55"), length: int = 16) -> list[Pan]:
        """``n`` distinct numbers, prefixes taken in turn."""
        return [self.new(prefixes[i % len(prefixes)], length) for i in range(n)]

    def branded(self) -> tuple[Pan, str]:
        """(number, brand) drawn from :data:`BRANDS` by weight."""
        while True:
            brand, prefixes, lengths, _ = self.rng.choices(BRANDS, _WEIGHTS)[0]
            pan = make_pan(self.rng.choice(prefixes), self.rng.choice(lengths), self.rng)
            if pan not in self._seen:
                self._seen.add(pan)
                return Pan(pan), brand
