"""Who can read a local file: its mode, its POSIX ACL, and every directory above it.

A file is only as exposed as the most restrictive way to it allows: a 0644
file inside a 0700 directory is readable by that directory's owner alone.
:class:`LocalExposure` answers, for a file the walk listed, which principals
can *reach and read* it:

* every directory from ``/`` down to the file's (its real path, symlinks
  resolved: the one way that always exists) must grant search (``x``);
* the file must grant read (``r``);
* each check follows the kernel's (acl(5) "access check algorithm"): the
  owner entry for the owner, else a named-user entry (masked), else the
  owning-group and named-group entries (masked; one that grants suffices,
  and a matching group that does not grant denies: "other" is not
  consulted), else "other". Without an extended ACL that is the mode's
  owner/group/other bits. Default ACLs only shape new files: not consulted.

The principals asked are the ones that could make a difference: the owners,
owning groups and ACL-named users and groups of the file and of every
directory above it, plus "anyone else" (``*``, the "other" class). A user
is judged with its real groups (``os.getgrouplist``); a group as a member
of only that group. ``root`` reads everything and is not listed (as SYSTEM
and the administrators are not for SMB) unless it owns the file.

``exposure`` (the manifest's vocabulary, docs/manifest.md):
``world-readable`` when ``*`` can read; ``group-readable`` when any other
principal than the owner can (a group counts when the system lists members
of it besides the owner and root, or cannot say: ``grp`` members plus users
whose primary group it is); ``private`` otherwise; ``unknown`` when the ACL
could not be read. ``readers`` lists ``user:NAME``, ``group:NAME`` (getfacl
style: users and groups are separate name spaces) and ``*``, masked by
:func:`cardscan.privacy.mask_name` (a user named with a card number is shown
masked). ``group_members`` counts the members of each group reader.

Cost: one ``listxattr`` per file (the ACL, when there is one, costs a
``getxattr`` more); a directory's chain is computed once (one ``stat`` and
one ``listxattr`` per directory, its parent's chain reused), and files of a
directory that share owner, group, mode and ACL share one answer.
``benchmarks/bench_exposure.py`` measures it.
"""
from __future__ import annotations

import errno
import grp
import os
import pwd
import stat
import struct
from typing import Any, NamedTuple

from ..privacy import mask_name

ACL_ACCESS = "system.posix_acl_access"

# acl(5) entry tags, as stored in the xattr (include/uapi/linux/posix_acl.h).
USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER = 0x01, 0x02, 0x04, 0x08, 0x10, 0x20
_TAGS = frozenset({USER_OBJ, USER, GROUP_OBJ, GROUP, MASK, OTHER})
#: The xattr's header: a little-endian version number, 2.
ACL_VERSION = 2
R, W, X = 4, 2, 1

#: ``listxattr``/``getxattr`` errors that mean "this filesystem keeps no POSIX ACLs".
_NO_ACLS = frozenset({errno.EOPNOTSUPP, errno.ENOTSUP, errno.ENOSYS})

EVERYONE = "*"


class AclError(ValueError):
    """A ``system.posix_acl_access`` value that does not parse."""


# The NamedTuples of this module and of fs.py are made by call, with their
# fields' types as objects: the class form hands typing its annotations as
# text (``from __future__ import annotations``), and typing compiles each
# one (``ForwardRef``), the first compile() of a process also making the
# ``ast`` module's ~120 classes: ~10 M instructions (~2.5 ms) of every scan's
# start-up for these six tuples. Same classes otherwise (fields, pickling).

#: One ACL entry: ``tag``, ``perm``, and ``id``: the uid or gid for USER / GROUP entries, else None.
Entry = NamedTuple("Entry", [("tag", int), ("perm", int), ("id", int | None)])


def parse_acl(blob: bytes) -> tuple[Entry, ...]:
    """The entries of a ``system.posix_acl_access`` value (Linux's xattr format:
    a 4-byte version, then 8-byte entries: tag u16, perm u16, id u32, little-endian)."""
    if len(blob) < 4 or (len(blob) - 4) % 8:
        raise AclError(f"ACL of {len(blob)} bytes")
    (version,) = struct.unpack_from("<I", blob, 0)
    if version != ACL_VERSION:
        raise AclError(f"ACL version {version}")
    out = []
    for tag, perm, ident in struct.iter_unpack("<HHI", blob[4:]):
        if tag not in _TAGS:
            raise AclError(f"ACL entry tag {tag:#x}")
        out.append(Entry(tag, perm & 7, ident if tag in (USER, GROUP) else None))
    tags = [e.tag for e in out]
    if tags.count(USER_OBJ) != 1 or tags.count(GROUP_OBJ) != 1 or tags.count(OTHER) != 1:
        raise AclError("ACL without exactly one owner, group and other entry")
    if (USER in tags or GROUP in tags) and MASK not in tags:
        raise AclError("ACL with named entries and no mask")
    return tuple(out)


