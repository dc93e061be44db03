"""Generated trees for sweep tests: files with planted PANs, special files, links.

Planted numbers are fresh (make_pan); tests compare them to findings by
fingerprint under a known key, never by printing them.
"""
from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cardscan.findings import FingerprintKey
from cardscan.testing import group, mixed_pan

KEY = b"cardscan-tests-key, 32 bytes or longer"



@dataclass
class Tree:
    root: Path
    #: path -> PANs planted in it (each appears once)
    planted: dict[Path, list[str]] = field(default_factory=dict)

    @property
    def pans(self) -> list[str]:
        return [p for pans in self.planted.values() for p in pans]

    def fingerprints(self, key: bytes = KEY) -> set[str]:
        k = FingerprintKey(key)
        return {k.fingerprint(p) for p in self.pans}


#: The i-th kind of test number (the one generator: cardscan.testing.pans).
pan = mixed_pan


def line_for(p: str, i: int) -> str:
    """A realistic line that carries card context (the PAN scores high)."""
    if i % 3 == 0:
        return f"2024-06-11T09:00:{i % 60:02d}Z ERROR payment failed card={p} exp 09/27 order=ORD-{1000 + i}\n"
    if i % 3 == 1 and len(p) in (14, 15, 16):  # printed groupings (19-digit cards are not grouped)
        sizes = {16: (4, 4, 4, 4), 15: (4, 6, 5), 14: (4, 6, 4)}[len(p)]
        return f"customer read out the card number {group(p, sizes)} expiry 03/26\n"
    return f'{{"id": {i}, "card_number": "{p}", "expiry": "11/26"}}\n'


def write_planted(path: Path, rng: random.Random, n: int, filler: int = 3, start: int = 0) -> list[str]:
    pans = []
    with open(path, "w") as fh:
        for i in range(n):
            for j in range(filler):
                fh.write(f"2024-06-11T09:{j:02d}:00Z INFO request id={rng.randrange(10**6)} took {rng.randrange(500)}ms\n")
            p = pan(rng, start + i)
            pans.append(p)
            fh.write(line_for(p, start + i))
    return pans


def make_tree(root: Path, rng: random.Random, *, specials: bool = True, loop: bool = True) -> Tree:
    """Nested dirs with planted PANs, clean files, a symlink loop, special files."""
    t = Tree(root)
    (root / "hr" / "2024" / "q2").mkdir(parents=True)
    (root / "finance" / "exports").mkdir(parents=True)
    (root / "empty").mkdir()
    k = 0
    for rel, n in (("hr/people.log", 2), ("hr/2024/q2/notes.txt", 1), ("finance/exports/cards.csv", 3),
                   ("top.json", 1)):
        p = root / rel
        t.planted[p] = write_planted(p, rng, n, start=k)
        k += n
    (root / "hr" / "clean.txt").write_text("nothing to see: order 2024-000123, invoice 88231\n")
    (root / "finance" / "empty.dat").write_bytes(b"")
    os.chmod(root / "finance" / "exports" / "cards.csv", 0o644)
    os.chmod(root / "hr" / "people.log", 0o640)
    os.chmod(root / "hr" / "2024" / "q2" / "notes.txt", 0o600)
    if loop:
        os.symlink("../..", root / "hr" / "2024" / "back-to-hr")  # a loop when links are followed
        os.symlink(root / "finance", root / "finance-link")
    if specials:
        os.mkfifo(root / "pipe")
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(root / "sock"))
        s.close()
        if os.geteuid() == 0:
            os.mknod(root / "null-dev", 0o600 | 0o020000, os.makedev(1, 3))
    return t


def drop_dac(cmd: list[str]) -> list[str] | None:
    """``cmd`` run without the root privilege to ignore file permissions.

    Tests run as root, and root reads chmod 000 files. ``setpriv`` drops
    CAP_DAC_OVERRIDE / CAP_DAC_READ_SEARCH so the kernel answers EACCES, as it
    would for an ordinary user. None if that is not possible here.
    """
    if os.geteuid() != 0:
        return cmd  # an ordinary user gets EACCES anyway
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        return None
    caps = "-dac_override,-dac_read_search"
    wrapped = [setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", *cmd]
    probe = subprocess.run([*wrapped[:-len(cmd)], sys.executable, "-c", "pass"], capture_output=True)
    return wrapped if probe.returncode == 0 else None


def racy_read(d: Path, real: Any) -> Any:
    """read_files as if, between the listing and the read, a file vanished,
    one became a FIFO, one a link, and one changed while read."""

    def racy(dirpath: str, names: Any, limit: int, **kwargs: Any) -> Any:
        (d / "gone.log").unlink()
        (d / "fifo.log").unlink()
        os.mkfifo(d / "fifo.log")
        (d / "link.log").unlink()
        os.symlink(d / "ok.log", d / "link.log")
        data, ends, status, *stats = real(dirpath, names, limit, **kwargs)
        i = list(names).index("grows.log")
        return (data, ends, status[:i] + b"\x04" + status[i + 1:], *stats)

    return racy
