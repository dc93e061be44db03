"""The baseline: keyed fingerprints and paths, never numbers; new = found - baseline."""
from __future__ import annotations

import json
import os
from dataclasses import replace
from pathlib import Path

import pytest

from cardscan import Scanner
from cardscan.baseline import (
    BASELINE_VERSION,
    UPGRADES,
    Baseline,
    BaselineError,
    check_key_outside,
    entry_id,
    finding_path,
    parse_label,
    upgrade,
)
from cardscan.findings import Cell, FingerprintKey, Location
from cardscan.testing import assert_no_pan, make_pan

KEY = FingerprintKey(b"team key kept outside the repository")


def scan(path: Path, key: FingerprintKey = KEY, member: tuple[str, ...] = ()):
    return Scanner(key=key).scan_bytes(path.read_bytes(), Location(uri=path.as_uri(), member=member))


@pytest.fixture
def repo(tmp_path: Path, rng):
    pans = [make_pan("455673", 16, rng), make_pan("510510", 16, rng), make_pan("371449", 15, rng)]
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "fixture.py").write_text(f"CARD = '{pans[0]}'\nOTHER = '{pans[1]}'\n")
    (tmp_path / "notes.txt").write_text(f"card {pans[2]}\n")
    return tmp_path, pans


def test_written_file_holds_no_numbers_and_is_private(repo) -> None:
    root, pans = repo
    found = scan(root / "tests" / "fixture.py") + scan(root / "notes.txt")
    assert len(found) == 3
    b = Baseline.from_findings(found, KEY, root, settings={"min_confidence": 50})
    target = root / ".cardscan-baseline.json"
    b.write(target)
    assert target.stat().st_mode & 0o777 == 0o600
    text = target.read_text()
    assert_no_pan(text, pans, "baseline file")
    data = json.loads(text)
    assert data["version"] == BASELINE_VERSION
    assert data["key_id"] == KEY.key_id and "team key" not in text
    assert data["generated_by"].startswith("cardscan ")
    assert set(data["results"]) == {"tests/fixture.py", "notes.txt"}
    entry = data["results"]["tests/fixture.py"][0]
    assert set(entry) == {"id", "fingerprint", "kind", "brand", "masked", "line"}
    assert entry["id"] == entry_id("tests/fixture.py", entry["fingerprint"], "pan") and len(entry["id"]) == 12
    assert entry["fingerprint"].startswith("hmac-sha256:") and entry["masked"] == found[0].masked


def test_new_is_found_minus_baseline_and_moves_are_not_new(repo, rng) -> None:
    root, pans = repo
    fixture = root / "tests" / "fixture.py"
    b = Baseline.from_findings(scan(fixture), KEY, root)
    b.write(root / "b.json")
    loaded = Baseline.load(root / "b.json")
    # Lines move (a header added): nothing new.
    fixture.write_text("# header\n\n" + fixture.read_text())
    assert loaded.new(scan(fixture)) == []
    # A new number in the same file: exactly that one is new.
    extra = make_pan("455673", 16, rng)
    fixture.write_text(fixture.read_text() + f"THIRD = '{extra}'\n")
    new = loaded.new(scan(fixture))
    assert [f.masked for f in new] == [f"{extra[:6]}******{extra[-4:]}"]
    # A known number copied into another file is new there.
    (root / "copy.py").write_text(f"X = '{pans[0]}'\n")
    assert len(loaded.new(scan(root / "copy.py"))) == 1
    # Same place, same number, other kind: new (track data is not the PAN).
    f0 = scan(fixture)[0]
    assert loaded.is_known(f0) and not loaded.is_known(replace(f0, kind="track2"))


