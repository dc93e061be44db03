"""Who did read it: join access logs with a manifest's card-holding objects.

``cardscan access MANIFEST --s3-access-logs ... --cloudtrail ... --pgaudit ...``
reads S3 server access logs, CloudTrail data events and PostgreSQL pgAudit
entries, streams them in constant memory, and writes, for each object that
holds card numbers, who read it (principal, source address, times) after the
object last changed. Local files get their atime, with how far the mount
lets it be trusted. docs/access.md describes the command, docs/manifest.md
the records ("Access records").

Modules: ``logfiles`` (list and stream log files, gzip), ``s3log``,
``cloudtrail``, ``pgaudit`` (one parser per format, each making
``events.Event``), ``objects`` (the manifest's card objects), ``atime``
(local files), ``join`` (the two passes and the records).
"""
from __future__ import annotations

from .join import ACCESS_SCHEMA_VERSION, Options, run

RECORD_TYPES = ("access_scan", "access", "access_object", "error", "access_summary")

__all__ = ["ACCESS_SCHEMA_VERSION", "Options", "RECORD_TYPES", "run"]
