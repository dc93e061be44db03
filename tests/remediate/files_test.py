"""Remediating real files found by a real scan: text, gz, zip, docx, xlsx, and the safety rules."""
from __future__ import annotations

import gzip
import io
import json
import os
import random
import stat
import zipfile
from pathlib import Path

import pytest

from cardscan.decoders import office as office_decoder
from cardscan.errors import ConfigError
from cardscan.findings import FingerprintKey
from cardscan.remediate import Options, backup as backup_mod, remediate
from cardscan.remediate.files import FileRemediator
from cardscan.remediate.runner import load as load_findings
from cardscan.remediate.select import build
from cardscan.testing import RemediatorCase, RemediatorContract, assert_no_pan
from tests.decoders.build import docx, xlsx, zip_bytes
from tests.remediate.helpers import FKEY, KEY, findings, fp, pans, run, scan, statuses


@pytest.fixture(autouse=True)
def _cwd(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)  # no settings file from the repository
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)


def only_spans_changed(old: bytes, new: bytes, spans: list[tuple[int, int]]) -> bool:
    """Same length, and every differing byte lies inside one of ``spans``."""
    if len(old) != len(new):
        return False
    inside = bytearray(len(old))
    for a, b in spans:
        inside[a:b] = b"\x01" * (b - a)
    return all(o == n or inside[i] for i, (o, n) in enumerate(zip(old, new)))


def spans_of(manifest: Path, path: Path, member: tuple[str, ...] = ()) -> list[tuple[int, int]]:
    out = []
    for r in findings(manifest):
        loc = r["location"]
        if loc["uri"].endswith("/" + path.name) and tuple(loc.get("member", ())) == member:
            out.append((loc["offset"], loc["offset"] + loc["length"]))
    return out


def rescan_fps(tmp: Path, root: Path) -> set[str]:
    m = scan(tmp, root, name="rescan.jsonl", extra=["--min-confidence", "0"])
    return {r["fingerprint"] for r in findings(m)}


def make_share(tmp: Path, p: list[str]) -> dict[str, Path]:
    root = tmp / "share"
    root.mkdir()
    files = {}
    files["txt"] = root / "notes.txt"
    files["txt"].write_bytes(
        f"call log\ncustomer card {p[0]} exp 04/29\nsecond card: {p[1][:4]} {p[1][4:8]} {p[1][8:12]} {p[1][12:]}\n"
        f"track ;{p[2]}=29121010000000000?\nend\n".encode())
    files["gz"] = root / "app.log.gz"
    raw = f"2026-01-01 payment card {p[3]} approved\n".encode() * 3
    buf = io.BytesIO()
    with gzip.GzipFile(filename="app.log", mode="wb", fileobj=buf, mtime=1700000000) as g:
        g.write(raw)
    files["gz"].write_bytes(buf.getvalue())
    files["zip"] = root / "export.zip"
    files["zip"].write_bytes(zip_bytes({
        "readme.txt": b"nothing to see here, order 12345\n" * 20,
        "cards.csv": f"id,card\n1,{p[4]}\n2,none\n".encode(),
        "logo.bin": bytes(range(256)) * 8,
    }))
    files["docx"] = root / "letter.docx"
    files["docx"].write_bytes(docx([["Dear customer,"], ["your card ", p[5][:7], p[5][7:], " was charged"]],
                                   header="no numbers here"))
    files["xlsx"] = root / "book.xlsx"
    files["xlsx"].write_bytes(xlsx([["name"], ["card " + p[6]]], [("A1", "s", "0"), ("B1", "s", "1"), ("C1", None, p[7])]))
    return files


