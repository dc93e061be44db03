"""``cardscan hook``: what a developer sees when a commit carries a card number."""
from __future__ import annotations

import io
import json
import os
import re
import unicodedata
import zipfile
from pathlib import Path
from urllib.parse import unquote

import pytest

from cardscan.cli import main as cli_main
from cardscan.testing import assert_no_pan, group, make_pan

KEY = "team-key-kept-outside-the-repository"


@pytest.fixture
def repo(tmp_path: Path, monkeypatch):
    root = tmp_path / "project"
    root.mkdir()
    monkeypatch.chdir(root)
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY", raising=False)
    return root


def hook(*argv: str, capsys, pans=()) -> tuple[int, str, str]:
    code = cli_main.main(["hook", *argv])
    captured = capsys.readouterr()
    assert_no_pan(captured.out + captured.err, pans, "hook output")
    return code, captured.out, captured.err


def baseline(*argv: str, capsys, pans=()) -> tuple[int, str, str]:
    code = cli_main.main(["baseline", *argv])
    captured = capsys.readouterr()
    assert_no_pan(captured.out + captured.err, pans, "baseline output")
    return code, captured.out, captured.err


def test_commands_are_registered() -> None:
    assert cli_main.COMMANDS["hook"] == "cardscan.cli.hook"
    assert cli_main.COMMANDS["baseline"] == "cardscan.cli.baseline"


def test_clean_files_pass_quietly(repo: Path, capsys) -> None:
    (repo / "a.py").write_text("print('hello')\nORDER_ID = 4556737586899855\n")
    (repo / "b.bin").write_bytes(bytes(range(256)) * 10)
    assert hook("a.py", "b.bin", capsys=capsys) == (0, "", "")
    assert hook(capsys=capsys) == (0, "", "")  # pre-commit with no matching files


def test_real_looking_pan_blocks_with_a_readable_message(repo: Path, capsys, rng) -> None:
    pan = make_pan("455673", 16, rng)
    (repo / "src").mkdir()
    (repo / "src" / "refund.py").write_text(f"# refund test\nCARD = '{group(pan, (4, 4, 4, 4))}'  # exp 04/29\n")
    code, out, err = hook("src/refund.py", capsys=capsys, pans=[pan])
    assert code == 1
    line = next(ln for ln in out.splitlines() if ln.startswith("src/refund.py:"))
    masked = f"{pan[:6]}******{pan[-4:]}"
    assert line.startswith("src/refund.py:2:9  VISA  " + masked + "  confidence ")
    assert "\u2014" in line and "grouped like a printed card" in line and "(issuer_luhn, grouped" in line
    assert "1 card number(s) in 1 file(s): commit blocked." in out
    assert "# cardscan: allow" in out and "cardscan baseline" in out and "test card" in out


def test_test_cards_pass_by_default(repo: Path, capsys) -> None:
    from cardscan.engine.issuers import _TEST_FILE, _package_text, parse_test_cards

    test_card = sorted(parse_test_cards(_package_text(_TEST_FILE)))[0]
    (repo / "fixture.json").write_text(json.dumps({"card_number": test_card}) + "\n")
    assert hook("fixture.json", capsys=capsys)[0] == 0
    code, out, _ = hook("--report-test-cards", "fixture.json", capsys=capsys)
    assert code == 1 and "a published test card number" in out


@pytest.mark.parametrize("comment", ["# cardscan: allow", "// cardscan: allow", "<!-- cardscan: allow -->",
                                     "/* cardscan: allow */", "-- cardscan: allow"])
def test_inline_pragma_lets_a_fixture_through(repo: Path, capsys, rng, comment: str) -> None:
    pan, other = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    (repo / "f.txt").write_text(f"card {pan}  {comment}\n")
    assert hook("f.txt", capsys=capsys, pans=[pan])[0] == 0
    (repo / "f.txt").write_text(f"card {pan}  {comment}\ncard {other}\n")
    code, out, _ = hook("f.txt", capsys=capsys, pans=[pan, other])
    assert code == 1 and "f.txt:2:6" in out and "f.txt:1:" not in out


