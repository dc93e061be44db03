"""The leak oracle (issue 12): hostile names and contents, every command, every byte.

A seeded generator plants card numbers in every written form
(cardscan.testing.oracle.written_forms: separators the engine rejects,
fullwidth, UTF-16, hex, percent, ``\\u``, entities, base64) in file,
directory and archive member names, in contents, in SQLite table and column
names and in PDF and office metadata. Then it runs scan (with a state, two
workers), report (text and HTML), SARIF, JUnit, CSV, the hook, baseline,
remediate (dry run; then applied: redaction, and quarantine of the rest)
with failures injected (a dangling link, a link loop, a file with mode 000
(read anyway when the tests run as root), a member removed after the scan,
an unreachable S3 endpoint), and searches every byte written — stdout,
stderr, outputs, state DB, journal, audit logs, temp directory, the names
of everything in the quarantine directory — for every form of every planted
number. Quarantined files hold their cards by design: their bytes are not
searched, their names are. Bounded: CASES trees, seeded, under a minute.
"""
from __future__ import annotations

import io
import json
import os
import random
import sqlite3
import zipfile
from pathlib import Path

import pytest

from cardscan.cli import main as cli_main
from cardscan.testing import make_pan
from cardscan.testing.oracle import find_leaks, written_forms

CASES = 2
SEED = 20261206
PREFIXES = ("4556", "4716", "5105", "5425", "371449", "6011")


def _pan(rng: random.Random) -> str:
    prefix = rng.choice(PREFIXES)
    return make_pan(prefix, 15 if prefix.startswith("37") else 16, rng)


def _name_form(pan: str, rng: random.Random) -> str:
    # Forms a file system accepts in a name ('/' and NUL excluded; escapes are plain characters).
    forms = written_forms(pan)
    return forms[rng.choice(sorted(k for k in forms if k != "base64" or "/" not in forms[k]))].replace("/", "_")


