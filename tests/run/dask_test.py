"""Tests for cardscan/run/dask.py: sweeps on a real Dask cluster (a LocalCluster of worker processes)."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

distributed = pytest.importorskip("distributed")

import cardscan.run  # noqa: E402
from cardscan.findings import Finding  # noqa: E402
from cardscan.run import worker  # noqa: E402
from cardscan.sinks.base import ListSink  # noqa: E402
from tests.treegen import KEY, make_tree, write_planted  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def client():
    cluster = distributed.LocalCluster(n_workers=2, processes=True, threads_per_worker=1, dashboard_address=None)
    c = distributed.Client(cluster)
    try:
        yield c
    finally:
        c.close()
        cluster.close()


@pytest.fixture(scope="module")
def share(tmp_path_factory) -> Path:
    import random

    rng = random.Random(7)
    root = tmp_path_factory.mktemp("dask") / "share"
    root.mkdir()
    make_tree(root, rng, specials=False)
    for i in range(40):
        write_planted(root / f"many{i:02d}.log", rng, 1 + i % 2, filler=2, start=200 + i)
    write_planted(root / "big.log", rng, 30, filler=8, start=300)  # split into 8 KiB ranges
    (root / "broken.zip").write_bytes(b"PK\x03\x04" + b"\x00" * 40)  # an error record from a worker
    return root


def sweep(share: Path, **kw: Any) -> tuple[dict[str, Any], ListSink]:
    sink = ListSink()
    summary = cardscan.run.run_sweep([share], key=KEY, sinks=[sink], split_size=8192, **kw)
    return summary, sink


def view(findings: list[Finding]) -> list[tuple[Any, ...]]:
    return sorted((f.location.uri, f.location.offset, f.location.line, f.fingerprint, f.kind, f.obj.get("sha256"))
                  for f in findings)


@pytest.fixture(scope="module")
def local(share: Path) -> tuple[dict[str, Any], ListSink]:
    return sweep(share, jobs=1)


def test_findings_on_dask_equal_the_local_run(client, share: Path, local) -> None:
    summary, sink = sweep(share, executor=client)
    want_summary, want = local
    assert view(sink.findings) == view(want.findings) and len(want.findings) > 40
    assert sorted((e.location.uri, e.kind) for e in sink.errors) == sorted((e.location.uri, e.kind) for e in want.errors)
    for k in ("status", "findings", "objects_scanned", "bytes_scanned", "errors", "findings_by_brand"):
        assert summary[k] == want_summary[k], k
    big = [f for f in sink.findings if f.location.uri.endswith("/big.log")]
    assert big and {f.obj.get("sha256_mode") for f in big} == {"ranges"}  # scanned as byte ranges


def test_client_executor_is_accepted_too(client, share: Path, local) -> None:
    summary, sink = sweep(share, executor=client.get_executor())
    assert view(sink.findings) == view(local[1].findings)
    assert summary["status"] == "complete"


def test_settings_reach_each_worker_once_by_plugin(client, share: Path) -> None:
    sweep(share, executor=client)
    registered = client.run(lambda: sorted(worker._REGISTERED))
    assert len(registered) == 2 and all(len(tokens) >= 1 for tokens in registered.values())
    # The client was not closed or otherwise taken over by the sweep.
    assert client.submit(lambda: 41 + 1).result() == 42


def test_a_task_without_registered_settings_fails_clearly() -> None:
    with pytest.raises(RuntimeError, match="not registered"):
        worker.scan_batch_registered("no-such-token", [])


def test_state_with_dask_carries_over(client, share: Path, tmp_path: Path, local) -> None:
    state = tmp_path / "s.state"
    first, _ = sweep(share, executor=client, state=state)
    second, sink = sweep(share, executor=client, state=state)
    assert second["objects_scanned"] == 1  # only the broken zip (it has an error) is scanned again
    assert second["carried_over"]["objects"] == first["objects_scanned"] - 1
    assert view(sink.findings) == view(local[1].findings)


def test_cli_executor_dask_with_a_scheduler_address(client, share: Path, tmp_path: Path, local) -> None:
    m = tmp_path / "m.jsonl"
    address = client.scheduler.address
    env = {**os.environ, "PYTHONPATH": str(ROOT), "CARDSCAN_FINGERPRINT_KEY": KEY.decode()}
    proc = subprocess.run([sys.executable, "-m", "cardscan", "scan", str(share), "--manifest", str(m),
                           "--executor", "dask", "--scheduler", address, "--split-size", "8KiB", "--no-progress"],
                          capture_output=True, text=True, env=env, timeout=120, cwd=tmp_path, check=False)
    assert proc.returncode == 1, proc.stderr[-2000:]
    recs = [json.loads(line) for line in m.read_text().splitlines()]
    assert recs[0]["settings"]["run"]["executor"] == "dask" and recs[0]["settings"]["run"]["scheduler"] == address
    got = sorted((r["id"], r["object"].get("sha256")) for r in recs if r["type"] == "finding")
    assert got == sorted((f.id, f.obj.get("sha256")) for f in local[1].findings)
    # The CLI's client is gone; the cluster still serves others.
    assert client.submit(lambda: 1).result() == 1


def test_cli_dask_without_a_scheduler_is_a_usage_error(tmp_path: Path, monkeypatch, capsys) -> None:
    from cardscan.cli.main import main

    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY.decode())
    monkeypatch.delenv("DASK_SCHEDULER_ADDRESS", raising=False)
    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.txt").write_text("nothing\n")
    assert main(["scan", str(tmp_path / "a.txt"), "--executor", "dask", "--no-progress"]) == 2
    assert "--scheduler" in capsys.readouterr().err


def test_workers_with_another_cardscan_version_are_refused(client, share: Path, monkeypatch) -> None:
    from cardscan.errors import ConfigError

    monkeypatch.setattr("cardscan.__version__", "0.0.0-driver")  # this process only; the workers keep theirs
    with pytest.raises(ConfigError, match="same version"):
        sweep(share, executor=client)
