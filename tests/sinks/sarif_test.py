"""SARIF output: valid against the official 2.1.0 schema, stable fingerprints, no PANs."""
from __future__ import annotations

import io
import json
import re
from pathlib import Path
from urllib.parse import urlsplit

import jsonschema
import pytest

from cardscan import Scanner
from cardscan.findings import Cell, ErrorRecord, Location
from cardscan.sinks.sarif import FINGERPRINT_NAME, INFORMATION_URI, RULES, SARIF_SCHEMA, SarifSink, level
from cardscan.sources.base import Item
from cardscan.testing import SinkCase, SinkContract, assert_no_pan, make_pan

SCHEMA = json.loads((Path(__file__).parent / "data" / "sarif-schema-2.1.0.json").read_text("utf-8"))
# RFC 3986 characters of a URI reference (jsonschema checks "uri" formats only
# with optional packages; check the characters ourselves).
_URI_CHARS = re.compile(r"^[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=%]*$")


def validate(doc: dict) -> None:
    jsonschema.Draft7Validator(SCHEMA).validate(doc)
    for uri in _uris(doc):
        assert _URI_CHARS.match(uri), f"not a URI reference: {uri!r}"
    github_rules(doc)


def github_rules(doc: dict) -> None:
    """What GitHub code scanning requires of an uploaded log, beyond the schema
    (docs.github.com "SARIF support for code scanning"; the SARIF multitool's GH
    rules): a rule id known to the driver, a level it shows, a message, a file
    location with a region starting at a line >= 1 (GH1003), and partial
    fingerprints so that an alert is tracked across runs."""
    for run in doc["runs"]:
        driver = run["tool"]["driver"]
        assert driver["name"] and driver.get("informationUri", "").startswith("https://")
        rule_ids = {r["id"] for r in driver.get("rules", [])}
        for r in run["results"]:
            assert r["ruleId"] in rule_ids
            assert r["level"] in ("error", "warning", "note")
            assert r["message"]["text"].strip()
            assert r["partialFingerprints"] and all(isinstance(v, str) and v for v in r["partialFingerprints"].values())
            phys = r["locations"][0]["physicalLocation"]
            assert phys["artifactLocation"]["uri"]
            assert phys["region"]["startLine"] >= 1, r


def _uris(node):
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "uri" and isinstance(v, str):
                yield v
            else:
                yield from _uris(v)
    elif isinstance(node, list):
        for v in node:
            yield from _uris(v)


def run_sink(tmp_path: Path, records, summary=None, root=None) -> dict:
    out = io.StringIO()
    sink = SarifSink(out, root=root or tmp_path)
    sink.begin({"cardscan_version": "0.1.0", "started": "2026-11-28T10:00:00Z", "key_id": "sha256:abc",
                "key_source": "env"})
    for r in records:
        if isinstance(r, ErrorRecord):
            sink.error(r)
        elif isinstance(r, Item):
            sink.end_item(r, {})
        else:
            sink.finding(r)
    sink.close(summary or {"status": "complete", "findings": 1, "finished": "2026-11-28T10:00:01Z"})
    return json.loads(out.getvalue())


@pytest.fixture
def planted(tmp_path: Path, rng):
    pan = make_pan("455673", 16, rng)
    low = make_pan("510510", 16, rng)
    track = make_pan("455673", 16, rng)
    text = (
        f"name: refund test\ncard number: {pan} exp 04/29\n"
        f"ref {low}\n"
        f"track: %B{track}^DOE/JOHN^2904101000000000000000?\n"
        "ünïcode line before\n"
    )
    path = tmp_path / "src dir" / "fixtures.yml"
    path.parent.mkdir()
    path.write_text(text, encoding="utf-8")
    findings = Scanner(key=b"ci-key").scan_bytes(path.read_bytes(), Location(uri=path.as_uri()))
    return path, findings, [pan, low, track]


def test_valid_against_the_official_schema(tmp_path: Path, planted) -> None:
    path, findings, pans = planted
    assert {f.kind for f in findings} >= {"pan", "track1"}
    err = ErrorRecord(Location(uri=(tmp_path / "locked.txt").as_uri()), "permission", "Permission denied")
    doc = run_sink(tmp_path, [*findings, err])
    validate(doc)
    text = json.dumps(doc)
    assert_no_pan(text, pans, "SARIF output")
    run = doc["runs"][0]
    assert run["tool"]["driver"]["name"] == "cardscan"
    assert [r["id"] for r in run["tool"]["driver"]["rules"]] == ["cardscan/pan", "cardscan/track1", "cardscan/track2"]
    assert len(run["results"]) == len(findings)
    inv = run["invocations"][0]
    assert inv["executionSuccessful"] is False
    assert inv["toolExecutionNotifications"][0]["descriptor"]["id"] == "cardscan/error/permission"


