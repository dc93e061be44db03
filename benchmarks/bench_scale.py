"""Scaling: sweep throughput with 1, 2, ... N local workers and on a Dask LocalCluster.

Two inputs (generated once, cached under ``benchmarks/data/``, gitignored):

* a tree of many small files (default 100,000; ~300-600 bytes each, log
  lines, one in ten with a planted PAN) in directories of 1,000: the
  per-file overhead (walk, open, decoder sniffing, scan, hash, results back
  to the parent, manifest);
* one huge file (generate.py's application log, default 512 MB), which the
  sweep splits into 64 MiB byte ranges: raw scanning throughput.

Each is swept with the real machinery (``Sweep`` over ``FileSource``, the
manifest written to a real 0600 file) by:

* ``in-process``: ``--jobs 1`` (no pool: walk, scan and manifest in one process);
* ``local xK``: a process pool of K workers (the parent walks and writes);
* ``dask xK``: a ``distributed.LocalCluster`` of K single-threaded worker
  processes (cluster start-up not timed);
* with ``--state``: in-process with a new state, then again with every
  object carried over (the cost of an incremental sweep of an unchanged tree).

Every row gives files/s (or MB/s) and the ratio to one worker of the same
kind *in the same run*. Other processes may compete for the same cores, so
each row also gives, from ``/proc`` (Linux), the CPU time used by this
process and all its descendants (pool workers, Dask nanny and workers) and
by everything else on the machine during the row: "per CPU-second" figures
(files per second of CPU actually used) do not depend on what else runs,
and "others" says how many cores were taken by other processes. The page
cache is warm (one untimed read first).

    python benchmarks/bench_scale.py                       # 100,000 files, 512 MB, workers 1..cores, dask
    python benchmarks/bench_scale.py --files 20000 --big-mb 128 --workers 1,2
    CARDSCAN_BENCH_FILES=20000 python benchmarks/bench_scale.py --no-dask --state
    python benchmarks/bench_scale.py --files 20000 --profile   # where the per-file time goes (in-process)
"""
from __future__ import annotations

import argparse
import cProfile
import io
import json
import os
import pstats
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable

from cardscan.engine.config import ScanConfig
from cardscan.engine.scanner import Scanner
from cardscan.findings import FingerprintKey
from cardscan.pipeline import Pipeline
from cardscan.run.executor import ExecutorRunner, InProcessRunner, default_jobs, process_pool
from cardscan.run.sweep import Sweep
from cardscan.sinks.jsonl import JsonlSink
from cardscan.sources.fs import FileSource
from cardscan.testing import make_pan

DATA = Path(__file__).resolve().parent / "data"
KEY = b"cardscan-benchmark-key-v2, 32 bytes+"  # 32+ bytes: --state and the env var refuse shorter
MB = 1 << 20
TREE_VERSION = 2


# -- inputs ----------------------------------------------------------------------------
def ensure_tree(n: int, log: Callable[[str], None]) -> tuple[Path, int]:
    """The small-file tree of ``n`` files; (root, PANs planted)."""
    root = DATA / f"tree-{n}"
    marker = DATA / f"tree-{n}.json"  # beside the tree, not in it (it would be scanned)
    if marker.exists():
        meta = json.loads(marker.read_text())
        if meta.get("version") == TREE_VERSION:
            return root, int(meta["planted"])
    if root.exists():
        shutil.rmtree(root)
    DATA.mkdir(parents=True, exist_ok=True)
    t0 = time.perf_counter()
    rng = random.Random(n)
    planted = 0
    for i in range(n):
        d = root / f"d{i // 1000:04d}"
        if i % 1000 == 0:
            d.mkdir(parents=True)
        lines = [f"2024-06-11T09:{j:02d}:{i % 60:02d}Z INFO req={rng.randrange(10**9)} user={rng.randrange(10**6)} "
                 f"took {rng.randrange(900)}ms\n" for j in range(rng.randrange(3, 7))]
        if i % 10 == 0:
            lines.insert(rng.randrange(len(lines)), f"payment declined card={make_pan('4', 16, rng)} exp 09/27\n")
            planted += 1
        (d / f"f{i:06d}.log").write_text("".join(lines))
    marker.write_text(json.dumps({"version": TREE_VERSION, "files": n, "planted": planted}))
    log(f"generated {n} files in {root} in {time.perf_counter() - t0:.1f} s")
    return root, planted