def test_key_must_match(repo, monkeypatch) -> None:
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)
    root, _ = repo
    b = Baseline.from_findings(scan(root / "notes.txt"), KEY, root)
    b.check_key(FingerprintKey(b"team key kept outside the repository"))
    with pytest.raises(BaselineError, match="another fingerprint key"):
        b.check_key(FingerprintKey(b"someone else's key, also 32 bytes"))
    with pytest.raises(BaselineError, match="none is set"):
        b.check_key(FingerprintKey(None))  # no key set anywhere: a random one


def test_random_key_refused(repo, monkeypatch) -> None:
    root, _ = repo
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)
    random_key = FingerprintKey(None)
    assert random_key.random
    with pytest.raises(BaselineError, match="random fingerprint key"):
        Baseline.from_findings(scan(root / "notes.txt", random_key), random_key, root)


def test_short_key_refused_for_a_baseline(repo, monkeypatch) -> None:
    from cardscan.findings import WeakKeyError

    root, _ = repo
    short = FingerprintKey(b"team key, 31 bytes long........")
    assert len(short.raw()) == 31
    with pytest.raises(WeakKeyError, match="baseline.*cardscan keygen"):
        Baseline.from_findings(scan(root / "notes.txt", short), short, root)
    # A baseline made (by an earlier version) under a short key is refused too, not trusted.
    old = Baseline([], key_id=short.key_id, root=root)
    with pytest.raises(WeakKeyError):
        old.check_key(short)


def test_baseline_with_an_earlier_versions_key_id_is_still_accepted(repo) -> None:
    root, _ = repo
    b = Baseline.from_findings(scan(root / "notes.txt"), KEY, root)
    b.key_id = KEY.legacy_key_id  # as written before key ids were keyed
    b.check_key(KEY)
    assert b.new(scan(root / "notes.txt")) == []


def test_key_file_inside_repository_refused(tmp_path: Path) -> None:
    inside = tmp_path / "secrets" / "key"
    inside.parent.mkdir()
    inside.write_text("k")
    with pytest.raises(BaselineError, match="inside the repository"):
        check_key_outside(inside, tmp_path)
    outside = tmp_path.parent / f"{tmp_path.name}-key"
    check_key_outside(outside, tmp_path)  # no error
    check_key_outside(None, tmp_path)


def test_paths(tmp_path: Path, rng) -> None:
    pan = make_pan("455673", 16, rng)
    s = Scanner(key=KEY)
    data = f"card {pan}\n".encode()
    root = tmp_path / "repo"
    inside = s.scan_bytes(data, Location(uri=(root / "a b" / "c.txt").as_uri()))[0]
    member = s.scan_bytes(data, Location(uri=(root / "x.zip").as_uri(), member=("in.tar", "d.csv")))[0]
    outside = s.scan_bytes(data, Location(uri=(tmp_path / "other.txt").as_uri()))[0]
    s3 = s.scan_bytes(data, Location(uri="s3://bucket/k.txt"))[0]
    cell = s.scan_bytes(data, Location(uri="sqlite:///db", cell=Cell("t", "c", (("id", 1),))))[0]
    git = replace(s.scan_bytes(data, Location(uri="git+file:///r/src/a.py?commit=" + "0" * 40))[0],
                  obj={"repo": str(root), "path": "src/a.py", "commit": "0" * 40})
    assert finding_path(inside, root) == "a b/c.txt"
    assert finding_path(member, root) == "x.zip!in.tar!d.csv"
    assert finding_path(outside, root) == (tmp_path / "other.txt").as_posix()
    assert finding_path(s3, root) == "s3://bucket/k.txt"
    assert finding_path(cell, root) == "sqlite:///db#t.c"
    assert finding_path(git, root) == "src/a.py"


def test_git_history_finding_matches_working_tree_entry(tmp_path: Path, rng) -> None:
    """An accepted fixture stays accepted in every commit that has it."""
    pan = make_pan("455673", 16, rng)
    (tmp_path / "src").mkdir()
    path = tmp_path / "src" / "a.py"
    path.write_text(f"card = '{pan}'\n")
    b = Baseline.from_findings(scan(path), KEY, tmp_path)
    data = path.read_bytes()
    hist = Scanner(key=KEY).scan_bytes(data, Location(uri=f"git+file://{tmp_path}/src/a.py?commit={'1' * 40}"))[0]
    hist = replace(hist, obj={"repo": str(tmp_path), "path": "src/a.py", "commit": "1" * 40})
    assert b.is_known(hist)


