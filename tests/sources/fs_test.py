"""Tests for cardscan/sources/fs.py: the streaming local walk."""
from __future__ import annotations

import json
import os
import pickle
import shutil
import socket
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from cardscan.errors import SourceError
from cardscan.findings import ErrorRecord
from cardscan.sources import fs as fs_module
from cardscan.sources.base import ByteSource, Item
from cardscan.sources.fs import (
    FileSource,
    SmallBatch,
    exposure,
    object_meta,
    os_error_kind,
    path_to_uri,
    read_files,
    uri_to_path,
)
from cardscan.testing import SourceCase, SourceContract
from tests.treegen import drop_dac, make_tree, write_planted


def walk(src: FileSource) -> tuple[list[Item], list[ErrorRecord]]:
    items, errors = [], []
    for x in src.items():
        (items if isinstance(x, Item) else errors).append(x)
    return items, errors


def paths(items: list[Item]) -> set[str]:
    return {uri_to_path(i.uri) for i in items}


def test_walk_finds_nested_files_with_metadata(open_tmp_path: Path, rng) -> None:
    tmp_path = open_tmp_path  # others can reach it: exposure counts the directories above
    tree = make_tree(tmp_path, rng)
    src = FileSource.from_url(tmp_path)
    items, errors = walk(src)
    assert errors == []
    expected = {str(p) for p in tree.planted} | {str(tmp_path / "hr/clean.txt"), str(tmp_path / "finance/empty.dat")}
    assert paths(items) == expected
    by_path = {uri_to_path(i.uri): i for i in items}
    csv = by_path[str(tmp_path / "finance/exports/cards.csv")]
    st = os.stat(tmp_path / "finance/exports/cards.csv")
    assert csv.source == "file"
    assert csv.size == st.st_size
    assert csv.ukey == f"{st.st_size}:{st.st_mtime_ns}:{st.st_dev}:{st.st_ino}"
    # Exposure is worked out where an object's metadata is written (object_meta), not in the walk.
    assert "exposure" not in csv.meta and object_meta(csv)["exposure"] == "world-readable"
    assert csv.meta["mode"] == "0644" and object_meta(csv)["mode"] == "0644"
    assert csv.meta["owner"] == ("root" if os.geteuid() == 0 else csv.meta["owner"])
    people = object_meta(by_path[str(tmp_path / "hr/people.log")])  # 0640, its group's only member is its owner or root
    assert people["exposure"] == ("private" if people["group"] == "root" else "group-readable")
    assert f"group:{people['group']}" in people["readers"] and "*" not in people["readers"]
    assert object_meta(by_path[str(tmp_path / "hr/2024/q2/notes.txt")])["exposure"] == "private"
    assert isinstance(src, ByteSource)


def test_special_files_are_skipped_not_errors_and_never_opened(tmp_path: Path, rng) -> None:
    make_tree(tmp_path, rng)
    src = FileSource(tmp_path)
    items, errors = walk(src)  # a FIFO opened for reading would hang this test
    assert errors == []
    skipped = src.stats["skipped"]
    assert skipped["fifo"] == 1 and skipped["socket"] == 1
    if os.geteuid() == 0:
        assert skipped["device"] == 1
    assert not any(uri_to_path(i.uri).endswith(("pipe", "sock", "null-dev")) for i in items)


def test_symlinks_are_not_followed_by_default(tmp_path: Path, rng) -> None:
    make_tree(tmp_path, rng, specials=False)
    src = FileSource(tmp_path)
    items, _ = walk(src)
    assert src.stats["skipped"]["symlink"] == 2
    assert not any("finance-link" in i.uri for i in items)


def test_symlink_loop_is_detected_when_following(tmp_path: Path, rng) -> None:
    make_tree(tmp_path, rng, specials=False)
    src = FileSource(tmp_path, follow_symlinks=True)
    items, errors = walk(src)
    assert errors == []
    assert src.stats["skipped"]["loop"] >= 1
    # finance/ is reached twice (directly and through finance-link), each file once per route.
    names = sorted(uri_to_path(i.uri) for i in items)
    assert len(names) == len(set(names))
    assert any("finance-link" in n for n in names)


