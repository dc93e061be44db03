"""Cost of inline-encoding detection (cardscan/engine/inline.py) in the hot path.

``find_encoded`` runs once per chunk the scanner reads, so what matters is
its cost on text *without* encodings. This measures, per 1 MiB chunk, over
the first 30 MB of generate.py's application log:

* ``find_encoded``: the pre-checks and whatever they let through;
* ``scanner``: ``Scanner.scan_bytes`` on the same chunks, for scale.

Then it plants base64 JSON fields, percent-encoded and entity-encoded PANs
(one per ~100 KB) and reports how many ``find_encoded`` decodes back.

    python benchmarks/bench_inline.py [--mb 30] [--repeat 5]
"""
from __future__ import annotations

import argparse
import base64
import random
import statistics
import sys
import time

import generate

from cardscan import Scanner
from cardscan.engine.inline import find_encoded
from cardscan.findings import FingerprintKey
from cardscan.testing import group, make_pan

MB = 1 << 20


def rate(fn, chunks: list[bytes], repeat: int) -> float:  # type: ignore[no-untyped-def]
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        for c in chunks:
            fn(c)
        times.append(time.perf_counter() - t)
    return sum(map(len, chunks)) / MB / statistics.median(times)


def planted(data: bytes, rng: random.Random) -> tuple[bytes, list[str]]:
    pans, out, step = [], [], 100_000
    for i in range(0, len(data), step):
        out.append(data[i:i + step])
        pan = make_pan(rng.choice(("4", "51", "55")), 16, rng)
        pans.append(pan)
        kind = len(pans) % 3
        if kind == 0:
            out.append(b'\npayload={"data":"' + base64.b64encode(b'{"card":"%s"}' % pan.encode()) + b'"}\n')
        elif kind == 1:
            out.append(b"\nGET /pay?card=" + group(pan, (4, 4, 4, 4)).replace(" ", "%20").encode() + b"\n")
        else:
            out.append(b"\n<td>" + "".join(f"&#{ord(c)};" for c in pan).encode() + b"</td>\n")
    return b"".join(out), pans


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--mb", type=float, default=30.0)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args(argv)
    src = generate.ensure(max(args.mb, 32.0), files=("app.log",), log=lambda m: print(m, file=sys.stderr))["app.log"]
    with open(src, "rb") as fh:
        data = fh.read(int(args.mb * MB))
    chunks = [data[i:i + MB] for i in range(0, len(data), MB)]
    scanner = Scanner(key=FingerprintKey(b"bench-inline"))
    print(f"# inline encodings, {len(data) / MB:.0f} MB of application log, 1 MiB chunks, median of {args.repeat}")
    print(f"find_encoded      {rate(lambda c: list(find_encoded(c)), chunks, args.repeat):8.1f} MB/s"
          f"   (spans found: {sum(len(list(find_encoded(c))) for c in chunks)})")
    print(f"scanner           {rate(scanner.scan_bytes, chunks, args.repeat):8.1f} MB/s")
    mixed, pans = planted(data, random.Random(7))
    key = scanner.key
    wanted = {key.fingerprint(p) for p in pans}
    got = set()
    mchunks = [mixed[i:i + MB] for i in range(0, len(mixed), MB)]
    for c in mchunks:
        for _s, _e, decoded, _enc in find_encoded(c):
            got.update(f.fingerprint for f in scanner.scan_bytes(decoded))
    print(f"with {len(pans)} encoded PANs planted: find_encoded "
          f"{rate(lambda c: list(find_encoded(c)), mchunks, args.repeat):8.1f} MB/s, "
          f"decoded back {len(got & wanted)}/{len(wanted)} (PANs cut by a chunk edge are the caller's margin's job)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
