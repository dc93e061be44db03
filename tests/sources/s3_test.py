"""S3Source against a real S3 HTTP endpoint on loopback (moto's server).

What moto enforces, and how each case is made real:
* a bucket policy ``Deny s3:GetObject`` on a key: moto answers 403 to the GET
  (it evaluates bucket-policy denials for every caller), so the denied object
  is a real AccessDenied;
* throttling: moto never throttles, so a small HTTP proxy in front of it
  answers ``503 SlowDown`` to chosen requests; the client retries through it.
"""
from __future__ import annotations

import gzip
import http.client
import json
import pickle
import random
import threading
import uuid
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Iterator

import pytest

pytest.importorskip("s3fs", reason="the s3 extra is not installed")
boto3 = pytest.importorskip("boto3")
moto_server = pytest.importorskip("moto.server", reason="moto[server] is not installed")

from cardscan.engine.scanner import Scanner  # noqa: E402
from cardscan.errors import ConfigError, SourceError  # noqa: E402
from cardscan.findings import ErrorRecord, FingerprintKey, Location  # noqa: E402
from cardscan.sources.base import Item  # noqa: E402
from cardscan.sources.s3 import S3Source, split_uri  # noqa: E402
from cardscan.testing import SourceCase, SourceContract, make_pan, scan_source  # noqa: E402

KEY = FingerprintKey(b"s3-tests")


def _deny_get(s3, bucket: str, prefix: str) -> None:
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{bucket}/{prefix}*"}],
    }))


def _fingerprints(findings) -> set[str]:
    return {f.fingerprint for f in findings}


# -- the contract every source passes ----------------------------------------

class TestS3Contract(SourceContract):
    @pytest.fixture(scope="class")
    @classmethod
    def source_case(cls, moto_endpoint: str) -> SourceCase:
        rng = random.Random(5)
        s3 = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
        bucket = f"cardscan-contract-{uuid.uuid4().hex[:8]}"
        s3.create_bucket(Bucket=bucket)
        pans = [make_pan("4", 16, rng), make_pan("51", 16, rng), make_pan("37", 15, rng)]
        # Listed first, so the test sees the listing go on after it.
        s3.put_object(Bucket=bucket, Key="a-locked/keys.txt", Body=b"card " + make_pan("4", 16, rng).encode())
        s3.put_object(Bucket=bucket, Key="b/orders.csv", Body=f"id,card\n1,{pans[0]}\n".encode())
        s3.put_object(Bucket=bucket, Key="c/notes.txt", Body=f"call back, card {pans[1]}".encode())
        s3.put_object(Bucket=bucket, Key="d/odd name #1?.log", Body=f"amex {pans[2]} exp 04/29".encode())
        _deny_get(s3, bucket, "a-locked/")
        source = S3Source.from_url(f"s3://{bucket}/", endpoint_url=moto_endpoint)
        return SourceCase(source, pans, unreadable=[f"s3://{bucket}/a-locked/keys.txt"], secrets=["testing"])


# -- listing -------------------------------------------------------------------

def test_test_buckets_are_never_named_like_a_card(monkeypatch) -> None:
    # A name whose 12 random hex characters were all digits read as a card
    # number, masked in the errors' locations: test_denied_object_... failed.
    import re

    from tests.conftest import bucket_name

    monkeypatch.setattr(uuid, "uuid4", lambda: uuid.UUID("96240788-2357-4000-8000-000000000000"))
    name = bucket_name()
    assert name.startswith("cardscan-") and not re.search(r"[0-9]", name)
    assert Scanner(key=KEY).scan_bytes(f"s3://{name}/hr/salaries.csv".encode()) == []