def test_baseline_lets_accepted_findings_through(repo: Path, capsys, rng, monkeypatch) -> None:
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY)
    pan, new = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    fixture = repo / "tests" / "fixtures.yml"
    fixture.parent.mkdir()
    fixture.write_text(f"card_number: {pan}\n")
    code, out, _ = baseline("tests", capsys=capsys, pans=[pan])
    assert code == 0 and "1 accepted finding(s)" in out
    assert (repo / ".cardscan-baseline.json").stat().st_mode & 0o777 == 0o600
    assert hook("tests/fixtures.yml", capsys=capsys, pans=[pan])[0] == 0
    # Lines move: still accepted.
    fixture.write_text(f"# fixtures\n\n\ncard_number: {pan}\n")
    assert hook("tests/fixtures.yml", capsys=capsys, pans=[pan])[0] == 0
    # A new number beside it: only that one is reported.
    fixture.write_text(f"card_number: {pan}\nsecond card: {new}\n")
    code, out, _ = hook("tests/fixtures.yml", capsys=capsys, pans=[pan, new])
    assert code == 1
    assert f"{new[:6]}******{new[-4:]}" in out and f"{pan[:6]}******{pan[-4:]}" not in out
    assert "(1 more accepted by the baseline)" in out
    # The same accepted number in another file is new there.
    (repo / "copy.yml").write_text(f"card_number: {pan}\n")
    assert hook("copy.yml", capsys=capsys, pans=[pan])[0] == 1
    # --no-baseline ignores it.
    assert hook("--no-baseline", "tests/fixtures.yml", capsys=capsys, pans=[pan, new])[0] == 1


def test_baseline_under_another_key_or_no_key(repo: Path, capsys, rng, monkeypatch) -> None:
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY)
    pan = make_pan("455673", 16, rng)
    (repo / "f.txt").write_text(f"card {pan}\n")
    assert baseline("f.txt", capsys=capsys, pans=[pan])[0] == 0
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", "another key, as long as the team's key")
    code, out, err = hook("f.txt", capsys=capsys, pans=[pan])
    assert code == 1 and "f.txt:1:6" in out and "another fingerprint key" in err
    monkeypatch.delenv("CARDSCAN_FINGERPRINT_KEY")
    code, out, err = hook("f.txt", capsys=capsys, pans=[pan])
    assert code == 1 and "none is set" in err and "CARDSCAN_FINGERPRINT_KEY" in out
    # No findings: a developer without the key is not blocked.
    (repo / "clean.txt").write_text("fine\n")
    assert hook("clean.txt", capsys=capsys) == (0, "", "")


def test_update_baseline_exits_3(repo: Path, capsys, rng, monkeypatch) -> None:
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY)
    pan = make_pan("455673", 16, rng)
    (repo / "f.txt").write_text(f"card {pan}\n")
    code, out, _ = hook("--update-baseline", "f.txt", capsys=capsys, pans=[pan])
    assert code == 3 and "git add .cardscan-baseline.json" in out
    data = json.loads((repo / ".cardscan-baseline.json").read_text())
    assert list(data["results"]) == ["f.txt"]
    assert hook("f.txt", capsys=capsys, pans=[pan])[0] == 0
    assert hook("--update-baseline", "f.txt", capsys=capsys, pans=[pan])[0] == 0  # nothing new: untouched


def test_update_baseline_refuses_a_random_key(repo: Path, capsys, rng) -> None:
    pan = make_pan("455673", 16, rng)
    (repo / "f.txt").write_text(f"card {pan}\n")
    code, out, err = hook("--update-baseline", "f.txt", capsys=capsys, pans=[pan])
    assert code == 1 and "random fingerprint key" in err
    assert not (repo / ".cardscan-baseline.json").exists()


