"""Outside-truth accuracy: cardscan scored on expectations others published.

Each ``data/*.cases`` file holds the inputs and expected outcomes of one
source (another scanner's tests, a card-type library's test table, the
processors' test-card pages, payment-gateway transcripts), with the source's
address and what was taken from it. This scores ``cardscan.scan_bytes`` at
default settings on every case and prints recall and precision per source and
overall, then every miss and every false positive, masked, with a diagnosis
of why cardscan missed it (the reasons its scorer gave, or the structural
check that stopped it).

    .venv/bin/python benchmarks/accuracy/run.py              # all sources
    .venv/bin/python benchmarks/accuracy/run.py presidio     # some sources
    .venv/bin/python benchmarks/accuracy/run.py --list none  # the table only

The file format is described in benchmarks/accuracy/README.md. Case texts
may hold published test numbers literally; numbers of our own transcripts are
placeholders (``{{a:4:16}}``) filled with fresh Luhn-valid numbers from a
fixed seed, so no real card can sit in the repository.
"""
from __future__ import annotations

import argparse
import json
import random
import re
import sys
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import cardscan
from cardscan.engine import issuers
from cardscan.engine.luhn import luhn_valid
from cardscan.engine.validate import FORMATS
from cardscan.findings import FingerprintKey, mask
from cardscan.testing import break_luhn, make_pan

DATA = Path(__file__).resolve().parent / "data"
#: Fingerprints only join expected numbers to findings inside one run.
KEY = b"cardscan-accuracy-benchmark-v1"
_FP = FingerprintKey(KEY)

#: Default groupings, by length, for ``{{name/ }}`` (the common printed forms).
GROUPS = {12: (4, 4, 4), 13: (4, 4, 5), 14: (4, 6, 4), 15: (4, 6, 5), 16: (4, 4, 4, 4),
          17: (4, 4, 4, 5), 18: (4, 4, 4, 4, 2), 19: (4, 4, 4, 4, 3)}
_PLACEHOLDER = re.compile(r"\{\{([^{}]+)\}\}")
_NAME = re.compile(r"[a-z][a-z0-9_]*")


class FormatError(ValueError):
    """A .cases file is malformed (says which file and line)."""


@dataclass
class Case:
    source: str
    id: str
    cls: str  # what the case exercises (issue 16 class, "published", "near-miss" ...)
    text: bytes
    expect: list[str]  # digits, one entry per occurrence that must be reported
    planted: dict[str, str] = field(default_factory=dict)  # placeholder name -> digits
    near: list[str] = field(default_factory=list)  # planted numbers not expected (near misses)
    note: str = ""
    meta: dict[str, str] = field(default_factory=dict)


@dataclass
class Source:
    name: str
    path: Path
    meta: dict[str, str]
    cases: list[Case]
    disagreements: list[Case]


# -- parsing -------------------------------------------------------------------


def _fill(raw: str, where: str, rng_seed: str, planted: dict[str, str]) -> str:
    """Replace the placeholders of ``raw``; new names are added to ``planted``."""

    def one(m: re.Match[str]) -> str:
        inner = m.group(1)
        spec, _, fmt = inner.partition("/")
        cvv = spec.endswith(".cvv")
        name, *args = spec[:-4].split(":") if cvv else spec.split(":")
        if not _NAME.fullmatch(name):
            raise FormatError(f"{where}: bad placeholder name in {{{{{inner}}}}}")
        if args:
            if name in planted:
                raise FormatError(f"{where}: {name} defined twice")
            planted[name] = _generate(name, args, f"{rng_seed}:{name}", planted, where)
        if name not in planted:
            raise FormatError(f"{where}: {name} used before it is defined")
        digits = planted[name + ".cvv"] if cvv else planted[name]
        if not fmt:
            return digits
        groups_s, _, sep = fmt.rpartition("/") if "/" in fmt else ("", "", fmt)
        sizes = tuple(int(g) for g in groups_s.split("-")) if groups_s else GROUPS[len(digits)]
        if sum(sizes) != len(digits) or sep not in (" ", "-"):
            raise FormatError(f"{where}: grouping {fmt!r} does not fit {name}")
        out, i = [], 0
        for n in sizes:
            out.append(digits[i:i + n])
            i += n
        return sep.join(out)

    return _PLACEHOLDER.sub(one, raw)


