"""Smoke test of the benchmark suite on tiny data, so benchmarks/ cannot rot.

Runs the whole suite (generation, every engine method, the RedactingFilter
benchmark) on ~0.25 MB inputs and checks that cardscan finds every planted
PAN and that the report prints numbers. The real measurements are made with
``python benchmarks/run.py`` (see benchmarks/README.md).
"""
from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCH))

import bench_engine
import generate
import run

SIZE_MB = 0.25


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Path]]:
    root = tmp_path_factory.mktemp("bench-data")
    return root, generate.ensure(SIZE_MB, root=root)


def test_generation_is_deterministic_and_sidecars_hold_no_pans(data, tmp_path: Path) -> None:
    _, paths = data
    again = generate.ensure(SIZE_MB, root=tmp_path)
    for name, path in paths.items():
        same = path.read_bytes() == again[name].read_bytes()
        assert same, f"{name} differs between two generations with the same seed"
        meta = generate.load_sidecar(path)
        assert meta["planted"], f"nothing planted in {name}"
        sidecar = generate.sidecar_path(path).read_text()
        # Fingerprints only: the sidecar holds no run of 12+ digits.
        assert not re.search(r"(?<![0-9a-f])[0-9]{12,}(?![0-9a-f])", sidecar), f"digit run in {name} sidecar"
        assert all(p["fingerprint"].startswith("hmac-sha256:") for p in meta["planted"])


def test_full_suite_report(data, capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = data
    code = run.main(["--size-mb", str(SIZE_MB), "--data", str(root), "--repeat", "1",
                     "--redact-records", "2000", "--no-save", "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    for name in generate.FILES:
        assert f"{name}: " in out, f"no table for {name}"
    # Table rows: label, runs, MB/s, ratio, recall, extra.
    rows = re.findall(
        r"^  cardscan, (?:best backend \(C finder\)|pure-Python backend)\s+1\s+([0-9,]+\.[0-9])\s+\S+\s+(\S+)\s+[0-9,]+$",
        out, re.MULTILINE,
    )
    assert len(rows) >= 2 * len(generate.FILES) - 1, out  # the C row is absent without a compiler
    for mbps, recall in rows:
        assert float(mbps.replace(",", "")) > 0
        assert recall == "100.0%", f"cardscan recall {recall} on planted PANs"
    assert re.search(r"naive: stdlib re \+ luhn.verify\s+1\s+[0-9,]+\.[0-9]", out)
    assert re.search(r"with RedactingFilter\s+[0-9.]+\s+[0-9,]+", out)
    assert "PANs leaked to the output: 0" in out


def test_recall_by_fingerprint(data) -> None:
    _, paths = data
    for name, path in paths.items():
        planted = generate.load_sidecar(path)["planted"]
        result = bench_engine.measure("cardscan-py", path, planted, repeat=1)
        c = result.correctness
        assert c is not None and c.recall == 1.0, f"{name}: recall {c and c.recall:.3f}, missed {c and c.missed_forms}"
        assert result.mbps > 0


def test_without_ripgrep_says_so(data, monkeypatch: pytest.MonkeyPatch, tmp_path: Path,
                                 capsys: pytest.CaptureFixture[str]) -> None:
    root, _ = data
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty directory: no rg on PATH
    code = run.main(["--size-mb", str(SIZE_MB), "--data", str(root), "--repeat", "1", "--files", "app.log",
                     "--no-python", "--no-redact", "--no-save", "--quiet"])
    assert code == 0
    out = capsys.readouterr().out
    assert "rg not installed" in out
    assert "ripgrep -P" not in out and "ripgrep (Rust" not in out
