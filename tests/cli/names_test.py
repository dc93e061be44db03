"""Card numbers in *names*: a share where files, directories and archive
members are named after cards, as exports and scans often are.

Nothing cardscan writes may show those numbers (manifest, state, SARIF,
JUnit, the console, the HTML report, remediation output), and remediation
must still find every object, by opening the sealed locations with the key.
"""
from __future__ import annotations

import io
import sqlite3
import zipfile
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

import pytest

from cardscan.cli.main import main
from cardscan.manifest import load_manifest
from cardscan.testing import assert_no_pan
from tests.remediate.helpers import fp, key_file, pans, run, scan, statuses


@pytest.fixture(autouse=True)
def _cwd(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)


def named_share(tmp: Path, p: list[str]) -> Path:
    """p[0] names a directory, p[1] a file, p[2] a zip member; the contents hold p[3..5]."""
    root = tmp / "share"
    (root / f"customer-{p[0]}").mkdir(parents=True)
    (root / f"customer-{p[0]}" / f"{p[1]}.txt").write_text(f"card {p[3]} exp 04/29\n")
    with zipfile.ZipFile(root / "scans.zip", "w") as z:
        z.writestr(f"receipts/{p[2]}.txt", f"paid with card {p[4]}\n")
    (root / "plain.txt").write_text(f"card {p[5]}\n")
    return root


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with redirect_stdout(out), redirect_stderr(err):
        status = main(list(argv))
    return status, out.getvalue(), err.getvalue()


def test_names_are_masked_in_everything_the_scan_writes(tmp_path: Path) -> None:
    p = pans(6)
    root = named_share(tmp_path, p)
    html = tmp_path / "r.html"
    status, sarif, err = cli("scan", str(root), "--manifest", str(tmp_path / "m.jsonl"), "--state",
                             "--key-file", str(key_file(tmp_path)), "-j", "1", "--no-progress", "--no-config",
                             "--format", "sarif")
    assert status == 1, err
    assert '"version": "2.1.0"' in sarif or '"version":"2.1.0"' in sarif
    manifest = load_manifest(tmp_path / "m.jsonl")
    assert {f.fingerprint for f in manifest.findings} == {fp(x) for x in p[3:]}
    sealed = [f for f in manifest.findings if f.location.sealed]
    assert len(sealed) == 2  # the file in the card-named directory, the zip member; not plain.txt
    assert all("******" in f.location.display() for f in sealed)
    report_status, report_text, _ = cli("report", str(tmp_path / "m.jsonl"), "--html", str(html))
    assert report_status in (0, 1)
    with sqlite3.connect(tmp_path / "m.jsonl.state") as db:
        rows = "".join(str(r) for r in db.execute("SELECT uri, version FROM objects"))
        records = "".join(r[0] for r in db.execute("SELECT record FROM findings"))
    written = (tmp_path / "m.jsonl").read_bytes() + html.read_bytes()
    assert_no_pan(written + (sarif + err + report_text + rows + records).encode(), p[:3], "the scan's outputs")
    assert_no_pan(b"".join(f.read_bytes() for f in tmp_path.glob("m.jsonl.state*")), p[:3], "the state files")

    # An incremental sweep of the unchanged share carries the sealed findings over.
    status, junit, err = cli("scan", str(root), "--manifest", str(tmp_path / "m.jsonl"), "--state",
                             "--key-file", str(key_file(tmp_path)), "-j", "1", "--no-progress", "--no-config",
                             "--format", "junit")
    again = load_manifest(tmp_path / "m.jsonl")
    assert status == 1, err
    assert "<testsuite" in junit
    assert_no_pan((junit + err).encode(), p[:3], "the JUnit report")
    assert sorted((f.id, f.location.sealed) for f in again.findings) == sorted(
        (f.id, f.location.sealed) for f in manifest.findings)
    assert all(f.carried_over for f in again.findings)


def test_remediation_finds_objects_by_their_sealed_names(tmp_path: Path) -> None:
    p = pans(6)
    root = named_share(tmp_path, p)
    manifest = scan(tmp_path, root)
    report, results = run(manifest, "redact", verify=True)
    assert set(statuses(results).values()) == {"done"}, [(r.status, r.message) for r in results]
    assert p[3] not in (root / f"customer-{p[0]}" / f"{p[1]}.txt").read_text()
    with zipfile.ZipFile(root / "scans.zip") as z:
        assert p[4] not in z.read(f"receipts/{p[2]}.txt").decode()
    # What remediation printed and logged shows the names masked.
    status, out, err = cli("remediate", str(manifest), "--action", "redact", "--key-file", str(key_file(tmp_path)))
    journal = b"".join(f.read_bytes() for f in tmp_path.glob("*.jsonl") if f.name != manifest.name)
    assert_no_pan(out.encode() + err.encode() + journal, p[:3], "remediation output")
    assert report.counts["done"] == 3


def test_remediation_without_the_key_cannot_open_a_sealed_name(tmp_path: Path) -> None:
    from cardscan.errors import ManifestError
    from cardscan.findings import FingerprintKey
    from cardscan.remediate import Options, remediate
    from cardscan.remediate.runner import load

    p = pans(6)
    manifest = scan(tmp_path, named_share(tmp_path, p))
    # Reading for a report (no key) keeps the masked names.
    _, chosen, _ = load(str(manifest))
    assert sum(1 for f in chosen if f.location.sealed) == 2
    with pytest.raises(Exception, match="key"):
        remediate(str(manifest), Options(action="redact", apply=False), FingerprintKey(b"not the scan's key, yet 32 bytes long"))
    # A manifest whose sealed token was edited is refused, not half-applied.
    text = manifest.read_text()
    token = next(f.location.sealed for f in chosen if f.location.sealed)
    manifest.write_text(text.replace(token, token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")))
    with pytest.raises(ManifestError, match="sealed location"):
        load(str(manifest), key=FingerprintKey(b"remediate-tests-key, 32 bytes or longer"))
