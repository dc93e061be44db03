"""JUnit XML output: a test case per scanned file, a failure per finding, errors as <error>."""
from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from cardscan import Scanner
from cardscan.findings import ErrorRecord, Location
from cardscan.sinks.junit import JUnitSink
from cardscan.sources.base import Item
from cardscan.testing import SinkCase, SinkContract, assert_no_pan, make_pan


def drive(sink: JUnitSink, items) -> None:
    """items: (Item | None, findings, errors) per object, pushed like a sweep does."""
    sink.begin({"started": "2026-11-28T10:00:00Z"})
    for item, findings, errors in items:
        for f in findings:
            sink.finding(f)
        for e in errors:
            sink.error(e)
        sink.end_item(item, {"seconds": 0.25, "findings": len(findings), "errors": len(errors)})
    sink.close({"status": "complete", "duration_s": 1.5})


def test_cases_failures_and_errors(tmp_path: Path, rng) -> None:
    a, b = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    s = Scanner(key=b"k")
    dirty = tmp_path / "dirty.txt"
    dirty.write_text(f"card {a}\ncard number {b} exp 04/29\n")
    clean = tmp_path / "clean & <odd>.txt"
    clean.write_text("nothing\n")
    found = s.scan_bytes(dirty.read_bytes(), Location(uri=dirty.as_uri()))
    assert len(found) == 2
    zip_item = Item(uri=(tmp_path / "bad.zip").as_uri(), source="file")
    bad = ErrorRecord(Location(uri=zip_item.uri, member=("inner.csv",)), "decode", "truncated member")
    walk = ErrorRecord(Location(uri=(tmp_path / "locked").as_uri()), "permission", "Permission denied")
    out = io.StringIO()
    drive(JUnitSink(out, root=tmp_path), [
        (Item(uri=dirty.as_uri(), source="file"), found, []),
        (Item(uri=clean.as_uri(), source="file"), [], []),
        (zip_item, [], [bad]),
        (None, [], [walk]),
    ])
    text = out.getvalue()
    assert_no_pan(text, [a, b], "JUnit output")
    root = ET.fromstring(text)
    assert root.tag == "testsuites"
    suite = root.find("testsuite")
    assert suite is not None
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "2", "2")
    assert suite.get("time") == "1.500" and suite.get("timestamp") == "2026-11-28T10:00:00"
    cases = {c.get("name"): c for c in suite.findall("testcase")}
    assert set(cases) == {"dirty.txt", "clean & <odd>.txt", "bad.zip", "locked"}
    failures = cases["dirty.txt"].findall("failure")
    assert [f.get("type") for f in failures] == ["cardscan/pan", "cardscan/pan"]
    assert found[0].masked in failures[0].get("message")
    assert "line 1, column 6" in failures[0].get("message")
    assert "Mastercard" in failures[1].get("message") and "expiry" in failures[1].text
    assert list(cases["clean & <odd>.txt"]) == []
    err = cases["bad.zip"].find("error")
    assert err is not None and err.get("type") == "cardscan/error/decode" and "inner.csv" in err.text
    assert cases["locked"].find("error").get("type") == "cardscan/error/permission"


def test_control_characters_in_names_cannot_break_xml(tmp_path: Path, rng) -> None:
    pan = make_pan("455673", 16, rng)
    weird = tmp_path / "evil\x1b]0;\x07name\".txt"
    weird.write_text(f"card {pan}\n")
    found = Scanner(key=b"k").scan_bytes(weird.read_bytes(), Location(uri=weird.as_uri()))
    out = io.StringIO()
    drive(JUnitSink(out, root=tmp_path), [(Item(uri=weird.as_uri(), source="file"), found, [])])
    root = ET.fromstring(out.getvalue())  # parses: no raw control characters
    name = root.find("testsuite/testcase").get("name")
    assert "\x1b" not in name and "\\x1b" in name


def test_empty_run_and_private_file(tmp_path: Path) -> None:
    target = tmp_path / "report.xml"
    drive(JUnitSink(str(target)), [])
    assert target.stat().st_mode & 0o777 == 0o600
    suite = ET.parse(target).getroot().find("testsuite")
    assert suite.get("tests") == "0" and suite.get("failures") == "0"


def test_findings_without_end_item_still_reported(tmp_path: Path, rng) -> None:
    pan = make_pan("455673", 16, rng)
    p = tmp_path / "a.txt"
    p.write_text(f"card {pan}\n")
    out = io.StringIO()
    sink = JUnitSink(out, root=tmp_path)
    sink.begin({})
    for f in Scanner(key=b"k").scan_bytes(p.read_bytes(), Location(uri=p.as_uri())):
        sink.finding(f)
    sink.close({})
    suite = ET.fromstring(out.getvalue()).find("testsuite")
    assert suite.get("failures") == "1"
    assert suite.find("testcase").get("name") == "a.txt"


class TestJUnitSinkContract(SinkContract):
    @pytest.fixture
    def sink_case(self) -> SinkCase:
        def errors(output: bytes) -> int:
            return len(list(ET.fromstring(output).iter("error")))

        # A failure's message is "<Brand> <masked> in <member> at ...": compare the masked numbers.
        def view_masked(output: bytes) -> list[str]:
            root = ET.fromstring(output)
            return [re.search(r"[0-9]{1,6}\*+[0-9]{4}", f.get("message", "")).group() for f in root.iter("failure")]

        return SinkCase(lambda path: JUnitSink(str(path)), view=view_masked, key=lambda f: f.masked, errors=errors)
