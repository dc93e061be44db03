"""Run the whole benchmark suite and print one report.

    python benchmarks/run.py                 # 256 MB per input (or $CARDSCAN_BENCH_MB)
    python benchmarks/run.py --size-mb 16    # a quicker run
    python benchmarks/run.py --profile       # also cProfile cardscan on the log

Generates the inputs if missing (benchmarks/data/, gitignored), then for each
input prints MB/s of cardscan and of the baselines measured in the same run,
the ratio cardscan / baseline, and recall / extra findings against the
planted PANs; then the RedactingFilter per-record overhead. The report is
also saved as JSON under benchmarks/.results/ (gitignored).
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import bench_engine
import bench_redact
import generate

RESULTS = HERE / ".results"


def _commit() -> str:
    """The checked-out commit, ``+dirty`` if cardscan/ has uncommitted changes."""
    try:
        head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=HERE, capture_output=True,
                              text=True, timeout=10, check=False).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--", "cardscan"], cwd=HERE.parent,
                               capture_output=True, text=True, timeout=10, check=False).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + ("+dirty" if dirty else "")


def machine() -> dict[str, str]:
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "date": dt.date.today().isoformat(),
        "commit": _commit(),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="cardscan benchmark suite")
    ap.add_argument("--size-mb", type=float, default=generate.default_size_mb(),
                    help="size of each generated input in MB (default 256 or $CARDSCAN_BENCH_MB)")
    ap.add_argument("--repeat", type=int, default=3, help="runs per method; the median is reported (default 3)")
    ap.add_argument("--budget", type=float, default=30.0,
                    help="a method whose first run takes longer than this many seconds runs once (default 30)")
    ap.add_argument("--files", nargs="*", default=list(generate.FILES), choices=generate.FILES)
    ap.add_argument("--no-python", action="store_true", help="skip the pure-Python backend")
    ap.add_argument("--no-redact", action="store_true", help="skip the RedactingFilter benchmark")
    ap.add_argument("--redact-records", type=int, default=50_000)
    ap.add_argument("--profile", action="store_true", help="print a cProfile of cardscan on the log")
    ap.add_argument("--profile-mb", type=float, default=64.0)
    ap.add_argument("--data", type=Path, default=generate.DATA_ROOT, help="data root (default benchmarks/data)")
    ap.add_argument("--no-save", action="store_true", help="do not write benchmarks/.results/*.json")
    ap.add_argument("-q", "--quiet", action="store_true", help="no progress lines on stderr")
    args = ap.parse_args(argv)

    def progress(msg: str) -> None:
        if not args.quiet:
            print(msg, file=sys.stderr, flush=True)

    info = machine()
    paths = generate.ensure(args.size_mb, root=args.data, files=tuple(args.files), log=progress)
    print(f"cardscan benchmark  {info['date']}  commit {info['commit']}  {info['cpu']} ({info['cores']} cores)  "
          f"Python {info['python']}  {bench_engine.rg_version()}")
    print(f"median of {args.repeat} runs; a method slower than {args.budget:g} s per run ran once (see 'runs')")
    if not bench_engine.rg_available():
        print("rg not installed: the ripgrep baseline is skipped (apt-get install ripgrep)")
    report: dict = {"machine": info, "size_mb": args.size_mb, "repeat": args.repeat, "files": {}}
    for name in args.files:
        path = paths[name]
        planted = generate.load_sidecar(path)["planted"]
        results = bench_engine.bench_file(path, args.repeat, args.budget, not args.no_python, progress)
        print()
        print(bench_engine.format_table(path, results, len(planted)))
        report["files"][name] = [
            {
                "method": r.method, "mb_s": round(r.mbps, 2), "seconds": [round(s, 4) for s in r.seconds],
                "recall": None if r.correctness is None else r.correctness.recall,
                "extra": None if r.correctness is None else r.correctness.extra,
                "missed": None if r.correctness is None else r.correctness.missed_forms,
            }
            for r in results
        ]
        sys.stdout.flush()
    if not args.no_redact:
        rr = bench_redact.bench(args.redact_records)
        print()
        print(bench_redact.format_result(rr))
        report["redact"] = {
            "records": rr.records, "plain_us": rr.plain_us, "filtered_us": rr.filtered_us,
            "overhead_us": rr.overhead_us, "leaked": rr.leaked,
        }
    if args.profile and "app.log" in paths:
        print()
        text = bench_engine.profile(paths["app.log"], limit_mb=args.profile_mb)
        print(text)
        report["profile"] = text
    if not args.no_save:
        RESULTS.mkdir(exist_ok=True)
        stamp = dt.datetime.now().strftime("%Y%m%d-%H%M%S")
        out = RESULTS / f"{stamp}-{args.size_mb:g}mb.json"
        out.write_text(json.dumps(report, indent=1) + "\n", encoding="utf-8")
        progress(f"saved {out}")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `run.py | head`: stop quietly
        sys.stderr.close()
        sys.exit(0)
