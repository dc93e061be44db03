"""Encrypted backups of objects before they are changed (``--backup-dir``).

A backup holds card numbers, so it is never written in plaintext: each file
is a sequence of Fernet tokens (AES-128-CBC + HMAC-SHA256, from the
``cryptography`` package), one per line: first a JSON header (where the
object came from, its digest, when), then the content in chunks of
``CHUNK`` bytes. Memory stays bounded whatever the object's size. Files are
created 0600 in a directory created 0700.

The key is the user's (``--backup-key-file``, a Fernet key: 32 url-safe
base64 bytes; ``cardscan.remediate.backup.new_key()`` makes one). Restore
with :func:`restore`.
"""
from __future__ import annotations

import json
import os
import stat
from typing import IO, Any, BinaryIO, Iterator

from .. import _files
from ..errors import ConfigError, MissingDependency

CHUNK = 4 << 20
SUFFIX = ".cardscan-backup"


def _fernet(key: bytes) -> Any:
    try:
        from cryptography.fernet import Fernet
    except ImportError:
        raise MissingDependency("encrypted backups need the cryptography package: "
                                "pip install 'cardscan[remediate]'") from None
    try:
        return Fernet(key)
    except (ValueError, TypeError):
        raise ConfigError("the backup key is not a Fernet key (32 url-safe base64-encoded bytes); "
                          "make one with: python -c 'from cardscan.remediate.backup import new_key; "
                          "print(new_key().decode())'") from None


def new_key() -> bytes:
    return _fernet_cls().generate_key()  # type: ignore[no-any-return]


def _fernet_cls() -> Any:
    try:
        from cryptography.fernet import Fernet
    except ImportError:
        raise MissingDependency("encrypted backups need the cryptography package: "
                                "pip install 'cardscan[remediate]'") from None
    return Fernet


def load_key(path: str) -> bytes:
    """The backup key from a file readable by its owner only."""
    try:
        st = os.stat(path)
    except OSError as exc:
        raise ConfigError(f"cannot read backup key file {path}: {exc.strerror}") from None
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise ConfigError(f"backup key file {path} is accessible by group or others "
                          f"(mode {stat.S_IMODE(st.st_mode):04o}); fix it with: chmod 600 {path}")
    with open(path, "rb") as fh:
        key = fh.read().strip()
    _fernet(key)  # a clear message now rather than at the first backup
    return key


def private_dir(path: str) -> None:
    """Create ``path`` (and parents) 0700; refuse an existing one others can enter."""
    _files.make_private_dirs(path)
    st = os.stat(path)
    if not stat.S_ISDIR(st.st_mode):
        raise ConfigError(f"{path} is not a directory")
    if stat.S_IMODE(st.st_mode) & 0o077:
        raise ConfigError(f"{path} is accessible by group or others (mode {stat.S_IMODE(st.st_mode):04o}); "
                          f"fix it with: chmod 700 {path}")


def write(backup_dir: str, key: bytes, name: str, header: dict[str, Any], content: BinaryIO | bytes) -> str:
    """Encrypt ``content`` into a new backup file in ``backup_dir``; its path."""
    f = _fernet(key)
    private_dir(backup_dir)
    path = os.path.join(backup_dir, name + SUFFIX)
    n = 0
    while os.path.lexists(path):
        n += 1
        path = os.path.join(backup_dir, f"{name}.{n}{SUFFIX}")
    fd = _files.open_new(path)
    with os.fdopen(fd, "wb") as out:
        out.write(f.encrypt(json.dumps(header, default=str).encode()) + b"\n")
        if isinstance(content, (bytes, bytearray, memoryview)):
            data = bytes(content)
            for i in range(0, len(data), CHUNK):
                out.write(f.encrypt(data[i:i + CHUNK]) + b"\n")
        else:
            for block in iter(lambda: content.read(CHUNK), b""):
                out.write(f.encrypt(block) + b"\n")
        out.flush()
        os.fsync(out.fileno())
    return path


def restore(path: str, key: bytes) -> tuple[dict[str, Any], Iterator[bytes]]:
    """(header, content chunks) of a backup file."""
    f = _fernet(key)
    fh: IO[bytes] = open(path, "rb")
    first = fh.readline()
    header = json.loads(f.decrypt(first.strip()))

    def chunks() -> Iterator[bytes]:
        with fh:
            for line in fh:
                if line.strip():
                    yield f.decrypt(line.strip())

    return header, chunks()
