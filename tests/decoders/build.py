"""Builders for real container files, written by the tests themselves.

Zips, tars and compressed streams come from the stdlib; office files are
real zips of minimal valid XML parts; PDFs are written object by object;
OLE2 compound files by a small writer below (olefile only reads them).
Nothing here mocks a format: each builder produces bytes another tool opens.
"""
from __future__ import annotations

import io
import random
import struct
import tarfile
import zipfile
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Iterable
from xml.sax.saxutils import escape

from cardscan import Scanner
from cardscan.decoders import Failure, Layer, Limits, expand
from cardscan.findings import Finding, FingerprintKey
from cardscan.testing import distinct_pans

KEY = FingerprintKey(b"decoder-tests")


def pans(n: int, seed: int = 4) -> list[str]:
    """Fresh, distinct Luhn-valid Visa/Mastercard numbers (the one generator: cardscan.testing.pans)."""
    return list(distinct_pans(n, seed))


def fp(pan: str) -> str:
    return KEY.fingerprint(pan)


@dataclass
class Result:
    """What a sweep would see: findings per member chain, failures, layer texts."""

    findings: list[tuple[tuple[str, ...], Finding]]
    failures: list[Failure]
    layers: list[tuple[tuple[str, ...], str, bytes]]

    def where(self, pan: str) -> list[tuple[str, ...]]:
        """Member chains in which ``pan`` was found."""
        f = fp(pan)
        return [m for m, x in self.findings if x.fingerprint == f]

    def kinds(self) -> list[tuple[str, str | None]]:
        return [(f.kind, f.limit) for f in self.failures]

    def members(self) -> list[tuple[str, ...]]:
        return [m for m, _, _ in self.layers]


def scan(data: bytes | io.IOBase, name: str = "item", limits: Limits | None = None, keep: bool = True) -> Result:
    """expand() + the real scanner over every layer, as the sweep does it."""
    scanner = Scanner(key=KEY)
    stream = io.BytesIO(data) if isinstance(data, (bytes, bytearray)) else data
    findings, failures, layers = [], [], []
    for part in expand(stream, name, limits):
        if isinstance(part, Failure):
            failures.append(part)
            continue
        assert isinstance(part, Layer)
        body = part.stream.read() if keep else b""
        if keep:
            found = scanner.scan_bytes(body)
        else:
            found = list(scanner.scan_stream(part.stream))
        layers.append((part.member, part.encoding, body))
        findings.extend((part.member, f) for f in found)
    return Result(findings, failures, layers)


# -- archives --------------------------------------------------------------------------


class Unseekable(io.RawIOBase):
    """A write-only or read-only pipe-like stream (no seek, no tell)."""

    def __init__(self, data: bytes = b"") -> None:
        self._r = io.BytesIO(data)
        self.out = io.BytesIO()

    def readable(self) -> bool:
        return True

    def writable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return False

    def readinto(self, b) -> int:  # type: ignore[no-untyped-def]
        data = self._r.read(len(b))
        b[: len(data)] = data
        return len(data)

    def write(self, b) -> int:  # type: ignore[no-untyped-def]
        return self.out.write(b)


def zip_bytes(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED, streamed: bool = False,
              zip64: bool = False) -> bytes:
    """A zip; ``streamed`` writes it to a non-seekable stream (data descriptors)."""
    target = Unseekable() if streamed else io.BytesIO()
    with zipfile.ZipFile(target, "w", method) as z:
        for n, d in files.items():
            if zip64:
                with z.open(zipfile.ZipInfo(n), "w", force_zip64=True) as w:
                    w.write(d)
            else:
                z.writestr(zipfile.ZipInfo(n) if method == zipfile.ZIP_STORED else n, d,
                           compress_type=method)
    return target.out.getvalue() if streamed else target.getvalue()  # type: ignore[union-attr]


def tar_bytes(files: dict[str, bytes], mode: str = "w") -> bytes:
    b = io.BytesIO()
    with tarfile.open(fileobj=b, mode=mode) as t:  # type: ignore[call-overload]
        for n, d in files.items():
            ti = tarfile.TarInfo(n)
            ti.size = len(d)
            t.addfile(ti, io.BytesIO(d))
    return b.getvalue()


