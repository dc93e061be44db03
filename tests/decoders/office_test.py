"""Tests for cardscan/decoders/office.py: the text a person sees in office files.

Documents are real zips of minimal valid XML parts written by tests/decoders/build.py.
"""
from __future__ import annotations

import gzip

import pytest

from cardscan.decoders.base import Limits
from cardscan.decoders.office import number_text
from cardscan.testing import group, make_pan

from .build import KEY, docx, odf, pans, pptx, scan, tar_bytes, xlsx, zip_bytes

P = pans(12, seed=41)


def _halves(pan: str) -> tuple[str, str]:
    g = group(pan, (4, 4, 4, 4))
    return g[:9], g[9:]  # "4111 1111" / " 1111 1111"


def test_docx_number_split_across_runs_is_found_in_document_order() -> None:
    a, b = _halves(P[0])
    # A number cut by a paragraph break is two lines of text, not a card.
    data = docx([["Customer paid with card: ", a], [b], ["Thanks."]])
    assert scan(data, "letter.docx").where(P[0]) == []
    data = docx([["Customer paid with card: ", a, b, " exp 04/29"], ["Thanks."]])
    r = scan(data, "letter.docx")
    assert r.failures == []
    assert r.where(P[0]) == [("word/document.xml",)]
    layer = next(x for x in r.layers if x[0] == ("word/document.xml",))
    assert layer[1] == "docx-text"
    text = layer[2].decode()
    assert text.splitlines()[1] == "Thanks."  # one paragraph per line
    # The offset points into the extracted text.
    f = next(f for m, f in r.findings if m == ("word/document.xml",))
    span = text.encode()[f.location.offset:f.location.offset + f.location.length]
    assert KEY.fingerprint(span.decode().replace(" ", "")) == f.fingerprint


def test_docx_header_and_other_parts() -> None:
    data = docx([["nothing"]], header="Ref card " + P[1])
    r = scan(data, "x.docx")
    assert r.where(P[1]) == [("word/header1.xml",)]
    assert ("docProps/core.xml",) in r.members()  # other parts are scanned raw
    assert dict((m, e) for m, e, _ in r.layers)[("docProps/core.xml",)] == "zip"


def test_office_detected_by_content_not_first_entry_or_name() -> None:
    data = docx([["card ", P[2][:8], P[2][8:]]], first="word/document.xml")
    assert scan(data, "attachment.bin").where(P[2]) == [("word/document.xml",)]


def test_xlsx_shared_strings_inline_strings_and_numbers() -> None:
    a, b = P[3][:8], P[3][8:]
    data = xlsx(
        shared=[["card_number"], [a, b]],  # a rich-text string of two runs
        cells=[("A1", "s", "0"), ("B1", None, P[4]), ("C1", None, f"{P[5][0]}.{P[5][1:]}E+15"),
               ("D1", "inlineStr", "card " + P[6]), ("E1", None, "12.5"), ("F1", "b", "1")],
    )
    r = scan(data, "customers.xlsx")
    assert r.failures == []
    assert r.where(P[3]) == [("xl/sharedStrings.xml",)]
    assert r.where(P[4]) == [("xl/worksheets/sheet1.xml",)]  # a number cell
    assert r.where(P[5]) == [("xl/worksheets/sheet1.xml",)]  # scientific notation, full precision
    assert r.where(P[6]) == [("xl/worksheets/sheet1.xml",)]  # inline string
    sheet = dict((m, t) for m, _, t in r.layers)[("xl/worksheets/sheet1.xml",)]
    assert b"\n12.5\n" in sheet and b"E+15" not in sheet
    assert {e for m, e, _ in r.layers if m[0].startswith("xl/s")} == {"xlsx-text"}


def test_xlsx_number_that_lost_its_last_digit_is_not_a_pan() -> None:
    # Excel keeps 15 significant digits: the 16th digit is gone from the file.
    truncated = f"{P[7][0]}.{P[7][1:15]}E+15"
    r = scan(xlsx(shared=[["x"]], cells=[("A1", None, truncated)]), "x.xlsx")
    assert r.where(P[7]) == []
    sheet = dict((m, t) for m, _, t in r.layers)[("xl/worksheets/sheet1.xml",)]
    found = sheet.strip() == (P[7][:15] + "0").encode()
    assert found, "the stored number must be written out as the digits it holds"


@pytest.mark.parametrize("value,expected", [
    ("4.111111111111111E+15", "4111111111111111"), ("4111111111111111", "4111111111111111"),
    ("1E+3", "1000"), ("12.5", "12.5"), ("-3.0", "-3"), ("abc", "abc"), ("1.5E-3", "1.5E-3"), ("", ""),
])
def test_number_text(value: str, expected: str) -> None:
    assert number_text(value) == expected


