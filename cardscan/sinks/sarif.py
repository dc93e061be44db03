"""SARIF 2.1.0 output (``--format sarif``) for GitHub code scanning and other CI.

One run, tool driver ``cardscan``, one rule per finding kind:

* ``cardscan/pan``: a payment card number; level ``error`` (``warning`` below
  confidence 70, ``note`` for a published test card);
* ``cardscan/track1``, ``cardscan/track2``: magnetic-stripe track data; always
  ``error`` (storing it is never allowed).

Each result has the masked number, brand, confidence and the reasons in its
message and ``properties`` (also ``fingerprint``, the keyed HMAC, to join with
the manifest), never the number. Locations:

* files under the SARIF root (default: the working directory, so run it from
  the repository root) get a relative ``uri`` with ``uriBaseId``
  ``%SRCROOT%``; others an absolute ``file://`` URI; S3 and SQL locations
  their own URI;
* ``region``: ``startLine``/``startColumn`` (1-based; columns count bytes,
  which equals characters on ASCII lines) and ``byteOffset``/``byteLength``
  (exact bytes, also for non-ASCII text: SARIF's ``charOffset`` counts
  characters, which cardscan does not track);
* a member of a container (``exports.zip`` > ``cards.csv``): the container
  file is the ``artifactLocation`` (what a code-scanning UI can open), the
  member chain is a ``logicalLocation`` (``kind`` ``member``,
  ``fullyQualifiedName`` ``exports.zip!cards.csv``) and ``properties.member``;
  the ``region`` holds the line and column in the member's text (GitHub code
  scanning needs a start line on every result), and the member's byte
  offsets go to ``properties.member_region`` (in the region they would be
  read as the container's). A spreadsheet cell (``Location.ref``) is a second
  ``logicalLocation`` (``book.xlsx!Customers!C2``, kind ``value``),
  ``properties.cell`` and part of the message; a SQL cell's region is its
  line in the value;
* git history findings (``cardscan scan --git-history``): the path in the
  repository, with ``properties.commit``.

Findings a ``cardscan: allow`` comment allows (cardscan/allow.py; the sweep
hands them to :meth:`SarifSink.allowed`) are results with a ``suppressions``
entry of kind ``inSource`` and level ``note``, not errors. (GitHub code
scanning does not act on suppressions itself: docs/pre-commit.md says how to
leave them out of an upload.)

``partialFingerprints["cardscanFinding/v1"]`` is SHA-256 over the keyed
fingerprint, the path and the kind: stable across runs and line moves when the
same fingerprint key is used (set ``CARDSCAN_FINGERPRINT_KEY`` in CI), and
derived from the HMAC only, never from the number.

Errors (files that could not be read) become ``toolExecutionNotifications``
of the run's invocation, and ``executionSuccessful`` is false when there were
any or the scan was interrupted. The document is streamed: results are
written as they arrive, errors at the end.
"""
from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import IO, Any, ClassVar
from urllib.parse import quote

from .. import __version__
from ..display import local_path, relative_path
from ..explain import summary
from ..findings import ErrorRecord, Finding, Location, ref_members
from ..privacy import mask_name
from ..sources.base import Item
from .base import BaseSink, open_report

#: Where OASIS keeps the 2.1.0 schema now (the old ``master/Schemata/`` path is gone).
SARIF_SCHEMA = "https://raw.githubusercontent.com/oasis-tcs/sarif-spec/main/sarif-2.1/schema/sarif-schema-2.1.0.json"
#: The tool's home page for code-scanning UIs (``tool.driver.informationUri``).
INFORMATION_URI = "https://pypi.org/project/cardscan/"
SARIF_VERSION = "2.1.0"
SRCROOT = "%SRCROOT%"
FINGERPRINT_NAME = "cardscanFinding/v1"

#: Below this confidence a PAN result is a warning rather than an error.
ERROR_CONFIDENCE = 70

