"""Expansion: from one item's byte stream to the streams to scan.

``expand(stream, name, limits)`` yields, in order:

* ``Layer(member, stream, encoding)``: a decoded stream to scan; ``member``
  is the chain of member names inside containers, outermost first
  (``("exports/march.zip", "customers.xlsx", "xl/sharedStrings.xml")``),
  empty for the item itself. Compression layers add no name. ``encoding``
  names the last decoding step that produced the stream (``""`` for the
  item's own bytes). Offsets of findings in a layer are offsets in that
  layer's stream (for ``*-text`` layers: in the extracted UTF-8 text, see
  docs/containers.md).
* ``Failure(member, kind, message, limit)``: a part that could not be read;
  the rest goes on. A failure found while a layer's stream was being read
  (truncated data, a limit hit mid-stream) is yielded right after that
  layer: what was read before it has been scanned.

Streams are produced lazily: a consumer must finish (or drop) one layer
before asking for the next. Nothing is extracted to disk and member names are
never used as paths. A layer's stream never raises for bad data: it ends, and
the failure follows. Only an I/O error of the item's own stream, read directly
as the item's top layer, reaches the consumer as an exception.

For an item that is no container at all (a plain log file), the one layer is
``Layer((), stream)`` with the very stream that was passed in, rewound to
where it was, so a sweep can recognise it (``member == () and encoding == ""``)
and scan big plain files in parallel byte ranges.

``is_container(name, head)`` is the one answer to "might a decoder open
this?", for the sweep planner (split a big file into byte ranges, or not),
the pre-commit hook and ``expand`` itself. Built-in decoders declare what
they recognise as data in the registry, so the answer imports no decoder;
a decoder that declares nothing (an entry point) is loaded and asked. The
answer may be yes where no decoder then accepts (the object is scanned as
plain bytes), never no where one would.

``expand`` adds the outer chain to the members a decoder yields, expands
each part again, counts members, and enforces the limits. A decoder plugin
that cannot be loaded is logged (a warning) and listed by
:func:`load_failures` (the scan record's ``plugin_errors``); the rest go on.
"""
from __future__ import annotations

import os
from bisect import bisect_left, bisect_right
from functools import lru_cache
from operator import itemgetter
from typing import Any, Iterable, Iterator, Sequence

from .. import registry
from ..engine import lazy_pattern
from ..errors import MissingDependency
from ..privacy import safe_message
from .base import HEAD_SIZE, Failure, Layer, Limits, Part, Reader, SourceReadError, TextLayer, kind_of
from .streams import ItemStream, Stream

# -- the decoders ------------------------------------------------------------------


class _Loaded:
    """The registry's decoders as this process loaded them (one registry generation)."""

    def __init__(self, generation: int) -> None:
        self.generation = generation
        self.formats = _Formats(registry.decoder_formats())
        #: Names of decoders with no declared data: asked through ``accepts()``.
        self.undeclared = [n for n in registry.names("cardscan.decoders") if n not in self.formats.names]
        self.failures: dict[str, str] = {}
        self._all: tuple[Any, ...] | None = None
        self._asked: tuple[Any, ...] | None = None
        self._instances: dict[str, Any] = {}

    def instance(self, name: str) -> Any | None:
        if name in self._instances:
            return self._instances[name]
        if name in self.failures:
            return None
        try:
            inst = registry.load("cardscan.decoders", name)()
        except Exception as exc:  # a broken plugin must not stop the sweep: reported, not used
            self.failures[name] = safe_message(exc)
            import logging  # here, not at the top: see pipeline._exc_record

            logging.getLogger("cardscan.decoders").warning("decoder plugin %r could not be loaded (%s); what it would open is scanned as "
                        "plain bytes", name, self.failures[name])
            return None
        self._instances[name] = inst
        return inst

    def all(self) -> tuple[Any, ...]:
        if self._all is None:
            out = [d for d in (self.instance(n) for n in registry.names("cardscan.decoders")) if d is not None]
            out.sort(key=lambda d: (getattr(d, "priority", 0), getattr(d, "name", "")))
            self._all = tuple(out)
        return self._all

    def asked(self) -> tuple[Any, ...]:
        """The decoders ``is_container`` must ask (no declared data)."""
        if self._asked is None:
            self._asked = tuple(d for d in (self.instance(n) for n in self.undeclared) if d is not None)
        return self._asked


