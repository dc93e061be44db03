"""``cardscan scan`` end to end: the real CLI on generated trees.

Run both as a subprocess (``python -m cardscan``, what a user runs) and
in-process through ``main(argv)``. Manifests are checked against the JSON
Schema and against the planted numbers by fingerprint (same key).
"""
from __future__ import annotations

import json
import logging
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from cardscan.cli import main as cli_main
from cardscan.findings import FingerprintKey
from cardscan.manifest import load_manifest, validate_records
from cardscan.sources.fs import path_to_uri
from cardscan.testing import assert_no_pan, make_pan
from tests.treegen import KEY, Tree, drop_dac, make_tree, pan, write_planted

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _env(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY.decode())
    monkeypatch.chdir(tmp_path)  # no settings file from the repository


def cli(*argv: str, env: dict[str, str] | None = None, timeout: float = 60, wrap: list[str] | None = None
        ) -> subprocess.CompletedProcess:
    e = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    cmd = [sys.executable, "-m", "cardscan", *argv]
    return subprocess.run((wrap or []) + cmd if wrap is None else wrap, capture_output=True, text=True,
                          timeout=timeout, env=e)


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def check_manifest(path: Path) -> list[dict[str, Any]]:
    recs = records(path)
    assert validate_records(recs) == []
    assert recs[0]["type"] == "scan" and recs[-1]["type"] == "summary"
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    return recs


def planted_tree(tmp_path: Path, rng) -> Tree:
    root = tmp_path / "share"
    root.mkdir()
    tree = make_tree(root, rng)
    big = root / "finance" / "dump.log"  # split across workers with --split-size 8KiB
    tree.planted[big] = write_planted(big, rng, 30, filler=8, start=100)
    return tree


def test_sweep_of_a_generated_tree(tmp_path: Path, rng) -> None:
    tree = planted_tree(tmp_path, rng)
    m = tmp_path / "out" / "m.jsonl"
    m.parent.mkdir()
    proc = cli("scan", str(tree.root), "--manifest", str(m), "--split-size", "8KiB", "--jobs", "2", "--no-progress")
    assert proc.returncode == 1, proc.stderr[-3000:]
    recs = check_manifest(m)
    findings = [r for r in recs if r["type"] == "finding"]
    assert {f["fingerprint"] for f in findings} == tree.fingerprints()
    assert len(findings) == len(tree.pans)
    summary = recs[-1]
    assert summary["status"] == "complete" and summary["errors"] == 0
    assert summary["skipped"]["fifo"] == 1 and summary["skipped"]["socket"] == 1 and summary["skipped"]["symlink"] == 2
    big = [f for f in findings if f["location"]["uri"].endswith("/dump.log")]
    assert len(big) == 30 and {f["object"]["sha256_mode"] for f in big} == {"ranges"}
    assert recs[0]["settings"]["run"]["split_size"] == 8192 and recs[0]["key_source"] == "env"
    # The text output: one line per finding, path:line:col first.
    lines = proc.stdout.splitlines()
    assert len(lines) == len(tree.pans)
    line = next(x for x in lines if "/hr/people.log:" in x)
    assert line.split("  ")[0].startswith(str(tree.root / "hr" / "people.log") + ":")
    assert_no_pan(proc.stdout + proc.stderr + m.read_text(), tree.pans, "scan outputs")


def test_following_symlinks_detects_the_loop_and_reports_dangling_links(tmp_path: Path, rng) -> None:
    tree = planted_tree(tmp_path, rng)
    os.symlink(tree.root / "nowhere", tree.root / "dangling")
    m = tmp_path / "m.jsonl"
    proc = cli("scan", str(tree.root), "--follow-symlinks", "--manifest", str(m), "--jobs", "2", "--no-progress")
    assert proc.returncode == 1  # findings win over errors (docs/cli.md)
    recs = check_manifest(m)
    summary = recs[-1]
    assert summary["skipped"]["loop"] >= 1
    errors = [r for r in recs if r["type"] == "error"]
    assert [(e["kind"], e["location"]["uri"]) for e in errors] == [("not_found", path_to_uri(str(tree.root / "dangling")))]
    assert "dangling" in proc.stderr and "not_found" in proc.stderr
    # finance/ is also reached through finance-link: same cards, more places.
    fps = {r["fingerprint"] for r in recs if r["type"] == "finding"}
    assert fps == tree.fingerprints()


def test_exit_status_clean_and_incomplete(tmp_path: Path) -> None:
    (tmp_path / "clean").mkdir()
    (tmp_path / "clean" / "a.txt").write_text("nothing here, order 2024-000123\n")
    assert cli_main.main(["scan", str(tmp_path / "clean"), "--no-progress", "-q"]) == 0
    os.symlink(tmp_path / "gone", tmp_path / "clean" / "link")
    assert cli_main.main(["scan", str(tmp_path / "clean"), "--follow-symlinks", "--no-progress", "-q"]) == 2
    assert cli_main.main(["scan", str(tmp_path / "missing"), "--no-progress", "-q"]) == 2


