"""Windows and Samba file shares over SMB 2/3, without mounting them.

``smb://[DOMAIN;]USER[:PASSWORD]@HOST[:PORT]/SHARE/PATH/`` walks a share (or
one folder or file of it) with ``smbprotocol``, a pure-Python SMB 2/3 client;
``smb://USER@HOST/`` with no share lists the host's shares (srvsvc RPC, see
smb_rpc.py) and walks every disk share the user can open, skipping the
administrative ``$`` ones.

Credentials: the password comes from the URL or ``CARDSCAN_SMB_PASSWORD``;
with neither, the library tries Kerberos (a ticket from ``kinit``, when
``smbprotocol[kerberos]`` is installed). The password lives in the source
object only: item URIs (``smb://HOST[:PORT]/SHARE/path``), ``repr``, the
scan record, errors and logs never carry it, nor the user name in URIs.

Items are plain descriptions; a worker process opens them through its own
connection (connections are per process and rebuilt after a fork or a
dropped connection). ``open(item)`` returns a buffered, seekable stream that
reads with SMB READs at offsets, so decoders seek (zip directories), and a
byte range of a big file reads only that range.

Exposure comes from each file's security descriptor (read with one
compound CREATE/QUERY_INFO/CLOSE per file, see smb_acl.py):
``object.exposure`` is world-readable / group-readable / private, or
unknown when the descriptor cannot be read; ``object.readers`` names the
principals that can read in the vocabulary every source shares: ``*`` for
Everyone, ``user:NAME`` / ``group:NAME`` by the SID type the server's LSA
gives, SIDs where it does not answer. Share-level permissions are not read
(they need srvsvc NetShareGetInfo level 502, which Windows answers for
administrators only), and the folders above a file do not restrict it on
Windows, where every user holds "Bypass traverse checking": docs/sources.md.
"""
from __future__ import annotations

import io
import logging
import os
import socket
import stat as _stat
from collections import Counter
from datetime import datetime, timezone
from typing import Any, BinaryIO, ClassVar, Iterable, Iterator
from urllib.parse import quote, unquote, urlsplit

import smbclient
from smbclient._io import SMBFileTransaction, SMBRawIO
from smbprotocol.exceptions import (
    SMBAuthenticationError,
    SMBConnectionClosed,
    SMBException,
    SMBOSError,
    SMBResponseException,
)
from smbprotocol.header import NtStatus
from smbprotocol.open import (
    FilePipePrinterAccessMask,
    InfoType,
    SMB2QueryInfoRequest,
    SMB2QueryInfoResponse,
    SMB2SetInfoRequest,
    SMB2SetInfoResponse,
)

from ..errors import ConfigError, SourceError
from ..findings import ErrorRecord, Location
from ..privacy import mask_name
from . import smb_acl, smb_rpc
from .base import Item
from .fs import path_matcher

log = logging.getLogger("cardscan.sources.smb")

# smbprotocol logs whole SMB messages at DEBUG (READ responses hold file
# content, session setup holds NTLM messages): never let those through.
for _name in ("smbprotocol", "smbclient", "spnego"):
    logging.getLogger(_name).setLevel(logging.WARNING)

PASSWORD_ENV = "CARDSCAN_SMB_PASSWORD"
DEFAULT_PORT = 445
#: Bytes per buffered read (one SMB READ each, at most the server's max read size).
DEFAULT_BUFFER_SIZE = 1 << 20

_DIRECTORY = 0x10       # FILE_ATTRIBUTE_DIRECTORY
_REPARSE_POINT = 0x400  # symlinks, junctions, DFS links: not followed (loops, other servers)
_EPOCH_FILETIME = 116444736000000000

