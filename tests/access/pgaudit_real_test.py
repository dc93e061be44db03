"""pgAudit for real: a throwaway PostgreSQL cluster with the extension loaded, its own logs read back.

The cluster is created by the test under a temporary directory on a free
port (``initdb`` + ``pg_ctl`` as the ``postgres`` user, since PostgreSQL
refuses to run as root) with ``shared_preload_libraries = 'pgaudit'`` and
all three log formats; the shared server on 5432 is never touched. Skipped
when the extension is not installed (Debian: ``postgresql-15-pgaudit``).
"""
from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Iterator

import pytest

from cardscan.access.logfiles import LogFile
from cardscan.access.pgaudit import Parser
from cardscan.cli import main as cli_main
from cardscan.testing import assert_no_pan, make_pan

PREFIX = "%m [%p] %q%u@%d %r "


def _bindir() -> Path | None:
    try:
        out = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True).stdout.strip()
        return Path(out)
    except (OSError, subprocess.CalledProcessError):
        pass
    for v in sorted(Path("/usr/lib/postgresql").glob("*/bin"), reverse=True):
        return v
    return None


def _pkglibdir(bindir: Path) -> Path:
    try:
        return Path(subprocess.run([str(bindir / "pg_config"), "--pkglibdir"], capture_output=True, text=True,
                                   check=True).stdout.strip())
    except (OSError, subprocess.CalledProcessError):
        return bindir.parent / "lib"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _as_postgres(*cmd: str) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else list(cmd)


