"""Remediating files on an SMB share, against the real Samba server of tests/samba.py.

Files are planted with owners and modes (Samba shows them as NT ACLs), the
share is scanned as the reader (its password in CARDSCAN_SMB_PASSWORD, never
in the manifest), and remediated over SMB: redaction through a temp file
created with the original's security descriptor and renamed over it
through its own handle; delete and quarantine through the checked handle.
"""
from __future__ import annotations

import json
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("smbclient", reason="the smb extra is not installed")

from cardscan.errors import SourceError  # noqa: E402
from cardscan.sources import smb_acl  # noqa: E402
from cardscan.sources.base import Item  # noqa: E402
from cardscan.sources.smb import PASSWORD_ENV, SMBSource  # noqa: E402
from cardscan.testing import assert_no_pan  # noqa: E402
from tests.remediate.helpers import findings, fp, pans, run, scan, statuses  # noqa: E402


@pytest.fixture(autouse=True)
def _cwd(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)


@pytest.fixture
def share(samba, monkeypatch) -> dict[str, Any]:
    """A fresh folder on the data share that the reader may write in; the reader's password in the environment."""
    monkeypatch.setenv(PASSWORD_ENV, samba.reader.password)
    prefix = "r" + uuid.uuid4().hex[:8]
    folder = samba.shares["data"] / prefix
    folder.mkdir()
    samba.chown(folder, samba.reader)
    os.chmod(folder, 0o755)
    return {"prefix": prefix, "folder": folder, "url": samba.url("data", prefix + "/", samba.reader)}


def plant(samba, share: dict[str, Any], rel: str, data: bytes, mode: int = 0o600, owner: Any = None,
          group: Any = "reader's") -> Path:
    """A file of the reader's (by default in a group the reader is in, so its descriptor can be kept whole)."""
    path = share["folder"] / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    samba.chown(path.parent, samba.reader)
    return samba.plant("data", f"{share['prefix']}/{rel}", data, owner=owner or samba.reader, mode=mode,
                       group=samba.group if group == "reader's" else group)


def descriptor(samba, share: dict[str, Any], rel: str) -> smb_acl.SecurityDescriptor:
    src = SMBSource(samba.url("data", "", samba.reader), password=samba.reader.password)
    return smb_acl.parse(src.security_descriptor("data", f"{share['prefix']}/{rel}"))


def rights(sd: smb_acl.SecurityDescriptor) -> dict[tuple[str, bool], int]:
    """(principal, denied) -> the access mask its ACEs give together, for the file itself."""
    out: dict[tuple[str, bool], int] = {}
    for ace in sd.dacl or ():
        if ace.applies_to_object and ace.mask:
            out[(ace.sid, ace.denies)] = out.get((ace.sid, ace.denies), 0) | ace.mask
    return out


def readable_by_other(samba, share: dict[str, Any], rel: str) -> bool:
    """Can the other user (not the owner, not in the file's group) read the file over SMB?"""
    src = SMBSource(samba.url("data", "", samba.other), password=samba.other.password)
    try:
        with src.open(Item(uri=samba.url("data", f"{share['prefix']}/{rel}"), source="smb")) as fh:
            fh.read(1)
        return True
    except SourceError as exc:
        assert exc.kind == "permission", exc
        return False