def test_unreadable_file_is_an_error(repo: Path, capsys) -> None:
    code, out, err = hook("missing.txt", capsys=capsys)
    assert code == 2 and "missing.txt: could not check (not_found" in err


def test_members_of_containers_are_checked(repo: Path, capsys, rng) -> None:
    pan = make_pan("455673", 16, rng)
    with zipfile.ZipFile(repo / "export.zip", "w") as z:
        z.writestr("cards.csv", f"name,card\nx,{pan}\n")
    code, out, _ = hook("export.zip", capsys=capsys, pans=[pan])
    assert code == 1 and "export.zip!cards.csv:2:3" in out


def test_formats_known_by_name_or_header_are_opened(repo: Path, capsys, rng) -> None:
    # The hook used to scan these raw (its own magic table knew neither):
    # a card at the end of a .lzma, and one in a zip attached to a mail in an mbox.
    from tests.decoders.build import lzma_alone, mbox_with_zip_at_the_end, noise_text

    a, b = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    (repo / "app.log.lzma").write_bytes(lzma_alone(noise_text(50_000, rng) + f"\ncard {a} exp 01/28\n".encode()))
    (repo / "inbox").write_bytes(mbox_with_zip_at_the_end(b, rng, 20_000))
    code, out, err = hook("app.log.lzma", "inbox", capsys=capsys, pans=[a, b])
    assert code == 1 and err == ""
    assert "app.log.lzma:969:6" in out and "inbox!message-5!attachment:export.zip!cards.csv:" in out
    assert "2 card number(s) in 2 file(s)" in out


def test_allow_pragma_counts_in_a_files_own_text_wherever_it_is(repo: Path, capsys, rng) -> None:
    """One policy (cardscan/allow.py): a comment in a text file counts in a .gz and in a
    zip member too (it is still that file's comment); an xlsx cell or a docx paragraph
    has no comment syntax, so there the words allow nothing."""
    import gzip

    from tests.decoders.build import docx, xlsx, zip_bytes

    pan, other = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    (repo / "fixture.txt.gz").write_bytes(gzip.compress(f"card {pan} # cardscan: allow\n".encode()))
    (repo / "plain.txt").write_text(f"card {pan} # cardscan: allow\n")
    (repo / "fixtures.zip").write_bytes(zip_bytes({"cards.sql": f"-- cardscan: allow-next-line\n'{pan}'\n".encode()}))
    assert hook("fixture.txt.gz", "plain.txt", "fixtures.zip", capsys=capsys, pans=[pan])[0] == 0
    (repo / "book.xlsx").write_bytes(xlsx([[f"{other} # cardscan: allow"]], [("A1", "s", "0")]))
    (repo / "memo.docx").write_bytes(docx([[f"card {other} // cardscan: allow"]]))
    code, out, _ = hook("book.xlsx", "memo.docx", capsys=capsys, pans=[pan, other])
    assert code == 1 and "book.xlsx!" in out and "memo.docx!" in out


def test_advice_suits_where_the_findings_are(repo: Path, capsys, rng) -> None:
    """No comment is suggested for a card inside an xlsx or a zip: the baseline is (issue 14.12);
    and the tip points at nothing in cardscan's own repository (docs/brands.md)."""
    from tests.decoders.build import xlsx, zip_bytes

    pan, other = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    (repo / "book.xlsx").write_bytes(xlsx([[f"card {pan}"]], [("A1", "s", "0")]))
    (repo / "export.zip").write_bytes(zip_bytes({"cards.csv": f"id,card\n1,{other}\n".encode()}))
    code, out, _ = hook("book.xlsx", "export.zip", capsys=capsys, pans=[pan, other])
    assert code == 1
    tips = out[out.index("Not a real card"):]
    assert "cardscan: allow" not in tips and "one of two ways" in tips
    assert "cardscan baseline" in tips and "no line" in tips
    assert "docs/" not in out and "cardscan hook --help" in tips
    # A plain file beside them: the comment is offered for it, the baseline for the others.
    (repo / "a.py").write_text(f"CARD = '{pan}'\n")
    code, out, _ = hook("a.py", "book.xlsx", capsys=capsys, pans=[pan, other])
    tips = out[out.index("Not a real card"):]
    assert "one of three ways" in tips and "# cardscan: allow" in tips and "allow-next-line" in tips
    assert "for the 1 inside an archive" in tips


