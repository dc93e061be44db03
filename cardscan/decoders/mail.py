"""Mail: .eml messages and mbox mailboxes (stdlib ``email``).

Each message yields:

* ``headers``: its header lines with RFC 2047 encoded words decoded (a card
  in a Subject: line), encoding ``mail-headers``;
* each body part, decoded from base64 or quoted-printable, as ``part-N``
  (N counts the message's leaf parts from 1) or, when it has a file name,
  ``attachment:NAME``; encoding ``base64``, ``quoted-printable`` or ``mail``.
  Parts are opened again by the usual rules: ``attachment:export.zip`` is
  looked into, a forwarded message's headers are ``part-N:headers``.

An mbox is split at its ``From `` lines while it is read (any size, constant
memory apart from one message); each message's members start with
``message-N`` (1-based): ``inbox.mbox!message-12!attachment:export.zip!a.csv``.
Offsets are offsets in the decoded part. One message is held in memory to be
parsed: a message bigger than ``Limits.max_buffer`` is a ``limit`` failure.
"""
from __future__ import annotations

import email
import email.header
import re
from email.message import Message
from typing import Any, BinaryIO, ClassVar, Iterator

from ..errors import LimitError
from .base import CHUNK, Failure, Layer, Limits, Part, TextLayer
from .streams import BytesStream

_HEADER_LINE = re.compile(rb"[!-9;-~]+:")
_KNOWN = (b"from:", b"to:", b"cc:", b"subject:", b"date:", b"message-id:", b"received:", b"mime-version:",
          b"return-path:", b"delivered-to:", b"content-type:", b"reply-to:", b"x-mailer:", b"user-agent:",
          b"in-reply-to:", b"references:", b"dkim-signature:", b"arc-seal:", b"authentication-results:")
_STRONG = (b"from:", b"received:", b"message-id:", b"mime-version:", b"return-path:", b"delivered-to:")
#: Multipart nesting deeper than this is a failure (a crafted message could recurse forever).
MAX_NESTING = 50


def looks_like_headers(head: bytes, need: int = 2) -> bool:
    """True if ``head`` starts with an RFC 5322 header block that names mail headers."""
    block = re.split(rb"\r?\n\r?\n", head, maxsplit=1)[0]
    lines = block.splitlines()
    if not lines or not _HEADER_LINE.match(lines[0]):
        return False
    known, strong = 0, False
    for i, line in enumerate(lines):
        if line[:1] in (b" ", b"\t"):
            continue
        if not _HEADER_LINE.match(line):
            # The last line of the head may be cut short.
            if i == len(lines) - 1 and len(block) == len(head):
                break
            return False
        low = line.lower()
        if low.startswith(_KNOWN):
            known += 1
            strong = strong or low.startswith(_STRONG)
    return strong and known >= need


def _decode_header(value: Any) -> str:
    try:
        return str(email.header.make_header(email.header.decode_header(str(value))))
    except Exception:  # noqa: BLE001 - a broken encoded word: keep the raw text
        return str(value)


def _headers(msg: Message) -> BytesStream:
    lines = [f"{k}: {_decode_header(v)}" for k, v in msg.items()]
    return BytesStream(("\n".join(lines) + "\n").encode("utf-8", "replace"))


def message_parts(msg: Message, prefix: tuple[str, ...]) -> Iterator[Part]:
    """The layers of one parsed message, member names under ``prefix``."""
    yield TextLayer(prefix + ("headers",), _headers(msg), "mail-headers")
    counter = [0]
    yield from _walk(msg, prefix, counter, 0)