def test_a_private_file_is_redacted_atomically_and_stays_private(tmp_path: Path, samba, share) -> None:
    p = pans(2, seed=101)
    secret = plant(samba, share, "hr/secret.txt", f"employee card {p[0]} exp 04/29\n".encode(), mode=0o600)
    # In root's group, which the reader may not give a file: the owner and DACL are kept, the group cannot be.
    public = plant(samba, share, "hr/public.txt", f"shop card {p[1]}\n".encode(), mode=0o644, group="0")
    assert not readable_by_other(samba, share, "hr/secret.txt") and readable_by_other(samba, share, "hr/public.txt")
    before = {"secret": descriptor(samba, share, "hr/secret.txt"), "public": descriptor(samba, share, "hr/public.txt")}
    inode = secret.stat().st_ino
    manifest = scan(tmp_path, share["url"])
    assert {r["fingerprint"] for r in findings(manifest)} == {fp(x) for x in p}
    assert samba.reader.password not in manifest.read_text()

    report, results = run(manifest, verify=True)

    assert report.counts == {"done": 2}, [(r.status, r.message) for r in results]
    assert report.verified_objects == 2 and not report.remaining and report.exit_code == 0
    assert secret.read_bytes() == f"employee card {'*' * 12}{p[0][-4:]} exp 04/29\n".encode()
    assert public.read_bytes() == f"shop card {'*' * 12}{p[1][-4:]}\n".encode()
    assert secret.stat().st_ino != inode, "replaced by a rename, not rewritten in place"
    # The replacement is exactly as readable as the original: never by the other user.
    assert not readable_by_other(samba, share, "hr/secret.txt")
    assert readable_by_other(samba, share, "hr/public.txt")
    after = {"secret": descriptor(samba, share, "hr/secret.txt"), "public": descriptor(samba, share, "hr/public.txt")}
    # Samba writes a descriptor given at create time as a POSIX ACL and reads it back with entries
    # repeated: the same owner, group and rights per principal is what "kept" means here.
    assert (after["secret"].owner, after["secret"].group) == (before["secret"].owner, before["secret"].group)
    assert rights(after["secret"]) == rights(before["secret"])
    assert smb_acl.exposure(after["public"]) == smb_acl.exposure(before["public"]) == "world-readable"
    assert after["public"].owner == before["public"].owner
    by = {r.finding.location.uri.rsplit("/", 1)[1]: r for r in results}
    assert by["secret.txt"].message == "" and by["public.txt"].message == "group not preserved (not permitted)"
    assert not [n for n in os.listdir(secret.parent) if ".cardscan-" in n]
    for f in tmp_path.glob("scan.*.jsonl"):
        assert_no_pan(f.read_bytes(), p, f.name)
        assert samba.reader.password not in f.read_text()
    _, again = run(manifest)
    assert set(statuses(again).values()) == {"already_remediated"}


def test_without_the_descriptor_in_the_create_request_the_file_would_be_readable(samba, share) -> None:
    # Why the temp file carries the original's descriptor: a file the reader
    # simply creates here gets the share's defaults, which the other user may read.
    src = SMBSource(samba.url("data", "", samba.reader), password=samba.reader.password)
    import smbclient

    with smbclient.open_file(src.target.unc("data", f"{share['prefix']}/plain-create.txt"), mode="wb",
                             **{k: v for k, v in src.connection_kwargs().items()}) as fh:
        fh.write(b"x")
    assert readable_by_other(samba, share, "plain-create.txt")


def test_delete_and_quarantine_over_smb(tmp_path: Path, samba, share) -> None:
    from cardscan.remediate.select import build

    p = pans(2, seed=102)
    gone = plant(samba, share, "old/export.csv", f"id,card\n1,{p[0]}\n".encode(), mode=0o644)
    held = plant(samba, share, "old/keep.txt", f"card {p[1]}\n".encode(), mode=0o600)
    content = held.read_bytes()
    manifest = scan(tmp_path, share["url"])
    ids = {r["location"]["uri"].rsplit("/", 1)[1]: r["id"] for r in findings(manifest)}
    q = tmp_path / "quarantine"

    _, deleted = run(manifest, action="delete", yes_delete=True, selection=build(ids=[ids["export.csv"]]))
    _, moved = run(manifest, action="quarantine", quarantine_to=str(q), selection=build(ids=[ids["keep.txt"]]),
                   verify=True)

    assert [r.status for r in deleted + moved] == ["done", "done"], [r.message for r in deleted + moved]
    assert not gone.exists() and not held.exists()
    dest = Path(moved[0].destination)
    assert dest.read_bytes() == content and dest.is_relative_to(q)
    assert stat.S_IMODE(dest.stat().st_mode) == 0o600 and stat.S_IMODE(q.stat().st_mode) == 0o700
    notes = sorted(n for n in os.listdir(gone.parent) if ".cardscan-" in n)
    assert notes == ["export.csv.cardscan-deleted.txt", "keep.txt.cardscan-quarantined.txt"]
    assert_no_pan((gone.parent / notes[0]).read_bytes(), p, "the tombstone")
    _, again = run(manifest)  # a later redact of both: done already, not stale
    assert set(statuses(again).values()) == {"already_remediated"}


