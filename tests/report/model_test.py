"""cardscan/report/model.py: sweeps, audit runs, the replay, the rows both renderers print."""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cardscan import report
from cardscan.errors import ManifestError
from cardscan.findings import Cell, ErrorRecord, Location
from cardscan.report import model
from tests.report.manifests import SweepSpec, audit, finding, write
from tests.treegen import pan

ROOT = ("file", "file:///srv")


def scenario(tmp_path: Path, rng) -> tuple[list[str], Path, Path]:
    a, b, c = pan(rng, 0), pan(rng, 1), pan(rng, 2)
    shared = finding(a, "file:///srv/hr/x.csv", exposure="private", owner="alice")
    m1 = write(tmp_path / "m1.jsonl", SweepSpec("2024-06-11T09:00:00Z", findings=[
        shared,
        finding(a, "file:///srv/public/leak.txt", line=3, exposure="world-readable", owner="bob"),
        finding(b, "file:///srv/public/leak.txt", line=9, exposure="world-readable", owner="bob", brand="mastercard"),
        finding(c, "file:///srv/team/notes.txt", line=2, exposure="group-readable", owner="carol", brand="amex"),
    ], errors=[ErrorRecord(Location(uri="file:///srv/locked"), "permission", "Permission denied")]))
    m2 = write(tmp_path / "m2.jsonl", SweepSpec("2024-06-11T09:00:00Z", findings=[
        shared, finding(a, "file:///srv/team/notes.txt", line=7, exposure="group-readable", owner="carol")]))
    return [a, b, c], m1, m2


def test_sweeps_without_roots_merge_and_dedupe_by_id(tmp_path: Path, rng) -> None:
    pans, m1, m2 = scenario(tmp_path, rng)
    data = report.build([m1, m2])
    assert len(data.open) == 5  # the shared finding once; no roots, so nothing is "gone"
    cards = data.cards()
    assert [c.places for c in cards] == [3, 1, 1]
    assert cards[0].fingerprint == model.public_text(cards[0].fingerprint) and len(cards[0].objects) == 3
    places = data.places()
    assert [(p.exposure, p.directory, p.owner) for p in places] == [
        ("world-readable", "/srv/public", "bob"), ("group-readable", "/srv/team", "carol"), ("private", "/srv/hr", "alice")]
    assert places[0].findings == 2 and len(places[0].cards) == 2
    assert data.complete and len(data.errors) == 1
    objs = data.objects()
    assert [(o.name, o.findings, o.cards, o.exposure, o.owner) for o in objs] == [
        ("/srv/public/leak.txt", 2, 2, "world-readable", "bob"),
        ("/srv/team/notes.txt", 2, 2, "group-readable", "carol"),
        ("/srv/hr/x.csv", 1, 1, "private", "alice"),
    ]
    assert objs[0].brands == {"visa": 1, "mastercard": 1}


def test_one_exposure_order_everywhere(tmp_path: Path, rng) -> None:
    """Worst first, restricted and unknown never interleaved (the old order ranked both
    'not listed', so rows of the two alternated by count and name); values cardscan does
    not know sort last, as the schema tells readers to."""
    names = ["private", "zz-new-kind", "restricted", "unknown", "public", "group-readable", "world-readable",
             "authenticated"]
    fs = []
    for i, exp in enumerate(names):
        fs.append(finding(pan(rng, i), f"file:///srv/{exp}/a.txt", exposure=exp))
    # a second restricted object with a name after 'unknown', and the same count
    fs.append(finding(pan(rng, 9), "file:///srv/v-restricted/b.txt", exposure="restricted"))
    data = report.build([write(tmp_path / "m.jsonl", SweepSpec("2024-06-11T09:00:00Z", findings=fs))])
    expect = ["public", "authenticated", "world-readable", "group-readable", "restricted", "restricted",
              "unknown", "private", "zz-new-kind"]
    assert [o.exposure for o in data.objects()] == expect
    assert [p.exposure for p in data.places()] == expect
    assert [e for e, _ in data.by_exposure()] == [e for i, e in enumerate(expect) if e not in expect[:i]]
    assert model.EXPOSURE_ORDER == ("public", "authenticated", "world-readable", "group-readable", "restricted",
                                    "unknown", "private")
    # public and authenticated are as loud as world-readable
    assert {model.severity(e) for e in ("public", "authenticated", "world-readable")} == {"critical"}
    assert model.severity("zz-new-kind") == "unknown" and model.severity("private") == "contained"
    assert report.exposure_rank("something-new") > report.exposure_rank("private")
    assert model.exposure_rank(None) == model.exposure_rank("unknown")


