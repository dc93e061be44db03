"""The baseline: card-number findings a team has accepted (fixtures, known data).

A baseline file (``.cardscan-baseline.json`` at the repository root, like
detect-secrets' ``.secrets.baseline``) lists accepted findings by **keyed
fingerprint** and path, never by number::

    {
      "version": 2,
      "generated_by": "cardscan 0.1.0",
      "generated_at": "2026-11-28T10:00:00Z",
      "key_id": "pbkdf2:3f1c...",
      "settings": {"min_confidence": 50, "test_cards": false, ...},
      "results": {
        "tests/fixtures/orders.json": [
          {"id": "7c41d0a2e9f3", "fingerprint": "hmac-sha256:...", "kind": "pan",
           "brand": "visa", "masked": "455673******9855", "line": 12,
           "audit": {"label": "test", "by": "alice", "at": "2026-11-29T09:12:00Z"}}
        ]
      }
    }

A finding is *known* when the baseline has an entry with the same path,
fingerprint and kind: moving a line, or re-indenting a file, does not make a
finding new; the same number in another file does. ``new = found - baseline``.
``brand``, ``masked`` and ``line`` are for the humans reviewing the file
(masked numbers show at most the first 6 and last 4 digits, as PCI DSS
allows); they play no part in matching. ``id`` names the entry for people and
for ``cardscan baseline --audit --label ID=...``: the first 12 hex digits of
SHA-256 over path, fingerprint and kind (recomputed on reading, so it cannot
disagree with the entry).

The audit (like detect-secrets' ``audit``): a person labels each accepted
finding ``real``, ``test`` or ``false_positive``, recorded with who and when.
Labels survive ``--update`` for the entries that stay. An entry labelled
``real`` is **not** accepted any more: someone has said the number is a real
card, so the hook and ``cardscan scan --baseline`` report it again until it is
removed.

The key matters. A plain hash of a card number can be brute-forced in minutes
(the issuer prefix and the Luhn digit leave about 10^9 candidates); an HMAC
under a key the reader does not have cannot. So the key must NOT be in the
repository: it lives in ``CARDSCAN_FINGERPRINT_KEY`` in the developers' and
CI's environment, or in a ``--key-file`` outside the repository (mode 0600).
The file records the key's id (a hash of the key, never the key) so a run with
another key is refused with a clear message rather than reporting every
accepted finding as new. Writing a baseline with a random key is refused: its
fingerprints would match nothing in the next run.

Paths are relative to the directory holding the baseline file, with ``/``
separators; members of containers are appended with ``!``
(``fixtures/cards.zip!cards.csv``); findings in git history use the path in
the repository (the commit does not matter: an accepted fixture stays
accepted in every commit that has it).

Versions: ``version`` is the file format; :func:`upgrade` runs one step per
version (``UPGRADES[n]`` turns version ``n`` into ``n + 1``), so an old
baseline keeps working after an upgrade of cardscan. A file written by a newer
cardscan is refused with a message saying so. Version 2 added ``id`` and
``audit``; a version-1 file is read as version 2 with no entry labelled, and
written back as version 2.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterable

from . import __version__, _files
from .display import local_path, relative_path
from .errors import ConfigError
from .findings import Finding, FingerprintKey
from .privacy import mask_name

__all__ = [
    "BASELINE_VERSION", "DEFAULT_NAME", "LABELS", "Audit", "Baseline", "Entry", "BaselineError",
    "finding_path", "upgrade", "UPGRADES", "require_stable_key", "check_key_outside",
    "local_path", "relative_path", "entry_id", "parse_label",
]

BASELINE_VERSION = 2
DEFAULT_NAME = ".cardscan-baseline.json"
#: What an audit may say of an accepted finding.
LABELS = ("real", "test", "false_positive")


def entry_id(path: str, fingerprint: str, kind: str) -> str:
    """The short, stable name of an entry (12 hex digits of SHA-256 over its identity)."""
    h = hashlib.sha256(f"{path}\0{fingerprint}\0{kind}".encode("utf-8", "surrogateescape"))
    return h.hexdigest()[:12]


def parse_label(text: str) -> str:
    """``real``, ``test`` or ``false_positive`` (also ``false-positive``, ``fp``, any case)."""
    t = text.strip().lower().replace("-", "_").replace(" ", "_")
    t = {"fp": "false_positive", "false": "false_positive", "falsepositive": "false_positive"}.get(t, t)
    if t not in LABELS:
        raise BaselineError(f"unknown audit label {text!r}: use one of {', '.join(LABELS)}")
    return t


def _upgrade_1(data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 -> 2: entries get their ``id``; nothing is labelled yet."""
    results = data.get("results")
    if isinstance(results, dict):
        data["results"] = {
            path: [dict(e, id=entry_id(path, e.get("fingerprint", ""), e.get("kind", "")))
                   if isinstance(e, dict) else e for e in items] if isinstance(items, list) else items
            for path, items in results.items()
        }
    data["version"] = 2
    return data


