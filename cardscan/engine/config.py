"""ScanConfig: the frozen settings of the engine.

Frozen so one Scanner can be built per worker and reused; ``to_dict`` /
``from_dict`` carry it to worker processes (pool initializer, Dask) as plain
data, and into the manifest's ``scan`` record as the effective settings.
"""
from __future__ import annotations

from dataclasses import asdict, fields
from typing import Any

from .._byvalue import ByValue
from .._dataclass import dataclass
from ..errors import ConfigError

#: Below this confidence a candidate is not reported (see docs/detection.md).
DEFAULT_MIN_CONFIDENCE = 50
DEFAULT_CHUNK_SIZE = 1 << 20


@dataclass(frozen=True, eq=False, repr=False)  # ==, hash(), repr(): ByValue
class ScanConfig(ByValue):
    """What the engine reports and how it reads: the scan record's ``engine`` settings."""

    min_confidence: int = DEFAULT_MIN_CONFIDENCE
    #: Bytes read per chunk; memory stays bounded by this plus ~1 KB overlap.
    chunk_size: int = DEFAULT_CHUNK_SIZE
    #: Also find UTF-16 (LE/BE) digits, whole files and runs inside binary data.
    utf16: bool = True
    #: Report published test cards (flagged ``test_card``); False drops them.
    test_cards: bool = True
    #: Candidate finder backend: ``best``, ``c`` or ``python``.
    backend: str = "best"
    #: Bytes either side of a candidate searched for context keywords (Purview uses 300 chars).
    context_window: int = 300
    #: Also decode inline base64 blobs, percent-encoding and HTML entities.
    inline: bool = True
    #: In delimited text (CSV, TSV) read each value's column header as its field name.
    columns: bool = True

    def __post_init__(self) -> None:
        for name in ("min_confidence", "chunk_size", "context_window"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int):  # "high" would fail below as a TypeError
                raise ConfigError(f"{name} must be a whole number, not {str(value)[:20]!r}")
        for name in ("utf16", "test_cards", "inline", "columns"):
            value = getattr(self, name)
            if not isinstance(value, bool):  # "false" is truthy: a silent yes
                raise ConfigError(f"{name} must be true or false, not {str(value)[:20]!r}")
        if not 0 <= self.min_confidence <= 100:
            raise ConfigError("min_confidence must be between 0 and 100")
        if self.chunk_size < 1:
            raise ConfigError("chunk_size must be at least 1 byte")
        if not 0 <= self.context_window <= 4096:
            raise ConfigError("context_window must be between 0 and 4096 bytes")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "ScanConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ConfigError(f"unknown engine setting(s): {', '.join(sorted(unknown))}")
        return cls(**data)
