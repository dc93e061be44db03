"""The two DCE/RPC calls the SMB source needs, over a named pipe of ``IPC$``.

smbprotocol speaks SMB 2/3 but no DCE/RPC, and two questions are only
answered by RPC: which shares a host has (srvsvc ``NetrShareEnum``,
[MS-SRVS] 3.1.4.8) and what a SID is called (lsarpc ``LsarLookupSids``,
[MS-LSAT] 3.1.4.11). Both are small, fixed requests, so they are encoded
here by hand in NDR ([C706] chapter 14) instead of pulling in a full RPC
stack. The pipe is any object with ``write(bytes)`` and ``read(n)`` (an
``smbclient.open_file(..., file_type="pipe")``), so the encoding is tested
without a network, and against the real Samba server.
"""
from __future__ import annotations

import struct
import uuid
from dataclasses import dataclass
from typing import Any, Iterable

from .smb_acl import DescriptorError, pack_sid, parse_sid

SRVSVC = (uuid.UUID("4b324fc8-1670-01d3-1278-5a47bf6ee188"), 3, 0)
LSARPC = (uuid.UUID("12345778-1234-abcd-ef00-0123456789ab"), 0, 0)
_NDR = (uuid.UUID("8a885d04-1ceb-11c9-9fe8-08002b104860"), 2, 0)

_BIND, _BIND_ACK, _BIND_NAK, _REQUEST, _RESPONSE, _FAULT = 11, 12, 13, 0, 2, 3
_FIRST_FRAG, _LAST_FRAG = 0x01, 0x02
_MAX_FRAG = 4280

#: STYPE_* share types ([MS-SRVS] 2.2.2.4): the low bits; 0x80000000 = special ($) share.
STYPE_DISKTREE = 0
STYPE_SPECIAL = 0x80000000
#: SID_NAME_USE ([MS-LSAT] 2.2.13) values that are groups of principals.
GROUP_TYPES = frozenset({2, 4, 5})  # SidTypeGroup, SidTypeAlias, SidTypeWellKnownGroup

STATUS_SOME_NOT_MAPPED = 0x00000107
STATUS_NONE_MAPPED = 0xC0000073


class RPCError(Exception):
    """The server refused a bind or answered with a fault or an error status."""


@dataclass(frozen=True)
class Share:
    name: str
    type: int
    remark: str

    @property
    def is_disk(self) -> bool:
        return self.type & 0xFFFF == STYPE_DISKTREE

    @property
    def is_special(self) -> bool:
        return bool(self.type & STYPE_SPECIAL) or self.name.endswith("$")


# -- NDR ------------------------------------------------------------------------------
class _Writer:
    def __init__(self) -> None:
        self.buf = bytearray()
        self._ref = 0x00020000

    def align(self, n: int) -> None:
        self.buf += b"\0" * (-len(self.buf) % n)

    def u16(self, v: int) -> None:
        self.align(2)
        self.buf += struct.pack("<H", v)

    def u32(self, v: int) -> None:
        self.align(4)
        self.buf += struct.pack("<I", v)

    def ptr(self, present: bool = True) -> None:
        """A unique pointer's referent id (0: null)."""
        if present:
            self._ref += 4
        self.u32(self._ref if present else 0)

    def raw(self, b: bytes) -> None:
        self.buf += b

    def sid(self, sid: str) -> None:
        packed = pack_sid(sid)
        self.u32(packed[1])  # conformance: the sub-authority count, before the struct
        self.raw(packed)


class _Reader:
    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def align(self, n: int) -> None:
        self.pos += -self.pos % n

    def _take(self, fmt: str, size: int) -> Any:
        self.align(size)
        if self.pos + size > len(self.data):
            raise RPCError("truncated RPC response")
        v = struct.unpack_from(fmt, self.data, self.pos)[0]
        self.pos += size
        return v

    def u16(self) -> int:
        return self._take("<H", 2)

    def u32(self) -> int:
        return self._take("<I", 4)

    def i32(self) -> int:
        return self._take("<i", 4)

    def skip(self, n: int) -> None:
        self.pos += n

    def wstring(self) -> str:
        """A conformant varying string of UTF-16 code units (``[string] wchar_t*``)."""
        _max, offset, count = self.u32(), self.u32(), self.u32()
        if count > 65536:
            raise RPCError("string too long")
        start = self.pos + 2 * offset
        end = start + 2 * count
        if end > len(self.data):
            raise RPCError("truncated RPC response")
        self.pos = end
        return self.data[start:end].decode("utf-16-le", "replace").rstrip("\0")

    def sid(self) -> str:
        self.u32()  # conformance
        try:
            sid, self.pos = parse_sid(self.data, self.pos)
        except DescriptorError as exc:
            raise RPCError(f"bad SID in RPC response: {exc}") from None
        return sid


