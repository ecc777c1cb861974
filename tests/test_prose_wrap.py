"""Prose (messages, errors) wraps at the terminal's width on a terminal and stays one line in a pipe or file."""

from __future__ import annotations

import io

from zoo.console import say, wrapped

LONG = ("zoo: error: resnet50 has no trained weights here: train it, give --checkpoint FILE, or pass --random-init "
        "to score random weights on purpose; see /a/very/long/path/that/must/stay/whole/for/copying.jsonl")


class Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_wraps_on_a_terminal_only(monkeypatch):
    monkeypatch.setenv("COLUMNS", "50")
    lines = wrapped(LONG, Tty()).splitlines()
    assert len(lines) > 2 and lines[0].startswith("zoo: error:")
    assert all(len(line) <= 50 for line in lines if "/a/very/long" not in line)
    assert any(line.strip() == "/a/very/long/path/that/must/stay/whole/for/copying.jsonl" for line in lines)
    assert all(line.startswith("  ") for line in lines[1:])
    assert " ".join(line.strip() for line in lines) == LONG  # nothing lost
    assert wrapped(LONG, io.StringIO()) == LONG  # a pipe or a file: one line


def test_cli_errors_wrap_on_a_terminal(monkeypatch):
    from zoo.cli import main

    monkeypatch.setenv("COLUMNS", "60")
    err = Tty()
    monkeypatch.setattr("sys.stderr", err)
    assert main(["bench", "resnet50", "--backend", "onnxrutime"]) == 2
    lines = err.getvalue().splitlines()
    assert len(lines) > 1 and all(len(line) <= 60 for line in lines), lines
    out = Tty()
    say("short", out)
    assert out.getvalue() == "short\n"
