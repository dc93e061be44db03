"""Windows security descriptors: parse, build, and who may read (pure, no I/O).

An SMB server hands a file's security descriptor over as the self-relative
binary structure of [MS-DTYP] 2.4.6: owner SID, group SID and a DACL, a list
of ACEs (allow or deny an access mask to a SID, with inheritance flags).
:func:`parse` reads it, :func:`build` writes one (tests; keeping a
descriptor across a rewrite), and :func:`readers` / :func:`exposure` answer
the question the manifest asks: who can read this file's content?

How the DACL is evaluated (Windows' own rules, per principal):

* no DACL at all (``SE_DACL_PRESENT`` clear, or a NULL DACL): everyone has
  full access; an empty DACL: nobody has;
* ACEs marked ``INHERIT_ONLY`` only reach children, never the object;
* ACEs are applied in order and the first one that settles the read bit
  wins: a deny ACE before an allow takes it away, a deny after it does not
  (Windows writes denies first; a non-canonical order is honoured as is);
* a deny ACE for Everyone (or any group every user is in) removes read for
  every principal whose allow comes later;
* "read" is ``FILE_READ_DATA`` (or ``GENERIC_READ``/``GENERIC_ALL``, which
  map to it); reading the descriptor or attributes alone is not reading.

Group membership is not known here (it lives on the domain controller): a
deny for a group does not remove an allow for a user who may be in it. The
answer errs towards "more readers", which is the safe side for a map of
exposure.
"""
from __future__ import annotations

import re
import struct
from dataclasses import dataclass, field
from typing import Iterable

from ..privacy import mask_name

# Access mask bits ([MS-DTYP] 2.4.3).
FILE_READ_DATA = 0x00000001
READ_CONTROL = 0x00020000
GENERIC_ALL = 0x10000000
GENERIC_READ = 0x80000000
#: Bits that grant reading a file's content.
READ_BITS = FILE_READ_DATA | GENERIC_READ | GENERIC_ALL
#: FILE_GENERIC_READ: what "Read" means in an ACL editor.
FILE_GENERIC_READ = 0x00120089
FILE_ALL_ACCESS = 0x001F01FF

# ACE types and flags ([MS-DTYP] 2.4.4.1).
ACCESS_ALLOWED = 0x00
ACCESS_DENIED = 0x01
ACCESS_ALLOWED_OBJECT = 0x05
ACCESS_DENIED_OBJECT = 0x06
ACCESS_ALLOWED_CALLBACK = 0x09
ACCESS_DENIED_CALLBACK = 0x0A
_ALLOW_TYPES = frozenset({ACCESS_ALLOWED, ACCESS_ALLOWED_OBJECT})
_DENY_TYPES = frozenset({ACCESS_DENIED, ACCESS_DENIED_OBJECT})

OBJECT_INHERIT = 0x01
CONTAINER_INHERIT = 0x02
NO_PROPAGATE_INHERIT = 0x04
INHERIT_ONLY = 0x08
INHERITED = 0x10

# Control flags ([MS-DTYP] 2.4.6).
SE_DACL_PRESENT = 0x0004
SE_SELF_RELATIVE = 0x8000

# Security information flags for SMB2 QUERY_INFO / SET_INFO ([MS-SMB2] 2.2.37).
OWNER_SECURITY_INFORMATION = 0x1
GROUP_SECURITY_INFORMATION = 0x2
DACL_SECURITY_INFORMATION = 0x4

EVERYONE = "S-1-1-0"
CREATOR_OWNER = "S-1-3-0"
CREATOR_GROUP = "S-1-3-1"
OWNER_RIGHTS = "S-1-3-4"
ANONYMOUS = "S-1-5-7"
AUTHENTICATED_USERS = "S-1-5-11"
SYSTEM = "S-1-5-18"
BUILTIN_ADMINISTRATORS = "S-1-5-32-544"

#: Well-known SIDs, named (LSA look-ups name the rest when the server answers).
WELL_KNOWN: dict[str, str] = {
    EVERYONE: "Everyone",
    CREATOR_OWNER: "CREATOR OWNER",
    CREATOR_GROUP: "CREATOR GROUP",
    OWNER_RIGHTS: "OWNER RIGHTS",
    "S-1-5-2": "NT AUTHORITY\\NETWORK",
    "S-1-5-4": "NT AUTHORITY\\INTERACTIVE",
    ANONYMOUS: "NT AUTHORITY\\ANONYMOUS LOGON",
    AUTHENTICATED_USERS: "NT AUTHORITY\\Authenticated Users",
    SYSTEM: "NT AUTHORITY\\SYSTEM",
    BUILTIN_ADMINISTRATORS: "BUILTIN\\Administrators",
    "S-1-5-32-545": "BUILTIN\\Users",
    "S-1-5-32-546": "BUILTIN\\Guests",
}