# NTSTATUS values ([MS-ERREF] 2.3.1) by the manifest's error kinds.
_NOT_FOUND_STATUS = {
    0xC000000F: "STATUS_NO_SUCH_FILE",
    0xC0000033: "STATUS_OBJECT_NAME_INVALID",
    0xC0000034: "STATUS_OBJECT_NAME_NOT_FOUND",
    0xC000003A: "STATUS_OBJECT_PATH_NOT_FOUND",
    0xC0000056: "STATUS_DELETE_PENDING",
    0xC00000CC: "STATUS_BAD_NETWORK_NAME",
    0xC0000123: "STATUS_FILE_DELETED",
    0xC0000225: "STATUS_NOT_FOUND",
}
_PERMISSION_STATUS = {
    0xC0000022: "STATUS_ACCESS_DENIED",
    0xC0000064: "STATUS_NO_SUCH_USER",
    0xC000006A: "STATUS_WRONG_PASSWORD",
    0xC000006D: "STATUS_LOGON_FAILURE",
    0xC000006E: "STATUS_ACCOUNT_RESTRICTION",
    0xC0000071: "STATUS_PASSWORD_EXPIRED",
    0xC0000072: "STATUS_ACCOUNT_DISABLED",
    0xC00000CA: "STATUS_NETWORK_ACCESS_DENIED",
    0xC0000234: "STATUS_ACCOUNT_LOCKED_OUT",
}
_STATUS_NAMES = {v: k for k, v in vars(NtStatus).items() if k.startswith("STATUS_")}
_STATUS_NAMES.update(_NOT_FOUND_STATUS)
_STATUS_NAMES.update(_PERMISSION_STATUS)


def _status_name(status: int) -> str:
    return _STATUS_NAMES.get(status, f"NTSTATUS 0x{status:08x}")


def ntstatus(exc: BaseException) -> int | None:
    """The NTSTATUS an SMB failure carries, or None for any other error."""
    if isinstance(exc, SMBOSError):
        return exc.ntstatus
    if isinstance(exc, SMBResponseException):
        return exc.status
    return None


def _lost(exc: BaseException) -> bool:
    """Did ``exc`` break the connection (as opposed to one request failing)?"""
    return isinstance(exc, (SMBConnectionClosed, ConnectionError, socket.timeout, EOFError)) or (
        isinstance(exc, OSError) and not isinstance(exc, SMBOSError) and ntstatus(exc) is None)


def error_kind(exc: BaseException) -> str:
    status = ntstatus(exc)
    if status in _PERMISSION_STATUS or isinstance(exc, SMBAuthenticationError):
        return "permission"
    if status in _NOT_FOUND_STATUS:
        return "not_found"
    return "io"


def error_message(exc: BaseException) -> str:
    """Why, in words that hold no path, user or password (the location says where)."""
    status = ntstatus(exc)
    if status is not None:
        return _status_name(status)
    if isinstance(exc, SMBAuthenticationError):
        return "authentication failed"
    if _lost(exc):
        return f"connection lost ({type(exc).__name__})"
    return type(exc).__name__


def _iso(filetime: int | datetime) -> str:
    if isinstance(filetime, datetime):
        dt = filetime if filetime.tzinfo else filetime.replace(tzinfo=timezone.utc)
    else:
        dt = datetime.fromtimestamp((filetime - _EPOCH_FILETIME) / 1e7, tz=timezone.utc)
    return dt.isoformat(timespec="microseconds").replace("+00:00", "Z")


def _ns(t: int | datetime) -> int:
    """Nanoseconds since the epoch from a FILETIME (or the datetime smbprotocol makes of it)."""
    if isinstance(t, datetime):
        dt = t if t.tzinfo else t.replace(tzinfo=timezone.utc)
        delta = dt - datetime(1970, 1, 1, tzinfo=timezone.utc)
        return (delta.days * 86400 + delta.seconds) * 10**9 + delta.microseconds * 1000
    return (t - _EPOCH_FILETIME) * 100