def test_help_names_the_test_card_providers_cardscan_knows(capsys) -> None:
    """The providers listed in the hook's help are the sources of cardscan/data/test_cards.csv."""
    from cardscan.cli.hook import TEST_CARD_PROVIDERS
    from cardscan.engine.issuers import _TEST_FILE, _package_text

    sources = set()
    for row in _package_text(_TEST_FILE).splitlines()[1:]:
        sources.update(s.split("-")[0] for s in row.split(",")[2].split("|"))
    names = {"accesspaysuite": "Access PaySuite", "authorizenet": "Authorize.net", "checkout": "Checkout.com",
             "cybersource": "CyberSource", "mastercard": "Mastercard Send", "paypal": "PayPal",
             "unionpay": "UnionPay"}
    assert sorted(names.get(s, s.capitalize()) for s in sources) == TEST_CARD_PROVIDERS.split(", ")
    assert cli_main.main(["hook", "--help"]) == 0
    text = capsys.readouterr().out
    assert "Stripe" in text and "allow-next-line" in text and "exit status" in text


def test_utf16_track_data_and_directories(repo: Path, capsys, rng) -> None:
    pan, tpan = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    d = repo / "data"
    d.mkdir()
    (d / "export.txt").write_bytes(f"\ufeffcard number {pan}\r\n".encode("utf-16-le"))
    (d / "pos.log").write_text(f"read ;{tpan}=29041010000000000000?\n")
    (d / "ok.txt").write_bytes(f"card {pan} # cardscan: allow\n".encode("utf-16-le"))
    code, out, _ = hook("data", capsys=capsys, pans=[pan, tpan])
    assert code == 1
    assert "data/export.txt:1:" in out and "data/pos.log:1:6" in out and "TRACK2" in out
    assert "data/ok.txt" not in out and "magnetic-stripe" in out


def test_settings_file(repo: Path, capsys, rng) -> None:
    pan = make_pan("455673", 16, rng)
    (repo / "vendor").mkdir()
    (repo / "vendor" / "x.txt").write_text(f"card {pan}\n")
    (repo / "bare.txt").write_text(f"{pan}\n")  # no context: confidence 60
    (repo / ".cardscan.toml").write_text('exclude = ["vendor/"]\nmin-confidence = 70\n')
    assert hook("vendor/x.txt", "bare.txt", capsys=capsys, pans=[pan])[0] == 0
    assert hook("--min-confidence", "50", "bare.txt", capsys=capsys, pans=[pan])[0] == 1
    assert hook("--no-config", "vendor/x.txt", capsys=capsys, pans=[pan])[0] == 1


def test_settings_file_baseline_and_test_cards(repo: Path, capsys, rng, monkeypatch) -> None:
    from cardscan.engine.issuers import _TEST_FILE, _package_text, parse_test_cards

    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY)
    pan = make_pan("455673", 16, rng)
    (repo / "f.txt").write_text(f"card {pan}\n")
    assert baseline("-o", "ci/accepted.json", "f.txt", capsys=capsys, pans=[pan])[0] == 2  # no such directory
    (repo / "ci").mkdir()
    assert baseline("-o", "ci/accepted.json", "f.txt", capsys=capsys, pans=[pan])[0] == 0
    assert hook("f.txt", capsys=capsys, pans=[pan])[0] == 1  # not the default name
    (repo / "pyproject.toml").write_text('[tool.cardscan]\nbaseline = "ci/accepted.json"\nreport-test-cards = true\n')
    assert hook("f.txt", capsys=capsys, pans=[pan])[0] == 0
    card = sorted(parse_test_cards(_package_text(_TEST_FILE)))[0]
    (repo / "t.txt").write_text(f"card {card}\n")
    assert hook("t.txt", capsys=capsys)[0] == 1


