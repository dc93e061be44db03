"""Database dumps: scanning with their columns against scanning the same bytes as text.

Writes a table of ``--rows`` rows (an id, a merchant id, a card number in one
row in 5,000, a short note) and dumps it with the real tools found on this
machine: ``sqlite3 .dump`` always, ``pg_dump`` (COPY) and ``mariadb-dump``
(extended inserts) when the local servers answer (docs/development.md).
Each dump is then scanned in this process, in the same run:

* as a dump (cardscan/decoders/dumps.py: rows parsed, values judged by their column);
* as plain text (``Scanner.scan_stream`` over the same bytes): the baseline.

and the report gives MB/s, rows/s and the ratio dump/text (CPU time of this
process, so other load on the machine counts less). Run on its own::

    .venv/bin/python benchmarks/bench_dumps.py --rows 200000 --repeat 3
"""
from __future__ import annotations

import argparse
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from cardscan.decoders.dumps import scan
from cardscan.engine.scanner import Scanner
from cardscan.findings import Location
from cardscan.testing import distinct_pans

COLUMNS = "id integer PRIMARY KEY, merchant_id bigint, card_number text, note text"


def rows(n: int) -> list[tuple[int, int, str | None, str]]:
    pans = distinct_pans(3, seed=20261206)
    return [(i, 1000 + i, pans[i % 3] if i % 5000 == 0 else None, f"note {i} ok") for i in range(1, n + 1)]


def make_dumps(d: Path, n: int) -> dict[str, Path]:
    data = rows(n)
    out: dict[str, Path] = {}
    if shutil.which("sqlite3"):
        db = sqlite3.connect(d / "t.db")
        db.execute(f"CREATE TABLE t ({COLUMNS})")
        db.executemany("INSERT INTO t VALUES (?, ?, ?, ?)", data)
        db.commit()
        db.close()
        out["sqlite .dump"] = _run(["sqlite3", str(d / "t.db"), ".dump"], d / "sqlite.sql")
    name = f"cardscan_bench_{uuid.uuid4().hex[:8]}"
    try:
        import psycopg2

        admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres", connect_timeout=3)
        admin.autocommit = True
        admin.cursor().execute(f"CREATE DATABASE {name}")
        try:
            pg = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=name)
            cur = pg.cursor()
            cur.execute(f"CREATE TABLE t ({COLUMNS})")
            cur.executemany("INSERT INTO t VALUES (%s, %s, %s, %s)", data)
            pg.commit()
            pg.close()
            out["pg_dump (COPY)"] = _run(["pg_dump", "-h", "127.0.0.1", "-U", "postgres", name], d / "pg.sql")
        finally:
            admin.cursor().execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
            admin.close()
    except Exception as exc:  # noqa: BLE001 - a missing server skips that tool
        print(f"pg_dump: skipped ({type(exc).__name__})", file=sys.stderr)
    try:
        import pymysql

        my = pymysql.connect(host="127.0.0.1", user="root", connect_timeout=3)
        my.cursor().execute(f"CREATE DATABASE {name}")
        try:
            my.select_db(name)
            cur = my.cursor()
            cur.execute(f"CREATE TABLE t ({COLUMNS})")
            cur.executemany("INSERT INTO t VALUES (%s, %s, %s, %s)", data)
            my.commit()
            out["mariadb-dump"] = _run(["mariadb-dump", "-h", "127.0.0.1", "-uroot", name], d / "my.sql")
        finally:
            my.cursor().execute(f"DROP DATABASE IF EXISTS {name}")
            my.close()
    except Exception as exc:  # noqa: BLE001
        print(f"mariadb-dump: skipped ({type(exc).__name__})", file=sys.stderr)
    return out


def _run(cmd: list[str], path: Path) -> Path:
    with open(path, "wb") as fh:
        subprocess.run(cmd, stdout=fh, check=True)
    return path


def best(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return min(times)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=200_000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    scanner = Scanner(key=b"bench-dumps")
    with tempfile.TemporaryDirectory() as tmp:
        dumps = make_dumps(Path(tmp), args.rows)
        print(f"{args.rows} rows; CPU seconds, best of {args.repeat}\n")
        print("| dump | MB | as a dump | as text (baseline) | dump / text | rows/s as a dump | findings (dump, text) |")
        print("|---|---:|---:|---:|---:|---:|---|")
        for label, path in dumps.items():
            size = os.path.getsize(path)
            found: dict[str, int] = {}

            def as_dump(path: Path = path, found: dict[str, int] = found) -> None:
                with open(path, "rb") as fh:
                    found["dump"] = len(scan(fh, scanner, Location(uri="x"))[0])

            def as_text(path: Path = path, found: dict[str, int] = found) -> None:
                with open(path, "rb") as fh:
                    found["text"] = sum(1 for _ in scanner.scan_stream(fh))

            td, tt = best(as_dump, args.repeat), best(as_text, args.repeat)
            print(f"| {label} | {size / 1e6:.1f} | {size / 1e6 / td:.1f} MB/s | {size / 1e6 / tt:.1f} MB/s | "
                  f"{td / tt:.2f}x the time | {args.rows / td:,.0f} | {found['dump']}, {found['text']} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
