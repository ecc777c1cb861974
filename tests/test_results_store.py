"""zoo.results store: whole rows only, checked files, checksums, validation on write and read."""

import json
import os
import signal
import subprocess
import sys
import time

import helpers
import pytest

from zoo.errors import UserError
from zoo.results import (
    CorruptResultsError,
    RowSchemaError,
    append_row,
    check_appendable,
    iter_rows,
    make_row,
    read_all,
    read_rows,
    sha256_tree,
    store,
)


def eval_row(i=0, **extra):
    return helpers.eval_row("mlp", {"top1": 50.0 + i}, dataset="digits", n=10 + i, weights="random-init",
                            settings={"batch_size": 4, "i": i}, **extra)


def test_append_and_read_round_trip(tmp_path):
    p = tmp_path / "raw" / "eval.jsonl"
    append_row(p, eval_row(0, note=None))
    append_row(p, make_row("eval", model="mlp", task="image-classification", dataset="d", n=1,
                           metrics={"top1": 1.0, "top5": float("nan")}))
    rows = read_rows(p)
    assert [r["n"] for r in rows] == [10, 1]
    assert rows[1]["metrics"]["top5"] is None  # NaN is not JSON; stored as null
    assert "checksum" not in rows[0]  # a storage detail: checked and removed on read
    assert read_all(tmp_path / "raw") == {"eval": rows}


def test_make_row_carries_provenance_and_is_validated():
    row = make_row("speed", model="resnet50", weights="random-init", settings={"batch_size": 1},
                   metrics={"items_per_s": 3.0}, status="ok", key="k", command="zoo bench resnet50", device="cpu")
    for key in ("machine", "versions", "commit", "time", "spec_hash", "dataset_sha256"):
        assert key in row
    assert row["machine"]["cores"] == os.cpu_count()
    assert row["versions"]["torch"]
    json.dumps(row)
    with pytest.raises(RowSchemaError, match="field 'n'"):
        make_row("eval", model="m", task="image-classification", dataset="d", metrics={"top1": 1.0})
    with pytest.raises(RowSchemaError, match="field 'task'"):
        make_row("eval", model="m", task="sst-5", dataset="d", n=1, metrics={"top1": 1.0})
    with pytest.raises(RowSchemaError, match="field 'typo_field'"):
        eval_row(typo_field=1)


def test_make_row_upgrades_schema_1_field_names():
    """Callers not yet moved to the schema-2 names keep working: their rows are upgraded, not refused."""
    speed = make_row("speed", model="m", status="ok", key="k", command="c", device="cpu",
                     metrics={"p50_ms": 1.0, "error": {"rel_l2": 1e-3}, "candidates": [{"config": "x", "error": {"rel_l2": 0.1}}]})
    assert speed["metrics"]["output_deviation"] == {"rel_l2": 1e-3} and "error" not in speed["metrics"]
    assert speed["metrics"]["candidates"][0]["output_deviation"] == {"rel_l2": 0.1}
    text = make_row("eval", model="bilstm", task="sst2", dataset="SST-2 test", settings={"task": "sst2"},
                    metrics={"accuracy": 80.0, "eval_time_s": 2.0}, n=5)
    assert text["task"] == "text-classification" and text["settings"] == {"data": "sst2"}
    assert text["metrics"] == {"accuracy": 80.0, "seconds": 2.0}


def test_append_validates_the_row(tmp_path):
    p = tmp_path / "eval.jsonl"
    row = eval_row()
    row["metrics"] = "90"
    with pytest.raises(RowSchemaError, match="field 'metrics'"):
        append_row(p, row)
    assert not p.exists()


def test_corrupt_line_is_named_and_file_untouched(tmp_path):
    p = tmp_path / "eval.jsonl"
    append_row(p, eval_row())
    with open(p, "ab") as f:
        f.write(b'{"a": 2, oops}\n')
    before = p.read_bytes()
    with pytest.raises(CorruptResultsError, match=r"eval.jsonl:2"):
        read_rows(p)
    assert p.read_bytes() == before


def test_garbage_in_the_middle_is_found_before_appending(tmp_path):
    """Issue 13 (8): a bad line that is not the last one is refused with its line number, nothing appended."""
    p = tmp_path / "eval.jsonl"
    for i in range(3):
        append_row(p, eval_row(i))
    lines = p.read_bytes().split(b"\n")
    lines[1] = lines[1].replace(b'"top1": 51.0', b'"top1": 57.0')  # same length, same size: a changed value
    p.write_bytes(b"\n".join(lines))
    before = p.read_bytes()
    with pytest.raises(CorruptResultsError, match=r"eval.jsonl:2: checksum mismatch"):
        append_row(p, eval_row(9))
    with pytest.raises(CorruptResultsError, match=r"eval.jsonl:2"):
        check_appendable(p)
    assert p.read_bytes() == before


def test_lines_added_by_another_writer_are_checked_too(tmp_path):
    """The per-process check is incremental: what someone else appended since is still checked."""
    p = tmp_path / "eval.jsonl"
    append_row(p, eval_row(0))
    append_row(p, eval_row(1))
    with open(p, "ab") as f:
        f.write(b"[1, 2]\n")
    with pytest.raises(CorruptResultsError, match=r"eval.jsonl:3: a row must be a JSON object"):
        append_row(p, eval_row(2))