def _generate(name: str, args: list[str], seed: str, planted: dict[str, str], where: str) -> str:
    """``prefix:length[:flag...]``: a fresh number. Flags: ``bad`` (wrong check
    digit), ``pre16`` (19 digits whose first 16 also pass Luhn), ``cvv`` (a
    16-digit PAN whose 3-digit ``name.cvv`` makes a Luhn-valid 19-digit run)."""
    if len(args) < 2 or not args[0].isdigit() or not args[1].isdigit():
        raise FormatError(f"{where}: {name} needs prefix:length")
    prefix, length, flags = args[0], int(args[1]), set(args[2:])
    if not 12 <= length <= 19 or len(prefix) >= length:
        raise FormatError(f"{where}: {name}: bad length")
    if flags - {"bad", "pre16", "cvv"}:
        raise FormatError(f"{where}: {name}: unknown flag in {sorted(flags)}")
    rng = random.Random(seed)
    for _ in range(10_000):
        pan = str(make_pan(prefix, length, rng))
        if "pre16" in flags and not (length == 19 and luhn_valid(pan[:16])):
            continue
        if "cvv" in flags:
            cvvs = [f"{c:03d}" for c in range(1000) if luhn_valid(pan + f"{c:03d}")]
            planted[name + ".cvv"] = rng.choice(cvvs)
        return break_luhn(pan) if "bad" in flags else pan
    raise FormatError(f"{where}: {name}: no number fits the flags")


def parse(path: Path) -> Source:
    lines = path.read_text("utf-8").split("\n")
    meta: dict[str, str] = {}
    blocks: list[tuple[str, str, int]] = []  # (kind, id, first line index)
    for i, line in enumerate(lines):
        m = re.fullmatch(r"=== (case|disagreement): (\S+)", line)
        if m:
            blocks.append((m.group(1), m.group(2), i))
    head_end = blocks[0][2] if blocks else len(lines)
    for i in range(head_end):
        line = lines[i]
        if not line.strip() or line.startswith("#"):
            continue
        k, sep, v = line.partition(":")
        if not sep:
            raise FormatError(f"{path.name}:{i + 1}: expected 'key: value'")
        meta[k.strip()] = (meta.get(k.strip(), "") + " " + v.strip()).strip()
    for k in ("source", "url", "taken"):
        if k not in meta:
            raise FormatError(f"{path.name}: header needs '{k}:'")
    name = path.stem
    cases: list[Case] = []
    disagreements: list[Case] = []
    ids: set[str] = set()
    for n, (kind, cid, start) in enumerate(blocks):
        end = blocks[n + 1][2] if n + 1 < len(blocks) else len(lines)
        where = f"{path.name}:{start + 1} ({cid})"
        if cid in ids:
            raise FormatError(f"{where}: duplicate id")
        ids.add(cid)
        fields: dict[str, str] = {}
        j = start + 1
        while j < end and lines[j] != "--- text":
            if lines[j].strip():
                k, sep, v = lines[j].partition(":")
                if not sep:
                    raise FormatError(f"{path.name}:{j + 1}: expected 'key: value' or '--- text'")
                fields[k.strip()] = (fields.get(k.strip(), "") + " " + v.strip()).strip()
            j += 1
        if j >= end:
            raise FormatError(f"{where}: no '--- text' line")
        body = lines[j + 1:end]
        while body and body[-1] == "":  # blank lines before the next block are layout
            body.pop()
        raw = "\n".join(body) + ("\n" if fields.get("final_newline", "yes") == "yes" else "")
        planted: dict[str, str] = {}
        text = _fill(raw, where, f"{name}:{cid}", planted)
        expect_key = "expect" if kind == "case" else "source_expects"
        expect = []
        for tok in fields.get(expect_key, "").split():
            if tok == "-":
                continue
            digits = planted.get(tok, tok)
            if not (digits.isdigit() and 12 <= len(digits) <= 19):
                raise FormatError(f"{where}: expect {tok!r} is neither a placeholder nor 12-19 digits")
            expect.append(digits)
        if kind == "case" and expect_key not in fields:
            raise FormatError(f"{where}: a case needs 'expect:' ('-' for nothing)")
        if kind == "disagreement" and not {"rule", "reason"} <= fields.keys():
            raise FormatError(f"{where}: a disagreement needs 'rule:' and 'reason:'")
        named = {v for k, v in planted.items() if not k.endswith(".cvv")}
        case = Case(name, cid, fields.get("class", ""), text.encode("utf-8"), expect, planted,
                    sorted(named - set(expect)), fields.get("note", ""), fields)
        (cases if kind == "case" else disagreements).append(case)
    return Source(name, path, meta, cases, disagreements)


