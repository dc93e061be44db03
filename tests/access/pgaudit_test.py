"""pgAudit entries in PostgreSQL's stderr, csvlog and jsonlog formats (generated; the real server's are in
pgaudit_real_test.py)."""
from __future__ import annotations

import calendar
from pathlib import Path

import pytest

from cardscan.access.events import READ, WRITE
from cardscan.access.logfiles import LogFile, LogProblem
from cardscan.access.pgaudit import Parser, compile_prefix, load_timezone, split_name
from cardscan.errors import ConfigError
from cardscan.testing import assert_no_pan, make_pan
from tests.access.logs import audit, pg_csvlog, pg_jsonlog, pg_stderr, pg_time, write

TS = calendar.timegm((2024, 6, 11, 9, 30, 5, 0, 0, 0)) + 0.25
PREFIX = "%m [%p] %q%u@%d %r "


def _events(path: Path, prefix: str = PREFIX, tz=None) -> tuple[list, Parser]:
    p = Parser(prefix, tz)
    return list(p.events(LogFile(str(path)))), p


def _reads(out: list) -> list:
    return [x[1] for x in out if isinstance(x, tuple) and x[1] is not None and x[1].action == READ]


def test_stderr_object_read_with_who_where_when(tmp_path: Path) -> None:
    msg = audit("OBJECT", 1, 1, "READ", "SELECT", "TABLE", "public.payments", "select * from payments")
    out, _ = _events(write(tmp_path / "pg.log", pg_stderr(msg, ts=TS, user="analyst", db="shop",
                                                          remote="10.1.2.3(51000)")))
    (e,) = _reads(out)
    assert (e.principal, e.source_address, e.database, e.schema, e.table) == ("analyst", "10.1.2.3", "shop", "public",
                                                                              "payments")
    assert e.time == pytest.approx(TS) and e.operation == "SELECT"


def test_multiline_statement_with_commas_quotes_and_a_card_is_parsed_past(tmp_path: Path, rng) -> None:
    pan = make_pan("4556", rng=rng)
    statement = f"select note,\n  id from payments\n where note = 'paid, \"{pan}\"'"
    msg = audit("OBJECT", 7, 1, "READ", "SELECT", "TABLE", "public.payments", statement, parameter=f"{pan},x")
    other = "2024-06-11 09:30:06.000 UTC [99] postgres@shop 10.1.2.3(51001) LOG:  duration: 0.5 ms\n"
    path = write(tmp_path / "pg.log", pg_stderr(msg, ts=TS) + other)
    out, _ = _events(path)
    (e,) = _reads(out)
    assert e.table == "payments" and not [x for x in out if isinstance(x, LogProblem)]
    assert_no_pan(repr(out), [pan], "parsed events")  # the statement and parameters are never kept


def test_session_and_object_entries_of_one_statement_count_once(tmp_path: Path) -> None:
    # pgaudit.log = 'read' with log_relation = on and object auditing: both entries name the table.
    s = audit("SESSION", 3, 1, "READ", "SELECT", "TABLE", "public.payments", "select * from payments")
    o = audit("OBJECT", 3, 1, "READ", "SELECT", "TABLE", "public.payments", "select * from payments")
    nxt = audit("SESSION", 4, 1, "READ", "SELECT", "TABLE", "public.payments", "select 1 from payments")
    out, _ = _events(write(tmp_path / "pg.log", pg_stderr(s, ts=TS) + pg_stderr(o, ts=TS) + pg_stderr(nxt, ts=TS + 1)))
    assert len(_reads(out)) == 2


def test_join_logs_one_entry_per_table(tmp_path: Path) -> None:
    stmt = "select a.x, b.y from accounts a join payments b on a.id = b.account_id"
    text = (pg_stderr(audit("OBJECT", 5, 1, "READ", "SELECT", "TABLE", "public.accounts", stmt), ts=TS)
            + pg_stderr(audit("OBJECT", 5, 1, "READ", "SELECT", "TABLE", "public.payments", stmt), ts=TS))
    out, _ = _events(write(tmp_path / "pg.log", text))
    assert sorted(e.table for e in _reads(out)) == ["accounts", "payments"]


def test_session_read_without_a_relation_is_unattributed(tmp_path: Path) -> None:
    msg = audit("SESSION", 1, 1, "READ", "SELECT", "", "", "select * from payments")
    out, p = _events(write(tmp_path / "pg.log", pg_stderr(msg, ts=TS)))
    assert _reads(out) == [] and p.unattributed == 1


