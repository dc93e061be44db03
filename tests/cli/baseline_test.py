"""``cardscan baseline``: writing and updating the accepted findings."""
from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest

from cardscan.cli import main as cli_main
from cardscan.testing import assert_no_pan, make_pan

KEY = "team-key-kept-outside-the-repo"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch):
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY)
    return root


def run(*argv: str, capsys, pans=()) -> tuple[int, str, str]:
    code = cli_main.main(["baseline", *argv])
    c = capsys.readouterr()
    assert_no_pan(c.out + c.err, pans, "baseline output")
    return code, c.out, c.err


def entries(path: Path) -> dict[str, int]:
    data = json.loads(path.read_text())
    return {p: len(es) for p, es in data["results"].items()}


def test_random_key_is_refused(repo: Path, capsys, rng, monkeypatch) -> None:
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY")
    pan = make_pan("455673", 16, rng)
    (repo / "f.txt").write_text(f"card {pan}\n")
    code, out, err = run("f.txt", capsys=capsys, pans=[pan])
    assert code == 2 and "random fingerprint key" in err and "CARDSCAN_FINGERPRINT_KEY" in err
    assert not (repo / ".cardscan-baseline.json").exists()


def test_key_file_must_be_outside_the_repository(repo: Path, capsys, rng, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY")
    pan = make_pan("455673", 16, rng)
    (repo / "f.txt").write_text(f"card {pan}\n")
    inside = repo / "keys" / "cardscan.key"
    inside.parent.mkdir()
    fd = os.open(inside, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"k" * 32)
    os.close(fd)
    code, _, err = run("--key-file", str(inside), "f.txt", capsys=capsys, pans=[pan])
    assert code == 2 and "inside the repository" in err
    outside = tmp_path / "cardscan.key"
    fd = os.open(outside, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"k" * 32)
    os.close(fd)
    assert run("--key-file", str(outside), "f.txt", capsys=capsys, pans=[pan])[0] == 0


def test_write_refuse_overwrite_then_update(repo: Path, capsys, rng) -> None:
    a, b, c = make_pan("455673", 16, rng), make_pan("510510", 16, rng), make_pan("371449", 15, rng)
    (repo / "one.txt").write_text(f"card {a}\ncard {b}\n")
    (repo / "two.txt").write_text(f"card {c}\n")
    code, out, _ = run("one.txt", "two.txt", capsys=capsys, pans=[a, b, c])
    target = repo / ".cardscan-baseline.json"
    assert code == 0 and "3 accepted finding(s) in 2 file(s) (3 added, 0 removed" in out
    assert target.stat().st_mode & 0o777 == 0o600
    assert_no_pan(target.read_text(), [a, b, c], "baseline file")
    code, _, err = run("one.txt", capsys=capsys, pans=[a, b])
    assert code == 2 and "--update" in err
    # One number removed from one.txt; a partial update keeps two.txt's entry.
    (repo / "one.txt").write_text(f"card {a}\n")
    code, out, _ = run("--update", str(target), "one.txt", capsys=capsys, pans=[a, b, c])
    assert code == 0 and "(0 added, 1 removed" in out
    assert entries(target) == {"one.txt": 1, "two.txt": 1}
    # A full update (no paths: the whole directory) drops files that no longer hold numbers.
    (repo / "two.txt").write_text("clean now\n")
    code, out, _ = run("--update", str(target), capsys=capsys, pans=[a, c])
    assert code == 0 and entries(target) == {"one.txt": 1}


def test_update_needs_the_same_key(repo: Path, capsys, rng, monkeypatch) -> None:
    pan = make_pan("455673", 16, rng)
    (repo / "f.txt").write_text(f"card {pan}\n")
    assert run("f.txt", capsys=capsys, pans=[pan])[0] == 0
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", "other")
    code, _, err = run("--update", ".cardscan-baseline.json", capsys=capsys, pans=[pan])
    assert code == 2 and "another fingerprint key" in err


def test_default_is_the_files_git_tracks(repo: Path, capsys, rng) -> None:
    tracked, untracked = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    (repo / "tracked.txt").write_text(f"card {tracked}\n")
    (repo / "untracked.txt").write_text(f"card {untracked}\n")
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull}
    subprocess.run(["git", "init", "-q"], cwd=repo, check=True, env=env)
    subprocess.run(["git", "add", "tracked.txt"], cwd=repo, check=True, env=env)
    code, out, _ = run(capsys=capsys, pans=[tracked, untracked])
    assert code == 0 and "1 file(s) scanned" in out
    assert entries(repo / ".cardscan-baseline.json") == {"tracked.txt": 1}


def test_allowed_lines_and_test_cards_are_not_listed(repo: Path, capsys, rng) -> None:
    from cardscan.engine.issuers import _TEST_FILE, _package_text, parse_test_cards

    pan = make_pan("455673", 16, rng)
    card = sorted(parse_test_cards(_package_text(_TEST_FILE)))[0]
    (repo / "f.txt").write_text(f"card {pan}  # cardscan: allow\ncard {card}\n")
    code, out, _ = run("f.txt", capsys=capsys, pans=[pan])
    assert code == 0 and "0 accepted finding(s)" in out
