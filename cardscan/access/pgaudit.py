"""PostgreSQL server logs with pgAudit entries: who read which table.

pgAudit writes through PostgreSQL's own logging, so its entries come in
whichever format the server logs in:

* ``stderr`` (the default): ``<log_line_prefix><SEVERITY>:  AUDIT: ...``;
  the lines after the first of a multi-line message start with a tab.
  Who and from where are in the prefix only, so the prefix is needed
  (``--pg-log-line-prefix``, default Debian's ``%m [%p] %q%u@%d ``; add
  ``%r`` or ``%h`` for the client address).
* ``csvlog``: one CSV row per message (log_time, user_name, database_name,
  process_id, connection_from, session_id, ..., message, ...).
* ``jsonlog`` (PostgreSQL 15+): one JSON object per line (``timestamp``,
  ``user``, ``dbname``, ``pid``, ``remote_host``, ``session_id``, ``message``).

The format is recognised per file from its first line.

An audit message is CSV: ``AUDIT_TYPE`` (``SESSION`` or ``OBJECT``),
``STATEMENT_ID``, ``SUBSTATEMENT_ID``, ``CLASS`` (``READ``, ``WRITE`` ...),
``COMMAND`` (``SELECT``, ``COPY`` ...), ``OBJECT_TYPE``, ``OBJECT_NAME``
(schema-qualified), ``STATEMENT``, ``PARAMETER`` ... (pgAudit README,
"Format"). A ``READ`` entry with an object name is a read of that table.
The statement and parameters may hold the very card numbers being traced:
they are never kept. A ``SESSION`` ``READ`` without an object name (pgAudit
without ``pgaudit.log_relation``) says a read happened but not of which
table: it is counted as unattributed.
"""
from __future__ import annotations

import csv
import json
import re
from collections import OrderedDict
from datetime import datetime, timedelta, timezone, tzinfo
from typing import Any, Iterator
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from ..errors import ConfigError
from .events import READ, WRITE, Event
from .logfiles import LogFile, LogProblem, lines

EVIDENCE = "pgaudit"
#: The log_line_prefix Debian's PostgreSQL packages configure.
DEFAULT_PREFIX = "%m [%p] %q%u@%d "
#: A logical record (a message over several lines) longer than this is skipped.
MAX_RECORD = 1 << 20
#: Statement ids remembered to count a statement once when both its SESSION
#: and OBJECT entries are logged (bounded: constant memory).
DEDUP_WINDOW = 4096

_AUDIT = b"AUDIT: "
_SEVERITY = r"(?P<severity>DEBUG[1-5]|LOG|INFO|NOTICE|WARNING|ERROR|FATAL|PANIC|STATEMENT|DETAIL|HINT|CONTEXT)"
_TS = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? [^ ,]+"

# log_line_prefix escapes (PostgreSQL documentation, "log_line_prefix").
_ESCAPES = {
    # User and database names are taken without spaces: a wrong prefix then
    # fails loudly (an error record) instead of reading "db 10.0.0.5(5432)" as a name.
    "a": r"(?P<a>.*?)", "u": r"(?P<u>\S*?)", "d": r"(?P<d>\S*?)", "r": r"(?P<r>\S*?)", "h": r"(?P<h>\S*?)",
    "L": r"(?P<L>\S*?)", "b": r"(?P<b>.*?)", "p": r"(?P<p>\d*)", "P": r"(?P<P>\d*)", "t": r"(?P<t>" + _TS + ")",
    "m": r"(?P<m>" + _TS + ")", "n": r"(?P<n>\d+(?:\.\d+)?)", "i": r"(?P<i>.*?)", "e": r"(?P<e>\w*)",
    "c": r"(?P<c>[0-9a-f]*\.?[0-9a-f]*)", "l": r"(?P<l>\d*)", "s": r"(?P<s>" + _TS + ")", "v": r"(?P<v>\S*?)",
    "x": r"(?P<x>\d*)", "Q": r"(?P<Q>-?\d*)",
}


