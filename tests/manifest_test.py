"""Tests for cardscan/manifest.py and cardscan/schema/manifest.schema.json."""
from __future__ import annotations

import hashlib
import io
import json
import os
import stat
from dataclasses import replace
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from hypothesis import given, settings, strategies as st

from cardscan import manifest
from cardscan.errors import ManifestError
from cardscan.findings import Cell, DumpCell, ErrorRecord, Finding, FingerprintKey, Location, mask
from cardscan.manifest import (
    confidence_band,
    dumps,
    error_record,
    finding_record,
    load_manifest,
    object_digest,
    open_private,
    scan_record,
    summary_record,
    validate_records,
)
from cardscan.privacy import published, published_over
from cardscan.run.sweep import Tally, scan_info
from tests.treegen import KEY, pan

FP = FingerprintKey(KEY)


def finding(rng, loc: Location, obj: dict[str, Any] | None = None, **kw: Any) -> Finding:
    p = pan(rng, kw.pop("i", 0))
    return Finding(loc, kw.pop("kind", "pan"), kw.pop("brand", "visa"), mask(p), FP.fingerprint(p),
                   kw.pop("confidence", 85), ("issuer_luhn", "keyword"), obj=obj or {}, digits=len(p), **kw)


FILE_OBJ = {"size": 120, "mtime": "2024-06-11T09:00:00.123456Z", "ukey": "120:1718096400123456000:2049:77",
            "owner": "alice", "group": "staff", "mode": "0640", "exposure": "group-readable",
            "sha256": "a" * 64, "sha256_mode": "whole"}


def sample_records(rng) -> list[dict[str, Any]]:
    """Findings and errors for every kind of location the manifest must carry."""
    file_f = finding(rng, Location(uri="file:///srv/share/hr/export.csv", offset=31, length=16, line=2, column=12),
                     FILE_OBJ)
    member_f = finding(rng, Location(uri="file:///srv/share/march.zip", member=("customers.xlsx", "xl/sharedStrings.xml"),
                                     offset=220, length=19, line=1, column=221),
                       {**FILE_OBJ, "sha256": "b" * 64}, i=4)
    split_f = finding(rng, Location(uri="file:///srv/dump.sql", offset=9_000_000_000, length=16, line=1_000_000, column=3),
                      {**FILE_OBJ, "sha256_mode": "ranges", "sha256_range_size": 67108864})
    s3_f = finding(rng, Location(uri="s3://acme-exports/2024/06/orders.csv", version="3HL4kqtJlcpXroDTDmJ.rmSpXd3dIbrHY",
                                 offset=10, length=16, line=1, column=11),
                   {"etag": "d41d8cd98f00b204e9800998ecf8427e", "size": 1024, "last_modified": "2024-06-01T10:00:00+00:00",
                    "storage_class": "STANDARD", "exposure": "public", "exposure_detail": "bucket policy",
                    "sha256": "c" * 64, "sha256_mode": "whole"})
    sql_cell = Cell("payments", "note", (("id", 7), ("region", "eu")), "public")
    sql_f = finding(rng, Location(uri="postgresql://app@db.example:5432/shop", cell=sql_cell, offset=5, length=16,
                                  line=1, column=6),
                    {"database": "postgresql://app@db.example:5432/shop", "schema": "public", "table": "payments",
                     "rows_estimate": 1200, "exposure": "unknown"}, i=1, brand="mastercard")
    rowid = Cell("notes", "body", (("rowid", 3),), None, stable=False)
    sqlite_f = finding(rng, Location(uri="sqlite:////data/app.db", cell=rowid, offset=0, length=16, line=1, column=1),
                       {"database": "sqlite:////data/app.db", "table": "notes"}, i=2, brand="amex", kind="track2",
                       confidence=100)
    errors = [
        ErrorRecord(Location(uri="file:///srv/share/private"), "permission", "Permission denied"),
        ErrorRecord(Location(uri="file:///srv/share/deep.zip", member=("a.zip", "b.zip")), "limit", "too deep", "depth"),
        ErrorRecord(Location(uri="s3://acme-exports/glacier.bin"), "io", "object is archived in GLACIER; restore it"),
        ErrorRecord(Location(uri="postgresql://app@db.example:5432/shop", cell=sql_cell), "decode", "cannot decode"),
    ]
    tally = Tally(["file:///srv/share"])
    fs = [file_f, member_f, split_f, s3_f, sql_f, sqlite_f]
    for f in fs:
        tally.finding(f)
    for e in errors:
        tally.error(e)

    class Src:
        name = "file"

        def describe(self) -> dict[str, Any]:
            return {"name": "file", "url": "file:///srv/share", "options": {"exclude": []}}

    head = scan_record(scan_info([Src()], {"engine": {"min_confidence": 50}}, FP, "file"))
    return [head, *[finding_record(f) for f in fs], *[error_record(e) for e in errors],
            summary_record(tally.summary("complete", "2024-06-11T09:00:00Z", 1.5))]


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(manifest.schema())


