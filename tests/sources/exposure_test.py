"""Effective exposure of local files (cardscan/sources/exposure.py): real
directories, real POSIX ACLs (the xattr written by the test, and by setfacl
where it is installed), real users and groups (created by the tests as root,
removed after)."""
from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest

from cardscan.sources.base import Item
from cardscan.sources.exposure import (
    ACL_ACCESS,
    GROUP,
    GROUP_OBJ,
    MASK,
    OTHER,
    USER,
    USER_OBJ,
    AclError,
    Entry,
    LocalExposure,
    Perms,
    R,
    X,
    allowed,
    pack_acl,
    parse_acl,
)
from cardscan.sources.fs import FileSource, object_meta, uri_to_path
from cardscan.testing import make_pan

ROOT_ONLY = "creating users and groups needs root"


def meta_of(root: Path) -> dict[str, dict[str, Any]]:
    return {os.path.relpath(uri_to_path(i.uri), root): object_meta(i) for i in FileSource(root).items() if isinstance(i, Item)}


def fresh(path: Path, st_path: Path | None = None) -> dict[str, Any]:
    """The exposure of one file, by a fresh evaluator (no cache from another test)."""
    return LocalExposure().of(str(path), os.stat(st_path or path))


def set_acl(path: Path, entries: list[tuple[int, int, int | None]], default: bool = False) -> None:
    os.setxattr(path, "system.posix_acl_default" if default else ACL_ACCESS, pack_acl(entries))


def write(path: Path, mode: int, text: str = "x\n") -> Path:
    path.write_text(text)
    path.chmod(mode)
    return path


@pytest.fixture
def acls(open_tmp_path: Path) -> Path:
    """``open_tmp_path`` if its filesystem keeps POSIX ACLs, else skip."""
    probe = write(open_tmp_path / ".probe", 0o600)
    try:
        set_acl(probe, [(USER_OBJ, 6, None), (GROUP_OBJ, 0, None), (OTHER, 0, None)])
    except OSError as exc:
        pytest.skip(f"no POSIX ACLs on this filesystem ({exc.strerror})")
    finally:
        probe.unlink()
    return open_tmp_path


class Accounts:
    """Users and groups made for one test (removed afterwards)."""

    def __init__(self) -> None:
        self.tag = uuid.uuid4().hex[:6]
        self.users: list[str] = []
        self.groups: list[str] = []

    def group(self, name: str | None = None) -> tuple[str, int]:
        name = name or f"csg{self.tag}{len(self.groups)}"
        subprocess.run(["groupadd", name], check=True, capture_output=True)
        self.groups.append(name)
        import grp

        return name, grp.getgrnam(name).gr_gid

    def user(self, *, groups: tuple[str, ...] = (), primary: str | None = None) -> tuple[str, int]:
        name = f"csu{self.tag}{len(self.users)}"
        cmd = ["useradd", "--no-create-home", "--shell", "/usr/sbin/nologin"]
        cmd += ["--gid", primary] if primary else ["--user-group"]
        if groups:
            cmd += ["--groups", ",".join(groups)]
        subprocess.run(cmd + [name], check=True, capture_output=True)
        self.users.append(name)
        import pwd

        return name, pwd.getpwnam(name).pw_uid

    def remove(self) -> None:
        for u in reversed(self.users):
            subprocess.run(["userdel", u], capture_output=True)
        for g in reversed(self.groups):
            subprocess.run(["groupdel", g], capture_output=True)


@pytest.fixture
def accounts() -> Iterator[Accounts]:
    if os.geteuid() != 0:
        pytest.skip(ROOT_ONLY)
    if not shutil.which("useradd"):
        pytest.skip("useradd is not installed")
    a = Accounts()
    try:
        yield a
    finally:
        a.remove()


# -- the ACL format and the kernel's rule, pure ----------------------------------------

def test_acl_xattr_round_trips_and_matches_setfacl(tmp_path: Path) -> None:
    entries = [(USER_OBJ, 6, None), (USER, 4, 65534), (GROUP_OBJ, 4, None), (GROUP, 6, 1), (MASK, 6, None),
               (OTHER, 4, None)]
    assert parse_acl(pack_acl(entries)) == tuple(Entry(*e) for e in entries)
    if shutil.which("setfacl") is None:
        pytest.skip("setfacl (Debian package acl) is not installed: the format is checked against pack_acl only")
    f = write(tmp_path / "f", 0o644)
    try:
        subprocess.run(["setfacl", "-m", "u:65534:r,g:1:rw", str(f)], check=True, capture_output=True)
    except subprocess.CalledProcessError as exc:
        pytest.skip(f"setfacl refused: {exc.stderr.decode(errors='replace').strip()}")
    assert os.getxattr(f, ACL_ACCESS) == pack_acl(entries)
    assert parse_acl(os.getxattr(f, ACL_ACCESS)) == tuple(Entry(*e) for e in entries)


