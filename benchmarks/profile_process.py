"""Where one whole ``cardscan scan --jobs 1 FILE`` spends its time.

Runs the CLI in a fresh interpreter under cProfile, from the first import of
cardscan to the exit of ``main``, once on an empty file (start-up and fixed
costs: imports, options, settings, key, manifest header and summary) and
once on FILE, and splits the profile into parts:

    start-up (imports)  read  hash  find  inline pre-checks  line counting
    judge  findings  chunker  sweep plumbing  manifest/output  other

Each function's own time goes to one part, by its module (cardscan's engine
modules, sinks, run/...) or, for a builtin (``find_chains``, a hash
``update``, ``bytes.find``), by what it is or else by the part of the function
that called it; import machinery and module bodies are start-up. cProfile
adds a cost per Python call, so Python-heavy parts read high by up to ~30%;
the C parts (find, line counting, hash) are not inflated. Each part is the
median over ``--runs`` runs (default 3), and ``wall`` the same command
without the profiler (median of as many).

    python benchmarks/profile_process.py benchmarks/data/256mb/app.log
"""
from __future__ import annotations

import argparse
import os
import pstats
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent

DRIVER = r"""
import cProfile, sys
prof = cProfile.Profile()
prof.enable()
from cardscan.cli.main import main
try:
    main(sys.argv[2:])
except SystemExit:
    pass
prof.disable()
prof.dump_stats(sys.argv[1])
"""

PARTS = ("start-up (imports)", "read", "hash", "find", "inline pre-checks", "line counting", "judge", "findings",
         "chunker", "sweep plumbing", "manifest/output", "other")

#: Builtins that are a part by themselves, whoever calls them.
BUILTIN_PART = {
    "find_chains": "find",
    "newlines": "line counting",
    "lines_at": "line counting",
    "class_runs": "inline pre-checks",
    "<method 'update' of '_hashlib.HASH' objects>": "hash",
    "<method 'hexdigest' of '_hashlib.HASH' objects>": "hash",
    "<built-in method _hashlib.openssl_sha256>": "hash",
    "<method 'readinto' of '_io.BufferedReader' objects>": "read",
    "<method 'readinto' of '_io.FileIO' objects>": "read",
    "<method 'read' of '_io.BufferedReader' objects>": "read",
    "<method 'read' of '_io.FileIO' objects>": "read",
    "<built-in method posix.read>": "read",
    "<built-in method posix.preadv>": "read",
    "<built-in method marshal.loads>": "start-up (imports)",
    "<built-in method builtins.compile>": "start-up (imports)",
    "<built-in method _imp.create_dynamic>": "start-up (imports)",
    "<built-in method _imp.exec_dynamic>": "start-up (imports)",
}

ENGINE_JUDGE = ("validate.py", "context.py", "filters.py", "issuers.py", "track.py", "luhn.py", "columns.py",
                "candidates.py")


def part_of(func: tuple[str, int, str]) -> str | None:
    """The part of a Python function, or None for a builtin (decided by its callers)."""
    filename, _, name = func
    if filename == "~":
        for key, part in BUILTIN_PART.items():
            if key in name:
                return part
        return None
    path = filename.replace(os.sep, "/")
    if "importlib" in path or name == "<module>" or "/site.py" in path:
        return "start-up (imports)"
    if "/cardscan/" not in path:
        if path.endswith(("/json/encoder.py", "/json/__init__.py")):
            return "manifest/output"
        if path.endswith(("/hmac.py", "/hashlib.py")):
            return "findings"
        if path.endswith(("/argparse.py", "/tomllib/_parser.py", "/re/_compiler.py", "/re/_parser.py",
                          "/dataclasses.py", "/enum.py", "/typing.py", "/functools.py", "/abc.py")):
            return "start-up (imports)" if name != "replace" else "findings"
        return None  # other stdlib: by caller
    mod = path.split("/cardscan/", 1)[1]
    if mod.startswith("engine/"):
        leaf = mod.split("/", 1)[1]
        if leaf == "inline.py":
            return "inline pre-checks"
        if leaf == "chunker.py":
            return "chunker"
        if leaf == "scanner.py":  # hits -> Finding (mask + HMAC); the rest feeds the detector
            return "findings" if name == "finding" else "chunker"
        if leaf == "detect.py":
            if name in ("chunks", "feed", "finish", "hits", "range_hits", "_process", "fix", "stream"):
                return "chunker"
            return "judge"
        if leaf in ENGINE_JUDGE:
            return "judge"
        return "judge"
    if mod.startswith(("findings.py", "privacy.py")):
        # Turning a Finding into a manifest record is output; making it is not.
        return "manifest/output" if name in ("to_dict", "public") else "findings"
    if mod.startswith(("sinks/", "report", "manifest", "cli/")):
        return "manifest/output"
    if mod.startswith(("run/", "sources/", "pipeline", "decoders/")):
        return "sweep plumbing"
    if mod.startswith(("settings.py", "options", "registry.py")):
        return "start-up (imports)"
    return "other"


