"""False positives on the project's own benchmark inputs (generate.py).

The issue-16 rules must not raise them: this prints, per input, the planted
PANs found and the "extra" findings (reported numbers that were not planted:
non-cards), broken down by brand, length and the reasons cardscan gave, so a
change to the issuer table or the scoring rules can be measured before and
after on the same bytes. Only masked numbers are printed.

    .venv/bin/python benchmarks/accuracy/own_fp.py                 # 256 MB, log + CSV
    .venv/bin/python benchmarks/accuracy/own_fp.py --size-mb 16 --files app.log
    .venv/bin/python benchmarks/accuracy/own_fp.py --json out.json
    .venv/bin/python benchmarks/accuracy/own_fp.py --admit narrow,sandbox,wide   # what wide rows would cost

The published figures (benchmarks/README.md, 256 MB): 2 extras on app.log,
152 on transactions.csv.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

BENCH = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(BENCH))

import generate  # noqa: E402

from cardscan import ScanConfig, Scanner  # noqa: E402

DEFAULT_FILES = ("app.log", "transactions.csv")


def measure(path: Path) -> dict:
    plants = {p["fingerprint"]: p for p in generate.load_sidecar(path)["planted"]}
    planted = set(plants)
    scanner = Scanner(ScanConfig(), key=generate.BENCH_KEY)
    t0 = time.perf_counter()
    with open(path, "rb") as fh:
        findings = list(scanner.scan_stream(fh))
    seconds = time.perf_counter() - t0
    found = {f.fingerprint for f in findings}
    extras = [f for f in findings if f.fingerprint not in planted]
    by_brand = Counter(f.brand for f in extras)
    by_len = Counter(f.digits for f in extras)
    by_reasons = Counter(",".join(sorted(f.reasons)) for f in extras)
    missed = Counter(f"{plants[fp]['form']}/{plants[fp]['digits']}" for fp in planted - found)
    return {
        "file": path.name,
        "seconds": round(seconds, 2),
        "planted": len(planted),
        "recalled": len(planted & found),
        "missed": dict(missed.most_common()),
        "extra": len(extras),
        "extra_by_brand": dict(by_brand.most_common()),
        "extra_by_length": dict(sorted(by_len.items())),
        "extra_by_reasons": dict(by_reasons.most_common(8)),
        "extra_samples": [f"{f.masked} {f.brand} {f.confidence}" for f in extras[:8]],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--size-mb", type=float, default=generate.default_size_mb())
    ap.add_argument("--files", nargs="*", default=list(DEFAULT_FILES), choices=generate.FILES)
    ap.add_argument("--data", type=Path, default=generate.DATA_ROOT)
    ap.add_argument("--json", type=Path, help="also write the figures here")
    ap.add_argument("--admit", help="issuer-row widths the scanner admits, comma-separated "
                    "(default: cardscan.engine.issuers.ADMITTED_WIDTHS)")
    args = ap.parse_args(argv)
    if args.admit:
        from cardscan.engine import issuers

        widths = frozenset(args.admit.split(","))
        if not widths <= set(issuers.WIDTHS):
            ap.error(f"--admit: widths are {', '.join(issuers.WIDTHS)}")
        issuers.ADMITTED_WIDTHS = widths
        issuers._index = None  # rebuilt on first use with the new admission

    paths = generate.ensure(args.size_mb, root=args.data, files=tuple(args.files),
                            log=lambda m: print(m, file=sys.stderr))
    report = []
    for name in args.files:
        r = measure(paths[name])
        report.append(r)
        print(f"{name} ({args.size_mb:g} MB{', admitting ' + args.admit if args.admit else ''}): planted {r['planted']}, found {r['recalled']}, "
              f"extra (false positives) {r['extra']}  [{r['seconds']} s]")
        if r["missed"]:
            print("  missed (form/digits): " + ", ".join(f"{k} {v}" for k, v in r["missed"].items()))
        for key in ("extra_by_brand", "extra_by_length", "extra_by_reasons"):
            if r[key]:
                print(f"  {key[6:]}: " + ", ".join(f"{k} {v}" for k, v in r[key].items()))
        for s in r["extra_samples"]:
            print(f"    {s}")
    if args.json:
        args.json.write_text(json.dumps({"size_mb": args.size_mb, "admit": args.admit, "files": report}, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