RULES: list[dict[str, Any]] = [
    {
        "id": "cardscan/pan",
        "name": "PaymentCardNumber",
        "shortDescription": {"text": "Payment card number (PAN) in a file"},
        "fullDescription": {"text": (
            "A number that has a card issuer's prefix and length and passes the Luhn check, "
            "scored by its context (card words, grouping, expiry dates raise confidence; id-like "
            "field names and hex tokens lower it). Card numbers must not be stored in source "
            "code, logs or documents (PCI DSS requirement 3).")},
        "help": {
            "text": (
                "Remove the card number. If it is a test fixture, use a published test card number, "
                "add a 'cardscan: allow' comment on the same line, or accept it in the baseline with "
                "'cardscan baseline --update .cardscan-baseline.json'. If it is a real card number "
                "that was committed, it stays in the git history: report it to your security team."),
            "markdown": (
                "Remove the card number. If it is a **test fixture**:\n\n"
                "* use a published test card number (allowed by the pre-commit hook), or\n"
                "* add `cardscan: allow` in a comment on the same line, or\n"
                "* accept it in the baseline: `cardscan baseline --update .cardscan-baseline.json`.\n\n"
                "A **real** card number that was committed stays in the git history: report it "
                "(`cardscan scan --git-history` finds every copy)."),
        },
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["security", "pci-dss", "sensitive-data"], "precision": "high",
                       "security-severity": "8.0"},
    },
    {
        "id": "cardscan/track1",
        "name": "MagneticStripeTrack1",
        "shortDescription": {"text": "Magnetic-stripe track 1 data"},
        "fullDescription": {"text": (
            "Track 1 data (format B: %B<PAN>^<NAME>^<YYMM><service code>...?) read from a card's "
            "magnetic stripe. Storing it after authorisation is never allowed (PCI DSS 3.3.1).")},
        "help": {"text": "Delete the track data everywhere it is stored and report the incident.",
                 "markdown": "Delete the track data everywhere it is stored and **report the incident**."},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["security", "pci-dss", "sensitive-data"], "precision": "very-high",
                       "security-severity": "9.5"},
    },
    {
        "id": "cardscan/track2",
        "name": "MagneticStripeTrack2",
        "shortDescription": {"text": "Magnetic-stripe track 2 data"},
        "fullDescription": {"text": (
            "Track 2 data (;<PAN>=<YYMM><service code>...?) read from a card's magnetic stripe. "
            "Storing it after authorisation is never allowed (PCI DSS 3.3.1).")},
        "help": {"text": "Delete the track data everywhere it is stored and report the incident.",
                 "markdown": "Delete the track data everywhere it is stored and **report the incident**."},
        "defaultConfiguration": {"level": "error"},
        "properties": {"tags": ["security", "pci-dss", "sensitive-data"], "precision": "very-high",
                       "security-severity": "9.5"},
    },
]
RULE_INDEX = {r["id"]: i for i, r in enumerate(RULES)}


def rule_id(kind: str) -> str:
    return f"cardscan/{kind}"


def level(f: Finding) -> str:
    """SARIF level: track data ``error``; a PAN ``error``, ``warning`` below 70, ``note`` for a test card."""
    if f.kind != "pan":
        return "error"
    if f.test_card:
        return "note"
    return "error" if f.confidence >= ERROR_CONFIDENCE else "warning"


def _file_uri(path: str) -> str:
    return Path(path).as_uri()


def _rel_uri(path: str) -> str:
    """A relative path as a URI reference (percent-encoded, ``/`` separators)."""
    return quote(Path(path).as_posix(), safe="/", errors="surrogateescape")


