"""S3 and S3-compatible object stores, through fsspec/s3fs.

``s3://bucket/prefix/`` lists every object under the prefix (page by page,
never the whole listing in memory) and opens each one as a seekable stream
that reads with HTTP range requests: nothing is downloaded whole, to memory
or to disk, and a big object can be split into byte ranges across workers.

Why s3fs rather than raw boto3 (docs/sources.md says more): its ``S3File``
is a buffered, seekable, range-reading file object (exactly what the
decoders and ``Scanner.scan_range`` need); ``version_aware=True`` opens a
pinned object version; it retries throttling (503 SlowDown) and broken
bodies on top of botocore's own retries; and it is an fsspec filesystem, the
same registry model our plugins follow, so a ``gs://`` or ``az://`` source
is the same few lines. The standard AWS credential chain, ``AWS_PROFILE``,
``AWS_ENDPOINT_URL`` and region redirects come from botocore underneath.

Exposure (``Item.meta["exposure"]``): ``public`` (anyone can read the
object: an ACL grant to AllUsers or a public bucket policy, not cancelled by
the bucket's public-access block), ``authenticated`` (a grant to any AWS
account: AuthenticatedUsers), ``private``, or ``unknown`` when the
credentials may not read the ACL/policy status. ``meta["exposure_detail"]``
holds the evidence. The account-level public-access block is not read (it
needs s3control and the account id); it can only make a "public" verdict
safer, never hide one.
"""
from __future__ import annotations

import asyncio
import os
from datetime import datetime
from typing import Any, BinaryIO, ClassVar, Iterator
from urllib.parse import urlsplit, urlunsplit

import fsspec.asyn
import s3fs
from botocore.exceptions import BotoCoreError, ClientError

from ..errors import ConfigError, SourceError
from ..findings import ErrorRecord, Location
from ..privacy import mask_name
from . import s3_policy
from .base import Item

#: Read in blocks of this size (one ranged GET each); bounds memory per open object.
DEFAULT_BLOCK_SIZE = 8 * 1024 * 1024
#: Concurrent ACL look-ups while listing one page (the page has up to 1000 keys).
ACL_CONCURRENCY = 32
#: Storage classes whose objects must be restored before they can be read.
ARCHIVED = frozenset({"GLACIER", "DEEP_ARCHIVE"})

_ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"
_AUTH_USERS = "http://acs.amazonaws.com/groups/global/AuthenticatedUsers"
_READ_PERMS = ("READ", "FULL_CONTROL")
_PERMISSION_CODES = frozenset({"AccessDenied", "403", "AllAccessDisabled", "InvalidAccessKeyId",
                               "SignatureDoesNotMatch", "AccountProblem"})
_NOT_FOUND_CODES = frozenset({"NoSuchBucket", "NoSuchKey", "NoSuchVersion", "404"})


def split_uri(uri: str) -> tuple[str, str]:
    """``s3://bucket/key`` -> (bucket, key). Keys are taken verbatim (``#``, ``?`` included)."""
    if not uri.startswith("s3://"):
        raise ConfigError(f"not an s3:// URL: {uri!r}")
    bucket, _, key = uri[len("s3://"):].partition("/")
    if not bucket:
        raise ConfigError(f"no bucket in {uri!r}")
    return bucket, key


def _client_error(exc: BaseException) -> ClientError | None:
    # s3fs turns botocore's ClientError into OSError subclasses, keeping it as the cause.
    for e in (exc, exc.__cause__):
        if isinstance(e, ClientError):
            return e
    return None


def _code(exc: BaseException) -> str:
    ce = _client_error(exc)
    return str(ce.response.get("Error", {}).get("Code", "")) if ce is not None else ""


def _error_kind(exc: BaseException) -> str:
    code = _code(exc)
    if code in _PERMISSION_CODES or isinstance(exc, PermissionError):
        return "permission"
    if code in _NOT_FOUND_CODES or isinstance(exc, FileNotFoundError):
        return "not_found"
    return "io"