@pytest.fixture(scope="module")
def audited_cluster() -> Iterator[tuple[str, Path]]:
    """(admin URL, log directory) of a running throwaway cluster with pgAudit."""
    bindir = _bindir()
    if bindir is None or not (bindir / "initdb").exists():
        pytest.skip("PostgreSQL server binaries (initdb) are not installed")
    if not (_pkglibdir(bindir) / "pgaudit.so").exists():
        pytest.skip("the pgaudit extension is not installed (Debian: postgresql-15-pgaudit)")
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        pytest.skip("running as root without runuser: cannot start PostgreSQL as its own user")
    pytest.importorskip("psycopg2")
    root = Path(tempfile.mkdtemp(prefix="cardscan-pgaudit-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres")
    data, port = root / "data", _free_port()
    subprocess.run(_as_postgres(str(bindir / "initdb"), "-D", str(data), "-A", "trust", "-U", "postgres",
                                "--no-sync"), check=True, capture_output=True)
    with open(data / "postgresql.conf", "a") as conf:
        conf.write(
            f"shared_preload_libraries = 'pgaudit'\nlisten_addresses = '127.0.0.1'\nport = {port}\n"
            f"unix_socket_directories = '{root}'\nlogging_collector = on\nlog_directory = 'log'\n"
            f"log_destination = 'stderr,csvlog,jsonlog'\nlog_line_prefix = '{PREFIX}'\nlog_timezone = 'UTC'\n"
            "fsync = off\n"
        )
    subprocess.run(_as_postgres(str(bindir / "pg_ctl"), "-D", str(data), "-l", str(root / "start.log"), "-w",
                                "start"), check=True, capture_output=True)
    try:
        yield f"postgresql://postgres@127.0.0.1:{port}/postgres", data / "log"
    finally:
        subprocess.run(_as_postgres(str(bindir / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop"),
                       capture_output=True)
        shutil.rmtree(root, ignore_errors=True)


def _sql(url: str, *statements: str, user: str = "postgres") -> None:
    import psycopg2

    conn = psycopg2.connect(url.replace("postgres@", f"{user}@", 1))
    conn.autocommit = True
    with conn.cursor() as cur:
        for s in statements:
            if s.startswith("COPY"):
                import io

                cur.copy_expert(s, io.StringIO())
                continue
            cur.execute(s)
            if cur.description:
                cur.fetchall()
    conn.close()


def _wait_for(log_dir: Path, needle: str, count: int, timeout: float = 15.0) -> None:
    """The logging collector writes asynchronously: wait until every format shows ``needle`` ``count`` times."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        files = [p for p in log_dir.glob("*") if p.suffix in (".log", ".csv", ".json")]
        if len(files) == 3 and all(p.read_text(errors="replace").count(needle) >= count for p in files):
            return
        time.sleep(0.2)
    raise AssertionError(f"the server did not log {needle!r} {count} times in every format")


def test_real_pgaudit_logs_join_with_a_real_manifest(audited_cluster, tmp_path: Path, rng, capsys,
                                                     monkeypatch) -> None:
    url, log_dir = audited_cluster
    pan = make_pan("4556", rng=rng)
    _sql(url,
         "CREATE EXTENSION pgaudit",
         "CREATE ROLE analyst LOGIN", "CREATE ROLE contractor LOGIN", "CREATE ROLE auditor",
         "CREATE SCHEMA billing",
         "CREATE TABLE billing.payments (id int primary key, note text)",
         "CREATE TABLE billing.clean (id int primary key, note text)",
         f"INSERT INTO billing.payments VALUES (1, 'paid with {pan}, thanks')",
         "INSERT INTO billing.clean VALUES (1, 'nothing here')",
         "GRANT USAGE ON SCHEMA billing TO analyst, contractor",
         "GRANT SELECT ON billing.payments, billing.clean TO analyst, contractor, auditor",
         # Session logging of reads and writes (no relation names: those reads are
         # unattributed), and object logging through the audit role (names the table).
         "ALTER SYSTEM SET pgaudit.log = 'read, write'",
         "ALTER SYSTEM SET pgaudit.role = 'auditor'",
         "SELECT pg_reload_conf()")
    time.sleep(0.5)
    # A read before the scan, then the scan, then reads after it.
    _sql(url, f"SELECT note FROM billing.payments WHERE note LIKE '%{pan[-4:]}%'", user="analyst")
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", "pgaudit-real-test, 32 bytes or longer")
    manifest = tmp_path / "m.jsonl"
    assert cli_main.main(["scan", url, "--manifest", str(manifest), "-q"]) == 1
    time.sleep(1.2)  # past the scan's last second (scan times are whole seconds)
    _sql(url, f"SELECT id, note\n  FROM billing.payments\n WHERE note <> '{pan}'", user="contractor")
    _sql(url, "COPY billing.payments TO STDOUT", "SELECT * FROM billing.clean", user="analyst")
    _wait_for(log_dir, "OBJECT,", 5)

    # Each format on its own gives the same reads of the card table.
    per_format = {}
    for path in sorted(log_dir.glob("*")):
        parser = Parser(PREFIX)
        reads = [(e.principal, e.source_address, e.database, e.schema, e.table, e.operation)
                 for x in parser.events(LogFile(str(path))) if isinstance(x, tuple) and (e := x[1]) is not None
                 and e.action == "read" and e.table == "payments"]
        per_format[path.suffix] = reads
        assert parser.unattributed > 0  # the SESSION entries without relation names
    assert per_format[".log"] == per_format[".csv"] == per_format[".json"]
    assert ("contractor", "127.0.0.1", "postgres", "billing", "payments", "SELECT") in per_format[".log"]

    out = tmp_path / "access.jsonl"
    capsys.readouterr()
    rc = cli_main.main(["access", str(manifest), "--pgaudit", str(log_dir), "--pg-log-line-prefix", PREFIX,
                        "--out", str(out)])
    text = capsys.readouterr().out
    assert rc == 1
    records = [json.loads(line) for line in out.read_text().splitlines()]
    access = [r for r in records if r["type"] == "access"]
    by_principal = {}
    for r in access:
        assert r["object"]["table"] == "payments" and r["evidence"] == "pgaudit"
        by_principal.setdefault(r["principal"], []).append(r)
    assert {"analyst", "contractor"} <= set(by_principal)
    assert all(r["source_address"] == "127.0.0.1" for r in access)
    assert any("COPY" in r["operations"] or "SELECT" in r["operations"] for r in by_principal["analyst"])
    # The scan's own reads are there, marked as such.
    assert any(r["during_scan"] for r in access)
    (obj,) = [r for r in records if r["type"] == "access_object"]
    assert obj["status"] == "read" and obj["principals"] >= 2
    assert records[-1]["type"] == "access_summary" and records[-1]["unattributed_reads"] > 0
    assert "pgaudit.log_relation" in text
    assert_no_pan(out.read_text() + text, [pan], "access outputs")