def load(names: list[str] | None = None, root: Path = DATA) -> list[Source]:
    paths = sorted(root.glob("*.cases"))
    if names:
        paths = [p for p in paths if p.stem in names]
        missing = set(names) - {p.stem for p in paths}
        if missing:
            raise SystemExit(f"no such source: {', '.join(sorted(missing))}")
    return [parse(p) for p in paths]


# -- scoring -------------------------------------------------------------------


@dataclass
class Miss:
    case: Case
    digits: str  # never printed; mask() it

    @property
    def masked(self) -> str:
        return mask(self.digits)


@dataclass
class Extra:
    case: Case
    masked: str
    brand: str
    confidence: int
    reasons: tuple[str, ...]


@dataclass
class Score:
    cases: int = 0
    expected: int = 0
    found: int = 0  # expected occurrences reported
    reported: int = 0  # findings
    extras: int = 0  # findings that were not expected (false positives)
    clean_cases: int = 0  # cases with no false positive

    @property
    def recall(self) -> float:
        return self.found / self.expected if self.expected else 1.0

    @property
    def precision(self) -> float:
        return self.found / (self.found + self.extras) if self.found + self.extras else 1.0

    @property
    def met(self) -> float:
        """Share of expectations met: every expected occurrence, and every
        case's "nothing else is reported"."""
        total = self.expected + self.cases
        return (self.found + self.clean_cases) / total if total else 1.0

    def add(self, other: Score) -> None:
        for k in ("cases", "expected", "found", "reported", "extras", "clean_cases"):
            setattr(self, k, getattr(self, k) + getattr(other, k))


@dataclass
class Report:
    by_source: dict[str, Score]
    overall: Score
    misses: list[tuple[Miss, str]]  # (miss, diagnosis)
    extras: list[Extra]
    disagreements: list[tuple[Case, bool]]  # (case, does cardscan report what the source expects)
    trivial_near_misses: list[tuple[Case, str]]  # planted non-cards that are not even candidates


def scan(text: bytes, **settings: object) -> list[cardscan.Finding]:
    return cardscan.scan_bytes(text, key=KEY, **settings)


def score_case(case: Case) -> tuple[Score, list[Miss], list[Extra], list[cardscan.Finding]]:
    findings = scan(case.text)
    want = Counter(_FP.fingerprint(d) for d in case.expect)
    got = Counter(f.fingerprint for f in findings)
    hits = sum(min(n, got[fp]) for fp, n in want.items())
    s = Score(cases=1, expected=sum(want.values()), found=hits, reported=len(findings))
    s.extras = s.reported - hits
    s.clean_cases = int(s.extras == 0)
    misses = []
    short = {fp: n - min(n, got[fp]) for fp, n in want.items()}
    for d in case.expect:
        fp = _FP.fingerprint(d)
        if short.get(fp, 0) > 0:
            short[fp] -= 1
            misses.append(Miss(case, d))
    extras = []
    surplus = {fp: n - min(n, want[fp]) for fp, n in got.items()}
    for f in findings:
        if surplus.get(f.fingerprint, 0) > 0:
            surplus[f.fingerprint] -= 1
            extras.append(Extra(case, f.masked, f.brand, f.confidence, f.reasons))
    return s, misses, extras, findings


