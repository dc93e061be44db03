"""Tests for cardscan/decoders/pdf.py: page text, metadata, attachments, encryption.

PDFs are written object by object (tests/decoders/build.py); pypdf adds
encryption and attachments to them the way real producers do.
"""
from __future__ import annotations

import io

from pypdf import PdfReader, PdfWriter

from cardscan.decoders.base import Limits
from cardscan.decoders.pdf import PdfDecoder
from cardscan.testing import group

from .build import pans, pdf, scan, zip_bytes

P = pans(6, seed=51)


def _rewrite(data: bytes, **changes) -> bytes:  # type: ignore[no-untyped-def]
    w = PdfWriter(clone_from=PdfReader(io.BytesIO(data)))
    for name, payload in changes.get("attachments", {}).items():
        w.add_attachment(name, payload)
    if "user_password" in changes:
        w.encrypt(user_password=changes["user_password"], owner_password="owner-secret", algorithm="RC4-128")
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def test_a_layer_per_page_with_the_page_number() -> None:
    data = pdf([["Invoice 2024-001", "Thank you"], ["Paid by card " + group(P[0], (4, 4, 4, 4)), "exp 04/29"]])
    r = scan(data, "invoice.pdf")
    assert r.failures == []
    assert r.members() == [("page-1",), ("page-2",)]
    assert r.where(P[0]) == [("page-2",)]
    assert {e for _, e, _ in r.layers} == {"pdf-text"}


def test_metadata_is_scanned() -> None:
    r = scan(pdf([["nothing"]], info={"Title": "Refund for card " + P[1], "Author": "ops"}), "x.pdf")
    assert r.where(P[1]) == [("metadata",)]


def test_attachment_is_opened_by_the_usual_rules() -> None:
    export = zip_bytes({"cards.csv": b"card_number\n" + P[2].encode() + b"\n"})
    data = _rewrite(pdf([["see attachment"]]), attachments={"export.zip": export})
    r = scan(data, "report.pdf")
    assert r.where(P[2]) == [("attachment:export.zip", "cards.csv")]


def test_password_protected_pdf_is_encrypted() -> None:
    data = _rewrite(pdf([["card " + P[3]]]), user_password="s3cret")
    r = scan(data, "locked.pdf")
    assert r.kinds() == [("encrypted", None)] and r.layers == []


def test_owner_password_only_pdf_is_read() -> None:
    data = _rewrite(pdf([["card " + P[4]]]), user_password="")
    r = scan(data, "restricted.pdf")
    assert r.failures == [] and r.where(P[4]) == [("page-1",)]


def test_corrupt_and_truncated_pdf_are_decode_failures() -> None:
    for data in (b"%PDF-1.4\n garbage", pdf([["card " + P[5]]])[:200]):
        r = scan(data, "x.pdf")
        assert r.kinds() == [("decode", None)]


def test_nested_pdf_bigger_than_max_buffer_is_a_limit() -> None:
    data = zip_bytes({"a.pdf": pdf([["x" * 200]])})
    r = scan(data, "x.zip", Limits(max_buffer=100))
    assert [(f.member, f.kind, f.limit) for f in r.failures] == [(("a.pdf",), "limit", "buffer")]


def test_accepts_header_after_junk() -> None:
    assert PdfDecoder().accepts("", b"\r\n  %PDF-1.7\n") and not PdfDecoder().accepts("x.pdf", b"hello")