def test_lists_prefix_and_streams_every_object(moto_endpoint, s3, bucket, rng) -> None:
    pans = [make_pan("4", 16, rng) for _ in range(3)]
    for i, pan in enumerate(pans):
        s3.put_object(Bucket=bucket, Key=f"logs/2026/{i}.log", Body=f"payment card {pan}\n".encode())
    s3.put_object(Bucket=bucket, Key="logs/", Body=b"")  # a console "folder" marker
    s3.put_object(Bucket=bucket, Key="other/x.log", Body=f"card {make_pan('4', 16, rng)}".encode())
    scan = scan_source(S3Source(f"s3://{bucket}/logs/", endpoint_url=moto_endpoint), Scanner(key=KEY))
    assert sorted(i.uri for i in scan.items) == [f"s3://{bucket}/logs/2026/{i}.log" for i in range(3)]
    assert not scan.errors
    assert _fingerprints(scan.findings) == {KEY.fingerprint(p) for p in pans}
    item = scan.items[0]
    assert item.meta["etag"] and item.ukey == item.meta["etag"]
    assert item.meta["size"] == item.size and item.mtime is not None and item.meta["last_modified"]
    assert all(f.location.uri.startswith(f"s3://{bucket}/logs/2026/") for f in scan.findings)


def test_url_naming_an_object_is_that_object_or_its_folder(moto_endpoint, s3, bucket) -> None:
    for key in ("data", "data/inner.txt", "data.csv", "database/x"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    uris = [i.uri for i in S3Source(f"s3://{bucket}/data", endpoint_url=moto_endpoint).items()]
    assert sorted(uris) == [f"s3://{bucket}/data", f"s3://{bucket}/data/inner.txt"]


def test_endpoint_from_environment(moto_endpoint, s3, bucket, monkeypatch) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    src = S3Source(f"s3://{bucket}/")
    assert src.endpoint_url == moto_endpoint
    assert [i.uri for i in src.items()] == [f"s3://{bucket}/k"]


def test_missing_bucket_is_an_error_record(moto_endpoint) -> None:
    out = list(S3Source("s3://cardscan-no-such-bucket-here/", endpoint_url=moto_endpoint).items())
    assert len(out) == 1 and isinstance(out[0], ErrorRecord)
    assert out[0].kind == "not_found"


def test_archived_object_is_an_error_record_not_a_silent_skip(moto_endpoint, s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="cold.txt", Body=b"x", StorageClass="DEEP_ARCHIVE")
    s3.put_object(Bucket=bucket, Key="warm.txt", Body=b"x")
    out = list(S3Source(f"s3://{bucket}/", endpoint_url=moto_endpoint).items())
    errors = [e for e in out if isinstance(e, ErrorRecord)]
    assert [e.location.uri for e in errors] == [f"s3://{bucket}/cold.txt"]
    assert "DEEP_ARCHIVE" in errors[0].message
    assert [i.uri for i in out if isinstance(i, Item)] == [f"s3://{bucket}/warm.txt"]


def test_bad_urls_and_options() -> None:
    with pytest.raises(ConfigError):
        S3Source("gs://bucket/x")
    with pytest.raises(ConfigError):
        S3Source("s3:///x")
    with pytest.raises(ConfigError):
        S3Source("s3://b/", retries=0)
    assert split_uri("s3://b/a b/#c?d") == ("b", "a b/#c?d")


def test_source_pickles_without_its_client(moto_endpoint, s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="k", Body=b"x")
    src = S3Source(f"s3://{bucket}/", endpoint_url=moto_endpoint)
    assert len(list(src.items())) == 1  # builds a client
    clone = pickle.loads(pickle.dumps(src))
    assert [i.uri for i in clone.items()] == [f"s3://{bucket}/k"]


# -- versions ------------------------------------------------------------------

def test_all_versions_finds_cards_deleted_from_the_current_version(moto_endpoint, s3, bucket, rng) -> None:
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    old, gone = make_pan("4", 16, rng), make_pan("55", 16, rng)
    s3.put_object(Bucket=bucket, Key="notes.txt", Body=f"card {old}".encode())
    s3.put_object(Bucket=bucket, Key="notes.txt", Body=b"card number removed")
    s3.put_object(Bucket=bucket, Key="gone.txt", Body=f"card {gone}".encode())
    s3.delete_object(Bucket=bucket, Key="gone.txt")  # a delete marker on top

    current = scan_source(S3Source(f"s3://{bucket}/", endpoint_url=moto_endpoint), Scanner(key=KEY))
    assert [i.uri for i in current.items] == [f"s3://{bucket}/notes.txt"]
    assert current.findings == []

    every = scan_source(S3Source(f"s3://{bucket}/", endpoint_url=moto_endpoint, all_versions=True), Scanner(key=KEY))
    assert not every.errors
    assert len(every.items) == 3  # two of notes.txt, one of gone.txt; the delete marker is no item
    assert all(i.version and i.meta["version_id"] == i.version for i in every.items)
    assert sorted(i.meta["is_latest"] for i in every.items) == [False, False, True]
    assert _fingerprints(every.findings) == {KEY.fingerprint(old), KEY.fingerprint(gone)}
    assert all(f.location.version for f in every.findings)
    # ukeys tell versions apart (resume / change detection)
    assert len({i.ukey for i in every.items}) == 3


# -- exposure ------------------------------------------------------------------

def _exposures(moto_endpoint: str, bucket: str) -> dict[str, str]:
    return {i.uri.rsplit("/", 1)[1]: i.meta["exposure"]
            for i in S3Source(f"s3://{bucket}/", endpoint_url=moto_endpoint).items() if isinstance(i, Item)}


def test_exposure_from_object_acls(moto_endpoint, s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="private.txt", Body=b"x")
    s3.put_object(Bucket=bucket, Key="public.txt", Body=b"x", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="aws-users.txt", Body=b"x", ACL="authenticated-read")
    assert _exposures(moto_endpoint, bucket) == {
        "private.txt": "private", "public.txt": "public", "aws-users.txt": "authenticated",
    }
    items = {i.uri.rsplit("/", 1)[1]: i for i in S3Source(f"s3://{bucket}/", endpoint_url=moto_endpoint).items()}
    detail = items["public.txt"].meta["exposure_detail"]
    assert detail["public_acl_grants"] == ["http://acs.amazonaws.com/groups/global/AllUsers:READ"]
    assert detail["bucket_policy_public"] is False


def test_exposure_public_bucket_policy(moto_endpoint, s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="any.txt", Body=b"x")
    s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps({
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                       "Resource": f"arn:aws:s3:::{bucket}/*"}],
    }))
    assert _exposures(moto_endpoint, bucket) == {"any.txt": "public"}