def test_missing_exposure_is_unknown(tmp_path: Path, rng) -> None:
    f = finding(pan(rng), "sqlite:////data/app.db", exposure=None, owner=None, cell=Cell("t", "c", (("id", 1),), None))
    data = report.build([write(tmp_path / "m.jsonl", SweepSpec("2024-06-11T09:00:00Z", findings=[f]))])
    (o,) = data.objects()
    assert (o.exposure, o.owner, o.name) == ("unknown", None, "sqlite:////data/app.db#t")


def test_partial_and_mixed_key_manifests_are_flagged(tmp_path: Path, rng) -> None:
    pans, m1, _ = scenario(tmp_path, rng)
    m2 = write(tmp_path / "other.jsonl", SweepSpec("2024-06-12T09:00:00Z", status="interrupted",
                                                   key_id="sha256:" + "1" * 16,
                                                   findings=[finding(pans[1], "file:///srv/x.txt")]))
    data = report.build([m1, m2])
    assert not data.complete and len(data.key_ids) == 2
    w = " ".join(data.warnings())
    assert "did not complete" in w and "different fingerprint keys" in w
    assert [s.status for s in data.sweeps] == ["complete", "interrupted (signal)"]


def test_truncated_manifest_is_partial(tmp_path: Path, rng) -> None:
    _, m1, _ = scenario(tmp_path, rng)
    raw = m1.read_bytes()
    m1.write_bytes(raw[: raw.rindex(b'{"type":"summary"') + 30])
    r = report.build([m1])
    assert r.truncated == [str(m1)] and not r.complete and len(r.open) == 4
    # a last line without its newline that still parses is not torn
    m1.write_bytes(raw.rstrip(b"\n"))
    assert report.build([m1]).truncated == []


def test_empty_manifest(tmp_path: Path) -> None:
    data = report.build([write(tmp_path / "e.jsonl", SweepSpec("2024-06-11T09:00:00Z"))])
    assert data.open == [] and data.objects() == [] and data.complete and not data.trend


def test_write_private(tmp_path: Path) -> None:
    report.write_private(tmp_path / "r.html", "<p>x</p>")
    assert stat.S_IMODE(os.stat(tmp_path / "r.html").st_mode) == 0o600


def test_names_for_sql_s3_and_members() -> None:
    cell = Cell("t", "c", (("id", 1),), "s")
    assert report.object_dir(Location(uri="postgresql://db/app", cell=cell)) == "postgresql://db/app#s.t"
    assert report.object_name(Location(uri="postgresql://db/app", cell=cell)) == "postgresql://db/app#s.t"
    assert report.object_dir(Location(uri="s3://bucket/a/b.csv")) == "s3://bucket/a"
    assert report.object_name(Location(uri="s3://bucket/a/b.csv", version="v1")) == "s3://bucket/a/b.csv?versionId=v1"
    # a member belongs to its archive: one object, the one remediation acts on
    z = Location(uri="file:///srv/a%20b.zip", member=("x.csv",))
    assert report.object_name(z) == "/srv/a b.zip" and model.object_ident(z) == ("file:///srv/a%20b.zip", None, None)
    assert model.location_text(Location(uri="file:///srv/a.zip", member=("in.csv",), line=3, column=4)) == \
        "/srv/a.zip!in.csv:3:4"
    assert model.public_text("tab\there") == "tab\\x09here"


