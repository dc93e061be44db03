"""``cardscan scan`` options for CI and repositories (registered into cli/scan.py's tables).

* ``--format sarif`` / ``--format junit``: reports for code scanning and CI
  dashboards on stdout (cardscan/sinks/sarif.py, junit.py);
* ``--baseline FILE``: report only findings the baseline does not accept
  (``new = found - baseline``, matched by path, keyed fingerprint and kind;
  see cardscan/baseline.py); the exit status counts new findings only;
* ``--git-history [REV_RANGE]``: scan the history of the git repository
  holding each SOURCE instead of its files (every blob introduced in the
  range, default all refs; see cardscan/sources/git.py). Put it after the
  SOURCE (``cardscan scan . --git-history``) or give a range
  (``cardscan scan --git-history main..feature .``): a lone ``--git-history .``
  would take ``.`` for the range.
"""
from __future__ import annotations

import argparse
import sys
from typing import IO, Any, Callable, Iterable, Iterator

from . import scan

#: ``--git-history`` without a range: every ref.
ALL_REFS = "--all"


def add_repository_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("repositories and CI")
    g.add_argument("--baseline", metavar="FILE", default=None,
                   help="report only findings not accepted in this baseline (see 'cardscan baseline')")
    g.add_argument("--git-history", nargs="?", const=ALL_REFS, default=None, metavar="REV_RANGE",
                   help="scan every blob in the git history of each SOURCE's repository instead of its files "
                        "(default: all refs; e.g. main..feature); put it after SOURCE when giving no range")


def _sarif_sink(opts: dict[str, Any], out: IO[str], err: IO[str]) -> Any:
    from ..sinks.sarif import SarifSink

    return SarifSink(out if out is not sys.stdout else "-")


def _junit_sink(opts: dict[str, Any], out: IO[str], err: IO[str]) -> Any:
    from ..sinks.junit import JUnitSink

    return JUnitSink(out if out is not sys.stdout else "-")


def _git_url(url: str, opts: dict[str, Any]) -> str:
    """With ``--git-history``, a local SOURCE becomes its repository's history."""
    if opts.get("git_history") is None or url.startswith("git+"):
        return url
    from .. import registry

    if registry.source_for_url(url) != "file":
        from ..errors import ConfigError

        raise ConfigError(f"--git-history needs a local repository, not {url}")
    from pathlib import Path

    from ..sources.fs import uri_to_path
    from ..sources.git import repo_toplevel

    return "git+" + Path(repo_toplevel(uri_to_path(url))).as_uri()


def _git_options(opts: dict[str, Any]) -> dict[str, Any]:
    rng = opts.get("git_history")
    return {
        "rev_range": None if rng in (None, ALL_REFS) else rng,
        "max_file_size": opts.get("max_file_size"),
        "include": list(opts.get("include") or []),
        "exclude": list(opts.get("exclude") or []),
    }


class BaselineRunner:
    """A runner that drops the findings a baseline accepts before the sweep sees them.

    Filtering at the runner keeps the sweep's counts, every sink and the exit
    status about *new* findings only.
    """

    def __init__(self, runner: Any, baseline: Any, err: IO[str] | None, path: str) -> None:
        self._runner, self.baseline, self._err, self._path = runner, baseline, err, path
        self.known = 0

    def run(self, units: Iterable[Any], should_stop: Callable[[], bool] = lambda: False) -> Iterator[Any]:
        for unit, results in self._runner.run(units, should_stop):
            for r in results:
                if r.findings:
                    kept = self.baseline.new(r.findings)
                    self.known += len(r.findings) - len(kept)
                    r.findings = kept
            yield unit, results

    def shutdown(self, cancel: bool = False) -> None:
        self._runner.shutdown(cancel)
        if self.known and self._err is not None:
            try:
                self._err.write(f"cardscan: {self.known} finding(s) accepted by the baseline {self._path} "
                                "(not reported)\n")
            except (BrokenPipeError, ValueError):
                pass

    def __getattr__(self, name: str) -> Any:
        return getattr(self._runner, name)


def _baseline_runner(opts: dict[str, Any], key: Any, runner: Any) -> Any:
    path = opts.get("baseline")
    if not path:
        return runner
    from ..baseline import Baseline

    baseline = Baseline.load(path)
    baseline.check_key(key)
    return BaselineRunner(runner, baseline, None if opts.get("quiet") else sys.stderr, str(path))


def register() -> None:
    if add_repository_options not in scan.OPTION_GROUPS:
        scan.OPTION_GROUPS.append(add_repository_options)
    scan.STDOUT_FORMATS.setdefault("sarif", _sarif_sink)
    scan.STDOUT_FORMATS.setdefault("junit", _junit_sink)
    scan.SOURCE_OPTIONS.setdefault("git", _git_options)
    if _git_url not in scan.URL_REWRITERS:
        scan.URL_REWRITERS.append(_git_url)
    if _baseline_runner not in scan.RUNNER_WRAPPERS:
        scan.RUNNER_WRAPPERS.append(_baseline_runner)
