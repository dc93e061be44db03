"""Containers: scanning through gzip and zip, against ``zcat | baseline``, same run.

Inputs (built from generate.py's files, see there; regenerated when stale,
gitignored under ``benchmarks/data/<size>mb/``):

* ``app.log.gz``: the application log, gzip level 6;
* ``transactions.zip``: the transactions CSV split into 8 CSV files, deflated.

Rows, all in MB/s of *uncompressed* data:

* ``zcat`` / ``unzip -p`` to /dev/null: the native decompression ceiling;
* ``expand only``: ``cardscan.decoders.expand`` read to the end, no scan (the
  decoder's own cost, pure Python around zlib);
* ``cardscan``: expand + ``Scanner.scan_stream`` on every layer, one process;
* ``zcat | baseline``: the native decompressor piped into a Python process
  running stdlib ``re`` with a reasonable PAN pattern and ``luhn.verify``
  (what most scripts do); two processes, so it may use two cores.

Recall is checked against the planted PANs by HMAC fingerprint (the files'
sidecars), for cardscan and for the baseline.

    python benchmarks/bench_containers.py                 # 256 MB per input
    CARDSCAN_BENCH_MB=32 python benchmarks/bench_containers.py
    python benchmarks/bench_containers.py --size-mb 16 --repeat 1
"""
from __future__ import annotations

import argparse
import gzip
import os
import shutil
import statistics
import subprocess
import sys
import time
import zipfile
from pathlib import Path
from typing import Callable

import generate

from cardscan import Scanner
from cardscan.decoders import Layer, Limits, expand
from cardscan.findings import FingerprintKey

MB = 1 << 20

#: The baseline: stdlib re + luhn.verify over stdin, chunked with a carried
#: tail; prints one HMAC fingerprint per match (the benchmark key is public).
BASELINE = r'''
import hashlib, hmac, re, sys
import luhn
KEY = %r
PAT = re.compile(rb"(?<![0-9])[2-6](?:[0-9][ -]?){11,17}[0-9](?![0-9])")
out, seen, tail, base = [], set(), b"", 0
read = sys.stdin.buffer.read
while True:
    chunk = read(1 << 20)
    buf = tail + chunk
    for m in PAT.finditer(buf):
        if chunk and m.end() > len(buf) - 64:
            break  # decide it with the next chunk
        pos = base + m.start()
        if pos in seen:
            continue
        digits = re.sub(rb"[ -]", b"", m.group())
        if luhn.verify(digits.decode()):
            seen.add(pos)
            out.append("hmac-sha256:" + hmac.new(KEY, digits, hashlib.sha256).hexdigest())
    if not chunk:
        break
    keep = min(len(buf), 64)
    base += len(buf) - keep
    tail = buf[-keep:]
    seen = {p for p in seen if p >= base}
sys.stdout.write("\n".join(out) + "\n")
''' % generate.BENCH_KEY


def build(size_mb: float, log: Callable[[str], None]) -> dict[str, tuple[Path, int, set[str]]]:
    """name -> (container path, uncompressed bytes, planted fingerprints)."""
    src = generate.ensure(size_mb, files=("app.log", "transactions.csv"), log=log)
    out: dict[str, tuple[Path, int, set[str]]] = {}

    logf = src["app.log"]
    gz = logf.with_name("app.log.gz")
    if not gz.exists() or gz.stat().st_mtime < logf.stat().st_mtime:
        t = time.perf_counter()
        with open(logf, "rb") as fin, gzip.open(gz.with_suffix(".tmp"), "wb", compresslevel=6) as fout:
            shutil.copyfileobj(fin, fout, MB)
        os.replace(gz.with_suffix(".tmp"), gz)
        log(f"built {gz} in {time.perf_counter() - t:.1f} s")
    out["app.log.gz"] = (gz, logf.stat().st_size, _planted(logf))

    csv = src["transactions.csv"]
    zp = csv.with_name("transactions.zip")
    if not zp.exists() or zp.stat().st_mtime < csv.stat().st_mtime:
        t = time.perf_counter()
        data = csv.read_bytes()
        header, _, body = data.partition(b"\n")
        parts, step, start = [], len(body) // 8 + 1, 0
        while start < len(body):
            end = body.find(b"\n", min(start + step, len(body) - 1))
            end = len(body) if end < 0 else end + 1
            parts.append(body[start:end])
            start = end
        with zipfile.ZipFile(zp.with_suffix(".tmp"), "w", zipfile.ZIP_DEFLATED) as z:
            for i, part in enumerate(parts):
                z.writestr(f"export/transactions-{i + 1}.csv", header + b"\n" + part)
        os.replace(zp.with_suffix(".tmp"), zp)
        log(f"built {zp} in {time.perf_counter() - t:.1f} s")
    with zipfile.ZipFile(zp) as z:
        total = sum(i.file_size for i in z.infolist())
    out["transactions.zip"] = (zp, total, _planted(csv))
    return out


