"""NT ACL cases for the SMB tests: how each one is made on the Samba server.

``tests/sources/data/smb_descriptors.json`` holds the descriptors the server
returned for these cases (captured with ``python -m tests.sources.smb_cases
OUT.json`` as root); smb_acl_test.py evaluates the captured bytes offline,
and smb_test.py makes the same cases on a live server and checks that the
server still answers what was captured.
"""
from __future__ import annotations

import json
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from cardscan.sources import smb_acl
from cardscan.sources.smb_acl import (
    ACCESS_ALLOWED,
    ACCESS_DENIED,
    CONTAINER_INHERIT,
    FILE_ALL_ACCESS,
    FILE_GENERIC_READ,
    INHERIT_ONLY,
    OBJECT_INHERIT,
    READ_CONTROL,
    Ace,
)

DATA = Path(__file__).resolve().parent / "data" / "smb_descriptors.json"


@dataclass
class Sids:
    reader: str
    other: str
    group: str
    domain: str  # the server's domain SID (S-1-5-21-a-b-c)


@dataclass
class Case:
    name: str
    how: str
    #: Sids -> DACL (None: a NULL DACL)
    dacl: Callable[[Sids], list[Ace] | None]
    exposure: str
    #: Sids -> the readers smb_acl.readers() must give, in order
    readers: Callable[[Sids], list[str]]
    #: Made on a folder with inheritable ACEs; the case's file is created inside it over SMB.
    inherit: bool = False


ACL_CASES: list[Case] = [
    Case("owner-only", "owner full control, nothing else",
         lambda s: [Ace(ACCESS_ALLOWED, 0, FILE_ALL_ACCESS, s.other)], "private", lambda s: [s.other]),
    Case("authenticated-users", "Authenticated Users may read",
         lambda s: [Ace(ACCESS_ALLOWED, 0, FILE_ALL_ACCESS, s.other),
                    Ace(ACCESS_ALLOWED, 0, FILE_GENERIC_READ, smb_acl.AUTHENTICATED_USERS)],
         "world-readable", lambda s: [s.other, smb_acl.AUTHENTICATED_USERS]),
    Case("domain-users", "the domain's Domain Users group (RID 513) may read",
         lambda s: [Ace(ACCESS_ALLOWED, 0, FILE_ALL_ACCESS, s.other),
                    Ace(ACCESS_ALLOWED, 0, FILE_GENERIC_READ, s.domain + "-513")],
         "world-readable", lambda s: [s.other, s.domain + "-513"]),
    Case("deny-everyone-first", "deny Everyone read, then allow Authenticated Users: nobody reads",
         lambda s: [Ace(ACCESS_DENIED, 0, FILE_GENERIC_READ, smb_acl.EVERYONE),
                    Ace(ACCESS_ALLOWED, 0, FILE_GENERIC_READ, smb_acl.AUTHENTICATED_USERS),
                    Ace(ACCESS_ALLOWED, 0, FILE_ALL_ACCESS, s.other)],
         "private", lambda s: []),
    Case("deny-after-allow", "allow Everyone read, then deny it: the allow came first and wins",
         lambda s: [Ace(ACCESS_ALLOWED, 0, FILE_GENERIC_READ, smb_acl.EVERYONE),
                    Ace(ACCESS_DENIED, 0, FILE_GENERIC_READ, smb_acl.EVERYONE)],
         "world-readable", lambda s: [smb_acl.EVERYONE]),
    Case("group-with-denied-user", "deny the reader, allow the group: the group reads",
         lambda s: [Ace(ACCESS_DENIED, 0, FILE_GENERIC_READ, s.reader),
                    Ace(ACCESS_ALLOWED, 0, FILE_ALL_ACCESS, s.other),
                    Ace(ACCESS_ALLOWED, 0, FILE_GENERIC_READ, s.reader),
                    Ace(ACCESS_ALLOWED, 0, FILE_GENERIC_READ, s.group)],
         "group-readable", lambda s: [s.other, s.group]),
    Case("inherit-only-everyone", "Everyone read only for children (inherit-only): not the file itself",
         lambda s: [Ace(ACCESS_ALLOWED, 0, FILE_ALL_ACCESS, s.other),
                    Ace(ACCESS_ALLOWED, OBJECT_INHERIT | INHERIT_ONLY, FILE_GENERIC_READ, smb_acl.EVERYONE)],
         "private", lambda s: [s.other]),
    Case("read-control-only", "Everyone may read the ACL and attributes, not the data",
         lambda s: [Ace(ACCESS_ALLOWED, 0, FILE_ALL_ACCESS, s.other),
                    Ace(ACCESS_ALLOWED, 0, READ_CONTROL | 0x80, smb_acl.EVERYONE)],
         "private", lambda s: [s.other]),
    Case("system-and-admins", "owner, SYSTEM and Administrators: still private",
         lambda s: [Ace(ACCESS_ALLOWED, 0, FILE_ALL_ACCESS, s.other),
                    Ace(ACCESS_ALLOWED, 0, FILE_ALL_ACCESS, smb_acl.SYSTEM),
                    Ace(ACCESS_ALLOWED, 0, FILE_ALL_ACCESS, smb_acl.BUILTIN_ADMINISTRATORS)],
         "private", lambda s: [s.other, smb_acl.SYSTEM, smb_acl.BUILTIN_ADMINISTRATORS]),
    Case("empty-dacl", "an empty DACL: nobody may read",
         lambda s: [], "private", lambda s: []),
    Case("inherited-group", "a folder gives its group read to new files (inheritance); a file made inside",
         lambda s: [Ace(ACCESS_ALLOWED, OBJECT_INHERIT | CONTAINER_INHERIT, FILE_ALL_ACCESS, s.other),
                    Ace(ACCESS_ALLOWED, OBJECT_INHERIT | CONTAINER_INHERIT, FILE_GENERIC_READ, s.group)],
         "group-readable", lambda s: [s.other, s.group], inherit=True),
]