def test_forget_paths_and_add(repo) -> None:
    root, _ = repo
    b = Baseline.from_findings(scan(root / "tests" / "fixture.py") + scan(root / "notes.txt"), KEY, root)
    assert len(b) == 3
    assert b.forget_paths(["tests/fixture.py"]) == 2
    assert len(b) == 1
    assert b.add(scan(root / "notes.txt")) == 0
    assert b.add(scan(root / "tests" / "fixture.py")) == 2


def test_bad_files(tmp_path: Path) -> None:
    p = tmp_path / "b.json"
    with pytest.raises(BaselineError, match="does not exist"):
        Baseline.load(p)
    p.write_text("{not json")
    with pytest.raises(BaselineError, match="not valid JSON"):
        Baseline.load(p)
    p.write_text("[]")
    with pytest.raises(BaselineError, match="expected a JSON object"):
        Baseline.load(p)
    p.write_text(json.dumps({"version": 1, "results": {}}))
    with pytest.raises(BaselineError, match="key_id"):
        Baseline.load(p)
    p.write_text(json.dumps({"version": 1, "key_id": "k", "results": {"a": [{"kind": "pan"}]}}))
    with pytest.raises(BaselineError, match="fingerprint"):
        Baseline.load(p)
    p.write_text(json.dumps({"version": BASELINE_VERSION + 1, "key_id": "k", "results": {}}))
    with pytest.raises(BaselineError, match="newer cardscan"):
        Baseline.load(p)
    p.write_text(json.dumps({"key_id": "k", "results": {}}))
    with pytest.raises(BaselineError, match="version"):
        Baseline.load(p)


def test_upgrade_runs_one_step_per_version(monkeypatch) -> None:
    """The machinery future formats plug into: version n -> n + 1, in order."""
    calls = []

    def step0(d):
        calls.append(0)
        return {**d, "version": 1, "results": {p: [dict(e, kind="pan") for e in es] for p, es in d["entries"].items()}}

    monkeypatch.setitem(UPGRADES, 0, step0)
    old = {"version": 0, "key_id": "k", "entries": {"a.txt": [{"fingerprint": "hmac-sha256:1"}]}}
    new = upgrade(old)
    assert calls == [0] and new["version"] == BASELINE_VERSION
    b = Baseline.from_dict(old)
    assert [e.identity() for e in b.entries] == [("a.txt", "hmac-sha256:1", "pan")]
    monkeypatch.setitem(UPGRADES, 0, lambda d: {**d, "version": 0})
    with pytest.raises(BaselineError, match="did not produce"):
        upgrade({"version": 0, "key_id": "k", "results": {}})
    monkeypatch.delitem(UPGRADES, 0)
    with pytest.raises(BaselineError, match="not supported"):
        upgrade({"version": 0, "key_id": "k", "results": {}})


def test_write_is_atomic_and_replaces(repo) -> None:
    root, _ = repo
    target = root / "b.json"
    target.write_text("old")
    os.chmod(target, 0o644)
    Baseline.from_findings(scan(root / "notes.txt"), KEY, root).write(target)
    assert json.loads(target.read_text())["version"] == BASELINE_VERSION
    assert target.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in root.iterdir() if p.name.endswith(".tmp")] == []


# -- version 2: entry ids and audit labels (issue 14.7) -----------------------------------------


