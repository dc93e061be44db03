"""Contract tests every plugin inherits (fsspec ``tests/abstract`` style).

Subclass a contract in a test module and give it the fixture it asks for:

* :class:`SourceContract`: ``source_case`` -> :class:`SourceCase`;
* :class:`DecoderContract`: ``decoder_case`` -> :class:`DecoderCase`;
* :class:`SinkContract`: ``sink_case`` -> :class:`SinkCase`;
* :class:`RemediatorContract`: ``remediator_case`` -> :class:`RemediatorCase`.

The contract classes' names do not start with ``Test``, so pytest collects
only the subclasses. Failure messages show masked numbers only.
"""
from __future__ import annotations

import io
import json
import pickle
import random
import re
import zipfile
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import pytest

from .. import registry
from ..decoders import Failure, expand, is_container
from ..decoders.base import HEAD_SIZE
from ..decoders.expand import pick
from ..engine.scanner import Scanner
from ..findings import ERROR_KINDS, Cell, FingerprintKey
from ..remediate.base import STATUSES, Context, Options
from ..sinks.base import ListSink, Sink
from ..sources.base import RowSource
from ..sources.fs import FileSource
from .oracle import assert_no_pan
from .pans import PanFactory, break_luhn, group, masked
from .scan import SourceScan, scan_source

#: ``scheme://user:password@host``: a URL that carries a password.
_PASSWORD_IN_URL = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^/@\s:]*:[^/@\s]+@")


class SourceCase:
    """What a source test hands to :class:`SourceContract`.

    ``source``: a source instance holding ``pans`` (planted card numbers,
    every one must be found); ``unreadable``: URIs of items that cannot be
    read (each must turn into an ErrorRecord, and must not be the last item
    listed, so the test sees the listing go on); ``secrets``: strings such as
    passwords that must never show in a URI or message.
    """

    def __init__(self, source, pans, unreadable=(), secrets=(), key: bytes = b"cardscan-contract") -> None:  # type: ignore[no-untyped-def]
        self.source = source
        self.pans = [str(p) for p in pans]
        self.unreadable = list(unreadable)
        self.secrets = [s for s in secrets if s]
        self.key = key
        self._scan: SourceScan | None = None

    def __repr__(self) -> str:  # never the PANs or secrets
        return f"SourceCase({type(self.source).__name__}, pans={len(self.pans)}, unreadable={len(self.unreadable)})"

    def scan(self) -> SourceScan:
        if self._scan is None:
            self._scan = scan_source(self.source, Scanner(key=FingerprintKey(self.key)))
        return self._scan

    def fingerprints(self) -> dict[str, str]:
        k = FingerprintKey(self.key)
        return {k.fingerprint(p): masked(p) for p in self.pans}