def test_symlinks_are_not_followed(repo: Path, capsys, rng, tmp_path: Path) -> None:
    pan = make_pan("455673", 16, rng)
    outside = tmp_path / "outside.txt"
    outside.write_text(f"card {pan}\n")
    os.symlink(outside, repo / "link.txt")
    assert hook("link.txt", capsys=capsys, pans=[pan])[0] == 0


def test_quiet(repo: Path, capsys, rng) -> None:
    pan = make_pan("455673", 16, rng)
    (repo / "f.txt").write_text(f"card {pan}\n")
    assert hook("-q", "f.txt", capsys=capsys) == (1, "", "")


def test_no_pan_anywhere_with_many_findings(repo: Path, capsys, rng) -> None:
    pans = [make_pan(p, n, rng) for p, n in (("455673", 16), ("510510", 16), ("371449", 15), ("601100", 16),
                                             ("352800", 16), ("622126", 19))]
    for i, pan in enumerate(pans):
        (repo / f"f{i}.txt").write_text(f"card {pan} exp 01/30\n{group(pan, (4, 4, 4, len(pan) - 12), '-')}\n")
    code, out, err = hook(*[f"f{i}.txt" for i in range(len(pans))], capsys=capsys, pans=pans)
    assert code == 1 and out.count("\n  ") >= 0
    assert sum(1 for ln in out.splitlines() if ln.startswith("f")) >= len(pans)


def test_output_stream_failure_does_not_crash(repo: Path, rng) -> None:
    """A closed pipe (pre-commit killed) ends quietly, never with a traceback holding data."""
    from cardscan.cli import hook as hook_mod

    pan = make_pan("455673", 16, rng)
    (repo / "f.txt").write_text(f"card {pan}\n")
    out = io.StringIO()
    out.close()
    import argparse

    parser = argparse.ArgumentParser()
    hook_mod.configure(parser)
    assert hook_mod.run(parser.parse_args(["f.txt"]), out=out, err=io.StringIO()) == 1


def test_a_file_named_after_a_card_is_shown_masked_and_refused_even_baselined(repo: Path, capsys, rng, monkeypatch) -> None:
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY)
    name_pan, pan = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    (repo / "receipts").mkdir()
    path = repo / "receipts" / f"{name_pan}.txt"
    path.write_text(f"card {pan} exp 04/29\n")
    code, out, _ = hook(str(path.relative_to(repo)), capsys=capsys, pans=[name_pan, pan])
    assert code == 1 and f"receipts/{name_pan[:6]}******{name_pan[-4:]}.txt:1:" in out
    assert baseline("receipts", capsys=capsys, pans=[name_pan, pan])[0] == 0
    assert_no_pan((repo / ".cardscan-baseline.json").read_bytes(), [name_pan, pan], "the baseline")
    # The content is accepted; the name is not (issue 12): it would leak into every clone.
    code, out, _ = hook(str(path.relative_to(repo)), capsys=capsys, pans=[name_pan, pan])
    assert code == 1 and "files named with a card number" in out and "card numbers in the files" not in out
    assert f"receipts/{name_pan[:6]}******{name_pan[-4:]}.txt" in out


