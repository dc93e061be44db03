"""The outside-truth accuracy benchmark (benchmarks/accuracy/): its data is
sound, its output never leaks, and cardscan meets 99% of the expectations.

The last test is expected to fail until the detection rules of issue 16
land; it runs anyway (strict=False), so the figure is visible in every run.
"""
from __future__ import annotations

import csv
import importlib.util
import json
import sys
from collections import Counter
from pathlib import Path

import luhn
import pytest

from cardscan.engine import issuers
from cardscan.testing import assert_no_pan

ACCURACY = Path(__file__).resolve().parents[2] / "benchmarks" / "accuracy"
# Loaded under its own name: benchmarks/run.py is "run" for the smoke test.
_spec = importlib.util.spec_from_file_location("accuracy_run", ACCURACY / "run.py")
assert _spec is not None and _spec.loader is not None
run = importlib.util.module_from_spec(_spec)
sys.modules["accuracy_run"] = run  # dataclasses look their module up by name
_spec.loader.exec_module(run)

CARDS = Path(issuers.__file__).resolve().parent.parent / "data" / "test_cards.csv"


@pytest.fixture(scope="module")
def sources() -> list[run.Source]:
    return run.load()


@pytest.fixture(scope="module")
def report(sources: list[run.Source]) -> run.Report:
    return run.evaluate(sources)


def _numbers(sources: list[run.Source]) -> set[str]:
    """Every card-like number the cases hold: expected and planted."""
    out: set[str] = set()
    for src in sources:
        for case in src.cases + src.disagreements:
            out.update(case.expect)
            out.update(v for k, v in case.planted.items() if not k.endswith(".cvv"))
    return out


def test_every_source_says_where_it_comes_from(sources: list[run.Source]) -> None:
    names = {s.name for s in sources}
    assert {"presidio", "braintree_cct", "panhunt", "ccsrch", "processors", "transcripts"} <= names
    for src in sources:
        assert src.meta["url"] and src.meta["taken"], src.name
        assert src.cases, f"{src.name} has no cases"
        for d in src.disagreements:  # a recorded disagreement says which rule and why
            assert d.meta["rule"] and d.meta["reason"], f"{src.name}/{d.id}"


def test_expected_numbers_are_luhn_valid_cards(sources: list[run.Source]) -> None:
    for src in sources:
        for case in src.cases:
            for digits in case.expect:
                assert luhn.verify(digits), f"{src.name}/{case.id}: an expected number fails Luhn"


def test_near_misses_would_be_candidates(report: run.Report) -> None:
    """A planted non-card tests precision only if it passes the structural
    checks (or the case says why it does not)."""
    trivial = [f"{c.source}/{c.id}" for c, _ in report.trivial_near_misses]
    assert not trivial, trivial


def test_transcripts_cover_every_class_of_issue_16(sources: list[run.Source]) -> None:
    (tx,) = [s for s in sources if s.name == "transcripts"]
    classes = Counter(c.cls for c in tx.cases)
    for cls in "12345678":
        assert classes[cls] >= 2, f"class {cls}: {classes[cls]} case(s)"
    assert classes["near-miss"] >= 20
    assert classes["transcript"] >= 5


def test_processor_cases_cover_the_test_card_list(sources: list[run.Source]) -> None:
    """processors.cases is generated from test_cards.csv (gen_processors.py):
    a number added to the list without regenerating the cases fails here."""
    (proc,) = [s for s in sources if s.name == "processors"]
    expected = Counter(d for c in proc.cases for d in c.expect)
    with open(CARDS, encoding="utf-8") as fh:
        for row in csv.DictReader(fh):
            lists = len(row["source"].split("|"))
            assert expected[row["number"]] == lists, "regenerate benchmarks/accuracy/data/processors.cases"


def test_generated_numbers_are_fresh_and_stable(sources: list[run.Source]) -> None:
    again = run.load(["transcripts"])[0]
    (tx,) = [s for s in sources if s.name == "transcripts"]
    assert [c.planted for c in tx.cases] == [c.planted for c in again.cases]
    planted = [v for c in tx.cases for k, v in c.planted.items() if not k.endswith(".cvv")]
    assert len(planted) == len(set(planted)), "two placeholders drew the same number"
    listed = {row["number"] for row in csv.DictReader(open(CARDS, encoding="utf-8"))}
    assert not set(planted) & listed, "a generated number is a published test card"


def test_report_and_json_never_show_a_full_number(sources: list[run.Source], report: run.Report) -> None:
    text = run.format_report(report, sources, "all")
    assert "false positives" in text and "overall" in text
    numbers = _numbers(sources)
    assert len(numbers) > 500
    assert_no_pan(text, numbers, "the accuracy report")
    assert_no_pan(json.dumps(run.to_json(report)), numbers, "the accuracy JSON")


def test_placeholders_and_format_errors(tmp_path: Path) -> None:
    good = tmp_path / "good.cases"
    good.write_text(
        "source: s\nurl: u\ntaken: t\n\n=== case: one\nclass: 3\nexpect: a\n--- text\n"
        "card {{a:4:16/ }} and {{a}} and {{b:51:16:cvv}} {{b.cvv}} {{c:4:19:pre16/4-4-4-4-3/-}}\n",
        encoding="utf-8",
    )
    (case,) = run.parse(good).cases
    a, b, c = case.planted["a"], case.planted["b"], case.planted["c"]
    text = case.text.decode()
    assert f"card {a[:4]} {a[4:8]} {a[8:12]} {a[12:]} and {a} and " in text
    assert luhn.verify(b) and luhn.verify(b + case.planted["b.cvv"])
    assert luhn.verify(c) and luhn.verify(c[:16]) and c[:4] + "-" in text
    assert case.expect == [a] and case.near == sorted([b, c])
    for body, message in [
        ("=== case: x\nexpect: a\n--- text\n{{a}}\n", "before it is defined"),
        ("=== case: x\nexpect: -\n--- text\n{{a:4}}\n", "prefix:length"),
        ("=== case: x\n--- text\nnothing\n", "needs 'expect:'"),
        ("=== case: x\nexpect: 1234\n--- text\nnothing\n", "neither a placeholder"),
        ("=== case: x\nexpect: -\nnothing here\n", "expected 'key: value'"),
        ("=== disagreement: x\nsource_expects: -\n--- text\nx\n", "'rule:' and 'reason:'"),
    ]:
        bad = tmp_path / "bad.cases"
        bad.write_text("source: s\nurl: u\ntaken: t\n" + body, encoding="utf-8")
        with pytest.raises(run.FormatError, match=message):
            run.parse(bad)


def test_a_miss_is_diagnosed(tmp_path: Path) -> None:
    path = tmp_path / "d.cases"
    # Printed in groups no card is printed in: a structural miss.
    path.write_text("source: s\nurl: u\ntaken: t\n=== case: irregular\nexpect: a\n--- text\n"
                    "{\"card_number\": \"{{a:4:16/3-5-4-4/ }}\"}\n", encoding="utf-8")
    report = run.evaluate([run.parse(path)])
    ((miss, diagnosis),) = report.misses
    assert diagnosis == "not a candidate: printed grouping 3-5-4-4 not accepted"
    assert report.overall.recall == 0.0 and report.overall.met == 0.5


def test_cardscan_meets_99_percent_of_the_expectations(report: run.Report) -> None:
    o = report.overall
    assert o.met >= 0.99, f"{o.met:.1%} of expectations met (recall {o.recall:.1%}, precision {o.precision:.1%})"
    assert o.recall >= 0.99 and o.precision >= 0.99
