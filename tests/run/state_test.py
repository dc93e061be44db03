"""Tests for cardscan/run/state/ (store and policy) and sinks/staged.py: the sweep state, carried-over findings, gone objects, staging."""
from __future__ import annotations

import json
import os
import sqlite3
import stat
from pathlib import Path
from typing import Any

import pytest

import cardscan.run
from cardscan.engine.config import ScanConfig
from cardscan.findings import Finding, FingerprintKey
from cardscan.manifest import load_manifest, validate_records
from cardscan.run.state import StateError, StateStore, identity, open_state, settings_fingerprint
from cardscan.sinks.base import BaseSink, ListSink
from cardscan.sinks.staged import StagedManifest
from cardscan.sources.base import Item
from tests.treegen import KEY, write_planted


def tree(root: Path, rng, n: int = 8) -> dict[str, list[str]]:
    """n small files, every other one with planted PANs; name -> PANs."""
    root.mkdir(exist_ok=True)
    out = {}
    for i in range(n):
        p = root / f"f{i}.log"
        if i % 2:
            p.write_text(f"2024-06-11 INFO nothing here, request {i}\n")
            out[p.name] = []
        else:
            out[p.name] = write_planted(p, rng, 1 + i % 3, start=i)
    return out


def run(root: Path, state: Path | None, manifest: Path | None = None, **kw: Any) -> tuple[dict[str, Any], ListSink]:
    sink = ListSink()
    kw.setdefault("key", KEY)
    kw.setdefault("jobs", 1)
    kw["sinks"] = [sink, *kw.get("sinks", ())]
    summary = cardscan.run.run_sweep([root], state=state, manifest=manifest, **kw)
    return summary, sink


def ids(findings: list[Finding]) -> list[tuple[str, str]]:
    return sorted((f.id, f.fingerprint) for f in findings)


# -- the store ---------------------------------------------------------------------
def test_state_file_is_private_and_in_wal_mode(tmp_path: Path, rng) -> None:
    tree(tmp_path / "t", rng)
    state = tmp_path / "s.state"
    old = os.umask(0)  # a permissive umask must not widen the state
    try:
        with StateStore(state) as store:
            store.begin_run(started="2024-01-01T00:00:00Z", fingerprint="x", parts={}, roots=[])
            wal = Path(str(state) + "-wal")
            assert wal.exists() and stat.S_IMODE(wal.stat().st_mode) == 0o600
            assert store.db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    finally:
        os.umask(old)
    assert stat.S_IMODE(state.stat().st_mode) == 0o600


def test_an_existing_state_is_narrowed_and_a_symlink_refused(tmp_path: Path) -> None:
    state = tmp_path / "s.state"
    StateStore(state).close()
    os.chmod(state, 0o644)
    StateStore(state).close()
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    link = tmp_path / "link.state"
    link.symlink_to(state)
    with pytest.raises(StateError):
        StateStore(link)


def test_one_sweep_at_a_time(tmp_path: Path) -> None:
    with StateStore(tmp_path / "s.state"):
        with pytest.raises(StateError, match="in use by another sweep"):
            StateStore(tmp_path / "s.state")
    StateStore(tmp_path / "s.state").close()  # released


def test_not_a_state_file_is_a_clear_error(tmp_path: Path) -> None:
    bad = tmp_path / "bad.state"
    bad.write_bytes(b"this is not sqlite" * 100)
    with pytest.raises(StateError, match="not a usable cardscan state"):
        StateStore(bad)


def test_identity_leaves_out_the_device_number_of_files() -> None:
    a = Item("file:///x", "file", ukey="10:1700000000000000000:2049:77")
    b = Item("file:///x", "file", ukey="10:1700000000000000000:64:77")  # the share was remounted
    c = Item("file:///x", "file", ukey="10:1700000000000000001:2049:77")  # touched
    assert identity(a) == identity(b) != identity(c)
    s3 = Item("s3://b/k", "s3", ukey="v1:etag")
    assert identity(s3) == "v1:etag"
    assert identity(Item("postgresql://h/db#public.t", "sql")) is None
    # What was read (fstat at open) wins over the listing.
    assert identity(a, {"ukey": "11:1700000000000000002:2049:77"}) == "11:1700000000000000002:77"


