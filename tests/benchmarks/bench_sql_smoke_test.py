"""Smoke test of benchmarks/bench_sql.py on a small SQLite table, so it cannot rot.

The real measurement (1,000,000 rows in PostgreSQL, MariaDB and SQLite) is
``python benchmarks/bench_sql.py`` (benchmarks/README.md). This runs the
script end to end, build included, on 3,000 rows and checks its report.
"""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_sql.py"


@pytest.mark.skipif(any(shutil.which(t) is None for t in ("rg", "sqlite3", "psql", "mariadb", "/usr/bin/time")),
                    reason="bench_sql.py needs rg, sqlite3, psql, mariadb and GNU time")
def test_bench_sql_reports_rows_per_second_ratio_and_memory_for_sqlite(tmp_path: Path) -> None:
    pytest.importorskip("sqlalchemy", reason="the sql extra is not installed")
    env = {**os.environ, "CARDSCAN_BENCH_SQL_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, str(BENCH), "--only", "sqlite", "--rows", "3000", "--repeat", "1"],
                         capture_output=True, text=True, timeout=300, env=env)
    assert out.returncode == 0, out.stderr[-2000:]
    line = next(ln for ln in out.stdout.splitlines() if ln.startswith("SQLite"))
    m = re.search(r"baseline\s+([\d,]+) rows/s\s+cardscan\s+([\d,]+) rows/s\s+ratio ([\d.]+)x\s+"
                  r"cardscan peak RSS (\d+) MiB", line)
    assert m, line
    assert all(float(g.replace(",", "")) > 0 for g in m.groups())
    assert (tmp_path / "bench-3000.db").exists()
