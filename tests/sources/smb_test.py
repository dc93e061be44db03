"""SMBSource against a real Samba server on loopback (tests/samba.py).

Every case is real: files planted with owners and modes (Samba turns them
into NT ACLs), ACLs set over SMB on a vfs_acl_xattr share, a wrong password,
a missing share, a folder the user may not enter, and a connection reset
mid-file by killing the smbd process that serves it.
"""
from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import random
import subprocess
import sys
import uuid
import zipfile
from pathlib import Path

import pytest

pytest.importorskip("smbclient", reason="the smb extra is not installed")

from cardscan import registry  # noqa: E402
from cardscan.engine.scanner import Scanner  # noqa: E402
from cardscan.errors import ConfigError, SourceError  # noqa: E402
from cardscan.findings import ErrorRecord, FingerprintKey  # noqa: E402
from cardscan.sources import smb_acl  # noqa: E402
from cardscan.sources.base import Item  # noqa: E402
from cardscan.sources.smb import PASSWORD_ENV, SMBSource, Target  # noqa: E402
from cardscan.testing import SourceCase, SourceContract, make_pan, scan_source  # noqa: E402
from tests.sources.smb_cases import ACL_CASES, admin_source, apply_case, sids  # noqa: E402

KEY = FingerprintKey(b"smb-tests")
ROOT = Path(__file__).resolve().parents[2]


def _prefix() -> str:
    return "t" + uuid.uuid4().hex[:8]


def _reader(samba, share: str = "data", path: str = "", **options) -> SMBSource:
    return SMBSource(samba.url(share, path, samba.reader), password=samba.reader.password, **options)


def _fps(findings) -> set[str]:
    return {f.fingerprint for f in findings}


# -- the contract every source passes ------------------------------------------------------

class TestSMBContract(SourceContract):
    @pytest.fixture(scope="class")
    @classmethod
    def source_case(cls, samba) -> SourceCase:
        rng = random.Random(15)
        p = _prefix()
        pans = [make_pan("4", 16, rng), make_pan("51", 16, rng), make_pan("37", 15, rng), make_pan("6011", 16, rng),
                make_pan("4", 16, rng)]
        # Listed first (name order), unreadable by the reader: the listing must go on after it.
        samba.plant("data", f"{p}/a-locked/keys.txt", b"card " + make_pan("4", 16, rng).encode(),
                    owner=samba.other, mode=0o600)
        samba.plant("data", f"{p}/b/orders.csv", f"id,card\n1,{pans[0]}\n".encode())
        samba.plant("data", f"{p}/c/notes.txt", f"call back, card {pans[1]}".encode(), owner=samba.reader,
                    mode=0o600)
        samba.plant("data", f"{p}/d/odd name #1?.log", f"amex {pans[2]} exp 04/29".encode())
        samba.plant("data", f"{p}/e/rotated.log.gz", gzip.compress(f"paid {pans[3]}\n".encode()))
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w") as zf:
            zf.writestr("inner/export.txt", f"pan={pans[4]}\n")
        samba.plant("data", f"{p}/f/archive.zip", buf.getvalue(), owner=samba.other, group=samba.group, mode=0o640)
        source = SMBSource.from_url(samba.url("data", p + "/", samba.reader, password=True))
        unreadable = [samba.url("data", f"{p}/a-locked/keys.txt")]
        return SourceCase(source, pans, unreadable=unreadable, secrets=[samba.reader.password])


# -- URLs and credentials ------------------------------------------------------------------

def test_url_parsing_keeps_credentials_out_of_every_text_form(monkeypatch) -> None:
    monkeypatch.delenv(PASSWORD_ENV, raising=False)
    src = SMBSource("smb://SHOP;scanner:p%40ss%3Aw0rd@FS01.example:1445/Finance/Q1%20exports/")
    assert src.user == "SHOP\\scanner" and src._password == "p@ss:w0rd"
    assert src.url == "smb://fs01.example:1445/Finance/Q1%20exports"
    texts = [repr(src), json.dumps(src.describe()), json.dumps(src.options()), str(src.root_uris)]
    assert not any("p@ss" in t or "w0rd" in t or "p%40ss" in t for t in texts)
    assert src.describe()["user"] == "SHOP\\scanner"  # remediation needs the user, never the password
    t = Target("smb://host/share/a/b%23c.txt")
    assert (t.base, t.share, t.path) == ("smb://host", "share", "a/b#c.txt")
    assert t.uri(t.share, t.path) == "smb://host/share/a/b%23c.txt"
    assert t.parse_uri("smb://host/share/a/b%23c.txt") == ("share", "a/b#c.txt")