def test_pptx_slide_runs() -> None:
    a, b = _halves(P[8])
    r = scan(pptx([[["Title"]], [["Payment card ", a, b]]]), "deck.pptx")
    assert r.where(P[8]) == [("ppt/slides/slide2.xml",)]
    assert dict((m, e) for m, e, _ in r.layers)[("ppt/slides/slide2.xml",)] == "pptx-text"


def test_odt_spans_spaces_and_odf_spreadsheet_values() -> None:
    g = group(P[9], (4, 4, 4, 4)).split(" ")
    body = ('<office:text><text:p>Card <text:span>' + g[0] + '</text:span><text:s/>' + g[1]
            + '<text:s text:c="1"/><text:span>' + g[2] + " " + g[3] + '</text:span></text:p></office:text>')
    r = scan(odf("application/vnd.oasis.opendocument.text", body), "letter.odt")
    assert r.where(P[9]) == [("content.xml",)]
    assert dict((m, e) for m, e, _ in r.layers)[("content.xml",)] == "odt-text"
    cell = ('<office:spreadsheet><table:table><table:table-row>'
            f'<table:table-cell office:value-type="float" office:value="{P[10]}"><text:p>4.11E+15</text:p>'
            '</table:table-cell></table:table-row></table:table></office:spreadsheet>')
    r = scan(odf("application/vnd.oasis.opendocument.spreadsheet", cell), "sheet.ods")
    assert r.where(P[10]) == [("content.xml",)]


def test_encrypted_odf_part_is_encrypted() -> None:
    body = "<office:text><text:p>x</text:p></office:text>"
    r = scan(odf("application/vnd.oasis.opendocument.text", body, encrypted=("content.xml",)), "secret.odt")
    assert [(f.member, f.kind) for f in r.failures] == [(("content.xml",), "encrypted")]


def test_entity_bomb_in_office_xml_is_refused() -> None:
    bomb = ('<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;">]>'
            '<w:document xmlns:w="http://schemas.openxmlformats.org/wordprocessingml/2006/main"><w:body><w:p>'
            '<w:r><w:t>&lol2;</w:t></w:r></w:p></w:body></w:document>')
    data = zip_bytes({"[Content_Types].xml": b"<Types/>", "word/document.xml": bomb.encode(),
                      "word/footer1.xml": (b'<w:ftr xmlns:w="urn:x"><w:p><w:r><w:t>card ' + P[11].encode()
                                           + b"</w:t></w:r></w:p></w:ftr>")})
    r = scan(data, "bomb.docx")
    assert [(f.member, f.kind) for f in r.failures] == [(("word/document.xml",), "decode")]
    assert r.where(P[11]) == [("word/footer1.xml",)]


def test_malformed_xml_scans_the_text_before_the_error() -> None:
    doc = ('<w:document xmlns:w="urn:w"><w:body><w:p><w:r><w:t>card ' + P[0]
           + '</w:t></w:r></w:p><w:p><w:r><w:t>broken</w:r></w:body>')
    data = zip_bytes({"[Content_Types].xml": b"<Types/>", "word/document.xml": doc.encode()})
    r = scan(data, "x.docx")
    assert r.where(P[0]) == [("word/document.xml",)]
    assert [(f.member, f.kind) for f in r.failures] == [(("word/document.xml",), "decode")]


def test_office_inside_archives_keeps_the_whole_chain() -> None:
    book = xlsx(shared=[["card " + P[1]]], cells=[])
    inner = zip_bytes({"customers.xlsx": book})
    data = tar_bytes({"exports/march.zip": inner}, mode="w:gz")
    r = scan(data, "backup.tar.gz")
    assert r.where(P[1]) == [("exports/march.zip", "customers.xlsx", "xl/sharedStrings.xml")]
    # Nested too deep to buffer: read forward, still extracted as text (by name).
    r = scan(data, "backup.tar.gz", Limits(max_buffer=32))
    assert r.where(P[1]) == [("exports/march.zip", "customers.xlsx", "xl/sharedStrings.xml")]


def test_docx_embedded_in_docx_is_opened() -> None:
    inner = xlsx(shared=[["card " + P[2]]], cells=[])
    outer = zip_bytes({"[Content_Types].xml": b"<Types/>",
                       "word/document.xml": b'<w:document xmlns:w="urn:w"/>',
                       "word/embeddings/Microsoft_Excel_Worksheet.xlsx": inner})
    r = scan(gzip.compress(outer), "report.docx.gz")
    assert r.where(P[2]) == [("word/embeddings/Microsoft_Excel_Worksheet.xlsx", "xl/sharedStrings.xml")]


# -- cell references (issue 14.12) ---------------------------------------------------------------


