"""cardscan/engine/config.py: the engine's frozen settings, checked when
made (the edges accepted, the values just past them refused) and carried to
workers as plain data."""
from __future__ import annotations

import dataclasses
import pickle

import pytest

from cardscan.engine.config import DEFAULT_CHUNK_SIZE, DEFAULT_MIN_CONFIDENCE, ScanConfig
from cardscan.errors import ConfigError


@pytest.mark.parametrize("kw", [
    {"min_confidence": 0}, {"min_confidence": 100}, {"chunk_size": 1}, {"chunk_size": 1 << 30},
    {"context_window": 0}, {"context_window": 4096},
])
def test_the_edges_are_accepted(kw: dict) -> None:
    assert getattr(ScanConfig(**kw), next(iter(kw))) == next(iter(kw.values()))


@pytest.mark.parametrize("kw, message", [
    ({"min_confidence": -1}, "between 0 and 100"),
    ({"min_confidence": 101}, "between 0 and 100"),
    ({"chunk_size": 0}, "at least 1 byte"),
    ({"context_window": -1}, "between 0 and 4096"),
    ({"context_window": 4097}, "between 0 and 4096"),
    ({"min_confidence": "high"}, "whole number"),
    ({"min_confidence": 50.5}, "whole number"),
    ({"min_confidence": True}, "whole number"),   # a bool is an int to Python, not to us
    ({"chunk_size": "1M"}, "whole number"),
    ({"utf16": "false"}, "true or false"),         # a non-empty string is truthy: it turned UTF-16 on
    ({"test_cards": 0}, "true or false"),
    ({"inline": None}, "true or false"),
    ({"columns": "no"}, "true or false"),
])
def test_values_past_the_edges_are_refused_by_name(kw: dict, message: str) -> None:
    with pytest.raises(ConfigError, match=message) as exc:
        ScanConfig(**kw)
    assert next(iter(kw)) in str(exc.value)


def test_defaults() -> None:
    c = ScanConfig()
    assert (c.min_confidence, c.chunk_size) == (DEFAULT_MIN_CONFIDENCE, DEFAULT_CHUNK_SIZE)
    assert c.utf16 and c.inline and c.columns and c.test_cards and c.backend == "best"


def test_frozen_and_carried_as_plain_data() -> None:
    c = ScanConfig(min_confidence=70, chunk_size=4096, inline=False)
    with pytest.raises(dataclasses.FrozenInstanceError):
        c.min_confidence = 10  # type: ignore[misc]
    data = c.to_dict()
    assert all(isinstance(v, (int, str, bool)) for v in data.values())
    assert ScanConfig.from_dict(data) == c
    assert pickle.loads(pickle.dumps(data)) == data


def test_from_dict_refuses_unknown_settings_and_checks_the_known() -> None:
    with pytest.raises(ConfigError, match="unknown engine setting"):
        ScanConfig.from_dict({"min_confidence": 50, "min_confidense": 60})
    with pytest.raises(ConfigError, match="between 0 and 100"):
        ScanConfig.from_dict({"min_confidence": 200})
