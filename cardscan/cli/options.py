"""argparse, generated from the option table (cardscan/options.py).

* :func:`add_options` adds a command's options to its parser: flags, types
  (the table's parsers, turned into argparse types), help groups and texts;
* :func:`to_options` layers built-in defaults < the settings file < the
  command line into a :class:`~cardscan.options.SweepOptions`;
* :class:`Parser` is argparse with "did you mean" for a misspelt option and
  a subcommand's own usage for an option it does not know.

Every argparse ``dest`` is the field's name, and every default is None, so
"not given on the command line" is visible and the settings file shows
through.
"""
from __future__ import annotations

import argparse
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, Callable, Iterable, Iterator, Sequence

from .. import options as table_mod
from ..errors import ConfigError
from ..options import NEXT_TO_MANIFEST, Parser as ValueParser, Spec, SweepOptions

__all__ = ["add_options", "add_option", "argtype", "to_options", "Parser", "NEXT_TO_MANIFEST"]


def argtype(parse: ValueParser, name: str = "") -> Callable[[str], Any]:
    """An argparse ``type=`` from a table parser (its message, without the ``where``)."""
    def convert(text: str) -> Any:
        try:
            return parse(text, "")
        except ConfigError as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name or getattr(parse, "__name__", "value")  # argparse names it in "invalid X value"
    return convert


def add_option(group: Any, name: str, command: str, *, help_vars: dict[str, str] | None = None) -> None:
    """Add the flags of option ``name`` (as ``command`` words it) to an argparse group or parser."""
    spec = table_mod.spec(name)
    kw: dict[str, Any] = {"dest": name, "default": None,
                          "help": spec.help_in(command).format(**(help_vars or {})).replace("%", "%%")}
    if spec.action in ("store", "optional"):
        if spec.parse is not None and not spec.choices:
            kw["type"] = argtype(spec.parse, name.replace("_", "-"))
        if spec.choices:
            kw["choices"] = spec.choices
        if spec.metavar:
            kw["metavar"] = spec.metavar
        if spec.action == "optional":
            kw.update(nargs="?", const=spec.const)
    elif spec.action == "append":
        kw.update(action="append", metavar=spec.metavar)
    elif spec.action == "true":
        kw["action"] = "store_true"
    elif spec.action == "false":
        kw["action"] = "store_false"
    elif spec.action == "bool":
        kw["action"] = argparse.BooleanOptionalAction
    else:  # pragma: no cover - a typo in the table
        raise ValueError(f"unknown action {spec.action!r} for {name}")
    group.add_argument(*spec.flags, **kw)


def add_options(parser: argparse.ArgumentParser, command: str, *, skip: Iterable[str] = (),
                help_vars: dict[str, str] | None = None) -> None:
    """Every option the table offers ``command``, in its help groups (table order)."""
    skipped = set(skip)
    groups: dict[str, Any] = {}
    rows = [(f, s) for f, s in table_mod.table() if command in s.commands and s.flags and f.name not in skipped]
    for title in table_mod.GROUPS:
        for f, spec in rows:
            if spec.group != title:
                continue
            if title not in groups:
                groups[title] = parser.add_argument_group(title)
            add_option(groups[title], f.name, command, help_vars=help_vars)
            if f.name == "config_file":
                groups[title].add_argument("--no-config", action="store_true", help="ignore settings files")


def _given(args: argparse.Namespace, command: str) -> dict[str, Any]:
    """The options given on the command line (not None), by field name."""
    out: dict[str, Any] = {}
    for f, spec in table_mod.table():
        if command not in spec.commands and f.name != "sources":
            continue
        value = getattr(args, f.name, None)
        if value is not None:
            out[f.name] = value
    return out


def to_options(args: argparse.Namespace, command: str = "scan", **overrides: Any) -> SweepOptions:
    """Built-in defaults < settings file < command line (< ``overrides``), checked."""
    from ..settings import load_config

    merged: dict[str, Any] = {}
    if not getattr(args, "no_config", False):
        file_settings, path = load_config(getattr(args, "config_file", None))
        merged.update(file_settings)
        merged["config_file"] = path
    for name, value in _given(args, command).items():
        if name == "config_file":
            continue  # the loader says which file was read
        if table_mod.spec(name).merge == "extend":
            value = [*(merged.get(name) or ()), *value]  # both layers' patterns apply
        merged[name] = value
    merged.update(overrides)
    return SweepOptions(**merged)


# -- argparse with better errors -----------------------------------------------------
#: True while :func:`building` parsers: see :meth:`Parser._get_formatter`.
_BUILDING: ContextVar[bool] = ContextVar("cardscan_building_parser", default=False)

#: The width of the formatters argparse makes while parsers are built: any width gives the same.
_BUILD_WIDTH = 78


@contextmanager
def building() -> Iterator[None]:
    """Parsers and their options are being made (not parsed, not shown)."""
    token = _BUILDING.set(True)
    try:
        yield
    finally:
        _BUILDING.reset(token)


class Parser(argparse.ArgumentParser):
    """argparse that suggests the closest option for a misspelt one (``--manfest``).

    While parsers are :func:`building`, its formatters have a fixed width
    instead of the terminal's: argparse makes one for each ``add_argument``
    (to check the metavar; the text is thrown away) and one for the
    subcommands' ``prog`` (``cardscan`` alone, the same at any width), and
    asking the terminal's width imports shutil (and with it bz2 and lzma,
    ~2 ms of every start-up) that nothing else on the scan path needs.
    Help and usage messages are formatted after, at the terminal's width.
    """

    def _get_formatter(self) -> argparse.HelpFormatter:
        if _BUILDING.get():
            return self.formatter_class(prog=self.prog, width=_BUILD_WIDTH)  # type: ignore[call-arg]
        return super()._get_formatter()

    def unknown(self, extras: Sequence[str]) -> str:
        """The error message for options this parser does not know."""
        known = [s for a in self._actions for s in a.option_strings if s.startswith("--")]
        hints = []
        for arg in extras:
            if arg.startswith("-"):
                import difflib  # only for an unknown option: its import is start-up time

                close = difflib.get_close_matches(arg.split("=", 1)[0], known, n=1, cutoff=0.6)
                if close:
                    hints.append(f"{arg}: did you mean {close[0]}?")
        message = f"unrecognized arguments: {' '.join(extras)}"
        return message + ("".join(f"\n  {h}" for h in hints) if hints else "")


def spec_for_flag(flag: str) -> tuple[str, Spec] | None:
    """(field name, spec) of the option with this flag, if any (for docs and tests)."""
    for f, spec in table_mod.table():
        if flag in spec.flags:
            return f.name, spec
    return None