# -- PDUs ------------------------------------------------------------------------------
def _header(ptype: int, body_len: int, call_id: int, flags: int = _FIRST_FRAG | _LAST_FRAG) -> bytes:
    return struct.pack("<BBBB4sHHI", 5, 0, ptype, flags, b"\x10\0\0\0", 16 + body_len, 0, call_id)


def _syntax(s: tuple[uuid.UUID, int, int]) -> bytes:
    return s[0].bytes_le + struct.pack("<HH", s[1], s[2])


def bind_pdu(interface: tuple[uuid.UUID, int, int], call_id: int = 1) -> bytes:
    body = struct.pack("<HHI", _MAX_FRAG, _MAX_FRAG, 0)
    body += struct.pack("<BBH", 1, 0, 0)  # one presentation context
    body += struct.pack("<HBB", 0, 1, 0) + _syntax(interface) + _syntax(_NDR)
    return _header(_BIND, len(body), call_id) + body


def request_pdus(opnum: int, stub: bytes, call_id: int) -> list[bytes]:
    """The request, in fragments no bigger than the negotiated size."""
    room = _MAX_FRAG - 24
    chunks = [stub[i:i + room] for i in range(0, len(stub), room)] or [b""]
    out = []
    for i, chunk in enumerate(chunks):
        flags = (_FIRST_FRAG if i == 0 else 0) | (_LAST_FRAG if i == len(chunks) - 1 else 0)
        body = struct.pack("<IHH", len(stub), 0, opnum) + chunk
        out.append(_header(_REQUEST, len(body), call_id, flags) + body)
    return out


def _read_pdu(pipe: Any) -> tuple[int, int, bytes]:
    """(ptype, flags, body) of the next PDU on the pipe."""
    data = b""
    while len(data) < 16:
        more = pipe.read(_MAX_FRAG * 2)
        if not more:
            raise RPCError("the pipe closed")
        data += more
    frag_len = struct.unpack_from("<H", data, 8)[0]
    while len(data) < frag_len:
        more = pipe.read(frag_len - len(data))
        if not more:
            raise RPCError("the pipe closed")
        data += more
    return data[2], data[3], data[16:frag_len]


class Client:
    """One bound interface on one pipe."""

    def __init__(self, pipe: Any, interface: tuple[uuid.UUID, int, int]) -> None:
        self.pipe = pipe
        self.call_id = 1
        pipe.write(bind_pdu(interface, self.call_id))
        ptype, _, body = _read_pdu(pipe)
        if ptype != _BIND_ACK:
            raise RPCError(f"bind refused (PDU type {ptype})")
        r = _Reader(body)
        r.skip(8)
        r.skip(r.u16())  # secondary address
        r.align(4)
        n = r.data[r.pos]
        r.skip(4)
        if n < 1 or r.u16() != 0:
            raise RPCError("the server did not accept the interface")

    def call(self, opnum: int, stub: bytes) -> bytes:
        self.call_id += 1
        for pdu in request_pdus(opnum, stub, self.call_id):
            self.pipe.write(pdu)
        out = b""
        while True:
            ptype, flags, body = _read_pdu(self.pipe)
            if ptype == _FAULT:
                status = struct.unpack_from("<I", body, 8)[0] if len(body) >= 12 else 0
                raise RPCError(f"RPC fault 0x{status:08x}")
            if ptype != _RESPONSE:
                raise RPCError(f"unexpected PDU type {ptype}")
            out += body[8:]
            if flags & _LAST_FRAG:
                return out


# -- srvsvc: NetrShareEnum --------------------------------------------------------------
def share_enum_stub() -> bytes:
    w = _Writer()
    w.ptr(False)        # ServerName: null (the server we are talking to)
    w.u32(1)            # InfoStruct.Level
    w.u32(1)            # union discriminant
    w.ptr()             # -> SHARE_INFO_1_CONTAINER
    w.u32(0)            #    EntriesRead
    w.ptr(False)        #    Buffer: null
    w.u32(0xFFFFFFFF)   # PreferedMaximumLength: everything at once
    w.ptr()             # ResumeHandle
    w.u32(0)
    return bytes(w.buf)


def parse_share_enum(stub: bytes) -> list[Share]:
    r = _Reader(stub)
    level, _switch, container = r.u32(), r.u32(), r.u32()
    if level != 1 or not container:
        raise RPCError("unexpected share list level")
    count, array = r.u32(), r.u32()
    entries: list[tuple[int, int, int]] = []
    if array:
        n = r.u32()
        if n != count or n > 100_000:
            raise RPCError("inconsistent share list")
        entries = [(r.u32(), r.u32(), r.u32()) for _ in range(n)]
    shares = []
    for name_ptr, stype, remark_ptr in entries:
        name = r.wstring() if name_ptr else ""
        remark = r.wstring() if remark_ptr else ""
        shares.append(Share(name, stype, remark))
    r.u32()             # TotalEntries
    if r.u32():         # ResumeHandle pointer
        r.u32()
    status = r.u32()
    if status != 0:
        raise RPCError(f"NetrShareEnum failed: status 0x{status:08x}")
    return shares


