"""Throughput and memory of ``cardscan access`` on S3 server access logs and CloudTrail files.

Generates gzip log files (S3 access log lines and CloudTrail files of the
formats in tests/access/logs.py) for a manifest of 50 card-holding objects
in a bucket of 5,000 keys, then times, in the same run:

* ``cardscan.access.run`` over them (both passes, all parsing and matching);
* the floor: reading the same files with ``gzip.open`` and splitting every
  line (S3) or ``json.load`` of each file (CloudTrail), twice (the join reads
  the logs twice).

It reports entries per second and the ratio to the floor, and the peak
Python memory (``tracemalloc``) of the join at two log sizes: the logs are
streamed, so the peak must not grow with them.

    .venv/bin/python benchmarks/bench_access.py [--lines N] [--repeat R]
"""
from __future__ import annotations

import argparse
import gzip
import json
import random
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cardscan.access import Options, run  # noqa: E402
from cardscan.testing import make_pan  # noqa: E402
from tests.access.logs import KEY, OTHER, OWNER, ct_record, finding_for, iso, s3_line, write_manifest  # noqa: E402

T0 = 1718096400.0  # 2024-06-11T09:00:00Z


def make_logs(root: Path, lines: int, rng: random.Random, files: int = 8) -> tuple[Path, Path]:
    keys = [f"exports/{i:05d}.csv" for i in range(5000)]
    s3dir, ctdir = root / "s3", root / "ct"
    s3dir.mkdir(parents=True, exist_ok=True)
    ctdir.mkdir(parents=True, exist_ok=True)
    per = lines // files
    ops = ["REST.GET.OBJECT"] * 8 + ["REST.HEAD.OBJECT", "REST.PUT.OBJECT", "REST.GET.BUCKET"]
    # A fixed pool of clients: the readers of an object do not grow with the
    # log (memory grows with distinct readers, by design, not with lines).
    ips = [f"10.{rng.randrange(256)}.{rng.randrange(256)}.{rng.randrange(256)}" for _ in range(64)]
    for f in range(files):
        out = []
        records = []
        for i in range(per):
            ts = T0 + 3600 + (f * per + i)
            key = rng.choice(keys)
            who = rng.choice((OWNER, OTHER, "arn:aws:iam::111122223333:user/etl", "-"))
            out.append(s3_line(bucket="acme", key=key, ts=ts, op=rng.choice(ops), requester=who,
                               ip=rng.choice(ips)))
            if i % 4 == 0:
                records.append(ct_record("GetObject", bucket="acme", key=key, ts=ts))
        (s3dir / f"2024-06-11-{f:02d}-00-00-{rng.getrandbits(32):08X}").write_bytes(
            gzip.compress(("\n".join(out) + "\n").encode(), 6))
        (ctdir / f"111122223333_CloudTrail_us-west-2_{f:02d}.json.gz").write_bytes(
            gzip.compress(json.dumps({"Records": records}).encode(), 6))
    return s3dir, ctdir


def floor_s3(d: Path) -> int:
    n = 0
    for p in sorted(d.iterdir()):
        with gzip.open(p, "rb") as fh:
            for line in fh:
                line.split(b" ")
                n += 1
    return n


def floor_ct(d: Path) -> int:
    n = 0
    for p in sorted(d.iterdir()):
        with gzip.open(p, "rb") as fh:
            n += len(json.load(fh)["Records"])
    return n


def best(fn, repeat: int) -> tuple[float, object]:  # type: ignore[no-untyped-def]
    times, result = [], None
    for _ in range(repeat):
        t = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - t)
    return min(times), result


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--lines", type=int, default=400_000, help="S3 access log lines (CloudTrail: a quarter as many)")
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    rng = random.Random(15)
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        findings = [finding_for(make_pan("4556", rng=rng), f"s3://acme/exports/{i * 100:05d}.csv",
                                obj={"last_modified": iso(T0), "size": 1024}) for i in range(50)]
        manifest = write_manifest(root / "m.jsonl", findings, started=T0 + 30 * 86400, finished=T0 + 30 * 86400 + 60)
        s3dir, ctdir = make_logs(root / "logs", args.lines, rng)
        small_s3, small_ct = make_logs(root / "small", args.lines // 4, random.Random(16))

        def join(s3: Path | None, ct: Path | None) -> list[dict]:
            opts = Options(s3_access_logs=[str(s3)] if s3 else [], cloudtrail=[str(ct)] if ct else [],
                           local_files=False)
            return list(run(str(manifest), opts, KEY))

        t_s3, recs = best(lambda: join(s3dir, None), args.repeat)
        summary = recs[-1]  # type: ignore[index]
        t_s3_floor, n_s3 = best(lambda: floor_s3(s3dir) + floor_s3(s3dir), args.repeat)
        t_ct, _ = best(lambda: join(None, ctdir), args.repeat)
        t_ct_floor, n_ct = best(lambda: floor_ct(ctdir) + floor_ct(ctdir), args.repeat)
        lines_s3 = summary["log_entries"]["s3_access_log"]
        print(f"S3 access logs: {lines_s3} lines, {summary['reads_matched']} reads of card objects, "
              f"{summary['objects_read']} objects read")
        print(f"  cardscan access   {t_s3:7.2f} s  {lines_s3 / t_s3:10.0f} lines/s")
        print(f"  floor (gunzip+split, x2) {t_s3_floor:7.2f} s  ratio {t_s3 / t_s3_floor:5.1f}x")
        n_ct_once = int(n_ct) // 2  # type: ignore[call-overload]
        print(f"CloudTrail: {n_ct_once} records")
        print(f"  cardscan access   {t_ct:7.2f} s  {n_ct_once / t_ct:10.0f} records/s")
        print(f"  floor (gunzip+json.load, x2) {t_ct_floor:7.2f} s  ratio {t_ct / t_ct_floor:5.1f}x")
        for name, s3, ct in (("1/4 size", small_s3, small_ct), ("full size", s3dir, ctdir)):
            tracemalloc.start()
            join(s3, ct)
            _, peak = tracemalloc.get_traced_memory()
            tracemalloc.stop()
            print(f"peak Python memory, {name} logs: {peak / 2**20:6.1f} MiB")


if __name__ == "__main__":
    main()