_LOADED: _Loaded | None = None


def _loaded() -> _Loaded:
    # A process-wide cache of the registry's decoders (built once, rebuilt after
    # registry.register()/refresh()): decoders are stateless, and loading them
    # per item would cost an import check each time.
    global _LOADED
    gen = registry.generation()
    if _LOADED is None or _LOADED.generation != gen:
        _LOADED = _Loaded(gen)
    return _LOADED


def decoders() -> tuple[Any, ...]:
    """Every registered decoder, built-in and third-party, in the order they are asked."""
    return _loaded().all()


def load_failures() -> dict[str, str]:
    """Decoder plugins that could not be loaded: name -> why (no card number in it).

    Loads the decoders that declare no data (third-party ones) to find out;
    built-in decoders are loaded when first needed and added here if one fails.
    """
    loaded = _loaded()
    loaded.asked()
    return dict(loaded.failures)


def pick(name: str, head: bytes) -> Any | None:
    """The decoder for a stream: by magic bytes first, by name second."""
    decs = decoders()
    for probe in ("", name):
        if probe == "" and not head:
            continue
        for d in decs:
            try:
                if d.accepts(probe, head):
                    return d
            except Exception:
                continue
        if not name:
            break
    return None


# -- is this a container? ---------------------------------------------------------------

_HEADER_LINE = lazy_pattern(rb"[!-9;-~]+:")
_BLOCK_END = lazy_pattern(rb"\r?\n\r?\n")


class _Formats:
    """The registry's declared data, arranged to be asked quickly (once per object)."""

    def __init__(self, formats: dict[str, dict[str, Any]]) -> None:
        self.names = set(formats)
        self.magic: list[tuple[int, bytes]] = []
        self.search: list[tuple[int, bytes]] = []
        suffixes: list[str] = []
        headers: list[bytes] = []
        for d in formats.values():
            self.magic += [(int(at), bytes(m)) for at, m in d.get("magic", ())]
            self.search += [(int(n), bytes(m)) for n, m in d.get("search", ())]
            suffixes += [str(s).lower() for s in d.get("suffixes", ())]
            headers += [bytes(h).lower() for h in d.get("headers", ())]
        self.suffixes = tuple(suffixes)
        self.headers = tuple(headers)
        # Asked once per object: magic numbers by offset, one startswith each.
        by_at: dict[int, list[bytes]] = {}
        for at, magic in self.magic:
            by_at.setdefault(at, []).append(magic)
        self._magic = [(at, tuple(ms)) for at, ms in sorted(by_at.items())]
        # Searched magic by window, widest first: one find per magic, and no
        # copy of the window (a slice per magic and a generator cost ~3 us a head).
        self._search = sorted(((int(n), bytes(m)) for n, m in self.search), key=lambda s: -s[0])
        #: The searched magic alone, for find_all (its k: ``_search[k]``).
        self._search_magic = tuple(m for _, m in self._search)

    def match(self, name: str, head: bytes) -> bool:
        for at, magics in self._magic:
            if head.startswith(magics, at):
                return True
        for window, magic in self._search:
            if head.find(magic, 0, window) >= 0:  # == ``magic in head[:window]``
                return True
        if self.suffixes and name and name.lower().endswith(self.suffixes):
            return True
        if self.headers and _HEADER_LINE.match(head):
            # Most heads that pass the first line (a timestamp ``2024-06-11T09:``)
            # hold no header name anywhere: a loop of ``in``, not a generator.
            low = head.lower()
            for h in self.headers:
                if h in low:
                    break
            else:
                return False
            block = head[:_block_end(head)]
            return any(line.lower().startswith(self.headers) for line in block.splitlines())
        return False


