"""Office text parts: offsets in extracted text mapped back to XML text nodes."""
from __future__ import annotations

import io
import zipfile
from dataclasses import replace

import pytest

from cardscan.decoders import office as dec
from cardscan.engine.scanner import Scanner
from cardscan.findings import Location
from cardscan.remediate.containers import Rewriter
from cardscan.remediate.office import redact_part
from tests.decoders.build import XML, S, W, docx, pptx, xlsx
from tests.remediate.helpers import FKEY, fp, pans

SCANNER = Scanner(key=FKEY)


def part_findings(xml: bytes, kind: str) -> list:
    text = b"".join(dec.extract(io.BytesIO(xml), kind))
    return [replace(f, obj={}) for f in SCANNER.scan_bytes(text, Location(uri="file:///x", member=("p",)))]


def redact(xml: bytes, kind: str) -> tuple[bytes | None, list[str], list]:
    fs = part_findings(xml, kind)
    rw = Rewriter(FKEY)
    new = redact_part(xml, kind, fs, rw)
    return new, [rw.states[f.id][0] for f in fs], fs


def text_of(xml: bytes, kind: str) -> bytes:
    return b"".join(dec.extract(io.BytesIO(xml), kind))


def word(body: str) -> bytes:
    return (XML + f'<w:document xmlns:w="{W}"><w:body>{body}</w:body></w:document>').encode()


def test_word_runs_split_by_formatting() -> None:
    p = pans(1)[0]
    xml = word(f'<w:p><w:r><w:t>card {p[:3]}</w:t></w:r><w:r><w:rPr><w:b/></w:rPr><w:t>{p[3:9]}</w:t></w:r>'
               f'<w:r><w:t xml:space="preserve">{p[9:]} ok</w:t></w:r></w:p>')
    new, states, _ = redact(xml, "word")
    assert states == ["pan"] and new is not None and len(new) == len(xml)
    assert text_of(new, "word") == f"card {'*' * 12}{p[-4:]} ok\n".encode()
    # Only digits inside text nodes changed: markup is byte-identical.
    assert [i for i, (a, b) in enumerate(zip(xml, new)) if a != b] == \
        [i for i, (a, b) in enumerate(zip(xml, new)) if a != b and chr(b) == "*"]


def test_deleted_text_and_several_numbers_in_one_part() -> None:
    p = pans(2)
    xml = word(f'<w:p><w:r><w:t>card {p[0]}</w:t></w:r></w:p>'
               f'<w:p><w:del><w:r><w:delText>old card {p[1]}</w:delText></w:r></w:del></w:p>')
    new, states, _ = redact(xml, "word")
    assert states == ["pan", "pan"]
    assert not {f.fingerprint for f in part_findings(new, "word")} & {fp(x) for x in p}


def test_a_digit_written_as_a_character_reference_is_unsupported() -> None:
    p = pans(1)[0]
    xml = word(f'<w:p><w:r><w:t>card &#{ord(p[0])};{p[1:]}</w:t></w:r></w:p>')
    new, states, _ = redact(xml, "word")
    assert new is None and states == ["unsupported"]


def test_shared_strings_rich_text() -> None:
    p = pans(1)[0]
    sst = (XML + f'<sst xmlns="{S}"><si><t>name</t></si><si><r><t>card </t></r><r><t>{p[:8]}</t></r>'
           f'<r><t>{p[8:]}</t></r></si></sst>').encode()
    new, states, _ = redact(sst, "sst")
    assert states == ["pan"]
    assert text_of(new, "sst") == f"name\ncard {'*' * 12}{p[-4:]}\n".encode()


def sheet(cells: str) -> bytes:
    return (XML + f'<worksheet xmlns="{S}"><sheetData><row r="1">{cells}</row></sheetData></worksheet>').encode()


def test_number_cells_become_inline_strings() -> None:
    p = pans(2)
    xml = sheet(f'<c r="A1" s="3"><v>{p[0]}</v></c><c r="B1" t="n"><v>{p[1]}</v></c><c r="C1"><v>42</v></c>')
    new, states, _ = redact(xml, "sheet")
    assert states == ["pan", "pan"]
    assert f'<c r="A1" s="3" t="inlineStr"><is><t>{"*" * 12}{p[0][-4:]}</t></is></c>'.encode() in new
    assert f'<c r="B1" t="inlineStr"><is><t>{"*" * 12}{p[1][-4:]}</t></is></c>'.encode() in new
    assert b'<c r="C1"><v>42</v></c>' in new


def test_formula_cells_are_left_alone() -> None:
    p = pans(1)[0]
    xml = sheet(f'<c r="A1"><f>B1*1</f><v>{p}</v></c>')
    new, states, _ = redact(xml, "sheet")
    assert new is None and states == ["unsupported"]


def test_inline_string_and_formula_string_cells() -> None:
    p = pans(2)
    xml = sheet(f'<c r="A1" t="inlineStr"><is><t>card {p[0]}</t></is></c><c r="B1" t="str"><f>A1</f><v>{p[1]}</v></c>')
    new, states, _ = redact(xml, "sheet")
    assert states == ["pan", "pan"]
    assert not {f.fingerprint for f in part_findings(new, "sheet")} & {fp(x) for x in p}


def test_pptx_slide() -> None:
    p = pans(1)[0]
    data = pptx([[["call ", p[:6], p[6:]]]])
    xml = zipfile.ZipFile(io.BytesIO(data)).read("ppt/slides/slide1.xml")
    new, states, _ = redact(xml, "drawing")
    assert states == ["pan"] and text_of(new, "drawing") == f"call {'*' * 12}{p[-4:]}\n".encode()


@pytest.mark.parametrize("make", [lambda p: docx([["card ", p]]), lambda p: xlsx([["card " + p]], [("A1", "s", "0")])])
def test_second_pass_sees_the_masked_form(make) -> None:
    p = pans(1)[0]
    data = make(p)
    z = zipfile.ZipFile(io.BytesIO(data))
    part = "word/document.xml" if "word/document.xml" in z.namelist() else "xl/sharedStrings.xml"
    kind = "word" if part.startswith("word") else "sst"
    xml = z.read(part)
    fs = part_findings(xml, kind)
    new = redact_part(xml, kind, fs, Rewriter(FKEY))
    rw = Rewriter(FKEY)
    assert redact_part(new, kind, fs, rw) is None
    assert [s for s, _ in rw.states.values()] == ["masked"]
