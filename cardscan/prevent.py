"""Prevention for applications: mask PANs before they are written anywhere.

``redact()`` returns its input with every PAN masked in place (same length,
separators kept, first 6 / last 4 digits shown; track data fully masked), and
``RedactingFilter`` does it to log records before any handler sees them.
Both mask every structurally valid PAN regardless of confidence: masking a
false positive costs nothing, writing a real card to a log is a breach.
"""
from __future__ import annotations

import logging
from functools import lru_cache
from typing import Iterable, TypeVar

from .engine.config import ScanConfig
from .engine.scanner import Scanner
from .findings import Finding

T = TypeVar("T", str, bytes, bytearray)


@lru_cache(maxsize=1)
def _default_scanner() -> Scanner:
    # Every structurally valid number is masked whatever its context, so
    # reading CSV headers would be work for nothing on every log record.
    return Scanner(ScanConfig(min_confidence=0, columns=False))


def _mask_span(out: bytearray, f: Finding, keep_first: int, keep_last: int) -> None:
    start = f.location.offset or 0
    end = start + (f.location.length or 0)
    if f.kind != "pan":
        for i in range(start, end):
            c = out[i]
            if 48 <= c <= 57 or 65 <= c <= 90 or 97 <= c <= 122 or c == 32:
                out[i] = 42  # '*'
        return
    positions = [i for i in range(start, end) if 48 <= out[i] <= 57]
    n = len(positions)
    if keep_first + keep_last > n - 6:
        keep_first = max(0, n - 6 - keep_last)
    for i in positions[keep_first:n - keep_last]:
        out[i] = 42


def redact_findings(data: bytes, findings: Iterable[Finding], keep_first: int = 6, keep_last: int = 4) -> bytes:
    """``data`` with the given findings' digits masked (offsets are into ``data``)."""
    out = bytearray(data)
    for f in findings:
        _mask_span(out, f, keep_first, keep_last)
    return bytes(out)


def redact(data: T, scanner: Scanner | None = None, keep_first: int = 6, keep_last: int = 4) -> T:
    """Return ``data`` (str or bytes) with every PAN masked, same length.

    >>> redact("paid with 4111-1111-1111-1111, thanks")
    'paid with 4111-11**-****-1111, thanks'
    """
    scanner = scanner or _default_scanner()
    if isinstance(data, str):
        raw = data.encode("utf-8", "surrogatepass")
        found = scanner.scan_bytes(raw)
        if not found:
            return data
        return redact_findings(raw, found, keep_first, keep_last).decode("utf-8", "surrogatepass")  # type: ignore[return-value]
    raw = bytes(data)
    found = scanner.scan_bytes(raw)
    if not found:
        return data
    masked = redact_findings(raw, found, keep_first, keep_last)
    return bytearray(masked) if isinstance(data, bytearray) else masked  # type: ignore[return-value]


class RedactingFilter(logging.Filter):
    """A logging filter that masks PANs in the message and traceback.

    >>> import logging
    >>> log = logging.getLogger("shop")
    >>> log.addFilter(RedactingFilter())

    Attach it to a logger (or to every handler) early; it formats the record
    once, masks the result and freezes it so handlers cannot re-expand args.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not drop the record
            message = str(record.msg)
        masked = redact(message)
        if masked is not message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