#: Reasons that lower a score (engine/context.py, engine/scanner.py).
LOWERING = ("negative_keyword", "column_negative", "low_entropy", "hex_token", "phone", "longer_group_run")


def diagnose(miss: Miss, reported: set[tuple[str, int]]) -> str:
    """Why cardscan did not report an expected number: the reasons its scorer
    gave (when it is a candidate below the threshold), or what stopped it.
    ``reported``: (fingerprint, offset) of the case's default findings."""
    fp = _FP.fingerprint(miss.digits)
    low = [f for f in scan(miss.case.text, min_confidence=0)
           if f.fingerprint == fp and (fp, f.location.offset) not in reported]
    if low:
        f = low[0]
        against = [r for r in f.reasons if r in LOWERING]
        why = ",".join(against) if against else "too little evidence"
        return f"below threshold: {why} (score {f.confidence}; {','.join(f.reasons)})"
    if not luhn_valid(miss.digits):
        return "fails Luhn"
    admitted = issuers.match(miss.digits)
    if admitted is None:
        anywhere = issuers.match(miss.digits, issuers.WIDTHS)
        if anywhere is not None:
            return f"issuer row not admitted: {anywhere.width} {anywhere.issuer.brand}"
        return "no issuer range"
    return "not a candidate: " + _printed_form(miss)


def _printed_form(miss: Miss) -> str:
    """What in the raw text keeps a valid number from being a candidate."""
    text = miss.case.text.decode("utf-8", "replace")
    m = re.search("[ -]?".join(miss.digits), text)
    if m is None:
        return "not in the raw text as digits (encoded or split)"
    printed = m.group()
    sizes = tuple(len(g) for g in re.split("[ -]", printed))
    before = text[m.start() - 1] if m.start() else ""
    after = text[m.end()] if m.end() < len(text) else ""
    if len(sizes) > 1 and (sizes not in FORMATS.get(len(miss.digits), ()) or len(set(re.findall("[ -]", printed))) > 1):
        return f"printed grouping {'-'.join(map(str, sizes))} not accepted"
    if before.isdigit() or after.isdigit():
        return "glued to adjacent digits"
    if before.isalpha() or after.isalpha():
        return "glued to letters"
    return "another reading of the same digits won (overlap rule: 19 digits vs 16 + CVV)"


def evaluate(sources: list[Source]) -> Report:
    report = Report({}, Score(), [], [], [], [])
    for src in sources:
        total = Score()
        for case in src.cases:
            s, misses, extras, findings = score_case(case)
            total.add(s)
            reported = {(f.fingerprint, f.location.offset) for f in findings}
            report.misses.extend((m, diagnose(m, reported)) for m in misses)
            report.extras.extend(extras)
            for d in case.near:
                # A near miss tests something only if the number would be a
                # candidate (valid, in some row) or the case says why not.
                if not (luhn_valid(d) and issuers.match(d, issuers.WIDTHS)) and not case.meta.get("near"):
                    report.trivial_near_misses.append((case, mask(d)))
        report.by_source[src.name] = total
        report.overall.add(total)
        for case in src.disagreements:
            fps = {f.fingerprint for f in scan(case.text)}
            want = {_FP.fingerprint(d) for d in case.expect}
            report.disagreements.append((case, want <= fps and (bool(want) or not fps)))
    return report


# -- output --------------------------------------------------------------------


