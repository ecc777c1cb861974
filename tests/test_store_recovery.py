"""Issue 26: the row store survives a torn tail and a full disk; `zoo verify --results` lists what was moved.

Before: one cut-off line (full disk, SIGKILL inside the write) made every later append and report refuse
with "incomplete last line", and a short write left half a row on disk."""

from __future__ import annotations

import errno
import os

import pytest

from zoo.cli import main as zoo_main
from zoo.errors import UserError
from zoo.results import (
    append_row,
    check_appendable,
    make_row,
    read_rows,
    recovery,
    store,
)


def eval_row(i=0):
    return make_row("eval", model="mlp", task="image-classification", dataset="digits", n=10 + i,
                    weights="random-init", settings={"i": i}, metrics={"top1": 50.0 + i})


def quarantined(p):
    return sorted(p.parent.glob(p.name + recovery.QUARANTINE + "*"))


def test_torn_tail_is_quarantined_and_appends_go_on(tmp_path, capsys):
    p = tmp_path / "eval.jsonl"
    append_row(p, eval_row(0))
    append_row(p, eval_row(1))
    whole = p.read_bytes()
    torn = store.encode_row(eval_row(2))[:57]  # what a full disk or a SIGKILL mid-write leaves
    with open(p, "ab") as f:
        f.write(torn)
    store._VERIFIED.clear()  # a new process
    append_row(p, eval_row(3))
    assert [r["n"] for r in read_rows(p)] == [10, 11, 13]  # nothing valid lost, the new row in
    assert p.read_bytes().startswith(whole)
    (q,) = quarantined(p)
    assert q.read_bytes() == torn + b"\n"  # the cut bytes are kept, beside the file
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "incomplete" in err[0] and str(q) in err[0]
    append_row(p, eval_row(4))  # and it stays fixed
    assert len(read_rows(p)) == 4 and capsys.readouterr().err == ""


def test_torn_tail_seen_by_this_process_after_its_own_check(tmp_path, capsys):
    p = tmp_path / "eval.jsonl"
    append_row(p, eval_row(0))
    with open(p, "ab") as f:
        f.write(b'{"schema": 2, "kin')
    check_appendable(p)
    assert p.read_bytes().endswith(b"\n") and len(quarantined(p)) == 1
    append_row(p, eval_row(1))
    assert [r["n"] for r in read_rows(p)] == [10, 11]


def test_a_whole_row_missing_only_its_newline_is_kept(tmp_path, capsys):
    p = tmp_path / "eval.jsonl"
    append_row(p, eval_row(0))
    with open(p, "ab") as f:
        f.write(store.encode_row(eval_row(1))[:-1])
    store._VERIFIED.clear()
    append_row(p, eval_row(2))
    assert [r["n"] for r in read_rows(p)] == [10, 11, 12]
    assert quarantined(p) == [] and "newline" in capsys.readouterr().err


def test_reading_a_torn_tail_skips_it_with_a_warning_and_changes_nothing(tmp_path, capsys):
    p = tmp_path / "eval.jsonl"
    append_row(p, eval_row(0))
    with open(p, "ab") as f:
        f.write(b'{"a": 2')
    before = p.read_bytes()
    assert [r["n"] for r in read_rows(p)] == [10]
    assert p.read_bytes() == before and quarantined(p) == []
    err = capsys.readouterr().err
    assert "eval.jsonl:2" in err and "incomplete" in err and err.count("\n") == 1


def _enospc_after(monkeypatch, n_bytes):
    """os.write that writes ``n_bytes`` of the line and then fails as a full disk does."""
    real = os.write

    def write(fd, data):
        if n_bytes:
            real(fd, bytes(data)[:n_bytes])
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(os, "write", write)


@pytest.mark.parametrize("partial", [0, 40])
def test_a_full_disk_write_is_rolled_back_and_the_next_append_works(tmp_path, monkeypatch, partial):
    p = tmp_path / "eval.jsonl"
    append_row(p, eval_row(0))
    before = p.read_bytes()
    with monkeypatch.context() as m:
        _enospc_after(m, partial)
        with pytest.raises(UserError, match="No space left") as e:
            append_row(p, eval_row(1))
    assert "\n" not in str(e.value) and "not recorded" in str(e.value)
    assert p.read_bytes() == before  # truncated back: no half row
    append_row(p, eval_row(2))
    assert [r["n"] for r in read_rows(p)] == [10, 12] and quarantined(p) == []


def test_a_short_write_is_rolled_back(tmp_path, monkeypatch):
    p = tmp_path / "eval.jsonl"
    append_row(p, eval_row(0))
    before = p.read_bytes()
    real = os.write
    monkeypatch.setattr(os, "write", lambda fd, data: real(fd, bytes(data)[:10]))
    with pytest.raises(UserError, match="short write"):
        append_row(p, eval_row(1))
    assert p.read_bytes() == before


def test_no_free_space_is_refused_before_measuring_and_before_writing(tmp_path, monkeypatch):
    p = tmp_path / "eval.jsonl"
    append_row(p, eval_row(0))
    before = p.read_bytes()
    monkeypatch.setattr(recovery, "free_bytes", lambda folder: 100)
    with pytest.raises(UserError, match="disk is full"):
        check_appendable(p)
    with pytest.raises(UserError, match="disk is full"):
        append_row(p, eval_row(1))
    assert p.read_bytes() == before


def test_verify_results_lists_quarantined_bytes(tmp_path, monkeypatch, capsys):
    raw = tmp_path / "raw"
    monkeypatch.setenv("ZOO_RESULTS_DIR", str(raw))
    p = raw / "eval.jsonl"
    append_row(p, eval_row(0))
    assert zoo_main(["verify", "--results"]) == 0
    assert "ok" in capsys.readouterr().out
    with open(p, "ab") as f:
        f.write(b'{"cut here')
    assert zoo_main(["verify", "--results"]) == 1
    assert "torn" in capsys.readouterr().out
    append_row(p, eval_row(1))
    capsys.readouterr()
    assert zoo_main(["verify", "--results"]) == 1  # quarantined bytes are listed until someone looks at them
    out = capsys.readouterr().out
    assert "quarantined" in out
    (q,) = quarantined(p)
    assert str(q) in out and str(q.stat().st_size) in out