def test_a_decoder_is_imported_only_for_a_file_that_needs_one(repo: Path) -> None:
    # Start-up matters on every commit: plain files import no format decoder.
    import gzip
    import subprocess
    import sys

    (repo / "plain.py").write_text("print('hello')\n" * 50)
    (repo / "old.log.gz").write_bytes(gzip.compress(b"nothing to see\n"))
    code = ("import sys\nfrom cardscan.cli.main import main\nstatus = main(['hook', *sys.argv[1:]])\n"
            "print(status, sorted(m for m in sys.modules if m.startswith('cardscan.decoders.')))\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}

    def modules(*files: str) -> str:
        return subprocess.run([sys.executable, "-c", code, *files], capture_output=True, text=True, env=env,
                              cwd=repo, check=True, timeout=60).stdout.strip()

    assert modules("plain.py") == "0 ['cardscan.decoders.base', 'cardscan.decoders.expand', 'cardscan.decoders.streams']"
    assert "cardscan.decoders.compression" in modules("plain.py", "old.log.gz")


def test_the_hook_imports_no_logging_when_nothing_is_logged(repo: Path) -> None:
    # Every finding imports cardscan.privacy; its RedactingFilter once derived
    # from logging.Filter, which put logging (~7 ms) back on every commit.
    import subprocess
    import sys

    (repo / "plain.py").write_text("print('hello')\n" * 50)
    code = ("import sys\nfrom cardscan.cli.main import main\nstatus = main(['hook', *sys.argv[1:]])\n"
            "print(status, 'logging' in sys.modules)\n")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    out = subprocess.run([sys.executable, "-c", code, "plain.py"], capture_output=True, text=True, env=env,
                         cwd=repo, check=True, timeout=60).stdout.strip()
    assert out == "0 False"


def test_xlsx_findings_read_as_cell_references_everywhere(repo: Path, capsys, rng, monkeypatch) -> None:
    """'book.xlsx!Customers!C2', not 'book.xlsx!xl/worksheets/sheet1.xml:5:1' (issue 14.12):
    in the hook, the text output, SARIF and JUnit."""
    from tests.decoders.build import workbook

    typed, number = make_pan("455673", 16, rng), make_pan("510510", 16, rng)
    (repo / "book.xlsx").write_bytes(workbook([f"card {typed}"], {
        "Customers": [[("A1", "s", "0")], [("C2", None, number)]]}))
    code, out, _ = hook("book.xlsx", capsys=capsys, pans=[typed, number])
    assert code == 1
    assert "book.xlsx!Customers!A1  VISA" in out and "book.xlsx!Customers!C2  " in out
    assert "sheet1.xml" not in out and "sharedStrings" not in out
    # cardscan scan: text, SARIF, JUnit.
    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY)
    assert cli_main.main(["scan", "--jobs", "1", "--no-progress", "book.xlsx"]) == 1
    text = capsys.readouterr().out
    assert "book.xlsx!Customers!C2  " in text and "book.xlsx!Customers!A1  " in text
    assert cli_main.main(["scan", "--jobs", "1", "--no-progress", "--format", "sarif", "book.xlsx"]) == 1
    doc = json.loads(capsys.readouterr().out)
    cells = sorted(r["properties"]["cell"] for r in doc["runs"][0]["results"])
    assert cells == ["Customers!A1", "Customers!C2"]
    assert all(r["message"]["text"].endswith(f"In {r['properties']['cell']}.") for r in doc["runs"][0]["results"])
    assert cli_main.main(["scan", "--jobs", "1", "--no-progress", "--format", "junit", "book.xlsx"]) == 1
    xml = capsys.readouterr().out
    assert " at cell Customers!C2 (confidence" in xml and "sheet1.xml" not in xml
    assert_no_pan(text + json.dumps(doc) + xml, [typed, number], "outputs")


