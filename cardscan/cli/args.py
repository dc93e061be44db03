"""Argument types shared by the commands (argparse ``type=`` callables).

Kept free of heavy imports: the pre-commit hook imports it at start-up.
"""
from __future__ import annotations

import argparse


def size(text: str) -> int:
    """``500MB``, ``2GiB``, ``1048576`` -> bytes."""
    from ..errors import ConfigError
    from ..settings import parse_size

    try:
        return parse_size(text, "size")
    except ConfigError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def confidence(text: str) -> int:
    """A confidence threshold, 0-100."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a number from 0 to 100") from None
    if not 0 <= value <= 100:
        raise argparse.ArgumentTypeError("expected a number from 0 to 100")
    return value


def positive_int(text: str) -> int:
    """A count of at least 1 (processes, members)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError("expected a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError("expected at least 1")
    return value
