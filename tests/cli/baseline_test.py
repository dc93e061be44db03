"""``cardscan baseline``: writing and updating the accepted findings."""
from __future__ import annotations

import io
import json
import os
import subprocess
from pathlib import Path

import pytest

from cardscan.cli import main as cli_main
from cardscan.testing import assert_no_pan, make_pan

KEY = "team-key-kept-outside-the-repository"


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
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", "other key, as long as the team's key")
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


# -- the way out of a baseline under another key, and the audit (issue 14.7) ----------------------


def test_another_key_has_a_way_out_with_force(repo: Path, capsys, rng, monkeypatch) -> None:
    """'baseline' said 'use --update', '--update' said 'rewrite with baseline': now --force ends the loop."""
    a, b = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    (repo / "f.txt").write_text(f"card {a}\ncard {b}\n")
    target = repo / ".cardscan-baseline.json"
    assert run("f.txt", capsys=capsys, pans=[a, b])[0] == 0
    old_key_id = json.loads(target.read_text())["key_id"]
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", "the new team key, 32 bytes or longer")
    code, _, err = run("f.txt", capsys=capsys, pans=[a, b])
    assert code == 2 and "--force" in err
    code, _, err = run("--update", str(target), "f.txt", capsys=capsys, pans=[a, b])
    assert code == 2 and "another fingerprint key" in err and "--force" in err
    code, out, _ = run("--update", str(target), "--force", "f.txt", capsys=capsys, pans=[a, b])
    assert code == 0
    assert "2 accepted finding(s) cannot be checked under this key and were dropped" in out
    assert "cardscan baseline --audit" in out
    data = json.loads(target.read_text())
    assert data["key_id"] != old_key_id and entries(target) == {"f.txt": 2}
    # The hook uses it under the new key.
    assert cli_main.main(["hook", "f.txt"]) == 0
    capsys.readouterr()
    # -o over an existing file: refused without --force, replaced with it.
    code, _, err = run("-o", str(target), "f.txt", capsys=capsys, pans=[a, b])
    assert code == 2 and "--force" in err
    (repo / "f.txt").write_text(f"card {a}\n")
    code, out, _ = run("-o", str(target), "--force", "f.txt", capsys=capsys, pans=[a, b])
    assert code == 0 and entries(target) == {"f.txt": 1}


def test_force_replaces_an_unreadable_baseline(repo: Path, capsys, rng) -> None:
    pan = make_pan("455673", 16, rng)
    (repo / "f.txt").write_text(f"card {pan}\n")
    target = repo / ".cardscan-baseline.json"
    target.write_text("{broken")
    code, _, err = run("--update", str(target), "f.txt", capsys=capsys, pans=[pan])
    assert code == 2 and "not valid JSON" in err
    code, out, _ = run("--update", str(target), "--force", "f.txt", capsys=capsys, pans=[pan])
    assert code == 0 and "could not be read" in out and entries(target) == {"f.txt": 1}


def _ids(target: Path) -> dict[str, dict]:
    return {e["id"]: e for es in json.loads(target.read_text())["results"].values() for e in es}


def test_audit_labels_without_asking_and_keeps_them_across_updates(repo: Path, capsys, rng) -> None:
    a, b = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    (repo / "f.txt").write_text(f"card {a}\nreal? {b}\n")
    target = repo / ".cardscan-baseline.json"
    assert run("f.txt", capsys=capsys, pans=[a, b])[0] == 0
    first, second = sorted(_ids(target).values(), key=lambda e: e["line"])
    code, out, _ = run("--audit", "--label", f"{first['id']}=test", "--label", f"{second['id'][:5]}=real",
                       "--by", "ci-bot", capsys=capsys, pans=[a, b])
    assert code == 0 and "labelled test by ci-bot" in out and "labelled REAL CARD" in out
    ids = _ids(target)
    assert ids[first["id"]]["audit"]["label"] == "test" and ids[first["id"]]["audit"]["by"] == "ci-bot"
    assert ids[second["id"]]["audit"]["at"].endswith("Z")
    # A number labelled real is reported by the hook again.
    code = cli_main.main(["hook", "f.txt"])
    hook_out = capsys.readouterr().out
    assert code == 1 and f"{b[:6]}******{b[-4:]}" in hook_out and f"{a[:6]}******{a[-4:]}" not in hook_out
    assert_no_pan(hook_out, [a, b], "hook output")
    # --update keeps the labels of the entries that stay (full and partial rescans).
    (repo / "f.txt").write_text(f"# moved\ncard {a}\nreal? {b}\n")
    assert run("--update", str(target), capsys=capsys, pans=[a, b])[0] == 0
    assert {i: e["audit"]["label"] for i, e in _ids(target).items()} == {first["id"]: "test", second["id"]: "real"}
    assert run("--update", str(target), "f.txt", capsys=capsys, pans=[a, b])[0] == 0
    assert len([e for e in _ids(target).values() if "audit" in e]) == 2
    # Errors: an unknown id, a bad label, --label without --audit.
    assert run("--audit", "--label", "ffffffffffff=test", capsys=capsys)[0] == 2
    assert run("--audit", "--label", f"{first['id']}=maybe", capsys=capsys)[0] == 2
    assert run("--label", f"{first['id']}=test", capsys=capsys)[0] == 2


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_audit_asks_on_a_terminal(repo: Path, capsys, rng) -> None:
    from cardscan.cli import baseline as cmd

    a, b, c = make_pan("455673", 16, rng), make_pan("510510", 16, rng), make_pan("455673", 16, rng)
    (repo / "f.txt").write_text(f"FIXTURE = '{a}'\nlog {b}\nx {c}\n")
    target = repo / ".cardscan-baseline.json"
    assert run("f.txt", capsys=capsys, pans=[a, b, c])[0] == 0
    args = cli_main.build_parser(["baseline"])[0].parse_args(["baseline", "--audit", "--by", "dev"])
    out = io.StringIO()
    # First entry: an unknown answer, then "t"; second: "s" (skip); third: "f".
    assert cmd.run(args, out=out, inp=Terminal("x\nt\ns\nf\n")) == 0
    text = out.getvalue()
    assert_no_pan(text, [a, b, c], "audit prompt")
    assert "[1/3] f.txt:1" in text and "FIXTURE = '" in text and f"{a[:6]}" in text
    assert "labelled 2 finding(s)" in text and "1 unlabelled" in text
    labels = {e["line"]: (e.get("audit") or {}).get("label") for e in _ids(target).values()}
    assert labels == {1: "test", 2: None, 3: "false_positive"}
    # Asked again, only the unlabelled one is shown; end of input stops without harm.
    out = io.StringIO()
    assert cmd.run(args, out=out, inp=Terminal("")) == 0
    assert "[1/1] f.txt:2" in out.getvalue() and "nothing labelled" in out.getvalue()
    # Not a terminal: a list, no questions.
    code, listing, _ = run("--audit", capsys=capsys, pans=[a, b, c])
    assert code == 0 and "unlabelled" in listing and "test (dev, " in listing and "Label them" in listing