def test_public_access_block_cancels_public_acls(moto_endpoint, s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="public.txt", Body=b"x", ACL="public-read")
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": True, "IgnorePublicAcls": True,
        "BlockPublicPolicy": True, "RestrictPublicBuckets": True,
    })
    assert _exposures(moto_endpoint, bucket) == {"public.txt": "private"}


def test_exposure_off_means_unknown(moto_endpoint, s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="public.txt", Body=b"x", ACL="public-read")
    items = list(S3Source(f"s3://{bucket}/", endpoint_url=moto_endpoint, exposure=False).items())
    assert [i.meta["exposure"] for i in items] == ["unknown"]


# -- reading -------------------------------------------------------------------

def test_denied_object_is_a_permission_error_and_the_sweep_goes_on(moto_endpoint, s3, bucket, rng) -> None:
    pan = make_pan("4", 16, rng)
    s3.put_object(Bucket=bucket, Key="hr/salaries.csv", Body=b"secret")
    s3.put_object(Bucket=bucket, Key="shop/orders.csv", Body=f"card,{pan}\n".encode())
    _deny_get(s3, bucket, "hr/")
    src = S3Source(f"s3://{bucket}/", endpoint_url=moto_endpoint)
    denied = next(i for i in src.items() if i.uri.endswith("salaries.csv"))
    with pytest.raises(SourceError) as exc:
        src.open(denied)
    assert exc.value.kind == "permission"
    scan = scan_source(src, Scanner(key=KEY))
    assert [(e.location.uri, e.kind) for e in scan.errors] == [(f"s3://{bucket}/hr/salaries.csv", "permission")]
    assert _fingerprints(scan.findings) == {KEY.fingerprint(pan)}


