"""Exceptions cardscan raises. Messages never contain card numbers."""
from __future__ import annotations


class CardscanError(Exception):
    """Base class; the CLI maps it to a clean message and exit status 2."""


class ConfigError(CardscanError):
    """Invalid settings, key file or command-line option."""


class SourceError(CardscanError):
    """A source could not be listed or an item could not be opened.

    ``kind`` is one of the manifest's error kinds: permission, io, not_found,
    decode, limit, encrypted, source.
    """

    def __init__(self, message: str, kind: str = "io") -> None:
        super().__init__(message)
        self.kind = kind


class DecodeError(SourceError):
    """A container or encoding could not be decoded (corrupt, truncated)."""

    def __init__(self, message: str, kind: str = "decode") -> None:
        super().__init__(message, kind)


class LimitError(DecodeError):
    """A safety limit (depth, expansion ratio, total bytes) was hit."""

    def __init__(self, message: str, limit: str) -> None:
        super().__init__(message, "limit")
        self.limit = limit


class ManifestError(CardscanError):
    """A manifest could not be read or does not match the schema."""


class MissingDependency(CardscanError):
    """An optional dependency is not installed; the message says what to install."""