# -- office ----------------------------------------------------------------------------

W = "http://schemas.openxmlformats.org/wordprocessingml/2006/main"
S = "http://schemas.openxmlformats.org/spreadsheetml/2006/main"
A = "http://schemas.openxmlformats.org/drawingml/2006/main"
P = "http://schemas.openxmlformats.org/presentationml/2006/main"
XML = '<?xml version="1.0" encoding="UTF-8" standalone="yes"?>\n'


def _types(overrides: Iterable[tuple[str, str]]) -> str:
    parts = "".join(f'<Override PartName="/{p}" ContentType="{t}"/>' for p, t in overrides)
    return (XML + '<Types xmlns="http://schemas.openxmlformats.org/package/2006/content-types">'
            '<Default Extension="rels" ContentType="application/vnd.openxmlformats-package.relationships+xml"/>'
            f'<Default Extension="xml" ContentType="application/xml"/>{parts}</Types>')


def _rels(target: str, rel_type: str) -> str:
    return (XML + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/relationships">'
            f'<Relationship Id="rId1" Type="{rel_type}" Target="{target}"/></Relationships>')


def docx(paragraphs: list[list[str]], header: str | None = None, first: str = "[Content_Types].xml") -> bytes:
    """A Word document; each paragraph is a list of runs (text split across <w:r>)."""
    body = "".join(
        "<w:p><w:pPr><w:tabs><w:tab w:val=\"left\" w:pos=\"720\"/></w:tabs></w:pPr>"
        + "".join(f'<w:r><w:rPr><w:b/></w:rPr><w:t xml:space="preserve">{escape(run)}</w:t></w:r>' for run in runs)
        + "</w:p>"
        for runs in paragraphs
    )
    doc = XML + f'<w:document xmlns:w="{W}"><w:body>{body}<w:sectPr/></w:body></w:document>'
    files = {
        "[Content_Types].xml": _types([("word/document.xml",
                                        "application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml")]),
        "_rels/.rels": _rels("word/document.xml",
                             "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"),
        "word/document.xml": doc,
        "docProps/core.xml": XML + '<cp:coreProperties xmlns:cp="http://schemas.openxmlformats.org/package/2006/'
                                   'metadata/core-properties"/>',
    }
    if header is not None:
        files["word/header1.xml"] = XML + f'<w:hdr xmlns:w="{W}"><w:p><w:r><w:t>{escape(header)}</w:t></w:r></w:p></w:hdr>'
    order = [first] + [k for k in files if k != first]
    return zip_bytes({k: files[k].encode() for k in order})


