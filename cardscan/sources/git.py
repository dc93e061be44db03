"""Git history: every blob reachable in a range of commits, once.

A card number removed in the last commit is still in the repository: every
clone has it. ``cardscan scan --git-history [REV_RANGE] REPO`` (or
``cardscan scan git+file:///path/to/repo``) scans the history with this
source instead of the working tree.

What is listed: ``git log --reverse --raw -m --root <range>`` (default range
``--all``: every branch, tag and remote-tracking ref), oldest commit first;
each blob a commit adds or changes is an item the first time it is seen (a
blob id is the hash of the content, so the same content under another path or
in a later commit is scanned once). A finding is reported with the *first
commit that introduced the blob* and the path it had there, which is enough
to find it (``git log --all --find-object=<blob>`` lists every commit that
has it; the blob id is in the finding's object metadata). With a range
(``main..feature``) only blobs introduced by commits in the range are
scanned, not those that were already present at its start. Deletions,
submodules (gitlinks) and symbolic links (their content is a path) are not
blobs to scan.

Items::

    uri   git+file:///abs/repo/<path in repo>?commit=<sha>
    ukey  <blob id>
    size  blob size; mtime: commit time
    meta  {"repo": "/abs/repo", "path": "src/a.py", "commit": "<sha>",
           "blob": "<blob id>", "commit_time": "2026-...Z"}

The path sits in the URI's path so that decoders see the file's name (an
``.xlsx`` committed in 2019 is opened as a workbook); the ``repo`` and
``path`` in ``meta`` are what reports and baselines use.

Blobs are read with one long-running ``git cat-file --batch`` per process
(small blobs, up to 64 MiB, in memory) or streamed with ``git cat-file blob``
(bigger ones; never written to disk). Only the ``git`` command is needed.
"""
from __future__ import annotations

import io
import logging
import os
import shlex
import subprocess
import threading
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, BinaryIO, ClassVar, Iterator
from urllib.parse import quote, unquote, urlsplit

from ..errors import ConfigError, SourceError
from ..findings import ErrorRecord, Location
from ..privacy import redact
from .base import Item

log = logging.getLogger("cardscan.sources.git")

#: Blobs up to this size are read into memory through the batch process.
IN_MEMORY = 64 << 20
_NULL = "0" * 40
#: Tree entry modes that are not file content: gitlinks (submodules), symlinks.
_SKIP_MODES = {"160000", "120000"}
_READ = 1 << 16


def _iso(ts: int) -> str:
    return datetime.fromtimestamp(ts, tz=timezone.utc).isoformat(timespec="seconds").replace("+00:00", "Z")


