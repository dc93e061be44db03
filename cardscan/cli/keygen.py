"""Create a fingerprint key file: 32 random bytes, 0600, never overwriting one.

Writes 32 random bytes (from the OS's CSPRNG), as 64 hexadecimal digits and
a newline, to PATH (default ``$XDG_CONFIG_HOME/cardscan/key``, else
``~/.config/cardscan/key``). The file is created 0600 and exclusively: an
existing file, or a symlink, at PATH is never overwritten, since replacing a
key makes every manifest, baseline and state written under it unusable.
Missing parent directories are created 0700. The hex text is the key as
cardscan reads it, so the same value works in ``CARDSCAN_FINGERPRINT_KEY``.

The key is as sensitive as the card data it protects: with it, anyone
holding a manifest can test guesses of the card numbers behind the
fingerprints. Keep it outside repositories and shared drives, and back it up
where the card data's own protections apply.

Exit status: 0 written, 2 not written (exists, or cannot be created).
"""
from __future__ import annotations

import argparse
import os
import secrets
import sys
from typing import IO

from .. import _files
from ..errors import ConfigError
from ..findings import MIN_KEY_BYTES

HELP = "create a random fingerprint key file (0600; never overwrites one)"

EPILOG = """\
The key is as sensitive as the card data: with it, anyone holding a manifest
can test card number guesses against its fingerprints. Keep it outside
repositories and the shares you scan; back it up (manifests made with it
cannot be remediated without it).

exit status: 0 written, 2 not written (PATH exists, or cannot be created).

examples:
  cardscan keygen                              # ~/.config/cardscan/key
  cardscan keygen /etc/cardscan/team.key
  cardscan scan /srv/share --key-file ~/.config/cardscan/key --manifest share.jsonl
"""


def default_path() -> str:
    """``$XDG_CONFIG_HOME/cardscan/key``, else ``~/.config/cardscan/key``."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return os.path.join(base, "cardscan", "key")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.epilog = EPILOG
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument("path", nargs="?", metavar="PATH",
                        help="where to write the key (default $XDG_CONFIG_HOME/cardscan/key, "
                             "else ~/.config/cardscan/key); must not exist")
    parser.add_argument("-q", "--quiet", action="store_true", help="print nothing when the key is written")


def write_key(path: str) -> None:
    """Create ``path`` (0600, O_EXCL, no symlink followed) holding a new random key."""
    parent = os.path.dirname(os.path.abspath(path))
    try:
        _files.make_private_dirs(parent)
        fd = _files.open_new(path)
    except FileExistsError:
        raise ConfigError(f"{path} exists; refusing to overwrite a key (every manifest, baseline and state "
                          "made with it would become unusable). Choose another PATH, or remove it first "
                          "if you are sure nothing uses it") from None
    except OSError as exc:
        raise ConfigError(f"cannot create key file {path}: {exc.strerror or exc}") from None
    try:
        _files.write_all(fd, secrets.token_hex(MIN_KEY_BYTES).encode("ascii") + b"\n")
        os.fsync(fd)  # a key lost in a crash would orphan every manifest made with it
    except OSError as exc:
        os.close(fd)
        # A partial key must not be mistaken for a key later.
        try:
            os.unlink(path)
        except OSError:
            pass
        raise ConfigError(f"cannot write key file {path}: {exc.strerror or exc}") from None
    os.close(fd)
    _files.fsync_dir(parent)


def run(args: argparse.Namespace, out: IO[str] | None = None) -> int:
    out = out or sys.stderr
    path = args.path or default_path()
    write_key(path)
    if not args.quiet:
        out.write(
            f"cardscan: wrote a new fingerprint key to {path} (mode 0600).\n"
            f"Use it with --key-file {path} (or key-file in .cardscan.toml, or its content in "
            "CARDSCAN_FINGERPRINT_KEY) for every scan, baseline and remediation whose fingerprints must match.\n"
            "Guard it like card data: with it, anyone holding a manifest can test card number guesses "
            "against its fingerprints. Back it up: without it, manifests made with it cannot be remediated.\n"
        )
    return 0
