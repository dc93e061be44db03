"""Decoders turn an item's bytes into the streams a person would read.

``base``: the contract (Decoder, Layer, TextLayer, Failure, Limits);
``streams``: the streams decoders are built from; ``expand``:
``expand(stream, name, limits)`` yields the layers to scan, and
``is_container(name, head)`` says whether a decoder might open an object.
"""
from .base import Failure, Layer, Limits, TextLayer
from .expand import expand, is_container

__all__ = ["Failure", "Layer", "Limits", "TextLayer", "expand", "is_container"]
