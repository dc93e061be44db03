"""Scanner end to end on real-looking data, streaming at every chunk size."""
import io
import json

import pytest

from cardscan import ScanConfig, Scanner
from cardscan.engine.candidates import BACKENDS
from cardscan.testing import group, make_pan

KEY = b"scanner-test-key"


def scan(data: bytes, **cfg):
    return Scanner(ScanConfig(**cfg), key=KEY).scan_bytes(data)


def fps(findings):
    return sorted(f.fingerprint for f in findings)


def fp(pan: str) -> str:
    return Scanner(key=KEY).key.fingerprint(pan)


@pytest.fixture
def pans(rng):
    return {
        "visa": make_pan("4556", 16, rng),
        "mc": make_pan("2223", 16, rng),
        "amex": make_pan("37", 15, rng),
        "diners": make_pan("36", 14, rng),
        "discover": make_pan("6011", 16, rng),
        "jcb": make_pan("3530", 16, rng),
        "unionpay": make_pan("62", 17, rng),
        "maestro19": make_pan("6759", 19, rng),
    }


def realistic_documents(p):
    """Places PANs hide, each with the PAN it holds."""
    v, m, a = p["visa"], p["mc"], p["amex"]
    return [
        (f'{{"customer": 17, "card": "{v}", "exp": "04/29"}}', v),
        (f"id,name,card_number\n17,Jane,{group(m, (4, 4, 4, 4))}\n", m),
        (f"<payment><pan>{a}</pan></payment>", a),
        (f"GET /checkout?cc={v}&amount=12.00 HTTP/1.1", v),
        (f"INSERT INTO payments VALUES (17, '{group(p['discover'], (4, 4, 4, 4), '-')}', '2029-04');", p["discover"]),
        (f"2026-11-28T01:49:17Z level=info msg=charged pan={p['jcb']} amount=12.00", p["jcb"]),
        (f"card:{p['diners']};", p["diners"]),
        (f"x{p['unionpay']}y", p["unionpay"]),
        (f"Maestro {group(p['maestro19'], (4, 4, 4, 4, 3))} valid thru 12/28", p["maestro19"]),
    ]


def test_finds_pans_in_realistic_formats(pans) -> None:
    for text, pan in realistic_documents(pans):
        found = scan(text.encode())
        assert fps(found) == [fp(pan)], f"missed or extra in: {text[:20]}..."


def test_near_misses_are_rejected(pans) -> None:
    v = pans["visa"]
    bad = v[:-1] + str((int(v[-1]) + 1) % 10)
    near_misses = [
        bad,  # Luhn fails
        v[:6] + "******" + v[-4:],  # masked
        "************" + v[-4:],  # truncated
        "9" + v,  # part of a longer digit run
        v + "7",
        "12345678901234567890",
        v[:4] + " " + v[4:8] + "-" + v[8:12] + " " + v[12:],  # mixed separators
        v[:4] + "  " + v[4:8] + "  " + v[8:12] + "  " + v[12:],  # doubled separators
        v[:3] + " " + v[3:9] + " " + v[9:],  # irregular grouping
        "2026-11-28 01:49:17.123456",  # timestamps
        "192.168.100.200:8443",
        "0000 0000 0000 0000",
    ]
    for text in near_misses:
        assert scan(f"value {text} end".encode()) == [], "near miss reported"


def test_ids_with_field_names_are_not_reported_but_cards_are(pans) -> None:
    v = pans["visa"]
    assert scan(f"order_id={v}".encode()) == []
    assert scan(f"tracking number {v}".encode()) == []
    assert scan(f"trace=9f86d081884c{v}a4b0b822cd15d6c15b0f00a08".encode()) == []
    assert scan(f"call +{v}".encode()) == []
    (f,) = scan(f"card={v}".encode())
    assert f.confidence >= 85
    # min_confidence=0 reports them all, with the reasons that lowered them.
    low = scan(f"order_id={v}".encode(), min_confidence=0)
    assert len(low) == 1 and "negative_keyword" in low[0].reasons


def test_test_cards_flagged_and_droppable() -> None:
    data = b"stripe test card 4242 4242 4242 4242 and amex 378282246310005"
    found = scan(data)
    assert len(found) == 2 and all(f.test_card for f in found)
    assert scan(data, test_cards=False) == []


