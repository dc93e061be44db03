"""Sealing: where an object whose *name* holds a card number really is.

A manifest never shows a full PAN, not in a file name or an S3 key either
(``/exports/4111111111111111.csv``, ``cards/4111111111111111/receipt.json``):
such a location is written masked, like the number itself, and with a
``sealed`` field: the real location encrypted under the fingerprint key, so
``cardscan remediate`` (which needs that key anyway, to check fingerprints)
can find the object again, and nobody without the key can.

The construction is deterministic authenticated encryption in the SIV shape
(RFC 5297), built from HMAC-SHA256 alone so that scanning needs no crypto
package: IV = HMAC(k_iv, plaintext)[:16], keystream = HMAC(k_enc, IV ||
counter) blocks, token = ``siv1:`` + base64url(IV || plaintext XOR
keystream). Unsealing recomputes the IV from the decrypted text and compares
it in constant time, so a wrong key or a changed token is refused. It is
deterministic on purpose: the same location under the same key seals to the
same token, so finding ids and resumable state stay stable across runs; what
that reveals (that two records name the same object) the masked text shows
anyway. The two keys are derived from the fingerprint key with HMAC and
distinct labels, so sealing and fingerprints never share a key.
"""
from __future__ import annotations

import base64
import hashlib
import hmac

from .errors import CardscanError

_PREFIX = "siv1:"
_IV = 16


class SealError(CardscanError):
    """A sealed location cannot be opened: another key, or a changed token."""


def _keys(key: bytes) -> tuple[bytes, bytes]:
    k_iv = hmac.new(key, b"cardscan seal v1: iv", hashlib.sha256).digest()
    k_enc = hmac.new(key, b"cardscan seal v1: encryption", hashlib.sha256).digest()
    return k_iv, k_enc


def _keystream(k_enc: bytes, iv: bytes, n: int) -> bytes:
    blocks = []
    for counter in range(-(-n // 32)):
        blocks.append(hmac.new(k_enc, iv + counter.to_bytes(4, "big"), hashlib.sha256).digest())
    return b"".join(blocks)[:n]


def _xor(a: bytes, b: bytes) -> bytes:
    return (int.from_bytes(a, "big") ^ int.from_bytes(b, "big")).to_bytes(len(a), "big")


def seal(key: bytes, plaintext: bytes) -> str:
    """``siv1:...``: ``plaintext`` encrypted and authenticated under ``key``."""
    k_iv, k_enc = _keys(key)
    iv = hmac.new(k_iv, plaintext, hashlib.sha256).digest()[:_IV]
    body = _xor(plaintext, _keystream(k_enc, iv, len(plaintext)))
    return _PREFIX + base64.urlsafe_b64encode(iv + body).decode("ascii").rstrip("=")


def unseal(key: bytes, token: str) -> bytes:
    """The plaintext of ``token``; :class:`SealError` for another key or a changed token."""
    if not isinstance(token, str) or not token.startswith(_PREFIX):
        raise SealError("not a sealed location")
    text = token[len(_PREFIX):]
    try:
        raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError):
        raise SealError("a sealed location that is not base64") from None
    if len(raw) < _IV:
        raise SealError("a sealed location too short to be one")
    iv, body = raw[:_IV], raw[_IV:]
    k_iv, k_enc = _keys(key)
    plaintext = _xor(body, _keystream(k_enc, iv, len(body)))
    if not hmac.compare_digest(hmac.new(k_iv, plaintext, hashlib.sha256).digest()[:_IV], iv):
        raise SealError("a sealed location made with another key (or changed)")
    return plaintext
