"""Tests for cardscan/sinks/console.py and the Sink protocol (sinks/base.py)."""
from __future__ import annotations

import io
from pathlib import Path

import pytest

from cardscan.findings import Cell, DumpCell, ErrorRecord, Finding, FingerprintKey, Location, mask
from cardscan.sinks.base import BaseSink, ListSink, Sink
from cardscan.sinks.console import ConsoleSink, finding_fields, format_finding, format_location, summary_line
from cardscan.sinks.jsonl import JsonlSink
from cardscan.testing import SinkCase, SinkContract, assert_no_pan
from tests.treegen import KEY, pan


def finding(p: str, loc: Location, **kw) -> Finding:
    return Finding(loc, kw.pop("kind", "pan"), "visa", mask(p), FingerprintKey(KEY).fingerprint(p), 85, **kw)


def test_text_line_format(rng) -> None:
    p = pan(rng)
    f = finding(p, Location(uri="file:///srv/share/hr/export%20v2.csv", line=12, column=31, offset=400))
    line = format_finding(f)
    assert line == f"/srv/share/hr/export v2.csv:12:31  visa  {mask(p)}  85"
    assert_no_pan(line, [p], "console line")


def test_member_chain_cells_versions_and_offsets() -> None:
    loc = Location(uri="file:///x/march.zip", member=("customers.xlsx", "xl/sharedStrings.xml"), line=1, column=220)
    assert format_location(loc) == "/x/march.zip!customers.xlsx!xl/sharedStrings.xml:1:220"
    cell = Cell("customers", "note", (("id", 7),), "public")
    assert format_location(Location(uri="postgresql://db/app", cell=cell)) == "postgresql://db/app#public.customers.note[id=7]"
    assert format_location(Location(uri="s3://b/k.bin", version="v1", offset=9)) == "s3://b/k.bin?versionId=v1@9"


def test_control_characters_cannot_forge_lines() -> None:
    loc = Location(uri="file:///x/evil%0A4111111111111111.txt", line=1, column=1)
    text = format_location(loc)
    assert "\n" not in text and "\\x0a" in text


def test_flags_for_tracks_and_test_cards(rng) -> None:
    p = pan(rng)
    line = format_finding(finding(p, Location(uri="file:///a", line=1, column=1), kind="track2", test_card=True))
    assert line.endswith("85  track2  test-card")


def test_console_sink_streams_and_summarises(rng) -> None:
    p = pan(rng)
    out, err = io.StringIO(), io.StringIO()
    sink = ConsoleSink(out, err, manifest_path="/tmp/m.jsonl")
    sink.begin({})
    sink.finding(finding(p, Location(uri="file:///a.txt", line=1, column=1)))
    sink.error(ErrorRecord(Location(uri="file:///b.zip", member=("x.zip",)), "limit", "too deep", "depth"))
    sink.end_item(None, {})
    sink.close({"status": "complete", "findings": 1, "findings_by_confidence": {"high": 1}, "objects_scanned": 2,
                "objects_with_findings": 1, "bytes_scanned": 2048, "duration_s": 0.25, "errors": 1})
    assert out.getvalue().count("\n") == 1
    e = err.getvalue()
    assert "cardscan: /b.zip!x.zip: limit (depth): too deep" in e
    assert "1 finding (1 high) in 1 of 2 objects" in e and "1 error" in e and "/tmp/m.jsonl" in e
    assert_no_pan(out.getvalue() + e, [p], "console output")


class _Stream(io.StringIO):
    """A text stream that says whether it is a terminal and logs its flushes
    (and, shared with another, the order in which both wrote)."""

    def __init__(self, tty: bool, log: list[str] | None = None, name: str = "out") -> None:
        super().__init__()
        self.tty, self.flushes, self.log, self.name = tty, 0, log, name
        self.unflushed = ""

    def isatty(self) -> bool:
        return self.tty

    def write(self, text: str) -> int:
        self.unflushed += text
        return super().write(text)

    def flush(self) -> None:
        self.flushes += 1
        if self.log is not None and self.unflushed:
            self.log.append(f"{self.name}:{self.unflushed}")
        self.unflushed = ""
        super().flush()


def _objects(sink: ConsoleSink, rng, n: int) -> list[str]:
    pans = []
    for i in range(n):
        pans.append(pan(rng))
        sink.finding(finding(pans[-1], Location(uri=f"file:///share/f{i}.log", line=1, column=1)))
        sink.end_item(None, {})
    return pans


def test_a_terminal_gets_each_objects_lines_when_it_ends(rng) -> None:
    out = _Stream(tty=True)
    sink = ConsoleSink(out, _Stream(tty=True))
    _objects(sink, rng, 5)
    assert out.flushes == 5 and out.unflushed == ""


