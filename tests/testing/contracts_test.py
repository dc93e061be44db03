"""The contracts catch bad plugins: each check fails on a sink or remediator that breaks its rule."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cardscan.findings import Finding
from cardscan.remediate.files import FileRemediator
from cardscan.remediate.runner import load as load_findings
from cardscan.sinks.jsonl import JsonlSink
from cardscan.testing import RemediatorCase, RemediatorContract, SinkCase, SinkContract
from cardscan.testing.contracts import SinkRun
from tests.remediate.helpers import FKEY, KEY, pans, scan


def _ids(output: bytes) -> list[str]:
    recs = [json.loads(line) for line in output.splitlines() if line.strip()]
    return [Finding.from_dict(r).id for r in recs if r["type"] == "finding"]


class _DropsOne(JsonlSink):
    name = "drops-one"

    def __init__(self, path: Any) -> None:
        super().__init__(path)
        self._n = 0

    def finding(self, finding: Finding) -> None:
        self._n += 1
        if self._n != 2:
            super().finding(finding)


class _RawNames(JsonlSink):
    """Writes each location's real uri and members beside the record: names with cards leak."""

    name = "raw-names"

    def finding(self, finding: Finding) -> None:
        super().finding(finding)
        self._buf.append((json.dumps({"type": "debug", "where": [finding.location.uri, *finding.location.member]})
                          + "\n").encode())


@pytest.fixture
def sink_run(tmp_path: Path) -> SinkRun:
    return SinkRun(tmp_path / "tree")


def test_a_sink_that_loses_a_finding_fails_the_contract(sink_run: SinkRun, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="does not report the findings"):
        SinkContract().test_reports_what_a_list_sink_receives(SinkCase(_DropsOne, view=_ids), sink_run, tmp_path)


def test_a_sink_that_writes_names_unmasked_fails_the_contract(sink_run: SinkRun, tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match="leaked"):
        SinkContract().test_no_pan_in_anything_written(SinkCase(_RawNames, view=_ids), sink_run, tmp_path)


def test_the_sink_run_plants_names_and_members_with_cards_and_an_error(sink_run: SinkRun) -> None:
    ref = sink_run.reference
    assert {f.fingerprint for f in ref.findings} == {sink_run.key.fingerprint(p) for p in sink_run.pans[:4]}
    assert any(f.location.member for f in ref.findings) and ref.errors
    assert ref.summary is not None and ref.summary["status"] == "complete"


class _Careless(FileRemediator):
    """Redacts even on a dry run, and whatever the location holds now."""

    name = "careless"

    def remediate(self, findings: list[Finding], ctx: Any) -> list[Any]:
        from cardscan.remediate.base import Result

        for f in findings:
            path = Path(f.location.uri[len("file://"):])
            if f.location.member or not path.exists():
                continue
            data = bytearray(path.read_bytes())
            a = f.location.offset or 0
            data[a:a + (f.location.length or 0)] = b"*" * (f.location.length or 0)
            path.write_bytes(bytes(data))
        return [Result(f, ctx.options.action, "done" if ctx.apply else "planned") for f in findings]


@pytest.fixture
def careless_case(tmp_path: Path, monkeypatch) -> RemediatorCase:
    monkeypatch.chdir(tmp_path)
    a, b = pans(2, seed=31)
    share = tmp_path / "share"
    share.mkdir()
    (share / "a.log").write_text(f"paid card={a} ok\n")
    (share / "b.log").write_text(f"card number {b}\n")
    _, found, _ = load_findings(str(scan(tmp_path, share)), None, FKEY)

    def snapshot() -> dict[str, bytes]:
        return {p.name: p.read_bytes() for p in sorted(share.iterdir())}

    def make_stale() -> list[str]:
        p = share / "b.log"
        p.write_text(p.read_text().replace(b, pans(1, seed=32)[0]))
        return [b]

    return RemediatorCase(_Careless(), found, snapshot, make_stale, key=KEY)


def test_a_remediator_that_writes_on_a_dry_run_fails_the_contract(careless_case: RemediatorCase) -> None:
    with pytest.raises(AssertionError, match="dry run changed an object"):
        RemediatorContract().test_dry_run_changes_nothing(careless_case)


def test_a_remediator_that_ignores_staleness_fails_the_contract(careless_case: RemediatorCase) -> None:
    with pytest.raises(AssertionError, match="stale location was reported"):
        RemediatorContract().test_stale_location_is_detected(careless_case)


def test_a_remediator_that_redoes_its_work_fails_the_contract(careless_case: RemediatorCase) -> None:
    with pytest.raises(AssertionError, match="second run changed something again"):
        RemediatorContract().test_second_run_is_a_no_op(careless_case)