@pytest.mark.parametrize("blob, why", [
    (b"", "ACL of 0 bytes"),
    (b"\x02\x00\x00\x00\x01\x00", "ACL of 6 bytes"),
    (pack_acl([(USER_OBJ, 6, None), (GROUP_OBJ, 4, None), (OTHER, 4, None)])[:4].replace(b"\x02", b"\x03")
     + pack_acl([(USER_OBJ, 6, None), (GROUP_OBJ, 4, None), (OTHER, 4, None)])[4:], "ACL version 3"),
    (pack_acl([(USER_OBJ, 6, None), (0x40, 4, None), (GROUP_OBJ, 4, None), (OTHER, 4, None)]), "tag 0x40"),
    (pack_acl([(USER_OBJ, 6, None), (OTHER, 4, None)]), "exactly one"),
    (pack_acl([(USER_OBJ, 6, None), (USER, 4, 7), (GROUP_OBJ, 4, None), (OTHER, 4, None)]), "no mask"),
])
def test_malformed_acls_are_refused(blob: bytes, why: str) -> None:
    with pytest.raises(AclError, match=why):
        parse_acl(blob)


def test_access_check_follows_acl5() -> None:
    plain = Perms(1000, 100, 0o604, None)
    assert allowed(plain, 1000, frozenset(), R)            # owner class: rw-
    assert not allowed(plain, None, frozenset({100}), R)   # owning group class: --- (other is not consulted)
    assert allowed(plain, None, frozenset({5}), R)         # anyone else: r--
    assert not allowed(Perms(1000, 100, 0o077, None), 1000, frozenset({100}), R)  # the owner gets the owner bits only
    acl = (Entry(USER_OBJ, 6, None), Entry(USER, 4, 2000), Entry(USER, 4, 2001), Entry(GROUP_OBJ, 0, None),
           Entry(GROUP, 4, 300), Entry(MASK, 4, None), Entry(OTHER, 0, None))
    p = Perms(1000, 100, 0o640, acl)
    assert allowed(p, 2000, frozenset(), R)                # named user, within the mask
    assert allowed(p, None, frozenset({300}), R)           # named group
    assert not allowed(p, None, frozenset({100}), R)       # owning group entry: ---
    assert allowed(p, None, frozenset({100, 300}), R)      # one matching group entry that grants suffices
    assert not allowed(p, None, frozenset(), R)            # other: ---
    masked = p._replace(acl=tuple(e._replace(perm=0) if e.tag == MASK else e for e in acl))
    assert not allowed(masked, 2000, frozenset(), R)       # the mask caps named users ...
    assert not allowed(masked, None, frozenset({300}), R)  # ... and groups
    assert allowed(masked, 1000, frozenset(), R)           # not the owner
    d = Perms(0, 0, 0o711, None)
    assert allowed(d, None, frozenset(), X) and not allowed(d, None, frozenset(), R)


# -- real directories ---------------------------------------------------------------------

def test_directories_above_limit_a_world_readable_file(open_tmp_path: Path) -> None:
    root = open_tmp_path
    (root / "open").mkdir(mode=0o755)
    (root / "closed").mkdir()
    (root / "closed").chmod(0o700)
    (root / "search_only").mkdir()
    (root / "search_only").chmod(0o711)
    write(root / "open" / "a.csv", 0o644)
    write(root / "closed" / "b.csv", 0o644)
    write(root / "search_only" / "c.csv", 0o644)
    meta = meta_of(root)
    assert meta["open/a.csv"]["exposure"] == "world-readable" and "*" in meta["open/a.csv"]["readers"]
    b = meta["closed/b.csv"]
    assert b["mode"] == "0644" and b["exposure"] == "private"
    assert "*" not in b["readers"] and b["readers"][0] == f"user:{b['owner']}"
    assert "closed (drwx------)" in b["exposure_detail"]
    # search without read on the directory: the name must be known, the file is still reachable
    assert meta["search_only/c.csv"]["exposure"] == "world-readable"


def test_every_ancestor_up_to_the_root_counts(tmp_path: Path) -> None:
    # pytest's temp root is 0700: a 0644 file deep below it is private, whatever the directories in between say
    deep = tmp_path / "a" / "b"
    deep.mkdir(parents=True)
    for d in (tmp_path / "a", deep):
        d.chmod(0o755)
    f = write(deep / "f.txt", 0o644)
    out = fresh(f)
    assert out["exposure"] == "private", out
    top = next(p for p in reversed(f.parents) if p.stat().st_mode & 0o077 == 0)  # the outermost that stops others
    assert str(top) in out["exposure_detail"]


