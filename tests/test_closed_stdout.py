"""Issue 26: a closed stdout never discards a row, and the exit status says what happened.

Before: `zoo eval … | head -n1` exited 0 and threw the measured row away: the summary was printed before
the row was appended, and the BrokenPipeError from that print unwound the command into "success"."""

from __future__ import annotations

import io
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.cli import main as zoo_main
from zoo.results import raw_path, read_rows

REPO = Path(__file__).resolve().parents[1]


class HeadN1(io.StringIO):
    """A pipe whose reader (`head -n1`) leaves after the first line."""

    def write(self, s: str) -> int:
        if "\n" in self.getvalue():
            raise BrokenPipeError(32, "Broken pipe")
        return super().write(s)

    def flush(self) -> None:
        if self.getvalue().count("\n") > 1:
            raise BrokenPipeError(32, "Broken pipe")


def test_eval_into_a_closed_pipe_still_records_its_row(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_RESULTS_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "stdout", HeadN1())
    rc = zoo_main(["eval", "mlp", "--data", "digits", "--limit", "20", "--random-init"])
    assert rc == 0
    (row,) = read_rows(raw_path("eval"))
    assert row["model"] == "mlp" and row["n"] == 20


def test_a_failure_after_the_reader_left_is_not_success(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("ZOO_RESULTS_DIR", str(tmp_path))
    monkeypatch.setattr(sys, "stdout", HeadN1())
    rc = zoo_main(["eval", "mlp", "--data", str(tmp_path / "missing.csv"), "--random-init"])
    assert rc == 2 and read_rows(raw_path("eval")) == []


@pytest.mark.slow
def test_real_pipe_closed_after_one_line(tmp_path):
    env = {**os.environ, "ZOO_RESULTS_DIR": str(tmp_path), "PYTHONPATH": str(REPO)}
    p = subprocess.Popen([sys.executable, "-m", "zoo", "eval", "mlp", "--data", "digits", "--limit", "20",
                          "--random-init"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=tmp_path)
    first = p.stdout.readline()
    p.stdout.close()  # what `head -n1` does
    err = p.stderr.read().decode()
    assert p.wait(timeout=120) == 0, err
    assert first and "Traceback" not in err
    assert len(read_rows(tmp_path / "eval.jsonl")) == 1