def test_redacts_text_gz_zip_docx_xlsx_and_a_rescan_finds_nothing(tmp_path: Path) -> None:
    p = pans(8)
    files = make_share(tmp_path, p)
    os.chmod(files["txt"], 0o640)
    before = {k: v.read_bytes() for k, v in files.items()}
    manifest = scan(tmp_path, tmp_path / "share")
    recorded = findings(manifest)
    assert {r["fingerprint"] for r in recorded} == {fp(x) for x in p}, "the scan must find every planted number"

    report, results = run(manifest, verify=True)

    assert report.counts == {"done": len(recorded)}, report.counts
    assert report.exit_code == 0
    assert report.verified_objects == len(files) and report.remaining == []
    assert not (rescan_fps(tmp_path, tmp_path / "share") & {fp(x) for x in p})
    # Plain text: same length, only the spans changed, mode kept.
    txt = files["txt"].read_bytes()
    assert only_spans_changed(before["txt"], txt, spans_of(manifest, files["txt"]))
    assert stat.S_IMODE(os.stat(files["txt"]).st_mode) == 0o640
    assert b"************" + p[0][-4:].encode() in txt
    assert b";****************=" in txt  # track data masked whole
    # gzip: the same header (name, mtime), content changed only in the spans.
    gz = files["gz"].read_bytes()
    assert gz[:10] == before["gz"][:10] and b"app.log\x00" in gz[:20]
    assert only_spans_changed(gzip.decompress(before["gz"]), gzip.decompress(gz), spans_of(manifest, files["gz"]))
    # zip: untouched members byte for byte (header and compressed data), the changed one only in its span.
    old, new = zipfile.ZipFile(io.BytesIO(before["zip"])), zipfile.ZipFile(files["zip"])
    assert [i.filename for i in old.infolist()] == [i.filename for i in new.infolist()]
    for name in ("readme.txt", "logo.bin"):
        assert raw_entry(before["zip"], old.getinfo(name)) == raw_entry(files["zip"].read_bytes(), new.getinfo(name))
    assert only_spans_changed(old.read("cards.csv"), new.read("cards.csv"), spans_of(manifest, files["zip"], ("cards.csv",)))
    assert new.testzip() is None
    # Office: other parts identical; the text of the changed part differs only in the spans.
    for key, part in (("docx", "word/document.xml"), ("xlsx", "xl/sharedStrings.xml"), ("xlsx", "xl/worksheets/sheet1.xml")):
        o, n = zipfile.ZipFile(io.BytesIO(before[key])), zipfile.ZipFile(files[key])
        for info in o.infolist():
            if info.filename not in ("word/document.xml", "xl/sharedStrings.xml", "xl/worksheets/sheet1.xml"):
                assert o.read(info) == n.read(info.filename), info.filename
        kind = office_decoder.part_kind(office_decoder.Office(key), part)
        old_text = b"".join(office_decoder.extract(io.BytesIO(o.read(part)), kind))
        new_text = b"".join(office_decoder.extract(io.BytesIO(n.read(part)), kind))
        assert only_spans_changed(old_text, new_text, spans_of(manifest, files[key], (part,))), part
    # The number cell became an inline string cell showing the masked number.
    sheet = zipfile.ZipFile(files["xlsx"]).read("xl/worksheets/sheet1.xml")
    assert b't="inlineStr"><is><t>************' + p[7][-4:].encode() + b"</t></is>" in sheet
    for r in results:
        assert r.before_sha256 and r.after_sha256 and r.before_sha256 != r.after_sha256


def raw_entry(data: bytes, info: zipfile.ZipInfo) -> bytes:
    n, m = int.from_bytes(data[info.header_offset + 26:info.header_offset + 28], "little"), \
        int.from_bytes(data[info.header_offset + 28:info.header_offset + 30], "little")
    return data[info.header_offset:info.header_offset + 30 + n + m + info.compress_size]


def test_second_run_is_a_no_op(tmp_path: Path) -> None:
    p = pans(8)
    files = make_share(tmp_path, p)
    manifest = scan(tmp_path, tmp_path / "share")
    run(manifest)
    after = {k: (v.read_bytes(), os.stat(v).st_mtime_ns, os.stat(v).st_ino) for k, v in files.items()}

    report, results = run(manifest)

    assert set(statuses(results).values()) == {"already_remediated"}
    assert report.exit_code == 0
    assert {k: (v.read_bytes(), os.stat(v).st_mtime_ns, os.stat(v).st_ino) for k, v in files.items()} == after


def test_second_run_is_a_no_op_without_the_journal(tmp_path: Path) -> None:
    p = pans(8)
    files = make_share(tmp_path, p)
    manifest = scan(tmp_path, tmp_path / "share")
    run(manifest)
    for f in tmp_path.glob("scan.audit*"):
        f.unlink()
    after = {k: v.read_bytes() for k, v in files.items()}
    _, results = run(manifest)
    assert set(statuses(results).values()) == {"already_remediated"}
    assert {k: v.read_bytes() for k, v in files.items()} == after


def test_a_file_changed_after_the_scan_is_stale_and_untouched(tmp_path: Path) -> None:
    p = pans(2)
    root = tmp_path / "share"
    root.mkdir()
    a, b = root / "a.txt", root / "b.txt"
    a.write_text(f"card {p[0]}\n")
    b.write_text(f"card {p[1]}\n")
    manifest = scan(tmp_path, root)
    a.write_text(f"card {p[0]}\nappended later\n")  # same number, same offset: the file is not the one scanned
    b_len = len(b.read_bytes())
    changed = a.read_bytes()

    report, results = run(manifest)

    by_file = {r.finding.location.uri.rsplit("/", 1)[1]: r for r in results}
    assert by_file["a.txt"].status == "stale" and "changed since the scan" in by_file["a.txt"].message
    assert by_file["b.txt"].status == "done"
    assert a.read_bytes() == changed and len(b.read_bytes()) == b_len
    assert report.exit_code == 1