#: ``UPGRADES[n](data)`` turns a version-``n`` baseline dict into version ``n + 1``.
UPGRADES: dict[int, Callable[[dict[str, Any]], dict[str, Any]]] = {1: _upgrade_1}


class BaselineError(ConfigError):
    """A baseline file that cannot be used (unreadable, wrong key, newer format)."""


@dataclass(frozen=True)
class Audit:
    """A person's verdict on an accepted finding."""

    label: str
    by: str
    at: str

    def to_dict(self) -> dict[str, str]:
        return {"label": self.label, "by": self.by, "at": self.at}

    @classmethod
    def from_dict(cls, d: Any, where: str) -> "Audit | None":
        if d is None:
            return None
        if not (isinstance(d, dict) and isinstance(d.get("label"), str)):
            raise BaselineError(f"{where}: an 'audit' needs a 'label'")
        return cls(parse_label(d["label"]), str(d.get("by", "")), str(d.get("at", "")))


@dataclass(frozen=True)
class Entry:
    """One accepted finding. Equality is (path, fingerprint, kind)."""

    path: str
    fingerprint: str
    kind: str
    brand: str = field(default="", compare=False)
    masked: str = field(default="", compare=False)
    line: int | None = field(default=None, compare=False)
    audit: Audit | None = field(default=None, compare=False)

    def identity(self) -> tuple[str, str, str]:
        return (self.path, self.fingerprint, self.kind)

    @property
    def id(self) -> str:
        return entry_id(self.path, self.fingerprint, self.kind)

    @property
    def label(self) -> str | None:
        return self.audit.label if self.audit is not None else None

    def to_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"id": self.id, "fingerprint": self.fingerprint, "kind": self.kind}
        if self.brand:
            d["brand"] = self.brand
        if self.masked:
            d["masked"] = self.masked
        if self.line is not None:
            d["line"] = self.line
        if self.audit is not None:
            d["audit"] = self.audit.to_dict()
        return d


def finding_path(finding: Finding, root: str | os.PathLike[str]) -> str:
    """The baseline path of a finding: relative to ``root`` where it is under it.

    Files: ``dir/file.txt``; outside ``root``: the absolute path; a member of
    a container: ``dir/file.zip!inner.csv``; git history: the path in the
    repository (``obj["path"]`` from the git source), relative to ``root``;
    other stores: the URI (``s3://bucket/key``); SQL cells add ``#table.column``.
    """
    root = Path(os.path.abspath(root))
    loc = finding.location.public()
    obj = finding.obj or {}
    if obj.get("commit") and obj.get("path") and obj.get("repo"):
        text = mask_name(relative_path(os.path.join(obj["repo"], obj["path"]), root))
    else:
        local = local_path(loc.uri)
        text = relative_path(local, root) if local is not None else loc.uri
    if loc.member:
        text = "!".join([text, *loc.member])
    if loc.cell is not None:
        c = loc.cell
        table = f"{c.schema}.{c.table}" if c.schema else c.table
        text += f"#{table}.{c.column}"
    return text


