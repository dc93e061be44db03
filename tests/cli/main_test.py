"""cardscan/cli/main.py: a process started without stdout or stderr (``>&-``, ``2>&-``); the program's early key id."""
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


def _scan_program(tmp_path: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], dict]:
    """``python -m cardscan scan`` (the program, with its early key id) on a
    share of a few files, ``--jobs 2``, the test key in the environment."""
    share = tmp_path / "share"
    share.mkdir(exist_ok=True)
    for i in range(3):
        write_planted(share / f"{i}.log", random.Random(i), 1, filler=5)
    out = subprocess.run([sys.executable, "-m", "cardscan", "scan", *args, "--jobs", "2", "--no-progress",
                          "--log-level", "debug", "--manifest", str(tmp_path / "m.jsonl"), str(share)],
                         capture_output=True, text=True, timeout=120, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "CARDSCAN_FINGERPRINT_KEY": KEY.decode()})
    records = load_manifest(tmp_path / "m.jsonl").records
    return out, records[0]


def test_the_environment_key_id_begun_at_the_first_line_is_the_key_id(tmp_path: Path) -> None:
    from cardscan._keyid import derive

    out, scan = _scan_program(tmp_path)
    assert out.returncode == 1, out.stderr[-2000:]
    assert scan["key_id"] == derive(KEY) and scan["key_source"] == "env"
    assert "forked 1 of 2 workers" in out.stderr  # no thread was left running at the fork


def test_a_key_file_beside_the_environment_key_names_the_id_and_the_sweep_still_forks(tmp_path: Path) -> None:
    from cardscan._keyid import derive

    other = b"the key file's own key, 32 bytes or more"
    key_file = tmp_path / "key"
    key_file.write_bytes(other)
    key_file.chmod(0o600)
    out, scan = _scan_program(tmp_path, "--key-file", str(key_file))
    assert out.returncode == 1, out.stderr[-2000:]
    assert scan["key_id"] == derive(other) != derive(KEY) and scan["key_source"] == "file"
    assert "forked 1 of 2 workers" in out.stderr  # the environment key's early thread had ended