def test_every_location_form_validates(rng) -> None:
    records = sample_records(rng)
    assert validate_records(records) == []
    assert [r["type"] for r in records][:2] == ["scan", "finding"] and records[-1]["type"] == "summary"


def test_records_round_trip_through_a_file(tmp_path: Path, rng) -> None:
    records = sample_records(rng)
    path = tmp_path / "m.jsonl"
    path.write_bytes(b"".join(dumps(r) for r in records))
    m = load_manifest(path, validate=True)
    assert m.complete and not m.truncated
    originals = [Finding.from_dict(r) for r in records if r["type"] == "finding"]
    assert m.findings == originals
    assert [f.id for f in m.findings] == [r["id"] for r in records if r["type"] == "finding"]
    assert [f.obj for f in m.findings] == [f.obj for f in originals]
    assert [e.kind for e in m.errors] == ["permission", "limit", "io", "decode"]
    assert m.scan["key_id"] == FP.key_id and m.summary["findings"] == 6


@pytest.mark.parametrize("field,value", [
    ("masked", "4111111111111111"),  # a full number where a masked one belongs
    ("masked", "4111111*****11111"),
    ("fingerprint", "sha256:" + "a" * 64),  # a plain hash is not a fingerprint
    ("kind", "cvv"),
    ("confidence", 101),
    ("id", "not-an-id"),
])
def test_schema_rejects_bad_findings(rng, field: str, value: Any) -> None:
    record = finding_record(finding(rng, Location(uri="file:///a", line=1, column=1, offset=0, length=16)))
    record[field] = value
    assert validate_records([record])


@pytest.mark.parametrize("mutate", [
    lambda r: r["location"].pop("uri"),
    lambda r: r["location"].update(uri="relative/path"),
    lambda r: r["location"].update(line=0),
    lambda r: r["location"].update(cell={"table": "t", "column": "c", "key": {}}),
    lambda r: r["object"].update(sha256="XYZ"),
    lambda r: r["object"].update(sha256_mode="ranges"),  # ranges without a range size
    lambda r: r["object"].update(mode="rw-r--r--"),
])
def test_schema_rejects_bad_locations_and_objects(rng, mutate) -> None:
    record = finding_record(finding(rng, Location(uri="file:///a", line=1, column=1, offset=0, length=16), dict(FILE_OBJ)))
    mutate(record)
    assert validate_records([record])


def test_schema_is_open_for_new_fields_and_record_types(rng) -> None:
    record = finding_record(finding(rng, Location(uri="file:///a", offset=0, length=16), dict(FILE_OBJ)))
    record["added_in_a_later_version"] = {"x": 1}
    record["location"]["page"] = 3
    record["object"]["xattrs"] = {}
    assert validate_records([record, {"type": "baseline", "anything": True}]) == []


def test_scan_record_never_holds_the_key(rng) -> None:
    head = sample_records(rng)[0]
    assert head["key_id"] == FP.key_id
    assert KEY.decode() not in json.dumps(head)


def test_truncated_last_line_is_tolerated_and_flagged(tmp_path: Path, rng) -> None:
    records = sample_records(rng)[:-1]
    data = b"".join(dumps(r) for r in records)
    path = tmp_path / "m.jsonl"
    path.write_bytes(data + dumps(records[1])[:40])  # killed mid-write
    m = load_manifest(path)
    assert m.truncated and not m.complete and len(m.findings) == 6


def test_damage_in_the_middle_is_an_error_with_a_line_number(tmp_path: Path, rng) -> None:
    records = sample_records(rng)
    lines = [dumps(r) for r in records]
    lines[2] = b'{"type": "finding", "masked": "4111\n'
    path = tmp_path / "m.jsonl"
    path.write_bytes(b"".join(lines))
    with pytest.raises(ManifestError) as exc:
        load_manifest(path)
    assert "line 3" in str(exc.value) and "4111" not in str(exc.value)


