"""cardscan/remediate/backup.py: backups hold card numbers, so they are
encrypted, owner-only, never overwritten, and their key is guarded like one.
(Remediation writing a backup before it changes a file: files_test.py.)"""
from __future__ import annotations

import io
import os
import stat
from pathlib import Path

import pytest

from cardscan.errors import ConfigError
from cardscan.remediate import backup
from cardscan.testing import assert_no_pan, distinct_pans

pytest.importorskip("cryptography", reason="the remediate extra is not installed")

PANS = distinct_pans(2, seed=31)
CONTENT = (f"order 1 card {PANS[0]}\n" + "filler line\n" * 1000 + f"order 2 card {PANS[1]}\n").encode()


def key_file(tmp_path: Path, mode: int = 0o600, key: bytes | None = None) -> Path:
    path = tmp_path / "backup.key"
    path.write_bytes((key or backup.new_key()) + b"\n")
    path.chmod(mode)
    return path


@pytest.mark.parametrize("content", [CONTENT, io.BytesIO(CONTENT)], ids=["bytes", "stream"])
def test_a_backup_is_encrypted_owner_only_and_restores_the_bytes(tmp_path: Path, monkeypatch, content) -> None:
    monkeypatch.setattr(backup, "CHUNK", 1000)  # several chunks
    key = backup.load_key(str(key_file(tmp_path)))
    old = os.umask(0)
    try:
        path = backup.write(str(tmp_path / "backups" / "deep"), key, "orders.csv", {"uri": "file:///x"}, content)
    finally:
        os.umask(old)
    data = Path(path).read_bytes()
    assert_no_pan(data, PANS, "the backup file")
    assert b"filler" not in data and len(data.splitlines()) == 1 + -(-len(CONTENT) // 1000)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(tmp_path / "backups" / "deep").st_mode) == 0o700
    header, chunks = backup.restore(path, key)
    assert header == {"uri": "file:///x"} and b"".join(chunks) == CONTENT


def test_a_second_backup_of_the_same_name_never_replaces_the_first(tmp_path: Path) -> None:
    key = backup.new_key()
    first = backup.write(str(tmp_path), key, "a.log", {"n": 1}, b"one")
    second = backup.write(str(tmp_path), key, "a.log", {"n": 2}, b"two")
    assert first != second and second.endswith(".1" + backup.SUFFIX)
    assert b"".join(backup.restore(first, key)[1]) == b"one"
    assert b"".join(backup.restore(second, key)[1]) == b"two"


def test_another_key_cannot_read_a_backup(tmp_path: Path) -> None:
    from cryptography.fernet import InvalidToken

    path = backup.write(str(tmp_path), backup.new_key(), "a.log", {}, CONTENT)
    with pytest.raises(InvalidToken):
        backup.restore(path, backup.new_key())


@pytest.mark.parametrize("mode", [0o640, 0o604, 0o666])
def test_a_key_file_others_can_read_is_refused(tmp_path: Path, mode: int) -> None:
    path = key_file(tmp_path, mode)
    with pytest.raises(ConfigError, match="chmod 600"):
        backup.load_key(str(path))


@pytest.mark.parametrize("bad", [b"", b"short", b"x" * 44, b"not base64 at all, but 44 characters long!!"])
def test_a_key_that_is_not_a_fernet_key_is_refused_with_the_way_to_make_one(tmp_path: Path, bad: bytes) -> None:
    path = tmp_path / "bad.key"
    path.write_bytes(bad)
    path.chmod(0o600)
    with pytest.raises(ConfigError, match="new_key"):
        backup.load_key(str(path))


def test_a_missing_key_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read backup key file"):
        backup.load_key(str(tmp_path / "nope.key"))


def test_a_backup_directory_others_can_enter_is_refused(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o755)
    with pytest.raises(ConfigError, match="chmod 700"):
        backup.write(str(shared), backup.new_key(), "a.log", {}, b"x")
    assert list(shared.iterdir()) == []  # nothing written there
    (tmp_path / "file").write_text("")
    with pytest.raises((ConfigError, OSError)):
        backup.private_dir(str(tmp_path / "file"))
