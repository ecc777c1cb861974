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
import errno
import importlib
import os
import pkgutil
import sys
from pathlib import Path

from . import commands
from .console import quiet_libraries, say, set_quiet
from .errors import UserError
from .signals import Terminated, terminate_as_exception

_NO_DEFAULT = (None, False, argparse.SUPPRESS)
_STORAGE_ERRNOS = {errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EACCES, errno.EPERM, errno.EFBIG}


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
    for action in parser._actions:
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
    """Run one command; exit status 0 done, 1 done with a finding (the command's own), 2 a user error,
    130 interrupted (Ctrl-C, at any point, imports included), 143 terminated (SIGTERM)."""
    try:
        with terminate_as_exception():  # SIGTERM unwinds like Ctrl-C: finally blocks and locks clean up
            return _main(argv)
    except KeyboardInterrupt:
        print("zoo: interrupted", file=sys.stderr)
        return 130
    except Terminated:
        print("zoo: terminated", file=sys.stderr)
        return 143


def _main(argv: list[str] | None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    first = next((a for a in argv if not a.startswith("-")), "")
    parser = build_parser(first if first in command_names() else "")
    args, extra = parser.parse_known_args(argv)
    spill = getattr(args, "intermixed", None)  # a command whose trailing positionals may follow its options
    if extra and spill and all(a == "-" or not a.startswith("-") for a in extra):
        setattr(args, spill, list(getattr(args, spill) or []) + extra)  # `zoo predict lstm --json a b`
    elif extra:  # refused by the subcommand's parser, so the usage shown is that command's (exits 2)
        _command_parser(parser, getattr(args, "command", None)).error(f"unrecognized arguments: {' '.join(extra)}")
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    set_quiet(bool(getattr(args, "quiet", False)))
    quiet_libraries(verbose=bool(getattr(args, "verbose", False)))
    real_stdout, real_stderr = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err = ReaderMayLeave(real_stdout), ReaderMayLeave(real_stderr)
    try:
        rc = int(args.func(args) or 0)
        sys.stdout.flush()  # inside the try: a reader that left shows up here, not at interpreter exit
        return rc
    except UserError as e:  # one clear line for expected user errors; a traceback for bugs
        say(f"zoo: error: {e}", sys.stderr)
        return 2
    except OSError as e:
        if e.errno not in _STORAGE_ERRNOS:
            raise
        # a full disk, a read-only or forbidden folder: the machine, not zoo; every zoo write is atomic, so
        # what was there before is intact
        where = f": {e.filename}" if e.filename else ""
        print(f"zoo: error: {e.strerror or e}{where} (free space or point ZOO_CACHE / ZOO_RESULTS_DIR / --out at "
              "a writable folder; files already there were left as they were)", file=sys.stderr)
        return 2
    finally:
        sys.stdout, sys.stderr = real_stdout, real_stderr
        for wrapped, real in ((out, real_stdout), (err, real_stderr)):
            if wrapped.reader_left:  # Python's own flush at exit would raise on the closed pipe
                _stdout_to_devnull(real)


def _stdout_to_devnull(stream) -> None:
    try:
        os.dup2(os.open(os.devnull, os.O_WRONLY), stream.fileno())
    except (OSError, ValueError, AttributeError):  # a replaced stdout without a descriptor (tests)
        pass


class ReaderMayLeave:
    """sys.stdout (and sys.stderr) while a command runs. When the reader of a pipe leaves (``zoo eval ... | head -n1``), the
    rest of the output is dropped instead of raising BrokenPipeError out of a ``print``: an exception there
    would unwind the command before it records its row. The command finishes, its rows are written, and its
    exit status is its own (a reader that took what it wanted is not an error)."""

    def __init__(self, inner):
        self._inner = inner
        self.reader_left = False

    def write(self, s: str) -> int:
        if not self.reader_left:
            try:
                return self._inner.write(s)
            except BrokenPipeError:
                self._left()
        return len(s)

    def flush(self) -> None:
        if not self.reader_left:
            try:
                self._inner.flush()
            except BrokenPipeError:
                self._left()

    def _left(self) -> None:
        self.reader_left = True
        _stdout_to_devnull(self._inner)  # what is still buffered in the wrapped stream then goes nowhere

    def __getattr__(self, name: str):
        return getattr(self._inner, name)


if __name__ == "__main__":
    sys.exit(main())