def ensure_big(size_mb: float, log: Callable[[str], None]) -> Path:
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import generate

    return generate.ensure(size_mb, files=("app.log",), log=log)["app.log"]


def warm(path: Path) -> None:
    """Read everything once, untimed, so every row sees a warm page cache."""
    paths = [path] if path.is_file() else (p for p in path.rglob("*") if p.is_file())
    for p in paths:
        with open(p, "rb") as fh:
            while fh.read(8 * MB):
                pass


# -- one measurement -------------------------------------------------------------------
def settings(root: Path) -> dict[str, Any]:
    """The pipeline spec the workers are built from."""
    src = FileSource(root)
    return Pipeline(Scanner(ScanConfig(), FingerprintKey(KEY)), sources=[
        {"name": "file", "url": str(root), "options": src.options()}]).spec()


class CpuMeter:
    """CPU seconds used by this process tree and by the whole machine, sampled from /proc.

    Descendants are sampled every 0.2 s and the last value of each is kept,
    so a worker that exits loses at most its last 0.2 s.
    """

    def __init__(self) -> None:
        import threading

        self.tick = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        self._seen: dict[int, float] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, daemon=True)
        self.ok = os.path.exists("/proc/stat")

    def _stat(self, pid: int) -> tuple[int, float] | None:
        try:
            with open(f"/proc/{pid}/stat", "rb") as fh:
                fields = fh.read().rsplit(b")", 1)[1].split()
        except OSError:
            return None
        return int(fields[1]), (int(fields[11]) + int(fields[12])) / self.tick  # ppid, utime + stime

    def _sample(self) -> None:
        me = os.getpid()
        parents: dict[int, int] = {}
        cpu: dict[int, float] = {}
        for name in os.listdir("/proc"):
            if name.isdigit():
                st = self._stat(int(name))
                if st is not None:
                    parents[int(name)], cpu[int(name)] = st
        for pid, c in cpu.items():
            p, hops = pid, 0
            while p not in (0, 1, me) and hops < 50:
                p, hops = parents.get(p, 0), hops + 1
            if p == me:
                self._seen[pid] = c

    def _machine(self) -> float:
        with open("/proc/stat") as fh:
            v = [int(x) for x in fh.readline().split()[1:]]
        return (sum(v) - v[3] - (v[4] if len(v) > 4 else 0)) / self.tick  # all but idle and iowait

    def _loop(self) -> None:
        while not self._stop.wait(0.2):
            self._sample()

    def __enter__(self) -> "CpuMeter":
        if self.ok:
            self._sample()
            self._base = dict(self._seen)
            self._m0 = self._machine()
            self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        if self.ok:
            self._stop.set()
            self._thread.join()
            self._sample()
            self.tree = sum(c - self._base.get(pid, 0.0) for pid, c in self._seen.items())
            self.machine = self._machine() - self._m0


def sweep_once(root: Path, runner: Any, out: Path, state: Any = None) -> tuple[float, dict[str, Any]]:
    """(wall seconds, summary); the summary gets ``driver_cpu_s`` (this process), ``tree_cpu_s`` (with
    all descendants) and ``machine_cpu_s`` (everything on the machine), from /proc where available."""
    sink = JsonlSink(out)
    c0, t0 = time.process_time(), time.perf_counter()
    with CpuMeter() as meter:
        summary = Sweep([FileSource(root)], runner, [sink], state=state).run()
        wall = time.perf_counter() - t0
    summary["driver_cpu_s"] = time.process_time() - c0
    if meter.ok:
        summary["tree_cpu_s"], summary["machine_cpu_s"] = meter.tree, meter.machine
    return wall, summary