def test_location_offsets_lines_columns(pans) -> None:
    v = pans["visa"]
    data = f"first line\nsecond card {v} x\nthird\n".encode()
    (f,) = scan(data)
    assert (f.location.line, f.location.column) == (2, 13)
    same = data[f.location.offset:f.location.offset + f.location.length] == v.encode()
    assert same, "span does not cover the PAN"


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be", "utf-16"])
def test_utf16_whole_files(encoding, pans) -> None:
    text = f"Name: Jane\r\nCard: {group(pans['visa'], (4, 4, 4, 4))}\r\nAmex {pans['amex']}\r\n"
    data = text.encode(encoding)
    found = scan(data)
    assert fps(found) == sorted([fp(pans["visa"]), fp(pans["amex"])])
    assert {f.encoding for f in found} == {"utf-16be" if encoding == "utf-16-be" else "utf-16le"}
    for f in found:
        span = data[f.location.offset:f.location.offset + f.location.length]
        assert len(span) % 2 == 0 and span.decode(f.encoding).replace(" ", "").isdigit()


def test_utf16_runs_inside_binary(rng, pans) -> None:
    blob = bytes(rng.getrandbits(8) for _ in range(4000))
    data = blob[:1000] + pans["mc"].encode("utf-16-le") + blob[1000:3000] + pans["visa"].encode() + blob[3000:]
    assert fps(scan(data, min_confidence=0)) == sorted([fp(pans["mc"]), fp(pans["visa"])])
    assert scan(data, utf16=False, min_confidence=0) == [f for f in scan(data, min_confidence=0) if f.encoding == "ascii"]


def encoded_documents(p):
    """PANs inside base64 JSON, percent-encoding and HTML entities."""
    import base64

    blob = base64.b64encode(f'{{"user": 17, "card": "{p["visa"]}", "exp": "04/29"}}'.encode()).decode()
    pct = "%20".join(p["mc"][i:i + 4] for i in range(0, 16, 4))
    ent = "".join(f"&#{ord(c)};" for c in p["discover"])
    return [
        (f"2026-11-28 INFO event payload={blob} ok", p["visa"]),
        (f"GET /pay?cc={pct}&amount=12.00", p["mc"]),
        (f"<td>card {ent}</td>", p["discover"]),
    ]


def test_inline_encodings_point_at_the_encoded_digits(pans) -> None:
    for text, pan in encoded_documents(pans):
        data = text.encode()
        (f,) = scan(data)
        assert f.fingerprint == fp(pan)
        assert f.encoding in ("base64", "percent", "entity")
        assert f"encoded_{f.encoding}" in f.reasons and f.confidence >= 85
        span = data[f.location.offset:f.location.offset + f.location.length]
        assert span and pan not in span.decode(), "span should be the encoded text"
    for text, _ in encoded_documents(pans):
        assert scan(text.encode(), inline=False) == []


def test_plain_pan_next_to_an_escape_is_reported_once(pans) -> None:
    found = scan(f"card {pans['visa']}%2012".encode())
    assert len(found) == 1 and found[0].encoding == "ascii"


def corpus(rng, pans) -> bytes:
    parts = []
    docs = realistic_documents(pans) + encoded_documents(pans)
    for i, (text, _) in enumerate(docs * 3):
        parts.append(f"{rng.getrandbits(40)} noise {i}\n{text}\n")
    data = "".join(parts).encode()
    return data + pans["visa"].encode("utf-16-le") + b"\n;" + pans["mc"].encode() + b"=2912101000000?"


@pytest.mark.parametrize("backend", sorted(BACKENDS))
@pytest.mark.parametrize("chunk", [1, 7, 64, 4096, 1 << 20])
def test_streaming_equals_in_memory_at_every_chunk_size(chunk, backend, rng, pans) -> None:
    data = corpus(rng, pans)
    whole = scan(data)
    assert len(whole) >= 36
    streamed = list(Scanner(ScanConfig(chunk_size=chunk, backend=backend), key=KEY).scan_stream(io.BytesIO(data)))
    assert streamed == whole