def test_another_number_at_the_offset_is_stale(tmp_path: Path) -> None:
    p = pans(2)
    root = tmp_path / "share"
    root.mkdir()
    a = root / "a.txt"
    a.write_text(f"card {p[0]}\n")
    manifest = scan(tmp_path, root)
    a.write_text(f"card {p[1]}\n")
    _, results = run(manifest)
    assert [r.status for r in results] == ["stale"]
    found = p[1] in a.read_text()
    assert found, "the other number must be left alone"


def test_dry_run_verifies_and_changes_nothing(tmp_path: Path) -> None:
    p = pans(8)
    files = make_share(tmp_path, p)
    manifest = scan(tmp_path, tmp_path / "share")
    before = {k: v.read_bytes() for k, v in files.items()}
    report, results = run(manifest, apply=False)
    assert set(statuses(results).values()) == {"planned"}
    assert report.exit_code == 0
    assert {k: v.read_bytes() for k, v in files.items()} == before
    assert not list(tmp_path.glob("scan.audit*"))
    assert not list((tmp_path / "share").glob(".*cardscan*"))


def test_refuses_another_key(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    (root / "a.txt").write_text(f"card {pans(1)[0]}\n")
    manifest = scan(tmp_path, root)
    with pytest.raises(ConfigError, match="not with the key given"):
        remediate(str(manifest), Options(apply=True), FingerprintKey(b"another key, as long as the scan's key"))
    with pytest.raises(ConfigError, match="needs the fingerprint key"):
        remediate(str(manifest), Options(apply=True), FingerprintKey(None))


def test_refuses_a_short_key_even_the_scans_own(tmp_path: Path) -> None:
    from cardscan.findings import WeakKeyError

    root = tmp_path / "share"
    root.mkdir()
    (root / "a.txt").write_text(f"card {pans(1)[0]}\n")
    short = b"a key of 31 bytes, as before..."
    manifest = scan(tmp_path, root)
    # A manifest made under a short key (by an earlier version): its id matches, the key is still refused.
    lines = manifest.read_text().splitlines()
    rec = json.loads(lines[0])
    rec["key_id"] = FingerprintKey(short).key_id
    manifest.write_text("\n".join([json.dumps(rec)] + lines[1:]) + "\n")
    before = (root / "a.txt").read_bytes()
    with pytest.raises(WeakKeyError, match="remediation is 31 bytes"):
        remediate(str(manifest), Options(apply=True), FingerprintKey(short))
    assert (root / "a.txt").read_bytes() == before


def test_a_manifest_with_an_earlier_versions_key_id_is_remediated(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    card = pans(1)[0]
    (root / "a.txt").write_text(f"card {card}\n")
    manifest = scan(tmp_path, root)
    lines = manifest.read_text().splitlines()
    rec = json.loads(lines[0])
    assert rec["key_id"] == FKEY.key_id and rec["key_id"].startswith("pbkdf2:")
    rec["key_id"] = FKEY.legacy_key_id  # the unkeyed id manifests carried before
    manifest.write_text("\n".join([json.dumps(rec)] + lines[1:]) + "\n")
    report, results = run(manifest)
    assert set(statuses(results).values()) == {"done"}
    assert_no_pan((root / "a.txt").read_bytes(), [card], "the redacted file")


def test_batches_on_one_file_through_the_journal(tmp_path: Path) -> None:
    p = pans(2)  # a Visa and a Mastercard
    root = tmp_path / "share"
    root.mkdir()
    a = root / "a.txt"
    a.write_text(f"visa card {p[0]}\nmastercard card {p[1]}\n")
    manifest = scan(tmp_path, root)

    _, first = run(manifest, selection=build(brands=["visa"]))
    assert [(r.finding.brand, r.status) for r in first] == [("visa", "done")]
    # The file changed (by us): the next batch goes on, because the journal says so.
    _, second = run(manifest, selection=build(brands=["mastercard"]))
    assert [(r.finding.brand, r.status) for r in second] == [("mastercard", "done")]
    assert not (rescan_fps(tmp_path, root) & {fp(x) for x in p})


def test_without_the_journal_a_later_batch_is_stale(tmp_path: Path) -> None:
    p = pans(2)
    root = tmp_path / "share"
    root.mkdir()
    a = root / "a.txt"
    a.write_text(f"visa card {p[0]}\nmastercard card {p[1]}\n")
    manifest = scan(tmp_path, root)
    run(manifest, selection=build(brands=["visa"]), journal=str(tmp_path / "j1.jsonl"))
    _, second = run(manifest, selection=build(brands=["mastercard"]), journal=str(tmp_path / "j2.jsonl"))
    assert [r.status for r in second] == ["stale"]


def test_preserve_mtime_and_owner(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    a = root / "a.txt"
    a.write_text(f"card {pans(1)[0]}\n")
    os.utime(a, ns=(1_600_000_000_000_000_000, 1_600_000_000_000_000_000))
    manifest = scan(tmp_path, root)
    st = os.stat(a)
    run(manifest, preserve_mtime=True)
    st2 = os.stat(a)
    assert st2.st_mtime_ns == st.st_mtime_ns and st2.st_ino != st.st_ino
    assert (st2.st_uid, st2.st_gid, stat.S_IMODE(st2.st_mode)) == (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode))


def test_hard_links_and_symlinks_are_not_rewritten(tmp_path: Path) -> None:
    p = pans(2)
    root = tmp_path / "share"
    root.mkdir()
    a, b = root / "a.txt", root / "b.txt"
    a.write_text(f"card {p[0]}\n")
    b.write_text(f"card {p[1]}\n")
    manifest = scan(tmp_path, root)
    os.link(a, tmp_path / "other-link")
    b.rename(tmp_path / "b-real.txt")
    os.symlink(tmp_path / "b-real.txt", b)
    _, results = run(manifest)
    msgs = {r.finding.location.uri.rsplit("/", 1)[1]: (r.status, r.message) for r in results}
    assert msgs["a.txt"][0] == "unsupported" and "hard links" in msgs["a.txt"][1]
    assert msgs["b.txt"][0] == "unsupported" and "symbolic link" in msgs["b.txt"][1]
    found = p[0] in a.read_text() and p[1] in (tmp_path / "b-real.txt").read_text()
    assert found, "neither file may change"


def test_mask_full_and_track_data(tmp_path: Path) -> None:
    p = pans(2)
    root = tmp_path / "share"
    root.mkdir()
    a = root / "a.txt"
    a.write_text(f"card {p[0]}\n%B{p[1]}^DOE/JANE^2912101000000000000?\n")
    manifest = scan(tmp_path, root)
    run(manifest, mask="full")
    text = a.read_text()
    assert "card ****************\n" in text
    assert "%*****************^***/****^*******************?" in text


def test_utf16_text(tmp_path: Path) -> None:
    p = pans(1)
    root = tmp_path / "share"
    root.mkdir()
    a = root / "export.txt"
    a.write_bytes(f"customer card {p[0]} paid\n".encode("utf-16-le"))
    manifest = scan(tmp_path, root)
    assert len(findings(manifest)) == 1
    run(manifest)
    assert a.read_bytes().decode("utf-16-le") == f"customer card {'*' * 12}{p[0][-4:]} paid\n"


def test_inline_encoded_numbers(tmp_path: Path) -> None:
    import base64

    p = pans(3)
    root = tmp_path / "share"
    root.mkdir()
    a = root / "requests.log"
    pct = "".join(f"%{ord(c):02X}" for c in p[1])
    ent = "".join(f"&#{ord(c)};" for c in p[2])
    blob = base64.b64encode(f'{{"card":"{p[0]}","exp":"04/29"}}'.encode()).decode()
    a.write_text(f"GET /pay?token={blob} 200\nPOST /pay body=card%3D{pct} 200\n<p>card {ent}</p>\n")
    before = a.read_bytes()
    manifest = scan(tmp_path, root)
    assert {r["encoding"] for r in findings(manifest)} == {"base64", "percent", "entity"}
    report, _ = run(manifest, verify=True)
    assert report.counts == {"done": 3} and not report.remaining
    after = a.read_bytes()
    assert len(after) == len(before)
    assert not (rescan_fps(tmp_path, root) & {fp(x) for x in p})
    assert "%2A%2A" in after.decode() and "&#42;&#42;" in after.decode()
    decoded = base64.b64decode(after.decode().split("token=")[1].split()[0])
    assert decoded == f'{{"card":"{"*" * 12}{p[0][-4:]}","exp":"04/29"}}'.encode()


def test_quarantine_moves_the_file_and_leaves_a_note(tmp_path: Path) -> None:
    p = pans(2)
    root = tmp_path / "share"
    root.mkdir()
    a = root / "a.txt"
    a.write_text(f"card {p[0]} and {p[1]}\n")
    content = a.read_bytes()
    manifest = scan(tmp_path, root)
    q = tmp_path / "quarantine"

    report, results = run(manifest, action="quarantine", quarantine_to=str(q), verify=True)

    assert report.exit_code == 0 and {r.status for r in results} == {"done"}
    dest = Path(results[0].destination)
    assert dest == q / str(a).lstrip("/") and dest.read_bytes() == content
    assert stat.S_IMODE(os.stat(q).st_mode) == 0o700
    assert not a.exists()
    note = Path(str(a) + ".cardscan-quarantined.txt")
    assert stat.S_IMODE(os.stat(note).st_mode) == 0o600
    text = note.read_text()
    assert all(r.finding.id in text for r in results) and str(dest) in text
    assert_no_pan(text, p, "the tombstone")
    _, again = run(manifest, action="quarantine", quarantine_to=str(q))
    assert {r.status for r in again} == {"already_remediated"}


def test_delete_needs_confirmation(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    a = root / "a.txt"
    a.write_text(f"card {pans(1)[0]}\n")
    manifest = scan(tmp_path, root)
    with pytest.raises(ConfigError, match="--yes-delete-files"):
        run(manifest, action="delete")
    assert a.exists()
    _, results = run(manifest, action="delete", yes_delete=True)
    assert [r.status for r in results] == ["done"] and not a.exists()
    assert Path(str(a) + ".cardscan-deleted.txt").exists()
    _, again = run(manifest, action="delete", yes_delete=True)
    assert [r.status for r in again] == ["already_remediated"]


def test_encrypted_backup_restores_the_original(tmp_path: Path) -> None:
    p = pans(1)
    root = tmp_path / "share"
    root.mkdir()
    a = root / "a.txt"
    a.write_text(f"card {p[0]}\n" + "filler line\n" * 1000)
    original = a.read_bytes()
    manifest = scan(tmp_path, root)
    key = backup_mod.new_key()
    _, results = run(manifest, backup_dir=str(tmp_path / "backups"), backup_key=key)
    path = Path(results[0].backup)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(path.parent).st_mode) == 0o700
    assert_no_pan(path.read_bytes(), p, "the backup file")
    header, chunks = backup_mod.restore(str(path), key)
    assert header["sha256"] == results[0].before_sha256
    same = b"".join(chunks) == original
    assert same, "the backup must restore the original bytes"


def test_backup_dir_needs_a_key(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    (root / "a.txt").write_text(f"card {pans(1)[0]}\n")
    manifest = scan(tmp_path, root)
    with pytest.raises(ConfigError, match="backup-key-file"):
        run(manifest, backup_dir=str(tmp_path / "b"))


def test_audit_log_and_journal_are_private_and_hold_no_pan(tmp_path: Path) -> None:
    p = pans(8)
    make_share(tmp_path, p)
    manifest = scan(tmp_path, tmp_path / "share")
    report, results = run(manifest)
    audit, journal = Path(report.audit_log), Path(report.journal)
    for f in (audit, journal):
        assert stat.S_IMODE(os.stat(f).st_mode) == 0o600
        assert_no_pan(f.read_bytes(), p, f.name)
    recs = [json.loads(line) for line in audit.read_text().splitlines()]
    assert {r["finding_id"] for r in recs} == {r.finding.id for r in results}
    for r in recs:
        assert r["user"] and r["host"] and r["time"] and r["action"] == "redact" and r["status"] == "done"
        assert r["before_sha256"] != r["after_sha256"]
    events = [json.loads(line)["event"] for line in journal.read_text().splitlines()]
    assert events.count("begin") == events.count("end") == 5 and events.count("prepared") == 5


def test_verify_reports_a_card_left_elsewhere_in_the_object(tmp_path: Path) -> None:
    p = pans(1)
    root = tmp_path / "share"
    root.mkdir()
    a = root / "a.txt"
    a.write_text(f"card {p[0]}\nagain card {p[0]}\n")
    manifest = scan(tmp_path, root)
    first = findings(manifest)[0]["id"]
    report, _ = run(manifest, selection=build(ids=[first]), verify=True)
    assert report.counts == {"done": 1}
    assert len(report.remaining) == 1 and not report.remaining[0].at_remediated
    assert report.exit_code == 1


def test_a_dry_run_after_a_batch_knows_the_batch(tmp_path: Path) -> None:
    p = pans(2)
    root = tmp_path / "share"
    root.mkdir()
    (root / "a.txt").write_text(f"visa card {p[0]}\nmastercard card {p[1]}\n")
    manifest = scan(tmp_path, root)
    run(manifest, selection=build(brands=["visa"]))
    _, planned = run(manifest, apply=False)
    assert sorted((r.finding.brand, r.status) for r in planned) == [("mastercard", "planned"),
                                                                    ("visa", "already_remediated")]


def test_a_big_file_scanned_in_ranges(tmp_path: Path) -> None:
    p = pans(3)
    root = tmp_path / "share"
    root.mkdir()
    big = root / "dump.log"
    filler = b"0123456789 filler line of the dump\n" * 3000  # ~105 KB per block
    big.write_bytes(filler + f"card {p[0]}\n".encode() + filler + f"card {p[1]}\n".encode() + filler
                    + f"card {p[2]}\n".encode())
    before = big.read_bytes()
    manifest = scan(tmp_path, root, extra=["--split-size", "64KiB"])
    recs = findings(manifest)
    assert {r["object"].get("sha256_mode") for r in recs} == {"ranges"} and len(recs) == 3
    report, _ = run(manifest)
    assert report.counts == {"done": 3}
    spans = [(r["location"]["offset"], r["location"]["offset"] + r["location"]["length"]) for r in recs]
    assert only_spans_changed(before, big.read_bytes(), spans)
    _, again = run(manifest)
    assert set(statuses(again).values()) == {"already_remediated"}


def test_an_archive_bigger_than_the_memory_cap_is_unsupported(tmp_path: Path) -> None:
    p = pans(1)
    root = tmp_path / "share"
    root.mkdir()
    z = root / "big.zip"
    z.write_bytes(zip_bytes({"a.txt": f"card {p[0]}\n".encode() + os.urandom(50_000)}, method=zipfile.ZIP_STORED))
    before = z.read_bytes()
    manifest = scan(tmp_path, root)
    report, results = run(manifest, max_rewrite_bytes=10_000)
    assert [r.status for r in results] == ["unsupported"] and "max-rewrite-size" in results[0].message
    assert z.read_bytes() == before and report.exit_code == 1


@pytest.mark.parametrize("suffix", [".bz2", ".xz", ".zst"])
def test_big_compressed_logs_are_streamed(tmp_path: Path, suffix: str) -> None:
    import bz2
    import lzma

    p = pans(2)
    rng = random.Random(5)  # letters only: no digit runs to find, and it does not compress past the ratio limit
    noise = "".join("".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(40)) + " log line\n"
                    for _ in range(20_000)).encode()
    raw = f"card {p[0]}\n".encode() + noise + f"card {p[1]}\n".encode()
    if suffix == ".bz2":
        data, decompress = bz2.compress(raw), bz2.decompress
    elif suffix == ".xz":
        data, decompress = lzma.compress(raw), lzma.decompress
    else:
        zstandard = pytest.importorskip("zstandard")
        data = zstandard.ZstdCompressor().compress(raw)
        decompress = zstandard.ZstdDecompressor().decompress
    root = tmp_path / "share"
    root.mkdir()
    f = root / ("app.log" + suffix)
    f.write_bytes(data)
    manifest = scan(tmp_path, root)
    # A cap far below the decompressed size: plain content inside one compression layer is streamed.
    report, _ = run(manifest, max_rewrite_bytes=100_000)
    assert report.counts == {"done": 2}
    out = decompress(f.read_bytes())
    assert len(out) == len(raw) and not (rescan_fps(tmp_path, root) & {fp(x) for x in p})


def test_a_quarantine_directory_others_can_enter_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    (root / "a.txt").write_text(f"card {pans(1)[0]}\n")
    manifest = scan(tmp_path, root)
    q = tmp_path / "q"
    q.mkdir()
    os.chmod(q, 0o755)
    with pytest.raises(ConfigError, match="chmod 700"):
        run(manifest, action="quarantine", quarantine_to=str(q))
    assert (root / "a.txt").exists()


def test_journal_seals_temp_paths_whose_names_hold_a_number_and_cleans_up_after_a_crash(tmp_path: Path) -> None:
    from cardscan.remediate.journal import Journal
    from cardscan.testing import assert_no_pan
    from tests.remediate.helpers import FKEY

    pan = pans(1, seed=31)[0]
    folder = tmp_path / f"customer-{pan}"
    folder.mkdir()
    temp = folder / ".cardscan-0123456789abcdef.tmp"
    path = tmp_path / "j.jsonl"
    j = Journal(str(path), "run-1", key=FKEY)
    j.record("begin", "obj1", where="x", temp=str(temp), destination=str(folder / "q"))
    j.close()  # a crash: no "end"
    temp.write_bytes(b"half written")
    assert_no_pan(path.read_bytes(), [pan], "the journal")
    Journal(str(path), "run-2", key=FKEY).close()
    assert not temp.exists(), "the next run removes the crashed run's temp file"
    temp.write_bytes(b"again")
    with pytest.raises(ConfigError, match="key"):  # without the key its records cannot be authenticated
        Journal(str(path), "run-3")
    assert temp.exists()


class TestFileRemediatorContract(RemediatorContract):
    """The file remediator under the contract every remediator inherits."""

    @pytest.fixture
    def remediator_case(self, tmp_path: Path) -> RemediatorCase:
        a, b, c = pans(3, seed=11)
        share = tmp_path / "share"
        share.mkdir()
        (share / "orders.log").write_text(f"paid card={a} ok\nrefund card number {b}\n")
        with zipfile.ZipFile(share / "export.zip", "w") as zf:
            zf.writestr("cards.csv", f"id,card_number\n1,{c}\n")
        _, found, _ = load_findings(str(scan(tmp_path, share)), None, FKEY)
        files = sorted(share.iterdir())

        def snapshot() -> dict[str, bytes]:
            return {p.name: p.read_bytes() for p in files}

        def make_stale() -> list[str]:
            p = share / "orders.log"  # other digits where the card was: not the card scanned
            p.write_text(p.read_text().replace(b, pans(1, seed=12)[0]))
            return [b]

        return RemediatorCase(FileRemediator(), found, snapshot, make_stale, key=KEY)


def test_verify_rechecks_through_the_pipeline_and_leaves_worker_state_alone(tmp_path: Path) -> None:
    # The re-check used to call the sweep worker's init_worker, replacing the
    # process's worker settings; it now builds a pipeline of its own.
    from cardscan.engine.config import ScanConfig
    from cardscan.engine.scanner import Scanner
    from cardscan.pipeline import Pipeline
    from cardscan.run import worker

    p = pans(1)
    root = tmp_path / "share"
    root.mkdir()
    (root / "a.txt").write_text(f"card {p[0]}\nagain card {p[0]}\n")
    manifest = scan(tmp_path, root)
    worker.init_worker(Pipeline(Scanner(ScanConfig(), FingerprintKey(b"some other sweep" * 2))).spec())
    before = worker.pipeline()
    report, _ = run(manifest, selection=build(ids=[findings(manifest)[0]["id"]]), verify=True)
    assert [f.fingerprint for f in (r.finding for r in report.remaining)] == [fp(p[0])]  # under the run's key
    assert worker.pipeline() is before


def test_checkpoints_are_passed_around_each_replace(tmp_path: Path, monkeypatch) -> None:
    from cardscan.remediate.base import Context

    p = pans(3)
    root = tmp_path / "share"
    root.mkdir()
    for i in range(3):
        (root / f"f{i}.txt").write_text(f"card {p[i]}\n")
    manifest = scan(tmp_path, root)
    seen: list[str] = []
    monkeypatch.setattr(Context, "on_checkpoint", staticmethod(seen.append))
    assert run(manifest, apply=False)[0].counts == {"planned": 3} and seen == []  # a dry run replaces nothing
    report, _ = run(manifest)
    assert report.counts == {"done": 3}
    assert seen == ["before_rename", "after_rename"] * 3


@pytest.mark.parametrize("first", ["quarantine", "delete"])
def test_a_file_quarantined_or_deleted_earlier_is_already_done_for_any_action(tmp_path: Path, first: str) -> None:
    p = pans(1, seed=91)
    root = tmp_path / "share"
    root.mkdir()
    (root / "a.txt").write_text(f"card {p[0]}\n")
    manifest = scan(tmp_path, root)
    run(manifest, action=first, quarantine_to=str(tmp_path / "q"), yes_delete=True)
    for later in ("redact", "quarantine", "delete"):
        report, results = run(manifest, action=later, quarantine_to=str(tmp_path / "q"), yes_delete=True)
        assert [r.status for r in results] == ["already_remediated"], (later, [r.message for r in results])
        assert ("quarantined" if first == "quarantine" else "deleted") + " earlier" in results[0].message
        assert report.exit_code == 0


@pytest.mark.parametrize("how", ["killed", "interrupted"])
def test_an_unfinished_scan_is_remediated_with_a_clear_warning(tmp_path: Path, capsys, how: str) -> None:
    from cardscan.cli.main import main
    from tests.remediate.helpers import key_file

    p = pans(1, seed=92)
    root = tmp_path / "share"
    root.mkdir()
    (root / "a.txt").write_text(f"card {p[0]}\n")
    manifest = scan(tmp_path, root)
    lines = manifest.read_text().splitlines(keepends=True)
    assert json.loads(lines[-1])["type"] == "summary"
    if how == "killed":  # a hard kill: no summary record
        manifest.write_text("".join(lines[:-1]))
    else:
        summary = json.loads(lines[-1])
        summary.update(status="interrupted", reason="signal")
        manifest.write_text("".join(lines[:-1]) + json.dumps(summary) + "\n")

    status = main(["remediate", str(manifest), "--action", "redact", "--key-file", str(key_file(tmp_path))])
    out, err = capsys.readouterr()

    assert status == 0 and out.startswith("would redact")  # not refused: the listed cards are handled
    warning = [line for line in err.splitlines() if line.startswith("cardscan: warning:")]
    assert len(warning) == 2 and "may not list every card" in warning[0]  # before the results and in the summary
    assert ("did not finish" if how == "killed" else "was interrupted") in warning[0]
    report, results = run(manifest)
    assert [r.status for r in results] == ["done"] and report.warnings


def test_a_complete_scan_gives_no_warning(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    (root / "a.txt").write_text(f"card {pans(1, seed=93)[0]}\n")
    report, _ = run(scan(tmp_path, root), apply=False)
    assert report.warnings == []


# -- refusals docs/remediation.md lists ("What remediation refuses, and why") ------------------
def _one_card_share(tmp_path: Path) -> tuple[Path, Path, str]:
    root = tmp_path / "share"
    root.mkdir()
    card = pans(1, seed=91)[0]
    (root / "a.txt").write_text(f"order 7 card {card}\n")
    return root, scan(tmp_path, root), card


def test_a_file_is_not_quarantined_to_an_s3_url(tmp_path: Path) -> None:
    root, manifest, _ = _one_card_share(tmp_path)
    before = (root / "a.txt").read_bytes()
    _, results = run(manifest, action="quarantine", quarantine_to="s3://bucket/quarantine/")
    assert [r.status for r in results] == ["unsupported"] and "--quarantine-to DIR" in results[0].message
    assert (root / "a.txt").read_bytes() == before and not list(root.glob("*.cardscan-*"))


@pytest.mark.parametrize("action", ["redact", "delete"])
def test_a_finding_without_the_objects_sha256_cannot_be_verified(tmp_path: Path, action: str) -> None:
    root, manifest, _ = _one_card_share(tmp_path)
    lines = []
    for line in manifest.read_text().splitlines():
        rec = json.loads(line)
        if rec.get("type") == "finding":
            rec["object"].pop("sha256", None)
        lines.append(json.dumps(rec))
    manifest.write_text("\n".join(lines) + "\n")
    before = (root / "a.txt").read_bytes()
    _, results = run(manifest, action=action, yes_delete=True)
    assert [r.status for r in results] == ["unsupported"] and "no sha256" in results[0].message
    assert (root / "a.txt").read_bytes() == before


def test_a_location_no_remediator_handles_is_unsupported(tmp_path: Path) -> None:
    root, manifest, _ = _one_card_share(tmp_path)
    text = manifest.read_text()
    uri = (root / "a.txt").as_uri()
    assert uri in text
    manifest.write_text(text.replace(uri, "ftp://files.example/a.txt"))
    _, results = run(manifest)
    assert [r.status for r in results] == ["unsupported"] and "no remediator" in results[0].message


def test_a_backup_directory_others_can_enter_stops_that_object(tmp_path: Path) -> None:
    root, manifest, _ = _one_card_share(tmp_path)
    backups = tmp_path / "backups"
    backups.mkdir(mode=0o755)
    os.chmod(backups, 0o755)
    before = (root / "a.txt").read_bytes()
    report, results = run(manifest, backup_dir=str(backups), backup_key=backup_mod.new_key())
    assert [r.status for r in results] == ["error"] and "group or others" in results[0].message
    assert (root / "a.txt").read_bytes() == before and list(backups.iterdir()) == []
    assert report.exit_code == 2


def test_a_tombstone_keeps_every_finding_id_as_it_is(rng) -> None:
    """A finding id is 24 hex characters of a hash; one may hold a Luhn-valid
    digit run by chance. The note lists it as the manifest does (redacted, it
    came out masked and a second run reported 'stale', not 'already
    remediated'); the masked numbers and a destination are still redacted."""
    from types import SimpleNamespace

    from cardscan.remediate.base import note_body, parse_note
    from cardscan.testing import make_pan

    pan, dest_pan = make_pan("4556", 16, rng), make_pan("51", 16, rng)
    ids = ["ab" + pan + "cdef12", "0123456789abcdef01234567"]
    found = [SimpleNamespace(id=i, brand="visa", masked=f"{pan[:6]}******{pan[-4:]}") for i in ids]
    ctx = SimpleNamespace(user="u", host="h")
    body = note_body("file", "quarantine", found, f"/q/{dest_pan}/a.txt", ctx)  # type: ignore[arg-type]
    assert parse_note(body.decode())["ids"] == set(ids)
    assert_no_pan(body.replace(ids[0].encode(), b""), [pan, dest_pan], "the tombstone")