def test_settings_fingerprint_covers_engine_limits_key_and_version() -> None:
    base = settings_fingerprint({"min_confidence": 50}, {"max_depth": 3}, "sha256:a")[0]
    assert settings_fingerprint({"min_confidence": 60}, {"max_depth": 3}, "sha256:a")[0] != base
    assert settings_fingerprint({"min_confidence": 50}, {"max_depth": 4}, "sha256:a")[0] != base
    assert settings_fingerprint({"min_confidence": 50}, {"max_depth": 3}, "sha256:b")[0] != base
    assert settings_fingerprint({"min_confidence": 50}, {"max_depth": 3}, "sha256:a", {"baseline": "x"})[0] != base
    assert settings_fingerprint({"min_confidence": 50}, {"max_depth": 3}, "sha256:a")[0] == base


def test_a_random_key_cannot_keep_a_state(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)
    with pytest.raises(StateError, match="stable fingerprint key"):
        open_state(tmp_path / "s.state", engine={}, limits={}, key=FingerprintKey())


def test_a_short_key_cannot_keep_a_state(tmp_path: Path) -> None:
    from cardscan.findings import WeakKeyError

    with pytest.raises(WeakKeyError, match="--state is 31 bytes"):
        open_state(tmp_path / "s.state", engine={}, limits={}, key=FingerprintKey(b"s" * 31))
    assert not (tmp_path / "s.state").exists()
    open_state(tmp_path / "s.state", engine={}, limits={}, key=FingerprintKey(b"s" * 32)).store.close()


def test_a_short_env_key_fails_a_sweep_with_state_before_anything_is_written(tmp_path: Path, monkeypatch,
                                                                              capsys) -> None:
    from cardscan.cli.main import main

    (tmp_path / "share").mkdir()
    write_planted(tmp_path / "share" / "a.log", __import__("random").Random(5), 1)
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", "short-team-key")
    status = main(["scan", str(tmp_path / "share"), "--manifest", str(tmp_path / "m.jsonl"),
                   "--state", str(tmp_path / "s.state"), "--no-progress", "-q", "--no-config"])
    assert status == 2
    assert "cardscan keygen" in capsys.readouterr().err
    assert not (tmp_path / "s.state").exists() and not (tmp_path / "m.jsonl").exists()


# -- sweeps with a state ---------------------------------------------------------------
def test_second_sweep_carries_over_unchanged_objects(tmp_path: Path, rng) -> None:
    planted = tree(tmp_path / "t", rng)
    state = tmp_path / "s.state"
    first, s1 = run(tmp_path / "t", state)
    assert first["state"]["mode"] == "new" and first["carried_over"]["objects"] == 0
    assert len(s1.findings) == sum(map(len, planted.values())) > 0
    second, s2 = run(tmp_path / "t", state)
    assert second["state"]["mode"] == "incremental"
    assert second["objects_scanned"] == 0 and second["carried_over"]["objects"] == len(planted)
    assert second["carried_over"]["findings"] == len(s1.findings) == second["findings"]
    assert ids(s2.findings) == ids(s1.findings)
    assert all(f.carried_over for f in s2.findings)
    assert {f.carried_over for f in s2.findings} <= {r["scanned_at"] for r in _rows(state)}
    # The carried records keep the content identity of the scan that read them.
    first_obj = {f.id: f.obj.get("sha256") for f in s1.findings}
    assert all(first_obj[f.id] == f.obj.get("sha256") for f in s2.findings)
    assert second["gone"] == {"objects": 0, "objects_with_findings": 0}


