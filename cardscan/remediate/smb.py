"""Files on SMB shares (``smb://HOST[:PORT]/SHARE/path``): redact, quarantine, delete, over SMB 2/3.

The connection is the scan's: the user name comes from the manifest's scan
record (its ``smb`` source), the password from ``CARDSCAN_SMB_PASSWORD``
(never from the manifest, which holds none), Kerberos otherwise.

Every action opens the file once (``FILE_OPEN_REPARSE_POINT``: a link is
never followed) sharing it for *reading only*, so no other client can write,
rename or delete it while it is checked: its SHA-256 (as the scan recorded
it) must be the manifest's or what this journal's earlier runs made of it,
its file id the scanned one, it must have a single link, and each finding's
span must hold the card by fingerprint. Then:

* redact: a temp file ``.cardscan-<random>.tmp`` is created in the same
  directory **with the original's security descriptor in the create
  request** (``SMB2_CREATE_SD_BUFFER``: owner, group and DACL; where the
  server refuses to set the owner or group, the DACL alone, and the result
  says which part could not be kept), so it is never readable by anyone the
  original was not; the masked content is written and flushed; the original
  is checked once more through its handle and closed, and the temp file is
  renamed over it through its *own* handle (``SET_INFO
  FileRenameInformation`` with ``ReplaceIfExists``: one atomic server-side
  operation; smbprotocol's ``replace()`` opens the destination with access
  Samba denies on a file others may not read). The replacement's
  descriptor is then read back: readers the original did not have are
  removed by setting the original DACL again, or the result is an error.
  A server that refuses the rename (or the create) changes nothing: the
  temp file is removed.
* delete: the verified handle itself is marked delete-on-close
  (``FileDispositionInformation``): exactly the file that was checked goes.
* quarantine (``--quarantine-to DIR``, a local directory checked as for
  files): the content read through the verified handle is written 0600
  under ``DIR/<host>/<share>/<path>``, synced, then the file is deleted as
  above. Quarantine onto the share itself is not offered (``unsupported``).

A tombstone ``<name>.cardscan-quarantined.txt`` / ``.cardscan-deleted.txt``
is created on the share (never over an existing file). Journal records name
the temp file by its URI (sealed when a name holds a number); a run after a
crash removes such temp files over SMB. Files are handled in memory, up to
``--max-rewrite-size``.
"""
from __future__ import annotations

import os
import re
import struct
import time
from typing import Any, ClassVar
from urllib.parse import quote

from smbclient._pool import get_smb_tree
from smbprotocol.create_contexts import CreateContextName, SMB2CreateContextRequest
from smbprotocol.exceptions import SMBException, SMBOSError, SMBResponseException
from smbprotocol.file_info import (
    FileBasicInformation,
    FileDispositionInformation,
    FileInternalInformation,
    FileRenameInformation,
    FileStandardInformation,
)
from smbprotocol.open import (
    CreateDisposition,
    CreateOptions,
    FileAttributes,
    FilePipePrinterAccessMask as Access,
    ImpersonationLevel,
    InfoType,
    Open,
    ShareAccess,
    SMB2QueryInfoRequest,
    SMB2QueryInfoResponse,
    SMB2SetInfoRequest,
    SMB2SetInfoResponse,
)

from .. import _files
from ..errors import CardscanError
from ..findings import Finding
from ..privacy import safe_message
from ..sources import smb_acl
from ..sources.smb import SMBSource, Target, error_kind, error_message, ntstatus as _status
from . import backup
from .base import NOTE_SUFFIX, Context, Result, note_body, object_id, parse_note, results, safe_display
from .containers import Rewriter, Unsupported, tree
from .files import Digests, Quarantine, QuarantineRefused, _spec, decide, identity, rescan_items, specs_of
from .journal import now_iso