class Target:
    """A parsed ``smb://`` URL. ``password`` is kept out of every text form."""

    def __init__(self, url: str) -> None:
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as exc:
            raise ConfigError(f"bad smb:// URL ({exc})") from None
        if parts.scheme.lower() != "smb" or not parts.hostname:
            raise ConfigError("not an smb://HOST/SHARE/PATH URL")
        self.host = parts.hostname.lower()
        self.port = port or DEFAULT_PORT
        user = unquote(parts.username) if parts.username else None
        if user and ";" in user:  # smb://DOMAIN;user@host (the smb URL draft's form)
            domain, _, user = user.partition(";")
            user = f"{domain}\\{user}"
        self.user = user
        self.password = unquote(parts.password) if parts.password is not None else None
        segments = [unquote(s) for s in parts.path.split("/") if s]
        self.share: str | None = segments[0] if segments else None
        self.path = "/".join(segments[1:])
        host = f"[{self.host}]" if ":" in self.host else self.host
        #: ``smb://HOST[:PORT]``: the prefix of every item URI (no credentials).
        self.base = f"smb://{host}" + (f":{self.port}" if self.port != DEFAULT_PORT else "")

    def uri(self, share: str | None = None, path: str = "") -> str:
        """Public URI of a share path (each segment percent-encoded)."""
        share = self.share if share is None else share
        out = self.base + "/"
        if share:
            out += quote(share, safe="")
            if path:
                out += "/" + "/".join(quote(p, safe="") for p in path.split("/") if p)
        return out

    def unc(self, share: str, path: str = "") -> str:
        tail = "\\".join(p for p in path.split("/") if p)
        return f"\\\\{self.host}\\{share}" + (f"\\{tail}" if tail else "")

    def parse_uri(self, uri: str) -> tuple[str, str]:
        """(share, path) of an item URI under this host."""
        if not uri.startswith(self.base + "/"):
            raise SourceError("the item is not on this source's host", kind="source")
        segments = [unquote(s) for s in uri[len(self.base) + 1:].split("/") if s]
        if not segments:
            raise SourceError("the item names no share", kind="source")
        return segments[0], "/".join(segments[1:])