def test_large_multipart_object_is_read_by_ranges(moto_endpoint, s3, bucket, rng) -> None:
    part = 5 * 1024 * 1024
    body = bytearray(b"x" * (3 * part + 12345))
    for i in range(0, len(body), 100):
        body[i] = 10  # lines
    pans, offsets = [], [part - 8, 2 * part - 3, 3 * part + 100, len(body) - 40]
    for off in offsets:  # two straddle part boundaries
        pan = make_pan("4", 16, rng)
        body[off:off + 22] = f" card {pan}".encode()
        pans.append(pan)
    mpu = s3.create_multipart_upload(Bucket=bucket, Key="dump.bin")
    parts = []
    for n, start in enumerate(range(0, len(body), part), 1):
        chunk = bytes(body[start:start + part]) if n < 4 else bytes(body[start:])
        r = s3.upload_part(Bucket=bucket, Key="dump.bin", UploadId=mpu["UploadId"], PartNumber=n, Body=chunk)
        parts.append({"ETag": r["ETag"], "PartNumber": n})
        if n == 4:
            break
    s3.complete_multipart_upload(Bucket=bucket, Key="dump.bin", UploadId=mpu["UploadId"],
                                 MultipartUpload={"Parts": parts})

    # exposure=False: moto answers GetObjectAcl of a multipart object with a 500 (a moto bug).
    src = S3Source(f"s3://{bucket}/dump.bin", endpoint_url=moto_endpoint, block_size=256 * 1024, exposure=False)
    (item,) = list(src.items())
    assert item.size == len(body) and item.meta["etag"].endswith("-4")
    scanner = Scanner(key=KEY)
    found, step = [], 3 * 1024 * 1024
    for start in range(0, item.size, step):
        rng_item = item.range(start, min(start + step, item.size))
        with src.open(rng_item) as f:  # a worker opens its own stream
            got, _ = scanner.scan_range(f, *rng_item.byte_range, Location(uri=item.uri))
            fetched = f.cache.total_requested_bytes
        found.extend(got)
        assert fetched < 2 * step, "a range read fetched far more than its range"
    assert sorted(f.location.offset for f in found) == [o + 6 for o in offsets]
    assert _fingerprints(found) == {KEY.fingerprint(p) for p in pans}


def test_gzipped_object_streams_and_is_opened_by_the_container_rules(moto_endpoint, s3, bucket, rng) -> None:
    pan = make_pan("4", 16, rng)
    raw = ("\n".join(f"line {i}" for i in range(5000)) + f"\ncard {pan}\n").encode()
    gz = gzip.compress(raw)
    s3.put_object(Bucket=bucket, Key="app.log.gz", Body=gz, ContentType="application/gzip")
    src = S3Source(f"s3://{bucket}/", endpoint_url=moto_endpoint, block_size=64 * 1024)
    (item,) = list(src.items())
    with src.open(item) as f:
        streamed = f.read()
    assert streamed == gz
    # The container rules (cardscan.decoders) open it from the stream, like a local .gz.
    scan = scan_source(src, Scanner(key=KEY))
    assert not scan.errors
    assert _fingerprints(scan.findings) == {KEY.fingerprint(pan)}
    (finding,) = scan.findings
    assert finding.location.line == 5001  # counted in the decompressed text


# -- throttling, via a proxy that answers 503 SlowDown ---------------------------

class ThrottlingProxy:
    """Forwards to moto; answers ``503 SlowDown`` to the next N GETs of chosen keys."""

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream.split("//", 1)[1]
        self.throttle: dict[str, int] = {}
        self.throttled = 0
        self.headers_seen: list[dict[str, str]] = []
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # quiet
                pass

            def _forward(self) -> None:
                proxy.headers_seen.append({k.lower(): v for k, v in self.headers.items()})
                path = self.path.split("?", 1)[0]
                if self.command == "GET" and proxy.throttle.get(path, 0) > 0:
                    proxy.throttle[path] -= 1
                    proxy.throttled += 1
                    body = (b"<?xml version='1.0' encoding='UTF-8'?><Error><Code>SlowDown</Code>"
                            b"<Message>Please reduce your request rate.</Message></Error>")
                    self.send_response(503)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                    return
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length) if length else None
                conn = http.client.HTTPConnection(proxy.upstream, timeout=30)
                conn.request(self.command, self.path, body=data, headers=dict(self.headers))
                resp = conn.getresponse()
                payload = resp.read()
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(k, v)
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(payload)
                conn.close()

            do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _forward

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()
        self.endpoint = f"http://127.0.0.1:{self.server.server_address[1]}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def proxy(moto_endpoint) -> Iterator[ThrottlingProxy]:
    p = ThrottlingProxy(moto_endpoint)
    yield p
    p.close()