def format_report(report: Report, sources: list[Source], listing: str = "all") -> str:
    out = ["source                   cases  expected  found  recall  reported  false+  precision  met"]
    for src in sources:
        s = report.by_source[src.name]
        out.append(f"{src.name:<24} {s.cases:5d}  {s.expected:8d}  {s.found:5d}  {s.recall:6.1%}  "
                   f"{s.reported:8d}  {s.extras:6d}  {s.precision:9.1%}  {s.met:5.1%}")
    o = report.overall
    out.append(f"{'overall':<24} {o.cases:5d}  {o.expected:8d}  {o.found:5d}  {o.recall:6.1%}  "
               f"{o.reported:8d}  {o.extras:6d}  {o.precision:9.1%}  {o.met:5.1%}")
    if listing == "none":
        return "\n".join(out)
    by_diag = Counter(d.split(" (")[0] for _, d in report.misses)
    out.append("")
    out.append(f"misses: {len(report.misses)}")
    for k, v in by_diag.most_common():
        out.append(f"  {v:4d}  {k}")
    by_class = Counter((m.case.cls or "-") for m, _ in report.misses)
    if by_class:
        out.append("  by case class: " + ", ".join(f"{k} {v}" for k, v in sorted(by_class.items())))
    for m, diag in report.misses:
        brand = issuers.match(m.digits, issuers.WIDTHS)
        label = brand.issuer.brand if brand else "no brand"
        out.append(f"  [{m.case.cls or '-'}] {m.case.source}/{m.case.id}: {m.masked} ({label}, "
                   f"{len(m.digits)} digits): {diag}")
    out.append("")
    out.append(f"false positives: {len(report.extras)}")
    for e in report.extras:
        out.append(f"  [{e.case.cls or '-'}] {e.case.source}/{e.case.id}: {e.masked} ({e.brand}) "
                   f"confidence {e.confidence}: {','.join(e.reasons)}")
    if report.trivial_near_misses:
        out.append("")
        out.append("near misses that are not even candidates (test nothing; make them structurally valid):")
        for case, masked in report.trivial_near_misses:
            out.append(f"  {case.source}/{case.id}: {masked}")
    if report.disagreements:
        out.append("")
        out.append("recorded disagreements (not scored; the source expects what issue 16's rules do not):")
        for case, agrees in report.disagreements:
            what = "cardscan does what the source expects" if agrees else "cardscan follows the rule"
            out.append(f"  {case.source}/{case.id}: {case.meta.get('rule', '')} -> {what}")
    return "\n".join(out)


def to_json(report: Report) -> dict:
    def sc(s: Score) -> dict:
        return {"cases": s.cases, "expected": s.expected, "found": s.found, "recall": round(s.recall, 4),
                "reported": s.reported, "false_positives": s.extras, "precision": round(s.precision, 4),
                "met": round(s.met, 4)}

    return {
        "sources": {k: sc(v) for k, v in report.by_source.items()},
        "overall": sc(report.overall),
        "misses": [{"case": f"{m.case.source}/{m.case.id}", "class": m.case.cls, "masked": m.masked,
                    "diagnosis": d} for m, d in report.misses],
        "false_positives": [{"case": f"{e.case.source}/{e.case.id}", "class": e.case.cls, "masked": e.masked,
                             "brand": e.brand, "confidence": e.confidence, "reasons": list(e.reasons)}
                            for e in report.extras],
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("sources", nargs="*", help="source names (data/<name>.cases); default all")
    ap.add_argument("--list", choices=("all", "none"), default="all",
                    help="print every miss and false positive (default) or only the table")
    ap.add_argument("--json", type=Path, help="also write the figures (masked) here")
    args = ap.parse_args(argv)
    sources = load(args.sources or None)
    report = evaluate(sources)
    print(format_report(report, sources, args.list))
    if args.json:
        args.json.write_text(json.dumps(to_json(report), indent=1) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except BrokenPipeError:  # `run.py | head`: stop quietly
        sys.stderr.close()
        sys.exit(0)