@pytest.mark.parametrize("text,message", [
    ('{"type": "finding"}\n', "starts with a scan record"),
    ('[1, 2]\n', "not a manifest record"),
    ('{"type": "scan", "schema_version": "1"}\n', "integer schema_version"),
    ('{"type": "scan", "schema_version": 99}\n', "upgrade cardscan"),
])
def test_bad_manifests(text: str, message: str) -> None:
    with pytest.raises(ManifestError) as exc:
        load_manifest(io.StringIO(text))
    assert message in str(exc.value)


def test_missing_manifest_file(tmp_path: Path) -> None:
    with pytest.raises(ManifestError):
        load_manifest(tmp_path / "nope.jsonl")


def test_upgrade_steps_run_in_order(monkeypatch) -> None:
    monkeypatch.setattr(manifest, "SCHEMA_VERSION", 3)
    monkeypatch.setitem(manifest.UPGRADES, 1, lambda r: {**r, "steps": r.get("steps", "") + "1"})
    monkeypatch.setitem(manifest.UPGRADES, 2, lambda r: {**r, "steps": r["steps"] + "2"})
    text = '{"type": "scan", "schema_version": 1}\n{"type": "finding", "x": 1}\n'
    records = list(manifest.iter_records(io.StringIO(text)))
    assert [r.get("steps") for r in records] == ["12", "12"]
    assert records[0]["schema_version"] == 3


def test_concatenated_manifests_load(rng) -> None:
    data = b"".join(dumps(r) for r in sample_records(rng)) * 2
    m = load_manifest(io.BytesIO(data))
    assert len(m.scans) == 2 and len(m.summaries) == 2 and m.complete


def test_open_private_creates_0600(tmp_path: Path) -> None:
    fd = open_private(tmp_path / "x")
    os.close(fd)
    assert stat.S_IMODE(os.stat(tmp_path / "x").st_mode) == 0o600


def test_object_digest_ranges_definition() -> None:
    data = os.urandom(25_000)
    size = 10_000
    parts = [(a, min(a + size, len(data))) for a in range(0, len(data), size)]
    text = "".join(f"{a}-{b}:{hashlib.sha256(data[a:b]).hexdigest()}\n" for a, b in parts)
    expected = hashlib.sha256(text.encode()).hexdigest()
    assert object_digest(io.BytesIO(data), {"sha256_mode": "ranges", "sha256_range_size": size}) == expected
    exact = data[:20_000]  # a size that is a multiple of the range size: no empty last range
    text = "".join(f"{a}-{a + size}:{hashlib.sha256(exact[a:a + size]).hexdigest()}\n" for a in (0, 10_000))
    assert object_digest(io.BytesIO(exact), {"sha256_mode": "ranges", "sha256_range_size": size}) == \
        hashlib.sha256(text.encode()).hexdigest()


@pytest.mark.parametrize("c,band", [(100, "high"), (80, "high"), (79, "medium"), (50, "medium"), (49, "low"), (0, "low")])
def test_confidence_bands(c: int, band: str) -> None:
    assert confidence_band(c) == band


def test_docs_examples_validate(rng) -> None:
    """Every JSON example in docs/manifest.md is a valid record (or a valid location)."""
    import re

    text = (Path(__file__).resolve().parent.parent / "docs" / "manifest.md").read_text()
    blocks = [json.loads(b) for b in re.findall(r"```json\n(.*?)```", text, flags=re.S)]
    template = finding_record(finding(rng, Location(uri="file:///a", offset=0, length=16), dict(FILE_OBJ)))
    kinds = []
    for b in blocks:
        record = b if "type" in b else {**template, "location": b}
        assert validate_records([record]) == [], b
        kinds.append(b.get("type", "location"))
    assert sorted(set(kinds)) == ["error", "finding", "location", "scan", "summary"]
    assert kinds.count("location") == 7  # (the seventh: a value in a dump file)
    # The sealed example is real: it opens with the key it was made with.
    from cardscan.findings import FingerprintKey

    (sealed,) = [b for b in blocks if "sealed" in b]
    real = Location.from_dict(sealed, FingerprintKey(b"docs-example-key"))
    assert real.public().uri == sealed["uri"] and "******" not in real.uri


def test_values_json_cannot_encode_are_masked_too(rng) -> None:
    """public_record passes a type it does not know as it is; what dumps
    makes of it (bytes as hex, a set as a list, anything else as str) is
    masked on the way out too."""
    from cardscan.testing.oracle import find_leaks

    p = pan(rng)
    line = manifest.dumps({"type": "x", "raw": p.encode(), "groups": {f"group-{p}"}, "path": Path(f"/srv/{p}.csv")})
    assert find_leaks(line, [p]) == []
    record = json.loads(line)
    assert record["groups"][0].startswith("group-") and record["path"].endswith(".csv")
    assert manifest.dumps({"n": b"\x01\x02", "s": {"a"}, "o": Path("/srv/a")}) == b'{"n":"0102","s":["a"],"o":"/srv/a"}\n'


