"""Helpers for tests of cardscan and of its plugins (exported for third parties).

* :mod:`.pans`: the one generator of test card numbers (:func:`make_pan`,
  :class:`PanFactory`; masked ``repr``);
* :mod:`.oracle`: leak checks (:func:`assert_no_pan`, :func:`scrub`);
* :mod:`.scan`: scanning as the sweep does, in this process (:func:`scan_source`);
* :mod:`.contracts`: :class:`SourceContract`, :class:`DecoderContract`,
  :class:`SinkContract`, :class:`RemediatorContract` for plugins to inherit
  (needs pytest).

Everything is importable from ``cardscan.testing``; the contracts and scan
helpers load on first use, so the PAN generator needs neither pytest nor
the decoders.
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

from .oracle import assert_no_pan, leaked_forms, scrub
from .pans import (
    BRANDS,
    PREFIXES,
    Pan,
    PanFactory,
    break_luhn,
    distinct_pans,
    group,
    luhn_complete,
    make_pan,
    masked,
    mixed_pan,
)

if TYPE_CHECKING:
    from .contracts import (
        DecoderCase,
        DecoderContract,
        RemediatorCase,
        RemediatorContract,
        SinkCase,
        SinkContract,
        SourceCase,
        SourceContract,
    )
    from .scan import SourceScan, error_kind, location_uri, scan_in_ranges, scan_source

# Loaded on first use: the contracts import pytest (a test dependency), and
# the scan helpers the decoders (start-up time of the demo, which makes PANs).
_LAZY = {
    "SourceCase": "contracts", "SourceContract": "contracts", "SinkCase": "contracts", "SinkContract": "contracts",
    "DecoderCase": "contracts", "DecoderContract": "contracts",
    "RemediatorCase": "contracts", "RemediatorContract": "contracts",
    "SourceScan": "scan", "error_kind": "scan", "location_uri": "scan", "scan_in_ranges": "scan",
    "scan_source": "scan",
}

__all__ = [
    "BRANDS", "PREFIXES", "Pan", "PanFactory", "assert_no_pan", "break_luhn", "distinct_pans", "group",
    "leaked_forms", "luhn_complete", "make_pan", "masked", "mixed_pan", "scrub", *_LAZY,
]


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'cardscan.testing' has no attribute {name!r}")
