"""cardscan/cli/main.py: a process started without stdout or stderr (``>&-``, ``2>&-``)."""
from __future__ import annotations

import os
import random
import subprocess
import sys
from pathlib import Path

from cardscan.manifest import load_manifest
from tests.treegen import KEY, write_planted

ROOT = Path(__file__).resolve().parents[2]

# Runs main() in a process whose descriptor sys.argv[1] (1 or 2) was closed
# before Python started (sys.stdout or sys.stderr is then None), and says
# on the other one whether that descriptor is /dev/null afterwards.
_CLOSED = """\
import os, sys
from cardscan.cli.main import main
closed = int(sys.argv[1])
status = main(sys.argv[2:])
null = os.stat(os.devnull)
st = os.fstat(closed)
os.write(3 - closed, f"status={status} null={(st.st_rdev, st.st_ino) == (null.st_rdev, null.st_ino)}\\n".encode())
"""


def _run(tmp_path: Path, closed: int, *args: str) -> subprocess.CompletedProcess[str]:
    share = tmp_path / "share"
    share.mkdir(exist_ok=True)
    write_planted(share / "a.log", random.Random(5), 2, filler=10)

    def close() -> None:  # in the child, before Python starts
        os.close(closed)

    pipe = {"stderr": subprocess.PIPE} if closed == 1 else {"stdout": subprocess.PIPE}
    return subprocess.run([sys.executable, "-c", _CLOSED, str(closed), "scan", *args, "--jobs", "1",
                           "--no-progress", "--manifest", str(tmp_path / "m.jsonl"), str(share)],
                          **pipe, text=True, timeout=60, cwd=tmp_path, preexec_fn=close,
                          env={**os.environ, "PYTHONPATH": str(ROOT), "CARDSCAN_FINGERPRINT_KEY": KEY.decode()})


def test_a_closed_stdout_is_a_clear_error_and_the_manifest_says_so(tmp_path: Path) -> None:
    # Before: an internal error (AttributeError on None) and exit 120.
    out = _run(tmp_path, 1)
    assert "status=2 null=True" in out.stderr, out.stderr[-2000:]
    assert "cardscan: error: standard output is closed" in out.stderr
    assert "internal error" not in out.stderr and "Traceback" not in out.stderr
    summary = load_manifest(tmp_path / "m.jsonl").records[-1]
    assert summary["type"] == "summary" and summary["status"] == "interrupted" and summary["reason"] == "error"


def test_a_closed_stdout_is_no_error_for_a_quiet_scan(tmp_path: Path) -> None:
    out = _run(tmp_path, 1, "-q")
    assert "status=1 null=True" in out.stderr, out.stderr[-2000:]
    summary = load_manifest(tmp_path / "m.jsonl").records[-1]
    assert summary["status"] == "complete" and summary["findings"] == 2


def test_a_closed_stderr_drops_the_notes_and_the_scan_goes_on(tmp_path: Path) -> None:
    out = _run(tmp_path, 2)
    lines = out.stdout.splitlines()
    assert lines[-1] == "status=1 null=True", out.stdout[-2000:]
    assert len([line for line in lines if "a.log:" in line]) == 2
    summary = load_manifest(tmp_path / "m.jsonl").records[-1]
    assert summary["status"] == "complete" and summary["findings"] == 2
