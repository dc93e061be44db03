"""The key id's derivation and the program's early start (cardscan/_keyid.py)."""
from __future__ import annotations

import hashlib
import threading

import pytest

from cardscan import _keyid
from cardscan.findings import FingerprintKey

KEY = b"the team's fingerprint key, 32+ bytes"
OTHER = b"a key file's key, another 32+ bytes.."


@pytest.fixture(autouse=True)
def no_early(monkeypatch) -> None:
    monkeypatch.setattr(_keyid, "_early", None)


def _key_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "cardscan-key-id"]


def test_derive_is_pbkdf2_of_the_key_under_the_label() -> None:
    want = hashlib.pbkdf2_hmac("sha256", KEY, b"cardscan key id v2", 100_000, 8).hex()
    assert _keyid.derive(KEY) == "pbkdf2:" + want
    assert _keyid.derive(OTHER) != _keyid.derive(KEY)


def test_the_early_derivation_is_handed_to_its_own_key_once() -> None:
    _keyid.start_early(KEY)
    _keyid.start_early(OTHER)  # once per process: the first one stays
    taken = _keyid.take_early(KEY)
    assert taken is not None
    thread, box = taken
    thread.join()
    assert box == [_keyid.derive(KEY)]
    assert _keyid.take_early(KEY) is None  # handed out once


def test_another_key_waits_for_the_early_thread_and_gets_nothing() -> None:
    _keyid.start_early(KEY)
    assert _keyid.take_early(OTHER) is None
    assert not _key_threads()  # nothing left running at a fork
    assert _keyid.take_early(KEY) is None


def test_a_key_takes_the_early_derivation_over_instead_of_deriving_again(monkeypatch) -> None:
    calls: list[bytes] = []
    real = _keyid.derive
    monkeypatch.setattr(_keyid, "derive", lambda k: calls.append(k) or real(k))
    _keyid.start_early(KEY)
    key = FingerprintKey(KEY)
    key.start_key_id()
    assert key.key_id == real(KEY)
    assert calls == [KEY]  # the early thread's, not a second one
    assert not _key_threads()


def test_a_key_read_without_a_thread_of_its_own_also_takes_it(monkeypatch) -> None:
    calls: list[bytes] = []
    real = _keyid.derive
    monkeypatch.setattr(_keyid, "derive", lambda k: calls.append(k) or real(k))
    _keyid.start_early(KEY)
    assert FingerprintKey(KEY).key_id == real(KEY)
    assert calls == [KEY]


def test_a_key_file_beside_the_variable_gets_its_own_id_and_no_thread_outlives_it() -> None:
    _keyid.start_early(KEY)  # the environment's key
    key = FingerprintKey(OTHER)  # what --key-file gave
    key.start_key_id()
    assert key.key_id == _keyid.derive(OTHER) != _keyid.derive(KEY)
    assert not _key_threads()