def test_covers_respects_path_boundaries() -> None:
    assert model.covers("file:///srv/share", "file:///srv/share/a.txt")
    assert model.covers("file:///srv/share/", "file:///srv/share/a.txt")
    assert model.covers("file:///srv/a.txt", "file:///srv/a.txt")
    assert not model.covers("file:///srv/share", "file:///srv/share2/a.txt")
    assert model.covers("sqlite:////d/app.db", "sqlite:////d/app.db")
    assert model.covers("s3://bucket", "s3://bucket/k")
    assert not model.covers("s3://bucket", "s3://bucket-2/k")


# -- the trend ------------------------------------------------------------------------
def test_trend_found_remediated_gone_and_left(tmp_path: Path, rng) -> None:
    """Three sweeps of one root and a remediation run between the first two.

    sweep 1 finds A (public), B (world), C (private); the run redacts A and
    fails on B (stale); sweep 2 (complete) finds B, C and a new D, not A;
    sweep 3 is interrupted and finds only D: it closes nothing.
    """
    pa, pb, pc, pd = (pan(rng, i) for i in range(4))
    A = finding(pa, "file:///srv/pub/a.txt", exposure="public", owner="web")
    B = finding(pb, "file:///srv/share/b.txt", exposure="world-readable")
    C = finding(pc, "file:///srv/home/c.txt", exposure="private")
    D = finding(pd, "file:///srv/share/d.txt", exposure="group-readable")
    m1 = write(tmp_path / "mon.jsonl", SweepSpec("2024-06-10T09:00:00Z", [ROOT], [A, B, C]))
    m2 = write(tmp_path / "tue.jsonl", SweepSpec("2024-06-11T09:00:00Z", [ROOT], [B, C, D]))
    m3 = write(tmp_path / "wed.jsonl", SweepSpec("2024-06-12T09:00:00Z", [ROOT], [D], status="interrupted"))
    log = audit(tmp_path / "mon.audit.jsonl", "run-1", "2024-06-10T12:00:00.120Z", [(A, "done"), (B, "stale")])
    data = report.build([m3, m1, m2], audits=[log])  # any order: sweeps are replayed by start time
    rows = [(e.kind, e.found, e.new, e.remediated, e.gone, e.open, dict(e.open_by_exposure)) for e in data.events]
    assert rows == [
        ("sweep", 3, 3, 0, 0, 3, {"public": 1, "world-readable": 1, "private": 1}),
        ("remediation", 2, 0, 1, 0, 2, {"world-readable": 1, "private": 1}),
        ("sweep", 3, 1, 0, 0, 3, {"world-readable": 1, "private": 1, "group-readable": 1}),
        ("sweep", 1, 0, 0, 0, 3, {"world-readable": 1, "private": 1, "group-readable": 1}),
    ]
    assert [e.complete for e in data.events] == [True, True, True, False]
    assert data.events[1].statuses == {"done": 1, "stale": 1}
    assert data.closed("remediated") == 1 and data.closed("gone") == 0
    objs = {o.name: o for o in data.objects()}
    assert objs["/srv/pub/a.txt"].status == "remediated" and objs["/srv/pub/a.txt"].remediated == 1
    assert (objs["/srv/share/b.txt"].first_seen, objs["/srv/share/b.txt"].last_seen) == \
        ("2024-06-10T09:00:00Z", "2024-06-11T09:00:00Z")
    assert (objs["/srv/share/d.txt"].first_seen, objs["/srv/share/d.txt"].last_seen) == \
        ("2024-06-11T09:00:00Z", "2024-06-12T09:00:00Z")
    assert [o.status for o in data.objects()] == ["open", "open", "open", "remediated"]
    assert data.trend and not data.complete