@pytest.mark.parametrize("url", ["smb:///share", "smb://host:99999/x", "http://host/share"])
def test_bad_urls(url: str) -> None:
    with pytest.raises(ConfigError):
        SMBSource(url)


def test_registry_maps_smb_urls_to_the_source() -> None:
    assert registry.source_for_url("smb://fs01/share/") == "smb"
    assert registry.load("cardscan.sources", "smb") is SMBSource
    assert registry.EXTRAS["cardscan.sources:smb"] == "smb"


def test_password_from_environment(samba, monkeypatch) -> None:
    p = _prefix()
    samba.plant("data", f"{p}/x.txt", b"hello\n")
    monkeypatch.setenv(PASSWORD_ENV, samba.reader.password)
    src = SMBSource(samba.url("data", p, samba.reader))
    assert [i.uri for i in src.items()] == [samba.url("data", f"{p}/x.txt")]


def test_items_carry_no_credentials_and_survive_pickling(samba) -> None:
    p = _prefix()
    samba.plant("data", f"{p}/x.txt", b"hello\n")
    src = SMBSource.from_url(samba.url("data", p, samba.reader, password=True))
    items = [i for i in src.items() if isinstance(i, Item)]
    blob = pickle.dumps(items)
    assert samba.reader.password.encode() not in blob and samba.reader.name.encode() not in blob
    # A source shipped to a worker reconnects there (no socket crosses over).
    clone = pickle.loads(pickle.dumps(src))
    with clone.open(items[0]) as fh:
        assert fh.read() == b"hello\n"


# -- listing, identity, exposure -------------------------------------------------------------

def test_exposure_and_readers_from_posix_modes(samba) -> None:
    p = _prefix()
    samba.plant("data", f"{p}/world.txt", b"w", mode=0o644)
    samba.plant("data", f"{p}/group.txt", b"g", owner=samba.other, group=samba.group, mode=0o640)
    samba.plant("data", f"{p}/mine.txt", b"m", owner=samba.reader, mode=0o600)
    samba.plant("data", f"{p}/theirs.txt", b"t", owner=samba.other, mode=0o600)
    items = {i.uri.rsplit("/", 1)[1]: i for i in _reader(samba, "data", p).items()}
    meta = {k: v.meta for k, v in items.items()}
    assert meta["world.txt"]["exposure"] == "world-readable" and "*" in meta["world.txt"]["readers"]  # Everyone
    assert meta["group.txt"]["exposure"] == "group-readable"
    # Names come from the server's LSA: the Unix group of the file, the owner in the server's domain.
    assert f"group:Unix Group\\{samba.group}" in meta["group.txt"]["readers"]
    assert meta["group.txt"]["owner"].endswith("\\" + samba.other.name)
    assert meta["mine.txt"]["exposure"] == "private"
    assert [r.rsplit("\\", 1)[-1] for r in meta["mine.txt"]["readers"]] == [samba.reader.name]
    assert meta["mine.txt"]["readers"][0].startswith("user:")  # by the SID type the LSA gave
    # The reader may not even read the ACL of someone else's 0600 file.
    assert meta["theirs.txt"]["exposure"] == "unknown"
    assert "STATUS_ACCESS_DENIED" in meta["theirs.txt"]["exposure_detail"]


def test_identity_is_file_id_size_and_change_time(samba) -> None:
    p = _prefix()
    path = samba.plant("data", f"{p}/a.txt", b"one\n")
    first = [i for i in _reader(samba, "data", p).items()][0]
    size, change, file_id = first.ukey.split(":")
    assert int(size) == 4 and int(file_id) == os.stat(path).st_ino
    again = [i for i in _reader(samba, "data", p).items()][0]
    assert again.ukey == first.ukey
    os.chmod(path, 0o600)  # a metadata change moves the change time, not the content
    os.chmod(path, 0o644)
    path.write_bytes(b"two\n")
    changed = [i for i in _reader(samba, "data", p).items()][0]
    assert changed.ukey != first.ukey and changed.ukey.endswith(":" + file_id)


def test_live_acl_cases_match_the_captured_descriptors(samba) -> None:
    """The ACL cases made now on the server read back as smb_acl_test.py's captured bytes say."""
    p = _prefix()
    admin = admin_source(samba)
    s = sids(samba, admin)
    for case in ACL_CASES:
        sd = smb_acl.parse(apply_case(samba, case, p, admin))
        assert smb_acl.exposure(sd) == case.exposure, case.name
        assert smb_acl.readers(sd) == case.readers(s), case.name
    # And the source, listing as the reader, reports them (where it may read the descriptor).
    items = {i.uri: i for i in _reader(samba, "acl", p).items() if isinstance(i, Item)}
    world = items[samba.url("acl", f"{p}/authenticated-users.txt")].meta
    assert world["exposure"] == "world-readable"
    assert "group:NT AUTHORITY\\Authenticated Users" in world["readers"]
    group = items[samba.url("acl", f"{p}/inherited-group/card.txt")].meta
    assert group["exposure"] == "group-readable" and f"group:Unix Group\\{samba.group}" in group["readers"]


