"""A complete third-party cardscan source: ``memory://`` objects held in this process.

It is what docs/sources.md walks through, and tests/sources/plugin_test.py
installs it as a real distribution (a ``.dist-info`` with an entry point),
finds it through the registry and runs cardscan's contract tests on it.

A real plugin would list and open a store cardscan does not know (``gs://``,
``smb://``, an HTTP API ...); the shape is the same:

* a class with a stable ``name`` (it lands in manifests),
* ``items()`` yielding picklable ``Item`` descriptions (never open handles)
  and ``ErrorRecord``s for what cannot be listed,
* ``open(item)`` returning a binary stream (or, for a row store,
  ``cells(item)`` yielding ``(Cell, bytes)``),
* a ``from_url(url, **options)`` classmethod,
* an entry point in the ``cardscan.sources`` group named after the URL scheme::

    [project.entry-points."cardscan.sources"]
    memory = "cardscan_memory:MemorySource"
"""
from __future__ import annotations

import io
from typing import Any, BinaryIO, ClassVar, Iterator

from cardscan.errors import SourceError
from cardscan.findings import ErrorRecord
from cardscan.sources.base import Item

#: The store: ``memory://bucket/key`` -> the object's bytes, or the exception
#: opening it raises (a stand-in for "access denied" in a real store).
STORE: dict[str, bytes | Exception] = {}


class MemorySource:
    """Objects under a ``memory://bucket/prefix`` URL."""

    #: Stable: manifests record it, and the sweep loads the class by it.
    name: ClassVar[str] = "memory"

    def __init__(self, url: str, *, min_size: int = 0) -> None:
        if not url.startswith("memory://"):
            raise ValueError(f"not a memory:// URL: {url!r}")
        self.url = url
        self.min_size = min_size

    @classmethod
    def from_url(cls, url: str, **options: Any) -> "MemorySource":
        return cls(url, **options)

    def items(self) -> Iterator[Item | ErrorRecord]:
        for uri in sorted(STORE):
            if not uri.startswith(self.url):
                continue
            value = STORE[uri]
            size = len(value) if isinstance(value, bytes) else None
            if size is not None and size < self.min_size:
                continue
            # Small and picklable: workers in other processes receive it.
            yield Item(uri=uri, source=self.name, size=size, meta={"store": "memory"})

    def open(self, item: Item) -> BinaryIO:
        value = STORE.get(item.uri)
        if value is None:
            raise SourceError(f"{item.uri} is gone", "not_found")
        if isinstance(value, Exception):
            # The manifest's error kinds: permission, not_found, io, ...
            kind = "permission" if isinstance(value, PermissionError) else "io"
            raise SourceError(f"cannot open {item.uri}: {value}", kind)
        return io.BytesIO(value)


def demo() -> None:
    """List and scan like the sweep does (cardscan.testing.scan_source is the reference)."""
    from cardscan.testing import scan_source

    STORE["memory://demo/orders.csv"] = b"id,card\n1,4556737586899855\n"
    result = scan_source(MemorySource("memory://demo/"))
    for f in result.findings:
        print(f.location.display(), f.masked)


if __name__ == "__main__":
    demo()
