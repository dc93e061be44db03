"""``cardscan scan`` for repositories and CI: --format sarif/junit, --baseline, --git-history (real CLI)."""
from __future__ import annotations

import json
import os
import subprocess
import xml.etree.ElementTree as ET
from pathlib import Path

import jsonschema
import pytest

from cardscan.cli import main as cli_main
from cardscan.testing import assert_no_pan, make_pan

KEY = "ci-key, long enough to be accepted (32+)"
SCHEMA = json.loads((Path(__file__).parent.parent / "sinks" / "data" / "sarif-schema-2.1.0.json").read_text())


@pytest.fixture
def tree(tmp_path: Path, monkeypatch, rng):
    root = tmp_path / "repo"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY)
    pans = [make_pan("455673", 16, rng), make_pan("510510", 16, rng)]
    (root / "src").mkdir()
    (root / "src" / "fixture.py").write_text(f"CARD = '{pans[0]}'\n")
    (root / "logs.txt").write_text(f"payment card {pans[1]} declined\n")
    (root / "clean.txt").write_text("nothing\n")
    return root, pans


def scan(*argv: str, capsys, pans) -> tuple[int, str, str]:
    code = cli_main.main(["scan", "--jobs", "1", "--no-progress", *argv])
    c = capsys.readouterr()
    assert_no_pan(c.out + c.err, pans, "scan output")
    return code, c.out, c.err


def test_sarif_format(tree, capsys) -> None:
    root, pans = tree
    code, out, err = scan(".", "--format", "sarif", capsys=capsys, pans=pans)
    assert code == 1
    doc = json.loads(out)
    jsonschema.Draft7Validator(SCHEMA).validate(doc)
    uris = sorted(r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] for r in doc["runs"][0]["results"])
    assert uris == ["logs.txt", "src/fixture.py"]
    assert doc["runs"][0]["properties"]["key_source"] == "env"


def test_junit_format(tree, capsys) -> None:
    root, pans = tree
    code, out, _ = scan(".", "--format", "junit", capsys=capsys, pans=pans)
    assert code == 1
    suite = ET.fromstring(out).find("testsuite")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("3", "2", "0")


def test_baseline_reports_only_new(tree, capsys, rng) -> None:
    root, pans = tree
    assert cli_main.main(["baseline", "-q", "src"]) == 0
    capsys.readouterr()
    code, out, err = scan(".", "--baseline", ".cardscan-baseline.json", capsys=capsys, pans=pans)
    assert code == 1
    assert "logs.txt" in out and "fixture.py" not in out
    assert "1 finding(s) accepted by the baseline" in err
    (root / "logs.txt").write_text("clean now\n")
    code, out, err = scan(".", "--baseline", ".cardscan-baseline.json", capsys=capsys, pans=pans)
    assert code == 0
    # Another key cannot use the baseline: a clear error, exit 2.
    os.environ["CARDSCAN_FINGERPRINT_KEY"] = "other key, long enough to be accepted"
    code, out, err = scan(".", "--baseline", ".cardscan-baseline.json", capsys=capsys, pans=pans)
    assert code == 2 and "another fingerprint key" in err


def _git(root: Path, *args: str) -> None:
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull,
           "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.com",
           "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}
    subprocess.run(["git", *args], cwd=root, env=env, check=True, capture_output=True)


def test_git_history(tree, capsys) -> None:
    root, pans = tree
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "one")
    (root / "logs.txt").write_text("redacted\n")
    _git(root, "commit", "-q", "-am", "remove the card from the log")
    # The working tree has one card left; the history has both.
    code, out, _ = scan(".", capsys=capsys, pans=pans)
    assert code == 1 and out.count(pans[0][:6]) == 1 and pans[1][:6] not in out
    code, out, _ = scan(".", "--git-history", "--format", "sarif", capsys=capsys, pans=pans)
    assert code == 1
    doc = json.loads(out)
    jsonschema.Draft7Validator(SCHEMA).validate(doc)
    results = doc["runs"][0]["results"]
    by_uri = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r for r in results}
    assert set(by_uri) == {"logs.txt", "src/fixture.py"}
    assert len(by_uri["logs.txt"]["properties"]["commit"]) == 40
    # A range with only the second commit: the removal adds no card.
    code, out, _ = scan("--git-range", "HEAD~1..HEAD", ".", capsys=capsys, pans=pans)
    assert code == 0
    # Text output names the commit in the URI, and a subdirectory means its repository.
    code, out, _ = scan("src", "--git-history", capsys=capsys, pans=pans)
    assert code == 1 and "?commit=" in out and "logs.txt" in out


