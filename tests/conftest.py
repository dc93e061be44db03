"""Shared fixtures. Tests never print a full PAN: see cardscan.testing."""
from __future__ import annotations

import os
import random
import uuid
from typing import Any, Iterator

import pytest

#: The real database servers the tests use (started by .ci/run when down).
PG_ADMIN = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
MARIA_ADMIN = "mysql+pymysql://root@127.0.0.1:3306/test"

# A fingerprint key in the developer's shell (as benchmarks/README.md sets
# one) would be every test's "no key given" key: tests that need one set it.
os.environ.pop("CARDSCAN_FINGERPRINT_KEY", None)


@pytest.fixture
def rng() -> random.Random:
    return random.Random(20261128)


@pytest.fixture
def open_tmp_path() -> Iterator[Any]:
    """A temporary directory every user can reach (0755 under /tmp).

    pytest's own temp root is 0700: every file under ``tmp_path`` is private
    by effective exposure (the directories above count), so a test about
    world- or group-readable files needs a directory others can traverse."""
    import shutil
    import tempfile
    from pathlib import Path

    path = Path(tempfile.mkdtemp(prefix="cardscan-open-"))
    path.chmod(0o755)
    try:
        yield path
    finally:
        shutil.rmtree(path, ignore_errors=True)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Mask card numbers in failure reports: a failing test must not leak.

    Tests plant fresh Luhn-valid numbers; pytest prints fixture values,
    assertion operands and captured output when a test fails. Everything in
    the report goes through cardscan's own redaction before it is shown.
    """
    outcome = yield
    report = outcome.get_result()
    if report.failed and report.longrepr is not None:
        from cardscan.testing import scrub

        report.longrepr = scrub(str(report.longrepr))
    if report.sections:
        from cardscan.testing import scrub

        report.sections = [(title, scrub(content)) for title, content in report.sections]


# -- real services, one per test session ----------------------------------------

@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    """A real S3 HTTP endpoint on loopback: moto's standalone server."""
    moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed")
    pytest.importorskip("s3fs", reason="the s3 extra is not installed")
    with pytest.MonkeyPatch.context() as mp:
        # Dummy credentials, and nothing from the machine's AWS config.
        for name, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/nonexistent/aws-config",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent/aws-credentials",
        }.items():
            mp.setenv(name, value)
        for name in ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_ENDPOINT_URL", "AWS_ENDPOINT_URL_S3"):
            mp.delenv(name, raising=False)
        server = moto_server.ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        host, port = server.get_host_and_port()
        try:
            yield f"http://{host}:{port}"
        finally:
            server.stop()


@pytest.fixture(scope="session")
def s3(moto_endpoint: str) -> Any:
    import botocore.session

    return botocore.session.get_session().create_client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")


def bucket_name() -> str:
    """A fresh bucket name with no digits: 12 hex characters can all be digits
    (~0.3% of names), and such a run may be a card number, which cardscan then
    masks in the locations the tests compare (``cardscan-96******2357``)."""
    return "cardscan-" + uuid.uuid4().hex[:12].translate(str.maketrans("0123456789", "ghijklmnop"))


@pytest.fixture
def bucket(s3: Any) -> str:
    name = bucket_name()
    s3.create_bucket(Bucket=name)
    return name


def reachable(url: str) -> str | None:
    """None if the database at ``url`` answers, else why not (for a skip reason)."""
    import sqlalchemy as sa

    try:
        engine = sa.create_engine(url, connect_args={"connect_timeout": 3})
        with engine.connect():
            pass
        engine.dispose()
        return None
    except Exception as exc:  # noqa: BLE001 - any failure means: skip with its reason
        return f"{type(exc).__name__}: {str(exc).splitlines()[0]}"


@pytest.fixture(scope="session")
def pg_database() -> Iterator[str]:
    """A PostgreSQL database created for the session and dropped after it."""
    sa = pytest.importorskip("sqlalchemy", reason="the sql extra is not installed")
    reason = reachable(PG_ADMIN)
    if reason:
        pytest.skip(f"PostgreSQL at 127.0.0.1:5432 is unreachable ({reason})")
    name = f"cardscan_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(PG_ADMIN, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        admin.dispose()


@pytest.fixture(scope="session")
def maria_server() -> Iterator[Any]:
    """An admin engine for MariaDB; tests create (and drop) their own databases."""
    sa = pytest.importorskip("sqlalchemy", reason="the sql extra is not installed")
    reason = reachable(MARIA_ADMIN)
    if reason:
        pytest.skip(f"MariaDB at 127.0.0.1:3306 is unreachable ({reason})")
    admin = sa.create_engine(MARIA_ADMIN, isolation_level="AUTOCOMMIT")
    yield admin
    admin.dispose()


# -- Samba: a real SMB server for the smb:// source (tests/samba.py) -------------------

@pytest.fixture(scope="session")
def samba() -> Iterator[Any]:
    """smbd on 127.0.0.1 and a free port, with its own users and shares; stopped at session end."""
    pytest.importorskip("smbclient", reason="the smb extra is not installed")
    import shutil
    import tempfile
    from pathlib import Path

    from tests.samba import SambaServer, unavailable

    reason = unavailable()
    if reason:
        pytest.skip(reason)
    # Not under pytest's 0700 temp root: smbd's users must traverse to the shares.
    root = Path(tempfile.mkdtemp(prefix="cardscan-samba-"))
    server = SambaServer(root).start()
    try:
        yield server
    finally:
        server.stop()
        shutil.rmtree(root, ignore_errors=True)
