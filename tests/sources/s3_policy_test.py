"""Bad bucket policies give PolicyError (the S3 source turns it into an error
record and goes on); the evaluator itself is tested in s3_exposure_test.py."""
from __future__ import annotations

import json

import pytest

from cardscan.sources import s3_policy


@pytest.mark.parametrize("document", [
    b"\x81{\"Version\": \"2012-10-17\"}",    # bytes that are not UTF-8 (json raises UnicodeDecodeError)
    "{\"Version\": \"2012-10-17\",",          # cut short
    "",                                       # empty
    b"\xff\xfe{\x00",                         # a UTF-16 BOM before broken text
])
def test_text_that_is_not_json_is_a_policy_error(document: str | bytes) -> None:
    with pytest.raises(s3_policy.PolicyError, match="^not JSON: "):
        s3_policy.parse(document)


@pytest.mark.parametrize("document, message", [
    ("[]", "not a policy document"),
    (json.dumps({"Statement": "Allow *"}), "Statement is not a list"),
    (json.dumps({"Statement": {"Effect": "Allow"}, "Version": 1}), None),  # one statement, not in a list: valid
    (json.dumps({"Statement": [{"Effect": "Maybe", "Principal": "*"}]}), "without Effect Allow or Deny"),
])
def test_json_that_is_not_a_policy_is_a_policy_error(document: str, message: str | None) -> None:
    if message is None:  # the near miss: AWS accepts a lone statement object
        assert len(s3_policy.parse(document).statements) == 1
        return
    with pytest.raises(s3_policy.PolicyError, match=message):
        s3_policy.parse(document)


def test_a_valid_policy_in_bytes_parses_like_its_text() -> None:
    doc = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Principal": "*", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::b/*"}]})
    assert s3_policy.parse(doc.encode()) == s3_policy.parse(doc)
    assert s3_policy.readers(s3_policy.parse(doc.encode()), "b", "k").public