class SarifSink(BaseSink):
    """Writes one SARIF 2.1.0 log to ``out`` (a text stream or a path, ``-`` = stdout)."""

    name: ClassVar[str] = "sarif"
    #: end_item of an object with no records does nothing here: the sweep may count clean objects in batches.
    wants_clean_items: ClassVar[bool] = False

    def __init__(self, out: IO[str] | str = "-", root: str | os.PathLike[str] | None = None) -> None:
        self._out, self._own = open_report(out)
        self.root = Path(os.path.abspath(root if root is not None else os.getcwd()))
        self._errors: list[ErrorRecord] = []
        self._count = 0
        self._info: dict[str, Any] = {}
        self._begun = False

    # -- the sink protocol ----------------------------------------------------------
    def begin(self, scan_info: dict[str, Any]) -> None:
        self._info = dict(scan_info or {})
        version = str(self._info.get("cardscan_version") or __version__)
        root_uri = self.root.as_uri().rstrip("/") + "/"
        head = {
            "$schema": SARIF_SCHEMA,
            "version": SARIF_VERSION,
        }
        run_head = {
            "tool": {"driver": {
                "name": "cardscan",
                "informationUri": INFORMATION_URI,
                "version": version,
                "semanticVersion": version,
                "rules": RULES,
            }},
            "originalUriBaseIds": {SRCROOT: {"uri": root_uri}},
        }
        text = json.dumps(head)[:-1] + ', "runs": [' + json.dumps(run_head)[:-1] + ', "results": ['
        self._out.write(text)
        self._begun = True

    def finding(self, finding: Finding) -> None:
        self._write(self.result(finding))

    def allowed(self, finding: Finding) -> None:
        """A finding a ``cardscan: allow`` comment allows: a suppressed result (see the module doc)."""
        self._write(self.result(finding, allowed=True))

    def _write(self, result: dict[str, Any]) -> None:
        if not self._begun:
            self.begin({})
        self._out.write(("," if self._count else "") + "\n" + json.dumps(result))
        self._count += 1

    def error(self, error: ErrorRecord) -> None:
        self._errors.append(error)

    def end_item(self, item: Item | None, stats: dict[str, Any]) -> None:
        pass

    def close(self, summary: dict[str, Any]) -> None:
        if not self._begun:
            self.begin({})
        summary = summary or {}
        invocation: dict[str, Any] = {
            "executionSuccessful": not self._errors and summary.get("status", "complete") != "interrupted",
            "toolExecutionNotifications": [self.notification(e) for e in self._errors],
        }
        if self._info.get("started"):
            invocation["startTimeUtc"] = self._info["started"]
        if summary.get("finished"):
            invocation["endTimeUtc"] = summary["finished"]
        props = {k: summary[k] for k in ("status", "findings", "errors", "objects_scanned", "bytes_scanned")
                 if k in summary}
        if props:
            invocation["properties"] = props
        run_props: dict[str, Any] = {}
        if self._info.get("key_id"):
            run_props["key_id"] = self._info["key_id"]
        if self._info.get("key_source"):
            run_props["key_source"] = self._info["key_source"]
        tail = "\n], " + '"invocations": ' + json.dumps([invocation])
        if run_props:
            tail += ', "properties": ' + json.dumps(run_props)
        tail += "}]}\n"
        self._out.write(tail)
        self._out.flush()
        if self._own:
            self._out.close()

    # -- building blocks ------------------------------------------------------------
    def artifact(self, loc: Location, obj: dict[str, Any] | None = None) -> tuple[dict[str, Any], str]:
        """(artifactLocation, path used for fingerprints) for a location."""
        obj, loc = obj or {}, loc.public()
        if obj.get("commit") and obj.get("path") and obj.get("repo"):
            path = mask_name(os.path.join(obj["repo"], obj["path"]))
        else:
            path = local_path(loc.uri)  # type: ignore[assignment]
        if path is None:
            return {"uri": loc.uri}, loc.uri
        rel = relative_path(path, self.root)
        if rel.startswith("/") or (len(rel) > 1 and rel[1] == ":"):
            return {"uri": _file_uri(path)}, rel
        return {"uri": _rel_uri(rel), "uriBaseId": SRCROOT}, rel

    def result(self, f: Finding, allowed: bool = False) -> dict[str, Any]:
        loc = f.location.public()  # member names may hold card numbers too
        artifact, path = self.artifact(loc, f.obj)
        physical: dict[str, Any] = {"artifactLocation": artifact}
        region = _region(loc)
        location: dict[str, Any] = {"physicalLocation": physical}
        properties: dict[str, Any] = {
            "brand": f.brand,
            "masked": f.masked,
            "confidence": f.confidence,
            "test_card": f.test_card,
            "reasons": list(f.reasons),
            "severity": f.severity,
            "encoding": f.encoding,
            "fingerprint": f.fingerprint,
        }
        where = path
        if loc.member:
            where = "!".join([path, *loc.member])
            location["logicalLocations"] = [{"fullyQualifiedName": where, "name": loc.member[-1], "kind": "member"}]
            properties["member"] = list(loc.member)
            if loc.ref:  # a spreadsheet cell: where a person looks
                properties["cell"] = loc.ref
                location["logicalLocations"].append({
                    "fullyQualifiedName": "!".join([path, *ref_members(loc.member, loc.ref), loc.ref]),
                    "name": loc.ref, "kind": "value"})
            if region:
                properties["member_region"] = region
            # The position in the member's text, on the container a code-scanning
            # UI can open (its byte offsets would be read as the container's).
            physical["region"] = _text_region(region)
        elif loc.cell is not None:
            c = loc.cell
            table = f"{c.schema}.{c.table}" if c.schema else c.table
            keys = ",".join(f"{k}={v}" for k, v in c.row_key)
            location["logicalLocations"] = [{"fullyQualifiedName": f"{table}.{c.column}[{keys}]",
                                             "name": c.column, "kind": "value"}]
            where = f"{path}#{table}.{c.column}"
            if region:
                properties["value_region"] = region
            physical["region"] = _text_region(region)
        elif region:
            physical["region"] = region
        if loc.dump is not None:  # a value in a dump file: the region is the file's, this says whose value
            properties["dump"] = loc.dump.to_dict()
            location.setdefault("logicalLocations", []).append(
                {"fullyQualifiedName": loc.dump.display(), "name": loc.dump.column or "", "kind": "value"})
        if loc.version:
            properties["version"] = loc.version
        obj = f.obj or {}
        if obj.get("commit"):
            properties["commit"] = obj["commit"]
        h = hashlib.sha256()
        for part in ("cardscan-sarif-v1", f.fingerprint, where, f.kind):
            h.update(part.encode("utf-8", "surrogateescape"))
            h.update(b"\x00")
        result: dict[str, Any] = {
            "ruleId": rule_id(f.kind),
            "ruleIndex": RULE_INDEX.get(rule_id(f.kind), -1),
            "kind": "fail",
            "level": "note" if allowed else level(f),
            "message": {"text": summary(f) + (f". In {loc.ref}." if loc.ref else ".")},
            "locations": [location],
            "partialFingerprints": {FINGERPRINT_NAME: h.hexdigest()},
            "properties": properties,
        }
        if allowed:
            properties["allowed"] = True
            result["suppressions"] = [{"kind": "inSource", "justification": ALLOW_JUSTIFICATION}]
        return result

    def notification(self, e: ErrorRecord) -> dict[str, Any]:
        loc = e.location.public()
        artifact, path = self.artifact(loc)
        where = "!".join([path, *loc.member]) if loc.member else path
        n: dict[str, Any] = {
            "level": "error",
            "message": {"text": f"{where}: not scanned ({e.kind}): {e.message}"},
            "descriptor": {"id": f"cardscan/error/{e.kind}"},
            "locations": [{"physicalLocation": {"artifactLocation": artifact}}],
            "properties": {"kind": e.kind},
        }
        if e.limit:
            n["properties"]["limit"] = e.limit
        return n


#: Why an allowed finding is suppressed (the comment is in the source: cardscan/allow.py).
ALLOW_JUSTIFICATION = "a 'cardscan: allow' comment on the line (or 'cardscan: allow-next-line' on the line before)"


def _text_region(region: dict[str, Any]) -> dict[str, Any]:
    """The line and column of ``region`` alone; line 1 when it has none (code
    scanning needs a start line on every result)."""
    out: dict[str, Any] = {k: region[k] for k in ("startLine", "startColumn") if k in region}
    return out or {"startLine": 1}


def _region(loc: Location) -> dict[str, Any]:
    r: dict[str, Any] = {}
    if loc.line is not None and loc.line >= 1:
        r["startLine"] = loc.line
        if loc.column is not None and loc.column >= 1:
            r["startColumn"] = loc.column
    if loc.offset is not None and loc.offset >= 0:
        r["byteOffset"] = loc.offset
        if loc.length is not None and loc.length >= 0:
            r["byteLength"] = loc.length
    return r