def compile_prefix(prefix: str) -> re.Pattern[str]:
    """A regex for ``<prefix><SEVERITY>:  <message>`` lines written with ``log_line_prefix = prefix``."""
    out: list[str] = []
    seen: set[str] = set()
    optional_from: int | None = None
    i = 0
    while i < len(prefix):
        c = prefix[i]
        if c != "%" or i + 1 >= len(prefix):
            out.append(re.escape(c))
            i += 1
            continue
        j = i + 1
        pad = re.match(r"-?\d+", prefix[j:])  # %-10u: padded to a width
        if pad:
            j += pad.end()
        esc = prefix[j] if j < len(prefix) else ""
        i = j + 1
        if esc == "%":
            out.append("%")
        elif esc == "q":
            optional_from = len(out)  # what follows is left out for non-session processes
        elif esc in _ESCAPES:
            pattern = _ESCAPES[esc]
            if esc in seen:  # a repeated escape: a second named group is not allowed
                pattern = re.sub(r"\(\?P<\w+>", "(?:", pattern)
            seen.add(esc)
            out.append(pattern + (r"\s*" if pad else ""))
        # an unknown escape writes nothing
    if optional_from is not None:
        out = out[:optional_from] + ["(?:" + "".join(out[optional_from:]) + ")?"]
    return re.compile("^" + "".join(out) + _SEVERITY + r":  (?P<msg>.*)$", re.S)


