"""The fingerprint key's id, slow on purpose, and its early start for the CLI.

``key_id`` (``pbkdf2:`` + 16 hex digits) goes into manifests, baselines and
states so a reader can tell whether two runs' fingerprints compare; why it
is PBKDF2 is in :class:`cardscan.findings.FingerprintKey`. It costs ~25 ms
of one core. A sweep needs it for its scan record, before it forks its
workers, and forks only while it runs one thread (run/executor.fork_safe):
so the derivation is started as early as the key is known and joined
before the fork.

The ``cardscan scan`` program knows the likely key before anything else is
imported: ``CARDSCAN_FINGERPRINT_KEY``. :func:`start_early` derives that
key's id on a thread from the program's first line (cli/main.program),
while the parser, the options and the sweep's modules load on the other
core; the key the scan then uses takes the derivation over if it is that
very key (:func:`take_early`), and otherwise waits for it to end, so no
thread is left running at the fork (a ``--key-file`` given beside the
variable pays the rest of one derivation, ~25 ms at most).
"""
from __future__ import annotations

import hashlib
import threading

__all__ = ["derive", "start_early", "take_early"]

#: Salt of the key id derivation (domain separation from fingerprints and seals).
LABEL = b"cardscan key id v2"
#: PBKDF2 rounds of the key id: one guess of the key tested against the id costs
#: about what testing it against one fingerprint does (a masked 16-digit number
#: leaves ~10^5 candidates, one HMAC each), so the id is no shortcut to the key.
ROUNDS = 100_000

#: The early derivation: (key, its thread, the list the thread puts the id in).
_early: tuple[bytes, threading.Thread, list[str]] | None = None
_lock = threading.Lock()


def derive(key: bytes) -> str:
    """The id of ``key`` (PBKDF2-HMAC-SHA256 under :data:`LABEL`, 8 bytes, hex)."""
    return "pbkdf2:" + hashlib.pbkdf2_hmac("sha256", key, LABEL, ROUNDS, 8).hex()


def start_early(key: bytes) -> None:
    """Begin deriving ``key``'s id on a daemon thread (once per process)."""
    global _early
    with _lock:
        if _early is not None:
            return
        box: list[str] = []
        thread = threading.Thread(target=lambda: box.append(derive(key)), daemon=True, name="cardscan-key-id")
        thread.start()
        _early = (key, thread, box)


def take_early(key: bytes) -> tuple[threading.Thread, list[str]] | None:
    """The early derivation, if it is ``key``'s: its thread (join it before
    reading) and the list that then holds the id. For another key (or none
    started) None, the early thread having ended: nothing started here
    outlives the choice of the key. Each derivation is handed out once."""
    global _early
    with _lock:
        early, _early = _early, None
    if early is None:
        return None
    started_for, thread, box = early
    if started_for == key:
        return thread, box
    thread.join()
    return None
