"""``cardscan scan --state``: crash safety of resumed sweeps, end to end.

The real CLI (``python -m cardscan``) is killed with SIGKILL at random
points (seeded), then run again until it completes; the final manifest must
hold exactly the findings of one uninterrupted run: none lost, none doubled,
valid JSON Lines. Each object is slowed a little so kills land mid-sweep:
tests/cli/slow.py, injected into every process of the run through a
``sitecustomize`` the test writes (nothing in cardscan reads a test setting).
"""
from __future__ import annotations

import json
import os
import random
import shutil
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from cardscan.manifest import load_manifest, validate_records
from cardscan.report import build
from tests.cli.slow import sitecustomize_dir
from tests.treegen import KEY, write_planted

ROOT = Path(__file__).resolve().parents[2]
FILES = 300


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY.decode())
    monkeypatch.chdir(tmp_path)


@pytest.fixture(scope="module")
def share(tmp_path_factory) -> Path:
    """A few hundred small files (a third with planted PANs) and one file split into byte ranges."""
    root = tmp_path_factory.mktemp("resume") / "share"
    rng = random.Random(8)
    for i in range(FILES):
        d = root / f"d{i % 7}" / f"e{i % 3}"
        d.mkdir(parents=True, exist_ok=True)
        if i % 3 == 0:
            write_planted(d / f"f{i:03d}.log", rng, 1 + i % 2, filler=2, start=i)
        else:
            (d / f"f{i:03d}.txt").write_text(f"order {1000 + i} shipped, invoice 2024-{i:05d}\n")
    write_planted(root / "big.log", rng, 30, filler=8, start=500)  # 8KiB ranges: several per file
    return root