def test_throttled_read_is_retried(proxy, s3, bucket, rng) -> None:
    pan = make_pan("4", 16, rng)
    s3.put_object(Bucket=bucket, Key="busy.txt", Body=f"card {pan}".encode())
    proxy.throttle[f"/{bucket}/busy.txt"] = 1
    scan = scan_source(S3Source(f"s3://{bucket}/", endpoint_url=proxy.endpoint), Scanner(key=KEY))
    assert proxy.throttled == 1
    assert not scan.errors
    assert _fingerprints(scan.findings) == {KEY.fingerprint(pan)}


def test_throttling_that_never_ends_is_an_io_error(proxy, s3, bucket, rng) -> None:
    s3.put_object(Bucket=bucket, Key="a-busy.txt", Body=b"x")
    pan = make_pan("4", 16, rng)
    s3.put_object(Bucket=bucket, Key="b-calm.txt", Body=f"card {pan}".encode())
    proxy.throttle[f"/{bucket}/a-busy.txt"] = 1000
    scan = scan_source(S3Source(f"s3://{bucket}/", endpoint_url=proxy.endpoint, retries=1), Scanner(key=KEY))
    assert [(e.location.uri, e.kind) for e in scan.errors] == [(f"s3://{bucket}/a-busy.txt", "io")]
    assert "SlowDown" in scan.errors[0].message
    assert _fingerprints(scan.findings) == {KEY.fingerprint(pan)}


def test_requester_pays_header_is_sent(proxy, s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="k.txt", Body=b"hello")
    src = S3Source(f"s3://{bucket}/", endpoint_url=proxy.endpoint, requester_pays=True, exposure=False)
    (item,) = list(src.items())
    with src.open(item) as f:
        assert f.read() == b"hello"
    assert proxy.headers_seen and all(h.get("x-amz-request-payer") == "requester" for h in proxy.headers_seen)


def test_owns_routes_items_to_the_source_that_listed_them(moto_endpoint, s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="a/x.txt", Body=b"x")
    s3.put_object(Bucket=bucket, Key="b/y.txt", Body=b"y")
    a = S3Source(f"s3://{bucket}/a/", endpoint_url=moto_endpoint)
    b = S3Source(f"s3://{bucket}/b", endpoint_url=moto_endpoint)
    elsewhere = S3Source(f"s3://{bucket}/", endpoint_url="http://127.0.0.1:9")
    (ia,), (ib,) = list(a.items()), list(b.items())
    assert a.owns(ia) and not a.owns(ib) and b.owns(ib) and not b.owns(ia)
    assert not elsewhere.owns(ia)  # same bucket name on another endpoint


def test_describe_for_the_manifest_has_no_credentials() -> None:
    src = S3Source("s3://b/p/", endpoint_url="https://key:secret@minio.example:9000", all_versions=True)
    d = src.describe()
    assert d == {"name": "s3", "url": "s3://b/p/", "options": {**src.options(), "endpoint_url": "https://minio.example:9000"}}
    assert S3Source.from_url("s3://b/p/", **src.options()).options() == src.options()


# -- the command line: a path, an S3 prefix and databases in one run, one manifest -----------