#: NTSTATUS values this module tells apart ([MS-ERREF] 2.3.1).
_NOT_FOUND = {0xC0000034, 0xC000003A, 0xC000000F, 0xC0000056}
_SHARING_VIOLATION = 0xC0000043
_NAME_COLLISION = 0xC0000035
#: STATUS_INVALID_OWNER, STATUS_PRIVILEGE_NOT_HELD: this user may not give the file that owner or group.
_OWNER_REFUSED = {0xC000005A, 0xC0000061}
_REPARSE = 0x400  # FILE_ATTRIBUTE_REPARSE_POINT
_TEMP = re.compile(r"\.cardscan-[0-9a-f]{16}\.tmp")
_SD_PARTS = smb_acl.OWNER_SECURITY_INFORMATION | smb_acl.GROUP_SECURITY_INFORMATION | smb_acl.DACL_SECURITY_INFORMATION
#: SECURITY_DESCRIPTOR control bits kept on the copy (DACL present/protected/auto-inherited ...), not SACL/defaulted.
_KEEP_CONTROL = 0x0004 | 0x0400 | 0x1000 | 0x0100


class _Stale(CardscanError):
    pass


class _Handle:
    """One open file on a share: low-level SMB2 requests on its file id."""

    def __init__(self, tree_: Any, path: str) -> None:
        self.tree = tree_
        self.path = path  # share-relative, backslashes
        self.open = Open(tree_, path)

    def create(self, access: int, share: int, disposition: int, options: int = 0, sd: bytes | None = None,
               attributes: int = FileAttributes.FILE_ATTRIBUTE_NORMAL) -> "_Handle":
        contexts = None
        if sd is not None:
            ctx = SMB2CreateContextRequest()
            ctx["buffer_name"] = CreateContextName.SMB2_CREATE_SD_BUFFER
            ctx["buffer_data"] = sd
            contexts = [ctx]
        self.open.create(ImpersonationLevel.Impersonation, access, attributes, share, disposition,
                         options | CreateOptions.FILE_NON_DIRECTORY_FILE | CreateOptions.FILE_OPEN_REPARSE_POINT,
                         create_contexts=contexts)
        return self

    def _send(self, req: Any) -> Any:
        conn = self.open.connection
        sess = self.tree.session
        return conn.receive(conn.send(req, sess.session_id, self.tree.tree_connect_id))

    def query(self, cls: Any) -> Any:
        info = cls()
        req = SMB2QueryInfoRequest()
        req["info_type"] = info.INFO_TYPE
        req["file_info_class"] = info.INFO_CLASS
        req["output_buffer_length"] = len(info)
        req["file_id"] = self.open.file_id
        resp = SMB2QueryInfoResponse()
        resp.unpack(self._send(req)["data"].get_value())
        return resp.parse_buffer(cls)

    def security(self) -> bytes:
        req = SMB2QueryInfoRequest()
        req["info_type"] = InfoType.SMB2_0_INFO_SECURITY
        req["output_buffer_length"] = 65536
        req["additional_information"] = _SD_PARTS
        req["file_id"] = self.open.file_id
        resp = SMB2QueryInfoResponse()
        resp.unpack(self._send(req)["data"].get_value())
        return bytes(resp["buffer"].get_value())

    def set_info(self, info: Any) -> None:
        req = SMB2SetInfoRequest()
        req["info_type"] = info.INFO_TYPE
        req["file_info_class"] = info.INFO_CLASS
        req["file_id"] = self.open.file_id
        req["buffer"] = info
        SMB2SetInfoResponse().unpack(self._send(req)["data"].get_value())

    def set_security(self, sd: bytes, parts: int) -> None:
        req = SMB2SetInfoRequest()
        req["info_type"] = InfoType.SMB2_0_INFO_SECURITY
        req["additional_information"] = parts
        req["file_id"] = self.open.file_id
        req["buffer"] = sd
        SMB2SetInfoResponse().unpack(self._send(req)["data"].get_value())

    def read_all(self, cap: int) -> bytes:
        """The whole file (its size as the server gives it now; nobody may write it while we hold it)."""
        size = self.query(FileStandardInformation)["end_of_file"].get_value()
        if size > cap:
            raise Unsupported(f"the file is bigger than --max-rewrite-size ({cap} bytes)")
        step = max(4096, min(self.open.connection.max_read_size or 65536, 1 << 20))
        parts, at = [], 0
        while at < size:
            data = self.open.read(at, min(step, size - at))
            if not data:
                break
            parts.append(data)
            at += len(data)
        return b"".join(parts)

    def write_all(self, data: bytes) -> None:
        step = max(4096, min(self.open.connection.max_write_size or 65536, 1 << 20))
        for at in range(0, len(data), step):
            self.open.write(data[at:at + step], at)
        self.open.flush()

    def close(self) -> None:
        if self.open.connected:
            try:
                self.open.close()
            except (SMBException, OSError):
                pass  # the connection is gone; the handle went with it


