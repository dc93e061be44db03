"""Smoke test of the whole-process and C-kernel benchmarks on tiny data.

bench_process.py times the CLI against ripgrep + luhn_filter.py with
hyperfine, bench_cfinder.py the C kernels per SIMD level; this runs both
on a 0.25 MB log so they cannot rot, and checks the Luhn filter against
the reference. The measurements themselves: benchmarks/README.md.
"""
from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_cfinder
import bench_process
import luhn
import paired_rounds

from cardscan.engine.candidates import find_chains_c
from cardscan.testing import make_pan


@pytest.mark.parametrize("with_path", [False, True])
def test_luhn_filter_keeps_exactly_the_luhn_valid_lines(rng, with_path: bool) -> None:
    lines, want = [], []
    for i in range(400):
        pan = str(make_pan("4", 16, rng))
        if i % 2:
            pan = pan[:-1] + str((int(pan[-1]) + 1) % 10)
        text = pan if i % 3 else " ".join(pan[j:j + 4] for j in range(0, 16, 4))
        lines.append(f"dir/f{i}.log:{text}" if with_path else text)
        if luhn.verify(pan):
            want.append(i)
    data = ("\n".join(lines) + "\n").encode()
    out = subprocess.run([sys.executable, "-S", str(BENCH / "luhn_filter.py")], input=data, capture_output=True,
                         check=True).stdout
    index = {line: i for i, line in enumerate(lines)}
    kept = [index.get(line, -1) for line in out.decode().splitlines()]
    assert kept == want  # line numbers only: a failure shows no number


@pytest.mark.skipif(not (shutil.which("rg") and shutil.which("hyperfine")), reason="needs rg and hyperfine")
def test_bench_process_prints_the_log_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = bench_process.main(["--size-mb", "0.25", "--data", str(tmp_path), "--rounds", "1", "--only", "log"])
    assert code == 0
    out = capsys.readouterr().out
    for label in ("cardscan scan --jobs 1", "cardscan scan (default --jobs)", "rg (default engine) | luhn_filter",
                  "rg -P (PCRE2) | luhn_filter", "rg alone, no Luhn filter (reference)"):
        row = re.search(re.escape(label) + r"\s+1\s+([0-9.]+)\s+([0-9,.]+)\s+(?:[0-9.]+|-)\s+([0-9.]+)x\s+"
                        r"([0-9.]+)x\s+(?:[0-9.]+x|-)\s+[0-9.]+x\s+(.*)", out)
        assert row, f"no row for {label}:\n{out}"
        assert float(row.group(2).replace(",", "")) > 0
        assert row.group(3) == row.group(4)  # one round: its ratio is the ratio of the medians
    # cardscan finds every planted PAN of the small log; the baselines are scored too.
    assert re.search(r"cardscan scan --jobs 1 .* 100\.0% recall, 0 extra", out), out


def test_paired_ratio_is_the_median_of_each_rounds_ratio() -> None:
    # A load that came in the first round (rg 1 s, cardscan 2 s) and went: the
    # ratio of the medians (1/2) reports it, the rounds' own ratios do not.
    base = bench_process.Row(bench_process.Command("rg", "rg", "true", cardscan=False))
    this = bench_process.Row(bench_process.Command("cardscan", "cardscan", "true", cardscan=True))
    base.seconds, this.seconds = [1.0, 1.0, 3.0], [2.0, 1.0, 3.0]
    assert base.median / this.median == 0.5
    assert bench_process.paired_ratio(base, this) == 1.0


def test_paired_rounds_rotates_the_order_and_pairs_each_round(capsys: pytest.CaptureFixture[str]) -> None:
    res = {"rg": [(1.0, 0.5), (1.0, 0.5), (3.0, 1.0)], "x": [(2.0, 1.0), (1.0, 0.5), (3.0, 1.0)]}
    lines = paired_rounds.report(res)
    assert "rg/this" not in lines[0]
    assert "rg/this paired median 1.000" in lines[1] and "wall median 2.000" in lines[1]
    assert paired_rounds.main(["2", "a=true", "b=exit 1"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 rounds") and "  a " in out and "  b " in out


@pytest.mark.skipif(find_chains_c is None, reason="C finder not built")
def test_bench_cfinder_measures_every_kernel_at_every_level(tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--size-mb", "0.25", "--mb", "0.25", "--repeat", "1", "--data", str(tmp_path)]
    assert bench_cfinder.main(args) == 0
    out = capsys.readouterr().out
    for kernel in ("find_chains", "newlines", "lines_at", "class_runs", "has_entity"):
        assert re.search(rf"^  {kernel}\s+[0-9,]+", out, re.MULTILINE), out