def pack_acl(entries: list[tuple[int, int, int | None]]) -> bytes:
    """The xattr value for ``entries`` (tag, perm, id): tests write ACLs with it."""
    body = b"".join(struct.pack("<HHI", tag, perm, 0xFFFFFFFF if ident is None else ident)
                    for tag, perm, ident in entries)
    return struct.pack("<I", ACL_VERSION) + body


#: The permission facts of one inode: ``uid``, ``gid``, ``mode`` (permission bits only) and
#: ``acl`` (None: no extended ACL, the mode says everything).
Perms = NamedTuple("Perms", [("uid", int), ("gid", int), ("mode", int), ("acl", tuple[Entry, ...] | None)])


def allowed(p: Perms, uid: int | None, groups: frozenset[int], want: int) -> bool:
    """Does a process with ``uid`` (None: a user no entry names) in ``groups``
    get ``want`` (``R``, ``X`` ...) on ``p``? The acl(5) algorithm; root is not asked here."""
    if p.acl is None:
        if uid == p.uid:
            bits = p.mode >> 6
        elif p.gid in groups:
            bits = p.mode >> 3
        else:
            bits = p.mode
        return bits & want == want
    mask = 7
    for e in p.acl:
        if e.tag == MASK:
            mask = e.perm
    if uid == p.uid:
        return next(e.perm for e in p.acl if e.tag == USER_OBJ) & want == want
    if uid is not None:
        for e in p.acl:
            if e.tag == USER and e.id == uid:
                return e.perm & mask & want == want
    matched = False
    for e in p.acl:
        if (e.tag == GROUP_OBJ and p.gid in groups) or (e.tag == GROUP and e.id in groups):
            if e.perm & mask & want == want:
                return True
            matched = True
    if matched:
        return False
    return next(e.perm for e in p.acl if e.tag == OTHER) & want == want


def named(p: Perms) -> tuple[set[int], set[int]]:
    """(uids, gids) that ``p`` names: owner, owning group, ACL entries."""
    users, groups = {p.uid}, {p.gid}
    for e in p.acl or ():
        if e.tag == USER and e.id is not None:
            users.add(e.id)
        elif e.tag == GROUP and e.id is not None:
            groups.add(e.id)
    return users, groups


#: A directory and every directory above it, as far as search permission goes: ``perms``
#: (from "/" down), ``paths``, ``users``, ``groups``, and ``problem``: a directory whose
#: permissions could not be read, or None.
_Chain = NamedTuple("_Chain", [("perms", tuple[Perms, ...]), ("paths", tuple[str, ...]), ("users", frozenset[int]),
                               ("groups", frozenset[int]), ("problem", str | None)])


def _mode_text(p: Perms) -> str:
    return stat.filemode(stat.S_IFDIR | p.mode) + ("+" if p.acl else "")