def _sd_parts(raw: bytes) -> tuple[bytes, bytes, bytes, int]:
    """(owner SID, group SID, DACL, control) of a self-relative descriptor, as raw bytes (b"" if absent)."""
    if len(raw) < 20:
        raise smb_acl.DescriptorError("descriptor too short")
    _rev, _, control, o_owner, o_group, _o_sacl, o_dacl = struct.unpack_from("<BBHIIII", raw, 0)

    def sid(at: int) -> bytes:
        return raw[at:at + 8 + 4 * raw[at + 1]] if at else b""

    dacl = b""
    if control & smb_acl.SE_DACL_PRESENT and o_dacl:
        dacl = raw[o_dacl:o_dacl + struct.unpack_from("<H", raw, o_dacl + 2)[0]]
    return sid(o_owner), sid(o_group), dacl, control


def _sd_build(owner: bytes, group: bytes, dacl: bytes, control: int) -> bytes:
    """A self-relative descriptor of the given raw parts (the original's ACEs byte for byte)."""
    body, offsets, pos = b"", [], 20
    for part in (owner, group):
        offsets.append(pos if part else 0)
        body, pos = body + part, pos + len(part)
    ctl = (control & _KEEP_CONTROL & ~smb_acl.SE_DACL_PRESENT) | smb_acl.SE_SELF_RELATIVE
    if dacl:
        ctl |= smb_acl.SE_DACL_PRESENT
    return struct.pack("<BBHIIII", 1, 0, ctl, offsets[0], offsets[1], 0, pos if dacl else 0) + body + dacl


def _wider(before: bytes, after: bytes) -> list[str]:
    """Principals that may read ``after`` but not ``before`` (descriptors); none when everyone could already."""
    old, new = smb_acl.readers(smb_acl.parse(before)), smb_acl.readers(smb_acl.parse(after))
    if any(smb_acl.is_world(s) for s in old):
        return []
    return sorted(set(new) - set(old))