def _block_end(head: bytes) -> int:
    """Where ``_BLOCK_END`` (a blank line) first matches in ``head`` (its length
    if nowhere), found with two ``bytes.find`` (the regex costs ~5 us a head)."""
    ends = [i for i in (head.find(b"\n\n"), head.find(b"\n\r\n")) if i >= 0]
    if not ends:
        return len(head)
    i = min(ends)
    return i - 1 if i and head[i - 1] == 13 else i  # a \r before it belongs to the match


def is_container(name: str, head: bytes) -> bool:
    """Might a decoder open an object named ``name`` that starts with ``head``?

    ``head``: its first bytes (:data:`~cardscan.decoders.base.HEAD_SIZE` of
    them, or all of a smaller object); ``name``: its file or member name (a
    path is fine; only the last part is looked at). May say yes where no
    decoder then accepts; never says no where one would.
    """
    base = os.path.basename(name) if "/" in name else name
    loaded = _loaded()
    if loaded.formats.match(base, head):
        return True
    for d in loaded.asked():
        try:
            if (head and d.accepts("", head)) or (base and d.accepts(base, head)):
                return True
        except Exception:  # a broken plugin: it opens nothing
            continue
    return False


def containers(names: Sequence[str], data: bytes, ends: Sequence[int], only: Iterable[int]) -> set[int]:
    """The indices ``i`` in ``only`` for which :func:`is_container` says yes
    of the file ``names[i]`` whose content is ``data[ends[i]:ends[i + 1] - 1]``
    (a batch of small files as ``sources.fs.read_files`` returns them).

    The same answers, for a whole batch with a few C calls per file and no
    Python call: magic numbers by one ``startswith`` per file and offset,
    searched magic by a ``find`` loop through all of ``data`` (most files
    hold none), suffixes by one ``endswith`` per name, and the mail headers'
    words once in all of ``data`` (most heads of logs pass the header line's
    first test, a timestamp ``2024-06-11T09:``, and no file holds a header
    word). With third-party decoders that declare nothing, each file is
    asked as :func:`is_container` asks it.
    """
    loaded = _loaded()
    wanted = set(only)
    out: set[int] = set()
    if not wanted:
        return out
    if loaded.asked():
        for i in wanted:
            s = ends[i]
            if is_container(names[i], data[s:min(ends[i + 1] - 1, s + HEAD_SIZE)]):
                out.add(i)
        return out
    f = loaded.formats

    # Magic at an offset: the byte at that offset of every file, gathered by
    # one C call (itemgetter), marked where some magic starts with it (one
    # translate); only the files marked are asked with startswith, the test
    # itself (a startswith per file and offset cost ~0.3 us a file).
    for at, magics in f._magic:
        out.update(magic_at(data, ends, at, magics, wanted))
    # Searched magic: every place one occurs in data, in one pass (find_all).
    search = f._search
    for p, k in find_all(data, f._search_magic) if search else ():
        window, m = search[k]
        i = bisect_right(ends, p) - 1
        if p + len(m) <= min(_lim(ends, i), ends[i] + window):
            out.add(i)
    if f.suffixes:
        out.update(_suffixed(names, f.suffixes, wanted))
    # Most heads of logs pass the header line's first test (a timestamp
    # ``2024-06-11T09:``): asked only where a header's word is in data at all.
    if f.headers and find_all(data, f.headers, nocase=True, first=True):
        header_line = _HEADER_LINE.match
        for i in wanted - out:
            s, e = ends[i], _lim(ends, i)
            if header_line(data, s, e) and f.match(names[i], data[s:e]):
                out.add(i)
    return out & wanted