def load() -> str:
    try:
        return "/".join(f"{x:.1f}" for x in os.getloadavg())
    except OSError:
        return "?"


class Table:
    def __init__(self, title: str, unit: str) -> None:
        self.title, self.unit = title, unit
        self.rows: list[dict[str, Any]] = []

    def add(self, label: str, kind: str, workers: int, seconds: float, amount: float, summary: dict[str, Any],
            before: str) -> None:
        rate = amount / seconds
        base = next((r["rate"] for r in self.rows if r["kind"] == kind and r["workers"] == 1), None)
        driver = summary.get("driver_cpu_s", 0.0)
        tree = summary.get("tree_cpu_s")
        machine = summary.get("machine_cpu_s")
        row = {"label": label, "kind": kind, "workers": workers, "seconds": seconds, "rate": rate,
               "ratio": rate / base if base else 1.0, "per_worker": rate / workers, "findings": summary["findings"],
               "driver_cpu_s": driver, "tree_cpu_s": tree, "machine_cpu_s": machine,
               "per_cpu_second": amount / tree if tree else None,
               "others_cores": (machine - tree) / seconds if tree is not None and machine is not None else None,
               "load_before": before, "load_after": load()}
        self.rows.append(row)
        unit = "us/file" if self.unit == "files/s" else "s"
        scale = 1e6 / amount if self.unit == "files/s" else 1.0
        cpu = f"driver {driver * scale:.0f} {unit}"
        if tree is not None:
            cpu += (f", all ours {tree * scale:.0f} {unit} = {amount / tree:.0f} {self.unit.split('/')[0]} per "
                    f"CPU-second, {tree / seconds:.2f} cores; others {row['others_cores']:.2f} cores")
        print(f"  {label:<30} {seconds:7.2f} s {rate:8.0f} {self.unit}  x{row['ratio']:.2f}  "
              f"({rate / workers:.0f} per worker)  CPU: {cpu}  findings {summary['findings']}  "
              f"load {before} -> {row['load_after']}", flush=True)


def run_local(root: Path, table: Table, workers: list[int], amount: float, tmp: Path) -> None:
    s = settings(root)
    for k in workers:
        before = load()
        runner = ExecutorRunner(process_pool(s, k), s, initialized=True, jobs=k)
        secs, summary = sweep_once(root, runner, tmp / "m.jsonl")
        table.add(f"local x{k}", "local", k, secs, amount, summary, before)


