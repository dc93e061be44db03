"""Databases at export speed: ``cardscan scan`` of a table against export + ripgrep + Luhn, same run.

For each database (PostgreSQL, MariaDB, SQLite) this builds one table of
``--rows`` rows (default 1,000,000) shaped like a payments table: a BIGINT
key, a timestamp, customer name and e-mail, a card number column that is
masked except in about one row in 130, a 15-digit merchant id, an amount,
and a free-text note that sometimes holds a card number and often order or
phone numbers. Then it times, whole process against whole process:

* cardscan: ``cardscan scan --jobs 1 --no-exposure -q --manifest F URL --table t``
  (the bulk reader, cardscan/sources/sql/bulk.py, the default for a table
  this size);
* the baseline a user would run: the database's own export piped into
  ``rg -o <card regex> | python3 -S benchmarks/luhn_filter.py``:
  ``psql -c 'copy t to stdout'``, ``mariadb --batch --raw --quick -e 'select * from t'``,
  ``sqlite3 -tabs db 'select * from t'``.

It prints rows/s of each, the ratio cardscan / baseline, and the peak RSS of
cardscan's process (GNU ``time``), which must stay flat in table size (compare
``--rows 250000`` with the default). Each command runs ``--repeat`` times
(default 3); the median counts. Tables are built once per size and kept
(``--rebuild`` to build again; SQLite files in ``benchmarks/data/sql/`` or
``$CARDSCAN_BENCH_SQL_DIR``); ``--only pg,maria,sqlite`` picks databases.

Needs the servers of the test suite (PostgreSQL on 127.0.0.1:5432 as
``postgres``, MariaDB on 127.0.0.1:3306 as ``root``), the ``psql``,
``mariadb``, ``sqlite3`` and ``rg`` commands (apt), and the ``all`` extra.

    .venv/bin/python benchmarks/bench_sql.py                 # 1,000,000 rows, ~5 minutes with the build
    .venv/bin/python benchmarks/bench_sql.py --rows 100000   # a quick run
"""
from __future__ import annotations

import argparse
import io
import os
import random
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from cardscan.testing import make_pan  # noqa: E402

PATTERN = r"\b[2-6](?:[0-9][ -]?){11,17}[0-9]\b"  # bench_process.py's card regex (default engine)
LUHN = f"python3 -S {shlex.quote(str(HERE / 'luhn_filter.py'))}"
PG_DB = "cardscan_bench"
MARIA_DB = "cardscan_bench"
SQLITE_DIR = HERE / "data" / "sql"
FIRST = ["Ana", "Ben", "Chloé", "Dmitri", "Eve", "Farah", "Gus", "Hiro", "Ines", "Jon", "Kemal", "Lena"]
LAST = ["Smith", "García", "Okafor", "Müller", "Nguyen", "Rossi", "Kowalski", "Silva", "Tanaka", "Dubois"]


def rows(n: int, seed: int = 20261206):
    """The table's rows as COPY text lines (tab-separated, no value holds a tab or newline)."""
    rng = random.Random(seed)
    t0 = 1_760_000_000
    for i in range(1, n + 1):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        pan = make_pan(rng.choice(["4", "51", "52", "37", "6011"]), 16, rng)
        card = pan if i % 130 == 0 else pan[:6] + "******" + pan[-4:]
        r = rng.random()
        if r < 0.003:
            note = f"customer read card {pan[:4]} {pan[4:8]} {pan[8:12]} {pan[12:]} on the phone"
        elif r < 0.3:
            note = f"order {rng.randint(10**11, 10**13)} shipped, tracking {rng.randint(10**17, 10**18)}"
        elif r < 0.5:
            note = f"call back +1 {rng.randint(200, 999)}-{rng.randint(200, 999)}-{rng.randint(1000, 9999)}"
        else:
            note = "no issue"
        ts = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t0 + i * 13))
        yield (f"{i}\t{ts}\t{first} {last}\t{first.lower()}.{i}@example.com\t{card}\t"
               f"{rng.randint(10**14, 10**15 - 1)}\t{rng.randint(100, 10**6) / 100:.2f}\t{note}\n")