def test_a_complete_sweep_closes_what_it_no_longer_finds_under_its_roots_only(tmp_path: Path, rng) -> None:
    pa, pb = pan(rng, 0), pan(rng, 1)
    A = finding(pa, "file:///srv/share/a.txt")
    B = finding(pb, "file:///srv/share2/b.txt")  # not under file:///srv/share
    m1 = write(tmp_path / "1.jsonl", SweepSpec("2024-06-10T09:00:00Z", [("file", "file:///srv/share"),
                                                                         ("file", "file:///srv/share2")], [A, B]))
    m2 = write(tmp_path / "2.jsonl", SweepSpec("2024-06-11T09:00:00Z", [("file", "file:///srv/share")], []))
    data = report.build([m1, m2])
    assert data.events[-1].gone == 1 and [h.name for h in data.open] == ["/srv/share2/b.txt"]
    assert {o.name: o.status for o in data.objects()} == {"/srv/share2/b.txt": "open", "/srv/share/a.txt": "gone"}
    # a finding that comes back after it was gone is open again, and counted new
    m3 = write(tmp_path / "3.jsonl", SweepSpec("2024-06-12T09:00:00Z", [("file", "file:///srv/share")], [A]))
    data = report.build([m1, m2, m3])
    assert data.events[-1].new == 1 and len(data.open) == 2


def test_carried_over_findings_were_first_seen_when_read(tmp_path: Path, rng) -> None:
    f = finding(pan(rng), "file:///srv/a.txt")
    m = write(tmp_path / "m.jsonl", SweepSpec("2024-07-01T00:00:00Z", [ROOT], []))
    # the sweep's writer puts carried_over/scanned_at on the record
    from cardscan.findings import Finding

    carried = Finding(**{**f.__dict__, "carried_over": "2024-05-02T03:04:05Z"})
    write(m, SweepSpec("2024-07-01T00:00:00Z", [ROOT], [carried]))
    (o,) = report.build([m]).objects()
    assert (o.first_seen, o.last_seen) == ("2024-05-02T03:04:05Z", "2024-07-01T00:00:00Z")


def test_errors_and_skips_of_superseded_sweeps_drop_out(tmp_path: Path, rng) -> None:
    e1 = ErrorRecord(Location(uri="file:///srv/locked"), "permission", "Permission denied")
    e2 = ErrorRecord(Location(uri="file:///other/x.zip", member=("a",)), "limit", "too deep", "depth")
    m1 = write(tmp_path / "1.jsonl", SweepSpec("2024-06-10T09:00:00Z", [ROOT], errors=[e1], skipped={"symlink": 3}))
    m2 = write(tmp_path / "2.jsonl", SweepSpec("2024-06-11T09:00:00Z", [("file", "file:///other")], errors=[e2],
                                               skipped={"fifo": 1, "excluded": 4}))
    data = report.build([m1, m2])
    assert sorted(e.kind for e in data.errors) == ["limit", "permission"]
    assert data.skipped() == {"symlink": 3, "fifo": 1, "excluded": 4}
    m3 = write(tmp_path / "3.jsonl", SweepSpec("2024-06-12T09:00:00Z", [ROOT], skipped={"symlink": 1}))
    data = report.build([m1, m2, m3])
    assert [e.kind for e in data.errors] == ["limit"]  # /srv was swept again, completely, without it
    assert data.skipped() == {"symlink": 1, "fifo": 1, "excluded": 4}