def scan(share: Path, manifest: Path, state: Path | None, jobs: int, delay: float = 0.0) -> subprocess.Popen:
    path = [str(ROOT)]
    if delay:
        path.insert(0, str(sitecustomize_dir(manifest.parent / f"slow-{delay}", delay)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(path)}
    cmd = [sys.executable, "-m", "cardscan", "scan", str(share), "--manifest", str(manifest), "--jobs", str(jobs),
           "--split-size", "8KiB", "--no-progress", "-q"]
    if state is not None:
        cmd += ["--state", str(state)]
    # A session of its own, so the kill can take the worker processes too.
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def kill_tree(proc: subprocess.Popen) -> None:
    """SIGKILL the sweep, then whatever it started (its session: only what this test started)."""
    try:
        os.kill(proc.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    proc.wait(timeout=30)
    try:
        os.killpg(proc.pid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


def findings(path: Path) -> Counter[tuple[str, str]]:
    recs = [json.loads(line) for line in path.read_text().splitlines()]
    return Counter((r["id"], r["fingerprint"]) for r in recs if r["type"] == "finding")


@pytest.fixture(scope="module")
def reference(share: Path, tmp_path_factory) -> Counter[tuple[str, str]]:
    m = tmp_path_factory.mktemp("reference") / "m.jsonl"
    env_key = os.environ.get("CARDSCAN_FINGERPRINT_KEY")
    os.environ["CARDSCAN_FINGERPRINT_KEY"] = KEY.decode()
    try:
        proc = scan(share, m, None, 2)
        _, err = proc.communicate(timeout=120)
    finally:
        if env_key is None:
            del os.environ["CARDSCAN_FINGERPRINT_KEY"]
        else:
            os.environ["CARDSCAN_FINGERPRINT_KEY"] = env_key
    assert proc.returncode == 1, err.decode()[-2000:]
    ref = findings(m)
    assert len(ref) > 100 and max(ref.values()) == 1
    return ref


@pytest.mark.parametrize("jobs, seed", [(1, 101), (2, 202)])
def test_sigkill_at_random_points_then_resume_gives_the_uninterrupted_findings(
    share: Path, reference: Counter[tuple[str, str]], tmp_path: Path, jobs: int, seed: int
) -> None:
    rng = random.Random(seed)
    m, state = tmp_path / "m.jsonl", tmp_path / "sweep.state"
    partial = Path(str(m) + ".partial")
    kills = progressed = 0
    for attempt in range(10):
        # ~2.5 s of work for the whole share (plus start-up), so the first kills
        # land mid-sweep; later ones anywhere, the end and the rename included.
        proc = scan(share, m, state, jobs, delay=0.008 * jobs)
        try:
            proc.wait(timeout=(rng.uniform(0.3, 1.2) if attempt < 3 else rng.uniform(0.8, 3.6)) if attempt < 9 else 120)
        except subprocess.TimeoutExpired:
            kill_tree(proc)
            kills += 1
            # What a kill leaves behind is always readable: the state is a
            # consistent database, the partial manifest valid up to a torn line,
            # and PATH never holds an unfinished manifest.
            # A kill during start-up may come before the state exists, or before
            # its schema is committed (an empty database is consistent too).
            db = sqlite3.connect(state) if state.exists() else None
            try:
                if db is not None:
                    assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
                    if db.execute("SELECT 1 FROM sqlite_master WHERE name = 'objects'").fetchone():
                        progressed = max(progressed, db.execute("SELECT count(*) FROM objects").fetchone()[0])
            finally:
                if db is not None:
                    db.close()
            if partial.exists():
                load_manifest(partial)  # raises on anything worse than a torn last line
            assert not m.exists() or load_manifest(m).complete
            continue
        _, err = proc.communicate(timeout=120)
        try:
            os.killpg(proc.pid, signal.SIGKILL)  # nothing should be left; be sure
        except (ProcessLookupError, PermissionError):
            pass
        assert proc.returncode == 1, err.decode()[-2000:]
        break
    assert kills >= 3, "the sweep finished before most kills: nothing was tested"
    assert 0 < progressed, "no kill landed after objects were recorded"
    recs = [json.loads(line) for line in m.read_text().splitlines()]
    assert validate_records(recs) == []
    assert stat.S_IMODE(m.stat().st_mode) == 0o600 and stat.S_IMODE(state.stat().st_mode) == 0o600
    assert not partial.exists()
    summary = recs[-1]
    assert summary["type"] == "summary" and summary["status"] == "complete"
    got = findings(m)
    assert max(got.values()) == 1, "a finding was written twice"
    lost, extra = len(set(reference) - set(got)), len(set(got) - set(reference))
    assert (lost, extra) == (0, 0), f"{lost} findings lost, {extra} unexpected"
    assert summary["findings"] == len(got)
    assert summary["objects_scanned"] + summary["carried_over"]["objects"] == FILES + 1
    assert summary["carried_over"]["objects"] > 0  # the kills' work was resumed, not redone
    # "resume" after a kill mid-sweep; "incremental" when the last kill landed
    # after the sweep had recorded itself complete (during the final rename or
    # exit): both must give the uninterrupted findings, checked above.
    assert recs[0]["state"]["mode"] in ("resume", "incremental")


def test_report_merges_an_interrupted_run_and_its_resumption(share: Path, reference, tmp_path: Path) -> None:
    m, state = tmp_path / "m.jsonl", tmp_path / "sweep.state"
    proc = scan(share, m, state, 1, delay=0.004)
    time.sleep(0.2)
    deadline = time.monotonic() + 20
    partial = Path(str(m) + ".partial")
    while time.monotonic() < deadline and (not partial.exists() or partial.read_bytes().count(b'"finding"') < 5):
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)  # a clean stop this time: the partial manifest ends with a summary
    proc.communicate(timeout=60)
    assert proc.returncode == 130
    first = tmp_path / "first.jsonl"
    shutil.copy(partial, first)
    proc = scan(share, m, state, 2)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 1, err.decode()[-2000:]
    data = build([first, m])
    ids = Counter((f.id, f.fingerprint) for f in data.findings)
    assert set(ids) == set(reference) and max(ids.values()) == 1  # merged without double counting
    assert len(data.scans) == 2
    out = subprocess.run([sys.executable, "-m", "cardscan", "report", str(first), str(m)], capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, timeout=60, check=False)
    assert out.returncode == 0 and f"{len(reference)} finding(s)" in out.stdout


def test_state_options(share: Path, tmp_path: Path, monkeypatch) -> None:
    from cardscan.cli.main import main

    small = tmp_path / "small"
    small.mkdir()
    write_planted(small / "a.log", random.Random(1), 2)
    m = tmp_path / "out.jsonl"
    # --state without FILE: next to the manifest.
    assert main(["scan", str(small), "--manifest", str(m), "--no-progress", "-q", "--state"]) == 1
    st = Path(str(m) + ".state")
    assert st.exists() and stat.S_IMODE(st.stat().st_mode) == 0o600
    assert load_manifest(m).summary["carried_over"]["objects"] == 0  # type: ignore[index]
    assert main(["scan", str(small), "--manifest", str(m), "--no-progress", "-q", "--state", str(st)]) == 1
    assert load_manifest(m).summary["carried_over"]["objects"] == 1  # type: ignore[index]
    assert main(["scan", str(small), "--manifest", str(m), "--no-progress", "-q", "--state", str(st), "--full"]) == 1
    assert load_manifest(m).summary["objects_scanned"] == 1  # type: ignore[index]
    # Usage errors exit 2 with a message.
    assert main(["scan", str(small), "--full", "--no-progress", "-q"]) == 2
    assert main(["scan", str(small), "--no-progress", "-q", "--state"]) == 2
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY")
    assert main(["scan", str(small), "--no-progress", "-q", "--state", str(tmp_path / "x.state")]) == 2


def test_state_from_a_settings_file_and_the_final_lines(tmp_path: Path, capsys) -> None:
    from cardscan.cli.main import main

    small = tmp_path / "small"
    small.mkdir()
    write_planted(small / "a.log", random.Random(2), 1)
    (tmp_path / ".cardscan.toml").write_text('state = "sweeps/share.state"\nmanifest = "sweeps/share.jsonl"\n')
    (tmp_path / "sweeps").mkdir()
    assert main(["scan", str(small), "--no-progress"]) == 1
    assert main(["scan", str(small), "--no-progress"]) == 1
    err = capsys.readouterr().err
    assert (tmp_path / "sweeps" / "share.state").exists()
    assert "1 unchanged objects carried over" in err
    assert f"manifest written to {tmp_path / 'sweeps' / 'share.jsonl'}" in err