def test_loop_of_links_only(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    os.symlink("../a", tmp_path / "a" / "self")
    os.symlink(tmp_path / "b", tmp_path / "c")
    os.symlink(tmp_path / "c", tmp_path / "b")  # b -> c -> b: ELOOP on stat
    src = FileSource(tmp_path, follow_symlinks=True)
    items, errors = walk(src)
    assert items == []
    assert src.stats["skipped"]["loop"] == 1
    assert [e.kind for e in errors] == ["io", "io"]  # ELOOP for b and c


def test_dangling_symlink_followed_is_not_found(tmp_path: Path) -> None:
    os.symlink(tmp_path / "gone", tmp_path / "dangling")
    items, errors = walk(FileSource(tmp_path, follow_symlinks=True))
    assert items == []
    assert [(e.kind, e.location.uri) for e in errors] == [("not_found", path_to_uri(str(tmp_path / "dangling")))]


def test_missing_root_is_an_error_record(tmp_path: Path) -> None:
    items, errors = walk(FileSource(tmp_path / "nope"))
    assert items == [] and errors[0].kind == "not_found"


def test_explicit_roots_are_followed_and_files_work(tmp_path: Path) -> None:
    (tmp_path / "real").write_text("x")
    os.symlink(tmp_path / "real", tmp_path / "link")
    items, errors = walk(FileSource([tmp_path / "link", tmp_path / "real"]))
    assert errors == [] and len(items) == 2


def test_unreadable_directory_and_file_without_root_privileges(tmp_path: Path) -> None:
    base = tmp_path / "tree"
    (base / "locked").mkdir(parents=True)
    (base / "locked" / "inside.txt").write_text("x")
    (base / "open.txt").write_text("x")
    (base / "secret.txt").write_text("x")
    os.chmod(base / "locked", 0)
    os.chmod(base / "secret.txt", 0)
    code = (
        "import json,sys\n"
        "from cardscan.sources.fs import FileSource\n"
        "from cardscan.findings import ErrorRecord\n"
        "src = FileSource(sys.argv[1])\n"
        "out = []\n"
        "for x in src.items():\n"
        "    if isinstance(x, ErrorRecord):\n"
        "        out.append(['error', x.kind, x.location.uri])\n"
        "    else:\n"
        "        try:\n"
        "            src.open(x).close(); out.append(['ok', x.uri])\n"
        "        except OSError as e:\n"
        "            out.append(['open', e.errno, x.uri])\n"
        "print(json.dumps(out))\n"
    )
    cmd = drop_dac([sys.executable, "-c", code, str(base)])
    if cmd is None:
        pytest.skip("cannot drop root's permission override here (no setpriv)")
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2])
    finally:
        os.chmod(base / "locked", 0o755)
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = json.loads(proc.stdout)
    assert ["error", "permission", path_to_uri(str(base / "locked"))] in out
    assert ["ok", path_to_uri(str(base / "open.txt"))] in out
    assert ["open", 13, path_to_uri(str(base / "secret.txt"))] in out


def test_include_exclude_use_gitignore_semantics(tmp_path: Path) -> None:
    for rel in ("a.log", "keep.log", "b.txt", "logs/x.txt", "deep/logs/y.txt", "deep/z.log", "node_modules/m.js"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    src = FileSource(tmp_path, exclude=["logs/", "node_modules", "*.log", "!keep.log"])
    items, _ = walk(src)
    rels = {os.path.relpath(p, tmp_path) for p in paths(items)}
    assert rels == {"keep.log", "b.txt"}
    assert src.stats["skipped"]["excluded"] == 5  # 2 dirs pruned whole + node_modules + a.log + deep/z.log
    src = FileSource(tmp_path, include=["*.log"], exclude=["deep/"])
    rels = {os.path.relpath(p, tmp_path) for p in paths(walk(src)[0])}
    assert rels == {"a.log", "keep.log"}


def test_gitignore_only_when_asked(tmp_path: Path) -> None:
    (tmp_path / ".git").mkdir()
    (tmp_path / ".git" / "config").write_text("x")
    (tmp_path / ".gitignore").write_text("build/\n*.tmp\n")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / ".gitignore").write_text("!keep.tmp\nlocal.txt\n")
    for rel in ("build/out.txt", "a.tmp", "sub/keep.tmp", "sub/local.txt", "sub/other.txt", "main.py"):
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text("x")
    all_items, _ = walk(FileSource(tmp_path))
    assert len(all_items) == 9  # incl. .git/config and both .gitignore files
    src = FileSource(tmp_path, gitignore=True)
    rels = {os.path.relpath(p, tmp_path) for p in paths(walk(src)[0])}
    assert rels == {".gitignore", "sub/.gitignore", "sub/keep.tmp", "sub/other.txt", "main.py"}
    assert src.stats["skipped"]["gitignored"] == 4  # .git, build/, a.tmp, sub/local.txt


def test_max_file_size(tmp_path: Path) -> None:
    (tmp_path / "small").write_bytes(b"x" * 10)
    (tmp_path / "big").write_bytes(b"x" * 11)
    src = FileSource(tmp_path, max_file_size=10)
    assert [os.path.basename(p) for p in paths(walk(src)[0])] == ["small"]
    assert src.stats["skipped"]["too_large"] == 1


def test_walk_is_streaming(tmp_path: Path) -> None:
    for d in range(30):
        (tmp_path / f"d{d:02d}").mkdir()
        (tmp_path / f"d{d:02d}" / "f").write_text("x")
    src = FileSource(tmp_path)
    it = src.items()
    next(it)
    # One file yielded after visiting at most two directories: nothing is listed ahead.
    assert src.stats["dirs"] <= 2


def test_odd_names_round_trip_through_uris(tmp_path: Path) -> None:
    names = ["sp ace.txt", "%41.txt", "ü é.txt", "new\nline.txt", "#hash?.txt"]
    for n in names:
        (tmp_path / n).write_text("x")
    raw = os.fsencode(str(tmp_path)) + b"/\xff\xfe.bin"
    with open(raw, "wb") as fh:
        fh.write(b"x")
    items, errors = walk(FileSource(tmp_path))
    assert errors == []
    got = {uri_to_path(i.uri) for i in items}
    assert got == {str(tmp_path / n) for n in names} | {os.fsdecode(raw)}
    for i in items:
        assert i.uri == path_to_uri(uri_to_path(i.uri))
        with FileSource(tmp_path).open(i) as fh:
            assert fh.read() == b"x"


