"""Engine throughput and correctness: cardscan against baselines, same run.

For each input (see generate.py) this measures, streaming from the file:

* ``read``: reading the file in 1 MiB chunks and doing nothing (the ceiling);
* ``cardscan-c``: ``cardscan.Scanner`` with the best backend (the C finder),
  default ``ScanConfig`` (validation, grouping, UTF-16, context scoring on);
* ``cardscan-py``: the same with ``ScanConfig(backend="python")``;
* ``naive``: stdlib ``re`` with a reasonable PAN pattern and ``luhn.verify``
  on every match (what most scripts do);
* ``rg``/``rg-pcre2``: ripgrep with the equivalent regex (Rust engine without
  look-arounds; PCRE2 with them), its output piped into a Luhn filter, when
  ``rg`` is installed. ripgrep runs in its own process, so this baseline
  uses two cores; every other row uses one.

Correctness is measured against the planted PANs by HMAC fingerprint under
the benchmark key: recall, and "extra" findings (anything reported that was
not planted: random ids that look like cards, i.e. false positives).

Results are medians of ``repeat`` runs; a method whose first run takes longer
than ``budget`` seconds runs only once (the table says how many runs).
"""
from __future__ import annotations

import cProfile
import io
import os
import pstats
import re
import shutil
import statistics
import subprocess
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import generate
import luhn

from cardscan import ScanConfig, Scanner
from cardscan.findings import FingerprintKey

MB = 1 << 20
READ_SIZE = 1 << 20

#: The naive pattern: 13-19 digits, optional single space/dash between any
#: two, first digit 2-6 (most card IINs), not glued to other digits.
NAIVE_PATTERN = rb"(?<![0-9])[2-6](?:[0-9][ -]?){11,17}[0-9](?![0-9])"
#: The same for ripgrep's Rust regex engine, which has no look-arounds: the
#: neighbours are matched and the PAN is the capture group.
RG_PATTERN = r"(?:^|[^0-9])([2-6](?:[0-9][ -]?){11,17}[0-9])(?:[^0-9]|$)"

# Found item: (offset or -1, length or 0, fingerprint, kind)
Found = tuple[int, int, str, str]


@dataclass
class Correctness:
    planted: int
    recalled: int
    at_offset: int | None  # planted PANs found at their planted offset (None: method gives no offsets)
    extra: int  # findings that are not planted PANs (false positives)
    missed_forms: dict[str, int] = field(default_factory=dict)

    @property
    def recall(self) -> float:
        return self.recalled / self.planted if self.planted else 1.0


@dataclass
class Result:
    method: str
    label: str
    size: int
    seconds: list[float]
    correctness: Correctness | None = None
    note: str = ""

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)

    @property
    def mbps(self) -> float:
        return self.size / MB / self.median if self.median > 0 else float("inf")


# -- the methods ---------------------------------------------------------------


def run_read(path: Path) -> list[Found]:
    with open(path, "rb") as fh:
        while fh.read(READ_SIZE):
            pass
    return []


def make_cardscan(backend: str) -> Callable[[Path], list[Found]]:
    def run(path: Path) -> list[Found]:
        scanner = Scanner(ScanConfig(backend=backend), key=generate.BENCH_KEY)
        with open(path, "rb") as fh:
            return [
                (f.location.offset or 0, f.location.length or 0, f.fingerprint, f.kind)
                for f in scanner.scan_stream(fh)
            ]

    return run


_NAIVE = re.compile(NAIVE_PATTERN)
_MAX_MATCH = 64  # longer than any match of NAIVE_PATTERN


def naive_scan(fileobj: io.BufferedIOBase) -> Iterable[tuple[int, str]]:
    """(offset, digits) of every Luhn-valid match, streamed in 1 MiB chunks.

    The last ``_MAX_MATCH`` bytes of each buffer are carried into the next
    one; a match is taken from the buffer in which it starts before that
    tail (or at EOF), so none is lost or reported twice.
    """
    buf, base, resume = b"", 0, 0  # resume: absolute offset to search from
    while True:
        chunk = fileobj.read(READ_SIZE)
        eof = not chunk
        buf += chunk
        limit = len(buf) if eof else len(buf) - _MAX_MATCH
        pos = resume - base
        for m in _NAIVE.finditer(buf, pos):
            if m.start() >= limit:
                break
            digits = m.group().replace(b" ", b"").replace(b"-", b"").decode("ascii")
            if luhn.verify(digits):
                yield base + m.start(), digits
            resume = base + m.end()
        if eof:
            return
        # Keep one byte before the cut so the look-behind sees it.
        cut = max(0, limit - 1)
        resume = max(resume, base + limit)
        buf, base = buf[cut:], base + cut


def run_naive(path: Path) -> list[tuple[int, str]]:
    with open(path, "rb") as fh:
        return list(naive_scan(fh))