DDL = ("CREATE TABLE t (id BIGINT PRIMARY KEY, created {ts}, customer VARCHAR(60), email VARCHAR(80), "
       "card_number VARCHAR(19), merchant_id VARCHAR(15), amount NUMERIC(12,2), note TEXT)")


def build_pg(n: int) -> str:
    import psycopg2

    admin = psycopg2.connect(host="127.0.0.1", user="postgres", dbname="postgres")
    admin.autocommit = True
    with admin.cursor() as cur:
        cur.execute("DROP DATABASE IF EXISTS " + PG_DB)
        cur.execute("CREATE DATABASE " + PG_DB)
    admin.close()
    conn = psycopg2.connect(host="127.0.0.1", user="postgres", dbname=PG_DB)
    with conn, conn.cursor() as cur:
        cur.execute(DDL.format(ts="TIMESTAMP"))
        cur.copy_expert("COPY t FROM STDIN", io.StringIO("".join(rows(n))))
        cur.execute("ANALYZE t")
    conn.close()
    return f"postgresql://postgres@127.0.0.1:5432/{PG_DB}"


def build_maria(n: int) -> str:
    import pymysql

    conn = pymysql.connect(host="127.0.0.1", user="root", charset="utf8mb4", local_infile=True)
    with conn.cursor() as cur:
        cur.execute(f"DROP DATABASE IF EXISTS {MARIA_DB}")
        cur.execute(f"CREATE DATABASE {MARIA_DB} CHARACTER SET utf8mb4")
        cur.execute(f"USE {MARIA_DB}")
        cur.execute(DDL.format(ts="DATETIME"))
        batch: list[tuple[str, ...]] = []
        for line in rows(n):
            batch.append(tuple(line.rstrip("\n").split("\t")))
            if len(batch) == 5000:
                cur.executemany("INSERT INTO t VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", batch)
                batch = []
        if batch:
            cur.executemany("INSERT INTO t VALUES (%s, %s, %s, %s, %s, %s, %s, %s)", batch)
        cur.execute("ANALYZE TABLE t")
    conn.commit()
    conn.close()
    return f"mysql+pymysql://root@127.0.0.1:3306/{MARIA_DB}?charset=utf8mb4"


def sqlite_path(n: int) -> Path:
    return Path(os.environ.get("CARDSCAN_BENCH_SQL_DIR") or SQLITE_DIR) / f"bench-{n}.db"


