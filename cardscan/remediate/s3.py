"""S3 objects: redact by writing the object again, quarantine to another bucket/prefix, delete.

Identity: the object is fetched again (pinned to the version HEAD returned,
and conditional on its ETag) and its SHA-256 compared with the manifest's,
or with what an earlier cardscan run of this journal wrote; without a
recorded digest the ETag (and version id) must match. Then each finding is
checked by fingerprint, as for files.

* redact: the masked content is PUT to the same key with the original
  content type, encoding, disposition, language, cache control, user
  metadata, tags, storage class and server-side encryption settings, and
  ``If-Match`` on the ETag that was verified (a concurrent writer makes the
  PUT fail: ``stale``, nothing overwritten). Object ACL grants (where ACLs
  are in use) are sent with the same PUT. In a versioned bucket this creates a
  new version and the scanned version still holds the card:
  ``--purge-versions`` deletes that version once the new one is written
  (without it, the result says so). A finding in a non-current version
  (scanned with ``--all-versions``) cannot be rewritten: ``unsupported``;
  delete that version with ``--action delete``.
* quarantine (``--quarantine-to s3://bucket/prefix/``): server-side copy to
  ``prefix/<source bucket>/<key>`` (metadata and tags copied), then the
  original is deleted (``--purge-versions``: that very version, for good)
  and a tombstone object ``<key>.cardscan-quarantined.txt`` is written.
* delete: the object (or, for a finding pinned to a version, that version)
  is deleted; a tombstone ``<key>.cardscan-deleted.txt`` is written when the
  current object went away.

Objects are rewritten in memory (``--max-rewrite-size``).
"""
from __future__ import annotations

import os
from typing import Any, ClassVar
from urllib.parse import quote

from ..errors import CardscanError, ConfigError, MissingDependency
from ..findings import Finding
from ..privacy import safe_message
from ..sources.s3 import _strip_userinfo, split_uri
from .base import (
    NOTE_SUFFIX,
    Context,
    Result,
    note_body,
    object_id,
    parse_note,
    results,
    safe_display,
)
from .containers import Rewriter, Unsupported, tree
from .files import Digests, _spec, specs_of

NOTE = NOTE_SUFFIX
#: HEAD fields carried over to the rewritten object (PutObject parameter names).
_CARRY = ("ContentType", "ContentEncoding", "ContentDisposition", "ContentLanguage", "CacheControl", "Expires",
          "WebsiteRedirectLocation", "ServerSideEncryption", "SSEKMSKeyId", "BucketKeyEnabled")


def _code(exc: BaseException) -> str:
    resp = getattr(exc, "response", None) or {}
    return str(resp.get("Error", {}).get("Code", ""))


def _text(exc: BaseException) -> str:
    """What went wrong, in words that hold no bucket, key or URL.

    A service error gives its code and message (the message through
    privacy.safe_message: a server may quote the key); anything else
    (botocore's connection errors quote the request URL, with the real key)
    is named by its kind only.
    """
    resp = getattr(exc, "response", None)
    if resp:
        err = resp.get("Error", {})
        return f"{err.get('Code') or 'error'}: {safe_message(str(err.get('Message') or ''))}".strip()
    name = type(exc).__name__
    for kinds, words in _KINDS:
        if name in kinds:
            return f"{words} ({name})"
    return name


def _older_words(older: list[str], o: dict[str, Any]) -> str:
    n = len(older)
    what = f"{n} older version{'s' if n > 1 else ''} of this object exist{'s' if n == 1 else ''}"
    if o.get("all_versions"):
        return (f"{what}: the scan read them (--all-versions), so their findings are in this manifest; "
                "remove them with --action delete --yes-delete-files")
    return (f"{what} and may hold card numbers too: scan the bucket with --all-versions to find them, then "
            "remove them with --action delete --yes-delete-files")