def test_changed_objects_are_rescanned_new_ones_scanned_and_gone_ones_counted(tmp_path: Path, rng) -> None:
    root = tmp_path / "t"
    tree(root, rng)
    state = tmp_path / "s.state"
    run(root, state)
    (root / "f1.log").write_text("now with a card: " + "\n".join(write_planted(tmp_path / "x", rng, 1)) + "\n")
    os.utime(root / "f1.log", ns=(1, 1_700_000_000_000_000_001))
    (root / "f0.log").unlink()  # had findings
    (root / "f3.log").unlink()  # had none
    write_planted(root / "new.log", rng, 2, start=40)
    summary, sink = run(root, state)
    assert summary["objects_scanned"] == 2  # f1 (changed) and new.log
    assert summary["carried_over"]["objects"] == 5
    assert summary["gone"] == {"objects": 2, "objects_with_findings": 1}
    scanned = {Path(f.location.uri).name for f in sink.findings if not f.carried_over}
    assert scanned == {"f1.log", "new.log"}
    # Gone objects are counted once, by the sweep that noticed.
    again, _ = run(root, state)
    assert again["gone"]["objects"] == 0 and again["objects_scanned"] == 0


def test_carried_findings_get_the_objects_current_exposure(tmp_path: Path, open_tmp_path: Path, rng) -> None:
    root = open_tmp_path / "t"  # others can reach it: exposure counts the directories above
    tree(root, rng, 2)
    os.chmod(root / "f0.log", 0o644)
    state = tmp_path / "s.state"
    _, s1 = run(root, state)
    assert {f.obj["exposure"] for f in s1.findings} == {"world-readable"}
    os.chmod(root / "f0.log", 0o600)  # mode changes do not change the content
    summary, s2 = run(root, state)
    assert summary["objects_scanned"] == 0
    assert {f.obj["exposure"] for f in s2.findings} == {"private"} and {f.obj["mode"] for f in s2.findings} == {"0600"}


def test_changed_settings_or_key_are_not_reused(tmp_path: Path, rng) -> None:
    root = tmp_path / "t"
    planted = tree(root, rng)
    state = tmp_path / "s.state"
    run(root, state)
    summary, _ = run(root, state, config=ScanConfig(min_confidence=60))
    assert summary["objects_scanned"] == len(planted) and summary["carried_over"]["objects"] == 0
    with StateStore(state) as store:
        runs = store.runs()
    assert runs[-1]["mode"] == "incremental"
    summary, _ = run(root, state, config=ScanConfig(min_confidence=60), key=KEY + b"-other")
    assert summary["carried_over"]["objects"] == 0
    # The scan record says why.
    m = tmp_path / "m.jsonl"
    run(root, state, manifest=m)  # back to the defaults: the settings changed again
    scan = load_manifest(m).scan
    assert scan is not None and set(scan["state"]["settings_changed"]) == {"engine settings", "fingerprint key"}


def test_full_rescans_everything_and_still_updates_the_state(tmp_path: Path, rng) -> None:
    root = tmp_path / "t"
    planted = tree(root, rng)
    state = tmp_path / "s.state"
    run(root, state)
    summary, sink = run(root, state, full=True)
    assert summary["state"]["mode"] == "full"
    assert summary["objects_scanned"] == len(planted) and summary["carried_over"]["objects"] == 0
    assert not any(f.carried_over for f in sink.findings)
    assert {r["run"] for r in _rows(state)} == {2}  # every object re-recorded by the full run


