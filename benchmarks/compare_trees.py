"""Before and after: one ``cardscan scan`` from two source trees, runs interleaved.

Each run is a fresh process (``python -m cardscan scan ...`` with
``PYTHONPATH`` set to the tree), the trees taking turns, so a neighbour's
load falls on both alike. Prints the median wall time and the median CPU
time (user + system of the process and the children it waited for; pool
workers behind a forkserver are not among them, so use ``--jobs 1`` to
compare CPU). CPU seconds are what a busy machine does not distort much.

A tree is a directory holding a ``cardscan/`` package with its C extension
built (a worktree, or ``git archive REV cardscan | tar -x -C DIR`` plus the
``.so`` copied in)::

    python benchmarks/compare_trees.py --tree main=/tmp/main --tree branch=. \\
        --jobs 1 --runs 5 benchmarks/data/256mb/app.log
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

KEY = "cardscan-benchmark-key-v2, 32 bytes+"  # 32+ bytes: the CLI refuses shorter keys


def run_once(tree: Path, target: str, jobs: str | None, manifest: Path) -> tuple[float, float]:
    cmd = [sys.executable, "-m", "cardscan", "scan", "--manifest", str(manifest), target]
    if jobs is not None:
        cmd[4:4] = ["--jobs", jobs]
    env = dict(os.environ, PYTHONPATH=str(tree), CARDSCAN_FINGERPRINT_KEY=KEY)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    # Run from a neutral directory, so the tree on PYTHONPATH is the cardscan imported.
    done = subprocess.run(cmd, env=env, capture_output=True, cwd=tempfile.gettempdir(), check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode not in (0, 1):
        raise RuntimeError(f"{tree}: exit {done.returncode}: {done.stderr.decode(errors='replace')[-800:]}")
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("target", help="file or directory to scan")
    ap.add_argument("--tree", action="append", required=True, metavar="NAME=PATH")
    ap.add_argument("--jobs", default=None, help="--jobs for cardscan (default: its own default)")
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args(argv)
    trees = [(n, Path(p).resolve()) for n, _, p in (t.partition("=") for t in args.tree)]
    target = os.path.abspath(args.target)
    walls: dict[str, list[float]] = {n: [] for n, _ in trees}
    cpus: dict[str, list[float]] = {n: [] for n, _ in trees}
    with tempfile.TemporaryDirectory(prefix="cardscan-compare-") as tmp:
        for name, tree in trees:  # untimed: bytecode compiled, page cache warm
            run_once(tree, target, args.jobs, Path(tmp) / f"{name}.jsonl")
        for _ in range(args.runs):
            for name, tree in trees:
                wall, cpu = run_once(tree, target, args.jobs, Path(tmp) / f"{name}.jsonl")
                walls[name].append(wall)
                cpus[name].append(cpu)
    print(f"{target}  --jobs {args.jobs or 'default'}  {args.runs} runs each, interleaved  "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"  {'tree':<12} {'wall s':>8} {'CPU s':>8} {'CPU min':>8}")
    for name, _ in trees:
        print(f"  {name:<12} {statistics.median(walls[name]):>8.3f} {statistics.median(cpus[name]):>8.3f} "
              f"{min(cpus[name]):>8.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
