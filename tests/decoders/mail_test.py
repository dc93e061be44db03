"""Tests for cardscan/decoders/mail.py: .eml and mbox.

Messages are built with the stdlib email package, as mail clients write them.
"""
from __future__ import annotations

import email.policy
import gzip
from email.mime.message import MIMEMessage
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText

from cardscan.decoders.base import Limits
from cardscan.decoders.mail import MailDecoder, MboxDecoder, looks_like_headers
from cardscan.testing import group

from .build import mbox, message, pans, scan, zip_bytes

P = pans(10, seed=71)


def test_base64_body_and_zip_attachment() -> None:
    export = zip_bytes({"export.csv": b"name,card_number\nA," + P[1].encode() + b"\n"})
    m = message("Hello,\nyour card " + group(P[0], (4, 4, 4, 4)) + " was charged.\n",
                attachments={"export.zip": export})
    raw = m.as_bytes()
    assert P[0].encode() not in raw and group(P[0], (4, 4, 4, 4)).encode() not in raw  # hidden by base64
    r = scan(raw, "order.eml")
    assert r.failures == []
    assert r.where(P[0]) == [("part-1",)]
    assert r.where(P[1]) == [("attachment:export.zip", "export.csv")]
    assert dict((m, e) for m, e, _ in r.layers)[("part-1",)] == "base64"


def test_quoted_printable_soft_line_break_inside_the_number() -> None:
    m = message("x" * 60 + " card " + P[2] + " end\n", cte="quoted-printable")
    raw = m.as_bytes()
    assert b"=\n" in raw and P[2].encode() not in raw  # the soft break cut the number
    r = scan(raw, "qp.eml")
    assert r.where(P[2]) == [("part-1",)]
    assert dict((m, e) for m, e, _ in r.layers)[("part-1",)] == "quoted-printable"


def test_encoded_subject_is_decoded() -> None:
    import base64

    word = base64.b64encode(("Refund to card " + P[3] + " ✓").encode()).decode()
    raw = message("hi", subject="PLACEHOLDER").as_bytes().replace(b"PLACEHOLDER", b"=?utf-8?b?" + word.encode() + b"?=")
    assert P[3].encode() not in raw and b"=?utf-8?b?" in raw
    assert scan(raw, "s.eml").where(P[3]) == [("headers",)]


def test_html_alternative_and_forwarded_message() -> None:
    inner = MIMEText("original: card " + P[4] + "\n")
    inner["Subject"] = "Fwd card " + P[5]
    inner["From"] = "a@b.example"
    outer = MIMEMultipart()
    outer["From"] = "c@d.example"
    outer["Message-ID"] = "<2@d.example>"
    outer.attach(MIMEText("<p>see below</p>", "html"))
    outer.attach(MIMEMessage(inner))
    r = scan(outer.as_bytes(), "fwd.eml")
    assert r.failures == []
    assert r.where(P[4]) == [("part-3",)]
    assert r.where(P[5]) == [("part-2:headers",)]


def test_mbox_messages_are_numbered() -> None:
    msgs = [message(f"message {i}" + (" card " + P[6] if i == 2 else "") + "\n").as_bytes(policy=email.policy.SMTP)
            for i in range(4)]
    data = mbox(msgs)
    r = scan(data, "inbox")
    assert r.failures == []
    assert r.where(P[6]) == [("message-3", "part-1")]
    assert ("message-4", "headers") in r.members()
    # Compressed mailbox archives work the same.
    assert scan(gzip.compress(data), "2023.mbox.gz").where(P[6]) == [("message-3", "part-1")]


def test_mbox_message_bigger_than_the_buffer_is_a_limit_and_the_rest_goes_on() -> None:
    big = message("x" * 200_000).as_bytes()
    small = message("card " + P[7] + "\n").as_bytes()
    r = scan(mbox([big, small]), "inbox.mbox", Limits(max_buffer=100_000))
    assert [(f.member, f.kind, f.limit) for f in r.failures] == [(("message-1",), "limit", "buffer")]
    assert r.where(P[7]) == [("message-2", "part-1")]


def test_broken_base64_is_decoded_leniently_not_a_crash() -> None:
    raw = message("card " + P[8] + "\n").as_bytes()
    head, _, body = raw.partition(b"\n\n")
    r = scan(head + b"\n\n" + body[:-7] + b"!!*@\n", "broken.eml")
    assert r.layers  # parsed; the damaged tail did not stop it


def test_detection() -> None:
    raw = message("hi").as_bytes()
    assert MailDecoder().accepts("", raw[:4096])
    assert not MailDecoder().accepts("", b"Date: today\nStatus: 200\n\nbody")  # HTTP-ish, not mail
    assert MailDecoder().accepts("x.eml", b"Subject: hi\nFrom: a@b\n\nbody")
    assert MboxDecoder().accepts("", b"From a@b Mon Mar  4 10:00:00 2024\n" + raw[:200])
    assert not MboxDecoder().accepts("", b"From here on, the text is plain.\nNo headers.")
    assert not looks_like_headers(b"just some text\nwith lines")
