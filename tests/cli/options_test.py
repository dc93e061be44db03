"""Tests for cardscan/cli/options.py and the parser in cardscan/cli/main.py: argparse generated
from the option table, layering, and the errors a user sees."""
from __future__ import annotations

import argparse
import os
from pathlib import Path

import pytest

from cardscan.cli import main as cli_main
from cardscan.cli.options import add_options, to_options
from cardscan.options import SweepOptions, table


def parse(command: str, argv: list[str]) -> argparse.Namespace:
    parser, _ = cli_main.build_parser([command])
    return parser.parse_args([command, *argv])


def test_every_scan_option_of_the_table_is_on_the_command_line(capsys) -> None:
    assert cli_main.main(["scan", "--help"]) == 0
    out = capsys.readouterr().out
    for _, s in table():
        if "scan" in s.commands:
            for flag in s.flags:
                assert flag in out, flag


def test_hook_and_baseline_share_a_subset_of_the_table() -> None:
    for command, expected in (("hook", {"quiet", "min_confidence", "key_file", "config_file", "baseline",
                                        "report_test_cards"}),
                              ("baseline", {"quiet", "min_confidence", "key_file", "config_file",
                                            "report_test_cards"})):
        parser, subs = cli_main.build_parser([command])
        dests = {a.dest for a in subs[command]._actions}
        table_dests = {f.name for f, _ in table()}
        assert dests & table_dests == expected, command


def test_command_line_values_are_parsed_by_the_table(tmp_path: Path) -> None:
    args = parse("scan", [".", "--max-file-size", "2GB", "--include", "*.py", "--include", "*.txt", "-j", "3",
                          "--no-test-cards", "--no-exposure", "--state", "--no-config"])
    o = to_options(args, "scan")
    assert (o.max_file_size, o.include, o.jobs, o.test_cards, o.exposure) == (2_000_000_000, ("*.py", "*.txt"), 3,
                                                                              False, False)
    assert o.state == "\0next-to-manifest" and o.sources == (".",) and o.config_file is None


def test_settings_file_below_the_command_line(tmp_path: Path, monkeypatch) -> None:
    (tmp_path / ".cardscan.toml").write_text('exclude = ["*.iso"]\njobs = 2\nmin-confidence = 70\n'
                                             'state = "s/run.state"\nexecutor = "local"\n')
    monkeypatch.chdir(tmp_path)
    o = to_options(parse("scan", [".", "--exclude", "*.tmp", "-j", "5"]), "scan")
    assert o.exclude == ("*.iso", "*.tmp")  # patterns add up
    assert (o.jobs, o.min_confidence) == (5, 70)
    assert o.state == str(tmp_path / "s" / "run.state")  # relative to the file
    assert o.config_file == str(tmp_path / ".cardscan.toml")


def test_bad_command_line_values_are_usage_errors(capsys) -> None:
    for argv, message in ((["--min-confidence", "high"], "expected a whole number"),
                          (["--max-file-size", "lots"], "expected a size"),
                          (["--endpoint-url", "notaurl"], "expected a URL"),
                          (["--executor", "spark"], "invalid choice")):
        assert cli_main.main(["scan", ".", *argv]) == 2
        err = capsys.readouterr().err
        assert message in err and err.startswith("usage: cardscan scan"), err


@pytest.mark.parametrize("command", [["remediate", "m.jsonl", "--action", "redact"],
                                     ["access", "m.jsonl", "--s3-access-logs", "s3://logs/x/"]])
@pytest.mark.parametrize("url", ["notaurl", "s3.example.com", "http://h:port/"])
def test_endpoint_url_of_remediate_and_access_is_checked_like_scans(capsys, command, url) -> None:
    # Was: remediate gave "internal error: ValueError: Invalid endpoint" per S3 finding, and
    # access reported its logs as unreadable (issue 14.13).
    assert cli_main.main([*command, "--endpoint-url", url]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"usage: cardscan {command[0]}") and "--endpoint-url" in err, err
    assert "internal" not in err and "ValueError" not in err


def test_a_database_extra_alone_brings_sqlalchemy_and_its_driver() -> None:
    # One install, not two round trips (issue 14.13): what pip resolves for
    # cardscan[postgres] (the installed metadata, extras followed) holds both.
    from importlib.metadata import requires

    from packaging.requirements import Requirement

    reqs = [Requirement(r) for r in requires("cardscan") or []]

    def closure(extra: str, seen: set[str]) -> set[str]:
        names: set[str] = set()
        for r in reqs:
            if r.marker is None or not r.marker.evaluate({"extra": extra}):
                continue
            if r.name == "cardscan":
                for e in r.extras - seen:
                    names |= closure(e, seen | {e})
            else:
                names.add(r.name.lower())
        return names

    assert {"sqlalchemy", "psycopg2-binary"} <= closure("postgres", {"postgres"})
    assert {"sqlalchemy", "pymysql"} <= closure("mysql", {"mysql"})
    assert "sqlalchemy" not in closure("s3", {"s3"})  # the near miss: extras stay separate