def test_the_hook_works_out_no_exposure(repo: Path, capsys, monkeypatch, rng) -> None:
    """Exposure reads the permissions and ACLs of every directory above a file:
    the hook shows none, so it must not pay for it (the sweep still does)."""
    import cardscan.sources.fs as fs

    pan = make_pan("455673", 16, rng)
    (repo / "a.txt").write_text(f"card {pan} exp 01/29\n")
    full = fs.FileSource([]).item_for(repo / "a.txt")
    assert full.meta["exposure"] and full.meta["readers"]  # a sweep's item has them

    def no(*a, **k):
        raise AssertionError("exposure worked out for the hook")

    monkeypatch.setattr(fs, "file_exposure", no)
    code, out, err = hook("a.txt", capsys=capsys, pans=[pan])
    assert code == 1 and "a.txt" in out + err
    item = fs.FileSource([]).item_for(repo / "a.txt", exposure=False)
    assert "exposure" not in item.meta and item.meta["mode"]


def test_a_name_holding_a_card_in_any_form_is_refused_a_photo_name_is_not(repo: Path, capsys, rng, monkeypatch) -> None:
    """Issue 12, leak 6: separators the content engine rejects, fullwidth
    digits and a base64 form in a name all block the commit; a camera's
    timestamped name (14 digits) does not."""
    import base64

    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY)
    pan = make_pan("455673", 16, rng)
    groups = [pan[i:i + 4] for i in range(0, 16, 4)]
    names = ["_".join(groups) + ".txt", ".".join(groups) + ".csv", "\u00a0".join(groups) + ".log",
             "\u200b".join(groups) + ".md", pan.translate({ord(c): ord(c) + 0xFEE0 for c in "0123456789"}) + ".txt",
             "k_" + base64.b64encode(pan.encode()).decode().rstrip("=") + ".bin"]
    for name in names:
        (repo / name).write_text("nothing here\n")
        code, out, _ = hook(name, capsys=capsys, pans=[pan])
        assert code == 1 and "files named with a card number" in out, name
    (repo / "IMG_20240506123456.jpg").write_text("nothing here\n")
    assert hook("IMG_20240506123456.jpg", capsys=capsys)[0] == 0


def test_names_in_other_digits_separators_and_escapes_are_refused(repo: Path, capsys, rng, monkeypatch) -> None:
    """Red-team F1.4: the hook refuses the names mask_name masks (en dash
    groups, Arabic-Indic digits, percent escapes, a card glued to hex
    letters, one group per directory level); dated and versioned names pass."""
    from urllib.parse import quote

    monkeypatch.setenv("CARDSCAN_FINGERPRINT_KEY", KEY)
    pan, amex = make_pan("455673", 16, rng), make_pan("37", 15, rng)
    groups = [pan[i:i + 4] for i in range(0, 16, 4)]
    arabic = "".join(chr(0x0660 + int(c)) for c in pan)
    names = ["\u2013".join(groups) + ".txt", "r_" + arabic + ".csv", "p_" + quote(arabic, safe="") + ".txt",
             "q_" + "".join(f"%3{c}" for c in pan) + ".log", "w_" + quote(quote("\u2013".join(groups))) + ".md",
             f"cafe{pan}.txt", f"fed{amex}ab.bin", "/".join(groups) + ".txt", ":".join(groups) + ".txt"]
    for name in names:
        path = repo / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("nothing here\n")
        code, out, _ = hook(name, capsys=capsys, pans=[pan, amex])
        assert code == 1 and "files named with a card number" in out, name.encode("unicode_escape")
        normalised = "".join(str(unicodedata.decimal(c)) if c.isdecimal() else c for c in unquote(unquote(out)))
        assert re.search(r"\D{0,9}".join(pan), normalised) is None, "the name is shown decodable"
    for name in ("backup 2024-06-11 09:00:00.tar", "IMG_20240506123456.jpg", "release-1.2.3.4.txt",
                 "exports/550e8400-e29b-41d4-a716-446655440000.json", "logs/2024-06-11T09:00:00.123456Z.log"):
        (repo / name).parent.mkdir(parents=True, exist_ok=True)
        (repo / name).write_text("nothing here\n")
        assert hook(name, capsys=capsys)[0] == 0, name