def _walk(m: Message, prefix: tuple[str, ...], counter: list[int], depth: int) -> Iterator[Part]:
    if depth > MAX_NESTING:
        yield Failure(prefix, "decode", f"mail parts nested deeper than {MAX_NESTING}; the rest was not read")
        return
    if m.is_multipart():
        embedded = m.get_content_maintype() == "message"
        payload = m.get_payload()
        for sub in payload if isinstance(payload, list) else []:
            if not isinstance(sub, Message):
                continue
            if embedded:  # a forwarded message: its headers are text too
                counter[0] += 1
                yield TextLayer(prefix + (f"part-{counter[0]}:headers",), _headers(sub), "mail-headers")
            yield from _walk(sub, prefix, counter, depth + 1)
        return
    counter[0] += 1
    try:
        payload = m.get_payload(decode=True)
    except Exception:  # noqa: BLE001 - undecodable transfer encoding: scan it as it is
        raw = m.get_payload()
        payload = raw.encode("utf-8", "surrogateescape") if isinstance(raw, str) else None
    if not payload:
        return
    try:
        filename = m.get_filename()
    except Exception:  # noqa: BLE001
        filename = None
    label = f"attachment:{_decode_header(filename)}" if filename else f"part-{counter[0]}"
    cte = str(m.get("Content-Transfer-Encoding", "")).strip().lower()
    encoding = cte if cte in ("base64", "quoted-printable") else "mail"
    yield Layer(prefix + (label,), BytesStream(payload), encoding)  # type: ignore[arg-type]  # decode=True: bytes


def _read_bounded(stream: BinaryIO, limit: int) -> bytes:
    parts: list[bytes] = []
    size = 0
    while True:
        b = stream.read(CHUNK)
        if not b:
            return b"".join(parts)
        size += len(b)
        if size > limit:
            raise LimitError(f"mail message bigger than max_buffer ({limit} bytes) not parsed", "buffer")
        parts.append(b)


class MailDecoder:
    """One message: .eml (and .mht, which is a MIME message too)."""

    name: ClassVar[str] = "mail"
    priority: ClassVar[int] = 70

    def accepts(self, name: str, head: bytes) -> bool:
        if name and name.lower().endswith((".eml", ".mht", ".mhtml")):
            return looks_like_headers(head, need=1)
        return looks_like_headers(head)

    def open(self, stream: BinaryIO, name: str, limits: Limits) -> Iterator[Part]:
        msg = email.message_from_bytes(_read_bounded(stream, limits.max_buffer))
        yield from message_parts(msg, ())


class MboxDecoder:
    """A mailbox of many messages, split at ``From `` lines as it streams."""

    name: ClassVar[str] = "mbox"
    priority: ClassVar[int] = 69

    def accepts(self, name: str, head: bytes) -> bool:
        if not head.startswith(b"From "):
            return False
        nl = head.find(b"\n")
        return nl > 0 and looks_like_headers(head[nl + 1:], need=1)

    def open(self, stream: BinaryIO, name: str, limits: Limits) -> Iterator[Part]:
        n = 0
        current: list[bytes] = []
        size = 0
        too_big = False
        for line in _lines(stream):
            if line.startswith(b"From "):
                if n:
                    yield from self._message(n, current, too_big, limits)
                n += 1
                current, size, too_big = [], 0, False
                continue
            if not n:  # text before the first From_ line (not an mbox after all): a message of its own
                n = 1
            size += len(line)
            if size > limits.max_buffer:
                too_big = True
                current = []
            elif not too_big:
                current.append(line)
        if n:
            yield from self._message(n, current, too_big, limits)

    def _message(self, n: int, lines: list[bytes], too_big: bool, limits: Limits) -> Iterator[Part]:
        prefix = (f"message-{n}",)
        if too_big:
            yield Failure(prefix, "limit", f"mail message bigger than max_buffer ({limits.max_buffer} bytes) "
                          "not parsed", "buffer")
            return
        msg = email.message_from_bytes(b"".join(lines))
        yield from message_parts(msg, prefix)


def _lines(stream: BinaryIO) -> Iterator[bytes]:
    """Lines with their ends, read in chunks (a line longer than a chunk comes in pieces
    of at least one chunk; only line starts matter for splitting)."""
    rest = b""
    while True:
        chunk = stream.read(CHUNK)
        if not chunk:
            if rest:
                yield rest
            return
        data = rest + chunk if rest else chunk
        lines = data.splitlines(keepends=True)
        last = lines[-1]
        if last.endswith((b"\n", b"\r")) or len(last) > CHUNK:
            rest = b""
        else:
            rest = lines.pop()
        yield from lines
