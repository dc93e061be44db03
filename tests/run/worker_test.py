"""Tests for cardscan/run/worker.py: process plumbing around one Pipeline per process."""
from __future__ import annotations

import os
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
from tests.treegen import KEY, racy_read, write_planted

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


def _racy_dir(d: Path) -> list[str]:
    """Files of every kind a batch meets (the same each time); their names."""
    import random
    import shutil

    from tests.treegen import pan

    rng = random.Random(7)
    shutil.rmtree(d, ignore_errors=True)
    d.mkdir()
    for n in ("gone.log", "fifo.log", "link.log", "grows.log", "ok.log"):
        (d / n).write_text(f"card={pan(rng, 1)} exp 09/27\n" if n == "grows.log" else "ok\n")
    (d / "card.log").write_text(f"payment card={pan(rng, 2)} exp 09/27\n")
    (d / "big.log").write_text(("filler line without numbers\n" * 2600) + f"card={pan(rng, 3)}\n")  # > 64 KiB
    (d / "huge.log").write_text("x" * (3 << 20))  # bigger than the split size given below
    return sorted(os.listdir(d))


@pytest.mark.parametrize("broken", [False, True])
def test_a_batch_scanned_in_a_worker_gives_what_the_parent_path_gives(tmp_path: Path, monkeypatch,
                                                                        broken: bool) -> None:
    import sys

    from cardscan.findings import ErrorRecord
    from cardscan.run.executor import InProcessRunner
    from cardscan.run.sweep import Sweep
    from cardscan.sinks.base import ListSink
    from cardscan.sources import fs
    from cardscan.sources.fs import path_to_uri

    class Quiet(ListSink):
        wants_clean_items = False

    d = tmp_path / "d"
    sweep_module = sys.modules["cardscan.run.sweep"]
    real = fs.read_files

    def failing(*args: Any) -> Any:
        raise MemoryError("no room for the batch")

    names = _racy_dir(d)
    monkeypatch.setattr(sweep_module, "read_files", failing if broken else racy_read(d, real))
    quiet = Quiet()
    summary = Sweep([FileSource(d)], InProcessRunner(spec()), [quiet], split_size=2 << 20).run()

    _racy_dir(d)
    monkeypatch.setattr(fs, "read_files", failing if broken else racy_read(d, real))
    worker.init_worker(spec())
    results, left, clean, nbytes = worker.scan_small_files(str(d), path_to_uri(str(d)), tuple(names), 2 << 20)
    assert [e.uri for e in left if not isinstance(e, ErrorRecord)] == [path_to_uri(str(d / "huge.log"))]
    errors = [e for e in left if isinstance(e, ErrorRecord)] + [e for r in results for e in r.errors]
    assert sorted((e.location.uri, e.kind, e.message) for e in errors) == sorted(
        (e.location.uri, e.kind, e.message) for e in quiet.errors)
    found = [f for r in results for f in r.findings]
    assert sorted((f.location.uri, f.fingerprint, f.location.line) for f in found) == sorted(
        (f.location.uri, f.fingerprint, f.location.line) for f in quiet.findings)
    read = [r for r in results if r.sha256 is not None or r.nbytes > 0]
    assert summary["objects_scanned"] == clean + len(read) + 1  # (+ huge.log, scanned where the sweep splits it)
    assert (clean == 0) == broken  # a batch that cannot be read: every file as an item


def test_a_batch_spends_at_most_its_seconds_the_rest_goes_back_as_items(tmp_path: Path, rng, monkeypatch) -> None:
    # A directory of slow small files must not hold one worker (no progress, the other cores idle).
    from cardscan.sources.fs import path_to_uri
    from tests.treegen import pan

    d = tmp_path / "d"
    d.mkdir()
    names = []
    for i in range(6):
        names.append(f"f{i}.log")
        (d / names[-1]).write_text(f"card={pan(rng, i)} exp 09/27\n" if i % 2 else "2024-06-11 INFO ok\n")
    worker.init_worker(spec())
    args = (str(d), path_to_uri(str(d)), tuple(names), 2 << 20)
    results, left, clean, _ = worker.scan_small_files(*args)
    assert len(results) == 3 and not left and clean == 3
    monkeypatch.setattr(worker, "BATCH_SECONDS", 0.0)
    results, left, clean, _ = worker.scan_small_files(*args)
    assert not results and clean == 3  # spent at once: every flagged file back, as its item
    assert [i.uri for i in left] == [path_to_uri(str(d / f"f{i}.log")) for i in (1, 3, 5)]