def test_permission_denied_is_an_error_record_and_the_sweep_goes_on(tmp_path: Path, rng) -> None:
    root = tmp_path / "share"
    (root / "locked").mkdir(parents=True)
    pans = write_planted(root / "open.log", rng, 1)
    write_planted(root / "secret.log", rng, 1, start=1)
    write_planted(root / "locked" / "inner.log", rng, 1, start=2)
    os.chmod(root / "secret.log", 0)
    os.chmod(root / "locked", 0)
    m = tmp_path / "m.jsonl"
    wrap = drop_dac([sys.executable, "-m", "cardscan", "scan", str(root), "--manifest", str(m), "--jobs", "2",
                     "--no-progress"])
    if wrap is None:
        pytest.skip("cannot drop root's permission override here (no setpriv)")
    try:
        proc = cli(wrap=wrap)
    finally:
        os.chmod(root / "locked", 0o755)
    assert proc.returncode == 1, proc.stderr[-2000:]
    recs = check_manifest(m)
    errors = sorted((r["kind"], r["location"]["uri"]) for r in recs if r["type"] == "error")
    assert errors == sorted([("permission", path_to_uri(str(root / "locked"))),
                             ("permission", path_to_uri(str(root / "secret.log")))])
    fps = {r["fingerprint"] for r in recs if r["type"] == "finding"}
    assert fps == {FingerprintKey(KEY).fingerprint(pans[0])}
    assert recs[-1]["errors_by_kind"] == {"permission": 2}