@pytest.mark.parametrize("form", ["contiguous", "grouped", "utf16", "track2", "base64", "percent"])
def test_every_split_position_of_a_pan_across_a_boundary(form, pans) -> None:
    import base64

    v = pans["visa"]
    body = {
        "contiguous": f"card {v}".encode(),
        "grouped": f"card {group(v, (4, 4, 4, 4))}".encode(),
        "utf16": f"card {v}".encode("utf-16-le"),
        "track2": f";{v}=29121010000?".encode(),
        "base64": b"payload=" + base64.b64encode(f'{{"card":"{v}"}}'.encode()),
        "percent": ("cc=" + "%20".join(v[i:i + 4] for i in range(0, 16, 4))).encode(),
    }[form]
    prefix = b"z" * 700
    data = prefix + body + b" tail"
    (ref,) = scan(data)
    scanner = Scanner(key=KEY)
    for split in range(len(prefix) - 5, len(prefix) + len(body) + 2):
        stream = scanner.stream()
        got = stream.feed(data[:split]) + stream.feed(data[split:]) + stream.finish()
        assert got == [ref], f"split at {split}: {len(got)} findings"


def test_byte_ranges_tile_a_file_exactly_once(rng, pans) -> None:
    from cardscan.testing import scan_in_ranges

    data = corpus(rng, pans) * 4
    scanner = Scanner(ScanConfig(chunk_size=333), key=KEY)
    whole = scanner.scan_bytes(data)
    for cuts in ([0, len(data)], [0, 100, 101, 2000, len(data)], list(range(0, len(data), 997)) + [len(data)]):
        assert scan_in_ranges(scanner, data, cuts) == whole


