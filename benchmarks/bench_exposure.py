"""What effective exposure costs per file: the small-file tree, with and without it.

Effective exposure (cardscan/sources/exposure.py) judges every local file by
the directories above it, its POSIX ACL and group membership: one
``listxattr`` per file, one ``lstat`` + ``listxattr`` per new directory, and
one evaluation per directory and distinct (owner, group, mode, ACL). The
baseline is the same code with exposure from the file's own mode bits, the
rule before it (``fs.exposure(mode)``), swapped in for ``fs.file_exposure``:
everything else identical, both measured in the same run, in alternating
rounds (a neighbour's load falls on both alike); the table gives medians.

Two measurements on bench_scale's tree (``--files``, 20,000 by default, 1,000
per directory), and the same number of files spread 10 per directory
(``--per-dir``), the worst case for the per-directory part:

``walk``
    ``FileSource(tree).items()`` in this process and ``fs.object_meta`` of
    every item: the listing and every file's exposure (a sweep asks it only
    for objects with findings, since 2026-12-07; before, the walk computed it
    for every file).
``scan --jobs 1``
    the whole ``cardscan scan --jobs 1 --manifest M TREE`` process (start-up,
    reading, scanning, the manifest), the CLI either as installed or with the
    baseline swapped in by a two-line wrapper (``python -c``); its CPU time
    (user + system: on a shared machine wall time swings with the neighbours).

    python benchmarks/bench_exposure.py                       # 20,000 files, 5 rounds
    python benchmarks/bench_exposure.py --rounds 9 --only walk
"""
from __future__ import annotations

import argparse
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bench_scale  # noqa: E402

from cardscan.sources import fs  # noqa: E402
from cardscan.sources.base import Item  # noqa: E402

KEY_ENV = "CARDSCAN_FINGERPRINT_KEY"
#: The CLI with the mode-bits rule swapped in (the baseline of the whole-process row).
BASELINE_CLI = ("import sys, cardscan.sources.fs as fs; "
                "fs.file_exposure = lambda path, st: {'exposure': fs.exposure(st.st_mode)}; "
                "from cardscan.cli.main import main; sys.exit(main(sys.argv[1:]))")
EFFECTIVE_CLI = "import sys; from cardscan.cli.main import main; sys.exit(main(sys.argv[1:]))"


def mode_only(path: str, st: os.stat_result) -> dict[str, Any]:
    return {"exposure": fs.exposure(st.st_mode)}


def walk_once(tree: Path, rule: Callable[[str, os.stat_result], dict[str, Any]]) -> tuple[float, int]:
    from cardscan.sources import exposure

    saved = fs.file_exposure
    fs.file_exposure = rule
    exposure._local = None  # no cache from the previous round: each round starts cold, as a sweep does
    try:
        t0 = time.perf_counter()
        # Every file's exposure, as if each had a finding (a sweep works it out
        # for those only: fs.object_meta; the walk itself no longer does).
        n = sum(1 for it in fs.FileSource(tree).items() if isinstance(it, Item) and fs.object_meta(it))
        return time.perf_counter() - t0, n
    finally:
        fs.file_exposure = saved


def scan_once(tree: Path, code: str, out: Path) -> float:
    """CPU seconds (user + system) of one whole ``cardscan scan --jobs 1`` process.

    CPU, not wall time: on a shared 2-core machine the wall time of a 5 s run
    swings by a second with the neighbours' load, its CPU time by a few percent."""
    env = {**os.environ, KEY_ENV: bench_scale.KEY.decode()}
    cmd = [sys.executable, "-c", code, "scan", "--jobs", "1", "--manifest", str(out), "-q", str(tree)]
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    proc = subprocess.run(cmd, env=env, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode not in (0, 1):
        raise SystemExit(f"scan failed ({proc.returncode}): {proc.stderr.decode(errors='replace')[-2000:]}")
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def spread_tree(src: Path, per_dir: int, dest: Path) -> Path:
    """The same files, ``per_dir`` to a directory (hard links: no copy)."""
    if dest.exists():
        return dest
    files = sorted(src.rglob("*.log"))
    for i, f in enumerate(files):
        d = dest / f"d{i // per_dir:05d}"
        if i % per_dir == 0:
            d.mkdir(parents=True)
        os.link(f, d / f.name)
    return dest


def row(label: str, n: int, base: list[float], eff: list[float]) -> str:
    b, e = statistics.median(base), statistics.median(eff)
    return (f"| {label} | {n:,} | {b:.3f} | {e:.3f} | {(e - b) / n * 1e6:+.1f} | {e / b:.3f} "
            f"| {min(eff) / min(base):.3f} |")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=20_000)
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--per-dir", type=int, default=10, help="files per directory of the spread tree (default 10)")
    ap.add_argument("--only", nargs="*", choices=("walk", "scan"), default=["walk", "scan"])
    args = ap.parse_args(argv)
    tree, _ = bench_scale.ensure_tree(args.files, lambda m: print(m, file=sys.stderr))
    trees = [(f"{args.files // 1000:,}k files, 1,000 per directory", tree),
             (f"same files, {args.per_dir} per directory",
              spread_tree(tree, args.per_dir, tree.parent / f"{tree.name}-per{args.per_dir}"))]
    print("| what | files | baseline s (mode bits) | effective exposure s | extra us/file | ratio (median) "
          "| ratio (best) |  (walk: wall s; scan: CPU s, user + system)")
    print("|---|---|---|---|---|---|---|")
    tmp = Path(tempfile.mkdtemp(prefix="bench-exposure-"))
    try:
        for label, root in trees:
            n = sum(1 for _ in root.rglob("*.log"))
            if "walk" in args.only:
                base, eff = [], []
                walk_once(root, mode_only)  # warm the page cache and the name caches alike
                for _ in range(args.rounds):
                    base.append(walk_once(root, mode_only)[0])
                    eff.append(walk_once(root, fs.file_exposure)[0])
                print(row(f"walk: {label}", n, base, eff), flush=True)
            if "scan" in args.only:
                base, eff = [], []
                scan_once(root, BASELINE_CLI, tmp / "warm.jsonl")
                for _ in range(args.rounds):
                    base.append(scan_once(root, BASELINE_CLI, tmp / "b.jsonl"))
                    eff.append(scan_once(root, EFFECTIVE_CLI, tmp / "e.jsonl"))
                print(row(f"cardscan scan --jobs 1: {label}", n, base, eff), flush=True)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"\n{os.cpu_count()} CPUs; load average {os.getloadavg()[0]:.2f} at the end; {args.rounds} rounds")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
