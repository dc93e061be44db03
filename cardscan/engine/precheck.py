"""Could these buffers hold a finding? One pass over many small files.

A sweep of a share reads thousands of small files, most holding no card
number; scanning each through :meth:`Detector.hits` costs a few Python calls
per file. :func:`flagged` answers for a whole batch at once (the files'
contents one after another, each followed by one ``b"\\n"``, as
``sources.fs.read_files`` returns them): the indices of the files that *may*
hold a finding. It may say yes where a scan then finds nothing; it never
says no where a scan would find something (tests/engine/precheck_test.py
proves it against the scan itself). Every way :meth:`Detector.detect` reaches
a hit starts from one of:

* a digit chain the finder returns: asked in its widest mode
  (:data:`~cardscan.engine.candidates.ID_ALL_RANGES` without ``ID_DROP``,
  which returns every chain any other mode does), ASCII and UTF-16; track
  data, columns and context only judge such chains;
* an inline encoding (:func:`~cardscan.engine.inline.find_encoded`), each of
  whose decoders starts only from a byte this checks for: ``%``, ``&``,
  ``\\``, 0xA0 / 0xAF (no-break spaces), a ``+`` between two digits, or a
  run of 12 bytes of the base64 quad classes.

The ``\\n`` after each file is no chain byte, no base64 byte and no escape,
so a chain, run or escape found in the joined buffer lies inside one file,
and is found as it would be in that file alone. Pure: no I/O.
"""
from __future__ import annotations

from bisect import bisect_right
from typing import Any, Sequence

from .candidates import ID_ALL_RANGES, has_entity
from .inline import AMP, BACKSLASH, NBSP, PERCENT, _inline_bytes, _union_runs, inline_bytes_python

#: (inline_bytes' bit, a byte that sets it): where an inline decoder may start.
_STARTS = ((PERCENT, b"%"), (AMP, b"&"), (BACKSLASH, b"\\"), (NBSP, b"\xa0"), (NBSP, b"\xaf"))


def flagged(data: bytes, ends: Sequence[int], detector: Any) -> set[int]:
    """Indices ``i`` of the files ``data[ends[i]:ends[i + 1] - 1]`` that may hold a finding.

    ``detector``: the :class:`~cardscan.engine.detect.Detector` that would
    scan them (its finder, bound to its issuer table, and its field words).
    """
    out: set[int] = set()
    n = len(ends) - 1
    if n <= 0:
        return out
    words = detector._field_words
    mode = (words[0], words[1], words[2], ID_ALL_RANGES) if words is not None else None
    for cs, _ce, _flags in detector._find(data, mode):
        out.add(bisect_right(ends, cs) - 1)
    # Which starting bytes occur at all (one C pass), then where: one find
    # per file that holds one at most (after a hit, on from the next file).
    present, plus_at = _inline_bytes(data) if _inline_bytes is not None else inline_bytes_python(data)
    for at in plus_at:
        out.add(bisect_right(ends, at) - 1)
    if present & AMP and not has_entity(data):
        present &= ~AMP  # (the entity decoder starts only from "&#" or "&nbsp;")
    for bit, byte in _STARTS:
        if not present & bit:
            continue
        find = data.find
        pos = 0
        while True:
            at = find(byte, pos)
            if at < 0:
                break
            i = bisect_right(ends, at) - 1
            out.add(i)
            pos = ends[i + 1]
    for s, _e in _union_runs(data):
        out.add(bisect_right(ends, s) - 1)
    out.discard(n)  # (nothing lies past the last file; kept safe)
    return out
