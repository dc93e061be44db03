"""Who may read an S3 object by its bucket policy (pure: no I/O, no AWS calls).

:func:`readers` evaluates a bucket policy (the JSON of ``GetBucketPolicy``)
for one object read (``s3:GetObject``, or ``s3:GetObjectVersion`` for a
version that is not the latest) and returns the principals it lets read, and
whether anyone can.

* A statement applies when its ``Action`` (or ``NotAction``) covers the read
  (``s3:*``, ``s3:Get*``, ``*`` and ``?`` wildcards, case-insensitive) and
  its ``Resource`` (or ``NotResource``) covers ``arn:aws:s3:::BUCKET/KEY``
  (wildcards, case-sensitive).
* ``"Principal": "*"``, ``{"AWS": "*"}`` (alone or in a list) and an Allow
  with ``NotPrincipal`` are everyone. Named principals (ARNs, account ids,
  ``Service``, ``CanonicalUser``, ``Federated``) are listed as given.
* AWS's meaning of public ("The Meaning of Public", in the S3 User Guide;
  the ``PublicAccessBlockConfiguration`` API reference lists the keys):
  an Allow to everyone is *not* public when a condition limits it to fixed
  values of ``aws:SourceIp`` (a CIDR narrower than ``/0``),
  ``aws:SourceArn``, ``aws:SourceVpc``, ``aws:SourceVpce``,
  ``aws:SourceOwner``, ``aws:SourceAccount``, ``aws:userid``,
  ``aws:PrincipalOrgID``, ``aws:PrincipalAccount``, ``aws:PrincipalArn`` or
  ``s3:x-amz-server-side-encryption-aws-kms-key-id``. "Fixed" means a
  positive operator (``StringEquals``, ``ArnLike``, ``IpAddress`` ...; not a
  ``Not`` one, not ``...IfExists``, which passes when the key is absent, as
  it is for an anonymous request) and values without wildcards. Such a
  reader is listed as ``* if aws:SourceVpce`` (the keys that limit it).
  Other conditions (``aws:SecureTransport``, ``aws:Referer`` ...) limit
  nothing an outsider cannot meet.
* A Deny of the read to everyone without a condition removes everyone; a
  conditional Deny is not taken to apply (the answer errs towards more
  readers). A Deny naming principals removes those.
"""
from __future__ import annotations

import ipaddress
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

EVERYONE = "*"

#: Condition keys that confine an Allow to a fixed set of callers (lower-case).
RESTRICTING_KEYS = frozenset({
    "aws:sourceip", "aws:sourcearn", "aws:sourcevpc", "aws:sourcevpce", "aws:sourceowner", "aws:sourceaccount",
    "aws:userid", "aws:principalorgid", "aws:principalaccount", "aws:principalarn",
    "s3:x-amz-server-side-encryption-aws-kms-key-id",
})
_POSITIVE_OPERATORS = re.compile(
    r"^(?:for(?:any|all)value:)?(?:stringequals|stringequalsignorecase|stringlike|arnequals|arnlike|ipaddress)$", re.I)


class PolicyError(ValueError):
    """A bucket policy that is not a JSON policy document."""


@dataclass(frozen=True)
class Statement:
    effect: str  # "Allow" | "Deny"
    principals: tuple[str, ...]  # EVERYONE or names
    not_principal: bool
    actions: tuple[str, ...]
    not_action: bool
    resources: tuple[str, ...]
    not_resource: bool
    condition: dict[str, Any]


@dataclass(frozen=True)
class Policy:
    statements: tuple[Statement, ...]


@dataclass
class Readers:
    """What a policy says about reading one object."""

    #: Principals an Allow lets read, in policy order (``*``, ``* if <keys>``, ARNs ...).
    principals: list[str] = field(default_factory=list)
    #: Anyone can read it (an unconditional Allow to everyone, not denied).
    public: bool = False


def _list(value: Any) -> tuple[str, ...]:
    if value is None:
        return ()
    if isinstance(value, (list, tuple)):
        return tuple(str(v) for v in value)
    return (str(value),)


def _principals(value: Any) -> tuple[str, ...]:
    if value == "*" or value is None:
        return (EVERYONE,) if value == "*" else ()
    if isinstance(value, dict):
        out: list[str] = []
        for kind, names in value.items():
            for n in _list(names):
                out.append(EVERYONE if n == "*" and kind == "AWS" else n)
        return tuple(out)
    return tuple(EVERYONE if n == "*" else n for n in _list(value))