def test_sources_count_per_root(tmp_path: Path, rng) -> None:
    fs = [finding(pan(rng, 0), "file:///srv/a.txt"), finding(pan(rng, 1), "file:///srv/a.txt", line=2),
          finding(pan(rng, 2), "sqlite:////d/app.db", cell=Cell("t", "c", (("id", 1),), None), exposure=None)]
    err = ErrorRecord(Location(uri="file:///srv/locked"), "permission", "Permission denied")
    m1 = write(tmp_path / "1.jsonl", SweepSpec("2024-06-10T09:00:00Z", [ROOT, ("sql", "sqlite:////d/app.db")], fs,
                                               [err], objects_scanned=7, bytes_scanned=999))
    m2 = write(tmp_path / "2.jsonl", SweepSpec("2024-06-11T09:00:00Z", [("s3", "s3://bucket/pre")], [],
                                               objects_scanned=3, bytes_scanned=50))
    rows = {r.url: r for r in report.build([m1, m2]).sources()}
    srv, db, s3 = rows["/srv"], rows["sqlite:////d/app.db"], rows["s3://bucket/pre"]
    assert (srv.name, srv.findings, len(srv.objects), len(srv.cards), srv.errors) == ("file", 2, 1, 2, 1)
    assert (db.name, db.findings, db.errors) == ("sql", 1, 0)
    # objects and bytes are counted per sweep: only a one-root sweep says them per root
    assert (srv.objects_scanned, srv.bytes_scanned) == (None, None)
    assert (s3.objects_scanned, s3.bytes_scanned, s3.findings) == (3, 50, 0)
    data = report.build([m1])
    assert {h.source for h in data.open} == {"file", "sql"}


def test_readers_group_objects_by_principal(tmp_path: Path, rng) -> None:
    fs = [
        finding(pan(rng, 0), "postgresql://db/shop", cell=Cell("payments", "note", (("id", 1),), "public"),
                exposure="public", owner=None, readers=["PUBLIC", "analyst", "app"]),
        finding(pan(rng, 1), "postgresql://db/shop", cell=Cell("orders", "memo", (("id", 2),), "public"),
                exposure="restricted", owner=None, readers=["analyst"]),
        finding(pan(rng, 2), "file:///srv/a.txt", exposure="group-readable", readers=["alice", "@finance", "alice"]),
        finding(pan(rng, 3), "file:///srv/b.txt", exposure="private"),
    ]
    data = report.build([write(tmp_path / "m.jsonl", SweepSpec("2024-06-10T09:00:00Z", findings=fs))])
    rows = [(r.reader, r.objects, r.findings, r.exposure) for r in data.readers()]
    # worst exposure first, then the principals that can read the most
    assert rows == [("analyst", 2, 2, "public"), ("PUBLIC", 1, 1, "public"), ("app", 1, 1, "public"),
                    ("@finance", 1, 1, "group-readable"), ("alice", 1, 1, "group-readable")]
    objs = {o.name: o.readers for o in data.objects()}
    assert objs["/srv/a.txt"] == ("alice", "@finance") and objs["/srv/b.txt"] == ()
    # readers described as objects (a later source may record more than a name)
    assert model._readers({"readers": [{"name": "CN=ops", "sid": "S-1-5-21"}, {"sid": "S-1"}]}) == \
        ("CN=ops", '{"sid": "S-1"}')
    assert [s for s, _ in model.iter_sections(data)] == [s for s, _ in model.SECTIONS if s not in ("trend", "access")]


def test_audit_log_problems(tmp_path: Path, rng) -> None:
    f = finding(pan(rng), "file:///srv/a.txt")
    m = write(tmp_path / "m.jsonl", SweepSpec("2024-06-10T09:00:00Z", [ROOT], [f]))
    log = audit(tmp_path / "a.jsonl", "r1", "2024-06-10T10:00:00Z", [(f, "done")], key_id="sha256:" + "2" * 16)
    with open(log, "a") as fh:
        fh.write('{"time": "2024-06-10T10:00:01Z", "run": "r1", "finding_id": "abc", "sta')  # torn
    data = report.build([m], audits=[log])
    w = " ".join(data.warnings())
    assert "another fingerprint key" in w and "1 audit log line(s) could not be read" in w
    with pytest.raises(ManifestError, match="cannot read audit log"):
        report.build([m], audits=[tmp_path / "missing.jsonl"])


def test_a_record_the_report_cannot_read_is_a_manifest_error(tmp_path: Path) -> None:
    m = write(tmp_path / "m.jsonl", SweepSpec("2024-06-10T09:00:00Z"))
    with open(m, "a") as fh:
        fh.write('{"type": "finding", "id": "x"}\n')
    with pytest.raises(ManifestError, match="cannot read"):
        report.build([m])