def split(stats: pstats.Stats) -> dict[str, float]:
    """Own time per part; builtins go to their callers' parts, pro rata."""
    raw = stats.stats  # type: ignore[attr-defined]
    direct = {f: part_of(f) for f in raw}
    out = dict.fromkeys(PARTS, 0.0)

    def resolve(f: tuple[str, int, str], depth: int = 0) -> dict[str, float]:
        """Shares of f's own time per part (by callers, up to a few levels)."""
        p = direct.get(f)
        if p is not None:
            return {p: 1.0}
        callers = raw[f][4]
        total = sum(c[2] for c in callers.values())
        if depth > 4 or not callers or total <= 0:
            return {"other": 1.0}
        shares: dict[str, float] = {}
        for caller, c in callers.items():
            for part, w in resolve(caller, depth + 1).items():
                shares[part] = shares.get(part, 0.0) + w * c[2] / total
        return shares

    for f, (_cc, _nc, tt, _ct, _callers) in raw.items():
        for part, w in resolve(f).items():
            out[part] += tt * w
    return out


def top(stats: pstats.Stats, n: int) -> list[str]:
    """The n functions with the most own time, with the part each went to."""
    raw = stats.stats  # type: ignore[attr-defined]
    rows = sorted(raw.items(), key=lambda kv: -kv[1][2])[:n]
    out = []
    for (filename, line, name), (_cc, nc, tt, ct, _callers) in rows:
        where = name if filename == "~" else f"{filename.replace(str(ROOT) + os.sep, '')}:{line}({name})"
        out.append(f"    {tt:7.3f} {ct:7.3f} {nc:>8} {part_of((filename, line, name)) or 'by caller':<20} {where}")
    return out


def profile(argv: list[str], env: dict[str, str], n_top: int = 0) -> tuple[dict[str, float], float, list[str]]:
    with tempfile.TemporaryDirectory(prefix="cardscan-prof-") as t:
        out = Path(t) / "p.prof"
        # cwd: a directory without a cardscan/ in it, so the profile is of the
        # installed package, as the cardscan command imports it.
        subprocess.run([sys.executable, "-c", DRIVER, str(out), *argv], env=env, check=False, cwd=t,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        stats = pstats.Stats(str(out))
        return split(stats), stats.total_tt, top(stats, n_top)  # type: ignore[attr-defined]


def wall(argv: list[str], env: dict[str, str], runs: int = 3) -> float:
    exe = Path(sys.executable).parent / "cardscan"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "cardscan"]
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd + argv, env=env, check=False, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


def report(path: Path, n_top: int = 0, n: int = 3) -> str:
    env = dict(os.environ)
    env.setdefault("CARDSCAN_FINGERPRINT_KEY", "cardscan-benchmark-key-v2, 32 bytes+")
    # Bytecode cached, as in an installed package (see bench_process.env).
    env.pop("PYTHONDONTWRITEBYTECODE", None)
    with tempfile.TemporaryDirectory(prefix="cardscan-prof-") as t:
        tmp = Path(t)
        empty = tmp / "empty.log"
        empty.write_bytes(b"")
        runs = {}
        wall(["--version"], env, 1)  # writes the bytecode caches, untimed
        for name, target in (("empty file", empty), (path.name, path)):
            argv = ["scan", "--jobs", "1", "--manifest", str(tmp / "m.jsonl"), str(target)]
            # Median of each part over n runs: one run on a shared machine
            # can be half again as slow in any part.
            samples = [profile(argv, env, n_top) for _ in range(n)]
            parts = {part: statistics.median(smp[0][part] for smp in samples) for part in PARTS}
            total = statistics.median(smp[1] for smp in samples)
            tops = samples[len(samples) // 2][2]
            runs[name] = (parts, total, wall(argv, env, n))
    size = path.stat().st_size / (1 << 20)
    names = list(runs)
    lines = [f"Profile of `cardscan scan --jobs 1 --manifest M FILE` (cProfile, own time per part, seconds, "
             f"median of {n} runs; FILE = {path.name}, {size:,.0f} MB; load {os.getloadavg()[0]:.2f})",
             f"  {'part':<22}" + "".join(f"{n:>16}" for n in names) + f"{'share':>8}"]
    big_parts, big_total, _ = runs[names[-1]]
    for part in PARTS:
        cells = "".join(f"{runs[n][0][part]:>16.3f}" for n in names)
        lines.append(f"  {part:<22}{cells}{100 * big_parts[part] / big_total:>7.1f}%")
    lines.append(f"  {'total (profiled)':<22}" + "".join(f"{runs[n][1]:>16.3f}" for n in names))
    lines.append(f"  {'wall, no profiler':<22}" + "".join(f"{runs[n][2]:>16.3f}" for n in names))
    mbps = size / runs[names[-1]][2]
    lines.append(f"  whole process {mbps:,.0f} MB/s; the empty file's wall time is the start-up and fixed cost "
                 "(interpreter start included)")
    if n_top:
        lines.append(f"  top {n_top} functions by own time ({path.name}): own s, cumulative s, calls, part")
        lines += tops
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("file", type=Path)
    ap.add_argument("--top", type=int, default=0, help="also list the N functions with most own time")
    ap.add_argument("--runs", type=int, default=3, help="profiled (and timed) runs; medians are reported")
    args = ap.parse_args(argv)
    print(report(args.file, args.top, args.runs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