#: Principals that mean "anyone who can reach the share" (plus guests and anonymous).
#: BUILTIN\Users holds Authenticated Users and Domain Users on every Windows
#: member server, so it counts as world too.
_WORLD = frozenset({EVERYONE, ANONYMOUS, AUTHENTICATED_USERS, "S-1-5-2", "S-1-5-4", "S-1-5-32-545", "S-1-5-32-546"})
#: Domain-relative RIDs that mean the same: Guest (501), Domain Users (513), Domain Guests (514).
_WORLD_RIDS = frozenset({501, 513, 514})
#: Readers that do not make a file "shared": the machine itself and its administrators
#: (every Windows file grants them; counting them would call every file group-readable).
_ADMIN = frozenset({SYSTEM, BUILTIN_ADMINISTRATORS})
_ADMIN_RIDS = frozenset({500, 512, 519})  # Administrator, Domain Admins, Enterprise Admins

_DOMAIN_SID = re.compile(r"^S-1-5-21-\d+-\d+-\d+-(\d+)$")

EXPOSURES = ("world-readable", "group-readable", "private", "unknown")


class DescriptorError(ValueError):
    """A security descriptor that does not parse."""


@dataclass(frozen=True)
class Ace:
    type: int
    flags: int
    mask: int
    sid: str

    @property
    def allows(self) -> bool:
        return self.type in _ALLOW_TYPES

    @property
    def denies(self) -> bool:
        return self.type in _DENY_TYPES

    @property
    def applies_to_object(self) -> bool:
        return not self.flags & INHERIT_ONLY


@dataclass(frozen=True)
class SecurityDescriptor:
    owner: str | None
    group: str | None
    #: None: no DACL (everyone has full access); []: an empty DACL (nobody has).
    dacl: tuple[Ace, ...] | None
    control: int = SE_SELF_RELATIVE
    #: Extra detail (unknown ACE types skipped ...), for ``object.exposure_detail``.
    notes: tuple[str, ...] = field(default=())


# -- SIDs -------------------------------------------------------------------------
def parse_sid(buf: bytes, offset: int = 0) -> tuple[str, int]:
    """(``S-1-...`` string, offset after it) from a binary SID ([MS-DTYP] 2.4.2.2)."""
    if offset + 8 > len(buf):
        raise DescriptorError("SID runs past the end")
    revision, count = buf[offset], buf[offset + 1]
    if revision != 1 or count > 15:
        raise DescriptorError(f"bad SID header (revision {revision}, {count} sub-authorities)")
    authority = int.from_bytes(buf[offset + 2:offset + 8], "big")
    end = offset + 8 + 4 * count
    if end > len(buf):
        raise DescriptorError("SID runs past the end")
    subs = struct.unpack_from(f"<{count}I", buf, offset + 8)
    auth = str(authority) if authority < 2 ** 32 else hex(authority)
    return "-".join(["S", str(revision), auth, *map(str, subs)]), end


def pack_sid(sid: str) -> bytes:
    parts = sid.split("-")
    if len(parts) < 3 or parts[0].upper() != "S" or parts[1] != "1":
        raise ValueError(f"not a SID: {sid!r}")
    authority = int(parts[2], 0)
    subs = [int(p) for p in parts[3:]]
    return bytes([1, len(subs)]) + authority.to_bytes(6, "big") + struct.pack(f"<{len(subs)}I", *subs)


# -- descriptors ------------------------------------------------------------------
def parse(buf: bytes) -> SecurityDescriptor:
    """A self-relative security descriptor. Raises :class:`DescriptorError` if malformed."""
    if len(buf) < 20:
        raise DescriptorError(f"descriptor too short ({len(buf)} bytes)")
    revision, _, control, o_owner, o_group, _o_sacl, o_dacl = struct.unpack_from("<BBHIIII", buf, 0)
    if revision != 1:
        raise DescriptorError(f"descriptor revision {revision}")
    owner = parse_sid(buf, o_owner)[0] if o_owner else None
    group = parse_sid(buf, o_group)[0] if o_group else None
    dacl: tuple[Ace, ...] | None = None
    notes: list[str] = []
    if control & SE_DACL_PRESENT and o_dacl:
        aces, notes = _parse_acl(buf, o_dacl)
        dacl = tuple(aces)
    return SecurityDescriptor(owner, group, dacl, control, tuple(notes))


def _parse_acl(buf: bytes, offset: int) -> tuple[list[Ace], list[str]]:
    if offset + 8 > len(buf):
        raise DescriptorError("ACL runs past the end")
    _rev, _, size, count, _ = struct.unpack_from("<BBHHH", buf, offset)
    end = offset + size
    if end > len(buf):
        raise DescriptorError("ACL runs past the end")
    pos = offset + 8
    aces: list[Ace] = []
    notes: list[str] = []
    for _ in range(count):
        if pos + 4 > end:
            raise DescriptorError("ACE runs past the ACL")
        ace_type, flags, ace_size = struct.unpack_from("<BBH", buf, pos)
        if ace_size < 8 or pos + ace_size > end:
            raise DescriptorError("bad ACE size")
        mask = struct.unpack_from("<I", buf, pos + 4)[0]
        body = pos + 8
        if ace_type in (ACCESS_ALLOWED_OBJECT, ACCESS_DENIED_OBJECT):
            # Object ACEs ([MS-DTYP] 2.4.4.3) carry up to two GUIDs before the SID.
            obj_flags = struct.unpack_from("<I", buf, body)[0]
            body += 4 + 16 * bool(obj_flags & 1) + 16 * bool(obj_flags & 2)
        if ace_type in _ALLOW_TYPES or ace_type in _DENY_TYPES or ace_type == ACCESS_ALLOWED_CALLBACK:
            sid = parse_sid(buf, body)[0]
            if ace_type == ACCESS_ALLOWED_CALLBACK:
                # A conditional allow: it may apply; skipping it could hide a reader.
                ace_type = ACCESS_ALLOWED
                notes.append("conditional allow taken as applying")
            aces.append(Ace(ace_type, flags, mask, sid))
        elif ace_type == ACCESS_DENIED_CALLBACK:
            # A conditional deny may not apply; honouring it could hide a reader.
            notes.append("conditional deny ignored")
        else:
            notes.append(f"ACE type {ace_type} ignored")
        pos += ace_size
    return aces, notes