def xlsx(shared: list[list[str]], cells: list[tuple[str, str | None, str]]) -> bytes:
    """A workbook: shared strings (each a list of rich-text runs) and sheet cells
    ``(ref, type, value)``: type "s" (value = shared index), "inlineStr", None (number)."""
    sst = "".join("<si>" + ("".join(f"<r><t xml:space=\"preserve\">{escape(r)}</t></r>" for r in runs)
                            if len(runs) > 1 else f"<t>{escape(runs[0])}</t>") + "</si>" for runs in shared)
    row = ""
    for ref, typ, value in cells:
        if typ == "inlineStr":
            row += f'<c r="{ref}" t="inlineStr"><is><t>{escape(value)}</t></is></c>'
        elif typ:
            row += f'<c r="{ref}" t="{typ}"><v>{escape(value)}</v></c>'
        else:
            row += f'<c r="{ref}"><v>{escape(value)}</v></c>'
    sheet = XML + f'<worksheet xmlns="{S}"><sheetData><row r="1">{row}</row></sheetData></worksheet>'
    files = {
        "[Content_Types].xml": _types([("xl/workbook.xml",
                                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml")]),
        "_rels/.rels": _rels("xl/workbook.xml",
                             "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"),
        "xl/workbook.xml": XML + f'<workbook xmlns="{S}"><sheets><sheet name="S" sheetId="1"/></sheets></workbook>',
        "xl/sharedStrings.xml": XML + f'<sst xmlns="{S}" count="{len(shared)}">{sst}</sst>',
        "xl/worksheets/sheet1.xml": sheet,
    }
    return zip_bytes({k: v.encode() for k, v in files.items()})


def workbook(shared: list[str], sheets: dict[str, list[list[tuple[str, str | None, str]]]]) -> bytes:
    """A workbook as Excel writes one: sheets named in xl/workbook.xml and found
    through its relationships (rId order differs from the part names on purpose),
    rows of cells ``(ref, type, value)`` (``ref`` "" leaves the r attribute out)."""
    rels, entries, files = [], [], {}
    for i, (name, rows) in enumerate(sheets.items(), 1):
        part = f"sheet{len(sheets) + 1 - i}.xml"  # the first sheet is not sheet1.xml
        rels.append(f'<Relationship Id="rId{i + 10}" Type="{_RELS}/worksheet" Target="worksheets/{part}"/>')
        entries.append(f'<sheet name="{escape(name, {chr(34): "&quot;"})}" sheetId="{i}" r:id="rId{i + 10}"/>')
        body = ""
        for r, cells in enumerate(rows, 1):
            row = ""
            for ref, typ, value in cells:
                attr = f' r="{ref}"' if ref else ""
                if typ == "inlineStr":
                    row += f'<c{attr} t="inlineStr"><is><t>{escape(value)}</t></is></c>'
                else:
                    row += f'<c{attr}{f" t={chr(34)}{typ}{chr(34)}" if typ else ""}><v>{escape(value)}</v></c>'
            body += f'<row r="{r}">{row}</row>'
        files[f"xl/worksheets/{part}"] = XML + f'<worksheet xmlns="{S}"><sheetData>{body}</sheetData></worksheet>'
    sst = "".join(f"<si><t>{escape(t)}</t></si>" for t in shared)
    files.update({
        "[Content_Types].xml": _types([("xl/workbook.xml",
                                        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet.main+xml")]),
        "_rels/.rels": _rels("xl/workbook.xml",
                             "http://schemas.openxmlformats.org/officeDocument/2006/relationships/officeDocument"),
        "xl/workbook.xml": XML + f'<workbook xmlns="{S}" xmlns:r="{_RELS}"><sheets>{"".join(entries)}</sheets></workbook>',
        "xl/_rels/workbook.xml.rels": XML + '<Relationships xmlns="http://schemas.openxmlformats.org/package/2006/'
                                            f'relationships">{"".join(rels)}</Relationships>',
        "xl/sharedStrings.xml": XML + f'<sst xmlns="{S}" count="{len(shared)}">{sst}</sst>',
    })
    return zip_bytes({k: v.encode() for k, v in files.items()})


_RELS = "http://schemas.openxmlformats.org/officeDocument/2006/relationships"


def pptx(slides: list[list[list[str]]]) -> bytes:
    files = {
        "[Content_Types].xml": _types([("ppt/presentation.xml",
                                        "application/vnd.openxmlformats-officedocument.presentationml.presentation.main+xml")]),
        "ppt/presentation.xml": XML + f'<p:presentation xmlns:p="{P}"/>',
    }
    for i, paras in enumerate(slides, 1):
        body = "".join("<a:p>" + "".join(f"<a:r><a:t>{escape(r)}</a:t></a:r>" for r in runs) + "</a:p>" for runs in paras)
        files[f"ppt/slides/slide{i}.xml"] = (XML + f'<p:sld xmlns:p="{P}" xmlns:a="{A}"><p:cSld><p:spTree><p:sp>'
                                             f'<p:txBody>{body}</p:txBody></p:sp></p:spTree></p:cSld></p:sld>')
    return zip_bytes({k: v.encode() for k, v in files.items()})


ODF_NS = ('xmlns:office="urn:oasis:names:tc:opendocument:xmlns:office:1.0" '
          'xmlns:text="urn:oasis:names:tc:opendocument:xmlns:text:1.0" '
          'xmlns:table="urn:oasis:names:tc:opendocument:xmlns:table:1.0" '
          'xmlns:manifest="urn:oasis:names:tc:opendocument:xmlns:manifest:1.0"')


def odf(mime: str, body: str, encrypted: tuple[str, ...] = ()) -> bytes:
    """An OpenDocument file: ``mimetype`` first and stored, then content.xml."""
    entries = "".join(
        f'<manifest:file-entry manifest:full-path="{p}" manifest:media-type="text/xml">'
        + ('<manifest:encryption-data manifest:checksum-type="SHA1"/>' if p in encrypted else "")
        + "</manifest:file-entry>" for p in ("content.xml",))
    manifest = XML + f'<manifest:manifest {ODF_NS}>{entries}</manifest:manifest>'
    content = XML + f'<office:document-content {ODF_NS}><office:body>{body}</office:body></office:document-content>'
    b = io.BytesIO()
    with zipfile.ZipFile(b, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr(zipfile.ZipInfo("mimetype"), mime, compress_type=zipfile.ZIP_STORED)
        z.writestr("content.xml", content)
        z.writestr("META-INF/manifest.xml", manifest)
    return b.getvalue()


# -- PDF --------------------------------------------------------------------------------


def pdf(pages: list[list[str]], info: dict[str, str] | None = None) -> bytes:
    """A real PDF, one text object per line (Helvetica), written object by object."""
    objs: list[bytes] = []
    n_pages = len(pages)
    kids = " ".join(f"{3 + 2 * i} 0 R" for i in range(n_pages))
    font = 3 + 2 * n_pages
    objs.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objs.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    for i, lines in enumerate(pages):
        ops = ["BT", f"/F1 12 Tf 72 {720} Td 14 TL"]
        for line in lines:
            safe = line.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")
            ops.append(f"({safe}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops).encode("latin-1")
        objs.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents {4 + 2 * i} 0 R "
                    f"/Resources << /Font << /F1 {font} 0 R >> >> >>".encode())
        objs.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    objs.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    info_ref = ""
    if info:
        entries = " ".join(f"/{k} ({v})" for k, v in info.items())
        objs.append(f"<< {entries} >>".encode("latin-1"))
        info_ref = f" /Info {len(objs)} 0 R"
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objs, 1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n" % i + body + b"\nendobj\n")
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objs) + 1))
    for off in offsets:
        out.write(b"%010d 00000 n \n" % off)
    out.write(f"trailer\n<< /Size {len(objs) + 1} /Root 1 0 R{info_ref} >>\nstartxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


# -- OLE2 compound files ------------------------------------------------------------


def ole(streams: dict[str, bytes]) -> bytes:
    """A minimal OLE2 compound file (version 3, 512-byte sectors) with root-level streams.

    Streams are padded to at least 4096 bytes so none lives in the mini stream.
    """
    ENDOFCHAIN, FREESECT, FATSECT = 0xFFFFFFFE, 0xFFFFFFFF, 0xFFFFFFFD
    datas = [(name, data + b"\x00" * max(0, 4096 - len(data))) for name, data in streams.items()]
    n_entries = len(datas) + 1
    dir_sectors = (n_entries * 128 + 511) // 512
    data_sectors = [(len(d) + 511) // 512 for _, d in datas]
    total = 1 + dir_sectors + sum(data_sectors)  # one FAT sector is enough for < 128 sectors
    assert total <= 128
    fat = [FREESECT] * 128
    fat[0] = FATSECT
    for i in range(dir_sectors):
        fat[1 + i] = 2 + i if i + 1 < dir_sectors else ENDOFCHAIN
    starts, sec = [], 1 + dir_sectors
    for count in data_sectors:
        starts.append(sec)
        for j in range(count):
            fat[sec + j] = sec + j + 1 if j + 1 < count else ENDOFCHAIN
        sec += count

    def entry(name: str, typ: int, left: int, right: int, child: int, start: int, size: int) -> bytes:
        raw = name.encode("utf-16-le") + b"\x00\x00"
        return (raw.ljust(64, b"\x00") + struct.pack("<HBB", len(raw), typ, 1)
                + struct.pack("<III", left, right, child) + b"\x00" * 16 + b"\x00" * 4 + b"\x00" * 16
                + struct.pack("<IQ", start, size))

    NONE = FREESECT
    entries = [entry("Root Entry", 5, NONE, NONE, 1 if datas else NONE, ENDOFCHAIN, 0)]
    for i, ((name, data), start) in enumerate(zip(datas, starts)):
        right = i + 2 if i + 1 < len(datas) else NONE  # siblings chained to the right
        entries.append(entry(name, 2, NONE, right, NONE, start, len(data)))
    directory = b"".join(entries).ljust(dir_sectors * 512, b"\x00")
    for k in range(len(entries), dir_sectors * 4):  # unused entries: empty, no siblings
        off = k * 128
        directory = directory[:off + 68] + struct.pack("<III", NONE, NONE, NONE) + directory[off + 80:]
    header = (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\x00" * 16 + struct.pack("<HHHHH", 0x3E, 3, 0xFFFE, 9, 6)
              + b"\x00" * 6 + struct.pack("<IIIIIIIII", 0, 1, 1, 0, 4096, ENDOFCHAIN, 0, ENDOFCHAIN, 0)
              + struct.pack("<I", 0) + struct.pack("<I", FREESECT) * 108)
    assert len(header) == 512
    body = struct.pack("<128I", *fat) + directory + b"".join(d.ljust(n * 512, b"\x00") for (_, d), n in
                                                                   zip(datas, data_sectors))
    return header + body


# -- mail ---------------------------------------------------------------------------


def message(body: str, cte: str = "base64", subject: str = "Your order", attachments: dict[str, bytes] | None = None,
            html: str | None = None) -> EmailMessage:
    m = EmailMessage()
    m["From"] = "Shop <orders@shop.example>"
    m["To"] = "customer@example.org"
    m["Subject"] = subject
    m["Message-ID"] = "<1@shop.example>"
    m.set_content(body, cte=cte)
    if html is not None:
        m.add_alternative(html, subtype="html")
    for name, data in (attachments or {}).items():
        m.add_attachment(data, maintype="application", subtype="octet-stream", filename=name)
    # Fixed boundaries: the email package draws a random 19-digit one, and about
    # one in fifty is a Luhn-valid number some issuer range admits at 19 digits
    # (a finding no test planted; the hook test failed so now and then).
    for i, part in enumerate(p for p in m.walk() if p.is_multipart()):
        part.set_boundary(f"cardscan-test-boundary-{i}")
    return m


def mbox(messages: list[bytes]) -> bytes:
    out = []
    for i, raw in enumerate(messages):
        out.append(b"From sender%d@example.org Mon Mar  4 10:00:%02d 2024\n" % (i, i) + raw.replace(b"\r\n", b"\n"))
    return b"\n".join(out)


# -- formats known by name or header only (no magic bytes) ---------------------------------


def noise_text(n: int, rng: random.Random) -> bytes:
    """``n`` bytes of text that compresses poorly (random words of letters: no digits,
    so no card number by accident)."""
    letters = "abcdefghijklmnopqrstuvwxyz"
    line = lambda: " ".join("".join(rng.choices(letters, k=rng.randint(2, 9))) for _ in range(8))  # noqa: E731
    out, size = [], 0
    while size < n:
        out.append(line().encode() + b"\n")
        size += len(out[-1])
    return b"".join(out)[:n]


def lzma_alone(data: bytes) -> bytes:
    """Legacy ``.lzma`` ("LZMA alone"): no magic bytes, recognised by its name."""
    import lzma

    return lzma.compress(data, format=lzma.FORMAT_ALONE)


def mbox_with_zip_at_the_end(card: str, rng: random.Random, filler: int) -> bytes:
    """A mailbox whose last message carries the card inside a zip attachment
    (deflated: invisible to a scan of the raw bytes)."""
    msgs = [message(noise_text(filler // 4, rng).decode()).as_bytes() for _ in range(4)]
    # Enough text before the card that deflate codes it with its own Huffman table (no stored block).
    csv = noise_text(4000, rng) + f"x,{card}\n".encode()
    msgs.append(message("see attached", attachments={"export.zip": zip_bytes({"cards.csv": csv})}).as_bytes())
    return mbox(msgs)
