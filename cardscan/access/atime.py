"""Local files: the last access time, and how far the filesystem lets it be trusted.

A file's ``atime`` is the only trace a read leaves on a local filesystem,
and how often it is written is a mount option (``/proc/self/mountinfo``,
Linux ``mount(8)``):

* ``strictatime``: every read updates it; it is the time of the last read.
* ``relatime`` (the Linux default): it is updated only when it is older
  than the file's mtime or ctime, or more than 24 hours old. So the first
  read after a change is always recorded (``read since the change?`` is a
  reliable yes/no), but later reads only once a day: the time may be up to
  24 hours stale.
* ``noatime``, or a read-only mount: reads are never recorded.
* ``lazytime`` keeps updates in memory and writes them out late; ``stat``
  sees them, a crash loses them.

A scan reads every file, so the scan's own read may be the one atime shows:
an atime inside a scan's time window is reported as possibly cardscan's.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import Any

from .objects import CardObject, ScanWindow

MOUNTINFO = "/proc/self/mountinfo"


@dataclass(frozen=True)
class Mount:
    mount_point: str
    options: frozenset[str]
    fstype: str
    super_options: frozenset[str]


def parse_mountinfo(text: str) -> list[Mount]:
    """Entries of a mountinfo file (``proc(5)``): mount point (field 5),
    per-mount options (6), then after ``-``: type, source, super options."""
    out = []
    for line in text.splitlines():
        fields = line.split(" ")
        if "-" not in fields or len(fields) < 7:
            continue
        sep = fields.index("-")
        if sep < 6 or len(fields) < sep + 3:
            continue
        out.append(Mount(
            mount_point=_unescape(fields[4]),
            options=frozenset(fields[5].split(",")),
            fstype=fields[sep + 1],
            super_options=frozenset(fields[sep + 3].split(",")) if len(fields) > sep + 3 else frozenset(),
        ))
    return out


def _unescape(field: str) -> str:
    # Spaces, tabs, newlines and backslashes in paths are written as \ooo.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)


def read_mounts(path: str = MOUNTINFO) -> list[Mount]:
    try:
        with open(path, encoding="utf-8", errors="surrogateescape") as fh:
            return parse_mountinfo(fh.read())
    except OSError:
        return []


def mount_of(path: str, mounts: list[Mount]) -> Mount | None:
    """The mount a path lies on: the longest mount point above it (the last
    one listed wins when several are mounted on the same point)."""
    best: Mount | None = None
    for m in mounts:
        mp = m.mount_point.rstrip("/") or "/"
        if path == mp or path.startswith(mp if mp == "/" else mp + "/"):
            if best is None or len(mp) >= len(best.mount_point.rstrip("/") or "/"):
                best = m
    return best


def policy(m: Mount | None) -> dict[str, Any]:
    """What atime means on this mount: ``mode`` and ``trust`` (``every_read``,
    ``first_read_after_change``, ``none``, ``unknown``) with a note."""
    if m is None:
        return {"mode": "unknown", "trust": "unknown", "note": "the file's mount is not in /proc/self/mountinfo"}
    opts = m.options
    lazy = "lazytime" in opts or "lazytime" in m.super_options
    if "ro" in opts:
        mode, trust, note = "read-only", "none", "a read-only mount never records reads"
    elif "noatime" in opts:
        mode, trust, note = "noatime", "none", "noatime: the filesystem never records reads; atime cannot be trusted"
    elif "relatime" in opts:
        mode, trust = "relatime", "first_read_after_change"
        note = ("relatime: atime is updated only when older than mtime/ctime or 24 h, so the first read after a "
                "change is recorded but later reads only once a day (the time may be up to 24 h stale)")
    else:
        mode, trust, note = "strictatime", "every_read", "strictatime: every read updates atime"
    if lazy and trust != "none":
        note += "; lazytime: updates are written to disk late and lost on a crash"
    if m.fstype.startswith(("nfs", "cifs", "smb", "fuse", "9p", "overlay")):
        note += f"; {m.fstype}: atime comes from another layer or server and may not reflect every read"
    return {"mode": mode, "trust": trust, "note": note}


def evaluate(obj: CardObject, path: str, mounts: list[Mount], scans: list[ScanWindow]) -> dict[str, Any] | OSError:
    """The atime evidence for one local file (an OSError when it cannot be stat-ed)."""
    try:
        st = os.stat(path)
    except OSError as exc:
        return exc
    mount = mount_of(os.path.realpath(path), mounts)
    pol = policy(mount)
    atime, mtime = st.st_atime_ns / 1e9, st.st_mtime_ns / 1e9
    changed_since_scan = obj.changed is not None and abs(mtime - obj.changed) > 1e-5
    own_scan = any(
        w.started is not None and w.started <= atime < (w.finished if w.finished is not None else w.started) + 1.0
        for w in scans
    )
    read: bool | None
    reason: str
    if pol["trust"] == "none":
        read, reason = None, "the mount does not record reads"
    elif changed_since_scan:
        read, reason = None, "the file changed after the scan: its atime no longer tells about the card"
    elif atime <= mtime:
        read, reason = False, "atime is not after the last change"
    elif own_scan:
        read, reason = None, "the last recorded read may be cardscan's own scan"
    else:
        read, reason = True, "atime is after the last change"
    if pol["trust"] == "unknown" and read is not None:
        reason += " (mount options unknown)"
    return {
        "read_since_change": read,
        "reason": reason,
        "atime": atime,
        "mtime": mtime,
        "changed_since_scan": changed_since_scan,
        "own_scan_possible": own_scan,
        "mount": mount.mount_point if mount else None,
        "fstype": mount.fstype if mount else None,
        **pol,
    }
