"""Decoders turn an item's bytes into the streams a person would read.

See base.py: ``expand(stream, name, limits)`` yields the layers to scan.
"""
from .base import Failure, Layer, Limits, TextLayer, expand

__all__ = ["Failure", "Layer", "Limits", "TextLayer", "expand"]