def test_writes_and_other_classes(tmp_path: Path) -> None:
    text = (pg_stderr(audit("OBJECT", 1, 1, "WRITE", "UPDATE", "TABLE", "public.payments", "update payments set x=1"),
                      ts=TS)
            + pg_stderr(audit("SESSION", 2, 1, "DDL", "CREATE TABLE", "TABLE", "public.t", "create table t (i int)"),
                        ts=TS)
            + pg_stderr(audit("SESSION", 3, 1, "ROLE", "GRANT", "TABLE", "", "grant select on t to bob"), ts=TS))
    out, _ = _events(write(tmp_path / "pg.log", text))
    events = [x[1] for x in out if isinstance(x, tuple) and x[1] is not None]
    assert [(e.action, e.operation) for e in events] == [(WRITE, "UPDATE")]


def test_copy_to_is_a_read(tmp_path: Path) -> None:
    msg = audit("OBJECT", 2, 1, "READ", "SELECT", "TABLE", "public.payments", "COPY payments TO STDOUT")
    out, _ = _events(write(tmp_path / "pg.log", pg_stderr(msg, ts=TS)))
    assert len(_reads(out)) == 1


def test_csvlog_multiline_record(tmp_path: Path) -> None:
    msg = audit("OBJECT", 1, 1, "READ", "SELECT", "TABLE", "billing.payments", "select note,\n id from payments")
    text = pg_csvlog("connection authorized: user=analyst", ts=TS - 1) + pg_csvlog(msg, ts=TS, line=2)
    out, _ = _events(write(tmp_path / "pg.csv", text))
    (e,) = _reads(out)
    assert (e.principal, e.source_address, e.database, e.schema) == ("analyst", "10.1.2.3", "shop", "billing")


def test_csvlog_cut_short(tmp_path: Path) -> None:
    msg = audit("OBJECT", 1, 1, "READ", "SELECT", "TABLE", "public.payments", "select 1,\n 2 from payments")
    text = pg_csvlog(msg, ts=TS) + pg_csvlog(msg.replace("1,", "3,"), ts=TS + 1)[:60]
    out, _ = _events(write(tmp_path / "pg.csv", text))
    assert len(_reads(out)) == 1
    assert isinstance(out[-1], LogProblem) and out[-1].line == 3


def test_jsonlog(tmp_path: Path) -> None:
    msg = audit("OBJECT", 1, 1, "READ", "SELECT", "TABLE", "public.payments", "select\n*\nfrom payments")
    text = pg_jsonlog("checkpoint starting: time", ts=TS - 5) + pg_jsonlog(msg, ts=TS, remote="2001:db8::7")
    out, _ = _events(write(tmp_path / "pg.json", text))
    (e,) = _reads(out)
    assert (e.principal, e.source_address, e.table) == ("analyst", "2001:db8::7", "payments")


def test_jsonlog_damaged_lines(tmp_path: Path) -> None:
    msg = audit("OBJECT", 1, 1, "READ", "SELECT", "TABLE", "public.payments", "select 1")
    good = pg_jsonlog(msg, ts=TS)
    text = good + good[:40] + "\n" + pg_jsonlog("plain", ts=TS)[:30] + "\n" + pg_jsonlog(msg, ts=TS + 2, session="s2")
    out, _ = _events(write(tmp_path / "pg.json", text))
    assert len(_reads(out)) == 2
    assert [x.line for x in out if isinstance(x, LogProblem)] == [2, 3]


def test_damaged_audit_entries_are_problems_and_never_quote_the_line(tmp_path: Path, rng) -> None:
    pan = make_pan("5", rng=rng)
    good = pg_stderr(audit("OBJECT", 1, 1, "READ", "SELECT", "TABLE", "public.payments", "select 1"), ts=TS)
    unbalanced = pg_stderr(f'AUDIT: OBJECT,2,1,READ,SELECT,TABLE,public.payments,"select \'{pan}\'', ts=TS + 1)
    short = pg_stderr("AUDIT: OBJECT,3,1,READ,SELECT,TABLE,public.paym", ts=TS + 2)  # cut inside the name
    out, _ = _events(write(tmp_path / "pg.log", good + unbalanced + short + good.replace(",1,1,", ",9,1,")))
    problems = [x for x in out if isinstance(x, LogProblem)]
    assert [p.line for p in problems] == [2, 3]
    assert len(_reads(out)) == 2
    assert_no_pan(repr(problems), [pan], "problems")