class Parser:
    """Turns the audit entries of one file into events."""

    def __init__(self, prefix: str = DEFAULT_PREFIX, tz: tzinfo | None = None) -> None:
        self.prefix = compile_prefix(prefix)
        self.tz = tz
        self.unattributed = 0
        #: Database (None: not in the log) -> [earliest, latest] audit entry time.
        self.coverage: dict[str | None, list[float]] = {}
        self._seen: OrderedDict[tuple[str, ...], None] = OrderedDict()

    # -- files ------------------------------------------------------------------
    def events(self, log: LogFile) -> Iterator[tuple[int, Event | None] | LogProblem]:
        """``(line, event)`` for each audit entry (event None when it is not a
        read or write of a table, or repeats one already counted)."""
        it = iter(lines(log))
        first = next(it, None)
        if first is None:
            return
        if isinstance(first, LogProblem):
            yield first
            return
        head = first[1].lstrip()
        if head.startswith(b"{"):
            yield from self._jsonlog(first, it)
        elif re.match(rb"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)? [^ ,]+,", head):
            yield from self._csvlog(first, it)
        else:
            yield from self._stderr(first, it)

    def _stderr(self, first: Any, rest: Iterator[Any]) -> Iterator[tuple[int, Event | None] | LogProblem]:
        record: list[bytes] = []  # the audit message being read, line by line
        start = size = 0
        audit = False  # the current message is an audit entry (else its lines are passed over)
        for item in _chain(first, rest):
            if isinstance(item, LogProblem):
                if record:
                    yield from self._stderr_record(start, b"\n".join(record))
                record, audit = [], False
                yield item
                continue
            lineno, line = item
            if line.startswith(b"\t"):  # the next line of the current message
                if audit:
                    size += len(line)
                    if size > MAX_RECORD:
                        yield LogProblem("limit", f"an audit entry longer than {MAX_RECORD} bytes, skipped", start)
                        record, audit = [], False
                    else:
                        record.append(line[1:])
                continue
            if record:
                yield from self._stderr_record(start, b"\n".join(record))
            audit = _AUDIT in line
            record, start, size = ([line] if audit else []), lineno, len(line)
        if record:
            yield from self._stderr_record(start, b"\n".join(record))

    def _stderr_record(self, lineno: int, text: bytes) -> Iterator[tuple[int, Event | None] | LogProblem]:
        m = self.prefix.match(text.decode("utf-8", "surrogateescape"))
        if m is None or not m.group("msg").startswith("AUDIT: "):
            if text.lstrip().startswith(b"AUDIT: ") or b"]: AUDIT: " in text or b":  AUDIT: " in text:
                yield LogProblem("decode", "an audit line that does not match the log_line_prefix", lineno)
            return  # a statement that merely contains the word: not an audit entry
        g = m.groupdict()
        ts_text = g.get("m") or g.get("t")
        ts: float | None
        if ts_text:
            ts = self._time(ts_text)
            if ts is None:
                yield LogProblem("decode", "an audit line with a time that cannot be read (see --pg-timezone)", lineno)
                return
        elif g.get("n"):
            ts = float(g["n"])
        else:
            ts = None
        address = g.get("h") or _host(g.get("r"))
        session = g.get("c") or g.get("p") or ""
        yield from self._audit(lineno, m.group("msg"), ts, g.get("u"), g.get("d"), address, session)

    def _csvlog(self, first: Any, rest: Iterator[Any]) -> Iterator[tuple[int, Event | None] | LogProblem]:
        pending: list[str] = []
        start = 0
        size = 0
        for item in _chain(first, rest):
            if isinstance(item, LogProblem):
                if pending:
                    yield LogProblem("decode", "a csvlog record cut short", start)
                    pending = []
                yield item
                continue
            lineno, line = item
            if not pending:
                start, size = lineno, 0
            size += len(line)
            pending.append(line.decode("utf-8", "surrogateescape"))
            text = "\n".join(pending)
            if text.count('"') % 2:  # inside a quoted field: the record goes on
                if size > MAX_RECORD:
                    yield LogProblem("limit", f"a csvlog record longer than {MAX_RECORD} bytes, skipped", start)
                    pending = []
                continue
            pending = []
            if "AUDIT: " not in text:
                continue
            try:
                row = next(csv.reader([text], strict=True))
            except (csv.Error, StopIteration):
                yield LogProblem("decode", "a csvlog record that is not valid CSV", start)
                continue
            if len(row) < 14:
                yield LogProblem("decode", "a csvlog record with too few fields", start)
                continue
            ts = self._time(row[0])
            if ts is None:
                yield LogProblem("decode", "a csvlog record with a time that cannot be read", start)
                continue
            yield from self._audit(start, row[13], ts, row[1] or None, row[2] or None, _host(row[4]),
                                   row[5] or row[3])
        if pending:
            yield LogProblem("decode", "a csvlog record cut short", start)

    def _jsonlog(self, first: Any, rest: Iterator[Any]) -> Iterator[tuple[int, Event | None] | LogProblem]:
        for item in _chain(first, rest):
            if isinstance(item, LogProblem):
                yield item
                continue
            lineno, line = item
            if not line.strip():
                continue
            if _AUDIT not in line:
                # Not an audit entry: only check it is a whole JSON object line.
                s = line.strip()
                if not (s.startswith(b"{") and s.endswith(b"}")):
                    yield LogProblem("decode", "a jsonlog line that is not a JSON object", lineno)
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                yield LogProblem("decode", "a jsonlog line that is not a JSON object", lineno)
                continue
            if not isinstance(obj, dict) or not isinstance(obj.get("message"), str):
                yield LogProblem("decode", "a jsonlog line without a message", lineno)
                continue
            ts = self._time(str(obj.get("timestamp", "")))
            if ts is None:
                yield LogProblem("decode", "a jsonlog line with a time that cannot be read", lineno)
                continue
            yield from self._audit(lineno, obj["message"], ts, _s(obj.get("user")), _s(obj.get("dbname")),
                                   _s(obj.get("remote_host")), str(obj.get("session_id") or obj.get("pid") or ""))

    # -- one audit message --------------------------------------------------------
    def _audit(self, lineno: int, message: str, ts: float | None, user: str | None, db: str | None,
               address: str | None, session: str) -> Iterator[tuple[int, Event | None] | LogProblem]:
        if not message.startswith("AUDIT: "):
            return
        try:
            # Only the first seven fields are read; the statement and its
            # parameters (which may hold card numbers) are parsed past, never kept.
            fields = next(csv.reader([message[len("AUDIT: "):]], strict=True))
        except (csv.Error, StopIteration):
            yield LogProblem("decode", "an audit entry that is not valid CSV", lineno)
            return
        # Eight fields at least: the statement field follows the object name
        # (its text, or <not logged>); fewer means the entry was cut short,
        # maybe inside the object name.
        if len(fields) < 8 or fields[0] not in ("SESSION", "OBJECT") or not fields[1].isdigit():
            yield LogProblem("decode", "an audit entry with missing fields", lineno)
            return
        kind, stmt, sub, klass, command, _otype, name = fields[:7]
        del fields
        if ts is not None:
            c = self.coverage.setdefault(db if db and db != "[unknown]" else None, [ts, ts])
            c[0], c[1] = min(c[0], ts), max(c[1], ts)
        if klass not in ("READ", "WRITE"):
            yield lineno, None
            return
        if not name:
            if klass == "READ":
                self.unattributed += 1
            yield lineno, None
            return
        key = (session, stmt, sub, name, klass)
        if key in self._seen:  # the same statement's SESSION and OBJECT entries: one read
            self._seen.move_to_end(key)
            yield lineno, None
            return
        self._seen[key] = None
        if len(self._seen) > DEDUP_WINDOW:
            self._seen.popitem(last=False)
        schema, table = split_name(name)
        yield lineno, Event(
            evidence=EVIDENCE,
            action=READ if klass == "READ" else WRITE,
            operation=command or klass,
            time=ts,
            principal=user if user and user != "[unknown]" else None,
            source_address=address,
            database=db if db and db != "[unknown]" else None,
            schema=schema,
            table=table,
            statement=key,
        )

    def _time(self, text: str) -> float | None:
        m = re.match(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d(?:\.\d+)?)(?: (\S+))?$", text.strip())
        if not m:
            return None
        try:
            naive = datetime.fromisoformat(m.group(1).ljust(26, "0") if "." in m.group(1) else m.group(1))
        except ValueError:
            return None
        zone = m.group(2)
        tz = _zone(zone) if zone else None
        if tz is None:
            tz = self.tz
        if tz is None:
            return None
        return naive.replace(tzinfo=tz).timestamp()