def test_a_batch_in_a_worker_scans_its_flagged_files_from_the_batch_read(tmp_path: Path, rng, monkeypatch) -> None:
    # As the parent's path (sweep_test: ..._scanned_from_its_read): a flagged
    # file the batch read whole is not opened again, and its records are those
    # of a file read on its own (Pipeline.scan_item).
    from cardscan.sources.fs import FileSource, path_to_uri
    from tests.treegen import pan

    d = tmp_path / "d"
    d.mkdir()
    names = [f"f{i}.log" for i in range(6)]
    for i, name in enumerate(names):
        (d / name).write_text(f"paid card={pan(rng, i)} exp 09/27\n" if i % 2 else "2024-06-11 INFO ok\n")
    worker.init_worker(spec())
    alone = {r.item.uri: r for r in (worker.pipeline().scan_item(i) for i in FileSource(d).items())}
    real = FileSource._open_regular
    opened: list[str] = []

    def counting(self: FileSource, item: Any) -> Any:
        opened.append(item.uri)
        return real(self, item)

    monkeypatch.setattr(FileSource, "_open_regular", counting)
    results, left, clean, _ = worker.scan_small_files(str(d), path_to_uri(str(d)), tuple(names), 2 << 20)
    assert opened == [] and not left and clean == 3 and len(results) == 3
    for r in results:
        a = alone[r.item.uri]
        assert [(f.id, f.location, f.obj) for f in r.findings] == [(f.id, f.location, f.obj) for f in a.findings]
        assert (r.sha256, r.nbytes, r.errors) == (a.sha256, a.nbytes, a.errors)


def test_a_forked_workers_answer_sends_shared_metadata_once_and_it_arrives_as_sent(tmp_path: Path, rng,
                                                                                  monkeypatch) -> None:
    # worker._dumps: a PublishedOver's shared part goes once per message and
    # arrives as one object, the records equal to the sent ones, key order
    # included, and each finding's manifest line the same as the sender's.
    import pickle

    from cardscan import manifest
    from cardscan.privacy import Published, PublishedOver
    from cardscan.sources.fs import path_to_uri

    d = tmp_path / "d"
    d.mkdir()
    for i in range(4):
        write_planted(d / f"f{i}.log", rng, 1, start=i)
    worker.init_worker(spec())
    monkeypatch.setattr(worker, "BATCH_SECONDS", float("inf"))  # (every file scanned, however slow this machine)
    names = tuple(sorted(os.listdir(d)))
    answer = worker.scan_small_files(str(d), path_to_uri(str(d)), names, 2 << 20)
    sent = [f for r in answer[0] for f in r.findings]
    overs = [f for f in sent if type(f.obj) is PublishedOver]  # (a process's first may be whole: fs.published_meta)
    assert len(sent) == 4 and len(overs) >= 3
    assert len({id(f.obj.base) for f in overs}) == 1  # (one directory, one owner and mode)
    lines = [manifest.finding_line(f) for f in sent]
    data = worker._dumps(pickle, (7, answer))
    number, got = pickle.loads(data)
    came = [f for r in got[0] for f in r.findings]
    assert number == 7 and got[1:] == answer[1:]
    for a, b in zip(sent, came):
        assert type(b.obj) is type(a.obj) and list(b.obj.items()) == list(a.obj.items())
        if type(a.obj) is PublishedOver:
            assert type(b.obj.base) is Published and type(b.obj.extra) is Published
            assert b.obj.base == a.obj.base and b.obj.extra == a.obj.extra
    assert len({id(f.obj.base) for f in came if type(f.obj) is PublishedOver}) == 1
    manifest._OBJECT_TEXT, manifest._BASE_TEXT = (None, None, "", ""), (None, "")
    assert [manifest.finding_line(f) for f in came] == lines