def upgrade(data: dict[str, Any], where: str = "baseline") -> dict[str, Any]:
    """``data`` brought to :data:`BASELINE_VERSION`, one step per version."""
    version = data.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise BaselineError(f"{where}: not a cardscan baseline (no integer 'version')")
    if version > BASELINE_VERSION:
        raise BaselineError(
            f"{where}: baseline format version {version} was written by a newer cardscan "
            f"(this one reads up to {BASELINE_VERSION}); upgrade cardscan"
        )
    while version < BASELINE_VERSION:
        step = UPGRADES.get(version)
        if step is None:
            raise BaselineError(f"{where}: baseline format version {version} is not supported")
        data = step(dict(data))
        if data.get("version") != version + 1:
            raise BaselineError(f"{where}: upgrade step from version {version} did not produce {version + 1}")
        version += 1
    return data


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class Baseline:
    """Accepted findings, matched by (path, fingerprint, kind)."""

    def __init__(
        self,
        entries: Iterable[Entry] = (),
        *,
        key_id: str,
        root: str | os.PathLike[str] = ".",
        settings: dict[str, Any] | None = None,
        generated_at: str | None = None,
        generated_by: str | None = None,
    ) -> None:
        self.root = Path(os.path.abspath(root))
        self.key_id = key_id
        self.settings = dict(settings or {})
        self.generated_at = generated_at or _now()
        if generated_by is None:
            generated_by = f"cardscan {__version__}"
        self.generated_by = generated_by
        self._entries: dict[tuple[str, str, str], Entry] = {}
        for e in entries:
            self._entries.setdefault(e.identity(), e)
        #: The file it was read from (for messages), if any.
        self.path: str | None = None

    # -- building --------------------------------------------------------------
    @classmethod
    def from_findings(
        cls,
        findings: Iterable[Finding],
        key: FingerprintKey,
        root: str | os.PathLike[str] = ".",
        settings: dict[str, Any] | None = None,
    ) -> "Baseline":
        """A baseline accepting ``findings``. Refuses a random key (see module doc)."""
        require_stable_key(key)
        b = cls(key_id=key.key_id, root=root, settings=settings)
        b.add(findings)
        return b

    def entry_for(self, finding: Finding) -> Entry:
        return Entry(
            path=finding_path(finding, self.root),
            fingerprint=finding.fingerprint,
            kind=finding.kind,
            brand=finding.brand,
            masked=finding.masked,
            line=finding.location.line,
        )

    def add(self, findings: Iterable[Finding]) -> int:
        """Accept ``findings``; returns how many were not accepted before."""
        added = 0
        for f in findings:
            e = self.entry_for(f)
            old = self._entries.get(e.identity())
            if old is None:
                added += 1
            elif old.audit is not None:
                e = replace(e, audit=old.audit)  # an audit outlives a rescan
            self._entries[e.identity()] = e  # keep line numbers current
        return added

    def carry_audits(self, other: "Baseline") -> int:
        """Take ``other``'s labels for the entries both hold (a full rescan); returns how many."""
        n = 0
        for k, e in self._entries.items():
            old = other._entries.get(k)
            if old is not None and old.audit is not None and e.audit is None:
                self._entries[k] = replace(e, audit=old.audit)
                n += 1
        return n

    def label(self, entry_id_or_prefix: str, label: str, by: str, at: str | None = None) -> Entry:
        """Record an audit label on one entry (by its id, or a unique prefix of at least 4 digits)."""
        entry = self.find(entry_id_or_prefix)
        new = replace(entry, audit=Audit(parse_label(label), by, at or _now()))
        self._entries[entry.identity()] = new
        return new

    def find(self, entry_id_or_prefix: str) -> Entry:
        want = entry_id_or_prefix.strip().lower()
        if len(want) < 4:
            raise BaselineError(f"entry id {entry_id_or_prefix!r} is too short (give at least 4 of its 12 digits)")
        hits = [e for e in self._entries.values() if e.id.startswith(want)]
        if not hits:
            raise BaselineError(f"no entry with id {entry_id_or_prefix!r} in the baseline")
        if len(hits) > 1:
            raise BaselineError(f"entry id {entry_id_or_prefix!r} is ambiguous ({len(hits)} entries start with it)")
        return hits[0]

    def forget_paths(self, paths: Iterable[str]) -> int:
        """Drop every entry for these baseline paths (a rescanned file); returns how many."""
        wanted = set(paths)
        gone = [k for k, e in self._entries.items() if e.path in wanted or e.path.split("!", 1)[0] in wanted]
        for k in gone:
            del self._entries[k]
        return len(gone)

    # -- matching ----------------------------------------------------------------
    @property
    def entries(self) -> list[Entry]:
        return sorted(self._entries.values(), key=lambda e: (e.path, e.line or 0, e.kind, e.fingerprint))

    def __len__(self) -> int:
        return len(self._entries)

    def __contains__(self, finding: object) -> bool:
        return isinstance(finding, Finding) and self.is_known(finding)

    def is_known(self, finding: Finding) -> bool:
        """Accepted: in the baseline, and not labelled ``real`` by an audit."""
        e = self._entries.get((finding_path(finding, self.root), finding.fingerprint, finding.kind))
        return e is not None and e.label != "real"

    def new(self, findings: Iterable[Finding]) -> list[Finding]:
        """``found - baseline``: the findings the baseline does not accept."""
        return [f for f in findings if not self.is_known(f)]

    def check_key(self, key: FingerprintKey) -> None:
        """Raise unless ``key`` is the key the baseline was written with."""
        if key.has_id(self.key_id):  # its id now, or the unkeyed one of earlier versions
            key.require_strong("a baseline")
            return
        if key.random:
            raise BaselineError(
                "the baseline needs the fingerprint key it was written with, and none is set: "
                "set CARDSCAN_FINGERPRINT_KEY (or --key-file / key-file in [tool.cardscan]) "
                f"to the team's key (key id {self.key_id})"
            )
        where = self.path or DEFAULT_NAME
        raise BaselineError(
            f"the baseline was written with another fingerprint key (key id {self.key_id}, "
            f"this run uses {key.key_id}); use the team's key, or rewrite the baseline under this key "
            f"with 'cardscan baseline --update {where} --force' (its accepted entries cannot be checked "
            "under another key and are dropped; review the findings it accepts again)"
        )

    # -- files -------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        results: dict[str, list[dict[str, Any]]] = {}
        for e in self.entries:
            results.setdefault(e.path, []).append(e.to_dict())
        return {
            "version": BASELINE_VERSION,
            "generated_by": self.generated_by,
            "generated_at": self.generated_at,
            "key_id": self.key_id,
            "settings": self.settings,
            "results": results,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], root: str | os.PathLike[str] = ".", where: str = "baseline") -> "Baseline":
        if not isinstance(data, dict):
            raise BaselineError(f"{where}: not a cardscan baseline (expected a JSON object)")
        data = upgrade(data, where)
        key_id = data.get("key_id")
        results = data.get("results")
        if not isinstance(key_id, str) or not isinstance(results, dict):
            raise BaselineError(f"{where}: not a cardscan baseline (needs 'key_id' and 'results')")
        entries = []
        for path, items in results.items():
            if not isinstance(items, list):
                raise BaselineError(f"{where}: results for {path!r} must be a list")
            for i, d in enumerate(items):
                if not (isinstance(d, dict) and isinstance(d.get("fingerprint"), str) and isinstance(d.get("kind"), str)):
                    raise BaselineError(f"{where}: entry {i} of {path!r} needs 'fingerprint' and 'kind'")
                line = d.get("line")
                entries.append(Entry(
                    path=path,
                    fingerprint=d["fingerprint"],
                    kind=d["kind"],
                    brand=str(d.get("brand", "")),
                    masked=str(d.get("masked", "")),
                    line=line if isinstance(line, int) else None,
                    audit=Audit.from_dict(d.get("audit"), f"{where}: entry {i} of {path!r}"),
                ))
        settings = data.get("settings")
        return cls(
            entries,
            key_id=key_id,
            root=root,
            settings=settings if isinstance(settings, dict) else {},
            generated_at=data.get("generated_at"),
            generated_by=data.get("generated_by"),
        )

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> "Baseline":
        """Read a baseline file; its paths are relative to the file's directory."""
        p = Path(path)
        try:
            with open(p, "rb") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise BaselineError(f"baseline file {p} does not exist (create it with 'cardscan baseline')") from None
        except OSError as exc:
            raise BaselineError(f"cannot read baseline file {p}: {exc.strerror}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise BaselineError(f"{p}: not valid JSON ({type(exc).__name__})") from None
        b = cls.from_dict(data, root=p.resolve().parent, where=str(p))
        b.path = str(path)
        return b

    def write(self, path: str | os.PathLike[str]) -> None:
        """Write the file (mode 0600, replaced atomically, sorted for readable diffs)."""
        p = Path(path)
        text = json.dumps(self.to_dict(), indent=2, sort_keys=False) + "\n"
        try:
            _files.atomic_write(p, text.encode("utf-8"))
        except OSError as exc:
            raise BaselineError(f"cannot write baseline file {p}: {exc.strerror or exc}") from None


def require_stable_key(key: FingerprintKey) -> None:
    """Refuse a random key: a baseline under it would match nothing next time."""
    if key.random:
        raise BaselineError(
            "refusing to write a baseline with a random fingerprint key: its fingerprints would not "
            "match the next run. Set CARDSCAN_FINGERPRINT_KEY in your environment (and CI's), or pass "
            "--key-file PATH with a file outside the repository (mode 0600). Generate a key with: "
            "cardscan keygen PATH"
        )
    key.require_strong("a baseline")


def check_key_outside(key_file: str | os.PathLike[str] | None, repo_root: str | os.PathLike[str]) -> None:
    """Refuse a key file inside the repository: whoever has the repo could test guesses."""
    if not key_file:
        return
    key = Path(os.path.realpath(key_file))
    root = Path(os.path.realpath(repo_root))
    if key == root or root in key.parents:
        raise BaselineError(
            f"the key file {key_file} is inside the repository ({root}); with the key, anyone who can "
            "read the repository can test card numbers against the baseline's fingerprints. "
            "Keep it outside (e.g. ~/.config/cardscan/key) or use CARDSCAN_FINGERPRINT_KEY"
        )