def _find_all_python(data: bytes, needles: tuple[bytes, ...], nocase: bool = False, first: bool = False
                     ) -> list[tuple[int, int]]:
    """The pure-Python twin of the C ``find_all`` (``_sniff.c``, which says
    what it gives): a ``find`` loop per needle (in ``data.lower()`` with
    ``nocase``); empty needles are allowed here (at every offset, the end too)."""
    if nocase:
        data = data.lower()
    found: list[tuple[int, int]] = []
    for k, n in enumerate(needles):
        p = data.find(n)
        while p >= 0:
            found.append((p, k))
            if first:
                break
            p = data.find(n, p + 1)
    found.sort()
    return found[:1] if first else found


def _load_find_all() -> Any:
    from ..engine.candidates import pure_python_forced

    if pure_python_forced():
        return None
    import importlib

    try:
        # (By name: a C module has no imports, but tools/import_cycles.py, which
        # sees .py files only, would take ``from ._sniff`` for the package.)
        return importlib.import_module(f"{__package__}._sniff").find_all
    except ImportError:  # pragma: no cover - no compiler at install time
        return None


#: The C find_all: False until the first batch asks (a plain file's scan never
#: does, and imports nothing more), then it or None.
_C_FIND_ALL: Any = False


def find_all(data: bytes, needles: tuple[bytes, ...], nocase: bool = False, first: bool = False
             ) -> list[tuple[int, int]]:
    """Every occurrence (overlapping ones too) of each of ``needles`` in
    ``data``: (offset, index of the needle), by offset then index; with
    ``nocase`` as found in ``data.lower()``; with ``first`` the first alone.
    One pass in C (``_sniff.c``) where built and the needles allow it."""
    global _C_FIND_ALL
    if _C_FIND_ALL is False:
        _C_FIND_ALL = _load_find_all()
    if _C_FIND_ALL is not None and 0 < len(needles) <= 64 and all(needles):
        return _C_FIND_ALL(data, needles, nocase=nocase, first=first)  # type: ignore[no-any-return]
    return _find_all_python(data, needles, nocase, first)


def _lim(ends: Sequence[int], i: int) -> int:
    """Where file ``i``'s head ends in a batch's data (its end, at most HEAD_SIZE on)."""
    return min(ends[i + 1] - 1, ends[i] + HEAD_SIZE)


def magic_at(data: bytes, ends: Sequence[int], at: int, magics: tuple[bytes, ...], wanted: set[int] | frozenset[int]
             ) -> list[int]:
    """The files ``i`` in ``wanted`` whose head holds one of ``magics`` at
    ``at``: ``data.startswith(magics, ends[i] + at, _lim(ends, i))``, asked
    only of the files whose byte at ``at`` is the first byte of a magic
    (a file shorter than that cannot hold one there: any byte will do)."""
    n = len(ends) - 1
    if at < 0 or not all(magics):  # (an empty magic is in every head, a negative offset odd: each file is asked)
        return [i for i in wanted if data.startswith(magics, ends[i] + at, _lim(ends, i))]
    # The files whose offset ``at`` lies inside data (ends increase: a head of
    # the list), their bytes there read from data ``at`` on (no list of offsets).
    k = bisect_left(ends, len(data) - at, 0, n)
    if k == 0:
        return []
    got = itemgetter(*ends[:k])(memoryview(data)[at:] if at else data)
    marks = bytes([got] if k == 1 else got).translate(_first_bytes(magics))
    out = []
    i = marks.find(1)
    while i >= 0:
        if i in wanted and data.startswith(magics, ends[i] + at, _lim(ends, i)):
            out.append(i)
        i = marks.find(1, i + 1)
    return out


@lru_cache(maxsize=64)
def _first_bytes(magics: tuple[bytes, ...]) -> bytes:
    """A translate table: 1 for the first byte of one of ``magics``, 0 for any other."""
    table = bytearray(256)
    for m in magics:
        table[m[0]] = 1
    return bytes(table)