def test_constant_memory_on_a_long_line_without_newlines(rng) -> None:
    import tracemalloc

    # tracemalloc traces every allocation: the pure-Python finder (CI's second
    # pass) made 20 MB take ~300 s, the suite's timeout, on a slow machine.
    # 4 MB still holds two chunk buffers' worth of memory many times over.
    size = (20 if "c" in BACKENDS else 4) * 1024 * 1024

    class Endless(io.RawIOBase):
        """``size`` bytes of digits and letters without a newline, made on the fly."""

        def __init__(self) -> None:
            self.left = size
            self.block = (b"a1234567890" * 10000)[:65536]

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            if self.left <= 0:
                return b""
            n = min(n if n > 0 else 65536, self.left, len(self.block))
            self.left -= n
            return self.block[:n]

    scanner = Scanner(ScanConfig(chunk_size=65536), key=KEY)
    tracemalloc.start()
    count = sum(1 for _ in scanner.scan_stream(Endless()))
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert count == 0
    assert peak < min(2 * 1024 * 1024, size // 4), f"peak {peak} bytes"


def test_findings_are_json_ready(pans) -> None:
    (f,) = scan(f"card {pans['visa']}".encode())
    json.dumps(f.to_dict())


@pytest.mark.parametrize("chunk", [7, 64, 1000, 4096])
def test_long_base64_blob_across_many_buffers(chunk, rng) -> None:
    import base64

    cards = [make_pan("4556", 16, rng) for _ in range(20)]
    records = [{"id": i, "note": "x" * rng.randint(0, 400), "card": c} for i, c in enumerate(cards)]
    blob = base64.b64encode(json.dumps(records).encode())
    data = b"log line one\nattachment=" + blob + b"\nend\n"
    whole = scan(data)
    assert fps(whole) == sorted(fp(c) for c in cards)
    streamed = list(Scanner(ScanConfig(chunk_size=chunk), key=KEY).scan_stream(io.BytesIO(data)))
    assert streamed == whole


@pytest.mark.parametrize("encoding", ["utf-16-le", "utf-16-be"])
@pytest.mark.parametrize("pad", [0, 1, 2, 3])
def test_utf16_byte_order_with_terminators_at_any_alignment(encoding, pad, rng, pans) -> None:
    # A NUL-terminated UTF-16 string inside binary data, at odd and even offsets.
    noise = bytes(rng.randrange(1, 256) for _ in range(64))
    body = pans["visa"].encode(encoding) + b"\x00\x00"
    data = noise + b"\x01" * pad + body + noise
    (f,) = scan(data, min_confidence=0)
    assert f.encoding == encoding.replace("-", "").replace("utf16", "utf-16")
    assert f.location.offset == len(noise) + pad and f.location.length == 32


def test_chunks_reuse_one_buffer_where_they_can_and_respect_the_limit() -> None:
    from cardscan.engine.detect import chunks as _chunks

    data = bytes(range(256)) * 40

    class ReadOnly(io.RawIOBase):  # read() only: readinto raises NotImplementedError
        def __init__(self) -> None:
            self.f = io.BytesIO(data)

        def readable(self) -> bool:
            return True

        def read(self, n: int = -1) -> bytes:
            return self.f.read(n)

    for make in (lambda: io.BytesIO(data), ReadOnly, lambda: io.BufferedReader(io.BytesIO(data), 100)):
        got = b"".join(bytes(c) for c in _chunks(make(), 333))
        assert got == data
        got = [bytes(c) for c in _chunks(make(), 333, 1000)]
        assert b"".join(got) == data[:1000] and max(map(len, got)) <= 333
    # readinto: every chunk is a view of the same buffer, so callers copy what they keep
    views = list(_chunks(io.BytesIO(data), 500))
    assert all(isinstance(v, memoryview) and v.obj is views[0].obj for v in views)


def test_chunks_start_small_and_grow_to_the_chunk_size() -> None:
    # A 1 MiB buffer per stream tripled the per-file cost of small files in
    # pool workers (page faults); big streams still read whole chunks.
    from cardscan.engine.detect import _FIRST_READ, chunks as _chunks

    small = list(_chunks(io.BytesIO(b"x" * 500), 1 << 20))
    assert len(small[0].obj) <= _FIRST_READ
    sizes = [len(c) for c in _chunks(io.BytesIO(b"x" * (5 << 20)), 1 << 20)]
    assert sizes[0] == _FIRST_READ and max(sizes) == 1 << 20 and sum(sizes) == 5 << 20


def test_a_finding_keeps_every_field_of_its_location() -> None:
    """Scanner.finding builds the location field by field: none may be lost (a new field included)."""
    import dataclasses

    from cardscan.engine.scanner import Scanner
    from cardscan.findings import Cell, FingerprintKey, Location

    base = Location(uri="file:///x", member=("a.zip", "b.txt"), version="v1", cell=Cell("t", "c", (("id", 1),)),
                    ref="Sheet1!B2", sealed="s")
    (f,) = Scanner(key=FingerprintKey(b"k")).scan_bytes(b"card 4111 1111 1111 1111 exp 01/29", base)
    want = dataclasses.replace(base, offset=5, length=19, line=1, column=6)
    assert [getattr(f.location, x.name) for x in dataclasses.fields(Location)] == \
        [getattr(want, x.name) for x in dataclasses.fields(Location)]


@pytest.mark.parametrize("where", [None, "file:///srv/a.log"])
def test_a_finding_is_made_as_its_dataclasses_make_it(where, rng) -> None:
    """Scanner.finding builds the Location and the Finding past their
    frozen __init__: the same fields, in the same order, as the classes'
    own (so the same pickle), and neither class has a __post_init__."""
    import pickle
    from dataclasses import fields, replace

    from cardscan.findings import Finding, Location

    s = Scanner(key=b"demo")
    base = None if where is None else Location(uri=where)
    p = make_pan("4556", 16, rng)
    (f,) = s.scan_bytes(f"x\ncard: {p}\n".encode(), base)
    want = Finding(**{x.name: getattr(f, x.name) for x in fields(Finding) if x.name != "location"},
                   location=Location(**{x.name: getattr(f.location, x.name) for x in fields(Location)}))
    for made, made_by_init in ((f, want), (f.location, want.location)):
        assert list(made.__dict__) == [x.name for x in fields(type(made))]
        assert list(made.__dict__.items()) == list(made_by_init.__dict__.items())
    assert pickle.dumps(f) == pickle.dumps(want) and replace(f) == f
    assert not hasattr(Finding, "__post_init__") and not hasattr(Location, "__post_init__")