#: POSIX mode bits on the ``data`` share, shown by Samba as NT ACLs: (name, owner role, group?, mode, exposure).
POSIX_CASES = [
    ("posix-0644", "root", False, 0o644, "world-readable"),
    ("posix-0640-group", "other", True, 0o640, "group-readable"),
    ("posix-0600-owner", "reader", False, 0o600, "private"),
    ("posix-0604-other-only", "other", True, 0o604, "world-readable"),
]


def apply_posix(samba: Any, case: tuple[str, str, bool, int, str], prefix: str, admin: Any) -> bytes:
    """Plant a file with the case's mode on the ``data`` share; the descriptor Samba derives from it."""
    name, role, grp, mode, _ = case
    owner = None if role == "root" else getattr(samba, role)
    rel = f"{prefix}/{name}.txt"
    samba.plant("data", rel, b"hello\n", owner=owner, group=samba.group if grp else None, mode=mode)
    # The admin is no admin on ``data``: let it in through a readable folder and file read by the owner's SD.
    reader = admin if mode & 0o004 else _as(samba, role)
    return reader.security_descriptor("data", rel)


def _as(samba: Any, role: str) -> Any:
    from cardscan.sources.smb import SMBSource

    user = getattr(samba, role)
    return SMBSource(samba.url("data", "", user), password=user.password, exposure=False)


def sids(samba: Any, admin: Any) -> Sids:
    """The server's SIDs for the test users, read from descriptors of files they own."""
    found = {}
    for role, user in (("reader", samba.reader), ("other", samba.other)):
        samba.plant("data", f"sid-probe/{role}", b"", owner=user, mode=0o644)
        found[role] = smb_acl.parse(admin.security_descriptor("data", f"sid-probe/{role}")).owner
    return Sids(found["reader"], found["other"], f"S-1-22-2-{samba.gid}", found["reader"].rsplit("-", 1)[0])


def admin_source(samba: Any) -> Any:
    from cardscan.sources.smb import SMBSource

    return SMBSource(samba.url("acl", "", samba.admin), password=samba.admin.password, exposure=False)


def apply_case(samba: Any, case: Case, prefix: str, admin: Any = None) -> bytes:
    """Make ``case`` on the ``acl`` share under ``prefix``; the descriptor the server then returns."""
    import smbclient

    admin = admin or admin_source(samba)
    s = sids(samba, admin)
    owner = s.other
    if case.inherit:
        folder = f"{prefix}/{case.name}"
        samba.plant("acl", f"{folder}/.keep", b"")
        admin.set_security_descriptor("acl", folder, smb_acl.build(owner, s.group, case.dacl(s)))
        rel = f"{folder}/card.txt"
        with smbclient.open_file(admin._target.unc("acl", rel), mode="wb", **admin._kwargs()) as fh:
            fh.write(b"created over SMB, inside the folder\n")
    else:
        rel = f"{prefix}/{case.name}.txt"
        samba.plant("acl", rel, b"hello\n")
        admin.set_security_descriptor("acl", rel, smb_acl.build(owner, s.group, case.dacl(s)))
    return admin.security_descriptor("acl", rel)


def _capture(out: Path) -> None:
    import shutil

    from tests.samba import SambaServer

    root = Path(tempfile.mkdtemp(prefix="cardscan-samba-"))
    server = SambaServer(root).start()
    try:
        admin = admin_source(server)
        s = sids(server, admin)
        rows = []
        for case in ACL_CASES:
            sd = apply_case(server, case, "capture", admin)
            rows.append({"name": case.name, "how": case.how, "descriptor": sd.hex(),
                         "sids": {"reader": s.reader, "other": s.other, "group": s.group, "domain": s.domain}})
        for pcase in POSIX_CASES:
            sd = apply_posix(server, pcase, "capture", admin)
            rows.append({"name": pcase[0], "how": f"mode {pcase[3]:04o} on a share without vfs_acl_xattr",
                         "descriptor": sd.hex(),
                         "sids": {"reader": s.reader, "other": s.other, "group": s.group, "domain": s.domain}})
        out.write_text(json.dumps(rows, indent=1) + "\n")
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    _capture(Path(sys.argv[1]) if len(sys.argv) > 1 else DATA)