class SMBRemediator:
    """``smb://`` locations: the SMB source's files."""

    name: ClassVar[str] = "smb"

    def __init__(self) -> None:
        self._sources: dict[tuple[str, str | None], SMBSource] = {}
        #: The pipeline's description of each connection (for --verify), by id of the source.
        self._specs: dict[int, dict[str, Any]] = {}
        self._cleaned: set[str] = set()

    # -- connection ---------------------------------------------------------------
    def _scan_source(self, uri: str, ctx: Context) -> dict[str, Any]:
        """The manifest's smb source entry this location was scanned under (longest URL first)."""
        best: dict[str, Any] | None = None
        for scan in ctx.options.scan_records:
            for src in scan.get("sources") or ():
                url = str(src.get("url", "")) if isinstance(src, dict) else ""
                if src.get("name") != "smb" or not url:
                    continue
                root = url.rstrip("/")
                if (uri == root or uri.startswith(root + "/")) and (best is None or len(url) > len(best["url"])):
                    best = src
        if best is None:
            raise CardscanError("the manifest's scan records name no smb:// source for this file: "
                                "the user to connect as is unknown")
        return best

    def source(self, uri: str, ctx: Context) -> tuple[SMBSource, str, str]:
        """(the connection, share, path) for ``uri``: the scan's user, the password from the environment."""
        entry = self._scan_source(uri, ctx)
        target = Target(uri)
        user = entry.get("user")
        key = (target.base, user)
        src = self._sources.get(key)
        if src is None:
            auth = quote(str(user).replace("\\", ";"), safe=";") + "@" if user else ""
            url = target.base.replace("smb://", f"smb://{auth}", 1) + "/"
            options = {k: v for k, v in (entry.get("options") or {}).items()
                       if k in ("auth_protocol", "encrypt", "connection_timeout", "buffer_size")}
            src = self._sources[key] = SMBSource(url, **options)
            self._specs[id(src)] = {"name": "smb", "url": url, "options": {**options, "exposure": False}}
        share, path = src.target.parse_uri(uri)
        if not path:
            raise CardscanError("the location names a share, not a file")
        return src, share, path

    def _tree(self, src: SMBSource, share: str) -> Any:
        tree_, _ = get_smb_tree(src.target.unc(share), **_connection(src))
        return tree_

    # -- the protocol ---------------------------------------------------------------
    def remediate(self, findings: list[Finding], ctx: Context) -> list[Result]:
        action = ctx.options.action
        try:
            src, share, path = self.source(findings[0].location.uri, ctx)
        except CardscanError as exc:
            return results(findings, action, "error", safe_message(exc))
        try:
            tree_ = self._tree(src, share)
            self._clean_temps(tree_, src, share, ctx)
            if action == "quarantine" and "://" in (ctx.options.quarantine_to or ""):
                return results(findings, action, "unsupported",
                               "SMB files are quarantined to a local directory (--quarantine-to DIR): a move on the "
                               "share would keep the card on the share")
            return self._act(tree_, src, share, path, findings, ctx)
        except QuarantineRefused as exc:
            return results(findings, action, "error", str(exc))
        except (SMBException, OSError, ValueError) as exc:
            if _status(exc) is None and not isinstance(exc, SMBOSError):
                src.reset()  # a broken connection: the next object connects again
            return results(findings, action, "error", f"SMB: {error_message(exc)}")

    # -- every action ------------------------------------------------------------------
    def _act(self, tree_: Any, src: SMBSource, share: str, path: str, findings: list[Finding],
             ctx: Context) -> list[Result]:
        action = ctx.options.action
        rel = path.replace("/", "\\")
        access = Access.FILE_READ_DATA | Access.FILE_READ_ATTRIBUTES | Access.READ_CONTROL
        if action != "redact":
            access |= Access.DELETE
        orig = _Handle(tree_, rel)
        try:
            # Shared for reading only: nobody writes, renames or deletes it while it is checked.
            orig.create(access, ShareAccess.FILE_SHARE_READ, CreateDisposition.FILE_OPEN)
        except (SMBOSError, SMBResponseException) as exc:
            status = _status(exc)
            if status in _NOT_FOUND:
                return self._gone(tree_, rel, findings, action)
            if status == _SHARING_VIOLATION:
                return results(findings, action, "error", "the file is open for writing by another client; "
                               "nothing was changed (run again later)")
            return results(findings, action, "error" if error_kind(exc) != "not_found" else "stale",
                           f"SMB: {error_message(exc)}")
        try:
            return self._checked(tree_, src, share, rel, orig, findings, ctx)
        finally:
            orig.close()

    def _checked(self, tree_: Any, src: SMBSource, share: str, rel: str, orig: _Handle, findings: list[Finding],
                 ctx: Context) -> list[Result]:
        action = ctx.options.action
        opts = ctx.options
        uri = findings[0].location.uri
        oid = object_id(ctx.key, "smb", uri)
        basic = orig.query(FileBasicInformation)
        std = orig.query(FileStandardInformation)
        file_id = orig.query(FileInternalInformation)["index_number"].get_value()
        if int(basic["file_attributes"].get_value()) & _REPARSE:
            return results(findings, action, "unsupported", "the path is now a link (reparse point); remediate its target")
        links = std["number_of_links"].get_value()
        if links > 1:
            return results(findings, action, "unsupported",
                           f"the file has {links} hard links: the others would keep the card number; remove them first")
        try:
            data = orig.read_all(opts.max_rewrite_bytes)
        except Unsupported as exc:
            return results(findings, action, "unsupported", str(exc))
        specs = specs_of(findings)
        d = Digests(specs)
        d.update(data)
        current = d.result()

        def same_file(f: Finding) -> bool:
            parts = str(f.obj.get("ukey") or "").split(":")  # size:change_time:file_id (sources/smb.py)
            return not (len(parts) == 3 and parts[2].isdigit() and int(parts[2]) != file_id)

        if action == "redact":
            rw = Rewriter(ctx.key, opts.keep_last, opts.max_rewrite_bytes)
            try:
                new = rw.rewrite(data, rel.rsplit("\\", 1)[-1], tree(findings))
            except Unsupported as exc:
                return results(findings, action, "unsupported", str(exc))
            out = decide(findings, rw, ctx, oid, current, action, same_file)
            changing = [r for r in out if r.status == "planned"]
            if not changing or not ctx.apply or new is None:
                return out
            return self._redact(tree_, src, share, rel, orig, data, new, (basic, std, file_id), out, changing,
                                findings, ctx, oid)
        for f in findings:
            if not f.obj.get("sha256"):
                return results(findings, action, "unsupported",
                               "the manifest records no sha256 for this file: it cannot be verified")
            ident = identity(ctx, oid, f, current, same_file)
            if ident == "changed":
                return results(findings, action, "stale", "the file changed since the scan (sha256 differs); rescan it")
            if ident == "other-file":
                return results(findings, action, "stale", "another file now has this name (same content, another "
                               "file id than the one scanned); rescan it")
        before = current[_spec(findings[0].obj)]
        dest = None
        if action == "quarantine":
            if not opts.quarantine_to:
                return results(findings, action, "unsupported", "--quarantine-to DIR is needed")
            dest = os.path.join(os.path.abspath(opts.quarantine_to), _local_rel(src, share, rel))
        if not ctx.apply:
            return results(findings, action, "planned", before_sha256=before, destination=dest)
        ctx.begin(oid, safe_display(findings[0]), findings, before_sha256=before, destination=dest)
        backup_path = None
        if opts.backup_dir and action == "delete":
            backup_path = backup.write(opts.backup_dir, opts.backup_key or b"", f"{oid}-{_stamp()}",
                                       {"uri": uri, "sha256": before, "time": now_iso()}, data)
        try:
            if action == "quarantine":
                assert opts.quarantine_to is not None
                dest = _quarantine_copy(opts.quarantine_to, _local_rel(src, share, rel), data)
            ctx.checkpoint("before_rename")
            # The very handle that was checked is deleted: nothing else can take its place.
            disp = FileDispositionInformation()
            disp["delete_pending"] = True
            orig.set_info(disp)
            orig.close()
            ctx.checkpoint("after_rename")
        except BaseException:
            ctx.end(oid, "error")
            raise
        self._note(tree_, rel, action, findings, dest, ctx)
        ctx.end(oid, "done", before_sha256=before, destination=dest)
        return results(findings, action, "done", before_sha256=before, destination=dest, backup=backup_path)

    # -- redact -----------------------------------------------------------------------------
    def _redact(self, tree_: Any, src: SMBSource, share: str, rel: str, orig: _Handle, data: bytes, new: bytes,
                seen: tuple[Any, Any, int], out: list[Result], changing: list[Result], findings: list[Finding],
                ctx: Context, oid: str) -> list[Result]:
        opts = ctx.options
        uri = findings[0].location.uri
        spec = _spec(findings[0].obj)
        before_sha = Digests({spec})
        before_sha.update(data)
        after_sha = Digests({spec})
        after_sha.update(new)
        before, after = before_sha.result()[spec], after_sha.result()[spec]
        sd = orig.security()
        owner, group, dacl, control = _sd_parts(sd)
        directory = rel.rsplit("\\", 1)[0] + "\\" if "\\" in rel else ""
        temp_rel = directory + _files.temp_name()
        temp_uri = src.target.uri(share, temp_rel.replace("\\", "/"))
        ctx.begin(oid, safe_display(findings[0]), findings, temp=temp_uri)
        temp, notes = self._create_temp(tree_, temp_rel, owner, group, dacl, control, seen[0])
        try:
            temp.write_all(new)
            if opts.preserve_mtime:
                b = FileBasicInformation()
                b["last_write_time"] = seen[0]["last_write_time"].get_value()
                temp.set_info(b)
            ctx.prepared(oid, before_sha256=before, after_sha256=after, temp=temp_uri)
            backup_path = None
            if opts.backup_dir:
                backup_path = backup.write(opts.backup_dir, opts.backup_key or b"", f"{oid}-{_stamp()}",
                                           {"uri": uri, "sha256": before, "time": now_iso()}, data)
            # Nobody could write it while we held it (read-only sharing); say so once more, then let go.
            now_basic, now_std = orig.query(FileBasicInformation), orig.query(FileStandardInformation)
            if (now_basic["change_time"].get_value(), now_std["end_of_file"].get_value()) != (
                    seen[0]["change_time"].get_value(), seen[1]["end_of_file"].get_value()):
                raise _Stale("the file changed while it was being remediated; nothing was changed")
            ctx.checkpoint("before_rename")
            orig.close()  # Samba refuses to replace a file the client itself holds open
            rename = FileRenameInformation()
            rename["replace_if_exists"] = True
            rename["file_name"] = rel
            try:
                temp.set_info(rename)
            except (SMBOSError, SMBResponseException) as exc:
                raise _Refused(f"the server refused to replace the file atomically ({error_message(exc)}); "
                               "nothing was changed") from None
            ctx.checkpoint("after_rename")
        except BaseException as exc:
            _discard(temp)
            if isinstance(exc, _Stale):
                ctx.end(oid, "stale")
                return results(findings, "redact", "stale", str(exc))
            if isinstance(exc, _Refused):
                ctx.end(oid, "error")
                return results(findings, "redact", "error", str(exc))
            ctx.end(oid, "error")
            raise
        try:
            notes += self._check_descriptor(temp, sd, dacl, control)
        finally:
            temp.close()
        problem = [n for n in notes if n.startswith("!")]
        status = "error" if problem else "done"
        for r in changing:
            r.status = status
            r.before_sha256, r.after_sha256 = before, after
            r.backup = backup_path
            r.message = "; ".join(n.lstrip("!") for n in notes)
        for r in out:
            r.before_sha256 = r.before_sha256 or before
        ctx.end(oid, "done", before_sha256=before, after_sha256=after)
        return out

    def _create_temp(self, tree_: Any, temp_rel: str, owner: bytes, group: bytes, dacl: bytes, control: int,
                     basic: Any) -> tuple[_Handle, list[str]]:
        """The temp file, created with the original's descriptor in the create request.

        Owner and group can only be given where the server allows this user
        to set them; then fewer parts are given (the DACL always: it decides
        who may read). A create the server refused may still have left an
        empty file (Samba makes the file before it applies the descriptor):
        it is removed before the next attempt.
        """
        access = (Access.FILE_WRITE_DATA | Access.FILE_READ_ATTRIBUTES | Access.FILE_WRITE_ATTRIBUTES
                  | Access.READ_CONTROL | Access.WRITE_DAC | Access.DELETE | Access.SYNCHRONIZE)
        # (read-only, directory and reparse bits are not the new file's to carry)
        attrs = int(basic["file_attributes"].get_value()) & ~(0x1 | 0x10 | _REPARSE) or FileAttributes.FILE_ATTRIBUTE_NORMAL
        attempts: list[tuple[bytes, bytes, list[str]]] = [(owner, group, [])]
        if group:
            attempts.append((owner, b"", ["group not preserved (not permitted)"]))
        if owner:
            attempts.append((b"", b"", ["owner and group not preserved (not permitted)"]))
        last: BaseException | None = None
        for o, g, notes in attempts:
            h = _Handle(tree_, temp_rel)
            try:
                h.create(access, 0, CreateDisposition.FILE_CREATE, sd=_sd_build(o, g, dacl, control), attributes=attrs)
                return h, notes
            except (SMBOSError, SMBResponseException) as exc:
                if _status(exc) not in _OWNER_REFUSED and error_kind(exc) != "permission":
                    raise
                last = exc
                self._remove_leftover(tree_, temp_rel)
        assert last is not None
        raise last

    def _check_descriptor(self, h: _Handle, sd: bytes, dacl: bytes, control: int) -> list[str]:
        """Read the replacement's descriptor back; put the DACL back if it lets more principals read."""
        try:
            now = h.security()
            wider = _wider(sd, now)
            if wider:
                h.set_security(_sd_build(b"", b"", dacl, control), smb_acl.DACL_SECURITY_INFORMATION)
                wider = _wider(sd, h.security())
        except (SMBException, OSError, smb_acl.DescriptorError) as exc:
            return [f"!the replacement's security descriptor could not be checked ({error_message(exc)}); "
                    "check who may read the file"]
        if wider:
            return [f"!the replacement may be read by {len(wider)} principal(s) the original was not: fix its "
                    "permissions (the card number in it is masked)"]
        return []

    # -- the rest ---------------------------------------------------------------------------
    def _remove_leftover(self, tree_: Any, rel: str) -> None:
        h = _Handle(tree_, rel)
        try:
            h.create(Access.DELETE | Access.FILE_READ_ATTRIBUTES, ShareAccess.FILE_SHARE_READ,
                     CreateDisposition.FILE_OPEN)
        except (SMBException, OSError):
            return
        _discard(h)

    def _clean_temps(self, tree_: Any, src: SMBSource, share: str, ctx: Context) -> None:
        """Remove the temp files interrupted runs left on this share (named in the journal)."""
        if ctx.journal is None or not ctx.apply:
            return
        prefix = src.target.uri(share) + "/"
        if prefix in self._cleaned:
            return
        self._cleaned.add(prefix)
        for temp in ctx.journal.unfinished_temps():
            if temp.startswith(prefix) and _TEMP.fullmatch(temp.rsplit("/", 1)[-1]):
                try:
                    _, path = src.target.parse_uri(temp)
                except CardscanError:
                    continue
                self._remove_leftover(tree_, path.replace("/", "\\"))

    def _gone(self, tree_: Any, rel: str, findings: list[Finding], action: str) -> list[Result]:
        ids = {f.id for f in findings}
        for done in ("quarantine", "delete"):
            note = self._read_note(tree_, rel, done)
            if note is not None and ids <= note["ids"]:
                return results(findings, action, "already_remediated",
                               f"{'quarantined' if done == 'quarantine' else 'deleted'} earlier",
                               destination=note.get("destination"))
        return results(findings, action, "stale", "the file no longer exists")

    def _note_names(self, rel: str, action: str) -> list[str]:
        stem = NOTE_SUFFIX[action]
        return [rel + (stem if n == 0 else f"{stem[:-4]}.{n}.txt") for n in range(20)]

    def _note(self, tree_: Any, rel: str, action: str, findings: list[Finding], dest: str | None,
              ctx: Context) -> None:
        body = note_body("file", action, findings, dest, ctx)
        for name in self._note_names(rel, action):
            h = _Handle(tree_, name)
            try:
                h.create(Access.FILE_WRITE_DATA | Access.FILE_READ_ATTRIBUTES, 0, CreateDisposition.FILE_CREATE)
            except (SMBOSError, SMBResponseException) as exc:
                if _status(exc) == _NAME_COLLISION:
                    continue  # never overwrite somebody's file (or an earlier note)
                return  # the journal and the audit log still say what happened
            try:
                h.write_all(body)
            finally:
                h.close()
            return

    def _read_note(self, tree_: Any, rel: str, action: str) -> dict[str, Any] | None:
        ids: set[str] = set()
        dest = None
        found = False
        for name in self._note_names(rel, action):
            h = _Handle(tree_, name)
            try:
                h.create(Access.FILE_READ_DATA | Access.FILE_READ_ATTRIBUTES, ShareAccess.FILE_SHARE_READ,
                         CreateDisposition.FILE_OPEN)
            except (SMBException, OSError):
                if found or not name.endswith(NOTE_SUFFIX[action]):
                    break
                continue
            try:
                parsed = parse_note(h.read_all(1 << 20).decode("utf-8", "replace"))
            except (SMBException, OSError, Unsupported):
                continue
            finally:
                h.close()
            found = True
            ids |= parsed["ids"]
            dest = parsed["destination"] or dest
        return {"ids": ids, "destination": dest} if found else None

    # -- --verify ----------------------------------------------------------------------------
    def rescan(self, findings: list[Finding], ctx: Context) -> list[Finding]:
        """The file read again through the sweep's pipeline (nothing if it is gone)."""
        from ..sources.base import Item

        uri = findings[0].location.uri
        src, share, path = self.source(uri, ctx)
        try:
            h = _Handle(self._tree(src, share), path.replace("/", "\\"))
            h.create(Access.FILE_READ_ATTRIBUTES, ShareAccess.FILE_SHARE_READ | ShareAccess.FILE_SHARE_WRITE
                     | ShareAccess.FILE_SHARE_DELETE, CreateDisposition.FILE_OPEN)
            h.close()
        except (SMBOSError, SMBResponseException) as exc:
            if _status(exc) in _NOT_FOUND:
                return []
            raise CardscanError(f"the rescan could not open the file: {error_message(exc)}") from None
        return rescan_items([Item(uri=uri, source="smb")], [dict(self._specs[id(src)])], ctx)