def _suffixed(names: Sequence[str], suffixes: tuple[str, ...], wanted: set[int]) -> set[int]:
    """The files ``i`` in ``wanted`` with ``names[i].lower().endswith(suffixes)``:
    each suffix found with NUL after it in the names joined by NUL (no file
    name holds one), lowered once (str.lower's one rule that looks at the
    letters around, a final sigma, sees a NUL as it sees the name's end)."""
    joined = "\0".join(names)
    if not all(suffixes) or any("\0" in s for s in suffixes) or joined.count("\0") != len(names) - 1:
        return {i for i in wanted if names[i].lower().endswith(suffixes)}
    joined = joined.lower() + "\0"
    out: set[int] = set()
    find = joined.find
    for suffix in set(suffixes):
        key = suffix + "\0"
        p = find(key)
        while p >= 0:
            i = joined.count("\0", 0, p)
            if i in wanted:
                out.add(i)
            p = find(key, p + 1)
    return out


# -- names ---------------------------------------------------------------------------


_STRIP = {".gz": "", ".tgz": ".tar", ".taz": ".tar", ".bz2": "", ".tbz": ".tar", ".tbz2": ".tar",
          ".xz": "", ".txz": ".tar", ".lzma": "", ".tlz": ".tar", ".zst": "", ".zstd": "", ".tzst": ".tar"}


def strip_compression(name: str) -> str:
    """``x.tar.gz`` -> ``x.tar``, ``x.tgz`` -> ``x.tar``, ``app.log.1.gz`` -> ``app.log.1``."""
    low = name.lower()
    for ext, repl in _STRIP.items():
        if low.endswith(ext):
            return name[: len(name) - len(ext)] + repl
    return name


# -- expand -------------------------------------------------------------------------


class _Budget:
    """What one item has used so far, shared by all its layers."""

    def __init__(self, limits: Limits) -> None:
        self.limits = limits
        self.total = 0
        self.members = 0
        self.stopped = False


class _Guard(Stream):
    """Wraps each decoded stream: counts bytes, enforces the ratio and total
    limits while streaming, and turns any error into a recorded failure and
    an end of stream (the consumer never sees an exception)."""

    def __init__(self, inner: Any, budget: _Budget, member: tuple[str, ...]) -> None:
        super().__init__()
        self._in = inner
        self._budget = budget
        self.member = member
        self.failure: Failure | None = None
        self.out = 0
        # A guard around a guard (a part passed through as it is) must not count twice.
        self._counts = getattr(inner, "counts", True) and not isinstance(inner, _Guard)

    @property
    def compressed_in(self) -> int | None:  # type: ignore[override]
        return getattr(self._in, "compressed_in", None)

    def _fail(self, kind: str, message: str, limit: str | None = None) -> None:
        if self.failure is None:
            self.failure = Failure(self.member, kind, message, limit)

    def _read(self, n: int) -> bytes:
        if self.failure is not None or self._budget.stopped:
            return b""
        try:
            data = self._in.read(n)
        except Exception as exc:  # noqa: BLE001 - every decoding error becomes a Failure
            if not self._budget.stopped:  # else: data cut short by the item's stop, reported there
                kind, limit = kind_of(exc)
                self._fail(kind, safe_message(exc), limit)
            return b""
        if not data:
            return b""
        lim = self._budget.limits
        if self._counts:
            left = lim.max_total_bytes - self._budget.total
            if len(data) > left:
                data = data[: max(0, left)]
                self._budget.stopped = True
                self._fail("limit", f"more than max_total_bytes ({lim.max_total_bytes}) decoded from one item; "
                           "the rest of the item was not scanned", "total_bytes")
            self._budget.total += len(data)
        self.out += len(data)
        basis = self.compressed_in
        if basis is not None and self.out > lim.ratio_after and self.out > lim.max_ratio * max(basis, 1):
            self._fail("limit", f"expansion ratio above max_ratio ({lim.max_ratio:g}:1) after "
                       f"{basis} compressed bytes; the rest of this layer was not scanned", "ratio")
        return data


