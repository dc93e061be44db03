"""The C extension's kernels alone, per SIMD level: finder MB/s, newline GB/s.

Each kernel runs over the first ``--mb`` MB of a generated input, in 1 MiB
buffers as the scanner hands them over (warm in memory: no I/O), called the
way the scanner calls it:

* ``find_chains``: with the issuer prefix table and the id-field words;
* ``newlines``: each buffer whole (count and last offset);
* ``lines_at``: newlines up to the chains each buffer holds (where a hit
  would need a line number), in one call per buffer;
* ``class_runs``: the base64 pre-check's runs of 12+ quad-class bytes;
* ``has_entity``: the HTML-entity pre-check (``&#`` or ``&nbsp;``).

Every level the CPU has is measured (``avx2``, ``sse2``, ``scalar``; see
``candidates.simd_levels``), median of ``--repeat`` passes, in MB per
second of this process's CPU time (``time.process_time``: a neighbour that
takes the core away does not count, as it does in wall time; cache sharing
still does). ``--baseline-so PATH`` also measures another build of the
extension (say, main's ``_cfinder.c`` compiled to a .so) in the same run.
For a figure that does not move with the load, count instructions:

    valgrind --tool=callgrind --callgrind-out-file=cg.out \\
        .venv/bin/python benchmarks/bench_cfinder.py --mb 16 --repeat 1 --level sse2
    callgrind_annotate cg.out | grep _cfinder

    python benchmarks/bench_cfinder.py                  # 64 MB of app.log, every level
    python benchmarks/bench_cfinder.py --file dump.bin --level avx2
"""
from __future__ import annotations

import argparse
import contextlib
import importlib.util
import os
import statistics
import sys
import time
from pathlib import Path
from types import ModuleType
from typing import Callable, Iterator

HERE = Path(__file__).resolve().parent
if str(HERE) not in sys.path:
    sys.path.insert(0, str(HERE))

import generate  # noqa: E402

from cardscan.engine import candidates  # noqa: E402
from cardscan.engine.context import id_field_words  # noqa: E402
from cardscan.engine.issuers import length_table  # noqa: E402

MB = 1 << 20
CHUNK = 1 << 20


def load_so(path: Path) -> ModuleType:
    """Another build of the extension, imported under its own name."""
    spec = importlib.util.spec_from_file_location("_cfinder", path)
    if spec is None or spec.loader is None:
        raise SystemExit(f"cannot load {path}")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def kernels(_cfinder: ModuleType) -> dict[str, Callable[[list[bytearray]], object]]:
    table, ids = length_table(), id_field_words(300)
    b64 = bytes(1 if c in b"ILMNOCDSTijyz0AEIMQUYcgk012345gtwxyz" else 0 for c in range(256))
    out: dict[str, Callable[[list[bytearray]], object]] = {
        "find_chains": lambda bufs: [_cfinder.find_chains(b, 0, -1, table, ids) for b in bufs],
        "newlines": lambda bufs: [_cfinder.newlines(b) for b in bufs],
        "class_runs": lambda bufs: [_cfinder.class_runs(b, b64, 12) for b in bufs],
    }
    if hasattr(_cfinder, "lines_at"):
        offsets: dict[int, list[int]] = {}

        def lines_at(bufs: list[bytearray]) -> object:
            if not offsets:  # the chains of each buffer, found once, untimed on later passes
                for i, b in enumerate(bufs):
                    offsets[i] = sorted(s for s, _e, _f in _cfinder.find_chains(b, 0, -1, table, ids))
            return [_cfinder.lines_at(b, offsets[i]) for i, b in enumerate(bufs)]

        out["lines_at"] = lines_at
    if hasattr(_cfinder, "has_entity"):
        out["has_entity"] = lambda bufs: [_cfinder.has_entity(b) for b in bufs]
    return out


@contextlib.contextmanager
def at_level(mod: ModuleType, level: str | None) -> Iterator[None]:
    if level is None or not hasattr(mod, "simd"):
        yield
        return
    before = mod.simd(level)
    try:
        yield
    finally:
        mod.simd(before)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--file", default="app.log", choices=generate.FILES)
    ap.add_argument("--size-mb", type=float, default=generate.default_size_mb(), help="generated input size")
    ap.add_argument("--mb", type=float, default=64.0, help="MB of the input to run over (default 64)")
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--level", action="append", help="SIMD level(s) to measure (default: every one the CPU has)")
    ap.add_argument("--only", action="append", help="kernel(s) to measure (default: all)")
    ap.add_argument("--data", type=Path, default=generate.DATA_ROOT, help="data root (default benchmarks/data)")
    ap.add_argument("--baseline-so", type=Path, help="another build of _cfinder to measure beside this one")
    args = ap.parse_args(argv)
    if candidates.find_chains_c is None:
        print("the C extension is not built", file=sys.stderr)
        return 2
    path = generate.ensure(args.size_mb, root=args.data, files=(args.file,))[args.file]
    with open(path, "rb") as fh:
        data = fh.read(int(args.mb * MB))
    bufs = [bytearray(data[i:i + CHUNK]) for i in range(0, len(data), CHUNK)]
    size = len(data)
    from cardscan.engine import _cfinder  # type: ignore[attr-defined]

    columns: list[tuple[str, ModuleType, str | None]] = [
        (f"{lv} MB/s", _cfinder, lv) for lv in (args.level or candidates.simd_levels())]
    if args.baseline_so:
        columns.append(("baseline MB/s", load_so(args.baseline_so), None))
    names = args.only or list(kernels(_cfinder))
    print(f"{path.name}: {size / MB:.0f} MB in {len(bufs)} buffers of 1 MiB; median of {args.repeat}, MB per "
          f"CPU-second; CPU levels {', '.join(candidates.simd_levels())}; load {os.getloadavg()[0]:.2f}")
    print(f"  {'kernel':<12}" + "".join(f"{title:>15}" for title, _, _ in columns))
    for name in names:
        # Columns take turns, one pass each per round, so a slow spell on a
        # shared machine falls on all of them alike.
        fns = [(kernels(mod).get(name), mod, level) for _title, mod, level in columns]
        times: list[list[float]] = [[] for _ in columns]
        for rnd in range(args.repeat + 1):
            for k, (fn, mod, level) in enumerate(fns):
                if fn is None:
                    continue
                with at_level(mod, level):
                    t0 = time.process_time()
                    fn(bufs)
                    if rnd:  # round 0 warms up (and finds lines_at's offsets)
                        times[k].append(time.process_time() - t0)
        cells = [f"{size / MB / max(statistics.median(t), 1e-9):>15,.0f}" if t else f"{'-':>15}" for t in times]
        print(f"  {name:<12}" + "".join(cells))
    return 0


if __name__ == "__main__":
    sys.exit(main())