def test_git_history_outside_a_repository(tree, capsys) -> None:
    root, pans = tree
    code, out, err = scan(".", "--git-history", capsys=capsys, pans=pans)
    assert code == 2 and "not inside a git repository" in err


# -- one allow policy for hook, scan, history and SARIF (issue 14.1) ------------------------------


@pytest.fixture
def allowed_tree(tmp_path: Path, monkeypatch, rng):
    root = tmp_path / "repo"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY)
    pans = [make_pan("455673", 16, rng), make_pan("510510", 16, rng), make_pan("455673", 16, rng)]
    (root / "tests").mkdir()
    (root / "tests" / "fixture.py").write_text(f"CARD = '{pans[0]}'  # cardscan: allow\n")
    (root / "tests" / "cards.csv").write_text(f"# cardscan: allow-next-line\n{pans[1]},Jane Doe,04/29\n")
    (root / "notes.txt").write_text(f"real card {pans[2]} exp 04/29\n")
    return root, pans


def test_scan_honours_the_allow_comment_like_the_hook(allowed_tree, capsys) -> None:
    root, pans = allowed_tree
    manifest = root.parent / "m.jsonl"
    code, out, err = scan(".", "--manifest", str(manifest), capsys=capsys, pans=pans)
    assert code == 1
    assert "notes.txt" in out and "fixture.py" not in out and "cards.csv" not in out
    assert "2 allowed by 'cardscan: allow' comments" in err
    records = [json.loads(x) for x in manifest.read_text().splitlines()]
    assert [r["location"]["uri"].rsplit("/", 1)[1] for r in records if r["type"] == "finding"] == ["notes.txt"]
    assert records[-1]["allowed"] == 2 and records[-1]["findings"] == 1
    # Only allowed cards: clean.
    (root / "notes.txt").write_text("nothing\n")
    code, out, err = scan(".", capsys=capsys, pans=pans)
    assert code == 0 and out == ""
    # The hook agrees.
    assert cli_main.main(["hook", "tests/fixture.py", "tests/cards.csv"]) == 0


def test_sarif_reports_allowed_lines_as_suppressed(allowed_tree, capsys) -> None:
    root, pans = allowed_tree
    code, out, _ = scan(".", "--format", "sarif", capsys=capsys, pans=pans)
    assert code == 1
    doc = json.loads(out)
    jsonschema.Draft7Validator(SCHEMA).validate(doc)
    by_uri = {r["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]: r for r in doc["runs"][0]["results"]}
    assert set(by_uri) == {"notes.txt", "tests/fixture.py", "tests/cards.csv"}
    assert "suppressions" not in by_uri["notes.txt"] and by_uri["notes.txt"]["level"] == "error"
    for uri in ("tests/fixture.py", "tests/cards.csv"):
        assert by_uri[uri]["suppressions"][0]["kind"] == "inSource" and by_uri[uri]["level"] == "note"
    assert by_uri["tests/cards.csv"]["locations"][0]["physicalLocation"]["region"]["startLine"] == 2


def test_git_history_honours_the_allow_comment(allowed_tree, capsys) -> None:
    root, pans = allowed_tree
    _git(root, "init", "-q", "-b", "main")
    _git(root, "add", "-A")
    _git(root, "commit", "-q", "-m", "one")
    (root / "notes.txt").write_text("gone\n")
    _git(root, "commit", "-q", "-am", "two")
    code, out, err = scan(".", "--git-history", capsys=capsys, pans=pans)
    assert code == 1 and "notes.txt" in out and "fixture.py" not in out and "cards.csv" not in out
    assert "2 allowed" in err