def test_a_symlinked_root_is_judged_by_its_real_path(open_tmp_path: Path, tmp_path: Path) -> None:
    hidden = tmp_path / "data"  # under the 0700 temp root
    hidden.mkdir()
    write(hidden / "f.csv", 0o644)
    link = open_tmp_path / "link"
    link.symlink_to(hidden)
    [item] = [i for i in FileSource(link).items() if isinstance(i, Item)]
    assert object_meta(item)["exposure"] == "private"


def test_default_acls_do_not_apply_to_access(acls: Path) -> None:
    d = acls / "d"
    d.mkdir(mode=0o755)
    f = write(d / "f", 0o600)
    set_acl(d, [(USER_OBJ, 7, None), (GROUP_OBJ, 5, None), (OTHER, 5, None)], default=True)
    set_acl(f, [(USER_OBJ, 6, None), (GROUP_OBJ, 0, None), (OTHER, 0, None)])  # a minimal ACL: the mode
    assert fresh(f)["exposure"] == "private"


def test_unreadable_or_bad_acl_is_unknown() -> None:
    ev = LocalExposure()
    chain = ev.chain("/")
    out = ev._judge(chain, (0, 0, 0o644, b"\x02\x00\x00\x00\xff"))
    assert out["exposure"] == "unknown" and "not understood" in out["exposure_detail"]
    out = ev._judge(chain, (0, 0, 0o644, PermissionError(13, "Permission denied")))
    assert out == {"exposure": "unknown", "exposure_detail": "ACL not readable: Permission denied"}