def test_wrong_prefix_is_reported_not_misread(tmp_path: Path) -> None:
    msg = audit("OBJECT", 1, 1, "READ", "SELECT", "TABLE", "public.payments", "select 1")
    path = write(tmp_path / "pg.log", pg_stderr(msg, ts=TS))
    out, _ = _events(path, prefix="%m [%p] %q%u@%d ")  # the log has %r too
    assert _reads(out) == [] and isinstance(out[0], LogProblem) and "log_line_prefix" in out[0].message


@pytest.mark.parametrize("prefix,line,expect", [
    ("%t [%p]: [%l-1] user=%u,db=%d,app=%a,client=%h ",
     "2024-06-11 09:30:05 UTC [77]: [3-1] user=bob,db=shop,app=psql 16.1,client=10.0.0.8 LOG:  {m}",
     ("bob", "shop", "10.0.0.8")),
    ("%m %u %d [%p]: ", "2024-06-11 09:30:05.250 UTC bob shop [77]: LOG:  {m}", ("bob", "shop", None)),
    ("%n [%p] %c ", "1718098205.250 [77] 6667a1b2.4d LOG:  {m}", (None, None, None)),
    ("%m [%p] %q%u@%d ", "2024-06-11 09:30:05.250 UTC [77] bob@shop LOG:  {m}", ("bob", "shop", None)),
    ("%m [%-6p] %q%u@%d ", "2024-06-11 09:30:05.250 UTC [77    ] bob@shop LOG:  {m}", ("bob", "shop", None)),
    ("%% %m [%p] %r %%", "% 2024-06-11 09:30:05.250 UTC [77] [local] %LOG:  {m}", (None, None, "[local]")),
])
def test_log_line_prefixes(tmp_path: Path, prefix: str, line: str, expect: tuple) -> None:
    msg = audit("OBJECT", 1, 1, "READ", "SELECT", "TABLE", "public.payments", "select 1")
    out, _ = _events(write(tmp_path / "pg.log", line.format(m=msg) + "\n"), prefix=prefix)
    (e,) = _reads(out)
    assert (e.principal, e.database, e.source_address) == expect
    assert e.time == pytest.approx(calendar.timegm((2024, 6, 11, 9, 30, 5, 0, 0, 0)) + (0 if "%t" in prefix else 0.25))


def test_q_leaves_the_rest_out_for_background_processes() -> None:
    rx = compile_prefix("%m [%p] %q%u@%d ")
    assert rx.match("2024-06-11 09:30:05.250 UTC [12] LOG:  checkpoint starting: time")
    m = rx.match("2024-06-11 09:30:05.250 UTC [12] bob@shop LOG:  AUDIT: x")
    assert m and m.group("u") == "bob"


def test_time_zones(tmp_path: Path) -> None:
    msg = audit("OBJECT", 1, 1, "READ", "SELECT", "TABLE", "public.payments", "select 1")
    line = pg_stderr(msg, ts=TS)
    (e,) = _reads(_events(write(tmp_path / "a.log", line.replace(" UTC ", " +02 ")))[0])
    assert e.time == pytest.approx(TS - 7200)
    # An abbreviation is ambiguous without the server's zone ...
    out, _ = _events(write(tmp_path / "b.log", line.replace(" UTC ", " CEST ")))
    assert isinstance(out[0], LogProblem) and "pg-timezone" in out[0].message
    # ... and read with it.
    (e2,) = _reads(_events(write(tmp_path / "c.log", line.replace(" UTC ", " CEST ")),
                           tz=load_timezone("Europe/Berlin"))[0])
    assert e2.time == pytest.approx(TS - 7200)
    with pytest.raises(ConfigError):
        load_timezone("Mars/Olympus_Mons")
    assert pg_time(TS).endswith("UTC")


@pytest.mark.parametrize("name,expect", [
    ("public.payments", ("public", "payments")),
    ('public."Card Data"', ("public", "Card Data")),
    ('"my.schema"."t"', ("my.schema", "t")),
    ('public."say ""hi"""', ("public", 'say "hi"')),
    ("payments", (None, "payments")),
])
def test_split_name(name: str, expect: tuple) -> None:
    assert split_name(name) == expect