def _error_text(exc: BaseException) -> str:
    # botocore messages name the operation and code, never object contents.
    ce = _client_error(exc)
    if ce is not None:
        err = ce.response.get("Error", {})
        return f"{err.get('Code') or 'error'}: {err.get('Message') or ce.operation_name}"
    return f"{type(exc).__name__}: {exc}"


def _strip_userinfo(url: str | None) -> str | None:
    if not url:
        return url
    parts = urlsplit(url)
    if "@" in parts.netloc:
        parts = parts._replace(netloc=parts.netloc.rpartition("@")[2])
    return urlunsplit(parts)


class S3Source:
    """Objects under ``s3://bucket/prefix`` (or one object ``s3://bucket/key``).

    Options:

    ``endpoint_url``
        S3-compatible store (MinIO, Ceph, moto ...); default from
        ``AWS_ENDPOINT_URL_S3`` / ``AWS_ENDPOINT_URL``, else AWS.
    ``region``
        Client region; default from the AWS config chain. Requests to a bucket
        in another region are redirected by botocore.
    ``profile``, ``anon``
        AWS profile name; ``anon=True`` for unsigned requests to public buckets.
    ``requester_pays``
        Send ``x-amz-request-payer: requester`` (the scanning account pays).
    ``all_versions``
        List every object version, non-current ones included (deleted cards
        live on in old versions); ``Item.version`` is the version id.
    ``exposure``
        Look up ACLs, bucket policy status and public-access block (default
        True; costs one ``GetObjectAcl`` per object unless ACLs are disabled).
    ``retries``
        botocore attempts per request ("standard" mode: exponential backoff
        with jitter on 503 SlowDown, 5xx, timeouts); s3fs retries broken
        reads on top. (Not "adaptive": its client-wide rate limiter lets one
        throttled prefix slow every other request of the sweep.)
    ``connect_timeout``, ``read_timeout``
        Seconds.
    ``block_size``
        Bytes per ranged GET.
    """

    name: ClassVar[str] = "s3"
    schemes: ClassVar[tuple[str, ...]] = ("s3",)

    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str | None = None,
        region: str | None = None,
        profile: str | None = None,
        anon: bool = False,
        requester_pays: bool = False,
        all_versions: bool = False,
        exposure: bool = True,
        retries: int = 5,
        connect_timeout: float = 10.0,
        read_timeout: float = 60.0,
        block_size: int = DEFAULT_BLOCK_SIZE,
    ) -> None:
        self.bucket, self.prefix = split_uri(url)
        self.url = url
        if endpoint_url is None:
            endpoint_url = os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL") or None
        self.endpoint_url = endpoint_url
        self.region = region
        self.profile = profile
        self.anon = anon
        self.requester_pays = requester_pays
        self.all_versions = all_versions
        self.exposure = exposure
        if retries < 1:
            raise ConfigError("retries must be at least 1")
        self.retries = retries
        self.connect_timeout = connect_timeout
        self.read_timeout = read_timeout
        if block_size < 64 * 1024:
            raise ConfigError("block_size must be at least 64 KiB")
        self.block_size = block_size
        self._fs: dict[bool, Any] = {}
        self._pid = os.getpid()

    @classmethod
    def from_url(cls, url: str, **options: Any) -> "S3Source":
        return cls(url, **options)

    def __repr__(self) -> str:
        return f"S3Source({self.url!r}, endpoint_url={_strip_userinfo(self.endpoint_url)!r})"

    def options(self) -> dict[str, Any]:
        """Plain-data options: ``from_url(url, **options())`` rebuilds an equivalent source."""
        return {
            "endpoint_url": self.endpoint_url, "region": self.region, "profile": self.profile,
            "anon": self.anon, "requester_pays": self.requester_pays, "all_versions": self.all_versions,
            "exposure": self.exposure, "retries": self.retries, "connect_timeout": self.connect_timeout,
            "read_timeout": self.read_timeout, "block_size": self.block_size,
        }

    def describe(self) -> dict[str, Any]:
        """What the manifest's scan record says about this source (no credentials)."""
        opts = self.options()
        opts["endpoint_url"] = _strip_userinfo(self.endpoint_url)
        return {"name": self.name, "url": self.url, "options": opts}

    # Sources cross process boundaries (the sweep may ship them to workers):
    # clients and event loops do not, they are rebuilt on first use.
    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_fs"] = {}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._pid = os.getpid()

    # -- the filesystem ------------------------------------------------------
    def filesystem(self, version_aware: bool = False) -> s3fs.S3FileSystem:
        """The s3fs filesystem for these options (one per process)."""
        if self._pid != os.getpid():  # forked: the parent's loop and sessions are unusable
            self._fs, self._pid = {}, os.getpid()
        fs = self._fs.get(version_aware)
        if fs is None:
            client_kwargs: dict[str, Any] = {}
            if self.region:
                client_kwargs["region_name"] = self.region
            fs = s3fs.S3FileSystem(
                anon=self.anon,
                profile=self.profile,
                endpoint_url=self.endpoint_url,
                requester_pays=self.requester_pays,
                version_aware=version_aware,
                client_kwargs=client_kwargs,
                config_kwargs={
                    "retries": {"max_attempts": self.retries, "mode": "standard"},
                    "connect_timeout": self.connect_timeout,
                    "read_timeout": self.read_timeout,
                },
                default_block_size=self.block_size,
                default_cache_type="readahead",
                # fsspec keeps one instance per options and process (clients
                # are costly to build); listings are never cached: a sweep
                # lists once and must see the bucket as it is now.
                use_listings_cache=False,
            )
            # One extra round over botocore's own retries (which cover
            # throttling, 5xx and timeouts), for bodies broken mid-read.
            fs.retries = 2
            self._fs[version_aware] = fs
        return fs

    def _call(self, method: str, **kwargs: Any) -> Any:
        return self.filesystem().call_s3(method, Bucket=self.bucket, **kwargs)

    # -- listing -------------------------------------------------------------
    def items(self) -> Iterator[Item | ErrorRecord]:
        """Every object (or object version) under the URL, page by page."""
        where = Location(uri=self.url)
        exact = self.prefix if self.prefix and not self.prefix.endswith("/") else None
        try:
            bucket_state = self._bucket_state() if self.exposure else None
            for page in self._pages():
                objects = []
                for obj in page:
                    key = obj["Key"]
                    if exact is not None and key != exact and not key.startswith(exact + "/"):
                        continue  # s3://b/data names data and data/..., not data.csv
                    if key.endswith("/") and not obj.get("Size"):
                        continue  # "folder" placeholder objects
                    objects.append(obj)
                acls = self._object_acls(objects, bucket_state) if objects else []
                for obj, acl in zip(objects, acls):
                    yield self._item(obj, bucket_state, acl)
        except (ClientError, BotoCoreError, OSError) as exc:
            yield ErrorRecord(where, _error_kind(exc), f"cannot list {self.url}: {_error_text(exc)}")
        except Exception as exc:  # noqa: BLE001 - an unexpected library error must not end the sweep
            yield ErrorRecord(where, "internal", f"cannot list {self.url}: {type(exc).__name__}")

    def _pages(self) -> Iterator[list[dict[str, Any]]]:
        prefix = self.prefix
        if self.all_versions:
            kwargs: dict[str, Any] = {"Prefix": prefix}
            while True:
                out = self._call("list_object_versions", **kwargs)
                # Delete markers hold no data; the versions before them do.
                yield out.get("Versions", [])
                if not out.get("IsTruncated"):
                    return
                kwargs["KeyMarker"] = out.get("NextKeyMarker", "")
                kwargs["VersionIdMarker"] = out.get("NextVersionIdMarker", "")
        else:
            kwargs = {"Prefix": prefix}
            while True:
                out = self._call("list_objects_v2", **kwargs)
                yield out.get("Contents", [])
                if not out.get("IsTruncated"):
                    return
                kwargs["ContinuationToken"] = out["NextContinuationToken"]

    def _item(self, obj: dict[str, Any], bucket_state: dict[str, Any] | None, acl: Any) -> Item | ErrorRecord:
        key = obj["Key"]
        uri = f"s3://{self.bucket}/{key}"
        version = obj.get("VersionId") if self.all_versions else None
        if version == "null":  # written before versioning was enabled
            version = None if obj.get("IsLatest") else "null"
        etag = str(obj.get("ETag", "")).strip('"') or None
        modified: datetime | None = obj.get("LastModified")
        meta: dict[str, Any] = {
            "etag": etag,
            "size": obj.get("Size"),
            "last_modified": modified.isoformat() if modified else None,
            "storage_class": obj.get("StorageClass", "STANDARD"),
        }
        if self.all_versions:
            meta["version_id"] = obj.get("VersionId")
            meta["is_latest"] = bool(obj.get("IsLatest"))
        if self.endpoint_url:
            meta["endpoint"] = _strip_userinfo(self.endpoint_url)  # absent: AWS itself
        if bucket_state is not None:
            old_version = bool(self.all_versions and version and not obj.get("IsLatest"))
            meta["exposure"], meta["exposure_detail"], readers = _exposure(bucket_state, acl, self.bucket, key,
                                                                           old_version)
            if readers is not None:
                meta["readers"] = readers
        else:
            meta["exposure"] = "unknown"
        if meta["storage_class"] in ARCHIVED:
            return ErrorRecord(Location(uri=uri, version=version), "io",
                               f"object is archived in {meta['storage_class']}; restore it to scan it")
        return Item(
            uri=uri,
            source=self.name,
            size=obj.get("Size"),
            mtime=modified.timestamp() if modified else None,
            ukey=f"{version}:{etag}" if version else etag,
            version=version,
            meta=meta,
        )

    # -- exposure ------------------------------------------------------------
    def _bucket_state(self) -> dict[str, Any]:
        """Bucket-wide facts, each None when the credentials may not read it."""
        state: dict[str, Any] = {"policy_public": None, "policy": None, "block": None, "account_block": None,
                                 "acls_enabled": None}
        try:
            status = self._call("get_bucket_policy_status")
            state["policy_public"] = bool(status.get("PolicyStatus", {}).get("IsPublic"))
        except (ClientError, OSError) as exc:
            if _code(exc) == "NoSuchBucketPolicy":
                state["policy_public"] = False
        try:
            doc = self._call("get_bucket_policy").get("Policy") or "{}"
            try:
                state["policy"] = s3_policy.parse(doc)
            except s3_policy.PolicyError as exc:
                state["policy_error"] = str(exc)
        except (ClientError, OSError) as exc:
            if _code(exc) == "NoSuchBucketPolicy":
                state["policy"] = s3_policy.Policy(())
        try:
            pab = self._call("get_public_access_block")
            state["block"] = dict(pab.get("PublicAccessBlockConfiguration", {}))
        except (ClientError, OSError) as exc:
            if _code(exc) == "NoSuchPublicAccessBlockConfiguration":
                state["block"] = {}
        state["account_block"] = self._account_block()
        try:
            ctl = self._call("get_bucket_ownership_controls")
            rules = ctl.get("OwnershipControls", {}).get("Rules", [])
            state["acls_enabled"] = not any(r.get("ObjectOwnership") == "BucketOwnerEnforced" for r in rules)
        except (ClientError, OSError) as exc:
            if _code(exc) == "OwnershipControlsNotFoundError":
                state["acls_enabled"] = True
        return state

    def _account_block(self) -> dict[str, Any] | None:
        """The scanning account's public-access block (s3control), {} when it has
        none, None when it cannot be read: with anonymous credentials, and at
        a custom endpoint (an S3-compatible store has no s3control; botocore
        addresses it as ``ACCOUNT.host``)."""
        if self.anon or self.endpoint_url:
            return None
        try:
            import botocore.session
            from botocore.config import Config

            session = botocore.session.Session(profile=self.profile)
            config = Config(retries={"max_attempts": 2, "mode": "standard"}, connect_timeout=self.connect_timeout,
                            read_timeout=self.read_timeout)
            region = self.region or session.get_config_variable("region") or "us-east-1"
            account = session.create_client("sts", region_name=region, config=config).get_caller_identity()["Account"]
            ctl = session.create_client("s3control", region_name=region, config=config)
            return dict(ctl.get_public_access_block(AccountId=account).get("PublicAccessBlockConfiguration", {}))
        except ClientError as exc:
            return {} if _code(exc) == "NoSuchPublicAccessBlockConfiguration" else None
        except Exception:  # noqa: BLE001 - no credentials, no network: the account's block stays unknown
            return None

    def _object_acls(self, objects: list[dict[str, Any]], bucket_state: dict[str, Any] | None) -> list[Any]:
        """Object ACL grants per object (None: not needed; an exception: unreadable)."""
        if (
            bucket_state is None
            or bucket_state["acls_enabled"] is False
            or (bucket_state["block"] or {}).get("IgnorePublicAcls")
            or (bucket_state["account_block"] or {}).get("IgnorePublicAcls")
        ):
            return [None] * len(objects)
        fs = self.filesystem()

        async def one(sem: asyncio.Semaphore, obj: dict[str, Any]) -> Any:
            kwargs: dict[str, Any] = {"Bucket": self.bucket, "Key": obj["Key"]}
            if self.all_versions and obj.get("VersionId"):  # "null" too: S3 takes it as an id
                kwargs["VersionId"] = obj["VersionId"]
            async with sem:
                out = await fs._call_s3("get_object_acl", **kwargs)
            owner = (out.get("Owner") or {}).get("ID")
            return [
                (g.get("Grantee", {}).get("URI") or g.get("Grantee", {}).get("ID") or "?", g.get("Permission"))
                for g in out.get("Grants", [])
                if g.get("Grantee", {}).get("ID") is None or g["Grantee"]["ID"] != owner  # the owner always may
            ]

        async def gather() -> list[Any]:
            sem = asyncio.Semaphore(ACL_CONCURRENCY)
            return await asyncio.gather(*(one(sem, o) for o in objects), return_exceptions=True)

        return fsspec.asyn.sync(fs.loop, gather)

    def owns(self, item: Item) -> bool:
        """Whether ``item`` was listed by a source like this one (workers route items by it)."""
        if item.source != self.name or not item.uri.startswith(f"s3://{self.bucket}/"):
            return False
        if item.meta.get("endpoint") != _strip_userinfo(self.endpoint_url):
            return False  # same bucket name, another store
        key = item.uri[len(f"s3://{self.bucket}/"):]
        p = self.prefix
        if not p or p.endswith("/"):
            return key.startswith(p)
        return key == p or key.startswith(p + "/")

    # -- reading -------------------------------------------------------------
    def open(self, item: Item) -> BinaryIO:
        """A seekable stream of the object (version) reading by ranged GETs.

        For a whole item the first block is read here, so a denied or missing
        object fails now, as a ``SourceError`` with the manifest's error kind;
        the block stays cached for the reader. Errors later in the stream
        come up as ``OSError`` (``PermissionError`` for access denied).
        """
        bucket, key = split_uri(item.uri)
        # "null" is a real version id: the object as it was before versioning was enabled.
        version = item.version
        fs = self.filesystem(version_aware=version is not None)
        path = f"{bucket}/{key}"
        try:
            f = fs.open(
                path,
                "rb",
                block_size=self.block_size,
                cache_type="readahead",
                version_id=version,
                size=item.size,
            )
        except (ClientError, BotoCoreError, OSError) as exc:
            raise SourceError(f"cannot open {item.uri}: {_error_text(exc)}", _error_kind(exc)) from None
        if item.byte_range is None and f.size:
            try:
                f.read(1)
                f.seek(0)
            except (ClientError, BotoCoreError, OSError) as exc:
                f.close()
                raise SourceError(f"cannot read {item.uri}: {_error_text(exc)}", _error_kind(exc)) from None
        return f  # type: ignore[no-any-return]