def list_shares(pipe: Any) -> list[Share]:
    """The host's shares, through an open ``\\\\host\\IPC$\\srvsvc`` pipe."""
    return parse_share_enum(Client(pipe, SRVSVC).call(15, share_enum_stub()))


# -- lsarpc: LsarOpenPolicy2, LsarLookupSids, LsarClose ----------------------------------
POLICY_LOOKUP_NAMES = 0x00000800


def open_policy_stub() -> bytes:
    w = _Writer()
    w.ptr(False)        # SystemName
    w.u32(24)           # ObjectAttributes.Length
    for _ in range(2):  # RootDirectory, ObjectName
        w.ptr(False)
    w.u32(0)            # Attributes
    for _ in range(2):  # SecurityDescriptor, SecurityQualityOfService
        w.ptr(False)
    w.u32(POLICY_LOOKUP_NAMES)
    return bytes(w.buf)


def lookup_sids_stub(handle: bytes, sids: list[str]) -> bytes:
    w = _Writer()
    w.raw(handle)
    w.u32(len(sids))    # SidEnumBuffer.Entries
    w.ptr()             # SidInfo
    w.u32(len(sids))    # conformance
    for _ in sids:
        w.ptr()
    for sid in sids:
        w.sid(sid)
    w.u32(0)            # TranslatedNames.Entries
    w.ptr(False)        # TranslatedNames.Names
    w.u16(1)            # LookupLevel: LsapLookupWksta
    w.u32(0)            # MappedCount
    return bytes(w.buf)


def parse_lookup_sids(stub: bytes, sids: list[str]) -> dict[str, tuple[str, int]]:
    """SID -> (``DOMAIN\\name`` or ``name``, SID_NAME_USE) for every SID the server named."""
    r = _Reader(stub)
    domains: list[str] = []
    if r.u32():                              # ReferencedDomains pointer
        n, arr, _max = r.u32(), r.u32(), r.u32()
        if arr:
            if r.u32() != n or n > 10_000:
                raise RPCError("inconsistent domain list")
            heads = []
            for _ in range(n):
                r.u16()
                r.u16()
                heads.append((r.u32(), r.u32()))
            for name_ptr, sid_ptr in heads:
                domains.append(_counted(r) if name_ptr else "")
                if sid_ptr:
                    r.sid()
    n, arr = r.u32(), r.u32()
    names: list[tuple[int, int, int]] = []
    if arr:
        if r.u32() != n or n > 100_000:
            raise RPCError("inconsistent name list")
        for _ in range(n):
            use = r.u16()
            r.u16()
            r.u16()
            ptr = r.u32()
            names.append((use, ptr, r.i32()))
    texts = [_counted(r) if ptr else "" for _, ptr, _ in names]
    r.u32()                                  # MappedCount
    status = r.u32()
    if status not in (0, STATUS_SOME_NOT_MAPPED, STATUS_NONE_MAPPED):
        raise RPCError(f"LsarLookupSids failed: status 0x{status:08x}")
    out: dict[str, tuple[str, int]] = {}
    for sid, (use, _, dom), text in zip(sids, names, texts):
        if use in (8, 0) or not text:        # SidTypeUnknown / nothing
            continue
        domain = domains[dom] if 0 <= dom < len(domains) else ""
        out[sid] = (f"{domain}\\{text}" if domain else text, use)
    return out


def _counted(r: _Reader) -> str:
    """The deferred buffer of an RPC_UNICODE_STRING (conformant varying, not NUL-terminated)."""
    return r.wstring()


def lookup_sids(pipe: Any, sids: Iterable[str]) -> dict[str, tuple[str, int]]:
    """Names (and SID types) of ``sids``, through an open ``\\\\host\\IPC$\\lsarpc`` pipe."""
    sids = list(dict.fromkeys(sids))
    if not sids:
        return {}
    client = Client(pipe, LSARPC)
    out = client.call(44, open_policy_stub())
    if len(out) < 24 or struct.unpack_from("<I", out, 20)[0] != 0:
        raise RPCError("LsarOpenPolicy2 was refused")
    handle = out[:20]
    try:
        names: dict[str, tuple[str, int]] = {}
        for i in range(0, len(sids), 1000):
            batch = sids[i:i + 1000]
            names.update(parse_lookup_sids(client.call(15, lookup_sids_stub(handle, batch)), batch))
        return names
    finally:
        try:
            client.call(0, handle)
        except RPCError:
            pass
