"""docs/manifest.md's access-record examples have exactly the fields the records have."""
from __future__ import annotations

import calendar
import json
import re
from pathlib import Path

from cardscan.access import RECORD_TYPES, Options, run
from cardscan.testing import make_pan
from tests.access.logs import KEY, OTHER, ct_file, ct_record, finding_for, iso, s3_line, write, write_manifest

DOCS = Path(__file__).resolve().parents[2] / "docs"
T0 = calendar.timegm((2024, 6, 11, 9, 0, 0, 0, 0, 0))


def _examples() -> list[dict]:
    text = (DOCS / "manifest.md").read_text()
    section = text[text.index("## Access records"):]
    blocks = re.findall(r"```json access\n(.*?)```", section, flags=re.S)
    assert len(blocks) == 6
    return [json.loads(block) for block in blocks]


def test_examples_match_real_records(tmp_path: Path, rng) -> None:
    f = finding_for(make_pan("4556", rng=rng), "s3://acme/k.csv", obj={"last_modified": iso(T0), "size": 9})
    local = tmp_path / "cards.txt"
    local.write_text("x\n")
    g = finding_for(make_pan("4556", rng=rng), local.as_uri(), obj={"mtime": iso(T0), "size": 2})
    m = write_manifest(tmp_path / "m.jsonl", [f, g], started=T0 + 86400, finished=T0 + 86460)
    logs = write(tmp_path / "l.log", s3_line(bucket="acme", key="k.csv", ts=T0 + 60, requester=OTHER) + "\nbad\n")
    trail = write(tmp_path / "t.json.gz", ct_file([ct_record("GetObject", bucket="acme", key="k.csv", ts=T0 + 90)]))
    real = list(run(str(m), Options(s3_access_logs=[str(logs)], cloudtrail=[str(trail)]), KEY))
    by_type: dict[str, list[dict]] = {}
    for r in real:
        by_type.setdefault(r["type"], []).append(r)
    assert set(by_type) == set(RECORD_TYPES)
    for example in _examples():
        candidates = [r for r in by_type[example["type"]] if ("atime" in r) == ("atime" in example)]
        assert any(set(r) == set(example) for r in candidates), f"{example['type']} example fields differ"
        if "object" in example:
            assert set(example["object"]) <= {"kind", "uri", "version", "schema", "table", "last_changed", "findings"}
    documented = (DOCS / "manifest.md").read_text()
    for name in by_type["access_summary"][0]:
        assert f"`{name}`" in documented, f"summary field {name} is not documented"