def test_result_locations_and_properties(tmp_path: Path, planted) -> None:
    path, findings, _ = planted
    doc = run_sink(tmp_path, findings)
    results = doc["runs"][0]["results"]
    first = results[0]
    pl = first["locations"][0]["physicalLocation"]
    assert pl["artifactLocation"] == {"uri": "src%20dir/fixtures.yml", "uriBaseId": "%SRCROOT%"}
    f = findings[0]
    assert pl["region"] == {"startLine": f.location.line, "startColumn": f.location.column,
                            "byteOffset": f.location.offset, "byteLength": f.location.length}
    assert pl["region"]["startLine"] == 2
    assert first["ruleId"] == "cardscan/pan"
    assert first["ruleIndex"] == 0
    assert first["properties"]["masked"] == f.masked
    assert first["properties"]["brand"] == "visa"
    assert first["properties"]["confidence"] == f.confidence
    assert first["properties"]["test_card"] is False
    assert f.masked in first["message"]["text"] and "Visa" in first["message"]["text"]
    track = [r for r in results if r["ruleId"] == "cardscan/track1"]
    assert track and track[0]["level"] == "error"
    assert doc["runs"][0]["originalUriBaseIds"]["%SRCROOT%"]["uri"] == tmp_path.as_uri() + "/"


def test_levels(rng) -> None:
    from cardscan.findings import Finding

    base = dict(location=Location(uri="file:///x"), brand="visa", masked="455673******1234", fingerprint="hmac-sha256:0")
    assert level(Finding(kind="pan", confidence=85, **base)) == "error"
    assert level(Finding(kind="pan", confidence=60, **base)) == "warning"
    assert level(Finding(kind="pan", confidence=85, test_card=True, **base)) == "note"
    assert level(Finding(kind="track2", confidence=100, **base)) == "error"


def test_partial_fingerprints_stable_across_runs_and_line_moves(tmp_path: Path, rng) -> None:
    pan = make_pan("455673", 16, rng)
    p = tmp_path / "a.txt"
    runs = []
    for prefix in ("", "\n\n\nmoved down\n"):
        p.write_text(f"{prefix}card {pan}\n")
        fs = Scanner(key=b"ci-key").scan_bytes(p.read_bytes(), Location(uri=p.as_uri()))
        runs.append(run_sink(tmp_path, fs)["runs"][0]["results"][0])
    assert runs[0]["locations"][0]["physicalLocation"]["region"]["startLine"] == 1
    assert runs[1]["locations"][0]["physicalLocation"]["region"]["startLine"] == 5
    assert runs[0]["partialFingerprints"] == runs[1]["partialFingerprints"]
    # Another key: another fingerprint (derived from the HMAC, not from the number).
    fs = Scanner(key=b"other").scan_bytes(p.read_bytes(), Location(uri=p.as_uri()))
    other = run_sink(tmp_path, fs)["runs"][0]["results"][0]
    assert other["partialFingerprints"][FINGERPRINT_NAME] != runs[0]["partialFingerprints"][FINGERPRINT_NAME]
    # Another file, same number: another fingerprint.
    q = tmp_path / "b.txt"
    q.write_text(f"card {pan}\n")
    fs = Scanner(key=b"ci-key").scan_bytes(q.read_bytes(), Location(uri=q.as_uri()))
    moved = run_sink(tmp_path, fs)["runs"][0]["results"][0]
    assert moved["partialFingerprints"] != runs[0]["partialFingerprints"]
    assert not re.search(r"\d{13,19}", json.dumps(runs)), "no digit run a PAN could hide in"