def test_host_url_lists_the_readable_shares(samba) -> None:
    p = _prefix()
    samba.plant("data", f"{p}/d.txt", b"d")
    samba.plant("acl", f"{p}/a.txt", b"a")
    samba.plant("private", f"{p}/secret.txt", b"s")
    src = SMBSource(samba.url("", "", samba.reader), password=samba.reader.password)
    out = list(src.items())
    uris = {i.uri for i in out if isinstance(i, Item)}
    assert samba.url("data", f"{p}/d.txt") in uris and samba.url("acl", f"{p}/a.txt") in uris
    assert not any("/private/" in u or "/IPC%24" in u for u in uris)
    assert src.stats["skipped"]["share_denied"] == 1 and src.stats["skipped"]["share_special"] == 1
    assert not [e for e in out if isinstance(e, ErrorRecord) and "/private" in e.location.uri]


def test_rpc_answers_parse_and_truncated_ones_are_rpc_errors(samba) -> None:
    """The share list and SID names as Samba answers them; every cut of those answers is an RPCError."""
    import smbclient

    from cardscan.sources import smb_rpc

    src = _reader(samba, "data")
    kw = src._kwargs()
    with smbclient.open_file(src._target.unc("IPC$", "srvsvc"), mode="w+b", buffering=0, file_type="pipe",
                             **kw) as pipe:
        stub = smb_rpc.Client(pipe, smb_rpc.SRVSVC).call(15, smb_rpc.share_enum_stub())
    shares = smb_rpc.parse_share_enum(stub)
    assert {s.name for s in shares if s.is_disk and not s.is_special} == {"data", "acl", "private"}
    assert [s.name for s in shares if s.is_special] == ["IPC$"]
    sids = [smb_acl.EVERYONE, f"S-1-22-2-{samba.gid}", "S-1-5-21-1-2-3-4242"]  # the last one: nobody
    with smbclient.open_file(src._target.unc("IPC$", "lsarpc"), mode="w+b", buffering=0, file_type="pipe",
                             **kw) as pipe:
        client = smb_rpc.Client(pipe, smb_rpc.LSARPC)
        handle = client.call(44, smb_rpc.open_policy_stub())[:20]
        answer = client.call(15, smb_rpc.lookup_sids_stub(handle, sids))
        client.call(0, handle)
    names = smb_rpc.parse_lookup_sids(answer, sids)
    assert names[smb_acl.EVERYONE] == ("Everyone", 5)
    assert names[sids[1]] == (f"Unix Group\\{samba.group}", 2) and sids[2] not in names
    for data, parse in ((stub, smb_rpc.parse_share_enum), (answer, lambda b: smb_rpc.parse_lookup_sids(b, sids))):
        for cut in range(0, len(data) - 4, 3):
            with pytest.raises(smb_rpc.RPCError):
                parse(data[:cut])


def test_single_file_url(samba) -> None:
    p = _prefix()
    samba.plant("data", f"{p}/one.txt", b"1")
    samba.plant("data", f"{p}/two.txt", b"2")
    assert [i.uri for i in _reader(samba, "data", f"{p}/one.txt").items()] == [samba.url("data", f"{p}/one.txt")]


def test_include_exclude_and_max_file_size_as_for_files(samba) -> None:
    p = _prefix()
    for name, size in (("a.log", 10), ("b.txt", 10), ("big.log", 5000), ("cache/c.log", 10), ("keep/d.log", 10),
                       ("keep/cache/e.log", 10)):
        samba.plant("data", f"{p}/{name}", b"x" * size)
    src = _reader(samba, "data", p, include=["*.log"], exclude=["cache/"], max_file_size=1000)
    got = sorted(i.uri.rsplit(f"{p}/", 1)[1] for i in src.items())
    # Patterns match the path under the URL's folder: cache/ is skipped at any depth, /keep/ is not a root.
    assert got == ["a.log", "keep/d.log"]
    assert src.stats["skipped"] == {"not_included": 1, "too_large": 1, "excluded": 2}
    anchored = _reader(samba, "data", p, exclude=["/keep/"])
    assert sorted(i.uri.rsplit(f"{p}/", 1)[1] for i in anchored.items()) == [
        "a.log", "b.txt", "big.log", "cache/c.log"]
    # The options travel with the source to workers (from_url(url, **options())).
    again = SMBSource.from_url(samba.url("data", p, samba.reader), password=samba.reader.password, **{
        k: v for k, v in src.options().items() if k in ("include", "exclude", "max_file_size")})
    assert sorted(i.uri for i in again.items()) == sorted(i.uri for i in src.items())
    with pytest.raises(ConfigError, match="--exclude"):
        _reader(samba, "data", p, exclude=["!"])  # a negation of nothing


