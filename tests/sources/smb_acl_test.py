"""smb_acl: security descriptors parsed and judged, on descriptors captured from Samba.

``data/smb_descriptors.json`` holds what a real Samba server returned for the
cases in smb_cases.py (ACLs set through SMB on a vfs_acl_xattr share, and
POSIX modes mapped to NT ACLs); smb_test.py checks the live server still
answers the same.
"""
from __future__ import annotations

import json
import struct

import pytest

from cardscan.sources import smb_acl
from cardscan.sources.smb_acl import (
    ACCESS_ALLOWED,
    ACCESS_DENIED,
    FILE_GENERIC_READ,
    INHERIT_ONLY,
    OBJECT_INHERIT,
    Ace,
    DescriptorError,
)
from tests.sources.smb_cases import ACL_CASES, DATA, POSIX_CASES, Sids

CAPTURED = {row["name"]: row for row in json.loads(DATA.read_text())}


def _sids(row: dict) -> Sids:
    return Sids(**row["sids"])


@pytest.mark.parametrize("case", ACL_CASES, ids=lambda c: c.name)
def test_captured_acl_cases(case) -> None:
    row = CAPTURED[case.name]
    sd = smb_acl.parse(bytes.fromhex(row["descriptor"]))
    s = _sids(row)
    assert smb_acl.exposure(sd) == case.exposure, case.how
    assert smb_acl.readers(sd) == case.readers(s), case.how


@pytest.mark.parametrize("case", POSIX_CASES, ids=lambda c: c[0])
def test_captured_posix_modes(case) -> None:
    sd = smb_acl.parse(bytes.fromhex(CAPTURED[case[0]]["descriptor"]))
    assert smb_acl.exposure(sd) == case[4]


def test_posix_0600_readers_are_the_owner_alone() -> None:
    # Samba writes zero-mask ACEs for group and Everyone: present, granting nothing.
    row = CAPTURED["posix-0600-owner"]
    sd = smb_acl.parse(bytes.fromhex(row["descriptor"]))
    assert len(sd.dacl) == 3 and [a.mask for a in sd.dacl[1:]] == [0, 0]
    assert smb_acl.readers(sd) == [row["sids"]["reader"]] == [sd.owner]


def test_every_captured_descriptor_rebuilds_byte_for_byte() -> None:
    for name, row in CAPTURED.items():
        raw = bytes.fromhex(row["descriptor"])
        sd = smb_acl.parse(raw)
        assert smb_acl.build(sd.owner, sd.group, sd.dacl, sd.control) == raw, name


def test_inherit_only_ace_is_kept_but_does_not_apply() -> None:
    sd = smb_acl.parse(bytes.fromhex(CAPTURED["inherit-only-everyone"]["descriptor"]))
    ace = [a for a in sd.dacl if a.sid == smb_acl.EVERYONE][0]
    assert ace.flags == OBJECT_INHERIT | INHERIT_ONLY and not ace.applies_to_object


# -- rules on built descriptors ---------------------------------------------------------
OWNER, OTHER, GROUP = "S-1-5-21-1-2-3-1000", "S-1-5-21-1-2-3-1001", "S-1-5-21-1-2-3-1100"


def _sd(*aces: Ace, dacl: bool = True) -> smb_acl.SecurityDescriptor:
    return smb_acl.parse(smb_acl.build(OWNER, GROUP, list(aces) if dacl else None))


def test_no_dacl_means_everyone() -> None:
    sd = _sd(dacl=False)
    assert sd.dacl is None
    assert smb_acl.readers(sd) == [smb_acl.EVERYONE] and smb_acl.exposure(sd) == "world-readable"


def test_missing_descriptor_is_unknown() -> None:
    assert smb_acl.exposure(None) == "unknown"


@pytest.mark.parametrize("sid,expected", [
    (smb_acl.EVERYONE, "world-readable"),
    (smb_acl.AUTHENTICATED_USERS, "world-readable"),
    (smb_acl.ANONYMOUS, "world-readable"),
    ("S-1-5-32-545", "world-readable"),          # BUILTIN\Users
    ("S-1-5-32-546", "world-readable"),          # BUILTIN\Guests
    ("S-1-5-21-7-8-9-513", "world-readable"),    # Domain Users
    ("S-1-5-21-7-8-9-514", "world-readable"),    # Domain Guests
    ("S-1-5-21-7-8-9-501", "world-readable"),    # Guest
    ("S-1-5-21-7-8-9-5130", "group-readable"),   # a RID that merely starts like 513
    (GROUP, "group-readable"),
    (OTHER, "group-readable"),                   # another user: shared beyond the owner
    (OWNER, "private"),
    (smb_acl.SYSTEM, "private"),
    (smb_acl.BUILTIN_ADMINISTRATORS, "private"),
    ("S-1-5-21-7-8-9-512", "private"),           # Domain Admins
])
def test_exposure_by_principal(sid: str, expected: str) -> None:
    assert smb_acl.exposure(_sd(Ace(ACCESS_ALLOWED, 0, FILE_GENERIC_READ, sid))) == expected


@pytest.mark.parametrize("mask,reads", [
    (0x1, True),            # FILE_READ_DATA alone
    (0x80000000, True),     # GENERIC_READ
    (0x10000000, True),     # GENERIC_ALL
    (0x00120088, False),    # FILE_GENERIC_READ without FILE_READ_DATA: attributes and ACL only
    (0x00000002, False),    # FILE_WRITE_DATA
    (0x00100000, False),    # SYNCHRONIZE
])
def test_read_means_the_data_bit(mask: int, reads: bool) -> None:
    sd = _sd(Ace(ACCESS_ALLOWED, 0, mask, smb_acl.EVERYONE))
    assert (smb_acl.readers(sd) == [smb_acl.EVERYONE]) is reads


