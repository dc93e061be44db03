"""Whole commands in paired rounds: each round runs every command once (the
order rotating), so load that comes and goes falls on all of them alike.

Prints per command the median wall time, its first quartile and minimum,
the median CPU seconds (user + system of the command and what it waited
for), and against the command named ``rg`` the median of each round's own
ratio (rg's time over this command's in the same round) and its third
quartile. Output is thrown away (``/dev/null``); the sandbox's
``PYTHONUNBUFFERED`` is dropped, as bench_process.py does. ``CARDSCAN_FINGERPRINT_KEY``
is the benchmark key::

    python benchmarks/paired_rounds.py 41 \\
        "rg=rg --no-config -o -N --with-filename -e '<pattern>' DIR | python3 -S benchmarks/luhn_filter.py" \\
        "main=/path/to/main/.venv/bin/cardscan scan --manifest /tmp/a.jsonl DIR" \\
        "branch=.venv/bin/cardscan scan --manifest /tmp/b.jsonl DIR"
"""
from __future__ import annotations

import os
import resource
import statistics
import subprocess
import sys
import time

KEY = "cardscan-benchmark-key-v2, 32 bytes+"


def run(shell: str) -> tuple[float, float]:
    """(wall s, CPU s) of one run of ``shell``."""
    env = dict(os.environ, CARDSCAN_FINGERPRINT_KEY=KEY)
    env.pop("PYTHONUNBUFFERED", None)
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(shell, shell=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime


def rounds(commands: list[tuple[str, str]], n: int) -> dict[str, list[tuple[float, float]]]:
    for _, shell in commands:  # untimed: caches warm
        run(shell)
    out: dict[str, list[tuple[float, float]]] = {name: [] for name, _ in commands}
    for r in range(n):
        k = r % len(commands)
        for name, shell in commands[k:] + commands[:k]:
            out[name].append(run(shell))
    return out


def report(res: dict[str, list[tuple[float, float]]]) -> list[str]:
    rg = res.get("rg")
    lines = []
    for name, runs in res.items():
        wall = [w for w, _ in runs]
        cpu = [c for _, c in runs]
        q1 = statistics.quantiles(wall, n=4)[0] if len(wall) > 1 else wall[0]
        line = (f"  {name:<12} wall median {statistics.median(wall):.3f} s  q1 {q1:.3f}  min {min(wall):.3f}  "
                f"CPU median {statistics.median(cpu):.3f} s")
        if rg is not None and name != "rg":
            ratios = [g[0] / w[0] for g, w in zip(rg, runs)]
            q3 = statistics.quantiles(ratios, n=4)[2] if len(ratios) > 1 else ratios[0]
            line += f"  rg/this paired median {statistics.median(ratios):.3f}  q3 {q3:.3f}"
        lines.append(line)
    return lines


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) < 2 or not args[0].isdigit():
        print(__doc__, file=sys.stderr)
        return 2
    commands = [(name, shell) for name, _, shell in (a.partition("=") for a in args[1:])]
    res = rounds(commands, int(args[0]))
    print(f"{args[0]} rounds, load {os.getloadavg()[0]:.2f}")
    print("\n".join(report(res)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
