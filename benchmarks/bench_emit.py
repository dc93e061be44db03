"""What the sweep's parent pays per result after the scan: the records to the sinks.

Runs ``cardscan scan --jobs 1 --manifest M TREE`` once in this process and
keeps every ItemResult ``Sweep._result`` is given (pickled, per batch of
256, as a forked worker sends them). Then, ``--rounds`` times, with the
caches of names emptied (a worker's names are new to the parent): unpickles
each batch (the transfer's receiving half) and hands its results to a fresh
``Sweep._result`` whose sinks are the CLI's (the manifest, a ``JsonlSink``
on a file; the text output, a ``ConsoleSink`` on a buffered text stream of a
file through ``MaskedStream``), and times each half with the process's CPU
clock. Prints the median per result with findings and per finding.

    python benchmarks/bench_emit.py benchmarks/data/tree-20000
"""
from __future__ import annotations

import argparse
import io
import os
import pickle
import statistics
import sys
import tempfile
import time
from typing import Any


def capture(tree: str) -> list[bytes]:
    """The pickled lists of results Sweep._result was given, per batch of the runner."""
    import importlib

    from cardscan.cli.main import main

    sweep_mod = importlib.import_module("cardscan.run.sweep")  # (cardscan.run.sweep is also a function's name)

    batches: list[bytes] = []
    current: list[Any] = []
    original = sweep_mod.Sweep._result

    def keep(self: Any, r: Any) -> None:
        current.append(r)
        original(self, r)

    sweep_mod.Sweep._result = keep  # type: ignore[method-assign]
    try:
        with tempfile.TemporaryDirectory() as tmp:
            saved = sys.stdout
            sys.stdout = io.StringIO()
            try:
                main(["scan", "--jobs", "1", "--quiet", "--manifest", os.path.join(tmp, "m.jsonl"), tree])
            except SystemExit:
                pass
            finally:
                sys.stdout = saved
    finally:
        sweep_mod.Sweep._result = original  # type: ignore[method-assign]
    # The results as a forked worker's: this process has not seen their names.
    _forget_names()
    # Per batch of 256, as a worker's answers come.
    for i in range(0, len(current), 256):
        batches.append(pickle.dumps(current[i:i + 256], pickle.HIGHEST_PROTOCOL))
    return batches


def _forget_names() -> None:
    """Empty the caches of names (privacy's and the console's, as a tree has them)."""
    from cardscan import privacy
    from cardscan.sinks import console

    privacy._CLEAN_NAMES.clear()
    for cache in (privacy._mask_name, privacy._end_stretch, getattr(console, "_shown_name", None),
                  getattr(console, "_shown_place", None)):
        if cache is not None:
            cache.cache_clear()


def one_round(batches: list[bytes], tmp: str) -> tuple[float, float, int, int]:
    from cardscan.privacy import MaskedStream
    from cardscan.run.executor import InProcessRunner
    from cardscan.run.sweep import Sweep
    from cardscan.sinks.console import ConsoleSink
    from cardscan.sinks.jsonl import JsonlSink

    manifest = JsonlSink(os.path.join(tmp, "m.jsonl"), fsync=False)
    out = open(os.path.join(tmp, "out.txt"), "w", encoding="utf-8")  # a pipe's buffering: not line-buffered
    console = ConsoleSink(MaskedStream(out), io.StringIO(), show_findings=True)
    runner = InProcessRunner.__new__(InProcessRunner)
    sweep = Sweep([], runner, [manifest, console])
    loads = emit = 0.0
    objects = findings = 0
    clock = time.process_time
    _forget_names()  # each round as the first: every name new to this process
    for data in batches:
        t0 = clock()
        results = pickle.loads(data)
        t1 = clock()
        for r in results:
            sweep._result(r)
        t2 = clock()
        loads += t1 - t0
        emit += t2 - t1
        objects += sum(1 for r in results if r.findings)
        findings += sum(len(r.findings) for r in results)
    console.close({})
    out.close()
    manifest.close({"findings": findings})
    return loads, emit, objects, findings


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("tree")
    ap.add_argument("--rounds", type=int, default=15)
    args = ap.parse_args(argv)
    os.environ.setdefault("CARDSCAN_FINGERPRINT_KEY", "cardscan-benchmark-key-v2, 32 bytes+")
    batches = capture(os.path.abspath(args.tree))
    loads: list[float] = []
    emits: list[float] = []
    import gc

    gc.collect()
    gc.freeze()  # as Sweep.run: what exists now is out of the collector's sight
    try:
        with tempfile.TemporaryDirectory() as tmp:
            for _ in range(args.rounds):
                lo, em, objects, findings = one_round(batches, tmp)
                loads.append(lo)
                emits.append(em)
    finally:
        gc.unfreeze()
    print(f"{len(batches)} batches, {objects} objects with findings, {findings} findings, "
          f"load {os.getloadavg()[0]:.1f}")
    print(f"  unpickle: median {statistics.median(loads) * 1e3:.2f} ms "
          f"({statistics.median(loads) / len(batches) * 1e3:.3f} ms per batch), min {min(loads) * 1e3:.2f} ms")
    print(f"  _result:  median {statistics.median(emits) * 1e3:.2f} ms "
          f"({statistics.median(emits) / max(findings, 1) * 1e6:.2f} us per finding), min {min(emits) * 1e3:.2f} ms")
    return 0


if __name__ == "__main__":
    sys.exit(main())