def test_open_refuses_a_fifo_swapped_in_without_hanging(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_text("x")
    items, _ = walk(FileSource(tmp_path))
    p.unlink()
    os.mkfifo(p)
    with pytest.raises(SourceError) as exc:
        FileSource(tmp_path).open(items[0])
    assert exc.value.kind == "changed"


def test_vanished_file_open_error_kind(tmp_path: Path) -> None:
    p = tmp_path / "f"
    p.write_text("x")
    items, _ = walk(FileSource(tmp_path))
    p.unlink()
    with pytest.raises(OSError) as exc:
        FileSource(tmp_path).open(items[0])
    assert os_error_kind(exc.value) == "not_found"


# -- the scan's reads leave atime alone (cardscan access reads it) ---------------------------

def _read_sets_atime(path: Path) -> bool:
    """Whether a plain read of ``path`` records itself in atime on this mount (relatime does
    when atime is older than mtime, as set here)."""
    st = path.stat()
    os.utime(path, ns=(st.st_mtime_ns - 10**12, st.st_mtime_ns))
    with open(path, "rb") as fh:
        fh.read()
    after = path.stat()
    os.utime(path, ns=(st.st_mtime_ns - 10**12, st.st_mtime_ns))
    return after.st_atime_ns != st.st_mtime_ns - 10**12


@pytest.mark.skipif(not getattr(os, "O_NOATIME", 0), reason="no O_NOATIME on this platform")
def test_scanning_a_file_leaves_its_atime_as_it_was(tmp_path: Path, rng) -> None:
    from cardscan.engine.scanner import Scanner
    from cardscan.pipeline import Pipeline

    p = tmp_path / "export.csv"
    pans = write_planted(p, rng, 2)
    if not _read_sets_atime(p):
        pytest.skip("this mount records no reads in atime (noatime): nothing to keep")
    before = p.stat().st_atime_ns
    (item,) = walk(FileSource(tmp_path))[0]
    result = Pipeline(Scanner(key=b"k"), sources=[FileSource(tmp_path)]).scan_item(item)
    assert len(result.findings) == len(pans) and not result.errors
    assert p.stat().st_atime_ns == before  # the scan's read is not the last recorded read


@pytest.mark.skipif(not getattr(os, "O_NOATIME", 0), reason="no O_NOATIME on this platform")
def test_a_file_of_another_owner_is_opened_without_o_noatime(tmp_path: Path) -> None:
    # O_NOATIME is the owner's (or CAP_FOWNER's): anyone else gets EPERM and
    # the file is read as usual. Run without CAP_FOWNER on a file root does not own.
    if os.geteuid() != 0:
        pytest.skip("needs root to give the file to another owner")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("no setpriv")
    p = tmp_path / "theirs.log"
    p.write_bytes(b"payload\n")
    os.chown(p, 65534, 65534)
    p.chmod(0o644)
    code = (
        "import errno, os, sys\n"
        "from cardscan.sources.fs import FileSource, path_to_uri\n"
        "from cardscan.sources.base import Item\n"
        "path = sys.argv[1]\n"
        "try:\n"
        "    os.close(os.open(path, os.O_RDONLY | os.O_NOATIME)); direct = 'opened'\n"
        "except PermissionError as exc:\n"
        "    direct = errno.errorcode[exc.errno]\n"
        "with FileSource(path).open(Item(uri=path_to_uri(path), source='file')) as fh:\n"
        "    print(direct, fh.read().decode().strip())\n"
    )
    caps = "-fowner"
    out = subprocess.run([setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", sys.executable, "-c", code, str(p)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["EPERM", "payload"]


def test_exposure_from_mode() -> None:
    assert exposure(stat.S_IFREG | 0o604) == "world-readable"
    assert exposure(stat.S_IFREG | 0o640) == "group-readable"
    assert exposure(stat.S_IFREG | 0o600) == "private"
    assert exposure(stat.S_IFREG | 0o622) == "private"  # writable is not readable


def test_source_pickles_without_walk_state(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x")
    src = FileSource(tmp_path, exclude=["*.iso"], max_file_size=5)
    walk(src)
    clone = pickle.loads(pickle.dumps(src))
    assert clone.options() == src.options() and clone.roots == src.roots
    assert clone.stats["files"] == 0 and src.stats["files"] == 1


def test_from_url_accepts_file_urls_and_rejects_remote_hosts(tmp_path: Path) -> None:
    (tmp_path / "a").write_text("x")
    assert len(walk(FileSource.from_url(path_to_uri(str(tmp_path))))[0]) == 1
    from cardscan.errors import ConfigError

    with pytest.raises(ConfigError):
        FileSource.from_url("file://fileserver/share")


def _special(tmp_path: Path, kind: str) -> Path:
    if kind == "fifo":
        os.mkfifo(tmp_path / "f")
        return tmp_path / "f"
    if kind == "socket":
        s = socket.socket(socket.AF_UNIX)
        s.bind(str(tmp_path / "s"))
        s.close()
        return tmp_path / "s"
    if kind == "link to a fifo":
        os.mkfifo(tmp_path / "f")
        (tmp_path / "l").symlink_to(tmp_path / "f")
        return tmp_path / "l"
    return Path("/dev/null")  # a character device


@pytest.mark.timeout(30)  # a FIFO opened for reading would block forever
@pytest.mark.parametrize("kind", ["fifo", "socket", "device", "link to a fifo"])
def test_special_file_named_as_root_is_an_error_record_never_opened(tmp_path: Path, kind: str) -> None:
    # Was skipped silently: the scan said "0 findings in 0 of 0 objects" and exited 0.
    path = _special(tmp_path, kind)
    src = FileSource(path)
    items, errors = walk(src)
    assert items == [] and len(errors) == 1
    assert errors[0].kind == "source" and errors[0].location.uri == path_to_uri(str(path))
    assert ("device" if kind == "device" else "fifo" if "fifo" in kind else "socket") in errors[0].message
    assert not src.stats["skipped"]


def test_special_files_inside_a_directory_are_still_skipped_not_errors(tmp_path: Path) -> None:
    root = tmp_path / "share"
    root.mkdir()
    os.mkfifo(root / "f")
    (root / "a.txt").write_text("x\n")
    src = FileSource(root)
    items, errors = walk(src)
    assert [Path(uri_to_path(i.uri)).name for i in items] == ["a.txt"] and errors == []
    assert src.stats["skipped"]["fifo"] == 1


class TestFileSourceContract(SourceContract):
    @pytest.fixture(scope="class")
    @classmethod
    def source_case(cls, tmp_path_factory) -> SourceCase:
        import random

        root = tmp_path_factory.mktemp("contract")
        rng = random.Random(7)
        (root / "z" / "deeper").mkdir(parents=True)
        pans = write_planted(root / "top.log", rng, 2)
        pans += write_planted(root / "z" / "a.csv", rng, 2, start=2)
        pans += write_planted(root / "z" / "deeper" / "b.txt", rng, 1, start=4)
        # Unreadable even for root: a link to nothing, followed. Subdirectories
        # are listed after it, so the listing visibly goes on.
        os.symlink(root / "nowhere", root / "dangling")
        src = FileSource.from_url(path_to_uri(str(root)), follow_symlinks=True)
        return SourceCase(src, pans, unreadable=[path_to_uri(str(root / "dangling"))])


def test_listed_exposure_is_the_eager_answer_in_the_same_key_order(open_tmp_path: Path, rng) -> None:
    # The walk leaves exposure to object_meta (objects with findings only):
    # the metadata must be what the walk used to record, key order included
    # (the manifest writes the dict in order), and survive pickling to a worker.
    import pickle

    from cardscan.sources.fs import _access

    make_tree(open_tmp_path, rng)
    items, _ = walk(FileSource(open_tmp_path))
    assert items
    for item in items:
        path = uri_to_path(item.uri)
        eager = _access(os.stat(path), path)
        for meta in (object_meta(item), object_meta(pickle.loads(pickle.dumps(item)))):
            assert list(meta.items()) == list(eager.items())
    plain = FileSource(open_tmp_path).item_for(uri_to_path(items[0].uri), exposure=False)
    assert object_meta(plain) is plain.meta and "exposure" not in plain.meta


def test_published_meta_is_published_object_meta_made_once_per_answer(open_tmp_path: Path, rng) -> None:
    """The pipeline's shared part of a listed file's metadata: what
    published(object_meta(item)) gives, key order included; one record for
    the files of a directory with the same listing and exposure answer, a
    new one when the answer changes (a mode), none for an item the walk did
    not list (its metadata is published whole)."""
    from cardscan.privacy import published
    from cardscan.sources.fs import published_meta

    make_tree(open_tmp_path, rng)
    (open_tmp_path / "same-a.log").write_text("a")
    (open_tmp_path / "same-b.log").write_text("b")
    items, _ = walk(FileSource(open_tmp_path))
    for item in items:
        got = published_meta(item)
        assert got is not None and list(got.items()) == list(published(object_meta(item)).items())
    by_name = {uri_to_path(i.uri).rsplit("/", 1)[-1]: i for i in items}
    a, b = by_name["same-a.log"], by_name["same-b.log"]
    assert a.meta == b.meta and published_meta(a) is published_meta(b)
    os.chmod(uri_to_path(b.uri), 0o600)
    b2 = FileSource(open_tmp_path).item_for(uri_to_path(b.uri), exposure=False)
    listed = next(i for i in walk(FileSource(open_tmp_path))[0] if i.uri == b.uri)
    assert published_meta(listed) is not published_meta(a) and published_meta(listed)["mode"] == "0600"
    assert published_meta(b2) is None


def test_an_item_made_past_its_init_is_the_dataclasss_own(open_tmp_path: Path) -> None:
    """fs._item (a listed file's item, past the frozen __init__): equal to
    Item(...), the same fields in the same order (the same pickle), and
    Item has no __post_init__ it would skip."""
    from cardscan.sources.fs import _item, _listed_meta

    meta = _listed_meta({"owner": "root", "group": "root", "mode": "0644"}, (0, 0, 0o100644, 1))
    made = _item("file:///srv/a.log", "file", 12, 1.5, "12:1500000000:1:2", meta)
    want = Item(uri="file:///srv/a.log", source="file", size=12, mtime=1.5, ukey="12:1500000000:1:2", meta=meta)
    assert made == want and list(made.__dict__.items()) == list(want.__dict__.items())
    assert pickle.dumps(made, pickle.HIGHEST_PROTOCOL) == pickle.dumps(want, pickle.HIGHEST_PROTOCOL)
    assert not hasattr(Item, "__post_init__")


# -- batches of small files (SmallBatch, read_files, batch_entry) --------------------------
READERS = [pytest.param(fs_module._read_files_python, id="python")]
if fs_module._C_READ_FILES is not None:
    READERS.append(pytest.param(read_files, id="c"))


def odd_dir(tmp_path: Path) -> tuple[Path, dict[str, bytes]]:
    d = tmp_path / "d"
    d.mkdir()
    files = {"a.log": b"line one\nline two\n", "empty": b"", "exact": b"x" * 64, "over": b"y" * 65,
             "caf\u00e9 %41.txt": b"odd name\n", "nl-end": b"\n\n"}
    for name, data in files.items():
        (d / name).write_bytes(data)
    os.mkfifo(d / "fifo")
    (d / "sub").mkdir()
    os.symlink(d / "a.log", d / "link")
    return d, files


@pytest.mark.parametrize("reader", READERS)
def test_read_files_reads_small_regular_files_and_refuses_the_rest(tmp_path: Path, reader) -> None:
    d, files = odd_dir(tmp_path)
    names = ["a.log", "fifo", "empty", "missing", "exact", "over", "sub", "link", "caf\u00e9 %41.txt", "nl-end"]
    data, ends, status = reader(str(d), names, 64)
    assert len(ends) == len(names) + 1 and ends[0] == 0 and len(status) == len(names) and ends[-1] == len(data)
    got = {n: (status[i], data[ends[i]:ends[i + 1] - 1]) for i, n in enumerate(names)}
    assert all(data[e - 1:e] == b"\n" for e in ends[1:])  # each file is followed by a newline
    for n in ("a.log", "empty", "exact", "caf\u00e9 %41.txt", "nl-end"):
        assert got[n] == (0, files[n])
    assert got["fifo"][0] == 2 and got["sub"][0] == 2  # not regular files: never read (the FIFO never blocks)
    assert got["missing"][0] == 1 and got["link"][0] == 1  # a link is not followed (O_NOFOLLOW)
    assert got["over"][0] == 3  # bigger than the limit
    assert all(got[n][1] == b"" for n in ("fifo", "sub", "missing", "link", "over"))
    assert reader(str(tmp_path / "gone"), ["a.log"], 64)[2] == b"\x06"  # no directory: every file left to the general path
    assert reader(str(d), [], 64) == (b"", [0], b"")


def test_read_files_c_and_python_agree(tmp_path: Path, rng) -> None:
    if fs_module._C_READ_FILES is None:
        pytest.skip("no C reader built")
    d, _ = odd_dir(tmp_path)
    for i in range(40):
        (d / f"r{i}").write_bytes(bytes(rng.randrange(256) for _ in range(rng.randrange(0, 90))))
    names = sorted(os.listdir(d)) + ["missing"]
    for limit in (0, 1, 64, 89, 1 << 16):
        assert read_files(str(d), names, limit) == fs_module._read_files_python(str(d), names, limit)


@pytest.mark.parametrize("reader", READERS)
def test_read_files_gives_the_fstat_of_each_file_read_whole(tmp_path: Path, reader) -> None:
    d, files = odd_dir(tmp_path)
    names = ["a.log", "fifo", "missing", "over", "link", "caf\u00e9 %41.txt", "empty"]
    data, ends, status, stats = reader(str(d), names, 64, stats=True)
    assert (data, ends, status) == reader(str(d), names, 64)  # the same three, with or without
    assert len(stats) == len(names) * fs_module._STAT.size
    for i, name in enumerate(names):
        if status[i]:  # not read whole: a record of zeros
            assert stats[i * fs_module._STAT.size:(i + 1) * fs_module._STAT.size] == bytes(fs_module._STAT.size)
            continue
        got, want = fs_module.batch_stat(stats, i), os.stat(d / name)
        # What an item, its object metadata and the change check read, and the float times as os.stat makes them.
        for field in ("st_mode", "st_ino", "st_dev", "st_nlink", "st_uid", "st_gid", "st_size", "st_atime",
                      "st_mtime", "st_ctime", "st_atime_ns", "st_mtime_ns", "st_ctime_ns"):
            assert getattr(got, field) == getattr(want, field), field
        assert type(got.st_mtime) is float and type(got.st_mtime_ns) is int


def test_read_files_c_and_python_agree_on_stats(tmp_path: Path) -> None:
    if fs_module._C_READ_FILES is None:
        pytest.skip("no C reader built")
    d, _ = odd_dir(tmp_path)
    os.utime(d / "a.log", ns=(-1_500_000_001, 8_000_000_000 * 10**9 + 999_999_999))  # before 1970, far ahead
    names = sorted(os.listdir(d)) + ["missing"]
    assert read_files(str(d), names, 64, stats=True) == fs_module._read_files_python(str(d), names, 64, stats=True)
    i = names.index("a.log")
    st = fs_module.batch_stat(read_files(str(d), names, 64, stats=True)[3], i)
    want = os.stat(d / "a.log")
    assert (st.st_atime_ns, st.st_mtime_ns) == (want.st_atime_ns, want.st_mtime_ns) == (
        -1_500_000_001, 8_000_000_000 * 10**9 + 999_999_999)
    assert (st.st_atime, st.st_mtime) == (want.st_atime, want.st_mtime)


def test_batch_stat_in_c_is_the_python_one() -> None:
    # The C batch_stat builds the same os.stat_result as the Python one, for
    # times before 1970, past 2262 (where sec * 10**9 leaves 64 bits), big
    # inode and device numbers (unsigned) and odd nanoseconds.
    if fs_module._C_BATCH_STAT_KEY is None:
        pytest.skip("no C reader built")
    import random

    rng = random.Random(17)
    secs = [0, 1, -1, -1_500_000_002, 1_733_563_417, 9_000_000_000, -9_000_000_000, 8_999_999_999,
            2**62, -(2**62), 253_402_300_799]
    records = []
    for n in range(400):
        times = [(rng.choice(secs) if n % 3 else rng.randrange(-2**40, 2**40), rng.randrange(10**9))
                 for _ in range(3)]
        records.append(fs_module._STAT.pack(rng.randrange(2**16), rng.choice([1, 2**63 + 5, 2**64 - 1]),
                                            rng.choice([0, 2049, 2**64 - 1]), rng.randrange(5), rng.randrange(2**32),
                                            rng.randrange(2**32), rng.randrange(2**40), *[x for t in times for x in t]))
    stats = b"".join(records)
    for i in range(len(records)):
        got, want = fs_module.batch_stat(stats, i), fs_module._batch_stat_python(stats, i)
        assert type(got) is os.stat_result and got == want
        assert [getattr(got, f) for f in dir(want) if f.startswith("st_")] == \
            [getattr(want, f) for f in dir(want) if f.startswith("st_")]
        assert [type(getattr(got, f)) for f in dir(want) if f.startswith("st_")] == \
            [type(getattr(want, f)) for f in dir(want) if f.startswith("st_")]
        st, key = fs_module.batch_stat_key(stats, i)
        assert st == want and key == fs_module.ukey(want) and type(key) is str
    with pytest.raises(IndexError):
        fs_module.batch_stat_key(stats, len(records))
    with pytest.raises(IndexError):
        fs_module.batch_stat(stats, len(records))
    with pytest.raises(IndexError):
        fs_module.batch_stat(stats, -1)


def test_still_in_c_is_the_python_one(tmp_path: Path) -> None:
    # _still in C (no stat_result for the lstat) answers as the Python one:
    # the same file unchanged, rewritten, touched, chmod'ed, renamed over,
    # a link or a directory now, gone; an odd name; a far mtime.
    if fs_module._C_STILL is None:
        pytest.skip("no C reader built")
    a = tmp_path / "a.log"
    a.write_bytes(b"card")
    odd = tmp_path / os.fsdecode(b"odd-\xff.log")
    odd.write_bytes(b"x")
    cases = []

    def check(path: Path, st: os.stat_result, want: bool) -> None:
        got, python = fs_module._still(str(path), st), fs_module._still_python(str(path), st)
        assert got is python is want, (path, got, python)
        cases.append(want)

    st = os.lstat(a)
    check(a, st, True)
    check(odd, os.lstat(odd), True)
    check(tmp_path / "missing", st, False)
    os.utime(a, ns=(st.st_atime_ns, st.st_mtime_ns + 1))
    check(a, st, False)
    st = os.lstat(a)
    os.chmod(a, 0o600)
    check(a, st, False)
    st = os.lstat(a)
    a.write_bytes(b"card!")
    check(a, st, False)
    st = os.lstat(a)
    b = tmp_path / "b.log"
    b.write_bytes(b"card!")
    os.replace(b, a)
    check(a, st, False)
    st = os.lstat(a)
    os.utime(a, ns=(1, 8_000_000_000 * 10**9 + 7))  # past 2262: more than 64 bits of ns
    check(a, st, False)
    check(a, os.lstat(a), True)
    link = tmp_path / "link"
    link.symlink_to(a)
    check(link, os.lstat(a), False)
    check(link, os.lstat(link), True)
    check(tmp_path, os.lstat(a), False)
    with pytest.raises(TypeError):
        fs_module._C_STILL(str(a), tuple(os.lstat(a)))
    assert cases.count(True) == 4


def test_read_files_sees_a_file_that_changes_while_read(tmp_path: Path, monkeypatch) -> None:
    # The Python twin (the C one cannot be paused mid-read): an fstat after the
    # read that differs from the one before is "changed", left to the general path.
    (tmp_path / "grows.log").write_bytes(b"abc\n")
    real = os.fstat
    calls = []

    def fstat(fd: int) -> os.stat_result:
        st = real(fd)
        calls.append(fd)
        if len(calls) % 2 == 0:  # the second fstat of each file: it grew meanwhile
            return os.stat_result((st.st_mode, st.st_ino, st.st_dev, st.st_nlink, st.st_uid, st.st_gid,
                                   st.st_size + 10, st.st_atime, st.st_mtime, st.st_ctime))
        return st

    monkeypatch.setattr(fs_module.os, "fstat", fstat)
    data, ends, status = fs_module._read_files_python(str(tmp_path), ["grows.log"], 64)
    assert status == b"\x04" and data == b"\n"


def test_read_files_of_another_owner_without_o_noatime(tmp_path: Path) -> None:
    # As FileSource.open: EPERM for O_NOATIME on a file one does not own, then read as usual.
    if os.geteuid() != 0:
        pytest.skip("needs root to give the file to another owner")
    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("no setpriv")
    (tmp_path / "theirs.log").write_bytes(b"payload\n")
    os.chown(tmp_path / "theirs.log", 65534, 65534)
    code = ("import sys\nfrom cardscan.sources import fs\n"
            "print(fs.read_files(sys.argv[1], ['theirs.log'], 64), fs._read_files_python(sys.argv[1], ['theirs.log'], 64))\n")
    caps = "-fowner"
    out = subprocess.run([setpriv, f"--inh-caps={caps}", f"--bounding-set={caps}", sys.executable, "-c", code,
                          str(tmp_path)], capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2])
    assert out.returncode == 0, out.stderr[-2000:]
    one = "(b'payload\\n\\n', [0, 9], b'\\x00')"
    assert out.stdout.strip() == f"{one} {one}"


def test_read_files_of_a_denied_file_leaves_it_to_the_general_path(tmp_path: Path) -> None:
    (tmp_path / "secret.log").write_bytes(b"x\n")
    (tmp_path / "open.log").write_bytes(b"y\n")
    os.chmod(tmp_path / "secret.log", 0)
    code = ("import sys\nfrom cardscan.sources import fs\n"
            "n = ['secret.log', 'open.log']\n"
            "print(fs.read_files(sys.argv[1], n, 64), fs._read_files_python(sys.argv[1], n, 64))\n")
    cmd = drop_dac([sys.executable, "-c", code, str(tmp_path)])
    if cmd is None:
        pytest.skip("cannot drop root's permission override here (no setpriv)")
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=60, cwd=Path(__file__).parents[2])
    assert out.returncode == 0, out.stderr[-2000:]
    one = "(b'\\ny\\n\\n', [0, 1, 4], b'\\x01\\x00')"
    assert out.stdout.strip() == f"{one} {one}"


def test_batched_items_lists_regular_files_in_batches(tmp_path: Path, rng, monkeypatch) -> None:
    monkeypatch.setattr(fs_module, "BATCH_NAMES", 2)
    make_tree(tmp_path, rng)
    src = FileSource(tmp_path)
    assert src.can_batch
    entries = list(src.batched_items())
    batches = [e for e in entries if isinstance(e, SmallBatch)]
    listed = [e for e in entries if not isinstance(e, SmallBatch)]
    assert all(1 <= len(b.names) <= 2 for b in batches)
    files = {os.path.join(b.dir, n) for b in batches for n in b.names}
    items, errors = walk(FileSource(tmp_path))
    assert files == paths(items) and listed == errors == []  # the same files; specials and links skipped alike
    assert all(b.uri == path_to_uri(b.dir) for b in batches)
    s1, s2 = FileSource(tmp_path), FileSource(tmp_path)
    list(s1.items()), list(s2.batched_items())
    assert s1.stats["skipped"] == s2.stats["skipped"] and s1.stats["dirs"] == s2.stats["dirs"]
    assert pickle.loads(pickle.dumps(batches[0])) == batches[0]


@pytest.mark.parametrize("options", [{"include": ["*.log"]}, {"exclude": ["hr/"]}, {"gitignore": True},
                                     {"max_file_size": 100}])
def test_no_batches_with_patterns_or_a_size_limit(tmp_path: Path, rng, options) -> None:
    make_tree(tmp_path, rng)
    src = FileSource(tmp_path, **options)
    assert not src.can_batch
    assert [getattr(x, "uri", None) for x in src.batched_items()] == [
        getattr(x, "uri", None) for x in FileSource(tmp_path, **options).items()]


def test_batch_entry_is_what_the_walk_lists_or_reports(tmp_path: Path) -> None:
    d = tmp_path / "d"
    d.mkdir()
    for n in ("a.log", "gone.log", "fifo", "link", "na\u00efve.log"):
        (d / n).write_bytes(b"abc\n")
    src = FileSource(tmp_path)
    batch = next(b for b in src.batched_items() if isinstance(b, SmallBatch))
    items, _ = walk(FileSource(tmp_path))
    by_uri = {i.uri: i for i in items}
    entry = src.batch_entry(batch, "a.log")
    assert entry == by_uri[entry.uri] and dict(entry.meta) == dict(by_uri[entry.uri].meta)
    assert src.batch_entry(batch, "na\u00efve.log").uri == path_to_uri(str(d / "na\u00efve.log"))
    # Swapped or gone since the listing:
    (d / "gone.log").unlink()
    (d / "fifo").unlink()
    os.mkfifo(d / "fifo")
    (d / "link").unlink()
    os.symlink(d / "a.log", d / "link")
    gone = src.batch_entry(batch, "gone.log")
    assert isinstance(gone, ErrorRecord) and gone.kind == "not_found"
    assert gone.location.uri == path_to_uri(str(d / "gone.log"))
    link = src.batch_entry(batch, "link")
    assert isinstance(link, ErrorRecord) and link.kind == "changed" and "symlink" in link.message
    fifo = src.batch_entry(batch, "fifo")
    assert isinstance(fifo, Item)
    with pytest.raises(SourceError) as exc:  # refused when opened, never blocking
        src.read_small(fifo, 64)
    assert exc.value.kind == "changed"


def test_read_entry_is_batch_entry_with_the_content_read_once(tmp_path: Path, monkeypatch) -> None:
    d = tmp_path / "d"
    d.mkdir()
    for n in ("a.log", "na\u00efve %41.log"):
        (d / n).write_bytes(b"abc\n")
    src = FileSource(tmp_path)
    batch = next(b for b in src.batched_items() if isinstance(b, SmallBatch))
    data, ends, status, stats = read_files(batch.dir, batch.names, 64, stats=True)
    opened: list[Item] = []

    def refused(self: FileSource, it: Item) -> Any:
        opened.append(it)
        raise OSError("opened")

    for i, name in enumerate(batch.names):
        assert status[i] == 0
        content = data[ends[i]:ends[i + 1] - 1]
        item = src.read_entry(batch, name, fs_module.batch_stat(stats, i), content)
        listed = src.batch_entry(batch, name)
        assert isinstance(listed, Item)
        assert (item, item.mtime, dict(item.meta), item.meta.perm) == (listed, listed.mtime, dict(listed.meta),
                                                                       listed.meta.perm)
        assert object_meta(item) == object_meta(listed)
        # Pickled (to a worker): without the content, which reads the file itself.
        assert pickle.loads(pickle.dumps(item)).meta.preread is None
        opened.clear()
        monkeypatch.setattr(FileSource, "_open_regular", refused)
        got = src.read_small(item, 64)
        assert got is not None and got[0] == content == b"abc\n" and opened == []
        assert got[1] is got[2] and got[1].st_size == 4  # the batch read's own fstat: it saw no change
        with pytest.raises(OSError):  # once: a second read opens the file
            src.read_small(item, 64)
        assert opened == [item]
        monkeypatch.undo()


def test_read_entry_content_over_the_limit_is_read_again(tmp_path: Path) -> None:
    (tmp_path / "a.log").write_bytes(b"x" * 10)
    src = FileSource(tmp_path)
    batch = next(b for b in src.batched_items() if isinstance(b, SmallBatch))
    data, ends, status, stats = read_files(batch.dir, batch.names, 64, stats=True)
    item = src.read_entry(batch, "a.log", fs_module.batch_stat(stats, 0), data[:10])
    assert src.read_small(item, 5) is None  # bigger than this limit: as a file read now would be


@pytest.mark.parametrize("follow", [False, True])
def test_count_items_counts_what_the_walk_yields(tmp_path: Path, rng, follow: bool) -> None:
    make_tree(tmp_path, rng)
    src = FileSource(tmp_path, follow_symlinks=follow)
    items, _ = walk(FileSource(tmp_path, follow_symlinks=follow))
    assert sorted(src.count_items()) == sorted(i.size for i in items)
    assert sorted(FileSource(tmp_path, exclude=["hr/"]).count_items()) == sorted(
        i.size for i in walk(FileSource(tmp_path, exclude=["hr/"]))[0])


def test_a_listed_file_swapped_for_a_link_is_not_followed(tmp_path: Path) -> None:
    """The walk does not follow links; a file it listed that is a link by the
    time it is read is refused ('changed'), as the batched reads refuse it,
    not read through the link. Explicit roots and the hook's files are
    followed (like find -H)."""
    root = tmp_path / "share"
    root.mkdir()
    (root / "a.txt").write_text("listed\n")
    (tmp_path / "elsewhere.txt").write_text("not listed\n")
    src = FileSource(root)
    item = next(i for i in src.items() if isinstance(i, Item))
    (root / "a.txt").unlink()
    (root / "a.txt").symlink_to(tmp_path / "elsewhere.txt")
    for read in (src.open, lambda it: src.read_small(it, 1 << 16)):
        with pytest.raises(SourceError) as exc:
            read(item)
        assert exc.value.kind == "changed" and "symlink" in str(exc.value)
    # Followed: a root named explicitly, a file the hook names, a walk that follows links.
    link_root = FileSource(root / "a.txt")
    explicit = next(i for i in link_root.items() if isinstance(i, Item))
    assert link_root.read_small(explicit, 1 << 16)[0] == b"not listed\n"
    assert src.read_small(src.item_for(root / "a.txt"), 1 << 16)[0] == b"not listed\n"
    following = FileSource(root, follow_symlinks=True)
    assert [following.read_small(i, 1 << 16)[0] for i in following.items() if isinstance(i, Item)] == [b"not listed\n"]


@pytest.mark.parametrize("c", [True, False])
def test_iso_writes_what_datetime_writes(rng, monkeypatch, c) -> None:
    # _iso formats the date and time of day once per second and rounds the
    # microseconds itself: the same text as datetime's, at the rounding edges too;
    # in C (_fsbatch.iso, to 2262) and in Python.
    if c and fs_module._C_ISO is None:
        pytest.skip("no C reader built")
    if not c:
        monkeypatch.setattr(fs_module, "_C_ISO", None)
    edges = [0, 1, 499, 500, 501, 999_499, 999_500, 999_501, 999_999_499, 999_999_500, 999_999_501, 999_999_999]
    values = [rng.randrange(0, 253402300799 * 10**9) for _ in range(20000)]
    values += [rng.randrange(1_600_000_000, 1_900_000_000) * 10**9 + rng.choice(edges) + rng.randrange(1000) * 1000
               for _ in range(20000)]
    values += edges + [-1, -10**9, -1_500_000_001, 253402300798 * 10**9 + 999_999_600, 2**63 - 1, 2**63, 2**63 + 1,
                       2**53, 2**53 + 1, 9_007_199_254_740_993, 1_733_563_417_999_999_500, 1_733_563_417_999_999_499]
    values += [rng.randrange(2**62, 2**63 + 10**12) for _ in range(2000)]
    for ns in values:
        assert fs_module._iso(ns) == fs_module._iso_datetime(ns), ns
    # Where datetime ends (it rounds this up to year 10000) and past it: no
    # RFC 3339 text holds the time (null in the manifest; the ukey keeps it).
    # It raised, and the object became an internal error with nothing counted.
    for ns in (253402300799 * 10**9 + 999_999_999, 253402300800 * 10**9 + 5, 10**30, -62135596800 * 10**9 - 86400 * 10**9):
        assert fs_module._iso(ns) is None, ns


def test_a_file_whose_mtime_is_past_year_9999_is_scanned_and_counted(rng) -> None:
    # (tmpfs keeps such a time; ext4 clamps it to 2446: then there is nothing to test here.)
    import tempfile

    from cardscan import sweep
    from cardscan.sinks.base import ListSink
    from tests.treegen import pan

    if not os.path.isdir("/dev/shm"):
        pytest.skip("no tmpfs at /dev/shm")
    with tempfile.TemporaryDirectory(dir="/dev/shm") as d:
        path = Path(d) / "far.log"
        path.write_text(f"paid card={pan(rng, 1)} exp 09/27\n")
        os.utime(path, ns=(0, 253402300800 * 10**9 + 5))
        if path.stat().st_mtime_ns != 253402300800 * 10**9 + 5:
            pytest.skip("this filesystem clamps far mtimes")
        sink = ListSink()
        summary = sweep([d], sinks=[sink], jobs=1, key=b"k" * 32)
    assert [e.kind for e in sink.errors] == [] and summary["objects_scanned"] == 1
    assert [f.obj["mtime"] for f in sink.findings] == [None]
    assert [f.obj["ukey"].split(":")[1] for f in sink.findings] == [str(253402300800 * 10**9 + 5)]