def test_scan_options_feed_the_smb_source() -> None:
    from cardscan.options import SweepOptions

    opts = SweepOptions(include=("*.csv",), exclude=("tmp/",), max_file_size="2MB", exposure=False)
    assert opts.feeding("smb") == {"include": ["*.csv"], "exclude": ["tmp/"], "max_file_size": 2_000_000,
                                   "exposure": False}


def test_seek_and_read_ranges_at_offsets(samba) -> None:
    p = _prefix()
    data = bytes(range(256)) * 8192  # 2 MiB: more than one buffered read
    samba.plant("data", f"{p}/big.bin", data)
    src = _reader(samba, "data", p, buffer_size=64 * 1024)
    item = [i for i in src.items()][0]
    with src.open(item) as fh:
        fh.seek(1_500_000)
        assert fh.read(1000) == data[1_500_000:1_501_000]
        fh.seek(10)
        assert fh.read(5) == data[10:15]
        assert fh.tell() == 15


# -- errors: a record each, the sweep goes on ---------------------------------------------------

def test_wrong_password_is_one_permission_record_without_the_password(samba) -> None:
    src = SMBSource(samba.url("data", "", samba.reader), password="Wrong-" + samba.other.password)
    out = list(src.items())
    assert len(out) == 1 and isinstance(out[0], ErrorRecord)
    assert out[0].kind == "permission"
    text = repr(out[0]) + json.dumps(out[0].to_dict())
    assert samba.other.password not in text and samba.reader.name not in text


def test_missing_share_is_not_found(samba) -> None:
    out = list(_reader(samba, "no-such-share").items())
    assert len(out) == 1 and out[0].kind == "not_found" and "no-such-share" not in out[0].message


def test_denied_folder_is_a_record_and_the_walk_goes_on(samba) -> None:
    p = _prefix()
    samba.plant("data", f"{p}/a/locked/inside.txt", b"x", owner=samba.other, mode=0o600)
    locked = samba.shares["data"] / p / "a" / "locked"
    samba.chown(locked, samba.other)
    os.chmod(locked, 0o700)
    samba.plant("data", f"{p}/a/z-after.txt", b"y")
    samba.plant("data", f"{p}/b/later.txt", b"z")
    out = list(_reader(samba, "data", p).items())
    errors = [e for e in out if isinstance(e, ErrorRecord)]
    assert [(e.location.uri, e.kind) for e in errors] == [(samba.url("data", f"{p}/a/locked"), "permission")]
    assert {i.uri for i in out if isinstance(i, Item)} == {
        samba.url("data", f"{p}/a/z-after.txt"), samba.url("data", f"{p}/b/later.txt")}


def test_connection_reset_mid_file_is_a_record_and_the_next_file_is_read(samba, rng) -> None:
    p = _prefix()
    pans = [make_pan("4", 16, rng) for _ in range(3)]
    filler = b"x" * (3 << 20)
    samba.plant("data", f"{p}/a-big.log", filler + f"card {pans[0]}\n".encode() + filler)
    samba.plant("data", f"{p}/b.log", f"card {pans[1]}\n".encode())
    samba.plant("data", f"{p}/c.log", f"card {pans[2]}\n".encode())
    src = _reader(samba, "data", p, buffer_size=256 * 1024)
    opened = src.open
    dropped = []

    def open_and_drop(item: Item):
        fh = opened(item)
        if item.uri.endswith("a-big.log"):
            fh.read(1000)
            dropped.append(samba.drop_connections())  # the smbd serving us dies mid-file
        return fh

    src.open = open_and_drop  # type: ignore[method-assign]
    scan = scan_source(src, Scanner(key=KEY))
    assert dropped and dropped[0] >= 1
    errors = [e for e in scan.errors if e.location.uri.endswith("a-big.log")]
    assert len(errors) == 1 and errors[0].kind == "io", [e.to_dict() for e in scan.errors]
    assert "connection lost" in errors[0].message or "STATUS" in errors[0].message
    assert _fps(scan.findings) == {KEY.fingerprint(pans[1]), KEY.fingerprint(pans[2])}