def split_name(name: str) -> tuple[str | None, str]:
    """``schema.table`` (identifiers maybe double-quoted) -> (schema, table)."""
    parts: list[str] = []
    cur: list[str] = []
    i, quoted = 0, False
    while i < len(name):
        c = name[i]
        if quoted:
            if c == '"':
                if i + 1 < len(name) and name[i + 1] == '"':
                    cur.append('"')
                    i += 1
                else:
                    quoted = False
            else:
                cur.append(c)
        elif c == '"':
            quoted = True
        elif c == ".":
            parts.append("".join(cur))
            cur = []
        else:
            cur.append(c)
        i += 1
    parts.append("".join(cur))
    if len(parts) == 1:
        return None, parts[0]
    return parts[-2], parts[-1]


def _zone(name: str) -> tzinfo | None:
    if name in ("UTC", "GMT", "UCT", "Z", "Etc/UTC", "Universal", "Zulu"):
        return timezone.utc
    m = re.match(r"^([+-])(\d\d):?(\d\d)?$", name)  # zones without an abbreviation print "+03", "-0530"
    if m:
        delta = timedelta(hours=int(m.group(2)), minutes=int(m.group(3) or 0))
        return timezone(delta if m.group(1) == "+" else -delta)
    return None  # an abbreviation (CET, EST ...) is ambiguous: --pg-timezone says which zone


def load_timezone(name: str | None) -> tzinfo | None:
    """The log's time zone from a name (``Europe/Berlin``, ``UTC``, ``+02:00``)."""
    if not name:
        return None
    fixed = _zone(name)
    if fixed is not None:
        return fixed
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ConfigError(f"unknown time zone {name!r} (use a name such as Europe/Berlin, or +02:00)") from None


def _host(connection_from: str | None) -> str | None:
    """``127.0.0.1(49346)`` or ``127.0.0.1:49346`` -> ``127.0.0.1``; ``[local]`` stays."""
    if not connection_from:
        return None
    m = re.match(r"^(.*?)\(\d+\)$", connection_from)  # stderr's %r: host(port)
    if m:
        return m.group(1)
    m = re.match(r"^(\[.*\]|[^:]*):\d+$", connection_from)  # csvlog: host:port
    if m:
        return m.group(1).strip("[]")
    return connection_from


def _s(v: Any) -> str | None:
    return v if isinstance(v, str) and v else None


def _chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest
