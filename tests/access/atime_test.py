"""Local files: atime, the mount options that say how far it can be trusted, the scan's own read."""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from cardscan.access.atime import evaluate, mount_of, parse_mountinfo, policy, read_mounts
from cardscan.access.objects import CardObject, ScanWindow

MOUNTINFO = """\
22 27 0:21 / /proc rw,relatime - proc proc rw
27 1 254:0 / / rw,relatime - ext4 /dev/vda rw,discard
40 27 254:1 / /srv rw,noatime - xfs /dev/vdb rw
41 40 254:2 / /srv/share rw,nosuid - ext4 /dev/vdc rw,lazytime
42 40 0:50 / /srv/share\\040files ro,relatime - ext4 /dev/vdd ro
43 27 0:51 / /mnt/nas rw,relatime - nfs4 nas:/export rw,vers=4.2
44 41 254:2 / /srv/share rw,relatime - ext4 /dev/vdc rw
"""


def test_parse_mountinfo_fields_and_escapes() -> None:
    mounts = parse_mountinfo(MOUNTINFO + "garbage line\n")
    assert [m.mount_point for m in mounts] == ["/proc", "/", "/srv", "/srv/share", "/srv/share files", "/mnt/nas",
                                               "/srv/share"]
    assert mounts[2].options >= {"rw", "noatime"} and mounts[3].super_options >= {"lazytime"}
    assert mounts[5].fstype == "nfs4"


@pytest.mark.parametrize("path,mode,trust", [
    ("/home/a/x.csv", "relatime", "first_read_after_change"),
    ("/srv/exports/x.csv", "noatime", "none"),
    ("/srv/share/x.csv", "relatime", "first_read_after_change"),  # mounted over: the later entry wins
    ("/srv/share files/x.csv", "read-only", "none"),
    ("/srv/shared/x.csv", "noatime", "none"),  # /srv/share is not a prefix of /srv/shared
])
def test_mount_of_a_path_and_its_policy(path: str, mode: str, trust: str) -> None:
    p = policy(mount_of(path, parse_mountinfo(MOUNTINFO)))
    assert (p["mode"], p["trust"]) == (mode, trust)


def test_strictatime_lazytime_network_and_unknown() -> None:
    strict = parse_mountinfo("1 1 0:1 / /data rw,nosuid - ext4 /dev/x rw,lazytime\n")
    p = policy(mount_of("/data/f", strict))
    assert (p["mode"], p["trust"]) == ("strictatime", "every_read") and "lazytime" in p["note"]
    nfs = policy(mount_of("/mnt/nas/f", parse_mountinfo(MOUNTINFO)))
    assert "nfs4" in nfs["note"]
    assert policy(None)["trust"] == "unknown"


def _obj(path: Path) -> CardObject:
    st = os.stat(path)
    from datetime import datetime, timezone

    text = datetime.fromtimestamp(st.st_mtime_ns / 1e9, tz=timezone.utc).isoformat().replace("+00:00", "Z")
    return CardObject(kind="file", uri=path.as_uri(), real_uri=path.as_uri(), changed=st.st_mtime_ns / 1e9,
                      changed_text=text)


RELATIME = parse_mountinfo("1 1 0:1 / / rw,relatime - ext4 /dev/x rw\n")
STRICT = parse_mountinfo("1 1 0:1 / / rw - ext4 /dev/x rw\n")
NOATIME = parse_mountinfo("1 1 0:1 / / rw,noatime - ext4 /dev/x rw\n")


def test_read_after_the_change_and_after_the_scan(tmp_path: Path) -> None:
    f = tmp_path / "cards.csv"
    f.write_text("x\n")
    mtime = os.stat(f).st_mtime
    obj = _obj(f)
    scan = ScanWindow(started=mtime + 100, finished=mtime + 110)
    os.utime(f, (mtime + 500, mtime))  # read well after the scan
    r = evaluate(obj, str(f), RELATIME, [scan])
    assert r["read_since_change"] is True and r["atime"] == pytest.approx(mtime + 500)
    assert not r["own_scan_possible"] and not r["changed_since_scan"]


def test_atime_inside_the_scan_window_may_be_the_scan(tmp_path: Path) -> None:
    f = tmp_path / "cards.csv"
    f.write_text("x\n")
    mtime = os.stat(f).st_mtime
    os.utime(f, (mtime + 105, mtime))
    r = evaluate(_obj(f), str(f), STRICT, [ScanWindow(mtime + 100, mtime + 110)])
    assert r["read_since_change"] is None and r["own_scan_possible"]


def test_not_read_since_the_change(tmp_path: Path) -> None:
    f = tmp_path / "cards.csv"
    f.write_text("x\n")
    mtime = os.stat(f).st_mtime
    os.utime(f, (mtime - 3600, mtime))  # last read an hour before the card was written
    r = evaluate(_obj(f), str(f), RELATIME, [])
    assert r["read_since_change"] is False


def test_noatime_cannot_be_trusted(tmp_path: Path) -> None:
    f = tmp_path / "cards.csv"
    f.write_text("x\n")
    mtime = os.stat(f).st_mtime
    os.utime(f, (mtime - 3600, mtime))
    r = evaluate(_obj(f), str(f), NOATIME, [])
    assert r["read_since_change"] is None and r["trust"] == "none" and "noatime" in r["note"]


def test_rewritten_after_the_scan(tmp_path: Path) -> None:
    f = tmp_path / "cards.csv"
    f.write_text("x\n")
    obj = _obj(f)
    mtime = os.stat(f).st_mtime
    os.utime(f, (mtime + 900, mtime + 600))  # rewritten (e.g. redacted), then read
    r = evaluate(obj, str(f), STRICT, [])
    assert r["changed_since_scan"] and r["read_since_change"] is None


def test_renamed_after_a_read_keeps_the_read(tmp_path: Path) -> None:
    # A rename changes neither content nor atime: the card was in the file when it was read.
    f = tmp_path / "a.csv"
    f.write_text("x\n")
    mtime = os.stat(f).st_mtime
    os.utime(f, (mtime + 50, mtime))
    g = tmp_path / "b.csv"
    os.rename(f, g)
    r = evaluate(_obj(g), str(g), RELATIME, [])
    assert r["read_since_change"] is True
    assert isinstance(evaluate(_obj(g), str(f), RELATIME, []), OSError)  # the old name is gone


def test_a_real_read_on_this_machine_under_relatime(tmp_path: Path) -> None:
    mounts = read_mounts()
    p = policy(mount_of(os.path.realpath(tmp_path), mounts))
    if p["trust"] not in ("first_read_after_change", "every_read"):
        pytest.skip(f"{tmp_path} is on a mount that does not record reads ({p['mode']})")
    f = tmp_path / "cards.csv"
    f.write_text("card data\n")
    st = os.stat(f)
    os.utime(f, ns=(st.st_mtime_ns - 3_600_000_000_000, st.st_mtime_ns))  # atime older than mtime
    obj = _obj(f)
    assert evaluate(obj, str(f), mounts, [])["read_since_change"] is False
    before = time.time()
    with open(f, "rb") as fh:  # a real read: relatime records it (the first since the change)
        fh.read()
    r = evaluate(obj, str(f), mounts, [])
    assert r["read_since_change"] is True and r["atime"] >= before - 1