def test_the_whole_file_is_checked_once_then_only_what_was_added(tmp_path, monkeypatch):
    p = tmp_path / "eval.jsonl"
    p.write_bytes(b"".join(store.encode_row(eval_row(i)) for i in range(5)))  # written by "another process"
    seen = []
    real = store._check_line
    monkeypatch.setattr(store, "_check_line", lambda raw: (seen.append(raw), real(raw)))
    check_appendable(p)
    assert len(seen) == 5  # first time in this process: every line
    append_row(p, eval_row(5))
    check_appendable(p)
    assert len(seen) == 5  # our own append is known good; unchanged (size, mtime): nothing re-read
    with open(p, "ab") as f:
        f.write(store.encode_row(eval_row(6)))
    append_row(p, eval_row(7))
    assert len(seen) == 6  # only the line someone else added
    assert [r["n"] for r in read_rows(p)] == [10, 11, 12, 13, 14, 15, 16, 17]


def test_a_rewritten_file_is_checked_again_from_the_start(tmp_path):
    p = tmp_path / "eval.jsonl"
    append_row(p, eval_row(0))
    append_row(p, eval_row(1))
    good = p.read_bytes()
    p.write_bytes(b"not json\n" + good)  # grew, but the bytes before the verified end changed
    with pytest.raises(CorruptResultsError, match=r"eval.jsonl:1"):
        append_row(p, eval_row(2))


def test_a_partial_line_is_moved_aside_not_appended_after(tmp_path):
    """Issue 26 changed this from a refusal: the cut line goes to a quarantine file (tests/test_store_recovery.py)."""
    p = tmp_path / "eval.jsonl"
    append_row(p, eval_row())
    with open(p, "ab") as f:
        f.write(b'{"a": 2')
    append_row(p, eval_row(1))
    assert [r["n"] for r in iter_rows(p)] == [10, 11]
    assert b'{"a": 2' not in p.read_bytes()


def test_schema_1_rows_are_read_through_the_upgrade(tmp_path):
    p = tmp_path / "eval.jsonl"
    row = {k: v for k, v in eval_row().items()}
    row.update(schema=1, metrics={"top1": 90.0, "n": 200, "skipped": 1, "images_per_s": 3.0})
    del row["n"]
    p.write_text(json.dumps(row) + "\n")
    (r,) = read_rows(p)
    assert (r["schema"], r["n"], r["skipped"], r["metrics"]) == (2, 200, 1, {"top1": 90.0, "items_per_s": 3.0})


def test_a_row_failing_the_schema_on_read_names_file_line_and_field(tmp_path):
    p = tmp_path / "speed.jsonl"
    row = store.to_plain(make_row("speed", model="m", status="ok", key="k", command="c", device="cpu"))
    del row["key"]
    body = store._canonical(row).encode()  # a checksum that matches: only the schema is wrong
    p.write_bytes(body[:-1] + store._MARK + store._checksum(body).encode() + b'"}\n')
    with pytest.raises(CorruptResultsError, match=r"speed.jsonl:1: field 'key': missing"):
        read_rows(p)


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes read-only files")
def test_read_only_raw_file_is_refused_before_work(tmp_path):
    p = tmp_path / "eval.jsonl"
    append_row(p, eval_row())
    p.chmod(0o444)
    with pytest.raises(UserError, match="not writable"):
        check_appendable(p)


def test_killed_writer_leaves_only_whole_lines(tmp_path):
    """SIGKILL a process appending rows in a loop: every line on disk is a complete, valid row."""
    p = tmp_path / "kill.jsonl"
    code = (
        "from zoo.results import append_row, make_row\n"
        f"p = {str(p)!r}\n"
        "i = 0\n"
        "while True:\n"
        "    append_row(p, make_row('eval', model='m', task='image-classification', dataset='d', n=i,\n"
        "                           metrics={'top1': 1.0}, note='x' * 5000)); i += 1\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.time() + 60
        while (not p.exists() or p.stat().st_size < 50_000) and time.time() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    rows = read_rows(p)
    assert len(rows) >= 5
    assert [r["n"] for r in rows] == list(range(len(rows)))


def test_sha256_tree_changes_with_content(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    h1 = sha256_tree(tmp_path)
    (tmp_path / "a.txt").write_text("y")
    assert sha256_tree(tmp_path) != h1


def test_rows_written_earlier_do_not_make_the_checkout_dirty(tmp_path):
    """A second measurement in one checkout must not be labelled -dirty because the first appended a row:
    only code (tracked files outside results/) makes a checkout dirty."""
    import subprocess

    from zoo.results.provenance import checkout_commit

    def git(*args):
        subprocess.run(["git", *args], cwd=tmp_path, check=True, capture_output=True)

    git("init", "-q")
    (tmp_path / "results" / "raw").mkdir(parents=True)
    (tmp_path / "results" / "raw" / "eval.jsonl").write_text("")
    (tmp_path / "code.py").write_text("x = 1\n")
    git("add", ".")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "c")
    head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=tmp_path, capture_output=True, text=True).stdout.strip()
    (tmp_path / "results" / "raw" / "eval.jsonl").write_text('{"row": 1}\n')
    assert checkout_commit(tmp_path / "results") == head
    (tmp_path / "code.py").write_text("x = 2\n")
    assert checkout_commit(tmp_path / "results") == head + "-dirty"