def test_cli_scans_paths_s3_and_sql_in_one_run(moto_endpoint, s3, bucket, tmp_path, monkeypatch, rng) -> None:
    import sqlite3

    import sqlalchemy as sa

    from cardscan.cli.main import main

    pans = {k: make_pan(p, 16, rng) for k, p in (("file", "4"), ("s3", "51"), ("s3old", "4"), ("sqlite", "6011"),
                                                  ("pg", "4"))}
    share = tmp_path / "share"
    share.mkdir()
    (share / "notes.txt").write_text(f"card {pans['file']}\n")
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="exports/orders.csv", Body=f"id,card\n1,{pans['s3old']}\n".encode())
    s3.put_object(Bucket=bucket, Key="exports/orders.csv", Body=f"id,card\n1,{pans['s3']}\n".encode())
    db = tmp_path / "shop.db"
    with sqlite3.connect(db) as conn:
        conn.execute("CREATE TABLE customers (id INTEGER PRIMARY KEY, note TEXT)")
        conn.execute("INSERT INTO customers VALUES (7, ?)", (f"card {pans['sqlite']}",))
    urls = [str(share), f"s3://{bucket}/exports/", f"sqlite:///{db}"]
    pg_admin = "postgresql+psycopg2://postgres@127.0.0.1:5432/test"
    schema = f"cli_{uuid.uuid4().hex[:8]}"
    try:
        engine = sa.create_engine(pg_admin, connect_args={"connect_timeout": 3})
        with engine.begin() as conn:
            conn.exec_driver_sql(f"CREATE SCHEMA {schema}")
            conn.exec_driver_sql(f"CREATE TABLE {schema}.t (id BIGINT PRIMARY KEY, card BIGINT)")
            conn.execute(sa.text(f"INSERT INTO {schema}.t VALUES (1, :c)"), {"c": int(pans["pg"])})
        # trust auth: the password is accepted and must appear nowhere
        urls.append("postgresql://postgres:hunter2-cli@127.0.0.1:5432/test")
    except sa.exc.OperationalError:
        engine = None
        del pans["pg"]
    manifest = tmp_path / "scan.jsonl"
    key_file = tmp_path / "key"
    key_file.write_bytes(b"cli-test-key-0123456789, 32+ bytes")
    key_file.chmod(0o600)
    try:
        status = main(["scan", *urls, "--endpoint-url", moto_endpoint, "--all-versions", "--schema", f"{schema}",
                       "--schema", "main", "--manifest", str(manifest), "--key-file", str(key_file),
                       "-j", "2", "--quiet", "--no-config"])
    finally:
        if engine is not None:
            with engine.begin() as conn:
                conn.exec_driver_sql(f"DROP SCHEMA {schema} CASCADE")
            engine.dispose()
    assert status == 1
    text = manifest.read_text()
    assert "hunter2-cli" not in text
    records = [json.loads(line) for line in text.splitlines()]
    assert records[0]["type"] == "scan" and records[-1]["type"] == "summary"
    assert [r for r in records if r["type"] == "error"] == []
    key = FingerprintKey(b"cli-test-key-0123456789, 32+ bytes")
    where = {r["fingerprint"]: r["location"] for r in records if r["type"] == "finding"}
    assert set(where) == {key.fingerprint(p) for p in pans.values()}
    assert where[key.fingerprint(pans["s3old"])]["uri"] == f"s3://{bucket}/exports/orders.csv"
    assert where[key.fingerprint(pans["s3old"])]["version"]  # found in the old version only
    assert where[key.fingerprint(pans["sqlite"])]["cell"]["key"] == {"id": 7}
    if "pg" in pans:
        loc = where[key.fingerprint(pans["pg"])]
        assert loc["uri"] == "postgresql://postgres@127.0.0.1:5432/test" and loc["cell"]["table"] == "t"


def test_all_versions_reads_the_null_version_written_before_versioning(moto_endpoint, s3, bucket, rng) -> None:
    old = make_pan("4", 16, rng)
    s3.put_object(Bucket=bucket, Key="legacy.txt", Body=f"card {old}".encode(), ACL="public-read")  # version "null"
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket=bucket, Key="legacy.txt", Body=b"cleaned up")
    scan = scan_source(S3Source(f"s3://{bucket}/", endpoint_url=moto_endpoint, all_versions=True), Scanner(key=KEY))
    assert not scan.errors
    assert sorted(str(i.version) for i in scan.items if i.version == "null") == ["null"]
    assert [(f.fingerprint, f.location.version) for f in scan.findings] == [(KEY.fingerprint(old), "null")]
    # each version's own ACL: the old one was public, the current one is not
    assert sorted((str(i.version) == "null", i.meta["exposure"]) for i in scan.items) == [
        (False, "private"), (True, "public")]