def test_members_git_sql_and_outside_root(tmp_path: Path, rng) -> None:
    pan = make_pan("455673", 16, rng)
    data = f"card {pan}\n".encode()
    s = Scanner(key=b"k")
    member = s.scan_bytes(data, Location(uri=(tmp_path / "x.zip").as_uri(), member=("inner/cards.csv",)))[0]
    outside = s.scan_bytes(data, Location(uri="file:///elsewhere/y.txt"))[0]
    s3 = s.scan_bytes(data, Location(uri="s3://bucket/key.txt", version="v1"))[0]
    cell = Cell(table="customers", column="note", row_key=(("id", 7),), schema="public")
    sql = s.scan_bytes(data, Location(uri="postgresql://db.example/shop", cell=cell))[0]
    git = s.scan_bytes(data, Location(uri="git+file:///repo/src/a.py?commit=" + "ab" * 20))[0]
    from dataclasses import replace

    git = replace(git, obj={"repo": str(tmp_path), "path": "src/a.py", "commit": "ab" * 20})
    doc = run_sink(tmp_path, [member, outside, s3, sql, git])
    validate(doc)
    r_member, r_out, r_s3, r_sql, r_git = doc["runs"][0]["results"]
    assert r_member["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "x.zip"
    # The member's line and column, on the container a code-scanning UI opens;
    # byte offsets (in the member, not the zip) only in the properties.
    assert r_member["locations"][0]["physicalLocation"]["region"] == {"startLine": 1, "startColumn": 6}
    assert r_member["locations"][0]["logicalLocations"][0] == {
        "fullyQualifiedName": "x.zip!inner/cards.csv", "name": "inner/cards.csv", "kind": "member"}
    assert r_member["properties"]["member"] == ["inner/cards.csv"]
    assert r_member["properties"]["member_region"] == {"startLine": 1, "startColumn": 6, "byteOffset": 5,
                                                       "byteLength": 16}
    assert r_sql["locations"][0]["physicalLocation"]["region"]["startLine"] == 1
    assert r_out["locations"][0]["physicalLocation"]["artifactLocation"] == {"uri": "file:///elsewhere/y.txt"}
    assert r_s3["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "s3://bucket/key.txt"
    assert r_s3["properties"]["version"] == "v1"
    assert r_sql["locations"][0]["logicalLocations"][0]["fullyQualifiedName"] == "public.customers.note[id=7]"
    assert r_git["locations"][0]["physicalLocation"]["artifactLocation"]["uri"] == "src/a.py"
    assert r_git["properties"]["commit"] == "ab" * 20


def test_empty_scan_and_interrupted(tmp_path: Path) -> None:
    doc = run_sink(tmp_path, [], {"status": "interrupted", "findings": 0})
    validate(doc)
    assert doc["runs"][0]["results"] == []
    assert doc["runs"][0]["invocations"][0]["executionSuccessful"] is False
    doc = run_sink(tmp_path, [], {"status": "complete", "findings": 0})
    assert doc["runs"][0]["invocations"][0]["executionSuccessful"] is True


def test_written_file_is_private(tmp_path: Path, planted) -> None:
    _, findings, _ = planted
    target = tmp_path / "out.sarif"
    sink = SarifSink(str(target), root=tmp_path)
    sink.begin({})
    for f in findings:
        sink.finding(f)
    sink.close({"status": "complete"})
    assert target.stat().st_mode & 0o777 == 0o600
    validate(json.loads(target.read_text()))


def test_rules_have_help() -> None:
    for rule in RULES:
        assert rule["help"]["text"] and rule["fullDescription"]["text"]
        assert float(rule["properties"]["security-severity"]) > 0


def test_the_schema_rejects_a_broken_log(tmp_path: Path, planted) -> None:
    """The vendored schema is the real thing: it catches what a consumer would reject."""
    _, findings, _ = planted
    doc = run_sink(tmp_path, findings)
    doc["runs"][0]["results"][0]["level"] = "fatal"
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(SCHEMA).validate(doc)
    doc = run_sink(tmp_path, findings)
    doc["runs"][0]["results"][0]["locations"][0]["physicalLocation"]["region"]["startLine"] = 0
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.Draft7Validator(SCHEMA).validate(doc)


def test_sink_protocol() -> None:
    from cardscan.sinks.base import Sink

    assert isinstance(SarifSink(io.StringIO()), Sink)
    assert urlsplit(SarifSink(io.StringIO()).root.as_uri()).scheme == "file"


class TestSarifSinkContract(SinkContract):
    @pytest.fixture
    def sink_case(self) -> SinkCase:
        def view(output: bytes) -> list[str]:
            doc = json.loads(output)
            validate(doc)
            return [r["properties"]["fingerprint"] for r in doc["runs"][0]["results"]]

        def errors(output: bytes) -> int:
            inv = json.loads(output)["runs"][0]["invocations"][0]
            return len(inv.get("toolExecutionNotifications", []))

        return SinkCase(lambda path: SarifSink(str(path)), view=view, key=lambda f: f.fingerprint, errors=errors)


def test_schema_uri_and_tool_information() -> None:
    """The $schema is where OASIS keeps the 2.1.0 schema now (the master/Schemata path is gone)."""
    doc = json.loads(_close(SarifSink(io.StringIO())))
    assert doc["$schema"] == SARIF_SCHEMA == (
        "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/main/sarif-2.1/schema/sarif-schema-2.1.0.json")
    assert doc["runs"][0]["tool"]["driver"]["informationUri"] == INFORMATION_URI


def _close(sink: SarifSink) -> str:
    out = sink._out
    sink.begin({})
    sink.close({"status": "complete"})
    return out.getvalue()


def test_allowed_findings_are_suppressed_results_not_errors(tmp_path: Path, rng) -> None:
    """A 'cardscan: allow' line is not an error: it is a result with an inSource suppression."""
    pan = make_pan("455673", 16, rng)
    f = Scanner(key=b"k").scan_bytes(f"card {pan} exp 04/29\n".encode(),
                                     Location(uri=(tmp_path / "a.py").as_uri()))[0]
    out = io.StringIO()
    sink = SarifSink(out, root=tmp_path)
    sink.begin({})
    sink.allowed(f)
    sink.finding(f)
    sink.close({"status": "complete"})
    doc = json.loads(out.getvalue())
    validate(doc)
    suppressed, plain = doc["runs"][0]["results"]
    assert suppressed["suppressions"][0]["kind"] == "inSource" and "cardscan: allow" in suppressed["suppressions"][0][
        "justification"]
    assert suppressed["level"] == "note" and suppressed["properties"]["allowed"] is True
    assert "suppressions" not in plain and plain["level"] == "error"
    # The same alert for a tracker: suppressing does not change its identity.
    assert suppressed["partialFingerprints"] == plain["partialFingerprints"]
    assert_no_pan(out.getvalue(), [pan], "sarif")
