"""Contract tests every decoder must pass (built-in and third-party alike).

Subclass :class:`DecoderContract` in a test module and give it a case::

    class TestRot13(DecoderContract):
        @pytest.fixture
        def decoder_case(self):
            pan = make_pan("455673", 16, random.Random(1))
            return DecoderCase(name="rot13", samples=[("note.r13", b"ROT13\\n" + rot13(f"card {pan}"))],
                               pans=[pan], near_misses=[("note.txt", b"plain text")])

What it checks:

* the decoder is registered under ``name`` and picked for its samples;
* "is this a container?" (``cardscan.decoders.is_container``) says yes
  wherever ``accepts()`` does, also for heads cut short: the sweep planner and
  the hook ask it, and a no would leave the object undecoded (the data a
  built-in declares in the registry must cover its ``accepts()``);
* near misses (plain files, other formats) are declined;
* the planted card numbers are found through ``expand`` and the scanner;
* a layer reads the same at any read size (1, 7 and 64 KiB bytes at a time);
* truncated and damaged samples never raise: the damage becomes failures,
  whose messages hold no card number.

The class name does not start with ``Test``, so pytest collects only the
subclasses. Failure messages show masked numbers only.
"""
from __future__ import annotations

import io
import random
from dataclasses import dataclass, field
from typing import Any

#: Read sizes a layer must give the same bytes at (ripgrep's "test at tiny sizes").
READ_SIZES = (1, 7, 1 << 16)


@dataclass
class DecoderCase:
    """What a decoder's contract test is given."""

    #: Its name in the ``cardscan.decoders`` registry group.
    name: str
    #: (file name, bytes) of objects it opens, together holding every number in ``pans``.
    samples: list[tuple[str, bytes]]
    #: Card numbers planted in the samples (from ``cardscan.testing.make_pan``).
    pans: list[str] = field(default_factory=list)
    #: (file name, bytes) it must decline: plain files, look-alikes, other formats.
    near_misses: list[tuple[str, bytes]] = field(default_factory=list)
    #: Seed for the damaged samples.
    seed: int = 13


def _head(data: bytes) -> bytes:
    from ..decoders.base import HEAD_SIZE

    return data[:HEAD_SIZE]


def _accepts(decoder: Any, name: str, head: bytes) -> bool:
    return bool((head and decoder.accepts("", head)) or decoder.accepts(name, head))


def _drain(name: str, data: bytes, read_size: int = 1 << 16) -> tuple[list[Any], list[Any]]:
    """(layers as (member, encoding, bytes), failures) of ``data`` through ``expand``."""
    from ..decoders import Failure, expand

    layers, failures = [], []
    for part in expand(io.BytesIO(data), name):
        if isinstance(part, Failure):
            failures.append(part)
            continue
        chunks = []
        while chunk := part.stream.read(read_size):
            chunks.append(chunk)
        layers.append((part.member, part.encoding, b"".join(chunks)))
    return layers, failures


def _damaged(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    cuts = sorted({len(data) // 2, len(data) - 1, max(1, len(data) // 7), rng.randrange(1, max(2, len(data)))})
    out = [data[:c] for c in cuts if 0 < c < len(data)]
    for _ in range(3):
        flipped = bytearray(data)
        for _ in range(max(1, len(data) // 200)):
            flipped[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        out.append(bytes(flipped))
    return out


class DecoderContract:
    """Tests every decoder must pass: subclass it with a ``decoder_case`` fixture (see above)."""

    def decoder(self, case: DecoderCase) -> Any:
        from .. import registry

        return registry.load("cardscan.decoders", case.name)()

    def test_registered_and_picked_for_its_samples(self, decoder_case: DecoderCase) -> None:
        from .. import registry
        from ..decoders.expand import pick

        assert decoder_case.name in registry.names("cardscan.decoders"), f"{decoder_case.name!r} is not registered"
        cls = registry.load("cardscan.decoders", decoder_case.name)
        assert isinstance(getattr(cls, "name", None), str) and cls.name, "a decoder needs a stable name"
        assert decoder_case.samples, "the case has no samples"
        for name, data in decoder_case.samples:
            picked = pick(name, _head(data))
            assert isinstance(picked, cls), (
                f"{name}: picked {type(picked).__name__ if picked else None}, not {cls.__name__}")

    def test_is_container_says_yes_wherever_accepts_does(self, decoder_case: DecoderCase) -> None:
        from ..decoders import is_container

        dec = self.decoder(decoder_case)
        heads = [(n, _head(d)) for n, d in decoder_case.samples + decoder_case.near_misses]
        # Heads cut short (a small object, a short read) must not change the answer's direction.
        heads += [(n, h[:k]) for n, h in list(heads) for k in (1, 2, 4, 8, 13, 64, 257, 262, 512, 1024)
                  if k < len(h)]
        heads += [(n.upper(), h) for n, h in list(heads)]  # names are matched case-insensitively
        for name, head in heads:
            if _accepts(dec, name, head):
                assert is_container(name, head), (
                    f"{decoder_case.name} accepts {name!r} (head {head[:16]!r}...) but is_container says no: "
                    "declare its magic bytes or names in the registry")

    def test_near_misses_are_declined(self, decoder_case: DecoderCase) -> None:
        dec = self.decoder(decoder_case)
        for name, data in decoder_case.near_misses:
            assert not _accepts(dec, name, _head(data)), f"{decoder_case.name} accepts the near miss {name!r}"

    def test_planted_pans_found(self, decoder_case: DecoderCase) -> None:
        from ..engine.scanner import Scanner
        from ..findings import FingerprintKey
        from . import _masked

        key = FingerprintKey(b"decoder-contract" * 2)
        scanner = Scanner(key=key)
        found = set()
        for name, data in decoder_case.samples:
            layers, _ = _drain(name, data)
            for _member, _encoding, body in layers:
                found |= {f.fingerprint for f in scanner.scan_bytes(body)}
        missing = [_masked(p) for p in decoder_case.pans if key.fingerprint(p) not in found]
        assert not missing, f"planted numbers not found: {missing}"

    def test_layers_read_the_same_at_any_read_size(self, decoder_case: DecoderCase) -> None:
        for name, data in decoder_case.samples:
            reference = _drain(name, data)
            for size in READ_SIZES:
                got = _drain(name, data, size)
                assert [(m, e, b) for m, e, b in got[0]] == reference[0], f"{name}: layers differ at read size {size}"
                assert [(f.member, f.kind) for f in got[1]] == [(f.member, f.kind) for f in reference[1]]

    def test_damaged_samples_become_failures_not_exceptions(self, decoder_case: DecoderCase) -> None:
        from . import assert_no_pan

        for name, data in decoder_case.samples:
            for bad in _damaged(data, decoder_case.seed):
                try:
                    _, failures = _drain(name, bad)
                except Exception as exc:  # noqa: BLE001 - the contract: nothing escapes expand
                    raise AssertionError(f"{name}: a damaged sample raised {type(exc).__name__}") from None
                for f in failures:
                    assert f.kind in ("decode", "encrypted", "limit", "io"), f"{name}: failure kind {f.kind!r}"
                    assert isinstance(f.message, str) and isinstance(f.member, tuple)
                assert_no_pan(" ".join(f.message for f in failures), decoder_case.pans, f"{name}: failure messages")
