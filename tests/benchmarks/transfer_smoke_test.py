"""bench_transfer.py (a result's pickle trip, packed and default) on a tiny directory, so it cannot rot."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_transfer  # noqa: E402


def test_bench_transfer_times_both_ways(tmp_path: Path, rng, capsys: pytest.CaptureFixture[str]) -> None:
    from cardscan.pipeline import ItemResult
    from tests.treegen import pan

    for i in range(12):
        (tmp_path / f"f{i:02d}.log").write_text(f"card={pan(rng, i)} exp 09/27\n" if i % 3 == 0 else "ok\n")
    reduce = ItemResult.__dict__["__reduce__"]
    assert bench_transfer.main([str(tmp_path), "--rounds", "2", "--repeat", "1"]) == 0
    assert ItemResult.__dict__["__reduce__"] is reduce  # put back
    out = capsys.readouterr().out
    assert "4 results with findings, 0 left, 8 clean files" in out
    assert re.search(r"packed +dumps median +[0-9.]+ us, loads median +[0-9.]+ us", out)
    assert re.search(r"default +dumps median", out) and "packed / default: " in out
