"""A run killed midway (SIGKILL) leaves every object untouched or fully remediated, and resumes.

The run is a real subprocess (``python -m cardscan remediate``). To kill it
at an exact point, it is started through tests/remediate/pause.py, which
injects a checkpoint hook that parks the run at the n-th object (just before
or just after the atomic rename) so the kill lands there every time; a
further case kills at a random moment.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import random
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.decoders.build import docx, zip_bytes
from tests.remediate.helpers import findings, key_file, pans, run, scan, statuses

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _cwd(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)


def build(root: Path, p: list[str]) -> None:
    root.mkdir()
    for i in range(8):
        (root / f"log-{i:02d}.txt").write_text(f"line {i}\npayment card {p[i]} ok\n" + "filler\n" * 50)
    (root / "old.log.gz").write_bytes(gzip.compress(f"card {p[8]}\n".encode(), mtime=0))
    (root / "export.zip").write_bytes(zip_bytes({"a.csv": f"card,{p[9]}\n".encode(), "b.txt": b"plain"}))
    (root / "letter.docx").write_bytes(docx([["your card ", p[10]]]))


def digests(root: Path) -> dict[str, str]:
    return {f.name: hashlib.sha256(f.read_bytes()).hexdigest() for f in sorted(root.iterdir())}


def start(manifest: Path, pause: tuple[str, int] | None = None) -> subprocess.Popen:
    e = {**os.environ, "PYTHONPATH": str(ROOT)}
    e.pop("CARDSCAN_FINGERPRINT_KEY", None)
    launcher = ["-m", "tests.remediate.pause", pause[0], str(pause[1])] if pause else ["-m", "cardscan"]
    cmd = [sys.executable, *launcher, "remediate", str(manifest), "--action", "redact", "--apply",
           "--key-file", str(key_file(manifest.parent)), "-q"]
    return subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=e, cwd=manifest.parent)


def wait_for(proc: subprocess.Popen, text: bytes, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    buf = b""
    while text not in buf:
        left = deadline - time.monotonic()
        assert left > 0, "the run never reached the pause point"
        ready, _, _ = select.select([proc.stderr], [], [], left)
        if ready:
            chunk = os.read(proc.stderr.fileno(), 4096)  # type: ignore[union-attr]
            assert chunk, f"the run ended early (status {proc.wait()})"
            buf += chunk


def twin_trees(tmp: Path, p: list[str]) -> tuple[Path, Path]:
    """Two byte-identical trees: one built, then copied.

    Not built twice: zip and docx entries carry the time they were written
    (DOS time, 2-second steps), so two builds straddling a step differ, and
    so do their remediated forms; the killed run's leftover then matched no
    file of the reference run (the flake in test_killed_at_the_rename_...).
    """
    build(tmp / "a", p)
    shutil.copytree(tmp / "a", tmp / "b")
    return tmp / "a", tmp / "b"


def test_twin_trees_are_identical_across_a_clock_step(tmp_path: Path, monkeypatch) -> None:
    import zipfile

    clock = [1_700_000_000.0]

    def ticking() -> float:  # every zip entry written 3 seconds after the last: a DOS-time step each time
        clock[0] += 3
        return clock[0]

    monkeypatch.setattr(zipfile.time, "time", ticking)
    a, b = twin_trees(tmp_path, pans(11, seed=11))
    assert digests(a) == digests(b)


@pytest.fixture
def twins(tmp_path: Path):
    """Two identical trees, each scanned; the second remediated without interruption (the reference)."""
    p = pans(11, seed=11)
    twin_trees(tmp_path, p)
    originals = digests(tmp_path / "a")
    assert digests(tmp_path / "b") == originals
    ma = scan(tmp_path, tmp_path / "a", name="a.jsonl")
    mb = scan(tmp_path, tmp_path / "b", name="b.jsonl")
    report, _ = run(mb)
    assert report.counts == {"done": len(findings(mb))}
    return tmp_path / "a", ma, originals, digests(tmp_path / "b")


@pytest.mark.parametrize("phase", ["before_rename", "after_rename"])
def test_killed_at_the_rename_resumes_cleanly(twins, phase: str) -> None:
    root, manifest, originals, reference = twins
    proc = start(manifest, (phase, 4))
    try:
        wait_for(proc, f"paused at {phase} 4".encode())
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    everything = digests(root)
    now = {n: d for n, d in everything.items() if n in originals}
    changed = [n for n in now if now[n] != originals[n]]
    # Every object is either as it was or exactly as an uninterrupted run leaves it.
    assert all(now[n] in (originals[n], reference[n]) for n in originals if n in now)
    assert len(changed) == (3 if phase == "before_rename" else 4)
    leftovers = [n for n in everything if ".cardscan-" in n]
    assert len(leftovers) == (1 if phase == "before_rename" else 0)  # the killed object's temp file
    for n in leftovers:  # complete, synced remediated content: never a half-written file in place
        assert everything[n] in reference.values()

    report, results = run(manifest)

    assert report.exit_code == 0
    st = list(statuses(results).values())
    assert st.count("already_remediated") == len(changed) and st.count("done") == len(st) - len(changed)
    assert digests(root) == reference
    assert not [f.name for f in root.iterdir() if ".cardscan-" in f.name]


def test_killed_at_a_random_moment_resumes_cleanly(twins) -> None:
    root, manifest, originals, reference = twins
    rng = random.Random(os.getpid())
    for _ in range(3):
        proc = start(manifest)
        time.sleep(rng.uniform(0.2, 1.0))
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        now = digests(root)
        assert all(now[n] in (originals[n], reference[n]) for n in originals)
        assert all(".cardscan-" in n for n in now if n not in originals)
    report, _ = run(manifest)
    assert report.exit_code == 0
    assert digests(root) == reference
    shutil.rmtree(root)