# -- finding_line: the text of dumps(finding_record(f)) without the general encoder ----------
_CARDS = ("4111111111111111", "4111 1111 1111 1111", "5500-0000-0000-0004", "378282246310005", "4111111111111112")
_TEXT = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="0123456789 -_/.:%*", max_size=30),
    st.builds(lambda a, c, b: a + c + b, st.text(max_size=8), st.sampled_from(_CARDS), st.text(max_size=8)),
    st.sampled_from(("pan", "track2", "visa", "ascii", "utf-16-le", "issuer_luhn", "field_keyword", "")),
)
_NUMBER = st.one_of(st.none(), st.integers(min_value=-1, max_value=10 ** 20))


@st.composite
def _findings(draw: Any) -> list[Finding]:
    """Findings of one or two objects, mostly of the shape finding_line writes
    itself, some not (members, a version, a cell, a ref, a dump, carried over,
    a field of another type): the same text either way."""
    objs = [published(draw(st.dictionaries(_TEXT, st.one_of(_TEXT, _NUMBER, st.lists(_TEXT, max_size=3)), max_size=4)))
            for _ in range(2)]
    # A listed file's metadata: a shared part and the object's own (privacy.PublishedOver).
    objs[1] = published_over(objs[1], draw(st.dictionaries(_TEXT, st.one_of(_TEXT, _NUMBER), max_size=3)))
    objs.append(draw(st.dictionaries(_TEXT, _TEXT, max_size=2)))  # not published: the general path
    out = []
    for _ in range(draw(st.integers(1, 4))):
        uri = "file:///srv/" + draw(_TEXT)
        loc = Location(uri=uri, offset=draw(_NUMBER), length=draw(_NUMBER), line=draw(_NUMBER), column=draw(_NUMBER))
        other = draw(st.sampled_from(("", "", "", "", "", "member", "version", "cell", "ref", "dump", "sealed",
                                      "carried", "bool", "float")))
        if other == "bool":
            loc = replace(loc, offset=True)
        elif other == "float":
            loc = replace(loc, column=1.5)
        if other == "member":
            loc = replace(loc, member=(draw(_TEXT),))
        elif other == "version":
            loc = replace(loc, version=draw(_TEXT))
        elif other == "cell":
            loc = replace(loc, cell=Cell("t", draw(_TEXT), (("id", draw(_TEXT)),)))
        elif other == "ref":
            loc = replace(loc, ref=draw(_TEXT) or "B2")
        elif other == "dump":
            loc = replace(loc, dump=DumpCell("t", "c", 1))
        elif other == "sealed":
            loc = replace(loc, sealed="x" * 20)
        f = Finding(loc, draw(st.sampled_from(("pan", "track1", "track2")) | _TEXT), draw(_TEXT),
                    draw(_TEXT), draw(_TEXT), draw(st.integers(-5, 200) | st.just(True)),
                    tuple(draw(st.lists(_TEXT, max_size=3))), draw(st.booleans()), draw(_TEXT),
                    draw(st.integers(12, 19) | st.just(16.0)), obj=draw(st.sampled_from(objs[:2] * 3 + objs[2:])),
                    carried_over="2024-06-11T09:00:00Z" if other == "carried" else None)
        out.append(f)
    return out


@settings(max_examples=400, deadline=None)
@given(_findings())
def test_finding_line_is_dumps_of_the_record(fs: list[Finding]) -> None:
    for f in fs:
        assert manifest.finding_line(f) == dumps(finding_record(f))


def test_finding_line_masks_a_card_in_a_name(rng) -> None:
    """Near misses of the fast path: a card in the uri or in a reason is
    masked there as public_record masks it, and the object's metadata is
    read again when another object's findings come."""
    from cardscan.testing.oracle import find_leaks

    p = pan(rng)
    obj, other = published({"owner": f"user-{p}"}), published({"owner": "bob"})
    for f in (finding(rng, Location(uri=f"file:///srv/{p}.csv", offset=1, length=16, line=1, column=2), obj),
              finding(rng, Location(uri="file:///srv/a.csv", offset=1, length=16, line=1, column=2), other),
              replace(finding(rng, Location(uri="file:///srv/b.csv"), obj), reasons=(f"near {p}",))):
        line = manifest.finding_line(f)
        assert line == dumps(finding_record(f)) and find_leaks(line, [p]) == []
    assert b'"owner":"bob"' in manifest.finding_line(finding(rng, Location(uri="file:///srv/a.csv"), other))