def test_key_file_must_be_private(tmp_path: Path, rng, capsys, monkeypatch) -> None:
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY")
    pans = write_planted(tmp_path / "a.log", rng, 1)
    key = tmp_path / "key"
    key.write_bytes(b"file-key, 32 bytes or longer....\n")
    os.chmod(key, 0o644)
    assert cli_main.main(["scan", str(tmp_path / "a.log"), "--key-file", str(key), "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "readable" in err or "accessible" in err
    assert "chmod 600" in err
    os.chmod(key, 0o600)
    m = tmp_path / "m.jsonl"
    assert cli_main.main(["scan", str(tmp_path / "a.log"), "--key-file", str(key), "--manifest", str(m),
                          "--no-progress", "-q"]) == 1
    recs = records(m)
    assert recs[0]["key_source"] == "file" and recs[0]["key_id"] == FingerprintKey(b"file-key, 32 bytes or longer....").key_id
    assert recs[1]["fingerprint"] == FingerprintKey(b"file-key, 32 bytes or longer....").fingerprint(pans[0])
    assert "file-key" not in m.read_text()


def test_random_key_is_noted(tmp_path: Path, rng, capsys, monkeypatch) -> None:
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY")
    (tmp_path / "a.txt").write_text("x\n")
    assert cli_main.main(["scan", str(tmp_path / "a.txt"), "--no-progress"]) == 0
    assert "no fingerprint key" in capsys.readouterr().err


def test_settings_file_and_command_line_precedence(tmp_path: Path, rng, capsys) -> None:
    root = tmp_path / "share"
    root.mkdir()
    write_planted(root / "a.log", rng, 1)
    write_planted(root / "b.csv", rng, 1, start=1)
    (tmp_path / ".cardscan.toml").write_text('exclude = ["*.csv"]\nmin-confidence = 60\nquiet = true\n')
    m = tmp_path / "m.jsonl"
    assert cli_main.main(["scan", str(root), "--manifest", str(m), "--no-progress"]) == 1
    recs = records(m)
    assert [r["location"]["uri"].rsplit("/", 1)[1] for r in recs if r["type"] == "finding"] == ["a.log"]
    assert recs[0]["settings"]["engine"]["min_confidence"] == 60
    assert recs[0]["settings"]["config_file"] == str(tmp_path / ".cardscan.toml")
    assert capsys.readouterr().out == ""  # quiet came from the file
    # The command line wins: another exclude adds to the file's, --min-confidence replaces it.
    assert cli_main.main(["scan", str(root), "--manifest", str(m), "--no-progress", "--min-confidence", "90",
                          "--exclude", "*.log"]) == 0
    assert records(m)[0]["settings"]["engine"]["min_confidence"] == 90
    (tmp_path / ".cardscan.toml").write_text('exclud = ["*.csv"]\n')
    assert cli_main.main(["scan", str(root), "--no-progress"]) == 2
    assert "unknown setting 'exclud'" in capsys.readouterr().err
    assert cli_main.main(["scan", str(root), "--no-progress", "--no-config", "-q"]) == 1


def test_pyproject_tool_table(tmp_path: Path, rng) -> None:
    write_planted(tmp_path / "a.log", rng, 1)
    (tmp_path / "pyproject.toml").write_text('[project]\nname = "x"\n\n[tool.cardscan]\ninclude = ["*.txt"]\n')
    assert cli_main.main(["scan", str(tmp_path), "--no-progress", "-q"]) == 0


def test_formats_and_stdout_manifest(tmp_path: Path, rng, capsys) -> None:
    pans = write_planted(tmp_path / "a.log", rng, 2)
    assert cli_main.main(["scan", str(tmp_path / "a.log"), "--format", "jsonl", "--no-progress"]) == 1
    c = capsys.readouterr()
    recs = [json.loads(x) for x in c.out.splitlines()]
    assert [r["type"] for r in recs] == ["scan", "finding", "finding", "summary"]
    assert validate_records(recs) == [] and "2 findings" in c.err
    assert cli_main.main(["scan", str(tmp_path / "a.log"), "--manifest", "-", "--no-progress"]) == 1
    c = capsys.readouterr()
    assert [json.loads(x)["type"] for x in c.out.splitlines()] == ["scan", "finding", "finding", "summary"]
    assert cli_main.main(["scan", str(tmp_path / "a.log"), "--manifest", "-", "--format", "jsonl"]) == 2
    assert "already writes the manifest" in capsys.readouterr().err
    assert_no_pan(c.out + c.err, pans, "jsonl stdout")


def test_quiet_prints_nothing_but_sets_the_status(tmp_path: Path, rng, capsys) -> None:
    write_planted(tmp_path / "a.log", rng, 1)
    assert cli_main.main(["scan", str(tmp_path), "-q"]) == 1
    c = capsys.readouterr()
    assert (c.out, c.err) == ("", "")


def test_selection_options(tmp_path: Path, rng) -> None:
    root = tmp_path / "r"
    (root / "node_modules").mkdir(parents=True)
    write_planted(root / "keep.log", rng, 1)
    write_planted(root / "node_modules" / "x.log", rng, 1, start=1)
    write_planted(root / "big.txt", rng, 20, start=2)
    (root / ".gitignore").write_text("*.txt\n")
    m = tmp_path / "m.jsonl"
    args = ["scan", str(root), "--manifest", str(m), "--no-progress", "-q"]
    assert cli_main.main([*args, "--exclude", "node_modules/", "--max-file-size", "1KB"]) == 1
    names = {r["location"]["uri"].rsplit("/", 1)[1] for r in records(m) if r["type"] == "finding"}
    assert names == {"keep.log"}
    assert records(m)[-1]["skipped"] == {"excluded": 1, "too_large": 1}
    assert cli_main.main([*args, "--include", "*.txt"]) == 1
    assert {r["location"]["uri"].rsplit("/", 1)[1] for r in records(m) if r["type"] == "finding"} == {"big.txt"}
    assert cli_main.main([*args, "--include", "*.txt", "--gitignore"]) == 0


def test_usage_errors_exit_2(tmp_path: Path, capsys) -> None:
    assert cli_main.main(["scan"]) == 2
    assert cli_main.main(["scan", ".", "--jobs", "0"]) == 2
    assert cli_main.main(["scan", ".", "--max-file-size", "lots"]) == 2
    assert cli_main.main(["scan", ".", "--manifest", str(tmp_path / "no" / "such" / "dir" / "m.jsonl")]) == 2
    assert "cannot write" in capsys.readouterr().err
    assert cli_main.main([]) == 2
    assert cli_main.main(["--version"]) == 0


def test_no_planted_pan_leaks_into_any_output(tmp_path: Path, rng, monkeypatch) -> None:
    """Every output of a sweep and its report, logs at debug level included, holds no planted number."""
    tree = planted_tree(tmp_path, rng)
    # Names and messages that could carry numbers: a file named like a card, a broken archive.
    named = pan(rng, 7)
    (tree.root / f"card-{named}.txt").write_text("see the file name\n")
    tree.planted[tree.root / f"card-{named}.txt"] = []
    (tree.root / "broken.zip").write_bytes(b"PK\x03\x04" + f"card {pan(rng, 8)} exp 01/29".encode() + b"\x00" * 40)
    pans = tree.pans + [pan(rng, 8)]
    out = tmp_path / "out"
    out.mkdir()
    m = out / "m.jsonl"
    proc = cli("scan", str(tree.root), "--manifest", str(m), "--split-size", "8KiB", "--jobs", "2",
               "--log-level", "debug", "--progress")
    assert proc.returncode in (1,), proc.stderr[-3000:]
    assert "DEBUG" in proc.stderr  # debug logging really was on
    rep = cli("report", str(m), "--html", str(out / "r.html"))
    assert rep.returncode == 0, rep.stderr[-2000:]
    # In-process too, with the root logger at DEBUG, to catch anything logged outside the CLI's handler.
    caught: list[str] = []

    class Keep(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            caught.append(self.format(record))

    handler = Keep(logging.DEBUG)
    logging.getLogger().addHandler(handler)
    old_level = logging.getLogger().level
    logging.getLogger().setLevel(logging.DEBUG)
    try:
        code = cli_main.main(["scan", str(tree.root), "--manifest", str(out / "m2.jsonl"), "--jobs", "1",
                              "--log-level", "debug", "--no-progress"])
    finally:
        logging.getLogger().removeHandler(handler)
        logging.getLogger().setLevel(old_level)
    assert code == 1
    everything = "\n".join([proc.stdout, proc.stderr, m.read_text(), rep.stdout, rep.stderr,
                            (out / "r.html").read_text(), (out / "m2.jsonl").read_text(), *caught])
    # The file named after a card is the one exception: its path *is* the location.
    everything = everything.replace(named, "<file name>")
    assert_no_pan(everything, pans, "sweep, report and debug logs")
    fps = {r["fingerprint"] for r in records(m) if r["type"] == "finding"}
    assert tree.fingerprints() <= fps


def test_ctrl_c_stops_cleanly_with_a_valid_interrupted_manifest(tmp_path: Path, rng) -> None:
    root = tmp_path / "big"
    root.mkdir()
    # Digit-dense files: slow to scan, so the sweep is still running when interrupted.
    block = "".join(f"{rng.randrange(10**15, 10**16)},{rng.randrange(10**12, 10**13)},"
                    f"4{rng.randrange(10**14, 10**15)}0\n" for _ in range(20000)).encode()
    for i in range(16):
        (root / f"f{i:02d}.csv").write_bytes(block)
    m = tmp_path / "m.jsonl"
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    proc = subprocess.Popen([sys.executable, "-m", "cardscan", "scan", str(root), "--manifest", str(m), "--jobs", "2",
                             "--no-progress"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # wait until findings are being written
        if m.exists() and m.read_text().count("\n") >= 3:
            break
        time.sleep(0.02)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err[-2000:]
    recs = check_manifest(m)
    summary = recs[-1]
    assert summary["status"] == "interrupted" and summary["reason"] == "signal"
    assert summary["objects_scanned"] < 16
    assert summary["findings"] == sum(1 for r in recs if r["type"] == "finding")
    assert "INTERRUPTED" in err
    assert load_manifest(m).complete is False


def test_broken_pipe_is_quiet(tmp_path: Path, rng) -> None:
    for i in range(3):  # more output than a pipe buffer holds, so the writer must notice the close
        write_planted(tmp_path / f"f{i}.log", rng, 1000, filler=0, start=i)
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    p1 = subprocess.Popen([sys.executable, "-m", "cardscan", "scan", str(tmp_path), "--jobs", "1", "--no-progress"],
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    assert p1.stdout is not None
    p1.stdout.readline()
    p1.stdout.close()  # like `| head -1`
    err = p1.stderr.read().decode()
    p1.wait(timeout=30)
    assert p1.returncode == 141
    assert "Traceback" not in err and "BrokenPipe" not in err


def test_a_full_disk_under_the_manifest_is_a_clear_error(tmp_path: Path, capsys) -> None:
    if not os.path.exists("/dev/full"):
        pytest.skip("no /dev/full here")
    (tmp_path / "a.txt").write_text("x\n")
    assert cli_main.main(["scan", str(tmp_path / "a.txt"), "--manifest", "/dev/full", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "No space left on device" in err and "Traceback" not in err


def test_container_limits_and_inline_switch_reach_the_scan(tmp_path, capsys) -> None:
    import base64
    import gzip
    import io
    import json
    import random
    import zipfile

    from cardscan.cli import main as cli_main
    from cardscan.manifest import load_manifest
    from cardscan.testing import make_pan

    rng = random.Random(5)
    pan = make_pan("4556", 16, rng)
    inner = io.BytesIO()
    with zipfile.ZipFile(inner, "w") as z:
        z.writestr("cards.txt", f"card {pan}\n")
    with zipfile.ZipFile(tmp_path / "outer.zip", "w") as z:
        z.writestr("inner.zip", inner.getvalue())
    blob = base64.b64encode(json.dumps({"card": make_pan("5412", 16, rng)}).encode()).decode()
    with gzip.open(tmp_path / "events.log.gz", "wt") as fh:
        fh.write(f"INFO payload={blob}\n")
    manifest = tmp_path / "m.jsonl"
    args = ["scan", str(tmp_path / "outer.zip"), str(tmp_path / "events.log.gz"), "--manifest", str(manifest),
            "-j", "1", "--no-config", "-q"]
    assert cli_main.main(args) == 1
    m = load_manifest(manifest)
    assert len(m.findings) == 2
    assert cli_main.main(args + ["--max-depth", "1", "--no-inline"]) == 2
    m = load_manifest(manifest)
    assert m.findings == [] and [e.limit for e in m.errors] == ["depth"]
    assert m.scan["settings"]["limits"]["max_depth"] == 1


def test_csv_headers_name_values_unless_no_columns(tmp_path: Path, rng) -> None:
    from cardscan.testing import make_pan

    merchants = [make_pan("37", 15, rng) for _ in range(5)]
    card = make_pan("4556", 16, rng)
    rows = "".join(f"{i},{m},{card if i == 2 else ''}\n" for i, m in enumerate(merchants))
    (tmp_path / "settlements.csv").write_text("row,merchant_id,card_number\n" + rows)
    manifest = tmp_path / "m.jsonl"
    args = ["scan", str(tmp_path / "settlements.csv"), "--manifest", str(manifest), "-j", "1", "--no-config", "-q"]
    assert cli_main.main(args) == 1
    (f,) = load_manifest(manifest).findings
    assert f.fingerprint == FingerprintKey(KEY).fingerprint(card) and "column_keyword" in f.reasons
    assert cli_main.main(args + ["--no-columns"]) == 1
    m = load_manifest(manifest)
    assert len(m.findings) == 6 and m.scan["settings"]["engine"]["columns"] is False


# -- one composition root; rough edges of issue 14 ----------------------------------------
def _scan_json(*argv: str, capsys) -> tuple[int, list[dict[str, Any]], str]:
    code = cli_main.main(["scan", *argv, "--format", "jsonl", "-j", "1", "--no-progress"])
    c = capsys.readouterr()
    return code, [json.loads(line) for line in c.out.splitlines()], c.err


def test_the_same_root_twice_or_nested_is_scanned_once(tmp_path: Path, rng, capsys) -> None:
    # On main `cardscan scan share share` doubled every finding id in the manifest.
    share = tmp_path / "share"
    (share / "hr").mkdir(parents=True)
    pans = write_planted(share / "hr" / "people.log", rng, 2) + write_planted(share / "top.log", rng, 1)
    os.symlink(share, tmp_path / "link")
    for argv in (["share", "share"], ["share", "share/hr"], ["share/hr", "share"], ["share", "share/top.log"],
                 ["share", "./share/", "link", str(share / "hr")]):
        code, recs, err = _scan_json(*argv, capsys=capsys)
        ids = [r["id"] for r in recs if r["type"] == "finding"]
        assert code == 1 and len(ids) == len(set(ids)) == len(pans), argv
        assert "scanned once" in err, argv
        assert_no_pan(err, pans, "notes")
    # Siblings are two roots; nothing is dropped.
    code, recs, err = _scan_json("share/hr", "share/top.log", capsys=capsys)
    assert len([r for r in recs if r["type"] == "finding"]) == len(pans) and "scanned once" not in err


def test_git_history_is_a_plain_flag_and_the_range_has_its_own_option(tmp_path: Path, rng, capsys) -> None:
    # On main `cardscan scan --git-history .` (the docs' example) took "." as the range.
    repo = tmp_path / "repo"
    repo.mkdir()
    env = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_AUTHOR_NAME": "t",
           "GIT_AUTHOR_EMAIL": "t@example.com", "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.com"}

    def git(*args: str) -> None:
        subprocess.run(["git", *args], cwd=repo, env=env, check=True, capture_output=True)

    pans = write_planted(repo / "old.log", rng, 1)
    git("init", "-q", "-b", "main")
    git("add", "-A")
    git("commit", "-q", "-m", "one")
    (repo / "old.log").write_text("removed\n")
    git("commit", "-q", "-am", "two")
    os.chdir(repo)
    code, recs, _ = _scan_json("--git-history", ".", capsys=capsys)
    assert code == 1 and len([r for r in recs if r["type"] == "finding"]) == 1
    assert recs[0]["sources"][0]["url"].startswith("git+file://")
    code, recs, _ = _scan_json(".", "--git-range", "HEAD~1..HEAD", capsys=capsys)  # implies --git-history
    assert code == 0 and recs[0]["sources"][0]["options"]["rev_range"] == "HEAD~1..HEAD"
    # A range where a SOURCE belongs says where it goes.
    code, _, err = _scan_json("--git-history", "HEAD~1..HEAD", capsys=capsys)
    assert code == 2 and "--git-range" in err
    assert_no_pan(err, pans, "errors")


def test_endpoint_url_typo_is_a_clear_error(tmp_path: Path, capsys) -> None:
    # On main: "internal error (ValueError)" and a traceback.
    assert cli_main.main(["scan", "s3://bucket/", "--endpoint-url", "notaurl", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "expected a URL" in err and "internal" not in err and "Traceback" not in err
    (tmp_path / ".cardscan.toml").write_text('s3-endpoint-url = "minio:9000"\n')
    assert cli_main.main(["scan", "s3://bucket/", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert ".cardscan.toml" in err and "expected a URL" in err and "internal" not in err


def test_postgres_and_mysql_extras_hold_what_sql_has() -> None:
    import tomllib

    extras = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]
    for name in ("postgres", "mysql"):
        assert "cardscan[sql]" in extras[name], name


def test_missing_sqlalchemy_names_the_extra_with_the_driver(tmp_path: Path) -> None:
    # On main: "pip install 'cardscan[sql]'", then a second round trip for the driver.
    code = ("import sys; sys.modules['sqlalchemy'] = None\n"  # as if it were not installed
            "from cardscan.cli.main import main\n"
            "sys.exit(main(['scan', sys.argv[1], '--no-progress', '--no-config']))\n")
    for url, extra in (("postgresql://scanner@127.0.0.1/shop", "postgres"), ("mariadb://root@127.0.0.1/shop", "mysql"),
                       ("sqlite:///x.db", "sql")):
        proc = subprocess.run([sys.executable, "-c", code, url], capture_output=True, text=True, timeout=60,
                              env={**os.environ, "PYTHONPATH": str(ROOT)})
        assert proc.returncode == 2 and f"pip install 'cardscan[{extra}]'" in proc.stderr, proc.stderr


def _plugin_dist(where: Path, name: str) -> None:
    """A real installed distribution with a cardscan.sinks entry point (found by importlib.metadata)."""
    (where / "mysinks.py").write_text(
        "from cardscan.sinks.base import BaseSink\n"
        "class Count(BaseSink):\n"
        "    name = 'count'\n"
        "    def __init__(self, out):\n"
        "        self.out, self.n = out, 0\n"
        "    def finding(self, f):\n"
        "        self.n += 1\n"
        "    def close(self, summary):\n"
        "        import sys\n"
        "        (sys.stdout if self.out == '-' else self.out).write(f'{self.n} findings\\n')\n")
    info = where / "mysinks-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: mysinks\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(f"[cardscan.sinks]\n{name} = mysinks:Count\ncsv = mysinks:Count\n")


def test_format_plugins_come_from_the_entry_point_group(tmp_path: Path, rng, capsys, monkeypatch) -> None:
    plugins = tmp_path / "site"
    plugins.mkdir()
    _plugin_dist(plugins, "count")
    monkeypatch.syspath_prepend(str(plugins))
    write_planted(tmp_path / "a.log", rng, 2)
    assert cli_main.main(["scan", "a.log", "--format", "count", "-j", "1", "--no-progress"]) == 1
    c = capsys.readouterr()
    assert c.out == "2 findings\n"
    # A plugin named like a built-in does not replace it; a warning says so.
    assert cli_main.main(["scan", "a.log", "--format", "csv", "-j", "1", "--no-progress"]) == 1
    c = capsys.readouterr()
    assert c.out.startswith("uri,member,line") and "built-in 'csv' is used" in c.err
    assert cli_main.main(["scan", "--help"]) == 0
    assert "count: a cardscan.sinks plugin" in " ".join(capsys.readouterr().out.split())
    assert cli_main.main(["scan", "a.log", "--format", "cvs", "--no-progress"]) == 2
    assert "did you mean 'csv'" in capsys.readouterr().err


def test_views_option_reaches_the_sql_source(tmp_path: Path, rng, capsys) -> None:
    # The option added as docs/cli.md's example: one field in cardscan/options.py.
    import sqlite3

    pan = make_pan("455673", 16, rng)
    db = tmp_path / "shop.db"
    con = sqlite3.connect(db)
    con.execute("CREATE TABLE payments (id INTEGER PRIMARY KEY, card TEXT)")
    con.execute("INSERT INTO payments VALUES (1, ?)", (pan,))
    con.execute("CREATE VIEW recent AS SELECT id, card FROM payments")
    con.commit()
    con.close()
    base = ["scan", f"sqlite:///{db}", "--exclude-table", "payments", "-j", "1", "--no-progress", "--format", "jsonl"]
    assert cli_main.main(base) == 0
    capsys.readouterr()
    assert cli_main.main([*base, "--views"]) == 1
    c = capsys.readouterr()
    found = [json.loads(line) for line in c.out.splitlines() if '"finding"' in line]
    assert [f["location"]["cell"]["table"] for f in found] == ["recent"]
    assert_no_pan(c.out + c.err, [pan], "scan of a view")


# -- sources that name nothing to read (issue 12, Also) ------------------------------------
def test_sqlite_url_to_a_missing_file_exits_2_and_creates_nothing(tmp_path: Path, capsys) -> None:
    m = tmp_path / "m.jsonl"
    db = tmp_path / "data" / "shop.db"
    db.parent.mkdir()
    assert cli_main.main(["scan", f"sqlite:///{db}", "--manifest", str(m), "--no-progress", "-q"]) == 2
    assert list(db.parent.iterdir()) == []
    errors = [r for r in records(m) if r["type"] == "error"]
    assert [e["kind"] for e in errors] == ["not_found"]
    summary = records(m)[-1]
    assert summary["type"] == "summary" and summary["findings"] == 0


def test_fifo_named_on_the_command_line_is_an_error_and_never_blocks(tmp_path: Path) -> None:
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    (tmp_path / "a.txt").write_text("nothing to see\n")
    m = tmp_path / "m.jsonl"
    # A subprocess with a timeout: a FIFO opened for reading with no writer would hang the test run.
    proc = cli("scan", str(fifo), str(tmp_path / "a.txt"), "--manifest", str(m), "--no-progress", timeout=60)
    assert proc.returncode == 2, proc.stderr
    assert "0 of 0 objects" not in proc.stderr
    recs = records(m)
    errors = [r for r in recs if r["type"] == "error"]
    assert len(errors) == 1 and errors[0]["kind"] == "source" and "fifo" in errors[0]["message"]
    assert errors[0]["location"]["uri"] == path_to_uri(str(fifo))
    assert recs[-1]["objects_scanned"] == 1  # the regular file beside it was still scanned


def test_a_short_key_file_named_in_the_settings_file_is_refused(tmp_path: Path, rng, capsys, monkeypatch) -> None:
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY")
    root = tmp_path / "share"
    root.mkdir()
    write_planted(root / "a.log", rng, 1)
    key = tmp_path / "team.key"
    key.write_bytes(b"short team key\n")
    os.chmod(key, 0o600)
    (tmp_path / ".cardscan.toml").write_text('key-file = "team.key"\n')
    m = tmp_path / "m.jsonl"
    assert cli_main.main(["scan", str(root), "--manifest", str(m), "--no-progress", "-q"]) == 2
    err = capsys.readouterr().err
    assert "team.key is 14 bytes" in err and "cardscan keygen" in err and "short team key" not in err
    assert not m.exists()
    # The fix the message names works: a key from keygen in its place.
    key.unlink()
    assert cli_main.main(["keygen", "-q", str(key)]) == 0
    assert cli_main.main(["scan", str(root), "--manifest", str(m), "--no-progress", "-q"]) == 1
    assert records(m)[0]["key_source"] == "file"


def test_no_sink_plugin_declared_means_no_entry_point_scan_for_formats(monkeypatch) -> None:
    import importlib.metadata

    from cardscan import registry
    from cardscan.cli import scan

    monkeypatch.setattr(registry, "_scan_declared_groups", lambda: frozenset({"console_scripts"}))

    def never(**kw: object) -> None:
        raise AssertionError("entry_points() asked although no distribution declares cardscan.sinks")

    monkeypatch.setattr(importlib.metadata, "entry_points", never)
    registry.refresh()  # (the answer is cached per process)
    try:
        assert scan.plugin_formats() == {}
        assert scan.format_names() == list(scan.FORMATS)
    finally:
        registry.refresh()  # forget the made-up answer


def test_a_scan_reads_the_installed_distributions_once(tmp_path: Path, monkeypatch, capsys) -> None:
    # Start-up: each read lists every sys.path entry and opens each entry_points.txt.
    from cardscan import registry

    calls = []
    real = registry._scan_declared_groups
    monkeypatch.setattr(registry, "_scan_declared_groups", lambda: calls.append(1) or real())
    (tmp_path / "a.txt").write_text("nothing here\n")
    try:
        assert cli_main.main(["scan", str(tmp_path / "a.txt"), "-j", "1", "--no-progress", "-q"]) == 0
    finally:
        registry.refresh()
    assert len(calls) == 1


#: Modules a scan's start-up must not import (each is milliseconds of every run, the
#: pre-commit hook's and a small tree's): the process pool's machinery comes with a pool.
NOT_AT_START = ("multiprocessing", "concurrent.futures.process", "socket", "pickle")


def test_a_scan_with_nothing_to_scan_imports_no_pool_machinery(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    code = ("import sys\nfrom cardscan.cli.main import main\n"
            "status = main(['scan', '--manifest', sys.argv[1], sys.argv[2]])\n"
            f"print(status, [m for m in {NOT_AT_START!r} if m in sys.modules])\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.jsonl"), str(empty)], capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, timeout=60)
    assert out.stdout.split("\n")[0] == "0 []"


_NO_COMPILE = """\
import builtins, sys
compiled = []
real = builtins.compile
builtins.compile = lambda *a, **k: compiled.append(repr(a[0])[:60]) or real(*a, **k)
from cardscan.cli.main import main
status = main(["scan", "-q", "--jobs", "1", "--manifest", sys.argv[1], sys.argv[2]])
print(status, compiled)
"""


def test_a_scan_compiles_no_source_text(tmp_path: Path) -> None:
    # compile() at start-up was typing's, for each field of a NamedTuple declared as a class
    # under ``from __future__ import annotations`` (its annotations are text): ~0.3 M
    # instructions each, and the first one also makes the ast module's ~120 classes.
    demo = Path(cli_main.__file__).parents[1] / "data" / "demo"  # logs, a .gz, a CSV export, notes
    out = subprocess.run([sys.executable, "-c", _NO_COMPILE, str(tmp_path / "m.jsonl"), str(demo)],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path,
                         env={**os.environ, "PYTHONPATH": str(ROOT), "CARDSCAN_FINGERPRINT_KEY": "k" * 40})
    assert out.stdout.split("\n")[0] == "1 []", out.stdout + out.stderr[-2000:]


_PROGRAM = """\
import atexit, os, sys, threading, time
from cardscan.cli.main import program

class Teardown:  # says so when the interpreter empties the sys module at a normal exit
    def __del__(self, write=os.write):
        write(1, b"torn down\\n")

def at_exit():
    sys.stdout.write("atexit ran\\n")
    sys.teardown = Teardown()  # (made now: what main() made before its end was frozen, never torn down)

atexit.register(at_exit)
def late():  # still running when the scan is done (its manifest, the last argument, complete)
    while not os.path.exists(sys.argv[-1]) or '"summary"' not in open(sys.argv[-1]).read():
        time.sleep(0.01)
    time.sleep(1.0)
    sys.stdout.write("thread done\\n")

if sys.argv[1] == "thread":  # not a daemon: a normal exit waits for it
    threading.Thread(target=late).start()
sys.argv = ["cardscan", *sys.argv[2:]]
program()
"""


@pytest.mark.parametrize("thread", [False, True])
def test_the_program_leaves_at_once_after_a_scan_as_a_normal_exit_would_but_the_teardown(
        tmp_path: Path, thread: bool) -> None:
    share = tmp_path / "share"
    share.mkdir()
    write_planted(share / "a.log", __import__("random").Random(7), 3, filler=20)
    m = tmp_path / "m.jsonl"
    out = subprocess.run([sys.executable, "-c", _PROGRAM, "thread" if thread else "-", "scan", str(share), "--jobs",
                          "1", "--no-progress", "--manifest", str(m)], capture_output=True, text=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert out.returncode == 1, out.stderr[-2000:]
    lines = out.stdout.splitlines()
    assert len([line for line in lines if "a.log:" in line]) == 3  # stdout (a pipe: buffered) was flushed
    assert "cardscan: manifest written to" in out.stderr
    assert check_manifest(m)[-1]["findings"] == 3
    assert "atexit ran" in lines
    if thread:  # a thread still running: the normal exit, which waits for it
        assert lines[-3:] == ["thread done", "atexit ran", "torn down"]
    else:
        assert lines[-1] == "atexit ran"  # and no teardown


def test_the_program_exits_the_normal_way_after_other_commands(tmp_path: Path) -> None:
    out = subprocess.run([sys.executable, "-c", _PROGRAM, "-", "keygen", str(tmp_path / "key")], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.splitlines()[-2:] == ["atexit ran", "torn down"]


def test_the_program_leaves_its_objects_frozen_for_the_exit_a_library_call_does_not(tmp_path: Path) -> None:
    # The interpreter's last collection at exit walked every object of the run (~10 ms);
    # main() without argv is the program, about to exit. With argv, a caller goes on.
    empty = tmp_path / "empty"
    empty.mkdir()
    code = ("import gc, sys\nfrom cardscan.cli.main import main\nargv = ['scan', '--manifest', sys.argv[1], sys.argv[2]]\n"
            "main(argv)\nlibrary = gc.get_freeze_count()\nsys.argv = ['cardscan', *argv]\nmain()\n"
            "print(library, gc.get_freeze_count() > 10000)\n")
    out = subprocess.run([sys.executable, "-c", code, str(tmp_path / "m.jsonl"), str(empty)], capture_output=True,
                         text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, check=True, timeout=60)
    assert out.stdout.split() == ["0", "True"]