def _planted(path: Path) -> set[str]:
    return {p["fingerprint"] for p in generate.load_sidecar(path)["planted"]}


def cardscan_scan(path: Path) -> set[str]:
    scanner = Scanner(key=FingerprintKey(generate.BENCH_KEY))
    found: set[str] = set()
    with open(path, "rb") as fh:
        for part in expand(fh, path.name, Limits(max_ratio=10_000)):
            if isinstance(part, Layer):
                found.update(f.fingerprint for f in scanner.scan_stream(part.stream))
            else:
                print(f"  failure: {part.kind} {part.message}", file=sys.stderr)
    return found


def expand_only(path: Path) -> set[str]:
    with open(path, "rb") as fh:
        for part in expand(fh, path.name, Limits(max_ratio=10_000)):
            if isinstance(part, Layer):
                while part.stream.read(MB):
                    pass
    return set()


def _cat(path: Path) -> list[str]:
    return ["zcat", str(path)] if path.suffix == ".gz" else ["unzip", "-p", str(path)]


def native_ceiling(path: Path) -> set[str]:
    subprocess.run(_cat(path), stdout=subprocess.DEVNULL, check=True)
    return set()


def piped_baseline(path: Path) -> set[str]:
    cat = subprocess.Popen(_cat(path), stdout=subprocess.PIPE)
    res = subprocess.run([sys.executable, "-c", BASELINE], stdin=cat.stdout, capture_output=True, check=True)
    cat.stdout.close()  # type: ignore[union-attr]
    cat.wait()
    return {line for line in res.stdout.decode().split("\n") if line}


def measure(fn: Callable[[Path], set[str]], path: Path, repeat: int, budget: float) -> tuple[float, int, set[str]]:
    times, found = [], set()
    for i in range(repeat):
        t = time.perf_counter()
        found = fn(path)
        times.append(time.perf_counter() - t)
        if i == 0 and times[0] > budget:
            break
    return statistics.median(times), len(times), found


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=float, default=generate.default_size_mb(),
                    help="uncompressed size of each input in MB (default 256, or $CARDSCAN_BENCH_MB)")
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--budget", type=float, default=60.0, help="a method slower than this (s) runs once")
    args = ap.parse_args(argv)
    inputs = build(args.size_mb, lambda m: print(m, file=sys.stderr))
    methods: list[tuple[str, Callable[[Path], set[str]]]] = [
        ("zcat / unzip -p > /dev/null", native_ceiling),
        ("expand only (no scan)", expand_only),
        ("cardscan (expand + scan)", cardscan_scan),
        ("zcat | re + luhn.verify", piped_baseline),
    ]
    print(f"# containers benchmark, {args.size_mb:g} MB uncompressed per input, median of up to {args.repeat}")
    print(f"{'input':<18} {'method':<30} {'MB/s':>8} {'runs':>5} {'recall':>8}")
    for name, (path, raw_size, planted) in inputs.items():
        ratio = raw_size / path.stat().st_size
        for label, fn in methods:
            if fn in (native_ceiling, piped_baseline) and shutil.which(_cat(path)[0]) is None:
                continue
            secs, runs, found = measure(fn, path, args.repeat, args.budget)
            recall = f"{len(found & planted) / len(planted):.1%}" if found else "-"
            print(f"{name:<18} {label:<30} {raw_size / MB / secs:>8.1f} {runs:>5} {recall:>8}")
        print(f"{'':<18} ({path.stat().st_size / MB:.1f} MB compressed, ratio {ratio:.1f}:1, "
              f"{len(planted)} PANs planted)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