def parse(document: str | bytes | dict[str, Any]) -> Policy:
    """A policy from its JSON text (or the parsed dict). Raises :class:`PolicyError`."""
    try:
        doc = json.loads(document) if isinstance(document, (str, bytes)) else document
    except ValueError as exc:
        # bytes that are not UTF-8 raise UnicodeDecodeError, which has no .msg
        why = exc.msg if isinstance(exc, json.JSONDecodeError) else "not UTF-8 text"
        raise PolicyError(f"not JSON: {why}") from None
    if not isinstance(doc, dict):
        raise PolicyError("not a policy document")
    raw = doc.get("Statement", [])
    if isinstance(raw, dict):
        raw = [raw]
    if not isinstance(raw, list):
        raise PolicyError("Statement is not a list")
    out = []
    for st in raw:
        if not isinstance(st, dict) or st.get("Effect") not in ("Allow", "Deny"):
            raise PolicyError("a statement without Effect Allow or Deny")
        cond = st.get("Condition") or {}
        out.append(Statement(
            effect=st["Effect"],
            principals=_principals(st.get("NotPrincipal", st.get("Principal"))),
            not_principal="NotPrincipal" in st,
            actions=_list(st.get("NotAction", st.get("Action"))),
            not_action="NotAction" in st,
            resources=_list(st.get("NotResource", st.get("Resource"))),
            not_resource="NotResource" in st,
            condition=cond if isinstance(cond, dict) else {},
        ))
    return Policy(tuple(out))


@lru_cache(maxsize=1024)
def _pattern(glob: str, ignore_case: bool) -> re.Pattern[str]:
    # IAM wildcards: * any run, ? one character; nothing else is special.
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(f"^{body}$", re.I | re.S if ignore_case else re.S)


def _matches(globs: tuple[str, ...], value: str, ignore_case: bool) -> bool:
    return any(_pattern(g, ignore_case).match(value) for g in globs)


def _applies(st: Statement, action: str, resource: str) -> bool:
    hit = _matches(st.actions, action, True)
    if hit == st.not_action:
        return False
    hit = _matches(st.resources, resource, False)
    return hit != st.not_resource


def _restricting(condition: dict[str, Any]) -> list[str]:
    """The condition keys that confine a statement to fixed callers (empty: none does)."""
    keys = []
    for operator, tests in condition.items():
        if not isinstance(tests, dict) or not _POSITIVE_OPERATORS.match(str(operator)):
            continue
        for key, values in tests.items():
            k = str(key).lower()
            if k not in RESTRICTING_KEYS:
                continue
            vals = _list(values)
            if not vals or any("*" in v or "?" in v for v in vals):
                continue
            if k == "aws:userid" and all(v.upper().startswith("AROA") and v.endswith(":*") for v in vals):
                continue
            if k == "aws:sourceip" and any(_whole_internet(v) for v in vals):
                continue
            keys.append(str(key))
    return sorted(set(keys))


def _whole_internet(cidr: str) -> bool:
    try:
        return ipaddress.ip_network(cidr, strict=False).prefixlen == 0
    except ValueError:
        return False


def readers(policy: Policy, bucket: str, key: str, *, version: bool = False) -> Readers:
    """Who ``policy`` lets read ``s3://bucket/key`` (``version``: a non-latest version by id)."""
    action = "s3:GetObjectVersion" if version else "s3:GetObject"
    resource = f"arn:aws:s3:::{bucket}/{key}"
    allowed: list[str] = []
    public = False
    denied: set[str] = set()
    everyone_denied = False
    for st in policy.statements:
        if not _applies(st, action, resource):
            continue
        if st.effect == "Deny":
            if st.condition:
                continue  # may not apply: do not take readers away on a guess
            if EVERYONE in st.principals and not st.not_principal:
                everyone_denied = True
            elif not st.not_principal:
                denied.update(st.principals)
            continue
        if st.not_principal or EVERYONE in st.principals:
            limits = _restricting(st.condition)
            if limits:
                allowed.append(f"{EVERYONE} if {', '.join(limits)}")
            else:
                allowed.append(EVERYONE)
                public = True
        allowed += [p for p in st.principals if p != EVERYONE and not st.not_principal]
    if everyone_denied:
        return Readers([], False)
    out = [p for p in dict.fromkeys(allowed) if p not in denied]
    return Readers(out, public)