def test_a_pipe_gets_each_batchs_lines_when_the_batch_ends(rng) -> None:
    out = _Stream(tty=False)
    sink = ConsoleSink(out, io.StringIO())
    pans = _objects(sink, rng, 50)
    assert out.flushes == 0 and out.unflushed.count("\n") == 50
    sink.end_batch()
    assert out.flushes == 1 and out.unflushed == ""
    sink.end_batch()  # nothing pending: no write
    pans += _objects(sink, rng, 3)
    sink.close({"status": "complete"})
    assert out.flushes == 2 and out.unflushed == "" and out.getvalue().count("\n") == 53
    assert_no_pan(out.getvalue(), pans, "console output")


def test_an_error_line_comes_after_the_finding_lines_before_it(rng) -> None:
    # stdout and stderr as one file (2>&1): the order in which both reach it.
    log: list[str] = []
    out, err = _Stream(False, log, "out"), _Stream(False, log, "err")
    sink = ConsoleSink(out, err)
    _objects(sink, rng, 2)
    sink.error(ErrorRecord(Location(uri="file:///share/b.zip"), "corrupt", "bad header"))
    err.flush()
    _objects(sink, rng, 1)
    sink.close({"status": "complete"})
    assert [entry.split(":", 1)[0] for entry in log] == ["out", "err", "out", "err"]
    assert log[0].count("\n") == 2 and "b.zip" in log[1] and log[2].count("\n") == 1


def test_quiet_prints_nothing(rng) -> None:
    out, err = io.StringIO(), io.StringIO()
    sink = ConsoleSink(out, err, quiet=True)
    sink.finding(finding(pan(rng), Location(uri="file:///a", line=1, column=1)))
    sink.error(ErrorRecord(Location(uri="file:///b"), "io", "Input/output error"))
    sink.close({"status": "complete"})
    assert out.getvalue() == "" and err.getvalue() == ""


def test_interrupted_summary_says_so() -> None:
    line = summary_line({"status": "interrupted", "reason": "signal", "findings": 0})
    assert "INTERRUPTED (signal)" in line


def test_summary_line_mentions_skipped_objects_and_allowed_findings() -> None:
    """The last stderr line says what was left out, not only what was scanned (issue 14.11)."""
    line = summary_line({"status": "complete", "findings": 1, "objects_scanned": 40, "objects_with_findings": 1,
                         "skipped": {"too_large": 2, "excluded": 10, "symlink": 0}, "allowed": 3})
    assert "12 skipped (10 excluded, 2 too large)" in line
    assert "3 allowed by 'cardscan: allow' comments" in line
    assert "skipped" not in summary_line({"status": "complete", "findings": 0, "skipped": {}})


def test_sinks_satisfy_the_protocol() -> None:
    for s in (BaseSink(), ListSink(), ConsoleSink(io.StringIO(), io.StringIO()), JsonlSink(io.StringIO())):
        assert isinstance(s, Sink) and s.name


class TestConsoleSinkContract(SinkContract):
    """Findings on stdout (one line each), errors and the summary on stderr (a file beside it)."""

    @pytest.fixture
    def sink_case(self) -> SinkCase:
        def make(path: Path) -> ConsoleSink:
            out = open(path, "w", encoding="utf-8")  # closed with the test's tmp dir
            err = open(Path(str(path) + ".err"), "w", encoding="utf-8")
            return ConsoleSink(out=out, err=err)

        def view(output: bytes) -> list[str]:
            return output.decode("utf-8").splitlines()

        return SinkCase(make, view=view, key=format_finding)  # errors go to stderr (PATH.err)


def test_finding_lines_mask_names_field_by_field(rng) -> None:
    """The sink writes a finding's line as fields (MaskedStream.write_fields):
    a card in a file, member or key name is masked, the line reads as
    format_finding's, and counts beside a name are left as they are."""
    p = pan(rng)
    grouped = " ".join(p[i:i + 4] for i in range(0, 16, 4))
    locs = [
        Location(uri=f"file:///srv/exports/{p}.csv", line=3, column=9),
        Location(uri="file:///srv/x.zip", member=(f"cards-{grouped}.txt",), line=1, column=1),
        Location(uri="postgresql://db/app", cell=Cell("t", "c", (("id", 7),), "public")),
        Location(uri="s3://b/k.bin", version="v1", offset=9),
        Location(uri="file:///srv/plain/2024-06-11/app.log", line=123456, column=77),
    ]
    out = io.StringIO()
    sink = ConsoleSink(out, io.StringIO())
    for loc in locs:
        sink.finding(finding(p, loc))
    sink.end_item(None, {})
    lines = out.getvalue().splitlines()
    assert len(lines) == len(locs)
    assert_no_pan(out.getvalue(), [p], "console output")
    assert lines == [format_finding(finding(p, loc)) for loc in locs]
    assert lines[4] == f"/srv/plain/2024-06-11/app.log:123456:77  visa  {mask(p)}  85"
    assert lines[0].startswith("/srv/exports/") and lines[0].endswith(f".csv:3:9  visa  {mask(p)}  85")


