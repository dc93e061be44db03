"""Who may read an S3 object: bucket policies, ACLs and public-access blocks
set on the real moto server, and the pure policy evaluator on the policy
examples of the S3 User Guide (cases moto cannot model: the account-level
block, denied calls)."""
from __future__ import annotations

import json
from typing import Any

import pytest

from cardscan.sources import s3_policy
from cardscan.testing import make_pan

ALL_USERS = "http://acs.amazonaws.com/groups/global/AllUsers"


def policy(*statements: dict[str, Any]) -> str:
    return json.dumps({"Version": "2012-10-17", "Statement": list(statements)})


def allow(principal: Any, resource: str, action: Any = "s3:GetObject", **extra: Any) -> dict[str, Any]:
    return {"Effect": "Allow", "Principal": principal, "Action": action, "Resource": resource, **extra}


# -- the evaluator, pure ----------------------------------------------------------------

def read(doc: str, key: str = "data/x.csv", bucket: str = "b", **kw: Any) -> s3_policy.Readers:
    return s3_policy.readers(s3_policy.parse(doc), bucket, key, **kw)


def test_anonymous_read_example_is_public() -> None:
    # S3 User Guide, bucket policy examples: "Granting read-only permission to a public anonymous user"
    doc = policy(allow("*", "arn:aws:s3:::b/*", ["s3:GetObject", "s3:GetObjectVersion"], Sid="PublicRead"))
    r = read(doc)
    assert r.public and r.principals == ["*"]
    assert read(doc, version=True).public


@pytest.mark.parametrize("principal", ["*", {"AWS": "*"}, {"AWS": ["arn:aws:iam::111122223333:root", "*"]}])
@pytest.mark.parametrize("action", ["s3:GetObject", "s3:*", "s3:Get*", "*", ["s3:PutObject", "S3:GETOBJECT"],
                                    "s3:GetObj?ct"])
def test_everyone_and_action_wildcards(principal: Any, action: Any) -> None:
    assert read(policy(allow(principal, "arn:aws:s3:::b/*", action))).public


@pytest.mark.parametrize("action, resource", [
    ("s3:PutObject", "arn:aws:s3:::b/*"),            # writing is not reading
    ("s3:GetObjectAcl", "arn:aws:s3:::b/*"),         # nor is reading the ACL
    ("s3:ListBucket", "arn:aws:s3:::b"),             # listing names is not reading content
    ("s3:GetObject", "arn:aws:s3:::b/public/*"),     # another prefix
    ("s3:GetObject", "arn:aws:s3:::other/*"),        # another bucket
    ("s3:GetObject", "arn:aws:s3:::B/*"),            # resources are case-sensitive
])
def test_near_misses_are_not_public(action: str, resource: str) -> None:
    r = read(policy(allow("*", resource, action)))
    assert not r.public and r.principals == []


def test_not_action_not_resource_and_not_principal() -> None:
    assert not read(policy({"Effect": "Allow", "Principal": "*", "NotAction": "s3:Get*",
                            "Resource": "arn:aws:s3:::b/*"})).public
    assert read(policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                        "NotResource": "arn:aws:s3:::b/secret/*"})).public
    assert not read(policy({"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject",
                            "NotResource": "arn:aws:s3:::b/data/*"})).public
    # an Allow to everyone but one principal is an Allow to everyone
    assert read(policy({"Effect": "Allow", "NotPrincipal": {"AWS": "arn:aws:iam::1:root"}, "Action": "s3:GetObject",
                        "Resource": "arn:aws:s3:::b/*"})).public