class _Batch:
    """A ``git cat-file --batch`` (or ``--batch-check``) process, asked one object at a time."""

    def __init__(self, repo: str, check: bool) -> None:
        self.repo, self.check = repo, check
        self._proc: subprocess.Popen[bytes] | None = None
        self._lock = threading.Lock()

    def _start(self) -> subprocess.Popen[bytes]:
        if self._proc is None or self._proc.poll() is not None:
            mode = "--batch-check" if self.check else "--batch"
            self._proc = subprocess.Popen(
                ["git", "-C", self.repo, "cat-file", mode],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            )
        return self._proc

    def ask(self, oid: str) -> tuple[str, int, bytes | None]:
        """(type, size, content or None for --batch-check). Type ``missing`` if absent."""
        with self._lock:
            proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            try:
                proc.stdin.write(oid.encode("ascii") + b"\n")
                proc.stdin.flush()
                header = proc.stdout.readline()
            except (BrokenPipeError, OSError) as exc:
                self.close()
                raise SourceError(f"git cat-file failed: {exc.strerror or exc}", "io") from None
            parts = header.split()
            if len(parts) == 2 and parts[1] == b"missing":
                return "missing", 0, None
            if len(parts) != 3:
                self.close()
                raise SourceError("git cat-file gave an unexpected answer", "io")
            kind, size = parts[1].decode("ascii", "replace"), int(parts[2])
            if self.check:
                return kind, size, None
            data = proc.stdout.read(size)
            proc.stdout.read(1)  # the newline after the content
            if len(data) != size:
                self.close()
                raise SourceError("git cat-file ended early", "io")
            return kind, size, data

    def close(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        try:
            if proc.stdin:
                proc.stdin.close()
            proc.wait(timeout=5)
        except Exception:
            proc.kill()
        finally:
            if proc.stdout:
                proc.stdout.close()


class _PipeReader(io.RawIOBase):
    """A big blob streamed from ``git cat-file blob``: forward-only, no file descriptor
    (so a sweep neither splits it into ranges nor fstat's the pipe)."""

    def __init__(self, proc: subprocess.Popen[bytes]) -> None:
        super().__init__()
        self._proc = proc

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        assert self._proc.stdout is not None
        data = self._proc.stdout.read(len(b))
        n = len(data)
        b[:n] = data
        return n

    def close(self) -> None:
        if not self.closed:
            try:
                if self._proc.stdout:
                    self._proc.stdout.close()
                self._proc.kill()
                self._proc.wait(timeout=5)
            except Exception:
                pass
        super().close()


def repo_toplevel(path: str) -> str:
    """The top of the git work tree (or the bare repository) holding ``path``."""
    p = os.path.abspath(path)
    d = p if os.path.isdir(p) else os.path.dirname(p)
    try:
        proc = subprocess.run(["git", "-C", d, "rev-parse", "--show-toplevel"], capture_output=True, text=True,
                              timeout=60)
        if proc.returncode == 0 and proc.stdout.strip():
            return proc.stdout.strip()
        proc = subprocess.run(["git", "-C", d, "rev-parse", "--absolute-git-dir"], capture_output=True, text=True,
                              timeout=60)
        if proc.returncode == 0 and proc.stdout.strip():  # a bare repository
            return proc.stdout.strip()
    except FileNotFoundError:
        raise ConfigError("--git-history needs the git command, which is not installed") from None
    except (OSError, subprocess.SubprocessError) as exc:
        raise ConfigError(f"cannot run git: {exc}") from None
    raise ConfigError(f"{path} is not inside a git repository")


def item_uri(repo: str, path: str, commit: str) -> str:
    base = Path(repo).as_uri().rstrip("/")
    return f"git+{base}/{quote(path, safe='/', errors='surrogateescape')}?commit={commit}"


class GitSource:
    """Blobs of a repository's history (see the module docstring)."""

    name: ClassVar[str] = "git"

    def __init__(
        self,
        repo: str,
        rev_range: str | None = None,
        max_file_size: int | None = None,
        include: list[str] | None = None,
        exclude: list[str] | None = None,
    ) -> None:
        self.repo = repo_toplevel(repo)
        self.rev_range = rev_range or None
        self.max_file_size = max_file_size
        #: gitignore-style patterns matched against the path in the repository.
        self.include, self.exclude = list(include or []), list(exclude or [])
        self._include = self._exclude = None
        if self.include or self.exclude:
            import pathspec  # start-up: ~35 ms of CPU, needed only with --include/--exclude

            if self.include:
                self._include = pathspec.GitIgnoreSpec.from_lines(self.include)
            if self.exclude:
                self._exclude = pathspec.GitIgnoreSpec.from_lines(self.exclude)
        self.stats: dict[str, Any] = {"commits": 0, "blobs": 0, "bytes": 0, "skipped": {}}
        self._batch = _Batch(self.repo, check=False)

    @classmethod
    def from_url(cls, url_or_path: str | os.PathLike[str], **options: Any) -> "GitSource":
        """``git+file:///abs/repo`` (optionally ``?range=A..B``), or a plain path."""
        text = os.fspath(url_or_path)
        rev_range = options.pop("rev_range", None)
        if text.startswith("git+file:") or text.startswith("file:"):
            parts = urlsplit(text[4:] if text.startswith("git+") else text)
            if parts.netloc not in ("", "localhost"):
                raise ConfigError(f"not a local repository URL (host {parts.netloc!r})")
            path = unquote(parts.path, errors="surrogateescape")
            if parts.query.startswith("range=") and rev_range is None:
                rev_range = unquote(parts.query[len("range="):])
        elif "://" in text:
            raise ConfigError(f"the git source reads local repositories only, not {text.split('://')[0]}://")
        else:
            path = text
        return cls(path, rev_range=rev_range, **options)

    @property
    def url(self) -> str:
        return "git+" + Path(self.repo).as_uri()

    def options(self) -> dict[str, Any]:
        return {"rev_range": self.rev_range, "max_file_size": self.max_file_size,
                "include": self.include, "exclude": self.exclude}

    def describe(self) -> list[dict[str, Any]]:
        return [{"name": self.name, "url": self.url, "options": self.options()}]

    @property
    def root_uris(self) -> list[str]:
        return [self.url]

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_batch"] = None  # each process starts its own git
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._batch = _Batch(self.repo, check=False)

    # -- listing -------------------------------------------------------------------
    def _log_command(self) -> list[str]:
        rng = shlex.split(self.rev_range) if self.rev_range else ["--all"]
        return ["git", "-C", self.repo, "-c", "core.quotePath=false", "log", "--reverse", "--raw", "--no-abbrev",
                "--no-renames", "-m", "--root", "-z", "--format=%x01%H %ct", *rng, "--"]

    def items(self) -> Iterator[Item | ErrorRecord]:
        here = Location(uri=self.url)
        try:
            proc = subprocess.Popen(self._log_command(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        except OSError as exc:
            yield ErrorRecord(here, "source", f"cannot run git log: {exc.strerror or exc}")
            return
        sizes = _Batch(self.repo, check=True)
        seen: set[bytes] = set()
        skipped: dict[str, int] = {}
        commit, when = "", 0
        try:
            meta: str | None = None
            for token in _tokens(proc.stdout):  # type: ignore[arg-type]
                if meta is not None:  # the path of the raw line before
                    entry, meta = meta, None
                    item = self._item(entry, token, commit, when, seen, sizes, skipped)
                    if item is not None:
                        yield item
                    continue
                token = token.lstrip(b"\n")
                if token.startswith(b"\x01"):
                    head = token[1:].decode("ascii", "replace").split()
                    commit, when = head[0], int(head[1]) if len(head) > 1 and head[1].isdigit() else 0
                    self.stats["commits"] += 1
                elif token.startswith(b":"):
                    meta = token.decode("ascii", "replace")
        finally:
            sizes.close()
            if proc.stdout:
                proc.stdout.close()
            err = proc.stderr.read().decode("utf-8", "replace").strip() if proc.stderr else ""
            code = proc.wait()
            if proc.stderr:
                proc.stderr.close()
            for reason, n in skipped.items():
                self.stats["skipped"][reason] = self.stats["skipped"].get(reason, 0) + n
        if code != 0:
            yield ErrorRecord(here, "source", f"git log failed ({code}): {redact(err.splitlines()[-1] if err else '')}"[:300])

    def _item(
        self, entry: str, raw_path: bytes, commit: str, when: int, seen: set[bytes], sizes: _Batch,
        skipped: dict[str, int],
    ) -> Item | None:
        # ":<old mode> <new mode> <old blob> <new blob> <status>"
        fields = entry[1:].split()
        if len(fields) < 5:
            return None
        new_mode, new_blob, status = fields[1], fields[3], fields[4]
        if status.startswith("D") or new_blob == _NULL:
            return None
        if new_mode in _SKIP_MODES:
            skipped["submodule" if new_mode == "160000" else "symlink"] = skipped.get(
                "submodule" if new_mode == "160000" else "symlink", 0) + 1
            return None
        path = os.fsdecode(raw_path)
        if (self._exclude is not None and self._exclude.match_file(path)) or (
                self._include is not None and not self._include.match_file(path)):
            skipped["excluded"] = skipped.get("excluded", 0) + 1
            return None
        key = bytes.fromhex(new_blob)
        if key in seen:
            return None
        seen.add(key)
        try:
            kind, size, _ = sizes.ask(new_blob)
        except SourceError:
            kind, size = "blob", None  # the worker will report it when it reads the blob
        if kind == "missing":  # a partial clone: the blob is not here
            skipped["missing_blob"] = skipped.get("missing_blob", 0) + 1
            return None
        if self.max_file_size is not None and size is not None and size > self.max_file_size:
            skipped["too_large"] = skipped.get("too_large", 0) + 1
            return None
        self.stats["blobs"] += 1
        self.stats["bytes"] += size or 0
        return Item(
            uri=item_uri(self.repo, path, commit),
            source=self.name,
            size=size,
            mtime=float(when) if when else None,
            ukey=new_blob,
            meta={"repo": self.repo, "path": path, "commit": commit, "blob": new_blob,
                  "commit_time": _iso(when) if when else None},
        )

    # -- reading -------------------------------------------------------------------
    def open(self, item: Item) -> BinaryIO:
        blob = (item.meta or {}).get("blob") or item.ukey
        if not blob:
            raise SourceError("no blob id for this item", "not_found")
        if item.size is not None and item.size > IN_MEMORY:
            proc = subprocess.Popen(["git", "-C", self.repo, "cat-file", "blob", blob],
                                    stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
            return io.BufferedReader(_PipeReader(proc), buffer_size=_READ)  # type: ignore[return-value]
        kind, _, data = self._batch.ask(blob)
        if kind == "missing" or data is None:
            raise SourceError(f"blob {blob} is not in the repository", "not_found")
        return io.BytesIO(data)

    def close(self) -> None:
        self._batch.close()


def _tokens(stream: BinaryIO) -> Iterator[bytes]:
    """NUL-separated tokens of a stream, read in chunks."""
    rest = b""
    while True:
        chunk = stream.read(_READ)
        if not chunk:
            break
        parts = (rest + chunk).split(b"\0")
        rest = parts.pop()
        yield from parts
    if rest.strip(b"\n"):
        yield rest