def test_deny_of_a_principal_before_its_allow_removes_it_only() -> None:
    sd = _sd(Ace(ACCESS_DENIED, 0, 0x1, OTHER), Ace(ACCESS_ALLOWED, 0, 0x1, OTHER),
             Ace(ACCESS_ALLOWED, 0, 0x1, OWNER))
    assert smb_acl.readers(sd) == [OWNER]


def test_deny_of_write_only_does_not_remove_read() -> None:
    sd = _sd(Ace(ACCESS_DENIED, 0, 0x2, smb_acl.EVERYONE), Ace(ACCESS_ALLOWED, 0, 0x1, GROUP))
    assert smb_acl.readers(sd) == [GROUP]


def test_inherit_only_deny_does_not_apply() -> None:
    sd = _sd(Ace(ACCESS_DENIED, OBJECT_INHERIT | INHERIT_ONLY, 0x1, smb_acl.EVERYONE),
             Ace(ACCESS_ALLOWED, 0, 0x1, smb_acl.EVERYONE))
    assert smb_acl.exposure(sd) == "world-readable"


def test_creator_owner_is_a_placeholder_and_owner_rights_is_the_owner() -> None:
    sd = _sd(Ace(ACCESS_ALLOWED, 0, 0x1, smb_acl.CREATOR_OWNER), Ace(ACCESS_ALLOWED, 0, 0x1, smb_acl.OWNER_RIGHTS))
    assert smb_acl.readers(sd) == [OWNER] and smb_acl.exposure(sd) == "private"


def test_unknown_ace_types_are_noted_not_fatal() -> None:
    raw = bytearray(smb_acl.build(OWNER, GROUP, [Ace(ACCESS_ALLOWED, 0, 0x1, GROUP), Ace(ACCESS_ALLOWED, 0, 0x1, OTHER)]))
    # Turn the second ACE into a SYSTEM_AUDIT ACE (type 2; a SACL thing, meaningless in a DACL).
    dacl = struct.unpack_from("<I", raw, 16)[0]
    first = struct.unpack_from("<H", raw, dacl + 8 + 2)[0]
    raw[dacl + 8 + first] = 2
    sd = smb_acl.parse(bytes(raw))
    assert smb_acl.readers(sd) == [GROUP] and sd.notes == ("ACE type 2 ignored",)


@pytest.mark.parametrize("raw", [
    b"", b"\x01\x00\x04\x80" + b"\x00" * 12,                   # too short
    b"\x02\x00\x04\x80" + b"\x00" * 16,                        # revision 2
    smb_acl.build(OWNER, None, [])[:-4] + b"\x09\x00",         # ACL header cut
    struct.pack("<BBHIIII", 1, 0, 0x8004, 20, 0, 0, 0) + b"\x01\x05\x00\x00",  # SID cut
])
def test_malformed_descriptors_raise_descriptor_error(raw: bytes) -> None:
    with pytest.raises(DescriptorError):
        smb_acl.parse(raw)


def test_ace_size_past_the_acl_is_refused() -> None:
    raw = bytearray(smb_acl.build(OWNER, GROUP, [Ace(ACCESS_ALLOWED, 0, 0x1, GROUP)]))
    dacl = struct.unpack_from("<I", raw, 16)[0]
    struct.pack_into("<H", raw, dacl + 8 + 2, 400)
    with pytest.raises(DescriptorError):
        smb_acl.parse(bytes(raw))


@pytest.mark.parametrize("sid", ["S-1-1-0", "S-1-5-21-4051998636-2737949786-1166193184-1001", "S-1-22-2-0",
                                 "S-1-5-32-544", "S-1-16-12288"])
def test_sid_round_trip(sid: str) -> None:
    packed = smb_acl.pack_sid(sid)
    assert smb_acl.parse_sid(packed) == (sid, len(packed))


def test_names_looked_up_then_well_known_then_sid() -> None:
    assert smb_acl.name(GROUP, {GROUP: "SHOP\\finance"}) == "SHOP\\finance"
    assert smb_acl.name(smb_acl.AUTHENTICATED_USERS) == "NT AUTHORITY\\Authenticated Users"
    assert smb_acl.name(OTHER) == OTHER


def test_readers_are_shown_in_the_shared_vocabulary() -> None:
    from cardscan.testing import make_pan

    names = {"S-1-5-21-1-2-3-1001": ("SHOP\\alice", 1), "S-1-5-21-1-2-3-1105": ("SHOP\\finance", 2),
             "S-1-5-21-1-2-3-1106": ("SHOP\\u" + make_pan("4", 16), 1)}
    assert smb_acl.display(smb_acl.EVERYONE) == "*"
    assert smb_acl.display("S-1-5-21-1-2-3-1001", names) == "user:SHOP\\alice"
    assert smb_acl.display("S-1-5-21-1-2-3-1105", names) == "group:SHOP\\finance"
    assert smb_acl.display(smb_acl.AUTHENTICATED_USERS) == "group:NT AUTHORITY\\Authenticated Users"
    assert smb_acl.display("S-1-5-21-9-9-9-1200") == "S-1-5-21-9-9-9-1200"  # nothing names it
    hostile = smb_acl.display("S-1-5-21-1-2-3-1106", names)
    assert hostile.startswith("user:SHOP\\u4") and "******" in hostile
