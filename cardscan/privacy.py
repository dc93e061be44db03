"""Privacy: mask card numbers in what cardscan, or an application, writes.

* ``redact()`` returns its input with every PAN masked in place (same
  length, separators kept, first 6 / last 4 digits shown; track data fully
  masked);
* ``mask_name()`` does it to a name (a file name, S3 key, member or URI),
  decoding a URI's path first;
* ``safe_message()`` turns an exception into a bounded, masked message;
* ``RedactingFilter`` masks log records before any handler sees them.

All of them mask every structurally valid PAN regardless of confidence:
masking a false positive costs nothing, writing a real card to a log is a
breach. This module sits on the engine's pure detector and span masker
(:mod:`cardscan.engine.detect`, :mod:`cardscan.engine.redact`), below the
finding model, so findings, decoders and sources can all use it.
"""
from __future__ import annotations

import re
from functools import lru_cache
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import quote, unquote, urlsplit

from .engine.redact import mask_spans
from .errors import CardscanError

if TYPE_CHECKING:
    import logging

    from .engine.detect import Detector

T = TypeVar("T", str, bytes, bytearray)


@lru_cache(maxsize=1)
def _default_detector() -> "Detector":
    # Deferred for start-up time: loading the detector (issuer tables, the
    # keyword automaton, the C finder) made `import cardscan.findings` cost
    # ~35 ms more CPU (hyperfine, user time 109 vs 75 ms), and most processes
    # that import findings (reports, manifests, --help) mask no name at all.
    from .engine.config import ScanConfig
    from .engine.detect import Detector

    # Every structurally valid number is masked whatever its context, so
    # reading CSV headers would be work for nothing on every log record.
    return Detector(ScanConfig(min_confidence=0, columns=False))


def _masked(raw: bytes, detector: "Detector", keep_first: int, keep_last: int) -> bytes | None:
    hits = detector.hits(raw)
    if not hits:
        return None
    return mask_spans(raw, ((h.offset, h.offset + h.length, h.kind) for h in hits), keep_first, keep_last)


def redact(data: T, detector: Any = None, keep_first: int = 6, keep_last: int = 4) -> T:
    """Return ``data`` (str or bytes) with every PAN masked, same length.

    ``detector``: a :class:`~cardscan.engine.detect.Detector` (or a Scanner,
    whose detector is used); by default one that masks every structurally
    valid number.

    >>> redact("paid with 4111-1111-1111-1111, thanks")
    'paid with 4111-11**-****-1111, thanks'
    """
    detector = _default_detector() if detector is None else getattr(detector, "detector", detector)
    if isinstance(data, str):
        raw = data.encode("utf-8", "surrogatepass")
        masked = _masked(raw, detector, keep_first, keep_last)
        if masked is None:
            return data
        return masked.decode("utf-8", "surrogatepass")  # type: ignore[return-value]
    masked = _masked(bytes(data), detector, keep_first, keep_last)
    if masked is None:
        return data
    return bytearray(masked) if isinstance(data, bytearray) else masked  # type: ignore[return-value]


# Twelve digits with at most three non-letters between neighbours: every
# card number, contiguous, grouped or percent-encoded (%20), matches; most
# names do not, and skip the detector.
_NEAR_DIGITS = re.compile(r"[0-9](?:[^A-Za-z]{0,3}[0-9]){11}")
# Kept as they are when a masked URI path is quoted again ('*' stays readable).
_URI_SAFE = "/!$&'()*+,;=:@~"


def mask_name(text: str) -> str:
    """``text`` (a file name, S3 key, member name or URI) with card numbers masked.

    A URI's path is decoded first, masked, and quoted again, so a number
    written ``4556%207375...`` is found and the result is still a URI. Text
    without a card number comes back unchanged (the same object).
    """
    if not _NEAR_DIGITS.search(text):
        return text
    parts = urlsplit(text) if "://" in text else None
    if parts is None or not parts.scheme:
        return redact(text)
    path = unquote(parts.path, errors="surrogateescape")
    masked = redact(path)
    if masked == path:
        masked_uri = text
    else:
        quoted = quote(masked, safe=_URI_SAFE, errors="surrogateescape")
        masked_uri = text[: len(text) - len(text.split("://", 1)[1])] + parts.netloc + quoted
        if parts.query:
            masked_uri += "?" + parts.query
        if parts.fragment:
            masked_uri += "#" + parts.fragment
    # netloc, query and fragment (an S3 bucket, a SQL URL's parameters) too
    return redact(masked_uri)


def safe_message(exc: BaseException | str) -> str:
    """A failure message with no card number in it, of bounded length."""
    if isinstance(exc, str):
        text = exc
    elif isinstance(exc, CardscanError) and str(exc):
        text = str(exc)  # our own messages say what happened already
    else:
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
    text = text.replace("\n", " ")[:300]
    try:
        return redact(text)
    except Exception:  # pragma: no cover - redaction must never break error reporting
        return "".join("#" if c.isdigit() else c for c in text)


class RedactingFilter:
    """A logging filter that masks PANs in the message and traceback.

    >>> import logging
    >>> log = logging.getLogger("shop")
    >>> log.addFilter(RedactingFilter())

    Attach it to a logger (or to every handler) early; it formats the record
    once, masks the result and freezes it so handlers cannot re-expand args.
    (logging takes any object with a ``filter(record)`` method; not deriving
    from ``logging.Filter`` keeps this module, which every finding imports,
    from importing logging: ~7 ms of the pre-commit hook's start-up, which
    never logs.)
    """

    def filter(self, record: "logging.LogRecord") -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a broken format string must not drop the record
            message = str(record.msg)
        masked = redact(message)
        if masked is not message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            import logging  # loaded already: a record is being logged

            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = redact(record.exc_text)
        if record.stack_info:
            record.stack_info = redact(record.stack_info)
        return True