def test_stale_linked_and_busy_files_are_left_alone(tmp_path: Path, samba, share) -> None:
    p = pans(4, seed=103)
    changed = plant(samba, share, "a/changed.txt", f"card {p[0]}\n".encode())
    linked = plant(samba, share, "a/linked.txt", f"card {p[1]}\n".encode())
    busy = plant(samba, share, "a/busy.txt", f"card {p[2]}\n".encode())
    manifest = scan(tmp_path, share["url"])
    changed.write_bytes(f"card {p[3]}\n".encode())
    os.link(linked, share["folder"] / "a" / "linked-elsewhere.txt")
    before = {f: f.read_bytes() for f in (changed, linked, busy)}
    import smbclient

    src = SMBSource(samba.url("data", "", samba.reader), password=samba.reader.password)
    # Another client holds the file open for writing (and lets nobody else write).
    with smbclient.open_file(src.target.unc("data", f"{share['prefix']}/a/busy.txt"), mode="ab", share_access="r",
                             **src.connection_kwargs()):
        report, results = run(manifest)

    by = {r.finding.location.uri.rsplit("/", 1)[1]: r for r in results}
    assert by["changed.txt"].status == "stale"
    assert by["linked.txt"].status == "unsupported" and "hard links" in by["linked.txt"].message
    assert by["busy.txt"].status == "error" and "another client" in by["busy.txt"].message
    assert {f: f.read_bytes() for f in before} == before
    assert report.exit_code == 2


def test_the_password_comes_from_the_environment_only(tmp_path: Path, samba, share, monkeypatch) -> None:
    p = pans(1, seed=104)
    f = plant(samba, share, "x.txt", f"card {p[0]}\n".encode())
    manifest = scan(tmp_path, share["url"])
    rec = json.loads(manifest.read_text().splitlines()[0])
    assert [s.get("user") for s in rec["sources"]] == [samba.reader.name]
    monkeypatch.setenv(PASSWORD_ENV, "not-the-password")
    report, results = run(manifest)
    assert [r.status for r in results] == ["error"] and report.exit_code == 2
    assert "not-the-password" not in results[0].message and f.read_bytes() == f"card {p[0]}\n".encode()
    monkeypatch.setenv(PASSWORD_ENV, samba.reader.password)
    assert [r.status for r in run(manifest)[1]] == ["done"]


def test_a_run_killed_before_the_rename_leaves_the_file_whole_and_the_next_removes_its_temp(
        tmp_path: Path, samba, share) -> None:
    import signal
    import subprocess
    import sys

    from tests.remediate.crash_test import ROOT, wait_for
    from tests.remediate.helpers import key_file

    p = pans(1, seed=105)
    f = plant(samba, share, "k/card.txt", f"card {p[0]}\n".encode())
    original = f.read_bytes()
    manifest = scan(tmp_path, share["url"])
    env = {**os.environ, "PYTHONPATH": str(ROOT), PASSWORD_ENV: samba.reader.password}
    proc = subprocess.Popen([sys.executable, "-m", "tests.remediate.pause", "before_rename", "1", "remediate",
                             str(manifest), "--action", "redact", "--apply", "--key-file", str(key_file(tmp_path)), "-q"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    try:
        wait_for(proc, b"paused at before_rename 1")
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert f.read_bytes() == original
    assert [n for n in os.listdir(f.parent) if ".cardscan-" in n], "the killed run's temp file is on the share"

    report, results = run(manifest)

    assert [r.status for r in results] == ["done"]
    assert f.read_bytes() == f"card {'*' * 12}{p[0][-4:]}\n".encode()
    assert not [n for n in os.listdir(f.parent) if ".cardscan-" in n]