def test_open_of_a_vanished_file_is_not_found(samba) -> None:
    p = _prefix()
    path = samba.plant("data", f"{p}/gone.txt", b"x")
    src = _reader(samba, "data", p)
    item = [i for i in src.items()][0]
    path.unlink()
    with pytest.raises(SourceError) as err:
        src.open(item)
    assert err.value.kind == "not_found" and "gone.txt" not in str(err.value)


# -- end to end: the CLI, ranges, state, and no password anywhere -------------------------------

def _cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cardscan", *args], capture_output=True, text=True, env=env,
                          timeout=300)


def test_cli_scan_end_to_end_with_ranges_state_and_no_password_anywhere(samba, tmp_path, rng) -> None:
    p = _prefix()
    pans = [make_pan("4", 16, rng), make_pan("55", 16, rng), make_pan("37", 15, rng), make_pan("6011", 16, rng)]
    samba.plant("data", f"{p}/logs/app.log", f"2024 payment card={pans[0]} ok\n".encode(), mode=0o644)
    samba.plant("data", f"{p}/exports/orders.csv.gz", gzip.compress(f"id,card\n7,{pans[1]}\n".encode()),
                owner=samba.other, group=samba.group, mode=0o640)
    samba.plant("data", f"{p}/exports/mine.txt", f"note {pans[2]}\n".encode(), owner=samba.reader, mode=0o600)
    big = bytearray(b"filler line without cards, order 1234 shipped\n" * 6000)  # ~280 KB: several 64 KiB ranges
    pos = 65536 - 8  # straddles the first range boundary
    big[pos:pos + 17] = f" {pans[3]}".encode()
    samba.plant("data", f"{p}/big/dump.log", bytes(big))
    samba.plant("data", f"{p}/exports/theirs.txt", b"x", owner=samba.other, mode=0o600)
    url = samba.url("data", p + "/", samba.reader, password=True)
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CARDSCAN_FINGERPRINT_KEY": "smb-e2e-key, 32 bytes or longer!"}
    env.pop(PASSWORD_ENV, None)
    manifest, state, html = tmp_path / "m.jsonl", tmp_path / "state.db", tmp_path / "r.html"
    args = ["scan", url, "--manifest", str(manifest), "--state", str(state), "--split-size", "64KiB", "--jobs", "2",
            "--no-progress"]
    first = _cli(*args, env=env)
    assert first.returncode == 1, first.stderr[-2000:]  # cards found, and an unreadable file (1 wins: docs/cli.md)
    records = [json.loads(line) for line in manifest.read_text().splitlines()]
    findings = [r for r in records if r["type"] == "finding"]
    key = FingerprintKey(b"smb-e2e-key, 32 bytes or longer!")
    assert {f["fingerprint"] for f in findings} == {key.fingerprint(x) for x in pans}
    assert all(f["location"]["uri"].startswith(samba.url("data", p) + "/") for f in findings)
    by_name = {f["location"]["uri"].rsplit("/", 1)[1]: f for f in findings}
    assert by_name["app.log"]["object"]["exposure"] == "world-readable"
    assert "*" in by_name["app.log"]["object"]["readers"]  # Everyone
    assert by_name["orders.csv.gz"]["object"]["exposure"] == "group-readable"
    assert by_name["mine.txt"]["object"]["exposure"] == "private"
    errors = [r for r in records if r["type"] == "error"]
    assert [e["location"]["uri"].rsplit("/", 1)[1] for e in errors] == ["theirs.txt"]
    scan_rec = [r for r in records if r["type"] == "scan"][0]
    assert scan_rec["sources"][0]["user"] == samba.reader.name
    # Second run: nothing changed, findings carried over from the state.
    second = _cli(*args, env=env)
    assert second.returncode == 1, second.stderr[-2000:]
    again = [json.loads(line) for line in manifest.read_text().splitlines()]
    assert {r["fingerprint"] for r in again if r["type"] == "finding"} == {f["fingerprint"] for f in findings}
    assert any(r.get("carried_over") for r in again if r["type"] == "finding")
    report = _cli("report", str(manifest), "--html", str(html), env=env)
    assert report.returncode in (0, 1), report.stderr[-2000:]
    secret = samba.reader.password
    outputs = [first.stdout, first.stderr, second.stdout, second.stderr, report.stdout, report.stderr]
    assert not any(secret in o for o in outputs), "the password reached stdout/stderr"
    for path in tmp_path.rglob("*"):
        if path.is_file():
            assert secret.encode() not in path.read_bytes(), f"the password reached {path.name}"
