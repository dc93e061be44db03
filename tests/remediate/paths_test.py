"""Remediation acts only on the file that was scanned, inside the tree that was scanned.

Each test stages what another user of the machine (or a race) could do
between the scan and the remediation: swap a directory for a symlink, add a
hard link, plant directories or links in the quarantine directory, leave a
file where the tombstone goes, change a file and put its mtime back.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from cardscan.errors import ConfigError
from cardscan.remediate import files as files_mod
from tests.remediate.helpers import findings, pans, run, scan, statuses

OTHER_UID = 65534  # nobody: "another user" (the tests run as root, who may chown)


@pytest.fixture(autouse=True)
def _cwd(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)


def share_with(tmp: Path, rel: str, text: str) -> tuple[Path, Path]:
    root = tmp / "share"
    f = root / rel
    f.parent.mkdir(parents=True, exist_ok=True)
    f.write_text(text)
    return root, f


# -- symlinks above the file ---------------------------------------------------------------


@pytest.mark.parametrize("action", ["redact", "quarantine", "delete"])
def test_a_directory_swapped_for_a_symlink_redirects_nothing(tmp_path: Path, action: str) -> None:
    p = pans(1, seed=51)
    text = f"customer card {p[0]}\n"
    root, f = share_with(tmp_path, "hr/2026/cards.txt", text)
    manifest = scan(tmp_path, root)
    # Another user's copy outside the tree, same content (same sha256), and the
    # scanned directory moved aside and replaced by a link to the copy.
    outside = tmp_path / "elsewhere" / "2026"
    outside.mkdir(parents=True)
    (outside / "cards.txt").write_text(text)
    (root / "hr" / "2026").rename(root / "hr" / "2026.moved")
    os.symlink(outside, root / "hr" / "2026")

    report, results = run(manifest, action=action, quarantine_to=str(tmp_path / "q"), yes_delete=True)

    assert [r.status for r in results] == ["unsupported"], [(r.status, r.message) for r in results]
    assert "symbolic link" in results[0].message
    assert (outside / "cards.txt").read_text() == text, "a file outside the scanned tree was changed"
    assert (root / "hr" / "2026.moved" / "cards.txt").read_text() == text
    assert not list(outside.iterdir())[1:] and report.exit_code == 1


def test_a_file_root_whose_directory_was_swapped_is_another_file(tmp_path: Path) -> None:
    p = pans(1, seed=52)
    text = f"card {p[0]}\n"
    root, f = share_with(tmp_path, "cards.txt", text)
    manifest = scan(tmp_path, f)  # the file itself is the root: its directory is followed, as the scan did
    copy = tmp_path / "copy"
    copy.mkdir()
    (copy / "cards.txt").write_text(text)
    root.rename(tmp_path / "share.moved")
    os.symlink(copy, root)

    _, results = run(manifest)

    assert [r.status for r in results] == ["stale"] and "another inode" in results[0].message
    assert (copy / "cards.txt").read_text() == text and (tmp_path / "share.moved" / "cards.txt").read_text() == text


def test_verify_reads_the_file_without_following_links(tmp_path: Path) -> None:
    p = pans(1, seed=53)
    root, f = share_with(tmp_path, "a/b.txt", f"card {p[0]}\n")
    manifest = scan(tmp_path, root)
    report, results = run(manifest, verify=True)
    assert report.counts == {"done": 1} and report.verified_objects == 1 and not report.remaining


# -- hard links ------------------------------------------------------------------------------


@pytest.mark.parametrize("action", ["quarantine", "delete", "redact"])
def test_a_file_with_another_hard_link_is_refused(tmp_path: Path, action: str) -> None:
    p = pans(1, seed=54)
    text = f"card {p[0]}\n"
    root, f = share_with(tmp_path, "cards.txt", text)
    manifest = scan(tmp_path, root)
    other = tmp_path / "kept-elsewhere.txt"
    os.link(f, other)

    report, results = run(manifest, action=action, quarantine_to=str(tmp_path / "q"), yes_delete=True, verify=True)

    assert [r.status for r in results] == ["unsupported"] and "2 hard links" in results[0].message
    assert f.read_text() == text and other.read_text() == text
    assert report.exit_code == 1 and not report.remaining
    assert not (tmp_path / "q").exists() or not any((tmp_path / "q").rglob("cards.txt*"))


def test_a_link_added_after_the_check_stops_the_removal(tmp_path: Path, monkeypatch) -> None:
    p = pans(1, seed=55)
    text = f"card {p[0]}\n"
    root, f = share_with(tmp_path, "cards.txt", text)
    manifest = scan(tmp_path, root)
    real = files_mod._unchanged_since

    def link_first(place, st):  # the race: a link appears between the check and the unlink
        if not (tmp_path / "late-link.txt").exists():
            os.link(f, tmp_path / "late-link.txt")
        return real(place, st)

    monkeypatch.setattr(files_mod, "_unchanged_since", link_first)
    _, results = run(manifest, action="delete", yes_delete=True)
    assert [r.status for r in results] == ["stale"]
    assert f.read_text() == text


# -- the pre-rename re-check -------------------------------------------------------------------


def test_a_change_that_keeps_size_and_mtime_is_seen_by_its_ctime(tmp_path: Path, monkeypatch) -> None:
    p = pans(2, seed=56)
    root, f = share_with(tmp_path, "cards.txt", f"card {p[0]}\n")
    manifest = scan(tmp_path, root)
    real_finish = files_mod._Temp.finish
    concurrent = f"card {p[1]}\n"  # same length, another number

    def meanwhile(self, src, st, preserve):
        f.write_text(concurrent)  # another writer, who then puts the mtime back
        os.utime(f, ns=(st.st_atime_ns, st.st_mtime_ns))
        return real_finish(self, src, st, preserve)

    monkeypatch.setattr(files_mod._Temp, "finish", meanwhile)
    _, results = run(manifest)
    assert [r.status for r in results] == ["stale"] and "changed while" in results[0].message
    assert f.read_text() == concurrent, "the other writer's content must survive"
    assert not [n for n in os.listdir(root) if ".cardscan-" in n]


# -- the quarantine directory ------------------------------------------------------------------


def quarantine_case(tmp: Path) -> tuple[Path, Path, Path, str]:
    p = pans(1, seed=57)
    text = f"card {p[0]}\n"
    root, f = share_with(tmp, "cards.txt", text)
    return scan(tmp, root), f, tmp / "q", text


def test_a_quarantine_directory_owned_by_another_user_is_refused(tmp_path: Path) -> None:
    manifest, f, q, text = quarantine_case(tmp_path)
    q.mkdir(mode=0o700)
    os.chown(q, OTHER_UID, OTHER_UID)
    with pytest.raises(ConfigError, match="owned by another user"):
        run(manifest, action="quarantine", quarantine_to=str(q))
    with pytest.raises(ConfigError, match="owned by another user"):
        run(manifest, action="quarantine", quarantine_to=str(q), apply=False)
    assert f.read_text() == text and not list(q.iterdir())


def test_a_quarantine_directory_that_is_a_symlink_is_refused(tmp_path: Path) -> None:
    manifest, f, q, text = quarantine_case(tmp_path)
    real = tmp_path / "real-q"
    real.mkdir(mode=0o700)
    os.symlink(real, q)
    with pytest.raises(ConfigError, match="symbolic link"):
        run(manifest, action="quarantine", quarantine_to=str(q))
    assert f.read_text() == text and not list(real.iterdir())


@pytest.mark.parametrize("plant", ["open-dir", "other-owner", "symlink"])
def test_what_another_user_planted_inside_the_quarantine_directory_is_never_used(tmp_path: Path, plant: str) -> None:
    manifest, f, q, text = quarantine_case(tmp_path)
    q.mkdir(mode=0o700)
    first = Path(str(f).lstrip("/")).parts[0]  # the first level below q a file from f's directory goes to
    target = q / first
    elsewhere = tmp_path / "readable-by-all"
    elsewhere.mkdir(mode=0o777)
    if plant == "open-dir":
        target.mkdir()
        os.chmod(target, 0o777)
    elif plant == "other-owner":
        target.mkdir(mode=0o700)
        os.chown(target, OTHER_UID, OTHER_UID)
    else:
        os.symlink(elsewhere, target)

    report, results = run(manifest, action="quarantine", quarantine_to=str(q))

    assert [r.status for r in results] == ["error"], [(r.status, r.message) for r in results]
    assert "quarantine directory" in results[0].message
    assert f.read_text() == text, "the file must stay where it is"
    assert not list(elsewhere.rglob("*")), "nothing may be written through a planted link"
    assert not [p for p in q.rglob("cards.txt*")]
    assert report.exit_code == 2


def test_quarantine_levels_are_created_private_whatever_the_umask(tmp_path: Path) -> None:
    manifest, f, q, text = quarantine_case(tmp_path)
    old = os.umask(0)
    try:
        report, results = run(manifest, action="quarantine", quarantine_to=str(q))
    finally:
        os.umask(old)
    assert report.counts == {"done": 1}
    dest = Path(results[0].destination)
    assert dest.read_text() == text and not f.exists()
    at = dest.parent
    while at != tmp_path:
        st = at.lstat()
        assert stat.S_IMODE(st.st_mode) == 0o700 and st.st_uid == os.geteuid(), at
        at = at.parent


# -- tombstones and long names ---------------------------------------------------------------


@pytest.mark.parametrize("action", ["quarantine", "delete"])
def test_a_tombstone_never_overwrites_a_file_of_the_same_name(tmp_path: Path, action: str) -> None:
    p = pans(1, seed=58)
    root, f = share_with(tmp_path, "cards.txt", f"card {p[0]}\n")
    suffix = ".cardscan-quarantined.txt" if action == "quarantine" else ".cardscan-deleted.txt"
    mine = Path(str(f) + suffix)
    mine.write_text("my own notes, not cardscan's\n")
    manifest = scan(tmp_path, root, extra=["--exclude", "*" + suffix])

    _, results = run(manifest, action=action, quarantine_to=str(tmp_path / "q"), yes_delete=True)

    assert [r.status for r in results] == ["done"]
    assert mine.read_text() == "my own notes, not cardscan's\n"
    note = Path(str(f) + suffix.replace(".txt", ".1.txt"))
    assert results[0].finding.id in note.read_text()
    _, again = run(manifest, action=action, quarantine_to=str(tmp_path / "q"), yes_delete=True)
    assert [r.status for r in again] == ["already_remediated"]


def test_names_near_the_length_limit_are_remediated(tmp_path: Path) -> None:
    p = pans(3, seed=59)
    root = tmp_path / "share"
    root.mkdir()
    names = ["r" * 250 + ".txt", "q" * 246 + ".txt", "d" * 251 + ".txt"]  # 254, 250 and 255 bytes
    for name, pan in zip(names, p):
        (root / name).write_text(f"card {pan}\n")
    manifest = scan(tmp_path, root)
    by_name = {r["location"]["uri"].rsplit("/", 1)[1][0]: r["id"] for r in findings(manifest)}
    from cardscan.remediate.select import build

    _, red = run(manifest, selection=build(ids=[by_name["r"]]))
    _, quar = run(manifest, action="quarantine", quarantine_to=str(tmp_path / "q"), selection=build(ids=[by_name["q"]]))
    _, dele = run(manifest, action="delete", yes_delete=True, selection=build(ids=[by_name["d"]]))

    assert [r.status for r in red + quar + dele] == ["done"] * 3, [r.message for r in red + quar + dele]
    assert (root / names[0]).read_text() == f"card {'*' * 12}{p[0][-4:]}\n"
    notes = sorted(n for n in os.listdir(root) if ".cardscan-" in n)
    assert len(notes) == 2 and all(len(n.encode()) <= 255 for n in notes)
    assert not (root / names[1]).exists() and not (root / names[2]).exists()
    _, again = run(manifest, action="delete", yes_delete=True, selection=build(ids=[by_name["d"]]))
    assert statuses(again) == {by_name["d"]: "already_remediated"}