class SourceContract:
    """Tests every source must pass. Subclass it in a test module::

        class TestMySource(SourceContract):
            @pytest.fixture
            def source_case(self, tmp_path):
                ...plant PANs...
                return SourceCase(MySource.from_url(url), pans=[...], unreadable=[...])

    The class name does not start with ``Test``, so pytest collects only the
    subclasses. Failure messages show masked numbers only.
    """

    def test_items_pickle(self, source_case: SourceCase) -> None:
        items = source_case.scan().items
        assert items, "the source listed no items"
        for item in items:
            back = pickle.loads(pickle.dumps(item))
            same = back == item and back.meta == item.meta
            assert same, f"Item does not survive pickling: {item.uri}"

    def test_items_name_a_registered_source(self, source_case: SourceCase) -> None:
        cls = type(source_case.source)
        for item in source_case.scan().items:
            assert item.source == cls.name, f"item.source {item.source!r} is not the source's name {cls.name!r}"
            assert item.source in registry.names("cardscan.sources"), f"source {item.source!r} is not registered"
            assert registry.load("cardscan.sources", item.source) is cls
            # The sweep may reopen an item from its URI alone.
            by_url = registry.load("cardscan.sources", registry.source_for_url(item.uri))
            assert by_url is cls, f"{item.uri} maps to {by_url.__name__}, not {cls.__name__}"

    def test_open_returns_data(self, source_case: SourceCase) -> None:
        scan = source_case.scan()
        readable = [i for i in scan.items if i.uri not in source_case.unreadable]
        assert readable, "no readable item listed"
        if isinstance(source_case.source, RowSource):
            total = sum(scan.cells.get(i.uri, 0) for i in readable)
            assert total > 0, "cells() yielded no cell in any readable table"
            for item in readable[:3]:
                for rec in source_case.source.cells(item):
                    if isinstance(rec, tuple):
                        cell, data = rec
                        assert isinstance(cell, Cell) and isinstance(data, bytes)
                        break
        else:
            for item in readable:
                got = 0
                with source_case.source.open(item) as f:  # the raw stream, before any decoder
                    while chunk := f.read(1 << 20):
                        got += len(chunk)
                if item.size is not None:
                    assert got == item.size, f"{item.uri}: read {got} bytes, listed size {item.size}"

    def test_planted_pans_found(self, source_case: SourceCase) -> None:
        found = {f.fingerprint for f in source_case.scan().findings}
        missing = [masked for fp, masked in source_case.fingerprints().items() if fp not in found]
        assert not missing, f"{len(missing)} planted card number(s) not found: {', '.join(missing)}"

    def test_unreadable_item_is_error_record(self, source_case: SourceCase) -> None:
        if not source_case.unreadable:
            pytest.skip("this case plants no unreadable item")
        scan = source_case.scan()
        for uri in source_case.unreadable:
            errs = [e for e in scan.errors if e.location.uri == uri or e.location.uri.startswith(uri + "#")]
            assert errs, f"no ErrorRecord for the unreadable item {uri}"
            for e in errs:
                assert e.kind in ERROR_KINDS and e.kind != "internal", f"{uri}: error kind {e.kind!r}"
        # The listing went on past the first unreadable item.
        uris = [getattr(e, "uri", None) or e.location.uri for e in scan.listing]
        first = min(i for i, u in enumerate(uris) if u in source_case.unreadable)
        later = [u for u in uris[first + 1:] if u not in source_case.unreadable]
        assert later, "nothing was listed after the unreadable item (plant it earlier in the listing)"

    def test_no_password_in_uris_or_messages(self, source_case: SourceCase) -> None:
        scan = source_case.scan()
        texts = [i.uri for i in scan.items] + [repr(i) for i in scan.items] + [repr(source_case.source)]
        texts += [e.location.uri + " " + e.message for e in scan.errors]
        texts += [f.location.uri for f in scan.findings]
        for text in texts:
            bad = _PASSWORD_IN_URL.search(text) is not None or any(s in text for s in source_case.secrets)
            assert not bad, "a URI, repr or message carries a password"

    def test_no_pan_in_listing_errors_or_findings(self, source_case: SourceCase) -> None:
        scan = source_case.scan()
        assert_no_pan(repr(scan.items), source_case.pans, "item listing")
        assert_no_pan(json.dumps([e.to_dict() for e in scan.errors], default=str), source_case.pans, "error records")
        assert_no_pan(json.dumps([f.to_dict() for f in scan.findings], default=str), source_case.pans, "findings")

    def test_items_read_consistently(self, source_case: SourceCase) -> None:
        """Byte sources: a stream reads the same after a seek. Row sources: one value per cell address."""
        scan = source_case.scan()
        readable = [i for i in scan.items if i.uri not in source_case.unreadable]
        if isinstance(source_case.source, RowSource):
            for item in readable:
                seen: set = set()
                for rec in source_case.source.cells(item):
                    if isinstance(rec, tuple):
                        c = rec[0]
                        address = (c.schema, c.table, c.column, c.row_key)
                        assert address not in seen, f"{item.uri}: two values at one cell address (a bad key)"
                        seen.add(address)
            return
        checked = 0
        for item in readable:
            if not item.size or item.size < 2:
                continue
            with source_case.source.open(item) as f:
                if not (hasattr(f, "seekable") and f.seekable()):
                    continue
                whole = f.read()
                f.seek(item.size // 2)
                tail = f.read()
            same = tail == whole[item.size // 2:]
            assert same, f"{item.uri}: reading after seek() gives other bytes"
            checked += 1
        if not checked:
            pytest.skip("no seekable stream")


# --------------------------------------------------------------------------
# Decoders
# --------------------------------------------------------------------------
#: Read sizes a layer must give the same bytes at (ripgrep's "test at tiny sizes").
READ_SIZES = (1, 7, 1 << 16)


@dataclass
class DecoderCase:
    """What a decoder's contract test is given."""

    #: Its name in the ``cardscan.decoders`` registry group.
    name: str
    #: (file name, bytes) of objects it opens, together holding every number in ``pans``.
    samples: list[tuple[str, bytes]]
    #: Card numbers planted in the samples (from ``cardscan.testing.make_pan``).
    pans: list[str] = field(default_factory=list)
    #: (file name, bytes) it must decline: plain files, look-alikes, other formats.
    near_misses: list[tuple[str, bytes]] = field(default_factory=list)
    #: Seed for the damaged samples.
    seed: int = 13


def _head(data: bytes) -> bytes:
    return data[:HEAD_SIZE]


def _accepts(decoder: Any, name: str, head: bytes) -> bool:
    return bool((head and decoder.accepts("", head)) or decoder.accepts(name, head))


def _drain(name: str, data: bytes, read_size: int = 1 << 16) -> tuple[list[Any], list[Any]]:
    """(layers as (member, encoding, bytes), failures) of ``data`` through ``expand``."""
    layers, failures = [], []
    for part in expand(io.BytesIO(data), name):
        if isinstance(part, Failure):
            failures.append(part)
            continue
        chunks = []
        while chunk := part.stream.read(read_size):
            chunks.append(chunk)
        layers.append((part.member, part.encoding, b"".join(chunks)))
    return layers, failures


def _damaged(data: bytes, seed: int) -> list[bytes]:
    rng = random.Random(seed)
    cuts = sorted({len(data) // 2, len(data) - 1, max(1, len(data) // 7), rng.randrange(1, max(2, len(data)))})
    out = [data[:c] for c in cuts if 0 < c < len(data)]
    for _ in range(3):
        flipped = bytearray(data)
        for _ in range(max(1, len(data) // 200)):
            flipped[rng.randrange(len(data))] ^= 1 << rng.randrange(8)
        out.append(bytes(flipped))
    return out


class DecoderContract:
    """Tests every decoder must pass (built-in and third-party alike)::

        class TestRot13(DecoderContract):
            @pytest.fixture
            def decoder_case(self):
                pan = make_pan("455673", 16, random.Random(1))
                return DecoderCase(name="rot13", samples=[("note.r13", b"ROT13\\n" + rot13(f"card {pan}"))],
                                   pans=[pan], near_misses=[("note.txt", b"plain text")])

    What it checks:

    * the decoder is registered under ``name`` and picked for its samples;
    * "is this a container?" (``cardscan.decoders.is_container``) says yes
      wherever ``accepts()`` does, also for heads cut short: the sweep planner
      and the hook ask it, and a no would leave the object undecoded (the data
      a built-in declares in the registry must cover its ``accepts()``);
    * near misses (plain files, other formats) are declined;
    * the planted card numbers are found through ``expand`` and the scanner;
    * a layer reads the same at any read size (1, 7 and 64 KiB bytes at a time);
    * truncated and damaged samples never raise: the damage becomes failures,
      whose messages hold no card number.
    """

    def decoder(self, case: DecoderCase) -> Any:
        return registry.load("cardscan.decoders", case.name)()

    def test_registered_and_picked_for_its_samples(self, decoder_case: DecoderCase) -> None:
        assert decoder_case.name in registry.names("cardscan.decoders"), f"{decoder_case.name!r} is not registered"
        cls = registry.load("cardscan.decoders", decoder_case.name)
        assert isinstance(getattr(cls, "name", None), str) and cls.name, "a decoder needs a stable name"
        assert decoder_case.samples, "the case has no samples"
        for name, data in decoder_case.samples:
            picked = pick(name, _head(data))
            assert isinstance(picked, cls), (
                f"{name}: picked {type(picked).__name__ if picked else None}, not {cls.__name__}")

    def test_is_container_says_yes_wherever_accepts_does(self, decoder_case: DecoderCase) -> None:
        dec = self.decoder(decoder_case)
        heads = [(n, _head(d)) for n, d in decoder_case.samples + decoder_case.near_misses]
        # Heads cut short (a small object, a short read) must not change the answer's direction.
        heads += [(n, h[:k]) for n, h in list(heads) for k in (1, 2, 4, 8, 13, 64, 257, 262, 512, 1024)
                  if k < len(h)]
        heads += [(n.upper(), h) for n, h in list(heads)]  # names are matched case-insensitively
        for name, head in heads:
            if _accepts(dec, name, head):
                assert is_container(name, head), (
                    f"{decoder_case.name} accepts {name!r} (head {head[:16]!r}...) but is_container says no: "
                    "declare its magic bytes or names in the registry")

    def test_near_misses_are_declined(self, decoder_case: DecoderCase) -> None:
        dec = self.decoder(decoder_case)
        for name, data in decoder_case.near_misses:
            assert not _accepts(dec, name, _head(data)), f"{decoder_case.name} accepts the near miss {name!r}"

    def test_planted_pans_found(self, decoder_case: DecoderCase) -> None:
        key = FingerprintKey(b"decoder-contract" * 2)
        scanner = Scanner(key=key)
        found = set()
        for name, data in decoder_case.samples:
            layers, _ = _drain(name, data)
            for _member, _encoding, body in layers:
                found |= {f.fingerprint for f in scanner.scan_bytes(body)}
        missing = [masked(p) for p in decoder_case.pans if key.fingerprint(p) not in found]
        assert not missing, f"planted numbers not found: {missing}"

    def test_layers_read_the_same_at_any_read_size(self, decoder_case: DecoderCase) -> None:
        for name, data in decoder_case.samples:
            reference = _drain(name, data)
            for size in READ_SIZES:
                got = _drain(name, data, size)
                assert [(m, e, b) for m, e, b in got[0]] == reference[0], f"{name}: layers differ at read size {size}"
                assert [(f.member, f.kind) for f in got[1]] == [(f.member, f.kind) for f in reference[1]]

    def test_damaged_samples_become_failures_not_exceptions(self, decoder_case: DecoderCase) -> None:
        for name, data in decoder_case.samples:
            for bad in _damaged(data, decoder_case.seed):
                try:
                    _, failures = _drain(name, bad)
                except Exception as exc:  # noqa: BLE001 - the contract: nothing escapes expand
                    raise AssertionError(f"{name}: a damaged sample raised {type(exc).__name__}") from None
                for f in failures:
                    assert f.kind in ("decode", "encrypted", "limit", "io"), f"{name}: failure kind {f.kind!r}"
                    assert isinstance(f.message, str) and isinstance(f.member, tuple)
                assert_no_pan(" ".join(f.message for f in failures), decoder_case.pans, f"{name}: failure messages")


# --------------------------------------------------------------------------
# Sinks
# --------------------------------------------------------------------------

class SinkCase:
    """What a sink test hands to :class:`SinkContract`.

    ``make(path)``: a new sink writing its output to the file ``path`` (the
    contract reads it after ``close``; files the sink writes beside it, in
    the same fresh directory, are searched for card numbers too).
    ``view(output)``: one entry per finding the output reports; ``key(f)``:
    the entry ``view`` gives for the finding ``f`` (default: its id), so
    that the output can be compared with what a :class:`ListSink` received.
    ``errors(output)``: how many error records the output reports, if the
    format says (None: not compared). ``read(path)``: the output once the
    sink is closed (default: the file's bytes; a sink that stages its output
    elsewhere until a sweep completes says where to look).
    """

    def __init__(self, make, view, key=None, errors=None, read=None) -> None:  # type: ignore[no-untyped-def]
        self.make = make
        self.view = view
        self.key = key or (lambda f: f.id)
        self.errors = errors
        self.read = read or (lambda path: path.read_bytes() if path.exists() else b"")

    def __repr__(self) -> str:
        return "SinkCase()"


class SinkRun:
    """A small tree scanned in this process, as the calls a sweep makes on its sinks."""

    def __init__(self, root: Path) -> None:
        factory = PanFactory(20261128)
        self.pans = [factory.new("4556"), factory.new("51"), factory.new("37", 15), factory.new("6011"),
                     factory.new("4", 19)]
        a, b, c, d, e = self.pans
        root.mkdir(parents=True, exist_ok=True)
        (root / "orders.csv").write_text(f"id,name,card_number\n1,Jane,{a}\n2,John,{group(b, (4, 4, 4, 4))}\n")
        (root / f"receipt_{c}.txt").write_text(f"paid with card {c} thanks\n")  # a name that holds a card
        with zipfile.ZipFile(root / "export.zip", "w") as zf:
            zf.writestr(f"cards_{d}.txt", f"card number: {d}\n")
        (root / "notes.txt").write_text(f"call back, card {break_luhn(e)} declined (not a card)\n")
        (root / "clean.log").write_text("2024-06-11 INFO nothing to see\n")
        (root / "broken.gz").write_bytes(b"\x1f\x8b\x08\x00" + b"not gzip at all" * 4)
        self.key = FingerprintKey(b"cardscan-sink-contract")
        source = FileSource.from_url(str(root))
        scan = scan_source(source, Scanner(key=self.key))
        self.info = {
            "cardscan_version": "contract", "started": "2026-01-01T00:00:00Z", "host": "contract",
            "sources": source.describe(), "key_id": self.key.key_id, "key_source": "argument",
            "settings": {}, "plugins": {},
        }
        # The pipeline publishes names (a card in a file name is masked, the real
        # name sealed) before a sweep's sinks see them. Library callers may hand
        # a sink real locations, so the contract does: each seal is opened again.
        self.results = [(item, [_real(f, self.key) for f in found], [_real(e, self.key) for e in errors])
                        for item, found, errors in scan.results]
        self.reference = ListSink()
        self.replay(self.reference)

    def summary(self, results: list, status: str = "complete") -> dict[str, Any]:  # type: ignore[type-arg]
        findings = sum(len(f) for _, f, _ in results)
        return {
            "status": status, "findings": findings, "errors": sum(len(e) for _, _, e in results),
            "objects_scanned": sum(1 for i, _, _ in results if i is not None),
            "objects_with_findings": sum(1 for i, f, _ in results if i is not None and f),
            "bytes_scanned": sum(i.size or 0 for i, _, _ in results if i is not None),
            "findings_by_confidence": {}, "duration_s": 0.1, "finished": "2026-01-01T00:00:01Z",
            **({"reason": "signal"} if status != "complete" else {}),
        }

    def replay(self, sink: Any, upto: int | None = None) -> None:
        """The sweep's order: begin; per item its findings, errors, end_item; close."""
        results = self.results if upto is None else self.results[:upto]
        sink.begin(self.info)
        for item, found, errors in results:
            for f in found:
                sink.finding(f)
            for e in errors:
                sink.error(e)
            sink.end_item(item, {"seconds": 0.001, "bytes": item.size if item is not None else 0})
        sink.close(self.summary(results, "complete" if upto is None else "interrupted"))


def _real(record: Any, key: FingerprintKey) -> Any:
    """``record`` with its location's real uri and members (the seal opened)."""
    loc = record.location
    if loc.sealed is None:
        return record
    uri, member = json.loads(key.unseal(loc.sealed))
    return replace(record, location=replace(loc, uri=uri, member=tuple(member), sealed=None))


class SinkContract:
    """Tests every sink must pass. Subclass it in a test module::

        class TestMySink(SinkContract):
            @pytest.fixture
            def sink_case(self):
                return SinkCase(lambda path: MySink(path), view=parse_my_output)
    """

    @pytest.fixture
    def sink_run(self, tmp_path: Path) -> SinkRun:
        return SinkRun(tmp_path / "tree")

    def _run(self, case: SinkCase, run: SinkRun, where: Path, upto: int | None = None) -> tuple[Any, bytes]:
        where.mkdir()
        path = where / "out"
        sink = case.make(path)
        run.replay(sink, upto)
        return sink, case.read(path)

    def test_is_a_sink_with_a_stable_name(self, sink_case: SinkCase, tmp_path: Path) -> None:
        (tmp_path / "o").mkdir()
        sink = sink_case.make(tmp_path / "o" / "out")
        assert isinstance(sink, Sink), "the sink lacks a method of the Sink protocol"
        assert isinstance(type(sink).name, str) and type(sink).name, "a sink needs a class attribute 'name'"
        sink.begin({})
        sink.close({"status": "complete"})

    def test_reports_what_a_list_sink_receives(self, sink_case: SinkCase, sink_run: SinkRun, tmp_path: Path) -> None:
        _, output = self._run(sink_case, sink_run, tmp_path / "o")
        ref = sink_run.reference
        assert ref.findings and ref.errors, "the contract's tree gave no findings or no error (a scan bug?)"
        assert sorted(sink_case.view(output)) == sorted(sink_case.key(f) for f in ref.findings), \
            "the output does not report the findings the sink received"
        if sink_case.errors is not None:
            assert sink_case.errors(output) == len(ref.errors), "the output does not report every error record"

    def test_follows_the_call_order_when_cut_short_and_when_empty(
        self, sink_case: SinkCase, sink_run: SinkRun, tmp_path: Path
    ) -> None:
        _, empty = self._run(sink_case, sink_run, tmp_path / "empty", upto=0)
        assert sink_case.view(empty) == [], "an empty sweep's output reports findings"
        upto = next(i for i, (_, f, _) in enumerate(sink_run.results) if f) + 1
        _, cut = self._run(sink_case, sink_run, tmp_path / "cut", upto=upto)
        delivered = [f for _, found, _ in sink_run.results[:upto] for f in found]
        assert sorted(sink_case.view(cut)) == sorted(sink_case.key(f) for f in delivered), \
            "an interrupted sweep's output does not report what was delivered before close()"

    def test_no_pan_in_anything_written(self, sink_case: SinkCase, sink_run: SinkRun, tmp_path: Path) -> None:
        self._run(sink_case, sink_run, tmp_path / "o")
        for p in sorted((tmp_path / "o").iterdir()):
            assert_no_pan(p.read_bytes(), sink_run.pans, f"the sink's output ({p.name})")
            assert_no_pan(p.name, sink_run.pans, "a file name the sink chose")


# --------------------------------------------------------------------------
# Remediators
# --------------------------------------------------------------------------

class RemediatorCase:
    """What a remediator test hands to :class:`RemediatorContract`.

    ``remediator``: the instance; ``findings``: findings of a real scan
    under ``key`` (read back with the key: real locations) on at least two
    objects; ``snapshot()``: the content of every object, compared with
    ``==``; ``make_stale()``: change what is at some findings' locations after
    the scan (other digits in place of a card, say) and return the card
    numbers replaced. ``action`` and ``options``: what to apply
    (:class:`~cardscan.remediate.Options` fields).
    """

    def __init__(self, remediator, findings, snapshot, make_stale, key: bytes, action: str = "redact",  # type: ignore[no-untyped-def]
                 **options: Any) -> None:
        self.remediator = remediator
        self.findings = list(findings)
        self.snapshot = snapshot
        self.make_stale = make_stale
        self.key = FingerprintKey(key)
        self.action = action
        self.options = options

    def __repr__(self) -> str:
        return f"RemediatorCase({type(self.remediator).__name__}, findings={len(self.findings)})"

    def run(self, apply: bool, findings: list[Any] | None = None) -> list[Any]:
        """The findings through the remediator, grouped by object as the runner groups them."""
        ctx = Context(Options(action=self.action, apply=apply, **self.options), self.key)
        group_key = getattr(self.remediator, "group_key", None)
        groups: dict[Any, list[Any]] = {}
        for f in self.findings if findings is None else findings:
            k = group_key(f) if group_key is not None else (f.location.uri, f.location.version)
            groups.setdefault(k, []).append(f)
        out: list[Any] = []
        for found in groups.values():
            got = self.remediator.remediate(found, ctx)
            assert sorted(r.finding.id for r in got) == sorted(f.id for f in found), \
                "a remediator returns exactly one result per finding"
            out += got
        return out


class RemediatorContract:
    """Tests every remediator must pass. Subclass it in a test module::

        class TestMyRemediator(RemediatorContract):
            @pytest.fixture
            def remediator_case(self, tmp_path):
                ...plant cards, scan, load the findings with the key...
                return RemediatorCase(MyRemediator(), findings, snapshot, make_stale, key=KEY)
    """

    def test_dry_run_changes_nothing(self, remediator_case: RemediatorCase) -> None:
        before = remediator_case.snapshot()
        results = remediator_case.run(apply=False)
        assert {r.status for r in results} <= set(STATUSES) - {"done"}, "a dry run reported a change"
        assert any(r.status == "planned" for r in results), "a dry run planned nothing"
        assert remediator_case.snapshot() == before, "a dry run changed an object"

    def test_second_run_is_a_no_op(self, remediator_case: RemediatorCase) -> None:
        before = remediator_case.snapshot()
        first = remediator_case.run(apply=True)
        assert any(r.status == "done" for r in first), "applying changed nothing"
        after = remediator_case.snapshot()
        assert after != before, "results say done, but no object changed"
        second = remediator_case.run(apply=True)
        assert not any(r.status == "done" for r in second), "a second run changed something again"
        assert {r.status for r in second} <= {"already_remediated", "unsupported"}, \
            f"a second run reported {sorted({r.status for r in second})}"
        assert remediator_case.snapshot() == after, "a second run changed an object"

    def test_stale_location_is_detected(self, remediator_case: RemediatorCase) -> None:
        replaced = {remediator_case.key.fingerprint(str(p)) for p in remediator_case.make_stale()}
        stale = [f for f in remediator_case.findings if f.fingerprint in replaced]
        assert stale, "make_stale() replaced no card that was found"
        before = remediator_case.snapshot()
        results = remediator_case.run(apply=True, findings=stale)
        statuses = {r.status for r in results}
        assert statuses == {"stale"}, f"a stale location was reported {sorted(statuses)}"
        assert remediator_case.snapshot() == before, "remediating a stale location changed something"