class SMBSource:
    """Files on an SMB share (or every share of a host).

    >>> src = SMBSource.from_url("smb://scanner@fs01/finance/exports/")   # doctest: +SKIP

    Options:

    ``password``
        Overrides the URL's and ``CARDSCAN_SMB_PASSWORD`` (library use).
    ``auth_protocol``
        ``negotiate`` (default: Kerberos if a ticket is there, else NTLM),
        ``ntlm`` or ``kerberos``.
    ``encrypt``
        Require SMB 3 encryption (default: whatever the server asks).
    ``exposure``
        Read each file's security descriptor (default True; one round trip
        per file). ``names``: name its readers through the server's LSA.
    ``connection_timeout``
        Seconds to wait for the server when connecting.
    ``buffer_size``
        Bytes per buffered read.
    ``include``, ``exclude``, ``max_file_size``
        As for files (gitignore patterns, matched against the path under
        the URL's folder, or under each share for ``smb://HOST/``).
    """

    name: ClassVar[str] = "smb"
    schemes: ClassVar[tuple[str, ...]] = ("smb",)

    def __init__(
        self,
        url: str,
        *,
        password: str | None = None,
        auth_protocol: str = "negotiate",
        encrypt: bool | None = None,
        exposure: bool = True,
        names: bool = True,
        connection_timeout: float = 30.0,
        buffer_size: int = DEFAULT_BUFFER_SIZE,
        include: Iterable[str] = (),
        exclude: Iterable[str] = (),
        max_file_size: int | None = None,
    ) -> None:
        self._target = Target(url)
        if password is None:
            password = self._target.password
        if password is None:
            password = os.environ.get(PASSWORD_ENV) or None
        self._password = password
        self._target.password = None
        if auth_protocol not in ("negotiate", "ntlm", "kerberos"):
            raise ConfigError(f"auth_protocol must be negotiate, ntlm or kerberos, not {auth_protocol!r}")
        self.auth_protocol = auth_protocol
        self.encrypt = encrypt
        self.exposure = bool(exposure)
        self.names = bool(names)
        self.connection_timeout = connection_timeout
        if buffer_size < 4096:
            raise ConfigError("buffer_size must be at least 4 KiB")
        self.buffer_size = buffer_size
        self.include, self.exclude = list(include), list(exclude)
        self._include = path_matcher(self.include, "--include")
        self._exclude = path_matcher(self.exclude, "--exclude")
        if max_file_size is not None and max_file_size < 0:
            raise ConfigError("max_file_size must not be negative")
        self.max_file_size = max_file_size
        #: Public URL of what is scanned (no user, no password).
        self.url = self._target.uri(self._target.share, self._target.path)
        self.user = self._target.user
        self.stats: dict[str, Any] = {"files": 0, "dirs": 0, "bytes": 0, "skipped": Counter()}
        self._cache: dict[str, Any] = {}
        self._pid = os.getpid()
        self._sid_names: dict[str, tuple[str, int] | None] = {}

    @classmethod
    def from_url(cls, url: str, **options: Any) -> "SMBSource":
        return cls(url, **options)

    def __repr__(self) -> str:
        return f"SMBSource({self.url!r}, user={self.user!r})"

    def options(self) -> dict[str, Any]:
        """Plain-data options (never the password)."""
        return {"auth_protocol": self.auth_protocol, "encrypt": self.encrypt, "exposure": self.exposure,
                "names": self.names, "connection_timeout": self.connection_timeout,
                "buffer_size": self.buffer_size, "include": list(self.include), "exclude": list(self.exclude),
                "max_file_size": self.max_file_size}

    def describe(self) -> dict[str, Any]:
        """What the scan record says about this source: the user, never the password."""
        return {"name": self.name, "url": self.url, "user": self.user, "options": self.options()}

    @property
    def root_uris(self) -> list[str]:
        return [self.url.rstrip("/")]

    def owns(self, item: Item) -> bool:
        """Several smb:// roots in one sweep: the item is under this one (same host, port, share, path)."""
        root = self.url.rstrip("/")
        return item.uri == root or item.uri.startswith(root + "/")

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_cache"] = {}
        state["stats"] = {"files": 0, "dirs": 0, "bytes": 0, "skipped": Counter()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()

    # -- the connection ----------------------------------------------------------
    def _kwargs(self) -> dict[str, Any]:
        if self._pid != os.getpid():  # forked: the parent's sockets and threads are not ours
            self._cache, self._pid = {}, os.getpid()
        return {"username": self.user, "password": self._password, "port": self._target.port,
                "connection_cache": self._cache, "auth_protocol": self.auth_protocol,
                "encrypt": self.encrypt, "connection_timeout": self.connection_timeout}

    @property
    def target(self) -> Target:
        """The parsed URL (host, port, share, path, user; never the password)."""
        return self._target

    def connection_kwargs(self) -> dict[str, Any]:
        """smbclient keyword arguments for this source's connection (remediation's low-level calls)."""
        return self._kwargs()

    def reset(self) -> None:
        """Drop this process's connection (after it broke); the next call reconnects."""
        cache, self._cache = self._cache, {}
        try:
            smbclient.reset_connection_cache(fail_on_error=False, connection_cache=cache)
        except Exception:  # noqa: BLE001 - a dead connection may fail to say goodbye
            pass

    def close(self) -> None:
        self.reset()

    def _call(self, fn: Any, *args: Any, **kwargs: Any) -> Any:
        """``fn(*args, **kwargs, **connection)``, once more on a fresh connection if the first one was lost."""
        try:
            return fn(*args, **kwargs, **self._kwargs())
        except Exception as exc:
            if not _lost(exc):
                raise
            self.reset()
            return fn(*args, **kwargs, **self._kwargs())

    # -- listing -------------------------------------------------------------------
    def items(self) -> Iterator[Item | ErrorRecord]:
        t = self._target
        if t.share is None:
            yield from self._all_shares()
            return
        yield from self._walk(t.share, t.path, explicit=True)

    def _all_shares(self) -> Iterator[Item | ErrorRecord]:
        t = self._target
        try:
            shares = self._call(self._list_shares)
        except Exception as exc:  # noqa: BLE001 - one record, the sweep goes on
            yield ErrorRecord(Location(uri=t.uri("")), error_kind(exc), f"cannot list shares: {error_message(exc)}")
            return
        for share in sorted(shares, key=lambda s: s.name.lower()):
            if not share.is_disk or share.is_special:
                self.stats["skipped"]["share_" + ("special" if share.is_special else "not_disk")] += 1
                continue
            yield from self._walk(share.name, "", explicit=False)

    def _list_shares(self, **kw: Any) -> list[smb_rpc.Share]:
        t = self._target
        with smbclient.open_file(t.unc("IPC$", "srvsvc"), mode="w+b", buffering=0, file_type="pipe", **kw) as pipe:
            return smb_rpc.list_shares(pipe)

    def _walk(self, share: str, path: str, explicit: bool) -> Iterator[Item | ErrorRecord]:
        t = self._target
        root_uri = t.uri(share, path)
        try:
            st = self._call(smbclient.stat, t.unc(share, path))
        except Exception as exc:  # noqa: BLE001
            if not explicit and error_kind(exc) == "permission":
                # smb://HOST/ scans the shares the user can read; the others are counted, not errors.
                self.stats["skipped"]["share_denied"] += 1
                log.info("share not readable with these credentials, skipped: %s", mask_name(root_uri))
                return
            yield ErrorRecord(Location(uri=root_uri), error_kind(exc), error_message(exc))
            return
        if not _stat.S_ISDIR(st.st_mode):
            info = {"end_of_file": st.st_size, "change_time": st.st_chgtime_ns, "last_write_time": st.st_mtime_ns,
                    "file_id": st.st_ino}
            # An explicit file is matched by its name, as the file source does.
            if self._selected(share, path, path.rsplit("/", 1)[-1], st.st_size):
                item = self._item(share, path, info, ns=True)
                if self.exposure:
                    self._name_readers([item])
                yield item
            return
        top = f"{path}/" if path else ""
        stack = [path]
        while stack:
            d = stack.pop()
            dir_uri = t.uri(share, d)
            self.stats["dirs"] += 1
            try:
                entries = self._call(lambda p, **kw: list(smbclient.scandir(p, **kw)), t.unc(share, d))
            except Exception as exc:  # noqa: BLE001 - access denied on a folder: record it, walk on
                yield ErrorRecord(Location(uri=dir_uri), error_kind(exc), error_message(exc))
                continue
            files, subdirs = [], []
            for e in sorted(entries, key=lambda e: e.name):
                info = e.smb_info
                rel = f"{d}/{e.name}" if d else e.name
                if info.file_attributes & _REPARSE_POINT:
                    self.stats["skipped"]["reparse_point"] += 1
                    continue
                under = rel[len(top):]  # what include/exclude patterns match
                if info.file_attributes & _DIRECTORY:
                    if self._exclude is not None and self._exclude.match_file(under + "/"):
                        self._skipped("excluded", share, rel)
                    else:
                        subdirs.append(rel)
                elif self._selected(share, rel, under, int(info.end_of_file)):
                    files.append((rel, info))
            items = [self._item(share, rel, {"end_of_file": i.end_of_file, "change_time": i.change_time,
                                             "last_write_time": i.last_write_time, "file_id": i.file_id})
                     for rel, i in files]
            if self.exposure:
                self._name_readers(items)
            yield from items
            stack.extend(reversed(subdirs))

    def _selected(self, share: str, path: str, under: str, size: int) -> bool:
        """Whether a file passes include/exclude/max_file_size (else it is counted as skipped)."""
        if self._exclude is not None and self._exclude.match_file(under):
            reason = "excluded"
        elif self._include is not None and not self._include.match_file(under):
            reason = "not_included"
        elif self.max_file_size is not None and size > self.max_file_size:
            reason = "too_large"
        else:
            return True
        self._skipped(reason, share, path)
        return False

    def _skipped(self, reason: str, share: str, path: str) -> None:
        self.stats["skipped"][reason] += 1
        log.debug("skipped (%s): %s", reason, mask_name(self._target.uri(share, path)))

    def _item(self, share: str, path: str, info: dict[str, Any], ns: bool = False) -> Item:
        t = self._target
        size = int(info["end_of_file"])
        change = info["change_time"] if ns else _ns(info["change_time"])
        write = info["last_write_time"] if ns else _ns(info["last_write_time"])
        ukey = f"{size}:{change}:{info['file_id']}"
        meta: dict[str, Any] = {
            "size": size,
            "mtime": _iso(datetime.fromtimestamp(write / 1e9, tz=timezone.utc)),
            "ukey": ukey,
            "share": share,
        }
        if self.exposure:
            meta.update(self._exposure(share, path))
        else:
            meta["exposure"] = "unknown"
        self.stats["files"] += 1
        self.stats["bytes"] += size
        return Item(uri=t.uri(share, path), source=self.name, size=size, mtime=write / 1e9, ukey=ukey, meta=meta)

    # -- exposure ------------------------------------------------------------------
    def security_descriptor(self, share: str, path: str) -> bytes:
        """The file's raw security descriptor (owner, group, DACL), in one round trip."""
        return self._call(self._query_sd, self._target.unc(share, path))

    @staticmethod
    def _query_sd(unc: str, **kw: Any) -> bytes:
        raw = SMBRawIO(unc, mode="r", share_access="rwd",
                       desired_access=FilePipePrinterAccessMask.READ_CONTROL, **kw)
        req = SMB2QueryInfoRequest()
        req["info_type"] = InfoType.SMB2_0_INFO_SECURITY
        req["output_buffer_length"] = 65536
        req["additional_information"] = (smb_acl.OWNER_SECURITY_INFORMATION | smb_acl.GROUP_SECURITY_INFORMATION
                                         | smb_acl.DACL_SECURITY_INFORMATION)

        def receive(request: Any) -> bytes:
            resp = SMB2QueryInfoResponse()
            resp.unpack(raw.fd.connection.receive(request)["data"].get_value())
            return resp["buffer"].get_value()

        with SMBFileTransaction(raw) as tx:
            req["file_id"] = raw.fd.file_id
            tx += (req, receive)
        return tx.results[0]

    def set_security_descriptor(self, share: str, path: str, descriptor: bytes, parts: int | None = None) -> None:
        """Set a file's security descriptor (``parts``: which of owner/group/DACL; default: those present).

        For keeping a descriptor across a rewrite, and for tests; the user
        needs WRITE_DAC (and WRITE_OWNER for the owner) on the file.
        """
        if parts is None:
            sd = smb_acl.parse(descriptor)
            parts = ((smb_acl.OWNER_SECURITY_INFORMATION if sd.owner else 0)
                     | (smb_acl.GROUP_SECURITY_INFORMATION if sd.group else 0)
                     | smb_acl.DACL_SECURITY_INFORMATION)
        self._call(self._set_sd, self._target.unc(share, path), descriptor, parts)

    @staticmethod
    def _set_sd(unc: str, descriptor: bytes, parts: int, **kw: Any) -> None:
        access = FilePipePrinterAccessMask.WRITE_DAC
        if parts & smb_acl.OWNER_SECURITY_INFORMATION or parts & smb_acl.GROUP_SECURITY_INFORMATION:
            access |= FilePipePrinterAccessMask.WRITE_OWNER
        raw = SMBRawIO(unc, mode="r", share_access="rwd", desired_access=access, **kw)
        req = SMB2SetInfoRequest()
        req["info_type"] = InfoType.SMB2_0_INFO_SECURITY
        req["additional_information"] = parts
        req["buffer"] = descriptor

        def receive(request: Any) -> Any:
            resp = SMB2SetInfoResponse()
            resp.unpack(raw.fd.connection.receive(request)["data"].get_value())
            return resp

        with SMBFileTransaction(raw) as tx:
            req["file_id"] = raw.fd.file_id
            tx += (req, receive)

    def _exposure(self, share: str, path: str) -> dict[str, Any]:
        try:
            sd = smb_acl.parse(self.security_descriptor(share, path))
        except smb_acl.DescriptorError as exc:
            return {"exposure": "unknown", "exposure_detail": f"unreadable security descriptor: {exc}"}
        except Exception as exc:  # noqa: BLE001 - no READ_CONTROL, a dropped connection ...
            return {"exposure": "unknown", "exposure_detail": f"security descriptor not readable: {error_message(exc)}"}
        out: dict[str, Any] = {"exposure": smb_acl.exposure(sd), "readers": smb_acl.readers(sd)}
        if sd.owner:
            out["owner"] = sd.owner
        if sd.group:
            out["group"] = sd.group
        if sd.notes:
            out["exposure_detail"] = "; ".join(sd.notes)
        return out

    def _name_readers(self, items: list[Item]) -> None:
        """The items' readers, owner and group for the manifest: named through
        the server's LSA when ``names`` (one call per batch of new SIDs),
        readers as ``user:NAME`` / ``group:NAME`` by SID type and ``*`` for
        Everyone (smb_acl.display), SIDs where no name is known."""
        if self.names:
            sids = {s for it in items for s in (it.meta.get("readers") or ()) if s}
            sids |= {it.meta[k] for it in items for k in ("owner", "group") if it.meta.get(k)}
            new = [s for s in sids if s not in self._sid_names and s not in smb_acl.WELL_KNOWN]
            if new:
                try:
                    found = self._call(self._lookup, new)
                except Exception as exc:  # noqa: BLE001 - names are a nicety: SIDs stay
                    log.info("SID look-up failed (%s); readers stay SIDs", error_message(exc))
                    found = {}
                for s in new:
                    self._sid_names[s] = found.get(s)
        known = {s: v for s, v in self._sid_names.items() if v}
        names = {s: v[0] for s, v in known.items()}
        for it in items:
            m = it.meta
            if "readers" in m:
                m["readers"] = [smb_acl.display(s, known) for s in m["readers"]]
            for k in ("owner", "group"):
                if m.get(k):
                    m[k] = mask_name(smb_acl.name(m[k], names))

    def _lookup(self, sids: list[str], **kw: Any) -> dict[str, tuple[str, int]]:
        t = self._target
        with smbclient.open_file(t.unc("IPC$", "lsarpc"), mode="w+b", buffering=0, file_type="pipe", **kw) as pipe:
            return smb_rpc.lookup_sids(pipe, sids)

    # -- opening -------------------------------------------------------------------
    def open(self, item: Item) -> BinaryIO:
        """A buffered, seekable stream of the file, read with SMB READs at offsets."""
        share, path = self._target.parse_uri(item.uri)
        unc = self._target.unc(share, path)
        try:
            raw = self._call(smbclient.open_file, unc, mode="rb", buffering=0, share_access="rwd")
        except Exception as exc:  # noqa: BLE001 - every failure is a record, never a traceback
            raise SourceError(error_message(exc), kind=error_kind(exc)) from None
        return io.BufferedReader(_Stream(raw, self), self.buffer_size)  # type: ignore[return-value]


class _Stream(io.RawIOBase):
    """An SMB file whose failures are SourceErrors without paths; a lost connection is reset."""

    def __init__(self, raw: Any, source: SMBSource) -> None:
        super().__init__()
        self._raw = raw
        self._source = source

    def _fail(self, exc: BaseException) -> SourceError:
        if _lost(exc):
            self._source.reset()
            return SourceError(f"{error_message(exc)} while reading", kind="io")
        return SourceError(error_message(exc), kind=error_kind(exc))

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        try:
            return self._raw.readinto(b)
        except (SMBException, OSError) as exc:
            raise self._fail(exc) from None

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._raw.seek(offset, whence)

    def tell(self) -> int:
        return self._raw.tell()

    def close(self) -> None:
        if not self.closed:
            try:
                self._raw.close()
            except (SMBException, OSError):
                pass  # the connection is gone; the handle went with it
        super().close()
