import json
import os
import signal
import subprocess
import sys

import pytest

from zoo.results import CorruptResultsError, append_row, iter_rows, make_row, read_all, read_rows, sha256_tree


def test_append_and_read_round_trip(tmp_path):
    p = tmp_path / "raw" / "speed.jsonl"
    append_row(p, {"a": 1, "x": float("nan")})
    append_row(p, {"a": 2})
    rows = read_rows(p)
    assert [r["a"] for r in rows] == [1, 2]
    assert rows[0]["x"] is None  # NaN is not JSON; stored as null
    assert read_all(tmp_path / "raw") == {"speed": rows}


def test_make_row_carries_provenance():
    row = make_row("speed", model="resnet50", weights="random-init", settings={"batch_size": 1}, metrics={"ips": 3.0})
    for key in ("machine", "versions", "commit", "time", "spec_hash", "dataset_sha256"):
        assert key in row
    assert row["machine"]["cores"] == os.cpu_count()
    assert row["versions"]["torch"]
    json.dumps(row)


def test_corrupt_line_is_named_and_file_untouched(tmp_path):
    p = tmp_path / "eval.jsonl"
    p.write_text('{"a": 1}\n{"a": 2, oops}\n')
    before = p.read_bytes()
    with pytest.raises(CorruptResultsError, match=r"eval.jsonl:2"):
        read_rows(p)
    assert p.read_bytes() == before


def test_refuses_to_append_after_partial_line(tmp_path):
    p = tmp_path / "eval.jsonl"
    p.write_text('{"a": 1}\n{"a": 2')
    before = p.read_bytes()
    with pytest.raises(CorruptResultsError, match="incomplete"):
        append_row(p, {"a": 3})
    assert p.read_bytes() == before
    with pytest.raises(CorruptResultsError, match=r"eval.jsonl:2"):
        list(iter_rows(p))


def test_killed_writer_leaves_only_whole_lines(tmp_path):
    """SIGKILL a process appending rows in a loop: every line on disk is a complete JSON row."""
    p = tmp_path / "kill.jsonl"
    code = (
        "from zoo.results import append_row\n"
        f"p = {str(p)!r}\n"
        "i = 0\n"
        "while True:\n"
        "    append_row(p, {'i': i, 'pad': 'x' * 5000}); i += 1\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code])
    try:
        import time

        deadline = time.time() + 30
        while (not p.exists() or p.stat().st_size < 50_000) and time.time() < deadline:
            time.sleep(0.05)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    rows = read_rows(p)
    assert len(rows) >= 5
    assert [r["i"] for r in rows] == list(range(len(rows)))


def test_sha256_tree_changes_with_content(tmp_path):
    (tmp_path / "a.txt").write_text("x")
    h1 = sha256_tree(tmp_path)
    (tmp_path / "a.txt").write_text("y")
    assert sha256_tree(tmp_path) != h1


def test_a_corrupt_raw_file_stops_a_harness_before_it_measures(tmp_path, monkeypatch, capsys):
    """The eval harness checks its raw file first: a cut-off last line is one clear line (exit 2), before
    any model is built, and the file is left exactly as it was."""
    from zoo.cli import main
    from zoo.errors import UserError

    assert issubclass(CorruptResultsError, UserError)
    raw = tmp_path / "raw"
    raw.mkdir()
    bad = raw / "eval.jsonl"
    bad.write_bytes(b'{"kind": "eval"}\n{"kind": "ev')
    monkeypatch.setenv("ZOO_RESULTS_DIR", str(raw))
    import zoo.registry

    def no_build(*a, **k):
        raise AssertionError("a model was built before the raw file was checked")

    monkeypatch.setattr(zoo.registry, "create_model", no_build)
    data = tmp_path / "imgs"
    (data / "0").mkdir(parents=True)
    assert main(["eval", "efficientnet_lite0", "--data", str(data)]) == 2
    err = capsys.readouterr().err
    assert "eval.jsonl" in err and "incomplete" in err and "Traceback" not in err
    assert bad.read_bytes() == b'{"kind": "eval"}\n{"kind": "ev'