def _scan_workbook(tmp_path, data: bytes, name: str = "book.xlsx", limits: Limits | None = None):
    from cardscan.engine.config import ScanConfig
    from cardscan.engine.scanner import Scanner
    from cardscan.pipeline import Pipeline
    from cardscan.sources.fs import FileSource

    p = tmp_path / name
    p.write_bytes(data)
    src = FileSource(p)
    (item,) = list(src.items())
    return Pipeline(Scanner(ScanConfig(), b"k"), limits, [src]).scan_item(item)


def test_findings_in_sheets_and_shared_strings_name_their_cells(tmp_path, rng) -> None:
    from cardscan.display import format_location
    from cardscan.testing import assert_no_pan
    from tests.decoders.build import workbook

    typed, number, inline, lonely = (make_pan("455673", 16, rng) for _ in range(4))
    data = workbook(
        [f"card {typed}", "name", f"spare {lonely}"],
        {"Customers": [[("A1", "s", "1"), ("B1", "s", "0")], [("A2", "s", "1"), ("C2", None, number)]],
         "Q3 refunds": [[("A1", "inlineStr", f"card {inline}")],
                        [("", "s", "0"), ("", "s", "0"), ("", "s", "0")],  # no r attributes: counted
                        [("D7", "s", "0")]]})
    r = _scan_workbook(tmp_path, data)
    assert r.errors == []
    by = {f.masked[:6] + f.masked[-4:]: f for f in r.findings}
    refs = {k[-4:]: f.location.ref for k, f in by.items()}
    assert refs[number[-4:]] == "Customers!C2"
    assert refs[inline[-4:]] == "'Q3 refunds'!A1"
    # The typed text is a shared string: the cells that show it, three named, the rest counted.
    assert refs[typed[-4:]] == "Customers!B1,'Q3 refunds'!A2,'Q3 refunds'!B2 (+2 more)"
    # A shared string no cell uses: no reference, its line in sharedStrings.xml as before.
    assert refs[lonely[-4:]] is None
    shown = {k[-4:]: format_location(f.location) for k, f in by.items()}
    assert shown[number[-4:]].endswith("book.xlsx!Customers!C2")
    assert shown[typed[-4:]].endswith("book.xlsx!Customers!B1,'Q3 refunds'!A2,'Q3 refunds'!B2 (+2 more)")
    assert shown[lonely[-4:]].endswith("book.xlsx!xl/sharedStrings.xml:3:7")
    assert_no_pan(repr(r.findings) + "".join(shown.values()), [typed, number, inline, lonely], "locations")
    # The manifest record keeps line/column (remediation) and adds ref.
    d = by[number[:6] + number[-4:]].location.to_dict()
    assert d["ref"] == "Customers!C2" and d["line"] >= 1


def test_cell_references_inside_a_zip_read_forward(tmp_path, rng) -> None:
    """A workbook nested beyond max_buffer is read forward: its sheets' names and the
    shared strings' cells are not at hand, so a cell is named bare, after its part."""
    from cardscan.display import format_location
    from tests.decoders.build import workbook

    pan, typed = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    book = workbook([f"card {typed}"], {"Data": [[("B3", None, pan), ("C3", "s", "0")]]})
    r = _scan_workbook(tmp_path, zip_bytes({"export/book.xlsx": book}, streamed=True), "outer.zip",
                       Limits(max_buffer=1024))
    by = {f.masked[-4:]: f for f in r.findings}
    assert by[pan[-4:]].location.ref == "B3"
    assert format_location(by[pan[-4:]].location).endswith("outer.zip!export/book.xlsx!xl/worksheets/sheet1.xml!B3")
    assert by[typed[-4:]].location.ref is None  # no second look at the sheets: the string's line


def test_a_sheet_named_like_a_card_is_masked_in_the_reference(tmp_path, rng) -> None:
    from cardscan.testing import assert_no_pan
    from tests.decoders.build import workbook

    pan, name = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    r = _scan_workbook(tmp_path, workbook([], {name: [[("A1", None, pan)]]}))
    (f,) = [x for x in r.findings if x.location.ref]
    assert_no_pan(f.location.public().ref + repr(f.location) + str(f.location.to_dict()), [pan, name], "ref")


def test_column_letters() -> None:
    from cardscan.decoders.office import column_letters, qualified

    assert [column_letters(n) for n in (1, 26, 27, 52, 703)] == ["A", "Z", "AA", "AZ", "AAA"]
    assert qualified("Sheet1", "B2") == "Sheet1!B2" and qualified("it's", "A1") == "'it''s'!A1"
    assert qualified("A1", "B2") == "'A1'!B2" and qualified(None, "B2") == "B2"