def build(owner: str | None, group: str | None, dacl: Iterable[Ace] | None, control: int = 0) -> bytes:
    """A self-relative descriptor with these parts (``dacl=None``: no DACL); ``control``: extra flags."""
    control = (control & ~SE_DACL_PRESENT) | SE_SELF_RELATIVE | (SE_DACL_PRESENT if dacl is not None else 0)
    body = b""
    offsets = [0, 0, 0]
    pos = 20
    for i, who in enumerate((owner, group)):
        if who is not None:
            packed = pack_sid(who)
            offsets[i], pos, body = pos, pos + len(packed), body + packed
    if dacl is not None:
        aces = b""
        n = 0
        for ace in dacl:
            sid = pack_sid(ace.sid)
            aces += struct.pack("<BBHI", ace.type, ace.flags, 8 + len(sid), ace.mask) + sid
            n += 1
        acl = struct.pack("<BBHHH", 2, 0, 8 + len(aces), n, 0) + aces
        offsets[2], body = pos, body + acl
    return struct.pack("<BBHIIII", 1, 0, control, offsets[0], offsets[1], 0, offsets[2]) + body


# -- who may read -------------------------------------------------------------------
def _reads(mask: int) -> bool:
    return bool(mask & READ_BITS)


def readers(sd: SecurityDescriptor) -> list[str]:
    """SIDs that may read the file's content, in ACL order (no DACL: ``[Everyone]``)."""
    if sd.dacl is None:
        return [EVERYONE]
    denied: set[str] = set()
    everyone_denied = False
    out: list[str] = []
    for ace in sd.dacl:
        if not ace.applies_to_object or not _reads(ace.mask):
            continue
        sid = ace.sid
        if sid in (CREATOR_OWNER, CREATOR_GROUP):
            continue  # placeholders: only meaningful in inheritable ACEs
        if sid == OWNER_RIGHTS and sd.owner:
            sid = sd.owner
        if ace.denies:
            if sid == EVERYONE:
                everyone_denied = True
            denied.add(sid)
        elif not everyone_denied and sid not in denied and sid not in out:
            out.append(sid)
    return out


def is_world(sid: str) -> bool:
    if sid in _WORLD:
        return True
    m = _DOMAIN_SID.match(sid)
    return bool(m and int(m.group(1)) in _WORLD_RIDS)


def is_admin(sid: str) -> bool:
    if sid in _ADMIN:
        return True
    m = _DOMAIN_SID.match(sid)
    return bool(m and int(m.group(1)) in _ADMIN_RIDS)


def exposure(sd: SecurityDescriptor | None) -> str:
    """``world-readable`` | ``group-readable`` | ``private`` | ``unknown`` (no descriptor)."""
    if sd is None:
        return "unknown"
    who = readers(sd)
    if any(is_world(s) for s in who):
        return "world-readable"
    if any(s != sd.owner and not is_admin(s) for s in who):
        return "group-readable"
    return "private"


#: LSA SID types (SID_NAME_USE, [MS-LSAT] 2.2.13): users and computers, groups and aliases.
USER_TYPES = frozenset({1, 9})
GROUP_TYPES = frozenset({2, 4, 5})


def display(sid: str, names: dict[str, tuple[str, int]] | None = None) -> str:
    """A reader as the manifest lists it, in the vocabulary every source shares
    (docs/manifest.md): ``*`` for Everyone; ``user:NAME`` / ``group:NAME`` by
    the SID type the server's LSA gave (well-known SIDs are groups); the SID
    itself when nothing names it. Masked (a name may hold a card number)."""
    if sid == EVERYONE:
        return "*"
    if names and sid in names:
        text, use = names[sid]
        kind = "user:" if use in USER_TYPES else "group:" if use in GROUP_TYPES else ""
    elif sid in WELL_KNOWN:
        text, kind = WELL_KNOWN[sid], "group:"
    else:
        text, kind = sid, ""
    return mask_name(kind + text)


def name(sid: str, names: dict[str, str] | None = None) -> str:
    """A principal's display name: looked up, well known, else the SID itself."""
    if names and sid in names:
        return names[sid]
    return WELL_KNOWN.get(sid, sid)