class LocalExposure:
    """Effective exposure of local files; one per process (it caches names,
    group memberships and directory chains). Safe to share between threads
    (the progress count walks the tree in a thread beside the sweep's walk):
    each call works on its own snapshot of the current directory, and the
    caches only ever gain entries that are true."""

    #: Directory chains and per-directory answers kept (a walk is depth first:
    #: a few thousand covers any real depth; past it the cache starts over).
    MAX_DIRS = 4096

    def __init__(self) -> None:
        self._chains: dict[str, _Chain] = {}
        #: (directory, its chain, answers by (uid, gid, mode, ACL)) of the directory last asked about.
        self._current: tuple[str, _Chain, dict[tuple[Any, ...], dict[str, Any]]] | None = None
        self._no_acls: set[int] = set()  # st_dev of filesystems without POSIX ACLs
        self._user_groups: dict[int, frozenset[int]] = {}
        self._members: dict[int, frozenset[str] | None] | None = None
        self._primary: dict[int, set[str]] = {}
        self._users: dict[int, str] = {}
        self._groups: dict[int, str] = {}

    # -- the one call the walk makes --------------------------------------------------
    def of(self, path: str, st: os.stat_result) -> dict[str, Any]:
        """``exposure``, ``readers`` (and ``group_members``, ``exposure_detail``
        when there is something to say) for the file at ``path`` with stat ``st``.
        The dict is shared between files with the same answer: do not modify it."""
        return self.of_ids(path, st.st_uid, st.st_gid, st.st_mode, st.st_dev)

    def of_ids(self, path: str, uid: int, gid: int, mode: int, dev: int) -> dict[str, Any]:
        """:meth:`of` for a stat's ``st_uid``, ``st_gid``, ``st_mode`` and ``st_dev``
        (a listed file's ``ListedMeta.perm``, with no stat-like object made for it)."""
        d = path.rpartition(os.sep)[0] or os.sep
        current = self._current  # one read: another thread may move it on meanwhile
        if current is None or current[0] != d:
            current = self._current = (d, self.chain(d), {})
        _, chain, memo = current
        acl = self._acl_blob(path, dev)
        key = (uid, gid, stat.S_IMODE(mode), acl)
        out = memo.get(key)
        if out is None:
            out = memo[key] = self._judge(chain, key)
        return out

    # -- reading permissions ---------------------------------------------------------------
    def _acl_blob(self, path: str, dev: int) -> bytes | OSError | None:
        """The file's access ACL as stored, None without one, the error when unreadable."""
        if dev in self._no_acls:
            return None
        try:
            # listxattr first: most files have no ACL, and a missing one costs
            # getxattr an exception (measured: listxattr is the cheaper probe).
            if ACL_ACCESS not in os.listxattr(path):
                return None
            return os.getxattr(path, ACL_ACCESS)
        except OSError as exc:
            if exc.errno in _NO_ACLS:
                self._no_acls.add(dev)
                return None
            if exc.errno == errno.ENODATA:  # removed between the two calls
                return None
            return exc

    def perms(self, path: str, st: os.stat_result | None = None) -> Perms:
        """The permission facts of ``path`` (raises OSError, AclError)."""
        if st is None:
            st = os.stat(path)
        blob = self._acl_blob(path, st.st_dev)
        if isinstance(blob, OSError):
            raise blob
        return Perms(st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode), parse_acl(blob) if blob else None)

    def chain(self, directory: str) -> _Chain:
        """The chain of an absolute, normalised directory path (cached; its
        parent's chain is reused, so a new directory costs one ``lstat`` and
        one ``listxattr``). A symlink on the way is judged by its target's
        real path, the one way to the data that always exists."""
        c = self._chains.get(directory)
        if c is not None:
            return c
        parent = os.path.dirname(directory)
        above = self.chain(parent) if parent != directory else _Chain((), (), frozenset(), frozenset(), None)
        try:
            st = os.lstat(directory)
            if stat.S_ISLNK(st.st_mode):
                real = os.path.realpath(directory)
                c = self.chain(real) if real != directory else above
            else:
                p = self.perms(directory, st)
                users, groups = named(p)
                c = _Chain(above.perms + (p,), above.paths + (directory,), above.users | users,
                           above.groups | groups, above.problem)
        except (OSError, AclError) as exc:
            problem = above.problem or f"{mask_name(directory)}: {type(exc).__name__}"
            c = _Chain(above.perms, above.paths, above.users, above.groups, problem)
        self._remember(directory, c)
        return c

    def _remember(self, key: str, c: _Chain) -> None:
        if len(self._chains) >= self.MAX_DIRS:
            self._chains.clear()
        self._chains[key] = c

    # -- names and memberships (the system's databases; cached) ---------------------------
    def user_name(self, uid: int) -> str:
        return _name_of(self._users, uid, lambda i: pwd.getpwuid(i).pw_name)

    def group_name(self, gid: int) -> str:
        return _name_of(self._groups, gid, lambda i: grp.getgrgid(i).gr_name)

    def groups_of(self, uid: int) -> frozenset[int]:
        """The groups a user is in (primary and supplementary); empty for an unknown uid."""
        got = self._user_groups.get(uid)
        if got is None:
            try:
                pw = pwd.getpwuid(uid)
                got = frozenset(os.getgrouplist(pw.pw_name, pw.pw_gid))
            except (KeyError, OSError):
                got = frozenset()
            self._user_groups[uid] = got
        return got

    def members(self, gid: int) -> frozenset[str] | None:
        """User names in a group: ``grp`` members and users whose primary group it is;
        None when the group database does not know the group."""
        if self._members is None:
            primary: dict[int, set[str]] = {}
            for pw in pwd.getpwall():
                primary.setdefault(pw.pw_gid, set()).add(pw.pw_name)
            self._primary = primary
            self._members = {}
        if gid not in self._members:
            try:
                g = grp.getgrgid(gid)
            except KeyError:
                self._members[gid] = None
            else:
                self._members[gid] = frozenset(g.gr_mem) | frozenset(self._primary.get(gid, ()))
        return self._members[gid]

    # -- the verdict -----------------------------------------------------------------------
    def _judge(self, chain: _Chain, key: tuple[int, int, int, Any]) -> dict[str, Any]:
        uid, gid, mode, blob = key
        if isinstance(blob, OSError):
            return {"exposure": "unknown",
                    "exposure_detail": f"ACL not readable: {blob.strerror or type(blob).__name__}"}
        try:
            acl = parse_acl(blob) if blob else None
        except AclError as exc:
            return {"exposure": "unknown", "exposure_detail": f"ACL not understood: {exc}"}
        f = Perms(uid, gid, mode, acl)
        f_users, f_groups = named(f)
        users = chain.users | f_users
        groups = chain.groups | f_groups

        def reaches(who: int | None, member_of: frozenset[int]) -> int:
            """-1: reads; else the index of the first directory that stops it (len: the file)."""
            for i, d in enumerate(chain.perms):
                if not allowed(d, who, member_of, X):
                    return i
            return -1 if allowed(f, who, member_of, R) else len(chain.perms)

        readers: list[str] = []
        stops: list[int] = []  # directories that keep out someone the file itself lets read
        shared = False
        owner = self.user_name(uid)

        def judge(who: int | None, member_of: frozenset[int]) -> bool:
            where = reaches(who, member_of)
            if 0 <= where < len(chain.perms) and allowed(f, who, member_of, R):
                stops.append(where)
            return where == -1

        for u in sorted(users):
            if u == 0:
                if uid == 0:  # root reads everything; listed only as the owner
                    readers.append("user:" + mask_name(owner))
                continue
            if judge(u, self.groups_of(u)):
                readers.append("user:" + mask_name(self.user_name(u)))
                shared |= u != uid
        group_members: dict[str, int] = {}
        for g in sorted(groups):
            if judge(None, frozenset((g,))):
                name = mask_name(self.group_name(g))
                readers.append("group:" + name)
                m = self.members(g)
                if m is not None:
                    group_members[name] = len(m)
                # A group whose only members are the owner (a user private
                # group) or root shares nothing; one the system cannot list may.
                shared |= m is None or bool(m - {owner, "root"})
        if judge(None, frozenset()):
            readers.append(EVERYONE)
            exposure = "world-readable"
        else:
            exposure = "group-readable" if shared else "private"
        out: dict[str, Any] = {"exposure": exposure, "readers": readers}
        if group_members:
            out["group_members"] = group_members
        details = []
        if stops:
            i = min(stops)
            details.append(f"{mask_name(chain.paths[i])} ({_mode_text(chain.perms[i])}) "
                           "keeps out some whom the file's own permissions let read")
        if chain.problem:
            details.append(f"permissions of a directory above not readable ({chain.problem})")
        if details:
            out["exposure_detail"] = "; ".join(details)
        return out


_local: LocalExposure | None = None
_pid = 0


def file_exposure(path: str, st: os.stat_result) -> dict[str, Any]:
    """:meth:`LocalExposure.of` on this process's evaluator (rebuilt after a fork)."""
    global _local, _pid
    if _local is None or _pid != os.getpid():
        _local, _pid = LocalExposure(), os.getpid()
    return _local.of(path, st)


def file_exposure_ids(path: str, uid: int, gid: int, mode: int, dev: int) -> dict[str, Any]:
    """:func:`file_exposure` from a stat's uid, gid, mode and dev (:meth:`LocalExposure.of_ids`)."""
    global _local, _pid
    if _local is None or _pid != os.getpid():
        _local, _pid = LocalExposure(), os.getpid()
    return _local.of_ids(path, uid, gid, mode, dev)


def _name_of(cache: dict[int, str], ident: int, lookup: Any) -> str:
    """A user or group name from the system's database, cached; the number
    itself when the database has no entry for it."""
    name = cache.get(ident)
    if name is None:
        try:
            name = lookup(ident)
        except KeyError:
            name = str(ident)
        cache[ident] = name
    return name
