"""The sweep's state: what was scanned and what it held, so sweeps resume and repeat cheaply.

:mod:`.store` keeps the SQLite records (one row per object, its findings,
the runs); :mod:`.policy` decides what a sweep may carry over and what it
scans again (:class:`SweepState`, built by :func:`open_state`).
"""
from __future__ import annotations

from .policy import SweepState, identity, open_state, settings_fingerprint
from .store import FORMAT, Prior, RunInfo, StateError, StateStore

__all__ = [
    "FORMAT", "Prior", "RunInfo", "StateError", "StateStore", "SweepState", "identity", "open_state",
    "settings_fingerprint",
]