def test_a_version_1_baseline_is_read_and_upgraded_in_one_step(repo) -> None:
    root, pans = repo
    found = scan(root / "notes.txt")
    v1 = {"version": 1, "generated_by": "cardscan 0.1.0", "generated_at": "2026-01-01T00:00:00Z",
          "key_id": KEY.key_id, "settings": {},
          "results": {"notes.txt": [{"fingerprint": found[0].fingerprint, "kind": "pan", "masked": found[0].masked,
                                     "line": 1}]}}
    (root / "old.json").write_text(json.dumps(v1))
    b = Baseline.load(root / "old.json")
    assert b.is_known(found[0]) and [e.label for e in b.entries] == [None]
    assert UPGRADES[1](json.loads(json.dumps(v1)))["version"] == 2
    b.write(root / "old.json")
    data = json.loads((root / "old.json").read_text())
    assert data["version"] == 2 == BASELINE_VERSION
    assert data["results"]["notes.txt"][0]["id"] == entry_id("notes.txt", found[0].fingerprint, "pan")


def test_labels_are_recorded_kept_across_rescans_and_real_is_not_accepted(repo) -> None:
    root, pans = repo
    fixture = root / "tests" / "fixture.py"
    found = scan(fixture)
    b = Baseline.from_findings(found, KEY, root)
    first, second = b.entries
    b.label(first.id, "false-positive", "alice", "2026-11-29T09:00:00Z")
    b.label(second.id[:6], "REAL", "bob")
    b.write(root / "b.json")
    data = json.loads((root / "b.json").read_text())
    audits = {e["id"]: e.get("audit") for e in data["results"]["tests/fixture.py"]}
    assert audits[first.id] == {"label": "false_positive", "by": "alice", "at": "2026-11-29T09:00:00Z"}
    assert audits[second.id]["label"] == "real" and audits[second.id]["by"] == "bob"
    loaded = Baseline.load(root / "b.json")
    # The number labelled real is a leak: reported again.
    by_id = {loaded.entry_for(f).id: f for f in found}
    assert loaded.is_known(by_id[first.id]) and not loaded.is_known(by_id[second.id])
    assert loaded.new(found) == [by_id[second.id]]
    # A rescan (lines moved) keeps the labels.
    fixture.write_text("# moved\n" + fixture.read_text())
    loaded.add(scan(fixture))
    assert {e.id: e.label for e in loaded.entries} == {first.id: "false_positive", second.id: "real"}
    fresh = Baseline.from_findings(scan(fixture), KEY, root)
    assert fresh.carry_audits(loaded) == 2 and {e.label for e in fresh.entries} == {"false_positive", "real"}


def test_label_lookup_and_parsing_errors(repo) -> None:
    root, _ = repo
    b = Baseline.from_findings(scan(root / "tests" / "fixture.py"), KEY, root)
    with pytest.raises(BaselineError, match="too short"):
        b.label("ab", "test", "me")
    with pytest.raises(BaselineError, match="no entry"):
        b.label("ffffffffffff", "test", "me")
    with pytest.raises(BaselineError, match="unknown audit label"):
        parse_label("maybe")
    assert [parse_label(x) for x in ("fp", "False Positive", "test", "Real")] == [
        "false_positive", "false_positive", "test", "real"]
    (root / "bad.json").write_text(json.dumps({"version": 2, "key_id": "k", "results": {
        "a": [{"fingerprint": "f", "kind": "pan", "audit": {"label": "nope"}}]}}))
    with pytest.raises(BaselineError, match="unknown audit label"):
        Baseline.load(root / "bad.json")


def test_key_mismatch_message_offers_a_way_out(repo, monkeypatch) -> None:
    """'baseline' said 'use --update' and '--update' said 'rewrite with baseline': a loop."""
    root, _ = repo
    b = Baseline.from_findings(scan(root / "notes.txt"), KEY, root)
    b.write(root / "ci.json")
    with pytest.raises(BaselineError, match=r"cardscan baseline --update \S*ci.json --force"):
        Baseline.load(root / "ci.json").check_key(FingerprintKey(b"someone else's key, also 32 bytes"))
