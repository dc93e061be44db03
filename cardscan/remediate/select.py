"""Which findings of a manifest to remediate (``--select``, ``--brand`` ...).

A team remediates in reviewed batches: first the high-confidence Visa
findings under ``/srv/share/hr``, then the next batch. Every criterion given
must hold (AND); a criterion given several times matches any of its values
(OR): ``--brand visa --brand mastercard``.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass, field
from typing import Iterable

from ..errors import ConfigError
from ..findings import KINDS, Finding, Location
from ..sources.fs import uri_to_path

#: ``--select KEY=VALUE`` keys.
KEYS = ("brand", "kind", "min_confidence", "path", "exclude_path", "test_card", "ids", "id")


@dataclass
class Selection:
    brands: set[str] | None = None
    kinds: set[str] | None = None
    min_confidence: int | None = None
    #: Globs (fnmatch: ``*`` also crosses ``/``) on the object's path or URL.
    paths: list[str] = field(default_factory=list)
    exclude_paths: list[str] = field(default_factory=list)
    #: True: only published test cards; False: no test cards; None: both.
    test_card: bool | None = None
    ids: set[str] | None = None

    def __call__(self, f: Finding) -> bool:
        if self.ids is not None and f.id not in self.ids:
            return False
        if self.brands is not None and f.brand.lower() not in self.brands:
            return False
        if self.kinds is not None and f.kind not in self.kinds:
            return False
        if self.min_confidence is not None and f.confidence < self.min_confidence:
            return False
        if self.test_card is not None and f.test_card != self.test_card:
            return False
        if self.paths or self.exclude_paths:
            names = target_names(f)
            if self.paths and not any(fnmatch.fnmatchcase(n, p) for n in names for p in self.paths):
                return False
            if any(fnmatch.fnmatchcase(n, p) for n in names for p in self.exclude_paths):
                return False
        return True

    def describe(self) -> dict[str, object]:
        out: dict[str, object] = {}
        for name in ("brands", "kinds", "min_confidence", "paths", "exclude_paths", "test_card"):
            value = getattr(self, name)
            if value not in (None, [], set()):
                out[name] = sorted(value) if isinstance(value, set) else value
        if self.ids is not None:
            out["ids"] = len(self.ids)
        return out


def target_names(f: Finding) -> list[str]:
    """What a path glob is matched against: the local path or URL, and with
    members joined by ``!``; for a name holding a card number, both the real
    name and the masked one the reports show."""
    out: list[str] = []
    loc = f.location
    pub = loc.public()
    for where in (loc,) if pub is loc else (loc, pub):
        for name in _names(where):
            if name not in out:
                out.append(name)
    return out


def _names(loc: Location) -> list[str]:
    base = loc.uri
    if base.startswith("file:"):
        try:
            base = uri_to_path(base)
        except ConfigError:
            pass
    if loc.cell is not None:
        c = loc.cell
        table = f"{c.schema}.{c.table}" if c.schema else c.table
        return [base, f"{base}#{table}", f"{base}#{table}.{c.column}"]
    names = [base]
    if loc.member:
        names.append("!".join([base, *loc.member]))
    return names


def read_ids(path: str) -> set[str]:
    """Finding ids from a file: one per line (first word), ``#`` comments allowed."""
    try:
        with open(path, encoding="utf-8") as fh:
            lines = fh.read().splitlines()
    except OSError as exc:
        raise ConfigError(f"cannot read the id file {path}: {exc.strerror}") from None
    out = set()
    for n, line in enumerate(lines, 1):
        word = line.split("#", 1)[0].strip().split()
        if not word:
            continue
        if not all(c in "0123456789abcdef" for c in word[0]) or len(word[0]) != 24:
            raise ConfigError(f"{path}: line {n} is not a finding id (24 hex digits)")
        out.add(word[0])
    return out


def _bool(text: str, what: str) -> bool:
    v = text.strip().lower()
    if v in ("yes", "y", "true", "1", "only"):
        return True
    if v in ("no", "n", "false", "0"):
        return False
    raise ConfigError(f"{what}: expected yes or no, not {text!r}")


def build(
    brands: Iterable[str] | None = None,
    kinds: Iterable[str] | None = None,
    min_confidence: int | None = None,
    paths: Iterable[str] = (),
    exclude_paths: Iterable[str] = (),
    test_card: str | bool | None = None,
    ids_files: Iterable[str] = (),
    ids: Iterable[str] = (),
    select: Iterable[str] = (),
) -> Selection:
    """A Selection from command-line style values; ``select`` holds ``KEY=VALUE`` items."""
    s = Selection(
        brands={b.strip().lower() for v in brands for b in v.split(",") if b.strip()} if brands else None,
        kinds={k.strip() for v in kinds for k in v.split(",") if k.strip()} if kinds else None,
        min_confidence=min_confidence,
        paths=list(paths),
        exclude_paths=list(exclude_paths),
        test_card=_bool(test_card, "--test-card") if isinstance(test_card, str) else test_card,
    )
    id_set: set[str] | None = None
    for p in ids_files:
        id_set = (id_set or set()) | read_ids(p)
    if ids:
        id_set = (id_set or set()) | set(ids)
    for item in select:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or key not in KEYS:
            raise ConfigError(f"--select {item!r}: expected KEY=VALUE with KEY one of {', '.join(KEYS)}")
        if key == "brand":
            s.brands = (s.brands or set()) | {b.strip().lower() for b in value.split(",") if b.strip()}
        elif key == "kind":
            s.kinds = (s.kinds or set()) | {k.strip() for k in value.split(",") if k.strip()}
        elif key == "min_confidence":
            if not value.strip().isdigit() or not 0 <= int(value) <= 100:
                raise ConfigError(f"--select {item!r}: expected a number from 0 to 100")
            s.min_confidence = int(value)
        elif key == "path":
            s.paths.append(value)
        elif key == "exclude_path":
            s.exclude_paths.append(value)
        elif key == "test_card":
            s.test_card = _bool(value, "--select test_card")
        elif key == "ids":
            id_set = (id_set or set()) | read_ids(value)
        elif key == "id":
            id_set = (id_set or set()) | {value.strip()}
    if s.kinds is not None:
        unknown = s.kinds - set(KINDS)
        if unknown:
            raise ConfigError(f"unknown kind(s): {', '.join(sorted(unknown))} (known: {', '.join(KINDS)})")
    s.ids = id_set
    return s