# Luhn over ASCII digits with two 256-byte tables: digit value, and digit sum of the doubled digit.
_VALUE = bytes.maketrans(b"0123456789", bytes(range(10)))
_DOUBLED = bytes.maketrans(b"0123456789", bytes((2 * d) // 10 + (2 * d) % 10 for d in range(10)))


def luhn_fast(digits: bytes) -> bool:
    """Table-driven Luhn over 12-19 ASCII digits (agrees with ``luhn.verify``)."""
    if not 12 <= len(digits) <= 19:
        return False
    return (sum(digits[-1::-2].translate(_VALUE)) + sum(digits[-2::-2].translate(_DOUBLED))) % 10 == 0


def rg_command(variant: str, path: Path) -> list[str]:
    base = ["rg", "--no-config", "-a", "-o", "-N", "--no-filename"]
    if variant == "rg-pcre2":
        return base + ["-P", "-e", NAIVE_PATTERN.decode(), str(path)]
    return base + ["-r", "$1", "-e", RG_PATTERN, str(path)]


def make_rg(variant: str) -> Callable[[Path], list[tuple[int, str]]]:
    """ripgrep prints candidates; this process is the Luhn filter on the pipe."""

    def run(path: Path) -> list[tuple[int, str]]:
        out: list[tuple[int, str]] = []
        proc = subprocess.Popen(rg_command(variant, path), stdout=subprocess.PIPE, bufsize=0)
        assert proc.stdout is not None
        rest = b""
        while True:
            block = proc.stdout.read(READ_SIZE)
            if not block:
                break
            lines = (rest + block).split(b"\n")
            rest = lines.pop()
            for line in lines:
                digits = line.replace(b" ", b"").replace(b"-", b"")
                if luhn_fast(digits):
                    out.append((-1, digits.decode("ascii")))
        if rest:
            digits = rest.replace(b" ", b"").replace(b"-", b"")
            if luhn_fast(digits):
                out.append((-1, digits.decode("ascii")))
        code = proc.wait()
        if code not in (0, 1):  # 1: no match
            raise RuntimeError(f"rg exited with {code}")
        return out

    return run


def rg_available() -> bool:
    return shutil.which("rg") is not None


def rg_version() -> str:
    if not rg_available():
        return "rg not installed"
    try:
        out = subprocess.run(["rg", "--version"], capture_output=True, text=True, timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return "rg (version unknown)"
    return out.splitlines()[0] if out else "rg (version unknown)"


def rg_has_pcre2() -> bool:
    try:
        r = subprocess.run(["rg", "--no-config", "-P", "-c", "x", "-"], input=b"x\n", capture_output=True, timeout=10, check=False)
    except (OSError, subprocess.SubprocessError):
        return False
    return r.returncode == 0


# -- correctness ---------------------------------------------------------------


def score(planted: list[dict], found: list[Found]) -> Correctness:
    by_fp = {p["fingerprint"]: p for p in planted}
    spans: dict[str, list[tuple[int, int]]] = {}
    extra = 0
    for offset, length, fp, _kind in found:
        if fp in by_fp:
            spans.setdefault(fp, []).append((offset, length))
        else:
            extra += 1
    have_offsets = all(f[0] >= 0 for f in found)
    at = 0
    missed: dict[str, int] = {}
    for fp, p in by_fp.items():
        got = spans.get(fp)
        if not got:
            key = f"{p['form']}/{p['encoding']}"
            missed[key] = missed.get(key, 0) + 1
        elif have_offsets and any(o <= p["offset"] < o + max(n, 1) for o, n in got):
            at += 1
    recalled = len(by_fp) - sum(missed.values())
    return Correctness(len(by_fp), recalled, at if have_offsets else None, extra, missed)


def _fingerprinted(items: list[tuple[int, str]], key: FingerprintKey) -> list[Found]:
    return [(o, len(d) if o >= 0 else 0, key.fingerprint(d), "pan") for o, d in items]


# -- running -------------------------------------------------------------------

LABELS = {
    "read": "read-only ceiling (1 MiB reads)",
    "cardscan-c": "cardscan, best backend (C finder)",
    "cardscan-py": "cardscan, pure-Python backend",
    "naive": "naive: stdlib re + luhn.verify",
    "rg-pcre2": "ripgrep -P (PCRE2) + Luhn filter",
    "rg": "ripgrep (Rust regex) + Luhn filter",
}


def methods(include_python: bool = True) -> list[str]:
    from cardscan.engine.candidates import BACKENDS

    out = ["read"]
    if "c" in BACKENDS:
        out.append("cardscan-c")
    if include_python:
        out.append("cardscan-py")
    out.append("naive")
    if rg_available():
        if rg_has_pcre2():
            out.append("rg-pcre2")
        out.append("rg")
    return out


def runner(method: str) -> Callable[[Path], list]:
    if method == "read":
        return run_read
    if method == "cardscan-c":
        return make_cardscan("c")
    if method == "cardscan-py":
        return make_cardscan("python")
    if method == "naive":
        return run_naive
    if method in ("rg", "rg-pcre2"):
        return make_rg(method)
    raise ValueError(method)


def measure(method: str, path: Path, planted: list[dict], repeat: int = 3, budget: float = 20.0) -> Result:
    fn = runner(method)
    size = path.stat().st_size
    seconds: list[float] = []
    found: list = []
    for i in range(repeat):
        t0 = time.perf_counter()
        out = fn(path)
        seconds.append(time.perf_counter() - t0)
        if i == 0:
            found = out
            if seconds[0] > budget:
                break
    correctness = None
    if method != "read":
        if method.startswith("cardscan"):
            items: list[Found] = found
        else:
            items = _fingerprinted(found, FingerprintKey(generate.BENCH_KEY))
        correctness = score(planted, items)
    return Result(method, LABELS[method], size, seconds, correctness)


def bench_file(path: Path, repeat: int = 3, budget: float = 20.0, include_python: bool = True,
               log: Callable[[str], None] | None = None) -> list[Result]:
    planted = generate.load_sidecar(path)["planted"]
    results = []
    for m in methods(include_python):
        r = measure(m, path, planted, repeat, budget)
        if log:
            log(f"  {path.name}: {r.label}: {r.mbps:,.1f} MB/s ({len(r.seconds)} run(s))")
        results.append(r)
    return results


def format_table(path: Path, results: list[Result], planted: int) -> str:
    by = {r.method: r for r in results}
    ref = by.get("cardscan-c") or by.get("cardscan-py")
    size_mb = results[0].size / MB if results else 0
    lines = [
        f"{path.name}: {size_mb:,.1f} MB, {planted:,} planted PANs",
        f"  {'method':<36} {'runs':>4} {'MB/s':>9} {'cardscan/this':>13} {'recall':>8} {'extra':>7}",
    ]
    for r in results:
        ratio = f"{ref.mbps / r.mbps:.2f}x" if ref is not None and r.mbps > 0 else "-"
        if r.correctness is None:
            recall, extra = "-", "-"
        else:
            recall, extra = f"{100 * r.correctness.recall:.1f}%", f"{r.correctness.extra:,}"
        lines.append(f"  {r.label:<36} {len(r.seconds):>4} {r.mbps:>9,.1f} {ratio:>13} {recall:>8} {extra:>7}")
    if not rg_available():
        lines.append("  ripgrep + Luhn filter: rg not installed (apt-get install ripgrep)")
    for r in results:
        c = r.correctness
        if c and c.missed_forms and r.method.startswith("cardscan"):
            forms = ", ".join(f"{k} {v}" for k, v in sorted(c.missed_forms.items()))
            lines.append(f"  {r.label} missed: {forms}")
        if c and c.at_offset is not None and r.method.startswith("cardscan") and c.at_offset != c.recalled:
            lines.append(f"  {r.label}: {c.recalled - c.at_offset} recalled at another offset than planted (see README)")
    return "\n".join(lines)


def profile(path: Path, backend: str = "c", limit_mb: float = 64.0, top: int = 25) -> str:
    """cProfile of cardscan on the first ``limit_mb`` MB of ``path``."""
    scanner = Scanner(ScanConfig(backend=backend), key=generate.BENCH_KEY)
    limit = int(limit_mb * MB)

    class Head(io.RawIOBase):
        def __init__(self, fh: io.BufferedReader) -> None:
            self.fh, self.left = fh, limit

        def readable(self) -> bool:
            return True

        def readinto(self, b) -> int:  # type: ignore[no-untyped-def,override]
            # readinto, as a real file has: the scanner reuses one read buffer.
            view = memoryview(b)[:self.left]
            n = self.fh.readinto(view)
            self.left -= n
            return n

    prof = cProfile.Profile()
    with open(path, "rb") as fh:
        src = Head(fh)
        t0 = time.perf_counter()
        prof.enable()
        n = sum(1 for _ in scanner.scan_stream(src))  # type: ignore[arg-type]
        prof.disable()
        elapsed = time.perf_counter() - t0
    out = io.StringIO()
    scanned = min(limit, path.stat().st_size) / MB
    out.write(f"cProfile: cardscan ({backend} backend) on the first {scanned:.0f} MB of {path.name}: "
              f"{n} findings, {elapsed:.2f} s under the profiler\n")
    stats = pstats.Stats(prof, stream=out)
    stats.sort_stats("tottime").print_stats(top)
    text = out.getvalue()
    # Shorten absolute paths so the report is readable.
    root = str(Path(__file__).resolve().parent.parent) + os.sep
    return text.replace(root, "")