def test_a_dump_key_beside_a_finding_is_masked_on_the_text_line(rng) -> None:
    """A dump's key values were redacted with the engine's rule only (issuer
    ranges): the text line still masks any Luhn-valid run in them."""
    from cardscan.findings import DumpCell

    p = pan(rng)
    odd = "9111111111111110"  # Luhn-valid, in no issuer's range: redact() keeps it, the line rule does not
    loc = Location(uri="file:///dumps/shop.sql", line=40, column=12,
                   dump=DumpCell("cards", "note", 7, (("ref", odd),)))
    out = io.StringIO()
    ConsoleSink(out, io.StringIO()).finding(finding(p, loc))
    assert odd not in out.getvalue() and "/dumps/shop.sql:40:12#cards.note[row 7, ref=" in out.getvalue()
    assert_no_pan(out.getvalue(), [p], "console line")


def _split_pan_locations(p: str, rng) -> list[Location]:
    """Places whose pieces each hold part of ``p`` and none a card: a name
    ending in digits beside a line and column or an offset, an archive and
    its member, a database, table, column and key, a sheet and its cell."""
    g = [p[i:i + 4] for i in range(0, 16, 4)]
    return [
        Location(uri=f"file:///srv/pay%20{g[0]}%20{g[1]}", line=int(g[2]), column=int(g[3])),
        Location(uri=f"file:///srv/pay-{g[0]}", line=int(g[1] + g[2]), column=int(g[3])),
        Location(uri="file:///srv/x", line=int(g[0] + g[1]), column=int(g[2] + g[3])),
        Location(uri=f"file:///srv/core.{g[0]}.{g[1]}", offset=int(g[2] + g[3])),
        Location(uri=f"file:///srv/{g[0]}%20{g[1]}", member=(f"{g[2]} {g[3]}",), line=1, column=1),
        Location(uri="file:///srv/a.zip", member=(f"in-{g[0]}", f"{g[1]}-{g[2]}", g[3]), line=1, column=1),
        Location(uri=f"sqlite:////srv/db-{g[0]}", cell=Cell(g[1], g[2], ((g[3], 1),))),
        Location(uri="postgresql://db/app", cell=Cell(f"t_{g[0]}", f"{g[1]}_{g[2]}", (("id", int(g[3])),), "public")),
        Location(uri="postgresql://db/app", cell=Cell("t", "c", (("k", float(p)),))),  # a REAL key: data, not a name
        Location(uri=f"file:///srv/book-{g[0]}.xlsx", member=(f"{g[1]}", ), ref=f"{g[2]}!{g[3]}"),
        Location(uri="s3://b/k", version=f"{g[0]}-{g[1]}", member=(f"{g[2]}-{g[3]}",), line=1, column=2),
        Location(uri=f"file:///srv/{g[0]}", line=int(g[1]), column=int(g[2]),
                 dump=DumpCell(f"{g[3]}", "c", 1)),
        # Escaped on display: a control character's escape ('\\x14') puts digits beside the name's.
        Location(uri="file:///srv/a%14" + p[2:], line=1, column=1),
    ]


def test_a_card_split_across_the_fields_of_a_line_is_masked(rng) -> None:
    """Pieces that hold no card each can make one on the line (a name's
    digits, its line and column, a member, a table, a key): the text line
    masks the line as a whole then, as it did before it was written field by
    field. The same bytes as masking the whole line, for every place."""
    from cardscan.privacy import mask_fields, mask_text

    for _ in range(20):
        p = pan(rng)
        for loc in _split_pan_locations(p, rng):
            f = finding(p, loc)
            line = mask_fields(finding_fields(f))
            assert line == mask_text(format_finding(f)), repr(loc)
            if loc.uri.startswith("file:///srv/a%14"):
                continue  # '14' + the rest: the number on the line is not p
            assert_no_pan(line, [p], repr(loc))
    out = io.StringIO()
    p = pan(rng)
    sink = ConsoleSink(out, io.StringIO())
    for loc in _split_pan_locations(p, rng)[:-1]:
        sink.finding(finding(p, loc))
    assert_no_pan(out.getvalue(), [p], "console output")


_SEPS = [" ", "-", "_", ".", "%20", "\u00a0", "\u200b", "\x00", "\x14", "&nbsp;", ":", "/", "+", "\u2013",
         "\t", "%C2%A0", "\\u0000", "#", "=", "\u3000", ""]