def test_finding_line_asks_no_mask_name_of_a_uri_public_found_clean(rng, monkeypatch) -> None:
    """A worker's finding: its location was found clean by Location.public
    there (the mark is pickled with it), so finding_line writes its uri
    without asking mask_name again, the same text as dumps; a location that
    needed masking is asked, and masked, as before."""
    import pickle

    from cardscan import manifest as manifest_module

    p = pan(rng)
    clean = Location(uri="file:///srv/exports/2024/march-report.csv", offset=1, length=16, line=1, column=2)
    clean.public()
    f = pickle.loads(pickle.dumps(finding(rng, clean, published({"owner": "bob"}))))
    want = dumps(finding_record(f))
    asked: list[str] = []
    real = manifest_module.mask_name

    def counting(text: str) -> str:
        asked.append(text)
        return real(text)

    monkeypatch.setattr(manifest_module, "mask_name", counting)
    monkeypatch.setattr(manifest_module, "_CLEAN_NAMES", set())  # as in a parent that never saw the name
    monkeypatch.setattr(manifest_module, "_OBJECT_TEXT", (None, None, "", ""))
    assert manifest_module.finding_line(f) == want and f.location.uri not in asked
    carded = finding(rng, Location(uri=f"file:///srv/cards-{p}.csv", offset=1, length=16, line=1, column=2),
                     published({"owner": "bob"}))
    line = manifest_module.finding_line(carded)
    assert line == dumps(finding_record(carded)) and p.encode() not in line and asked


def test_object_metadata_encoded_once_made_as_the_encoder_does() -> None:
    # finding_line encodes an object's metadata with a C encoder made once:
    # the same text as _ENCODER.encode, for every kind of value it may hold.
    from pathlib import Path

    from cardscan import manifest as manifest_module
    from cardscan.privacy import Published, published

    objs = [
        published({"owner": "root", "group": "r\u00e9", "mode": "0644", "exposure": "world-readable",
                   "readers": ["user:root", "group:root", "*"], "group_members": {"root": 1}, "size": 238,
                   "ratio": 1.5, "nan": float("nan"), "none": None, "yes": True,
                   "mtime": "2026-12-07T09:23:37.733897Z", "ukey": "238:1796635417733897585:65024:5409279"}),
        Published({"b": b"\x01", "p": Path("/x/y"), "s": {1}, "big": 10**30, "neg": -0.0, "inf": float("inf"),
                   "nested": Published({"l": [1, [2, {"k": "v"}]]})}),
        Published({}),
    ]
    for obj in objs:
        assert manifest_module._encode_object(obj) == manifest_module._ENCODER.encode(obj)


def test_object_metadata_of_two_parts_is_the_encoders_text() -> None:
    """A listed file's metadata (privacy.PublishedOver: the shared part's
    text made once, joined with the object's own): the encoder's text of
    the whole, with either part empty, and with the shared part's text
    taken from the last object's."""
    from cardscan import manifest as manifest_module
    from cardscan.privacy import PublishedOver

    shared = published({"owner": "root", "mode": "0644", "readers": ["user:root", "*"], "group_members": {"root": 1}})
    listed = {"size": 238, "mtime": "2026-12-07T09:23:37.733897Z", "ukey": "238:1796:65024:54", "sha256": "ab" * 32,
              "sha256_mode": "whole"}  # (a listed file's own part: written without the encoder, _own_text)
    own = [{"size": 238, "mtime": "2026-12-07T09:23:37.733897Z", "sha256": "ab" * 32}, {}, {"ratio": 1.5, "n": None},
           listed, {**listed, "mtime": 'a "quoted"\\ na\x01me \u00e9'}, {**listed, "size": 2 ** 70},
           {**listed, "size": True}, {**listed, "sha256": None}, dict(reversed(listed.items()))]
    for base in (shared, published({}), shared):
        for extra in own:
            published_over(base, extra)  # (keys new to the process: the whole record's way, once)
            obj = published_over(base, extra)
            assert type(obj) is PublishedOver and list(obj) == [*base, *extra]
            assert manifest_module._object_text(obj) == manifest_module._ENCODER.encode(obj)
    assert type(published_over(shared, {"mode": "0600"})) is not PublishedOver  # a key in both: one record
