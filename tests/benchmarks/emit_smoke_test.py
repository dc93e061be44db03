"""bench_emit.py (the parent's cost per finding, replayed) on a tiny tree, so it cannot rot."""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_emit  # noqa: E402


def test_bench_emit_replays_a_trees_results(tmp_path: Path, rng, capsys: pytest.CaptureFixture[str],
                                            monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.treegen import pan

    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", "cardscan-benchmark-key-v2, 32 bytes+")
    tree = tmp_path / "t"
    (tree / "d").mkdir(parents=True)
    for i in range(30):
        (tree / "d" / f"f{i:02d}.log").write_text(f"card={pan(rng, i)} exp 09/27\n" if i % 3 == 0 else "ok\n")
    assert bench_emit.main([str(tree), "--rounds", "2"]) == 0
    out = capsys.readouterr().out
    assert "10 objects with findings, 10 findings" in out
    assert re.search(r"_result: +median [0-9.]+ ms \([0-9.]+ us per finding\)", out)