def _random_split_location(p: str, rng) -> Location:
    """A place whose names, key, line and column are ``p`` cut at random
    points, joined by random separators."""
    cuts = sorted(rng.sample(range(1, len(p)), rng.randint(1, 5)))
    ps = [p[a:b] for a, b in zip([0, *cuts], [*cuts, len(p)])]
    ps = [q + (rng.choice(_SEPS) if i < len(ps) - 1 and rng.random() < 0.5 else "") for i, q in enumerate(ps)]

    def take() -> str:
        return ps.pop(0) if ps else str(rng.randint(0, 99))

    def num() -> int:
        d = "".join(c for c in take() if c.isdigit())
        return int(d) if d and len(d) < 11 else rng.randint(1, 9999)

    uri = "file:///srv/" + rng.choice(["", "x", "\u00e9", "a-"]) + take()
    kind = rng.randrange(6)
    if kind == 0:
        return Location(uri=uri, line=num(), column=num())
    if kind == 1:
        return Location(uri=uri, offset=num())
    if kind == 2:
        return Location(uri=uri, member=tuple(take() for _ in range(rng.randint(1, 3))), line=num(), column=num())
    if kind == 3:
        return Location(uri="sqlite:///" + take(),
                        cell=Cell(take(), take(), ((take(), rng.choice([take(), num()])),), rng.choice([None, take()])))
    if kind == 4:
        return Location(uri=uri, member=(take(),), ref=take() + "!" + take())
    return Location(uri=uri, line=num(), column=num(), dump=DumpCell(take(), take(), num(), ((take(), take()),)))


def test_text_lines_are_the_whole_line_masked_for_random_split_places(rng) -> None:
    """Places built from a card cut at random points, joined by random
    separators (spaces, dashes, escapes, other scripts): the line written
    field by field is the line masked as a whole, byte for byte."""
    from cardscan.privacy import mask_fields, mask_text

    for _ in range(400):
        p = pan(rng)
        f = finding(p, _random_split_location(p, rng))
        assert mask_fields(finding_fields(f)) == mask_text(format_finding(f)), repr(f.location)


# -- finding_fields' fast path: the usual place (a name, a line and a column) -----------------
from dataclasses import replace  # noqa: E402

from hypothesis import example, given, settings, strategies as st  # noqa: E402

from cardscan.display import location_fields  # noqa: E402
from cardscan.sinks import console  # noqa: E402

_PLACE_NAME = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="0123456789 -_/.:%&\\*#x\u00e9\u0663\x14", max_size=30),
    st.sampled_from(["4556 7375 8689 9855", "4556737586899855", "a%34556 7375", "45567375868"]),
)
_PLACE_NUM = st.integers(-10, 10 ** 13)


@settings(max_examples=500, deadline=None)
@given(st.sampled_from(["file:///srv/", "s3://b/", "", "file://localhost/x/"]), _PLACE_NAME, _PLACE_NUM, _PLACE_NUM,
       st.sampled_from(["", "", "", "", "", "", "member", "version", "ref", "cell", "dump", "offset", "no line",
                        "no column", "bool"]))
@example("file:///srv/", "4556 7375", 8689, 9855, "")
@example("file:///srv/", "a", 455673758689, 9855, "")
def test_the_place_fast_path_gives_location_fields(scheme: str, name: str, line, column, other: str) -> None:
    """finding_fields' own place fields are location_fields' (types too: a
    name marked as passed or not), and the line masks as a whole line."""
    from cardscan.privacy import mask_fields, mask_text

    loc = Location(uri=scheme + name, line=line, column=column)
    if other == "member":
        loc = replace(loc, member=(name,))
    elif other == "version":
        loc = replace(loc, version="v1")
    elif other == "ref":
        loc = replace(loc, ref="B2")
    elif other == "cell":
        loc = replace(loc, cell=Cell("t", "c", (("id", 1),)))
    elif other == "dump":
        loc = replace(loc, dump=DumpCell("t", "c", 1))
    elif other == "offset":
        loc = replace(loc, line=None, column=None, offset=line)
    elif other in ("no line", "no column"):
        loc = replace(loc, **{other[3:]: None})
    elif other == "bool":
        loc = replace(loc, column=True)
    place = console._line_place(loc)
    general = location_fields(loc)
    if place is not None:
        assert [(type(x), x) for x in place] == [(type(x), x) for x in general]
    p = "4556737586899855"
    f = finding(p, loc)
    assert [(type(x), x) for x in finding_fields(f)][:len(general)] == [(type(x), x) for x in general]
    assert mask_fields(finding_fields(f)) == mask_text(format_finding(f))