def build_tree(root: Path, rng: random.Random) -> list[str]:
    """A hostile tree under ``root``; the planted numbers."""
    pans: list[str] = []

    def new() -> str:
        pans.append(_pan(rng))
        return pans[-1]

    d = root / f"dir_{_name_form(new(), rng)}"
    d.mkdir(parents=True)
    for i in range(3):  # files named in a form, holding a card (plain or grouped) and an encoded one
        body = f"order {i} paid with {new()} ok\nref {written_forms(new())[rng.choice(['hex', 'base64', 'percent'])]}\n"
        (d / f"r{i}_{_name_form(new(), rng)}.txt").write_text(body)
    members = {f"receipt_{_name_form(new(), rng)}.txt": f"card {new()}\n".encode(),
               "keep.txt": f"card {new()}\n".encode()}
    with zipfile.ZipFile(root / f"archive_{_name_form(new(), rng)}.zip", "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    db = sqlite3.connect(root / f"db_{_name_form(new(), rng)}.sqlite")
    db.execute(f'CREATE TABLE "cards_{new()}" (id INTEGER PRIMARY KEY, "note_{new()}" TEXT)')
    db.execute(f'INSERT INTO "cards_{pans[-2]}" VALUES (1, ?)', (f"paid {new()}",))
    db.commit()
    db.close()
    try:
        from tests.decoders.build import docx, pdf

        title = new()
        data = pdf([[f"invoice {new()}"]], info={"Title": f"card {title}", "Author": _name_form(new(), rng)})
        (root / "meta.pdf").write_bytes(data.replace(b"/Encoding /WinAnsiEncoding", f"/Encoding /{new()}".encode()))
        letter = root / f"letter_{_name_form(new(), rng)}.docx"
        with zipfile.ZipFile(io.BytesIO(docx([[f"card {new()}"]]))) as src:
            parts = {n: src.read(n) for n in src.namelist() if n != "docProps/core.xml"}
        with zipfile.ZipFile(letter, "w") as z:  # office metadata: the document's title and author
            for n, data in parts.items():
                z.writestr(n, data)
            z.writestr("docProps/core.xml", (
                '<?xml version="1.0" encoding="UTF-8"?><cp:coreProperties '
                'xmlns:cp="http://schemas.openxmlformats.org/package/2006/metadata/core-properties" '
                'xmlns:dc="http://purl.org/dc/elements/1.1/">'
                f"<dc:title>card {new()}</dc:title><dc:creator>{_name_form(new(), rng)}</dc:creator>"
                "</cp:coreProperties>"))
    except ImportError:  # pragma: no cover - the office/pdf extras are part of [all]
        pass
    os.symlink(root / f"gone_{new()}", root / f"link_{_name_form(new(), rng)}")  # dangling: an error record
    loop = root / f"loop_{_name_form(new(), rng)}"
    os.symlink(loop, loop)  # ELOOP on open: an error record that names it
    denied = root / f"denied_{_name_form(new(), rng)}.txt"
    denied.write_text(f"card {new()}\n")
    denied.chmod(0)  # unreadable, unless the tests run as root (then it is scanned like the rest)
    return pans


@pytest.mark.parametrize("case", range(CASES))
def test_no_planted_number_leaves_in_any_form(case: int, tmp_path: Path, capfd, monkeypatch) -> None:
    rng = random.Random(SEED + case)
    tree = tmp_path / "tree"
    pans = build_tree(tree, rng)
    out = tmp_path / "out"
    (out / "tmp").mkdir(parents=True)
    monkeypatch.setenv("TMPDIR", str(out / "tmp"))
    monkeypatch.chdir(out)
    key = out / "scan.key"
    key.write_bytes(rng.randbytes(32))
    key.chmod(0o600)
    k = ["--key-file", str(key)]
    streams: list[str] = []

    def cli(*argv: str) -> int:
        code = cli_main.main(list(argv))
        cap = capfd.readouterr()
        streams.append(cap.out + cap.err)
        return code

    assert cli("scan", str(tree), *k, "--manifest", "m.jsonl", "--state", "s.db", "-j", "2", "--no-progress",
               "--log-level", "debug") == 1
    for fmt in ("text", "sarif", "junit", "csv"):
        cli("scan", str(tree), *k, "--manifest", f"m-{fmt}.jsonl", "--format", fmt, "-j", "1", "--no-progress")
    cli("report", "m.jsonl")
    cli("report", "m.jsonl", "--html", "r.html")
    files = [str(p) for p in sorted(tree.rglob("*")) if p.is_file()]
    cli("hook", *k, *files)
    cli("baseline", *k, "-o", "b.json", str(tree))
    cli("remediate", "m.jsonl", "--action", "redact", *k)
    # a member removed after the scan: the remediation of that zip meets a stale member
    zpath = next(tree.glob("archive_*.zip"))
    with zipfile.ZipFile(zpath) as z:
        keep = {n: z.read(n) for n in z.namelist() if n == "keep.txt"}
    with zipfile.ZipFile(zpath, "w") as z:
        for n, data in keep.items():
            z.writestr(n, data)
    # applied: redaction of the texts and of the zip (its stale member), then quarantine of the rest
    cli("remediate", "m.jsonl", "--action", "redact", "--apply", "--path", "*archive_*", "--path", "*dir_*",
        "--audit-log", "audit-redact.jsonl", *k)
    cli("remediate", "m.jsonl", "--action", "quarantine", "--quarantine-to", str(out / "quarantine"), "--apply",
        "--exclude-path", "*archive_*", "--exclude-path", "*dir_*", "--audit-log", "audit.jsonl", *k)
    bucket = "-".join(pans[0][i:i + 4] for i in range(0, len(pans[0]), 4))
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "x")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "y")
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    assert cli("scan", f"s3://{bucket}/{pans[1]}/", "--endpoint-url", "http://127.0.0.1:9", *k,
               "--manifest", "s3.jsonl", "--no-progress") == 2

    written = {f"stream {i}": s.encode("utf-8", "surrogateescape") for i, s in enumerate(streams)}
    quarantine = out / "quarantine"
    for p in sorted(out.rglob("*")):
        name = str(p.relative_to(out))
        written["name " + name] = name.encode("utf-8", "surrogateescape")  # names of every file and directory
        if p.is_file() and quarantine not in p.parents:  # quarantined files hold their cards: that is the point
            written[name] = p.read_bytes()
    assert (out / "s.db").exists() and (out / "audit.jsonl").exists() and (out / "r.html").exists()
    redacted = [json.loads(line) for line in (out / "audit-redact.jsonl").read_text().splitlines()]
    assert {"done", "stale"} <= {r.get("status") for r in redacted}, "the redaction and the stale member were tested"
    assert any(p.is_file() for p in (out / "quarantine").rglob("*")), "nothing was quarantined: nothing was tested"
    leaks = {name: found for name, data in written.items() if (found := find_leaks(data, pans))}
    assert not leaks, f"planted numbers leaked (masked here): {leaks}"
