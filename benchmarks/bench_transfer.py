"""A scan result's trip between processes: pickle.dumps in the worker, pickle.loads in the parent.

Scans one directory of a tree as a forked worker answers a batch of small
files (``worker.small_files``; its time budget lifted, so every file is
scanned) and times, ``--rounds`` times, the pickle of the answer as the
pipe carries it (``(number, answer)``, the highest protocol) there and
back, with ItemResult's own reduce (plain dicts: pipeline._packed_result)
and with the default (that reduce removed for the round), in alternating
order. Garbage collection stays on, as in a sweep. Prints the medians per
result, and the pickle's size.

    python benchmarks/bench_transfer.py benchmarks/data/tree-20000/d0001
"""
from __future__ import annotations

import argparse
import os
import pickle
import statistics
import time
from typing import Any


def answer(directory: str) -> Any:
    from cardscan.decoders import Limits
    from cardscan.engine.config import ScanConfig
    from cardscan.engine.scanner import Scanner
    from cardscan.findings import FingerprintKey
    from cardscan.pipeline import Pipeline
    from cardscan.run import worker

    directory = os.path.abspath(directory)
    p = Pipeline(Scanner(ScanConfig(), FingerprintKey(os.urandom(32))), Limits(), [])
    worker.BATCH_SECONDS = float("inf")  # (every flagged file scanned, however slow this machine)
    names = tuple(sorted(os.listdir(directory)))
    return worker.small_files(p, p.scan_item, directory, "file://" + directory, names, 64 << 20)


def main(argv: list[str] | None = None) -> int:
    from cardscan.pipeline import ItemResult

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("directory", help="a directory of small files, some with card numbers")
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--repeat", type=int, default=20, help="trips per round and way")
    args = ap.parse_args(argv)
    ans = answer(args.directory)
    n = len(ans[0])
    if not n:
        raise SystemExit("no result with a finding in that directory")
    packed = ItemResult.__dict__["__reduce__"]
    ways = {"packed": packed, "default": None}
    times: dict[str, dict[str, list[float]]] = {w: {"dumps": [], "loads": []} for w in ways}
    sizes: dict[str, int] = {}
    try:
        for rnd in range(args.rounds):
            for way in (list(ways) if rnd % 2 == 0 else list(ways)[::-1]):
                if ways[way] is None:
                    if "__reduce__" in ItemResult.__dict__:
                        del ItemResult.__reduce__
                else:
                    ItemResult.__reduce__ = packed  # type: ignore[method-assign]
                data = pickle.dumps((1, ans), pickle.HIGHEST_PROTOCOL)
                sizes[way] = len(data)
                if pickle.loads(data)[1][0] != ans[0]:
                    raise SystemExit(f"{way}: the results changed on the trip")
                t = time.process_time()
                for _ in range(args.repeat):
                    pickle.dumps((1, ans), pickle.HIGHEST_PROTOCOL)
                times[way]["dumps"].append((time.process_time() - t) / args.repeat / n * 1e6)
                t = time.process_time()
                for _ in range(args.repeat):
                    pickle.loads(data)
                times[way]["loads"].append((time.process_time() - t) / args.repeat / n * 1e6)
    finally:
        ItemResult.__reduce__ = packed  # type: ignore[method-assign]
    print(f"{n} results with findings, {len(ans[1])} left, {ans[2]} clean files")
    total = {}
    for way in ways:
        d, lo = statistics.median(times[way]["dumps"]), statistics.median(times[way]["loads"])
        total[way] = d + lo
        print(f"{way:8s} dumps median {d:6.2f} us, loads median {lo:6.2f} us, both {d + lo:6.2f} us per result; "
              f"{sizes[way] / n:5.0f} bytes per result")
    print(f"packed / default: {total['packed'] / total['default']:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
