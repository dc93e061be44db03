"""Per-record cost of ``cardscan.RedactingFilter`` on a realistic logger.

The same logger (a formatter and a stream handler writing to /dev/null)
logs the same pre-built records twice: without the filter, then with it.
The message mix is what a web service logs: access lines, order and user
events with 13-19 digit ids, cache and retry messages, masked cards, JSON
payloads; about one record in a hundred carries a full PAN (the leak the
filter exists to stop). The difference per record is the filter's cost. The two loggers run interleaved, ``repeat`` times each, and
the fastest run of each is kept (as ``timeit`` does): on a shared machine
the minimum is the steadiest estimate of a per-call cost.

A separate pass through an in-memory handler checks that no planted PAN
reached the output (the count of leaked PANs must be 0).
"""
from __future__ import annotations

import logging
import os
import random
import time
from dataclasses import dataclass

import generate

from cardscan import RedactingFilter
from cardscan.testing import assert_no_pan, group, make_pan

#: One record in this many carries a full PAN.
PAN_EVERY = 100


def build_records(n: int, seed: int = generate.DEFAULT_SEED) -> tuple[list[tuple[str, tuple]], dict[int, str]]:
    """``n`` (format, args) pairs, and the PANs planted among them by record index."""
    rng = random.Random(seed + 3)
    t = generate.Text(rng)
    pans: dict[int, str] = {}
    out: list[tuple[str, tuple]] = []
    for i in range(n):
        if i % PAN_EVERY == PAN_EVERY // 2:
            pan = make_pan(rng.choice(("4", "51", "52", "6011", "3530")), 16, rng)
            pans[i] = pan
            if rng.random() < 0.5:
                out.append(("charge failed card=%s amount=%s reason=%s", (pan, t.amount(), "do_not_honor")))
            else:
                out.append(("checkout payload %s", (f'{{"card_number":"{group(pan, (4, 4, 4, 4))}","exp":"{t.expiry()}"}}',)))
            continue
        r = rng.random()
        if r < 0.25:
            out.append(('%s "GET %s HTTP/1.1" %d %dms', (t.ip(), t.path(), 200, rng.randrange(1, 900))))
        elif r < 0.45:
            out.append(("order placed order_id=%s user_id=%d total=%s", (t.digits(13, 19), t.uid(), t.amount())))
        elif r < 0.60:
            out.append(("user %d logged in from %s session=%s", (t.uid(), t.ip(), t.hexid())))
        elif r < 0.70:
            out.append(("cache miss key=%s ttl=%d", (t.hexid(), rng.randrange(60, 3600))))
        elif r < 0.80:
            out.append(("payment authorized card=%s auth_code=%s", (t.masked(), t.hexid(6).upper())))
        elif r < 0.90:
            out.append(("event %s", (f'{{"event_id":"{t.uuid()}","trace_id":"{t.hexid()}","latency_ms":{rng.randrange(900)}}}',)))
        else:
            out.append(("retrying upstream call attempt=%d", (rng.randrange(1, 5),)))
    return out, pans


_FORMAT = "%(asctime)s %(levelname)s %(name)s %(message)s"


def _logger(name: str, handler: logging.Handler, redact: bool = False) -> logging.Logger:
    log = logging.getLogger(name)
    log.handlers.clear()
    log.filters.clear()
    log.propagate = False
    log.setLevel(logging.INFO)
    handler.setFormatter(logging.Formatter(_FORMAT))
    log.addHandler(handler)
    if redact:
        log.addFilter(RedactingFilter())
    return log


class _ListHandler(logging.Handler):
    def __init__(self, out: list[str]) -> None:
        super().__init__()
        self.out = out

    def emit(self, record: logging.LogRecord) -> None:
        self.out.append(self.format(record))


def _time(log: logging.Logger, records: list[tuple[str, tuple]]) -> float:
    info = log.info
    t0 = time.perf_counter()
    for fmt, args in records:
        info(fmt, *args)
    return time.perf_counter() - t0


@dataclass
class RedactResult:
    records: int
    with_pan: int
    plain_s: float
    filtered_s: float
    leaked: int
    runs: int

    @property
    def plain_us(self) -> float:
        return 1e6 * self.plain_s / self.records

    @property
    def filtered_us(self) -> float:
        return 1e6 * self.filtered_s / self.records

    @property
    def overhead_us(self) -> float:
        return self.filtered_us - self.plain_us


def bench(n: int = 50_000, repeat: int = 5) -> RedactResult:
    records, pans = build_records(n)
    with open(os.devnull, "w") as null_a, open(os.devnull, "w") as null_b:
        plain_log = _logger("cardscan.bench.plain", logging.StreamHandler(null_a))
        red_log = _logger("cardscan.bench.redacted", logging.StreamHandler(null_b), redact=True)
        red_log.info("warm-up %s", "4111 1111 1111 1111")  # builds the scanner once
        plain, filtered = [], []
        for _ in range(repeat):
            plain.append(_time(plain_log, records))
            filtered.append(_time(red_log, records))
    # Correctness: every planted PAN must be masked in what the handler wrote.
    lines: list[str] = []
    check_log = _logger("cardscan.bench.check", _ListHandler(lines), redact=True)
    for fmt, args in records:
        check_log.info(fmt, *args)
    leaked = 0
    for i, pan in pans.items():
        try:
            assert_no_pan(lines[i], [pan], "redacted log record")
        except AssertionError:
            leaked += 1
    return RedactResult(n, len(pans), min(plain), min(filtered), leaked, repeat)


def format_result(r: RedactResult) -> str:
    return "\n".join([
        f"RedactingFilter: {r.records:,} log records ({r.with_pan} with a PAN), best of {r.runs} interleaved runs",
        f"  {'logger':<32} {'us/record':>10} {'records/s':>12}",
        f"  {'without filter':<32} {r.plain_us:>10.2f} {1e6 / r.plain_us:>12,.0f}",
        f"  {'with RedactingFilter':<32} {r.filtered_us:>10.2f} {1e6 / r.filtered_us:>12,.0f}",
        (f"  filter overhead: {r.overhead_us:.2f} us per record ({r.filtered_us / r.plain_us:.2f}x); "
         f"PANs leaked to the output: {r.leaked}"),
    ])


if __name__ == "__main__":
    print(format_result(bench()))