#: botocore exceptions that quote the request (URL, bucket, key), by what they mean.
_KINDS = (
    (("EndpointConnectionError", "ConnectionClosedError", "ConnectTimeoutError", "ProxyConnectionError",
      "SSLError", "HTTPClientError", "ConnectionError"), "cannot connect to the S3 endpoint"),
    (("ReadTimeoutError",), "the S3 endpoint did not answer in time"),
    (("NoCredentialsError", "PartialCredentialsError", "CredentialRetrievalError"), "no usable AWS credentials"),
    (("ParamValidationError",), "the request was refused by the client library"),
)


_MISSING = {"404", "NoSuchKey", "NoSuchVersion", "NotFound"}


class S3Remediator:
    """``s3://bucket/key`` locations (S3 and S3-compatible stores)."""

    name: ClassVar[str] = "s3"

    def __init__(self) -> None:
        self._clients: dict[tuple[Any, ...], Any] = {}

    @staticmethod
    def group_key(f: Finding) -> tuple[str, str | None]:
        return (f.location.uri, f.location.version)

    # -- clients -------------------------------------------------------------------
    def _options(self, f: Finding, ctx: Context) -> dict[str, Any]:
        """The S3 source options the scan used for this object (endpoint, region, profile ...)."""
        bucket, key = split_uri(f.location.uri)
        best: dict[str, Any] = {}
        for scan in ctx.options.scan_records:
            for src in scan.get("sources", []):
                url = str(src.get("url", ""))
                if src.get("name") == "s3" and url.startswith(f"s3://{bucket}"):
                    best = dict(src.get("options") or {})
        endpoint = ctx.options.endpoint_url or f.obj.get("endpoint") or best.get("endpoint_url") \
            or os.environ.get("AWS_ENDPOINT_URL_S3") or os.environ.get("AWS_ENDPOINT_URL")
        return {"endpoint_url": endpoint, "region": best.get("region"), "profile": best.get("profile"),
                "anon": bool(best.get("anon")), "requester_pays": bool(best.get("requester_pays")),
                "all_versions": bool(best.get("all_versions"))}

    def client(self, f: Finding, ctx: Context) -> tuple[Any, dict[str, Any]]:
        try:  # the s3 extra: only S3 locations need it
            import botocore.session
            from botocore.config import Config
        except ImportError:
            raise MissingDependency("S3 remediation needs botocore: pip install 'cardscan[s3]'") from None
        o = self._options(f, ctx)
        k = (o["endpoint_url"], o["region"], o["profile"], o["anon"])
        c = self._clients.get(k)
        if c is None:
            session = botocore.session.Session(profile=o["profile"]) if o["profile"] else botocore.session.get_session()
            region = o["region"] or session.get_config_variable("region") or "us-east-1"
            # AWS_MAX_ATTEMPTS (the SDKs' own variable) overrides the default of 5.
            attempts = int(os.environ.get("AWS_MAX_ATTEMPTS") or 5)
            cfg: dict[str, Any] = {"retries": {"max_attempts": max(1, attempts), "mode": "standard"}}
            if o["anon"]:
                from botocore import UNSIGNED

                cfg["signature_version"] = UNSIGNED
            c = session.create_client("s3", endpoint_url=o["endpoint_url"], region_name=region, config=Config(**cfg))
            self._clients[k] = c
        extra = {"RequestPayer": "requester"} if o["requester_pays"] else {}
        return c, {**o, "extra": extra}

    # -- the protocol ----------------------------------------------------------------
    def remediate(self, findings: list[Finding], ctx: Context) -> list[Result]:
        action = ctx.options.action
        try:
            c, o = self.client(findings[0], ctx)
            if action == "redact":
                return self._redact(c, o, findings, ctx)
            return self._remove(c, o, findings, ctx)
        except CardscanError as exc:
            return results(findings, action, "error", safe_message(exc))
        except Exception as exc:  # botocore errors: ClientError, EndpointConnectionError ...
            if type(exc).__module__.startswith(("botocore", "urllib3")):
                return results(findings, action, "error", f"S3: {_text(exc)}")
            raise

    # -- redact ----------------------------------------------------------------------
    def _redact(self, c: Any, o: dict[str, Any], findings: list[Finding], ctx: Context) -> list[Result]:
        f0 = findings[0]
        uri = f0.location.uri
        bucket, key = split_uri(uri)
        oid = object_id(ctx.key, "s3", _strip_userinfo(o["endpoint_url"]), uri)
        opts = ctx.options
        extra = o["extra"]
        try:
            head = c.head_object(Bucket=bucket, Key=key, **extra)
        except Exception as exc:
            if _code(exc) in _MISSING:
                return self._gone(c, bucket, key, findings, "redact", extra)
            raise
        current_version = head.get("VersionId")
        recorded_version = f0.location.version
        size = int(head.get("ContentLength") or 0)
        if size > opts.max_rewrite_bytes:
            return results(findings, "redact", "unsupported",
                           f"the object is bigger than --max-rewrite-size ({opts.max_rewrite_bytes} bytes)")
        get_args: dict[str, Any] = {"Bucket": bucket, "Key": key, "IfMatch": head["ETag"], **extra}
        if current_version and current_version != "null":
            get_args["VersionId"] = current_version
        body = c.get_object(**get_args)["Body"].read()
        specs = specs_of(findings)
        d = Digests(specs)
        d.update(body)
        current = d.result()
        etag = str(head.get("ETag", "")).strip('"')
        rw = Rewriter(ctx.key, opts.keep_last, opts.max_rewrite_bytes)
        node = tree(findings)
        try:
            new = rw.rewrite(body, key.rsplit("/", 1)[-1], node)
        except Unsupported as exc:
            rw.mark_all(node, "unsupported", str(exc))
            new = None
        out: list[Result] = []
        for f in findings:
            cur = current[_spec(f.obj)]
            recorded = f.obj.get("sha256")
            if recorded:
                ident = ctx.identity(oid, recorded, cur)
            else:
                ident = "same" if f.obj.get("etag") and f.obj.get("etag") == etag else "changed"
            not_current = bool(recorded_version) and recorded_version != "null" and recorded_version != current_version
            if ident == "same" and not_current:
                ident = "changed"
            st, why = rw.states.get(f.id, ("other", "not found at the recorded location"))
            if st == "masked":
                out.append(Result(f, "redact", "already_remediated", "the card number there is masked already",
                                  before_sha256=cur))
            elif st == "unsupported":
                out.append(Result(f, "redact", "unsupported", why, before_sha256=cur))
            elif ident == "changed" and not_current:
                out.append(Result(f, "redact", "unsupported",
                                  f"the card is in a non-current version ({recorded_version}), which cannot be "
                                  "rewritten; delete that version with --action delete --yes-delete-files",
                                  before_sha256=cur))
            elif st == "other":
                out.append(Result(f, "redact", "stale", why, before_sha256=cur))
            elif ident == "changed":
                out.append(Result(f, "redact", "stale", "the object changed since the scan; rescan it",
                                  before_sha256=cur))
            else:
                out.append(Result(f, "redact", "planned", before_sha256=cur))
        changing = [r for r in out if r.status == "planned"]
        if changing and not ctx.apply:
            # What a rewrite leaves behind in a versioned bucket, said before it is done.
            note = self._versions_note(c, bucket, key, current_version, o, ctx, "redact")
            for r in changing:
                r.message = note
        if not changing or not ctx.apply or new is None:
            return out
        spec = _spec(f0.obj)
        before = current[spec]
        nd = Digests({spec})
        nd.update(new)
        after = nd.result()[spec]
        ctx.begin(oid, safe_display(f0), findings, before_sha256=before, version=current_version)
        put: dict[str, Any] = {k: head[k] for k in _CARRY if head.get(k) is not None}
        if head.get("Metadata"):
            put["Metadata"] = head["Metadata"]
        if head.get("StorageClass"):
            put["StorageClass"] = head["StorageClass"]
        tags = self._tags(c, bucket, key, current_version, extra)
        if tags:
            put["Tagging"] = tags
        acl = self._acl(c, bucket, key, current_version, extra)
        ctx.prepared(oid, before_sha256=before, after_sha256=after)
        ctx.checkpoint("before_rename")
        notes = []
        try:
            try:
                # The grants go with the PUT: the new content is never readable more (or less) widely.
                resp = c.put_object(Bucket=bucket, Key=key, Body=new, IfMatch=head["ETag"], **put, **(acl or {}), **extra)
            except Exception as exc:
                if not acl or _code(exc) not in ("AccessControlListNotSupported", "AccessDenied", "InvalidArgument"):
                    raise
                resp = c.put_object(Bucket=bucket, Key=key, Body=new, IfMatch=head["ETag"], **put, **extra)
                notes.append(f"ACL not copied ({_code(exc)})")
        except Exception as exc:
            if _code(exc) in ("PreconditionFailed", "412", "ConditionalRequestConflict"):
                ctx.end(oid, "stale")
                return results(findings, "redact", "stale", "the object changed while it was being remediated; nothing was changed")
            raise
        ctx.checkpoint("after_rename")
        new_version = resp.get("VersionId")
        detail: dict[str, Any] = {"etag": str(resp.get("ETag", "")).strip('"')}
        if new_version:
            detail["version"] = new_version
        if new_version and current_version and current_version != "null":
            if opts.purge_versions:
                c.delete_object(Bucket=bucket, Key=key, VersionId=current_version, **extra)
                notes.append(f"the previous version {current_version} was deleted")
                detail["purged_version"] = current_version
            else:
                notes.append(f"the previous version {current_version} still holds the card number "
                             "(--purge-versions deletes it)")
            older = self._older(c, bucket, key, {current_version, new_version}, extra)
            if older:
                notes.append(_older_words(older, o))
        ctx.end(oid, "done", before_sha256=before, after_sha256=after, **detail)
        for r in changing:
            r.status = "done"
            r.after_sha256 = after
            r.detail = dict(detail)
            r.message = "; ".join(notes)
        return out

    def _tags(self, c: Any, bucket: str, key: str, version: str | None, extra: dict[str, Any]) -> str | None:
        args: dict[str, Any] = {"Bucket": bucket, "Key": key, **extra}
        if version and version != "null":
            args["VersionId"] = version
        try:
            tagset = c.get_object_tagging(**args).get("TagSet", [])
        except Exception as exc:
            raise ConfigError(f"cannot read the object's tags to keep them ({_text(exc)}); nothing was changed") from None
        return "&".join(f"{quote(t['Key'], safe='')}={quote(t['Value'], safe='')}" for t in tagset) or None

    def _acl(self, c: Any, bucket: str, key: str, version: str | None, extra: dict[str, Any]) -> dict[str, str] | None:
        """The object's ACL as PutObject grant parameters (None: the default ACL, or ACLs not readable)."""
        args: dict[str, Any] = {"Bucket": bucket, "Key": key, **extra}
        if version and version != "null":
            args["VersionId"] = version
        try:
            acl = c.get_object_acl(**args)
        except Exception:
            return None  # ACLs disabled or not readable: the bucket's policy governs access
        grants = acl.get("Grants", [])
        owner = (acl.get("Owner") or {}).get("ID")
        # Only the owner's full control: the default the PUT gives anyway.
        if all(g.get("Grantee", {}).get("ID") == owner for g in grants):
            return None
        params: dict[str, list[str]] = {}
        names = {"FULL_CONTROL": "GrantFullControl", "READ": "GrantRead", "READ_ACP": "GrantReadACP",
                 "WRITE_ACP": "GrantWriteACP"}
        for g in grants:
            who = g.get("Grantee", {})
            name = names.get(g.get("Permission", ""))
            if name is None:
                continue
            if who.get("ID"):
                params.setdefault(name, []).append(f'id="{who["ID"]}"')
            elif who.get("URI"):
                params.setdefault(name, []).append(f'uri="{who["URI"]}"')
            elif who.get("EmailAddress"):
                params.setdefault(name, []).append(f'emailAddress="{who["EmailAddress"]}"')
        return {k: ", ".join(v) for k, v in params.items()}

    # -- quarantine and delete -------------------------------------------------------------
    def _remove(self, c: Any, o: dict[str, Any], findings: list[Finding], ctx: Context) -> list[Result]:
        action = ctx.options.action
        f0 = findings[0]
        uri = f0.location.uri
        bucket, key = split_uri(uri)
        oid = object_id(ctx.key, "s3", _strip_userinfo(o["endpoint_url"]), uri)
        extra = o["extra"]
        version = f0.location.version if f0.location.version not in (None, "null") else None
        dest_bucket = dest_key = None
        if action == "quarantine":
            q = ctx.options.quarantine_to or ""
            if not q.startswith("s3://"):
                return results(findings, action, "unsupported",
                               "S3 objects are quarantined to another bucket or prefix: --quarantine-to s3://BUCKET/PREFIX/")
            dest_bucket, prefix = split_uri(q)
            if prefix and not prefix.endswith("/"):
                prefix += "/"
            dest_key = f"{prefix}{bucket}/{key}"
        head_args: dict[str, Any] = {"Bucket": bucket, "Key": key, **extra}
        if version:
            head_args["VersionId"] = version
        try:
            head = c.head_object(**head_args)
        except Exception as exc:
            if _code(exc) not in _MISSING and _code(exc) != "405":
                raise
            gone = self._gone(c, bucket, key, findings, action, extra)
            if gone[0].status == "stale" and version and action == "delete":
                return results(findings, action, "already_remediated", "that version no longer exists")
            return gone
        etag = str(head.get("ETag", "")).strip('"')
        current_version = head.get("VersionId")
        if not all(f.obj.get("etag") == etag for f in findings):
            # Not the ETag listed at scan time: the content decides (it may be what
            # an earlier cardscan run wrote, e.g. a redaction before this quarantine).
            if not all(f.obj.get("sha256") for f in findings):
                return results(findings, action, "stale", "the object changed since the scan (ETag differs); rescan it")
            body = c.get_object(**{**head_args, "IfMatch": head["ETag"]})["Body"].read()
            d = Digests(specs_of(findings))
            d.update(body)
            current = d.result()
            if any(ctx.identity(oid, f.obj["sha256"], current[_spec(f.obj)]) == "changed" for f in findings):
                return results(findings, action, "stale", "the object changed since the scan (sha256 differs); rescan it")
        dest = f"s3://{dest_bucket}/{dest_key}" if dest_bucket else None
        if not ctx.apply:
            note = "" if version else self._versions_note(c, bucket, key, current_version, o, ctx, action)
            return results(findings, action, "planned", note, destination=dest)
        ctx.begin(oid, safe_display(f0), findings, destination=dest, version=current_version)
        detail: dict[str, Any] = {}
        if dest_bucket:
            src: dict[str, Any] = {"Bucket": bucket, "Key": key}
            if current_version and current_version != "null":
                src["VersionId"] = current_version
            resp = c.copy_object(Bucket=dest_bucket, Key=dest_key, CopySource=src, MetadataDirective="COPY",
                                 TaggingDirective="COPY", CopySourceIfMatch=head["ETag"], **extra)
            if resp.get("VersionId"):
                detail["quarantine_version"] = resp["VersionId"]
        ctx.checkpoint("before_rename")
        notes = []
        versioned = bool(current_version) and current_version != "null"
        if version or (versioned and ctx.options.purge_versions):
            c.delete_object(Bucket=bucket, Key=key, VersionId=version or current_version, **extra)
            detail["deleted_version"] = version or current_version
        else:
            c.delete_object(Bucket=bucket, Key=key, **extra)
            if versioned:
                notes.append(f"a delete marker hides it; version {current_version} still holds the card "
                             "(--purge-versions deletes it)")
        ctx.checkpoint("after_rename")
        if not self._exists(c, bucket, key, extra):
            self._write_note(c, bucket, key, action, findings, dest, ctx, extra)
        ctx.end(oid, "done", destination=dest, **detail)
        return results(findings, action, "done", "; ".join(notes), destination=dest, detail=detail)

    def _gone(self, c: Any, bucket: str, key: str, findings: list[Finding], action: str,
              extra: dict[str, Any]) -> list[Result]:
        """The object is gone: quarantined or deleted by cardscan earlier (its tombstone says so), or stale."""
        ids = {f.id for f in findings}
        for done in ("quarantine", "delete"):
            note = self._note(c, bucket, key, done, extra)
            if note is not None and ids <= note["ids"]:
                return results(findings, action, "already_remediated",
                               f"{'quarantined' if done == 'quarantine' else 'deleted'} earlier",
                               destination=note.get("destination"))
        return results(findings, action, "stale", "the object no longer exists")

    def _versions_note(self, c: Any, bucket: str, key: str, current: str | None, o: dict[str, Any], ctx: Context,
                       action: str) -> str:
        """For a dry run in a versioned bucket: the versions that will still hold card numbers."""
        if not current or current == "null":
            return ""
        purge = ctx.options.purge_versions
        if action == "redact":
            words = (f"--purge-versions: the scanned version {current} will be deleted once the new one is written"
                     if purge else f"the bucket keeps versions: the scanned version {current} will still hold the "
                     "card after the rewrite (--purge-versions deletes it)")
        else:
            words = (f"--purge-versions: version {current} will be deleted for good" if purge else
                     f"the bucket keeps versions: a delete marker will hide the object and version {current} will "
                     "still hold the card (--purge-versions deletes it)")
        older = self._older(c, bucket, key, {current}, o["extra"])
        return words + ("; " + _older_words(older, o) if older else "")

    def _older(self, c: Any, bucket: str, key: str, skip: set[str | None], extra: dict[str, Any]) -> list[str]:
        """Ids of the object's other versions (not delete markers), oldest last; [] if they cannot be listed."""
        out: list[str] = []
        try:
            pages = c.get_paginator("list_object_versions").paginate(Bucket=bucket, Prefix=key, **extra)
            for page in pages:
                for v in page.get("Versions", []):
                    if v.get("Key") == key and v.get("VersionId") not in skip:
                        out.append(str(v.get("VersionId")))
                if len(out) >= 1000:
                    break
        except Exception:  # noqa: BLE001 - s3:ListBucketVersions denied: nothing to add
            return []
        return out

    def _exists(self, c: Any, bucket: str, key: str, extra: dict[str, Any]) -> bool:
        try:
            c.head_object(Bucket=bucket, Key=key, **extra)
            return True
        except Exception as exc:
            if _code(exc) in _MISSING or _code(exc) == "405":
                return False
            raise

    def _write_note(self, c: Any, bucket: str, key: str, action: str, findings: list[Finding], dest: str | None,
                    ctx: Context, extra: dict[str, Any]) -> None:
        body = note_body("object", action, findings, dest, ctx)
        c.put_object(Bucket=bucket, Key=key + NOTE[action], Body=body, ContentType="text/plain; charset=utf-8", **extra)

    def _note(self, c: Any, bucket: str, key: str, action: str, extra: dict[str, Any]) -> dict[str, Any] | None:
        try:
            text = c.get_object(Bucket=bucket, Key=key + NOTE[action], **extra)["Body"].read(1 << 20).decode("utf-8", "replace")
        except Exception:
            return None
        return parse_note(text)

    # -- --verify -------------------------------------------------------------------------
    def rescan(self, findings: list[Finding], ctx: Context) -> list[Finding]:
        from ..sources.base import Item
        from .files import rescan_items

        c, o = self.client(findings[0], ctx)
        bucket, key = split_uri(findings[0].location.uri)
        if not self._exists(c, bucket, key, o["extra"]):
            return []
        endpoint = _strip_userinfo(o["endpoint_url"])
        meta = {"endpoint": endpoint} if endpoint else {}
        spec = {"name": "s3", "url": findings[0].location.uri,
                "options": {"endpoint_url": o["endpoint_url"], "region": o["region"], "profile": o["profile"],
                            "anon": o["anon"], "requester_pays": o["requester_pays"], "exposure": False}}
        return rescan_items([Item(uri=findings[0].location.uri, source="s3", meta=meta)], [spec], ctx)
