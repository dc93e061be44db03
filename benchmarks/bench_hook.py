"""Start-up and commit cost of the pre-commit hook (``cardscan hook``).

The hook runs on every commit, so what matters is the cost of one process:

* ``python -c pass``: the floor (interpreter start-up);
* ``import cardscan``: the package itself (lazy: loads nothing else);
* ``engine``: importing the engine and building a ``Scanner`` (issuer table);
* ``hook, no files``: ``python -m cardscan hook`` with no file (pre-commit
  with no matching staged file);
* ``hook, 20 files``: a typical commit, 20 source files of ~12 KB without
  card numbers;
* ``hook, 20 files, 1 PAN``: the same with one card number (output, exit 1).

Both wall-clock and CPU time (user + system of the child) are reported,
medians of ``--repeat`` runs: CPU time is the steadier one on a loaded
machine. Run: ``python benchmarks/bench_hook.py [--repeat 9]``.
"""
from __future__ import annotations

import argparse
import os
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(cmd: list[str], cwd: str, repeat: int) -> tuple[float, float, int]:
    walls, cpus, code = [], [], 0
    for _ in range(repeat):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        t0 = time.perf_counter()
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True)
        walls.append(time.perf_counter() - t0)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
        code = proc.returncode
    return statistics.median(walls) * 1000, statistics.median(cpus) * 1000, code


def make_files(root: Path, n: int = 20) -> list[str]:
    rng = random.Random(7)
    names = []
    for i in range(n):
        lines = [
            f"def handler_{j}(request):\n"
            f"    order_id = {rng.randint(10**11, 10**12)}  # at 2026-01-0{j % 9 + 1}T10:00:00Z\n"
            f"    return {{'status': 200, 'trace': '{rng.getrandbits(64):016x}'}}\n"
            for j in range(80)
        ]
        name = f"mod_{i:02d}.py"
        (root / name).write_text("".join(lines))
        names.append(name)
    return names


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=9)
    args = parser.parse_args(argv)
    py = sys.executable
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        files = make_files(root)
        dirty = root / "dirty"
        dirty.mkdir()
        for name in files:
            (dirty / name).write_text((root / name).read_text())
        from cardscan.testing import make_pan

        pan = make_pan("455673", 16, random.Random(1))
        with open(dirty / files[0], "a") as fh:
            fh.write(f"CARD = '{pan}'\n")
        env_cmds = [
            ("python -c pass", [py, "-c", "pass"], tmp),
            ("import cardscan", [py, "-c", "import cardscan"], tmp),
            ("engine (import + Scanner())", [py, "-c", "from cardscan import Scanner; Scanner(key=b'k')"], tmp),
            ("hook, no files", [py, "-m", "cardscan", "hook"], tmp),
            ("hook, 20 files", [py, "-m", "cardscan", "hook", *files], tmp),
            ("hook, 20 files, 1 PAN", [py, "-m", "cardscan", "hook", *files], str(dirty)),
        ]
        size = sum((root / f).stat().st_size for f in files)
        print(f"{len(files)} files, {size / 1024:.0f} KiB; median of {args.repeat} runs; load {os.getloadavg()[0]:.1f}")
        print(f"{'run':32s} {'wall ms':>8s} {'CPU ms':>8s}  exit")
        for label, cmd, cwd in env_cmds:
            wall, cpu, code = measure(cmd, cwd, args.repeat)
            print(f"{label:32s} {wall:8.0f} {cpu:8.0f}  {code}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