def test_misspelt_option_suggests_the_right_one_with_the_subcommands_usage(capsys) -> None:
    # On main: the top-level usage and no suggestion.
    assert cli_main.main(["scan", "--manfest", "m.jsonl", "."]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: cardscan scan")
    assert "unrecognized arguments: --manfest" in err and "did you mean --manifest?" in err
    assert cli_main.main(["hook", "--no-basline", "x.py"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: cardscan hook") and "did you mean --no-baseline?" in err
    assert cli_main.main(["report", "--hmtl", "r.html", "m.jsonl"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: cardscan report") and "did you mean --html?" in err
    # Nothing close: no suggestion, still the subcommand's usage.
    assert cli_main.main(["scan", "--zzzzzz", "."]) == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: cardscan scan") and "did you mean" not in err


def test_help_has_exit_codes_examples_and_every_format(capsys) -> None:
    assert cli_main.main(["scan", "--help"]) == 0
    out = capsys.readouterr().out
    assert "exit status:" in out and "130" in out and "examples:" in out
    assert "cardscan scan --git-history ." in out
    fmt_help = out[out.index("--format FORMAT"):out.index("-q, --quiet")]
    for name in ("text", "jsonl", "sarif", "junit", "csv"):
        assert f"{name}:" in fmt_help, name
    assert cli_main.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "exit status" in out and "examples:" in out


def test_top_level_help_names_every_command_without_importing_them(capsys) -> None:
    import importlib

    assert cli_main.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name, module in cli_main.COMMANDS.items():
        assert name in out
        assert cli_main._HELPS[name] == importlib.import_module(module).HELP  # the two stay in step


def test_a_command_given_first_is_the_only_subparser_built(capsys) -> None:
    # No other command can be reached from ``cardscan scan ...``: building the
    # others' parsers was start-up time of every scan and hook run.
    _, subs = cli_main.build_parser(["scan", ".", "--manifest", "m.jsonl"])
    assert list(subs) == ["scan"]
    # An option before the command may ask for the top-level help, which lists them all.
    for argv in (["-h", "scan"], ["--he", "scan"], ["--help"], [], ["scna"]):
        _, subs = cli_main.build_parser(argv)
        assert list(subs) == list(cli_main.COMMANDS), argv
    assert cli_main.main(["-h", "scan"]) == 0
    out = capsys.readouterr().out
    assert all(name in out for name in cli_main.COMMANDS)


def test_building_the_parser_asks_no_terminal_width() -> None:
    # argparse's formatters ask shutil for the terminal's width, and importing
    # shutil (with bz2 and lzma) was ~2 ms of every start-up: while parsers are
    # built their formatters have a fixed width (cli/options.py Parser), and
    # nothing else on a scan's path imports shutil.
    import subprocess
    import sys

    code = ("import sys\nfrom cardscan.cli.main import build_parser\n"
            "parser, _ = build_parser(['scan', '.'])\nparser.parse_known_args(['scan', '.', '-j', '1'])\n"
            "print('shutil' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60,
                         env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}).stdout.strip()
    assert out == "False"


def test_help_is_as_wide_as_the_terminal(capsys, monkeypatch) -> None:
    # The fixed width while building changes no help text: it is formatted after, at the terminal's width.
    widths = []
    for columns in ("60", "200"):
        monkeypatch.setenv("COLUMNS", columns)
        assert cli_main.main(["scan", "--help"]) == 0
        out = capsys.readouterr().out
        usage = out.split("\n\n")[0]  # the epilog's examples are shown as written
        widths.append(max(len(line) for line in usage.splitlines()))
    assert widths[0] < 78 < widths[1]  # neither is the width used while building


def test_version_names_the_engine_backend(capsys) -> None:
    from cardscan import __version__
    from cardscan.engine.candidates import best_backend

    assert cli_main.main(["--version"]) == 0
    out = capsys.readouterr().out
    assert out.startswith(f"cardscan {__version__} (engine backend: {best_backend()}")


def test_version_is_the_installed_distributions() -> None:
    # cardscan/_version.py is read by pyproject.toml (dynamic); the installed
    # metadata must say the same, or a stale install is being tested.
    from importlib.metadata import version

    import cardscan

    assert cardscan.__version__ == version("cardscan")


def test_add_options_for_a_command_of_ones_own() -> None:
    # A third-party command can offer the same options, with the same parsing.
    parser = argparse.ArgumentParser()
    add_options(parser, "hook")
    args = parser.parse_args(["--min-confidence", "80", "-q", "--no-config"])
    assert to_options(args, "hook") == SweepOptions(min_confidence=80, quiet=True)
