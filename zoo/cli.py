"""The ``zoo`` command: a thin layer over the Python API.

Each subcommand lives in ``zoo/commands/<name>.py`` and defines ``register(subparsers)``, which adds its
parser and sets ``func(args) -> int``. Adding a command is adding a file there.

Only the command being run is imported: the others are listed by name and help line, read from their
source (``add_parser(NAME, help=...)``) without importing them, so ``zoo list``, ``zoo info`` and
``zoo --help`` never pay for ``zoo bench``'s torch import.
"""

from __future__ import annotations

import argparse
import ast
import importlib
import os
import pkgutil
import sys
from pathlib import Path

from . import commands
from .console import quiet_libraries, say, set_quiet
from .errors import UserError

_NO_DEFAULT = (None, False, argparse.SUPPRESS)


def command_names() -> list[str]:
    return sorted(m.name for m in pkgutil.iter_modules(commands.__path__) if not m.name.startswith("_"))


def _help_line(name: str) -> str:
    """The ``help=`` of the command's ``add_parser(name, help=...)`` call, read from its source."""
    tree = ast.parse((Path(commands.__path__[0]) / f"{name}.py").read_text())
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "add_parser":
            for kw in node.keywords:
                if kw.arg == "help" and isinstance(kw.value, ast.Constant):
                    return kw.value.value
    return (ast.get_docstring(tree) or "").split("\n", 1)[0]


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The ``zoo`` parser. ``command=None``: every command's full parser (imports every command module);
    otherwise only that command's, the others as one-line entries (their modules are not imported)."""
    parser = argparse.ArgumentParser(prog="zoo", description="Vision and NLP model zoo with benchmarks.")
    _add_output_options(parser, False)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in command_names():
        if command is None or name == command:
            importlib.import_module(f"{commands.__name__}.{name}").register(sub)
        else:
            sub.add_parser(name, help=_help_line(name))
    for p in sub.choices.values():
        _add_output_options(p, argparse.SUPPRESS)  # SUPPRESS: `zoo --quiet bench` is not undone by the subparser
        _add_defaults_to_help(p)
    return parser


def _add_output_options(parser: argparse.ArgumentParser, default: object) -> None:
    """--quiet / --verbose, before the command (``zoo --quiet bench``) or after it (``zoo bench --quiet``)."""
    parser.add_argument("--quiet", "-q", action="store_true", default=default,
                        help="no progress bars (they show only on a terminal anyway)")
    parser.add_argument("--verbose", action="store_true", default=default,
                        help="let third-party libraries print their banners, warnings and download bars")


def _add_defaults_to_help(parser: argparse.ArgumentParser) -> None:
    """Every option's help ends with its default when it has one and the help does not say it already."""
    for action in parser._actions:  # noqa: SLF001  (argparse keeps no public list)
        if action.help in (None, argparse.SUPPRESS) or action.default in _NO_DEFAULT or action.nargs == 0:
            continue
        if "default" not in action.help:
            action.help += " (default: %(default)s)"


def _command_parser(parser: argparse.ArgumentParser, command: str | None) -> argparse.ArgumentParser:
    """The parser of ``command`` inside ``parser`` (``parser`` itself when there is none)."""
    for action in parser._subparsers._group_actions if parser._subparsers else ():  # argparse keeps no public list
        if command in action.choices:
            return action.choices[command]
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    first = next((a for a in argv if not a.startswith("-")), "")
    parser = build_parser(first if first in command_names() else "")
    args, extra = parser.parse_known_args(argv)
    if extra:  # refused by the subcommand's parser, so the usage shown is that command's (exits 2)
        _command_parser(parser, getattr(args, "command", None)).error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    set_quiet(bool(getattr(args, "quiet", False)))
    quiet_libraries(verbose=bool(getattr(args, "verbose", False)))
    try:
        rc = int(args.func(args) or 0)
        sys.stdout.flush()  # inside the try: a reader that left shows up here, not at interpreter exit
        return rc
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:  # `zoo list --json | head`: the reader left; say nothing more
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())  # Python's own flush at exit would raise
        return 0
    except UserError as e:  # one clear line for expected user errors; a traceback for bugs
        say(f"zoo: error: {e}", sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
