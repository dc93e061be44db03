"""The one place cardscan creates and replaces files.

Everything cardscan writes may describe where card data is (manifests,
reports, the sweep state, journals, backups, notes, baselines), so every
file is created owner-only (0600, directories 0700) at ``open`` time, never
``chmod``-ed after data went in; a symlink at the path is never followed (a
planted link must not redirect what we write); a file is replaced
atomically (a temp file beside it, fsynced, renamed over it, the directory
fsynced), so a crash leaves the old content or the new, never a mix.

Only the standard library and ``OSError``: callers turn errors into their
own messages.
"""
from __future__ import annotations

import os
import stat

#: Flags every open of a file we write carries.
_SAFE = getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
FILE_MODE = 0o600
DIR_MODE = 0o700


def open_new(path: str | os.PathLike[str], *, dir_fd: int | None = None) -> int:
    """A new file at ``path``, created 0600 for writing; fails if anything is there.

    ``dir_fd``: ``path`` is a name in that open directory (``openat``), so a
    directory swapped for a symlink since it was opened cannot redirect it.
    """
    return os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | _SAFE, FILE_MODE, dir_fd=dir_fd)


def open_private(
    path: str | os.PathLike[str], *, append: bool = False, read: bool = False, narrow: bool = True
) -> int:
    """``path`` opened for writing, created 0600 if missing.

    Truncated unless ``append`` (``O_APPEND``) or ``read`` (read-write, kept
    as it is: a database). With ``narrow``, an existing regular file others
    can read is narrowed to 0600 before anything is written to it; callers
    that must *refuse* such a file pass ``narrow=False`` and check ``fstat``.
    """
    flags = os.O_CREAT | _SAFE
    if read:
        flags |= os.O_RDWR
    else:
        flags |= os.O_WRONLY | (os.O_APPEND if append else os.O_TRUNC)
    fd = os.open(path, flags, FILE_MODE)
    if narrow:
        try:
            st = os.fstat(fd)
            if stat.S_ISREG(st.st_mode) and stat.S_IMODE(st.st_mode) & 0o077:
                os.fchmod(fd, FILE_MODE)
        except BaseException:
            os.close(fd)
            raise
    return fd


def write_all(fd: int, data: bytes | bytearray | memoryview) -> None:
    """Write all of ``data`` to ``fd`` (``os.write`` may write less)."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view):]


def fsync_dir(path: str) -> None:
    """Make a rename or unlink in directory ``path`` durable (best effort)."""
    try:
        fd = os.open(path or ".", os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def replace(src: str, dst: str, *, dir_fd: int | None = None) -> None:
    """Rename ``src`` over ``dst`` atomically and make it durable.

    ``dir_fd``: both are names in that open directory (``renameat``).
    """
    if dir_fd is not None:
        os.replace(src, dst, src_dir_fd=dir_fd, dst_dir_fd=dir_fd)
        fsync_fd(dir_fd)
        return
    os.replace(src, dst)
    fsync_dir(os.path.dirname(os.path.abspath(dst)))


def fsync_fd(fd: int) -> None:
    """``fsync`` an open directory (best effort: some file systems refuse it)."""
    try:
        os.fsync(fd)
    except OSError:
        pass


def temp_name(tag: str = "cardscan") -> str:
    """A short, hidden, unguessable file name for a temp file (``.cardscan-<hex>.tmp``).

    Not derived from the file it replaces: a name near NAME_MAX (255 bytes)
    would overflow, and a name holding a card number would be copied.
    """
    return f".{tag}-{os.urandom(8).hex()}.tmp"  # secrets.token_hex, without importing secrets


def temp_path(path: str, tag: str = "cardscan") -> str:
    """A hidden, unguessable temp name beside ``path`` (same file system: rename is atomic)."""
    d, name = os.path.split(path)
    return os.path.join(d, f".{name}.{tag}-{os.urandom(6).hex()}.tmp")


def atomic_write(path: str | os.PathLike[str], data: bytes) -> None:
    """Replace ``path`` with ``data``: a 0600 temp file beside it, fsynced, renamed over it."""
    target = os.fspath(path)
    tmp = temp_path(target)
    fd = open_new(tmp)
    try:
        try:
            write_all(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
        replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise


def make_private_dirs(path: str) -> None:
    """Create ``path`` and missing parents 0700 (existing ones are left as they are).

    Not ``os.makedirs(mode=...)``: that gives only the last level the mode,
    and parents the umask's (0777 under ``umask 000``).
    """
    missing = []
    at = os.path.abspath(path)
    while not os.path.isdir(at):
        missing.append(at)
        parent = os.path.dirname(at)
        if parent == at:
            break
        at = parent
    for d in reversed(missing):
        make_private_dir(d)


def make_private_dir(path: str, *, dir_fd: int | None = None) -> bool:
    """Create one directory 0700; False if it exists already (``dir_fd``: ``mkdirat``)."""
    try:
        os.mkdir(path, DIR_MODE, dir_fd=dir_fd)
    except FileExistsError:
        return False
    return True
