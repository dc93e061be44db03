"""Tests for cardscan/run/worker.py: process plumbing around one Pipeline per process."""
from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from cardscan.engine.config import ScanConfig
from cardscan.engine.scanner import Scanner
from cardscan.findings import FingerprintKey
from cardscan.pipeline import Pipeline
from cardscan.run import worker
from cardscan.sources.base import Item
from cardscan.sources.fs import FileSource
from tests.treegen import KEY, write_planted

FP = FingerprintKey(KEY)


def spec(key: bytes = KEY) -> dict[str, Any]:
    return Pipeline(Scanner(ScanConfig(), FingerprintKey(key))).spec()


def item_for(path: Path) -> Item:
    (item,) = [x for x in FileSource(path).items()]
    return item


def test_pool_worker_builds_its_pipeline_once_from_the_spec(tmp_path: Path, rng) -> None:
    p = tmp_path / "a.txt"
    pans = write_planted(p, rng, 2)
    worker.init_worker(spec())
    first = worker.pipeline()
    (r,) = worker.scan_batch([item_for(p)])
    assert sorted(f.fingerprint for f in r.findings) == sorted(FP.fingerprint(x) for x in pans)
    worker.scan_batch([item_for(p)])
    assert worker.pipeline() is first


def test_scan_batch_with_initialises_once_per_spec(tmp_path: Path, rng) -> None:
    p = tmp_path / "a.txt"
    pans = write_planted(p, rng, 1)
    (r1,) = worker.scan_batch_with(spec(), [item_for(p)])
    built = worker.pipeline()
    worker.scan_batch_with(spec(), [item_for(p)])
    assert worker.pipeline() is built  # the same spec: not built again
    (r2,) = worker.scan_batch_with(spec(b"another key"), [item_for(p)])
    assert r1.findings[0].fingerprint == FP.fingerprint(pans[0])
    assert r2.findings[0].fingerprint == FingerprintKey(b"another key").fingerprint(pans[0])


def test_uninitialised_worker_says_so(monkeypatch) -> None:
    monkeypatch.setattr(worker, "_PIPELINE", None)
    with pytest.raises(RuntimeError):
        worker.scan_batch([Item(uri="file:///x", source="file")])


def test_registered_spec_gives_each_thread_its_own_pipeline(tmp_path: Path, rng) -> None:
    p = tmp_path / "a.txt"
    pans = write_planted(p, rng, 1)
    token = worker.spec_token(spec())
    worker.register_spec(token, spec())
    seen: list[Any] = []

    def task() -> None:
        (r,) = worker.scan_batch_registered(token, [item_for(p)])
        seen.append((r.findings[0].fingerprint, worker._LOCAL.pipelines[token]))

    threads = [threading.Thread(target=task) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert [fp for fp, _ in seen] == [FP.fingerprint(pans[0])] * 2
    assert seen[0][1] is not seen[1][1]
    with pytest.raises(RuntimeError):
        worker.scan_batch_registered("no-such-token", [])


def test_spec_token_names_the_spec() -> None:
    assert worker.spec_token(spec()) == worker.spec_token(spec())
    assert worker.spec_token(spec()) != worker.spec_token(spec(b"another key"))


def test_lean_results_leave_their_items_behind_and_get_them_back(tmp_path: Path, rng) -> None:
    """The local pool's task returns results without items (less to pickle); the runner puts them back."""
    from cardscan.run.executor import ExecutorRunner, process_pool

    files = []
    for i in range(4):
        p = tmp_path / f"f{i}.log"
        write_planted(p, rng, 1, start=i)
        files.append(p)
    items = [item_for(p) for p in files]
    worker.init_worker(spec())
    lean = worker.scan_batch_lean(items)
    assert [r.item for r in lean] == [None] * 4 and all(len(r.findings) == 1 for r in lean)
    s = spec()
    runner = ExecutorRunner(process_pool(s, 2), s, initialized=True, jobs=2)
    got = []
    try:
        for _unit, results in runner.run([items[:2], items[2:]]):
            got += [(r.item, len(r.findings)) for r in results]
    finally:
        runner.shutdown()
    assert sorted((i.uri, n) for i, n in got) == sorted((i.uri, 1) for i in items)
