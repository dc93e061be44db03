"""benchmarks/bench_access.py on tiny logs, so it cannot rot (the measurements are made by running it)."""
from __future__ import annotations

import re
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"


def test_bench_access_runs_and_reports(capsys, monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    sys.modules.pop("bench_access", None)
    import bench_access

    bench_access.main(["--lines", "800", "--repeat", "1"])
    out = capsys.readouterr().out
    assert re.search(r"S3 access logs: 800 lines, \d+ reads of card objects, [1-9]\d* objects read", out)
    assert re.search(r"cardscan access +[\d.]+ s +\d+ lines/s", out)
    assert re.search(r"CloudTrail: 200 records", out)
    assert len(re.findall(r"peak Python memory, .* logs: +[\d.]+ MiB", out)) == 2