def _exposure(state: dict[str, Any], acl: Any, bucket: str, key: str,
              old_version: bool = False) -> tuple[str, dict[str, Any], list[str] | None]:
    """(verdict, evidence, readers) from the bucket facts, its policy and the object's ACL grants.

    Readers: the principals the bucket policy lets read this object and the
    ACL's grantees (``*`` for AllUsers, ``AuthenticatedUsers``, canonical user
    ids), masked; None when neither could be read. Identity policies of the
    owning account are not read: its own users and roles may read more.
    """
    block = state["block"]
    account_block = state.get("account_block")
    restrict = bool((block or {}).get("RestrictPublicBuckets") or (account_block or {}).get("RestrictPublicBuckets"))
    ignore_acls = bool((block or {}).get("IgnorePublicAcls") or (account_block or {}).get("IgnorePublicAcls"))
    policy = state.get("policy")
    readers: list[str] | None = None
    if isinstance(policy, s3_policy.Policy):
        found = s3_policy.readers(policy, bucket, key, version=old_version)
        policy_public: bool | None = found.public
        readers = list(found.principals)
    else:
        policy_public = state["policy_public"]  # the policy is unreadable: AWS's own verdict, bucket-wide
    if policy_public and restrict:
        # the block confines a public policy to the owner's account and AWS services
        policy_public = False
        readers = [r for r in readers or [] if not r.startswith(s3_policy.EVERYONE)]
    grants: list[str] | None
    if state["acls_enabled"] is False or ignore_acls:
        grants, acl_known = [], True  # ACLs disabled or ignored: they grant nothing
    elif isinstance(acl, list):
        grants, acl_known = [f"{g}:{p}" for g, p in acl], True
    else:
        grants, acl_known = None, False
    everyone = acl_known and any(
        g.startswith(_ALL_USERS) and g.endswith(_READ_PERMS) for g in (grants or [])
    )
    authenticated = acl_known and any(
        g.startswith(_AUTH_USERS) and g.endswith(_READ_PERMS) for g in (grants or [])
    )
    if acl_known and grants:
        readers = readers if readers is not None else []
        for g, p in acl if isinstance(acl, list) else []:
            if p in _READ_PERMS:
                readers.append({_ALL_USERS: s3_policy.EVERYONE, _AUTH_USERS: "AuthenticatedUsers"}.get(g, g))
    if policy_public or everyone:
        verdict = "public"
    elif authenticated:
        verdict = "authenticated"
    elif policy_public is None or not acl_known:
        verdict = "unknown"
    else:
        verdict = "private"
    public_grants = None if grants is None else [g for g in grants if g.startswith((_ALL_USERS, _AUTH_USERS))]
    detail = {
        "bucket_policy_public": state["policy_public"],
        "public_access_block": block,
        "account_public_access_block": account_block,
        "acls_enabled": state["acls_enabled"],
        "public_acl_grants": public_grants,
    }
    if state.get("policy_error"):
        detail["bucket_policy_error"] = state["policy_error"]
    if readers is not None:
        readers = [mask_name(r) for r in dict.fromkeys(readers)]
    return verdict, detail, readers
