"""cardscan/_files.py: the one place files are created and replaced."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cardscan import _files


@pytest.fixture
def open_umask():
    old = os.umask(0)  # the worst case: nothing is narrowed for us
    try:
        yield
    finally:
        os.umask(old)


def _mode(p: Path) -> int:
    return stat.S_IMODE(os.lstat(p).st_mode)


def test_everything_is_created_owner_only_under_umask_0(tmp_path: Path, open_umask) -> None:
    os.close(_files.open_new(tmp_path / "new"))
    os.close(_files.open_private(tmp_path / "private"))
    os.close(_files.open_private(tmp_path / "log", append=True))
    os.close(_files.open_private(tmp_path / "db", read=True))
    _files.atomic_write(tmp_path / "atomic", b"x")
    _files.make_private_dirs(str(tmp_path / "a" / "b"))
    assert _files.make_private_dir(str(tmp_path / "c"))
    for name in ("new", "private", "log", "db", "atomic"):
        assert _mode(tmp_path / name) == 0o600, name
    for name in ("a", "a/b", "c"):
        assert _mode(tmp_path / name) == 0o700, name


def test_open_new_refuses_an_existing_file_and_a_symlink(tmp_path: Path) -> None:
    (tmp_path / "there").write_bytes(b"keep")
    with pytest.raises(FileExistsError):
        _files.open_new(tmp_path / "there")
    (tmp_path / "link").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(FileExistsError):
        _files.open_new(tmp_path / "link")
    assert not (tmp_path / "elsewhere").exists()
    assert (tmp_path / "there").read_bytes() == b"keep"


def test_open_private_never_follows_a_planted_symlink(tmp_path: Path) -> None:
    target = tmp_path / "victim"
    target.write_bytes(b"do not touch")
    (tmp_path / "out").symlink_to(target)
    with pytest.raises(OSError):
        _files.open_private(tmp_path / "out")
    assert target.read_bytes() == b"do not touch"


def test_open_private_narrows_an_existing_file_before_writing_unless_told_not_to(tmp_path: Path) -> None:
    p = tmp_path / "report.html"
    p.write_bytes(b"old")
    p.chmod(0o644)
    fd = _files.open_private(p)
    os.close(fd)
    assert _mode(p) == 0o600 and p.read_bytes() == b""  # truncated, narrowed
    p.chmod(0o644)
    os.close(_files.open_private(p, append=True, narrow=False))
    assert _mode(p) == 0o644  # the caller checks and refuses (the journal does)


def test_append_and_read_keep_the_content(tmp_path: Path) -> None:
    p = tmp_path / "journal"
    p.write_bytes(b"one\n")
    fd = _files.open_private(p, append=True)
    _files.write_all(fd, b"two\n")
    os.close(fd)
    fd = _files.open_private(p, read=True)
    assert os.read(fd, 100) == b"one\ntwo\n"
    os.close(fd)


def test_atomic_write_replaces_and_leaves_no_temp_file(tmp_path: Path) -> None:
    p = tmp_path / "baseline.json"
    p.write_bytes(b"old")
    p.chmod(0o644)
    _files.atomic_write(p, b"new" * 1000)
    assert p.read_bytes() == b"new" * 1000 and _mode(p) == 0o600
    assert sorted(x.name for x in tmp_path.iterdir()) == ["baseline.json"]


def test_atomic_write_failure_keeps_the_old_file_and_cleans_up(tmp_path: Path) -> None:
    d = tmp_path / "dir"
    d.mkdir()
    p = d / "x"
    p.mkdir()  # a directory where the file should go: the rename fails
    with pytest.raises(OSError):
        _files.atomic_write(p, b"data")
    assert p.is_dir() and list(d.iterdir()) == [p]


def test_temp_path_is_hidden_beside_the_file_and_unguessable(tmp_path: Path) -> None:
    a = _files.temp_path(str(tmp_path / "f.txt"))
    b = _files.temp_path(str(tmp_path / "f.txt"))
    assert a != b and os.path.dirname(a) == str(tmp_path)
    assert os.path.basename(a).startswith(".f.txt.cardscan-") and a.endswith(".tmp")


def test_replace_moves_over_the_target(tmp_path: Path) -> None:
    (tmp_path / "a.partial").write_bytes(b"new")
    (tmp_path / "a").write_bytes(b"old")
    _files.replace(str(tmp_path / "a.partial"), str(tmp_path / "a"))
    assert (tmp_path / "a").read_bytes() == b"new" and not (tmp_path / "a.partial").exists()
    _files.fsync_dir(str(tmp_path / "missing"))  # best effort: no error