class _Refused(CardscanError):
    pass


def _connection(src: SMBSource) -> dict[str, Any]:
    kw = src.connection_kwargs()
    return {k: kw[k] for k in ("username", "password", "port", "connection_cache", "auth_protocol", "encrypt",
                               "connection_timeout") if k in kw}


def _discard(h: _Handle) -> None:
    """Delete an open temp file (delete-on-close on its own handle), then close it."""
    try:
        disp = FileDispositionInformation()
        disp["delete_pending"] = True
        h.set_info(disp)
    except (SMBException, OSError):
        pass
    h.close()


def _local_rel(src: SMBSource, share: str, rel: str) -> str:
    """Where under a local quarantine directory a share's file goes: ``host[_port]/share/path``."""
    t = src.target
    host = t.host + (f"_{t.port}" if t.port != 445 else "")
    return os.path.join(host, share, *[p for p in rel.split("\\") if p])


def _quarantine_copy(root: str, rel: str, data: bytes) -> str:
    """``data`` written 0600 under the checked quarantine directory (a new name if taken); its path."""
    q = Quarantine(root).directory(os.sep + os.path.dirname(rel))
    name = os.path.basename(rel)
    try:
        tmp = _files.temp_name()
        fd = _files.open_new(tmp, dir_fd=q.fd)
        try:
            _files.write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        final = name
        for n in range(10_000):
            final = name if n == 0 else f"{name}.{n}"
            try:
                os.link(tmp, final, src_dir_fd=q.fd, dst_dir_fd=q.fd, follow_symlinks=False)
                break
            except FileExistsError:
                continue
        os.unlink(tmp, dir_fd=q.fd)
        _files.fsync_fd(q.fd)
        return os.path.join(q.path, final)
    finally:
        q.close()


def _stamp() -> str:
    return time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())