def build_sqlite(n: int) -> str:
    import sqlite3

    path = sqlite_path(n)
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.unlink()
    conn = sqlite3.connect(path)
    conn.execute(DDL.format(ts="TEXT"))
    conn.executemany("INSERT INTO t VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                     (tuple(line.rstrip("\n").split("\t")) for line in rows(n)))
    conn.commit()
    conn.close()
    return f"sqlite:///{path}"


def built(name: str, n: int) -> bool:
    """Whether the table of ``n`` rows is there already (a count is cheap next to a build)."""
    try:
        if name == "sqlite":
            return sqlite_path(n).exists()
        if name == "pg":
            out = subprocess.run(["psql", "-h", "127.0.0.1", "-U", "postgres", "-d", PG_DB, "-tAc",
                                  "select count(*) from t"], capture_output=True, text=True, timeout=60)
        else:
            out = subprocess.run(["mariadb", "-h", "127.0.0.1", "-u", "root", "-N", "-e",
                                  f"select count(*) from {MARIA_DB}.t"], capture_output=True, text=True, timeout=60)
        return out.returncode == 0 and out.stdout.strip() == str(n)
    except (OSError, subprocess.SubprocessError):
        return False


def run(cmd: str, rss_file: str | None = None) -> tuple[float, int, int]:
    """Wall seconds, peak RSS (KiB, from GNU time's report in ``rss_file``: a forked
    child's own maximum would include this process's pages), exit status."""
    t0 = time.perf_counter()
    status = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], stdout=subprocess.DEVNULL).returncode
    seconds = time.perf_counter() - t0
    peak = 0
    if rss_file:
        with open(rss_file) as fh:
            peak = int(fh.read().split()[-1])
    return seconds, peak, status


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--only", default="pg,maria,sqlite")
    ap.add_argument("--rebuild", action="store_true")
    args = ap.parse_args()
    for tool in ("rg", "psql", "mariadb", "sqlite3", "/usr/bin/time"):
        if shutil.which(tool) is None:
            sys.exit(f"{tool} is not installed (apt-get install ripgrep postgresql-client mariadb-client sqlite3 time)")
    cardscan = shlex.quote(str(Path(sys.executable).with_name("cardscan")))
    n = args.rows
    tmp = tempfile.mkdtemp(prefix="cardscan-bench-sql-")
    manifest = os.path.join(tmp, "manifest.jsonl")
    builders = {"pg": build_pg, "maria": build_maria, "sqlite": build_sqlite}
    urls = {"pg": f"postgresql://postgres@127.0.0.1:5432/{PG_DB}",
            "maria": f"mysql+pymysql://root@127.0.0.1:3306/{MARIA_DB}?charset=utf8mb4",
            "sqlite": f"sqlite:///{sqlite_path(n)}"}
    exports = {
        "pg": f"psql -h 127.0.0.1 -U postgres -d {PG_DB} -c 'copy t to stdout'",
        "maria": f"mariadb -h 127.0.0.1 -u root --batch --raw --quick -e 'select * from {MARIA_DB}.t'",
        "sqlite": f"sqlite3 -tabs {shlex.quote(str(sqlite_path(n)))} 'select * from t'",
    }
    label = {"pg": "PostgreSQL", "maria": "MariaDB", "sqlite": "SQLite"}
    results = []
    for name in [s.strip() for s in args.only.split(",") if s.strip()]:
        if args.rebuild or not built(name, n):
            t0 = time.perf_counter()
            print(f"building {label[name]} table of {n:,} rows ...", file=sys.stderr, flush=True)
            builders[name](n)
            print(f"  built in {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
        base_cmd = f"{exports[name]} | rg --no-config -o -N -e {shlex.quote(PATTERN)} | {LUHN}"
        rss_file = os.path.join(tmp, "rss")
        scan_cmd = (f"/usr/bin/time -f %M -o {rss_file} {cardscan} scan --jobs 1 --no-exposure --no-progress -q --manifest {manifest} "
                    f"{shlex.quote(urls[name])} --table t")
        cmds = [("baseline", base_cmd, None), ("cardscan", scan_cmd, rss_file)]
        times: dict[str, list[float]] = {k: [] for k, _, _ in cmds}
        rss: dict[str, int] = {}
        for _ in range(args.repeat):
            for key, cmd, rss_out in cmds:
                sec, peak, code = run(cmd, rss_out)
                if code not in (0, 1):  # cardscan exits 1 when it finds something
                    sys.exit(f"{key} failed ({code}): {cmd}")
                times[key].append(sec)
                rss[key] = max(rss.get(key, 0), peak)
        med = {k: statistics.median(v) for k, v in times.items()}
        results.append((label[name], med, rss))
        line = (f"{label[name]:<11} baseline {n / med['baseline']:>11,.0f} rows/s   cardscan {n / med['cardscan']:>11,.0f} "
                f"rows/s   ratio {med['baseline'] / med['cardscan']:.2f}x   cardscan peak RSS {rss['cardscan'] / 1024:.0f} MiB")
        print(line, flush=True)
    print(f"\n{n:,} rows, median of {args.repeat}; load average {os.getloadavg()[0]:.2f} at the end")
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