def test_files_of_a_directory_share_one_chain(open_tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    for i in range(20):
        write(open_tmp_path / f"f{i}", 0o644)
    ev = LocalExposure()
    calls = []
    real_lstat = os.lstat
    monkeypatch.setattr(os, "lstat", lambda p, *a, **k: calls.append(p) or real_lstat(p, *a, **k))
    answers = [ev.of(str(open_tmp_path / f"f{i}"), os.stat(open_tmp_path / f"f{i}")) for i in range(20)]
    assert len(calls) == len(open_tmp_path.parts)  # each directory once, "/" included
    assert all(a is answers[0] for a in answers)  # same owner, group, mode, ACL: one answer


def test_of_ids_is_of_and_keeps_each_files_acl(acls: Path) -> None:
    # file_exposure_ids (a listed file's perm tuple, no stat object) answers
    # as file_exposure: per file, so a file of the directory with an ACL of
    # its own gets its own answer, the next one without gets the shared one.
    from cardscan.sources.exposure import file_exposure, file_exposure_ids

    files = [write(acls / f"f{i}", 0o600) for i in range(4)]
    set_acl(files[1], [(USER_OBJ, 6, None), (USER, 4, 12345), (GROUP_OBJ, 0, None), (MASK, 4, None), (OTHER, 0, None)])
    files[2].chmod(0o644)
    got = []
    for f in files + files[::-1]:
        st = os.stat(f)
        a = file_exposure_ids(str(f), st.st_uid, st.st_gid, st.st_mode, st.st_dev)
        assert a == file_exposure(str(f), st) == fresh(f)
        assert a == LocalExposure().of_ids(str(f), st.st_uid, st.st_gid, st.st_mode, st.st_dev)
        got.append(a)
    assert got[0] == got[3] and got[1] != got[0] and got[2] != got[0]
    assert "user:12345" in got[1]["readers"] and "user:12345" not in got[0]["readers"]


# -- real users and groups ----------------------------------------------------------------

def test_group_readable_needs_members_besides_the_owner(open_tmp_path: Path, accounts: Accounts) -> None:
    team, team_gid = accounts.group()
    alice, alice_uid = accounts.user(groups=(team,))
    accounts.user(groups=(team,))  # bob
    import pwd

    alice_private_gid = pwd.getpwnam(alice).pw_gid  # her user private group: only her
    shared = write(open_tmp_path / "shared.csv", 0o640)
    os.chown(shared, alice_uid, team_gid)
    upg = write(open_tmp_path / "upg.csv", 0o640)
    os.chown(upg, alice_uid, alice_private_gid)
    out = fresh(shared)
    assert out["exposure"] == "group-readable"
    # bob is no reader by name: no entry names him; the group he is in is
    assert out["readers"] == [f"user:{alice}", f"group:{team}"]
    assert out["group_members"][team] == 2
    out = fresh(upg)
    assert out["exposure"] == "private", out
    assert out["readers"] == [f"user:{alice}", f"group:{alice}"] and out["group_members"] == {alice: 1}


def test_a_directory_group_and_owner_are_readers_through_it(open_tmp_path: Path, accounts: Accounts) -> None:
    staff, staff_gid = accounts.group()
    alice, alice_uid = accounts.user()
    bob, bob_uid = accounts.user()
    d = open_tmp_path / "team"
    d.mkdir()
    os.chown(d, bob_uid, staff_gid)
    d.chmod(0o750)
    f = write(d / "notes.txt", 0o644)
    os.chown(f, alice_uid, alice_uid)
    out = fresh(f)
    # alice owns the file but cannot reach it; bob (the directory's owner) and staff can, through "other"
    assert out["exposure"] == "group-readable"
    assert f"user:{alice}" not in out["readers"]
    assert f"user:{bob}" in out["readers"] and f"group:{staff}" in out["readers"] and "*" not in out["readers"]


def test_named_acl_entries_are_readers_within_the_mask(acls: Path, accounts: Accounts) -> None:
    carol, carol_uid = accounts.user()
    auditors, auditors_gid = accounts.group()
    f = write(acls / "payroll.csv", 0o600)
    set_acl(f, [(USER_OBJ, 6, None), (USER, 4, carol_uid), (GROUP_OBJ, 0, None), (GROUP, 4, auditors_gid),
                (MASK, 4, None), (OTHER, 0, None)])
    out = fresh(f)
    assert out["exposure"] == "group-readable"
    assert f"user:{carol}" in out["readers"] and f"group:{auditors}" in out["readers"]
    if shutil.which("getfacl"):  # the same principals getfacl shows as effective readers
        text = subprocess.run(["getfacl", "-n", "-p", str(f)], capture_output=True, text=True, check=True).stdout
        assert f"user:{carol_uid}:r--" in text and f"group:{auditors_gid}:r--" in text
    set_acl(f, [(USER_OBJ, 6, None), (USER, 4, carol_uid), (GROUP_OBJ, 0, None), (GROUP, 4, auditors_gid),
                (MASK, 0, None), (OTHER, 0, None)])
    out = fresh(f)
    assert out["exposure"] == "private" and out["readers"] == ["user:root"]


def test_a_directory_acl_lets_a_named_group_through(acls: Path, accounts: Accounts) -> None:
    ops, ops_gid = accounts.group()
    accounts.user(groups=(ops,))
    d = acls / "vault"
    d.mkdir()
    d.chmod(0o700)
    f = write(d / "cards.csv", 0o644)
    assert fresh(f)["exposure"] == "private"
    set_acl(d, [(USER_OBJ, 7, None), (GROUP_OBJ, 0, None), (GROUP, 1, ops_gid), (MASK, 1, None), (OTHER, 0, None)])
    out = fresh(f)
    assert out["exposure"] == "group-readable" and f"group:{ops}" in out["readers"] and "*" not in out["readers"]


def test_a_principal_named_like_a_card_number_is_masked(open_tmp_path: Path, accounts: Accounts) -> None:
    pan = make_pan("4", 16)
    name, gid = accounts.group("g" + pan)
    f = write(open_tmp_path / "f.csv", 0o640)
    os.chown(f, 0, gid)
    out = fresh(f)
    assert pan not in repr(out)
    assert any(r.startswith("group:g") and "*" in r for r in out["readers"])


def test_a_walk_in_another_thread_between_two_steps_does_not_mix_directories(open_tmp_path: Path) -> None:
    # The progress count walks the tree in a thread beside the sweep's own walk, through one
    # evaluator. Deterministically: while one call reads its file's ACL, another call (the other
    # thread) moves the evaluator on to another directory; the first must keep its own directory.
    (open_tmp_path / "open").mkdir(mode=0o755)
    (open_tmp_path / "closed").mkdir()
    (open_tmp_path / "closed").chmod(0o700)
    a = write(open_tmp_path / "open" / "a", 0o644)
    b = write(open_tmp_path / "closed" / "b", 0o644)
    ev = LocalExposure()
    real = ev._acl_blob
    interleaved = []

    def acl_blob(path: str, dev: int) -> Any:
        if path == str(a) and not interleaved:
            interleaved.append(ev.of(str(b), os.stat(b))["exposure"])  # "the other thread"
        return real(path, dev)

    ev._acl_blob = acl_blob  # type: ignore[method-assign]
    assert ev.of(str(a), os.stat(a))["exposure"] == "world-readable"
    assert interleaved == ["private"]
    assert ev.of(str(a), os.stat(a))["exposure"] == "world-readable"
