"""The engine without its C extension, as on a machine with no compiler.

CARDSCAN_PURE_PYTHON=1 hides the extension; .ci/run also runs tests/engine
and tests/run that way. Here one child process proves the switch works and
that range scans (which feed the newline counter memoryviews) give the same
findings as the whole-buffer scan.
"""
from __future__ import annotations

import os
import subprocess
import sys
import textwrap

CHILD = textwrap.dedent(
    """
    import io, random, sys
    from cardscan.engine import candidates
    from cardscan.engine.config import ScanConfig
    from cardscan.engine.scanner import Scanner
    from cardscan.testing import make_pan, scan_in_ranges

    assert candidates.CEXT is None and sorted(candidates.BACKENDS) == ["python"], "C extension still loaded"
    assert candidates.newlines is candidates.newlines_python
    rng = random.Random(7)
    lines = [f"order {i} card number: {make_pan('4556', 16, rng)} ok".encode() for i in range(40)]
    data = b"\\n".join(lines) + b"\\n"
    scanner = Scanner(ScanConfig(chunk_size=500), key=b"pure-python-test")
    whole = scanner.scan_bytes(data)
    assert len(whole) == 40, len(whole)
    ranges = scan_in_ranges(scanner, data, [0, 301, 2000, len(data)])
    assert ranges == whole, "range scan differs from the whole-buffer scan"
    with open(sys.argv[1], "wb") as fh:
        fh.write(data)
    with open(sys.argv[1], "rb") as fh:  # a real file: readinto() -> memoryview chunks
        found, stats = scanner.scan_range(fh, 0, len(data))
    assert [f.fingerprint for f in found] == [f.fingerprint for f in whole]
    assert stats.newlines == 40
    print("ok", len(found))
    """
)


def test_engine_and_range_scans_without_the_c_extension(tmp_path) -> None:
    env = dict(os.environ, CARDSCAN_PURE_PYTHON="1")
    out = subprocess.run(
        [sys.executable, "-c", CHILD, str(tmp_path / "data.log")],
        env=env, capture_output=True, text=True, timeout=120,
    )
    from cardscan.testing import scrub

    assert out.returncode == 0, scrub(out.stderr[-2000:])
    assert out.stdout.split() == ["ok", "40"]
