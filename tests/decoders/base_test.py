"""Tests for cardscan/decoders/base.py: the decoder contract's data types."""
from __future__ import annotations

from pathlib import Path

import pytest

from cardscan.decoders.base import Limits
from cardscan.errors import ConfigError


def test_limits_round_trip_and_validation() -> None:
    lim = Limits(max_depth=5, max_buffer=1024)
    assert Limits.from_dict(lim.to_dict()) == lim
    with pytest.raises(ConfigError):
        Limits.from_dict({"max_depht": 3})
    with pytest.raises(ConfigError):
        Limits(max_ratio=0)


def test_limits_seen_by_the_seam_are_documented() -> None:
    doc = (Path(__file__).resolve().parents[2] / "docs" / "containers.md").read_text()
    for field in Limits().to_dict():
        assert field in doc, f"limit {field} is not documented"