def expand(stream: Reader, name: str, limits: Limits | None = None, member: tuple[str, ...] = ()) -> Iterator[Part]:
    """Layers of ``stream`` to scan, containers opened to ``limits``.

    ``name`` is the item's name or path (its extension is a hint only);
    ``member`` is the chain already traversed (for a stream that is itself a
    member of something).
    """
    budget = _Budget(limits or Limits())
    head, replay = _peek(stream)
    base = os.path.basename(name) if "/" in name else name
    # Most objects are plain: answered from the registry's data, no decoder imported.
    dec = pick(base, head) if is_container(base, head) else None
    if dec is None:
        yield Layer(member, replay)
        return
    yield from _apply(budget, dec, ItemStream(replay) if replay is stream else replay,  # type: ignore[arg-type]
                      name, member, 0, False)


def _peek(stream: Any) -> tuple[bytes, Any]:
    """The head of ``stream`` and a stream that still yields it."""
    if isinstance(stream, Stream):
        return stream.peek(HEAD_SIZE), stream
    try:
        if stream.seekable():
            pos = stream.tell()
            head = stream.read(HEAD_SIZE)
            stream.seek(pos)
            return head, stream
    except (AttributeError, OSError, ValueError):
        pass
    head = stream.read(HEAD_SIZE)
    s = _Wrap(stream)
    s.unread(head)
    return head, s


class _Wrap(Stream):
    """A non-seekable foreign stream, so its head can be put back."""

    counts = False

    def __init__(self, fp: Any) -> None:
        super().__init__()
        self._fp = fp

    def _read(self, n: int) -> bytes:
        try:
            return self._fp.read(n)
        except OSError as exc:
            raise SourceReadError(str(exc)) from exc


def _expand(budget: _Budget, stream: _Guard, name: str, member: tuple[str, ...], depth: int,
            parent_compressed: bool, encoding: str) -> Iterator[Part]:
    head = stream.peek(HEAD_SIZE)
    dec = pick(name, head) if head else None
    if dec is None:
        yield Layer(member, stream, encoding)
        return
    yield from _apply(budget, dec, stream, name, member, depth, parent_compressed)


def _apply(budget: _Budget, dec: Any, stream: Any, name: str, member: tuple[str, ...], depth: int,
           parent_compressed: bool) -> Iterator[Part]:
    lim = budget.limits
    compression = getattr(dec, "kind", "container") == "compression"
    level = depth + (0 if compression and not parent_compressed else 1)
    dname = getattr(dec, "name", type(dec).__name__)
    if level > lim.max_depth:
        yield Failure(member, "limit", f"{dname} nested deeper than max_depth ({lim.max_depth}); not opened", "depth")
        return
    try:
        parts = iter(dec.open(stream, name, lim))
        while not budget.stopped:
            try:
                part = next(parts)
            except StopIteration:
                break
            if isinstance(part, Failure):
                yield Failure(member + part.member, part.kind, safe_message(part.message), part.limit)
                continue
            if part.member:
                budget.members += 1
                if budget.members > lim.max_members:
                    budget.stopped = True
                    yield Failure(member, "limit", f"more than max_members ({lim.max_members}) parts in one item; "
                                  "the rest was not opened", "members")
                    break
            chain = member + tuple(part.member)
            child = _Guard(part.stream, budget, chain)
            if isinstance(part, TextLayer):
                yield Layer(chain, child, part.encoding or dname, part.locate, part.scan)
            else:
                cname = part.member[-1] if part.member else strip_compression(name)
                yield from _expand(budget, child, cname, chain, level, compression, part.encoding or dname)
            if child.failure is not None:
                yield child.failure
    except Exception as exc:  # noqa: BLE001 - a broken container is a Failure, never a crash
        inner = stream.failure if isinstance(stream, _Guard) else None
        # Else the cause is the stream's own failure (reported by the caller)
        # or the item's total-bytes stop (reported where it happened).
        if inner is None and not budget.stopped:
            kind, limit = kind_of(exc)
            if isinstance(exc, MissingDependency):
                kind = "decode"
            yield Failure(member, kind, f"{dname}: {safe_message(exc)}", limit)