@pytest.mark.parametrize("condition, limits", [
    # "Restricting access to specific IP addresses" and "to a specific VPC endpoint" (S3 User Guide)
    ({"IpAddress": {"aws:SourceIp": ["192.0.2.0/24", "203.0.113.0/24"]}}, "aws:SourceIp"),
    ({"StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}}, "aws:SourceVpce"),
    ({"StringEquals": {"aws:PrincipalOrgID": "o-abc123"}}, "aws:PrincipalOrgID"),
    ({"ArnLike": {"aws:SourceArn": "arn:aws:cloudfront::111122223333:distribution/EDFDVBD6EXAMPLE"}},
     "aws:SourceArn"),
    ({"ForAnyValue:StringEquals": {"aws:SourceAccount": ["111122223333"]}}, "aws:SourceAccount"),
])
def test_fixed_conditions_confine_everyone(condition: dict[str, Any], limits: str) -> None:
    r = read(policy(allow("*", "arn:aws:s3:::b/*", Condition=condition)))
    assert not r.public and r.principals == [f"* if {limits}"]


@pytest.mark.parametrize("condition", [
    # "Restricting access to a specific HTTP referer": a header anyone can send
    {"StringLike": {"aws:Referer": ["http://www.example.com/*"]}},
    {"Bool": {"aws:SecureTransport": "true"}},
    {"StringNotEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}},       # a negation confines nothing
    {"StringEqualsIfExists": {"aws:SourceVpce": "vpce-1a2b3c4d"}},  # an anonymous request has no such key
    {"StringLike": {"aws:SourceVpce": "vpce-*"}},                    # not a fixed value
    {"IpAddress": {"aws:SourceIp": "0.0.0.0/0"}},                    # the whole internet
    {"StringLike": {"aws:userid": "AROAEXAMPLEID:*"}},               # any session of a role: AWS's own exception
])
def test_conditions_anyone_meets_stay_public(condition: dict[str, Any]) -> None:
    assert read(policy(allow("*", "arn:aws:s3:::b/*", Condition=condition))).public


def test_named_principals_are_readers_and_denies_take_them_away() -> None:
    doc = policy(
        allow({"AWS": ["arn:aws:iam::111122223333:role/analyst", "444455556666"]}, "arn:aws:s3:::b/*"),
        allow({"Service": "cloudfront.amazonaws.com"}, "arn:aws:s3:::b/data/*"),
        {"Effect": "Deny", "Principal": {"AWS": "444455556666"}, "Action": "s3:*", "Resource": "arn:aws:s3:::b/*"},
    )
    r = read(doc)
    assert not r.public
    assert r.principals == ["arn:aws:iam::111122223333:role/analyst", "cloudfront.amazonaws.com"]


def test_an_unconditional_deny_to_everyone_wins_and_a_conditional_one_is_not_assumed() -> None:
    open_ = allow("*", "arn:aws:s3:::b/*")
    deny = {"Effect": "Deny", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/data/*"}
    assert not read(policy(open_, deny)).public
    assert read(policy(open_, deny), key="other/y.csv").public
    tls = {**deny, "Condition": {"Bool": {"aws:SecureTransport": "false"}}}
    assert read(policy(open_, tls)).public


@pytest.mark.parametrize("doc", ["not json", "[]", json.dumps({"Statement": [{"Effect": "Maybe"}]}),
                                 json.dumps({"Statement": "x"})])
def test_bad_policies_are_refused(doc: str) -> None:
    with pytest.raises(s3_policy.PolicyError):
        s3_policy.parse(doc)


def test_account_level_block_and_unreadable_settings() -> None:
    s3 = pytest.importorskip("cardscan.sources.s3", reason="the s3 extra is not installed")
    public = s3_policy.parse(policy(allow("*", "arn:aws:s3:::b/*")))
    state = {"policy_public": True, "policy": public, "block": {}, "account_block": {}, "acls_enabled": False}
    assert s3._exposure(state, None, "b", "k")[0] == "public"
    verdict, detail, readers = s3._exposure({**state, "account_block": {"RestrictPublicBuckets": True}}, None, "b", "k")
    assert verdict == "private" and readers == [] and detail["account_public_access_block"]
    acl_state = {**state, "policy": s3_policy.Policy(()), "acls_enabled": True}
    assert s3._exposure(acl_state, [(ALL_USERS, "READ")], "b", "k")[0] == "public"
    assert s3._exposure({**acl_state, "account_block": {"IgnorePublicAcls": True}}, [(ALL_USERS, "READ")],
                        "b", "k")[0] == "private"
    # every call denied: nothing is known
    denied = {"policy_public": None, "policy": None, "block": None, "account_block": None, "acls_enabled": None}
    verdict, _, readers = s3._exposure(denied, PermissionError("AccessDenied"), "b", "k")
    assert verdict == "unknown" and readers is None
    # the policy denied but its status readable: AWS's bucket-wide verdict stands
    assert s3._exposure({**denied, "policy_public": True}, None, "b", "k")[0] == "public"


# -- on the moto server ------------------------------------------------------------------

def items(moto_endpoint: str, bucket: str) -> dict[str, dict[str, Any]]:
    from cardscan.sources.base import Item
    from cardscan.sources.s3 import S3Source

    return {i.uri.split("/", 3)[3]: i.meta for i in S3Source(f"s3://{bucket}/", endpoint_url=moto_endpoint).items()
            if isinstance(i, Item)}


def test_a_policy_public_on_one_prefix(moto_endpoint, s3, bucket) -> None:
    for key in ("public/a.csv", "private/b.csv"):
        s3.put_object(Bucket=bucket, Key=key, Body=b"x")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        allow("*", f"arn:aws:s3:::{bucket}/public/*"),
        allow({"AWS": "arn:aws:iam::111122223333:role/analyst"}, f"arn:aws:s3:::{bucket}/*", "s3:Get*"),
    ))
    meta = items(moto_endpoint, bucket)
    assert meta["public/a.csv"]["exposure"] == "public"
    assert meta["public/a.csv"]["readers"] == ["*", "arn:aws:iam::111122223333:role/analyst"]
    assert meta["private/b.csv"]["exposure"] == "private"
    assert meta["private/b.csv"]["readers"] == ["arn:aws:iam::111122223333:role/analyst"]


def test_a_vpc_endpoint_condition_is_not_public(moto_endpoint, s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="a.csv", Body=b"x")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(allow("*", f"arn:aws:s3:::{bucket}/*", Condition={
        "StringEquals": {"aws:SourceVpce": "vpce-1a2b3c4d"}})))
    meta = items(moto_endpoint, bucket)["a.csv"]
    assert meta["exposure"] == "private" and meta["readers"] == ["* if aws:SourceVpce"]


def test_restrict_public_buckets_confines_a_public_policy(moto_endpoint, s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="a.csv", Body=b"x")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(allow("*", f"arn:aws:s3:::{bucket}/*")))
    assert items(moto_endpoint, bucket)["a.csv"]["exposure"] == "public"
    s3.put_public_access_block(Bucket=bucket, PublicAccessBlockConfiguration={
        "BlockPublicAcls": False, "IgnorePublicAcls": False, "BlockPublicPolicy": False,
        "RestrictPublicBuckets": True})
    meta = items(moto_endpoint, bucket)["a.csv"]
    assert meta["exposure"] == "private" and "*" not in meta["readers"]
    assert meta["exposure_detail"]["public_access_block"]["RestrictPublicBuckets"] is True


def test_acl_grants_are_readers(moto_endpoint, s3, bucket) -> None:
    s3.put_object(Bucket=bucket, Key="pub.csv", Body=b"x", ACL="public-read")
    s3.put_object(Bucket=bucket, Key="aws.csv", Body=b"x", ACL="authenticated-read")
    s3.put_object(Bucket=bucket, Key="own.csv", Body=b"x")
    meta = items(moto_endpoint, bucket)
    assert meta["pub.csv"]["exposure"] == "public" and meta["pub.csv"]["readers"] == ["*"]
    assert meta["aws.csv"]["exposure"] == "authenticated" and meta["aws.csv"]["readers"] == ["AuthenticatedUsers"]
    assert meta["own.csv"]["exposure"] == "private" and meta["own.csv"]["readers"] == []  # the owner is not listed


def test_a_principal_named_with_a_card_number_is_masked(moto_endpoint, s3, bucket) -> None:
    pan = make_pan("4", 16)
    s3.put_object(Bucket=bucket, Key="a.csv", Body=b"x")
    s3.put_bucket_policy(Bucket=bucket, Policy=policy(
        allow({"AWS": f"arn:aws:iam::111122223333:user/u{pan}"}, f"arn:aws:s3:::{bucket}/*")))
    meta = items(moto_endpoint, bucket)["a.csv"]
    assert pan not in repr(meta) and meta["readers"][0].startswith("arn:aws:iam::111122223333:user/u4")