def test_objects_with_errors_are_scanned_again(tmp_path: Path, rng) -> None:
    root = tmp_path / "t"
    tree(root, rng, 2)
    (root / "broken.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 40)  # a damaged container: a decode error
    state = tmp_path / "s.state"
    first, _ = run(root, state)
    assert first["errors"] >= 1
    rows = {r["uri"].rsplit("/", 1)[1]: r for r in _rows(state)}
    assert rows["broken.zip"]["status"] == "failed" and rows["f0.log"]["status"] == "done"
    second, _ = run(root, state)
    assert second["objects_scanned"] == 1 and second["errors"] == first["errors"]


def test_interrupted_sweep_resumes_without_losing_or_doubling(tmp_path: Path, rng) -> None:
    root = tmp_path / "t"
    tree(root, rng, 12)
    reference, ref_sink = run(root, None)
    state = tmp_path / "s.state"

    class StopAfter(BaseSink):
        """Stops the sweep hard (a second Ctrl-C) while the n-th object is being emitted."""

        def __init__(self, n: int) -> None:
            self.n = n

        def end_item(self, item: Any, stats: dict[str, Any]) -> None:
            self.n -= 1
            if self.n == 0:
                raise KeyboardInterrupt

    first, _ = run(root, state, sinks=[StopAfter(5)])
    assert first["status"] == "interrupted"
    second, s2 = run(root, state)
    assert second["state"]["mode"] == "resume"
    assert second["carried_over"]["objects"] == 4  # the fifth was cut off before the state recorded it
    assert second["objects_scanned"] + second["carried_over"]["objects"] == 12
    assert ids(s2.findings) == ids(ref_sink.findings)  # none lost, none doubled
    assert second["findings"] == reference["findings"]


def test_state_commits_come_after_the_records_reached_the_sinks(tmp_path: Path, rng) -> None:
    root = tmp_path / "t"
    tree(root, rng, 6)
    state = tmp_path / "s.state"
    seen: list[tuple[str, bool]] = []

    class Probe(BaseSink):
        """At each object's flush, look at the state from another connection (as a resumed run would)."""

        def end_item(self, item: Any, stats: dict[str, Any]) -> None:
            db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
            try:
                row = db.execute("SELECT status FROM objects WHERE uri=?", (item.uri,)).fetchone()
            finally:
                db.close()
            seen.append((item.uri, row is not None))

    summary, _ = run(root, state, sinks=[Probe()])
    assert len(seen) == 6 and not any(committed for _, committed in seen)
    assert summary["status"] == "complete" and len(_rows(state)) == 6


def test_a_failed_write_claims_nothing_of_its_batch(tmp_path: Path) -> None:
    from cardscan.findings import Location

    f = Finding(Location("file:///a"), "pan", "visa", "411111******1111", "hmac-sha256:" + "0" * 64, 90)
    with StateStore(tmp_path / "s.state") as store:
        # The disk "fails" while the second batch's findings are written.
        store.db.execute("CREATE TEMP TRIGGER boom BEFORE INSERT ON findings WHEN NEW.uri = 'file:///b' "
                         "BEGIN SELECT RAISE(ABORT, 'disk I/O error'); END")
        run_id = store.begin_run(started="t", fingerprint="f", parts={}, roots=[]).id
        store.record(Item("file:///a", "file"), run=run_id, settings="f", scanned_at="t", findings=[f], errors=[])
        store.commit()
        store.record(Item("file:///c", "file"), run=run_id, settings="f", scanned_at="t", findings=[], errors=[])
        store.record(Item("file:///b", "file"), run=run_id, settings="f", scanned_at="t", findings=[f], errors=[])
        with pytest.raises(StateError, match="cannot write the state"):
            store.commit()
        # a is whole; of b and c (same batch) neither rows nor findings survived: both get scanned again.
        assert store.prior("file:///a", None) is not None
        assert store.prior("file:///b", None) is None and store.prior("file:///c", None) is None
        assert store.db.execute("SELECT count(*) FROM findings").fetchone()[0] == 1
        store.commit()  # nothing left pending


def test_an_object_recorded_twice_in_a_batch_is_stored_once(tmp_path: Path) -> None:
    from cardscan.findings import Location

    f = Finding(Location("file:///a"), "pan", "visa", "411111******1111", "hmac-sha256:" + "0" * 64, 90)
    with StateStore(tmp_path / "s.state") as store:
        run_id = store.begin_run(started="t", fingerprint="f", parts={}, roots=[]).id
        for _ in range(2):  # overlapping roots list the same file twice
            store.record(Item("file:///a", "file"), run=run_id, settings="f", scanned_at="t", findings=[f], errors=[])
        store.commit()
        assert store.db.execute("SELECT count(*) FROM findings").fetchone()[0] == 1


# -- the manifest of a sweep with a state ---------------------------------------------
def test_manifest_is_staged_and_renamed_when_the_sweep_completes(tmp_path: Path, rng) -> None:
    root = tmp_path / "t"
    tree(root, rng, 6)
    state, m = tmp_path / "s.state", tmp_path / "m.jsonl"
    run(root, state, manifest=m)
    assert m.exists() and not Path(str(m) + ".partial").exists()
    assert stat.S_IMODE(m.stat().st_mode) == 0o600
    before = m.read_bytes()

    class Interrupt(BaseSink):
        def end_item(self, item: Any, stats: dict[str, Any]) -> None:
            os.kill(os.getpid(), __import__("signal").SIGINT)

    os.utime(root / "f0.log", ns=(1, 1_600_000_000_000_000_000))  # something to rescan
    summary, _ = run(root, state, manifest=m, sinks=[Interrupt()])
    assert summary["status"] == "interrupted"
    assert m.read_bytes() == before  # PATH still holds the last complete sweep
    partial = load_manifest(str(m) + ".partial")
    assert partial.summary is not None and partial.summary["status"] == "interrupted"
    run(root, state, manifest=m)
    recs = [json.loads(line) for line in m.read_text().splitlines()]
    assert validate_records(recs) == []
    carried = [r for r in recs if r["type"] == "finding" and r.get("carried_over")]
    assert carried and all("scanned_at" in r for r in carried)
    assert recs[0]["state"]["mode"] == "resume" and recs[-1]["status"] == "complete"
    assert not Path(str(m) + ".partial").exists()
    got = sorted(r["id"] for r in recs if r["type"] == "finding")
    want = sorted(r["id"] for r in (json.loads(x) for x in before.decode().splitlines()) if r["type"] == "finding")
    assert got == want


def test_staged_manifest_of_an_interrupted_run_names_the_partial_file(tmp_path: Path) -> None:
    import io

    m = tmp_path / "m.jsonl"
    staged = StagedManifest(m)
    err = io.StringIO()
    notice = staged.notice_sink(err)
    staged.begin({"cardscan_version": "0"})
    staged.close({"status": "interrupted"})
    notice.close({"status": "interrupted"})
    assert not m.exists() and "m.jsonl.partial" in err.getvalue() and "resume" in err.getvalue()


def _rows(state: Path) -> list[dict[str, Any]]:
    db = sqlite3.connect(f"file:{state}?mode=ro", uri=True)
    db.row_factory = sqlite3.Row
    try:
        return [dict(r) for r in db.execute("SELECT * FROM objects WHERE gone_run IS NULL")]
    finally:
        db.close()


def test_a_torn_partial_manifest_from_a_killed_run_is_replaced(tmp_path: Path, rng) -> None:
    root = tmp_path / "t"
    tree(root, rng, 4)
    state, m = tmp_path / "s.state", tmp_path / "m.jsonl"
    partial = Path(str(m) + ".partial")
    # What a kill in the middle of a write would leave: a valid start, then half a record.
    partial.write_bytes(b'{"type":"scan","schema_version":1}\n{"type":"finding","id":"5cc4af9b57816f4')
    assert load_manifest(partial).truncated
    summary, _ = run(root, state, manifest=m)
    assert summary["status"] == "complete" and not partial.exists()
    recs = [json.loads(line) for line in m.read_text().splitlines()]  # every line whole
    assert validate_records(recs) == [] and recs[-1]["type"] == "summary"
    assert sum(r["type"] == "scan" for r in recs) == 1


def test_progress_counts_carried_objects_as_files_not_bytes(tmp_path: Path, rng) -> None:
    from cardscan.run.progress import ScanCallback

    class Record(ScanCallback):
        def __init__(self) -> None:
            self.files = self.nbytes = 0
            self.sizes: list[tuple[int | None, int | None]] = []

        def set_size(self, files: int | None = None, nbytes: int | None = None) -> None:
            self.sizes.append((files, nbytes))

        def relative_update(self, files: int = 0, nbytes: int = 0, findings: int = 0, errors: int = 0) -> None:
            self.files += files
            self.nbytes += nbytes

    root = tmp_path / "t"
    tree(root, rng, 6)
    state = tmp_path / "s.state"
    run(root, state)
    (root / "f1.log").write_text("changed, and longer than before: 0123456789\n")
    p = Record()
    summary, _ = run(root, state, progress=p)
    size = (root / "f1.log").stat().st_size
    assert summary["carried_over"]["objects"] == 5 and p.files == 6
    assert p.nbytes == size  # only what was read: rate and ETA stay honest
    assert p.sizes[-1] == (6, summary["bytes_scanned"]) and summary["bytes_scanned"] == size