def run_dask(root: Path, table: Table, workers: list[int], amount: float, tmp: Path) -> None:
    try:
        from distributed import Client, LocalCluster

        from cardscan.run.dask import DaskRunner
    except ImportError:
        print("  (dask not installed: pip install 'cardscan[dask]')")
        return
    s = settings(root)
    for k in workers:
        with LocalCluster(n_workers=k, threads_per_worker=1, processes=True, dashboard_address=None) as cluster, \
                Client(cluster) as client:
            before = load()
            secs, summary = sweep_once(root, DaskRunner(client, s), tmp / "m.jsonl")
            table.add(f"dask x{k}", "dask", k, secs, amount, summary, before)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--files", type=int, default=int(os.environ.get("CARDSCAN_BENCH_FILES", 100_000)),
                    help="small files in the tree (default 100000, or $CARDSCAN_BENCH_FILES)")
    ap.add_argument("--big-mb", type=float, default=float(os.environ.get("CARDSCAN_BENCH_BIG_MB", 512)),
                    help="size of the huge file in MB (default 512, or $CARDSCAN_BENCH_BIG_MB; 0 skips it)")
    ap.add_argument("--workers", default=None, help="worker counts, e.g. 1,2,4 (default 1..cores)")
    ap.add_argument("--no-dask", dest="dask", action="store_false", help="skip the Dask LocalCluster rows")
    ap.add_argument("--only", choices=["small", "big"], help="run one of the two inputs")
    ap.add_argument("--state", action="store_true", help="also time sweeps with a state (new, then all carried over)")
    ap.add_argument("--profile", action="store_true", help="profile the in-process sweep of the tree and stop")
    ap.add_argument("--json", type=Path, help="also write the results as JSON")
    args = ap.parse_args(argv)
    workers = [int(x) for x in args.workers.split(",")] if args.workers else list(range(1, default_jobs() + 1))
    print(f"cardscan scaling benchmark: {os.cpu_count()} CPUs ({default_jobs()} usable), "
          f"python {sys.version.split()[0]}, load {load()}")
    results: dict[str, Any] = {"cpus": default_jobs(), "files": args.files, "big_mb": args.big_mb, "tables": {}}
    with tempfile.TemporaryDirectory(prefix="cardscan-bench-") as t:
        tmp = Path(t)
        if args.profile:
            return profile(args, tmp)
        if args.only != "big":
            results["tables"]["small"] = small_files(args, workers, tmp)
        if args.big_mb > 0 and args.only != "small":
            results["tables"]["big"] = big_file(args, workers, tmp)
    print(f"\nload average at the end: {load()}")
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=1) + "\n")
    return 0


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def profile(args: argparse.Namespace, tmp: Path) -> int:
    tree, _ = ensure_tree(args.files, log)
    warm(tree)
    prof = cProfile.Profile()
    prof.enable()
    secs, _ = sweep_once(tree, InProcessRunner(settings(tree)), tmp / "m.jsonl")
    prof.disable()
    out = io.StringIO()
    pstats.Stats(prof, stream=out).sort_stats("tottime").print_stats(30)
    print(out.getvalue())
    print(f"{args.files / secs:.0f} files/s under the profiler")
    return 0


def small_files(args: argparse.Namespace, workers: list[int], tmp: Path) -> list[dict[str, Any]]:
    tree, planted = ensure_tree(args.files, log)
    warm(tree)
    print(f"\nsmall files: {args.files} files, {planted} planted PANs")
    small = Table("small files", "files/s")
    before = load()
    secs, summary = sweep_once(tree, InProcessRunner(settings(tree)), tmp / "m.jsonl")
    small.add("in-process (--jobs 1)", "in-process", 1, secs, args.files, summary, before)
    if summary["findings"] < planted:
        print(f"  WARNING: {summary['findings']} findings for {planted} planted PANs")
    run_local(tree, small, workers, args.files, tmp)
    if args.dask:
        run_dask(tree, small, workers, args.files, tmp)
    if args.state:
        from cardscan.run.state import open_state

        for label in ("in-process + new state", "in-process, all carried over"):
            st = open_state(tmp / "bench.state", engine=ScanConfig().to_dict(), limits={}, key=FingerprintKey(KEY))
            try:
                before = load()
                secs, summary = sweep_once(tree, InProcessRunner(settings(tree)), tmp / "m.jsonl", state=st)
            finally:
                st.store.close()
            small.add(label, "state:" + label, 1, secs, args.files, summary, before)
    in_process = small.rows[0]["rate"]
    print(f"  per-file cost, in-process: {1e6 / in_process:.0f} us per file (walk + open + sniff + scan + "
          f"hash + manifest), {in_process:.0f} files/s on one core")
    return small.rows


def big_file(args: argparse.Namespace, workers: list[int], tmp: Path) -> list[dict[str, Any]]:
    big = ensure_big(args.big_mb, log)
    size = big.stat().st_size
    warm(big)
    print(f"\nhuge file: {size / MB:.0f} MB, split into 64 MiB ranges ({-(-size // (64 * MB))} ranges)")
    table = Table("huge file", "MB/s")
    one = tmp / "one"
    one.mkdir()
    root = one / big.name
    os.symlink(big, root)  # a root holding only the big file (explicit roots are followed)
    run_local(root, table, workers, size / MB, tmp)
    if args.dask:
        run_dask(root, table, workers, size / MB, tmp)
    return table.rows


if __name__ == "__main__":
    sys.exit(main())
