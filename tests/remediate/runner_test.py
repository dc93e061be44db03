"""cardscan/remediate/runner.py: reading a manifest for remediation (load,
incomplete, check_key), grouping findings by object, and the exit status.
The actions themselves are tested per kind (files_test.py, s3_test.py ...)."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from cardscan.errors import ConfigError, ManifestError
from cardscan.findings import FingerprintKey
from cardscan.remediate import Selection, runner
from cardscan.testing import assert_no_pan
from tests.remediate.helpers import FKEY, pans, scan


@pytest.fixture
def two_files(tmp_path: Path) -> tuple[Path, list[str]]:
    p = pans(3)
    tree = tmp_path / "tree"
    tree.mkdir()
    (tree / "a.log").write_text(f"card {p[0]}\nnothing here\ncard {p[1]}\n")
    (tree / "b.csv").write_text(f"id,card_number\n1,{p[2]}\n")
    (tree / "clean.txt").write_text("order 1234 shipped\n")
    return scan(tmp_path, tree), p


def lines(manifest: Path) -> list[str]:
    return manifest.read_text().splitlines()


def test_load_reads_scan_records_and_every_finding(two_files) -> None:
    manifest, p = two_files
    summaries: list[dict] = []
    scans, chosen, total = runner.load(str(manifest), key=FKEY, summaries=summaries)
    assert len(scans) == 1 and scans[0]["type"] == "scan"
    assert total == len(chosen) == 3
    assert {f.fingerprint for f in chosen} == {FKEY.fingerprint(x) for x in p}
    assert [s["status"] for s in summaries] == ["complete"]
    assert runner.incomplete(scans, summaries) is None


def test_load_keeps_one_copy_of_findings_of_concatenated_manifests(two_files, tmp_path: Path) -> None:
    manifest, _ = two_files
    both = tmp_path / "both.jsonl"
    both.write_text(manifest.read_text() * 2)
    scans, chosen, total = runner.load(str(both), key=FKEY)
    assert len(scans) == 2 and total == 6
    assert len(chosen) == 3 and len({f.id for f in chosen}) == 3


def test_load_applies_the_selection(two_files) -> None:
    manifest, _ = two_files
    _, chosen, total = runner.load(str(manifest), Selection(paths=["*.csv"]), key=FKEY)
    assert total == 3
    assert [Path(f.location.uri).name for f in chosen] == ["b.csv"]
    _, none, _ = runner.load(str(manifest), Selection(paths=["*.xlsx"]), key=FKEY)
    assert none == []


def test_a_manifest_without_a_scan_record_is_refused(two_files, tmp_path: Path) -> None:
    manifest, _ = two_files
    headless = tmp_path / "headless.jsonl"
    headless.write_text("\n".join(x for x in lines(manifest) if json.loads(x)["type"] != "scan") + "\n")
    with pytest.raises(ManifestError, match="starts with a scan record"):
        runner.load(str(headless))
    empty = tmp_path / "empty.jsonl"
    empty.write_text("")
    with pytest.raises(ManifestError, match="no scan record"):
        runner.load(str(empty))


def test_an_incomplete_finding_record_is_an_error_that_names_no_card(two_files, tmp_path: Path) -> None:
    manifest, p = two_files
    out, cut = [], False
    for line in lines(manifest):
        rec = json.loads(line)
        if rec["type"] == "finding" and not cut:
            del rec["location"]  # the first finding only
            cut = True
        out.append(json.dumps(rec))
    broken = tmp_path / "broken.jsonl"
    broken.write_text("\n".join(out) + "\n")
    with pytest.raises(ManifestError, match="incomplete") as exc:
        runner.load(str(broken), key=FKEY)
    assert_no_pan(str(exc.value), p)


def test_a_scan_without_its_summary_or_stopped_early_is_incomplete(two_files) -> None:
    manifest, _ = two_files
    scans, _, _ = runner.load(str(manifest), key=FKEY)
    killed = runner.incomplete(scans, [])
    assert killed and "did not finish" in killed
    stopped = runner.incomplete(scans, [{"type": "summary", "status": "interrupted", "reason": "Ctrl-C"}])
    assert stopped and "interrupted" in stopped and "Ctrl-C" in stopped
    # a summary without a status is an older manifest's complete one
    assert runner.incomplete(scans, [{"type": "summary"}]) is None


def test_check_key_refuses_another_key_and_a_random_one(two_files) -> None:
    manifest, _ = two_files
    scans, _, _ = runner.load(str(manifest))
    runner.check_key(scans, FKEY)  # the scan's key: accepted
    other = FingerprintKey(b"another key of the same length, 32+ bytes long")
    with pytest.raises(ConfigError, match="fingerprints were made with key"):
        runner.check_key(scans, other)
    with pytest.raises(ConfigError, match="needs the fingerprint key"):
        runner.check_key(scans, FingerprintKey(None))  # a random key: nothing could be verified
    with pytest.raises(ConfigError):
        runner.load(str(manifest), key=other)


def test_group_puts_an_objects_findings_together_in_manifest_order(two_files) -> None:
    manifest, _ = two_files
    _, chosen, _ = runner.load(str(manifest), key=FKEY)
    groups = runner.group(chosen, runner._Remediators())
    assert [name for name, _ in groups] == ["file", "file"]
    by_file = {Path(k[0]).name: v for (_, k), v in groups.items()}
    assert sorted(by_file) == ["a.log", "b.csv"]
    assert [f.location.line for f in by_file["a.log"]] == [1, 3]
    assert [len(v) for v in groups.values()] == [len(by_file[Path(k[0]).name]) for (_, k) in groups]


@pytest.mark.parametrize("uri, name", [
    ("/srv/share/a.log", "file"),
    ("s3://bucket/key.csv", "s3"),
    ("postgresql://app@db/shop", "sql"),
    ("mysql+pymysql://app@db/shop", "sql"),
    ("memory://bucket/x", "memory"),   # not built in: the scheme is the plugin's name
])
def test_source_name_of_a_location(uri: str, name: str) -> None:
    assert runner.source_name(uri) == name


@pytest.mark.parametrize("counts, interrupted, remaining, code", [
    ({"done": 3}, False, [], runner.EXIT_OK),
    ({}, False, [], runner.EXIT_OK),
    ({"done": 2, "stale": 1}, False, [], runner.EXIT_SKIPPED),
    ({"unsupported": 1}, False, [], runner.EXIT_SKIPPED),
    ({"done": 1}, False, [False], runner.EXIT_SKIPPED),  # found again elsewhere in the object
    ({"done": 1}, False, [True], runner.EXIT_ERRORS),    # found again where it was remediated
    ({"error": 1, "stale": 4}, False, [], runner.EXIT_ERRORS),
    ({"error": 1}, True, [], runner.EXIT_INTERRUPTED),
])
def test_exit_code_precedence(counts: dict, interrupted: bool, remaining: list[bool], code: int) -> None:
    report = runner.Report(counts=Counter(counts), interrupted=interrupted,
                           remaining=[runner.Remaining(finding=None, at_remediated=r)  # type: ignore[arg-type]
                                      for r in remaining])
    assert report.exit_code == code
