"""`zoo report`: deterministic regeneration, index, leaderboard join, plots, errors, CI check mode.

Synthetic rows shaped like the harnesses' rows (zoo.results.make_row) go to a tmp raw folder; the tests
regenerate results from them.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
from pathlib import Path

import pytest

from zoo.cli import main
from zoo.report import GENERATED, MANIFEST, leaderboard, report, topic_modules
from zoo.report.base import Table, provenance, sig
from zoo.report.leaderboard import entries
from zoo.report.plots import pareto_front
from zoo.report.render import to_csv, to_markdown
from zoo.results import append_row, make_row

SHA_A = "a" * 64
SHA_B = "b" * 64
GPU = {"cpu": "Test CPU", "cores": 16, "gpu": "NVIDIA H100 80GB HBM3", "mem_gib": 128.0}
CPU = {"cpu": "Test CPU", "cores": 2, "gpu": None, "mem_gib": 23.4}


def _speed(model, device, bs, items_s, p50, *, weights="random-init", dtype="fp32", backend="eager", machine=CPU,
           time="2026-11-25T10:00:00+00:00", task="image-classification", **metrics):
    """A row shaped like zoo.harness.speed.runner's: status/scenario/backend_used at top level, share_of_peak a fraction."""
    row = make_row("speed", model=model, weights=weights, dataset="example_items",
                   settings={"device": device, "batch_size": bs, "requested_batch_size": bs, "dtype": dtype,
                             "backend": backend, "channels_last": False, "threads": 2, "warmup": 5,
                             "min_duration_s": 2.0, "backend_config": {"label": f"{backend}+{dtype}"}},
                   metrics={"items_per_s": items_s, "p50_ms": p50, "p90_ms": p50 * 1.1, "p99_ms": p50 * 1.3,
                            "peak_mem_mib": 512.0, "params": 25_557_032, "flops_per_item": 8_200_000_000,
                            "achieved_tflops": 8.2e9 * items_s / 1e12, "share_of_peak": 0.25, **metrics},
                   task=task, status="ok", device=device, key=f"{model}-{device}-{bs}-{dtype}-{backend}",
                   command=f"zoo bench {model} --device {device} --batch-size {bs}",
                   scenario="SingleStream" if bs == 1 else "Offline", backend_used=f"{backend}+{dtype}", flags=[])
    row.update(machine=machine, time=time, commit="c0ffee1234567890")
    return row


def _acc(model, top1, weights, time="2026-11-25T11:00:00+00:00", task="image-classification", **metrics):
    """A row shaped like zoo eval's (image classification) or the NLP evaluator's (other tasks)."""
    if task == "image-classification":
        m = {"top1": top1, "top5": min(100.0, top1 + 10), "correct1": round(top1 * 2),
             "correct5": round(min(100.0, top1 + 10) * 2), "seconds": 4.0, "items_per_s": 50.0}
        dataset, settings, n = "imagenet_sample_dev", {"batch_size": 32, "device": "cpu", "limit": None}, 200
    else:
        m, dataset, settings = metrics, "SST-2 (sentence level, Kim 2014 split) test", {"data": "sst2", "split": "test"}
        n = 1821
    row = make_row("eval", model=model, weights=weights, dataset=dataset, metrics=m, task=task, settings=settings,
                   n=n, skipped=0)
    row.update(machine=CPU, time=time, commit="c0ffee1234567890")
    return row


def write_rows(raw: Path) -> None:
    for r in [
        _speed("resnet50", "cpu", 1, 30.0, 33.0),
        _speed("resnet50", "cpu", 8, 60.0, 130.0),
        _speed("resnet50", "cpu", 8, 62.0, 128.0, time="2026-11-25T12:00:00+00:00"),  # a later run, same key
        _speed("resnet50", "cuda", 256, 19000.0, 13.0, dtype="bf16", machine=GPU,
               output_deviation={"rel_l2": 0.0042, "top1_agreement": 0.875, "error_items": 8}),
        _speed("efficientnet_lite0", "cpu", 1, 90.0, 11.0, weights=SHA_A, latencies_ms=[10.0, 11.0, 11.5, 12.0, 20.0]),
        _speed("efficientnet_lite0", "cuda", 256, 25000.0, 10.0, weights=SHA_A, machine=GPU),
    ]:
        append_row(raw / "speed.jsonl", r)
    append_row(raw / "speed.jsonl", {**_speed("vgg16", "cpu", 1, 1.0, 1.0), "status": "error",
                                     "error": "worker process failed (exit code -9)"})
    for r in [_acc("resnet50", 80.1, SHA_B), _acc("efficientnet_lite0", 74.5, SHA_A),
              _acc("efficientnet_lite0", 70.0, "random-init", time="2026-11-25T13:00:00+00:00"),
              _acc("bilstm", None, SHA_B, task="text-classification", accuracy=0.81, f1=0.80)]:
        append_row(raw / "eval.jsonl", r)


ONLY = [leaderboard]  # most tests render the leaderboard alone; test_every_topic_module_* renders them all


@pytest.fixture
def raw(tmp_path) -> Path:
    d = tmp_path / "results" / "raw"
    write_rows(d)
    return d


def _snapshot(out: Path) -> dict[str, str]:
    return {p.relative_to(out).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(out.rglob("*")) if p.is_file() and "raw" not in p.relative_to(out).parts}


@pytest.mark.slow
def test_regeneration_is_byte_identical_and_restores_deleted(raw):
    out = raw.parent
    res = report(raw, out, modules=ONLY)
    assert "leaderboard" in res.tables
    first = _snapshot(out)
    assert {"README.md", "leaderboard.md", "leaderboard.csv", MANIFEST} <= set(first)
    assert any(p.startswith("plots/pareto_") for p in first) and "plots/latency_resnet50.png" in first

    assert all((out / rel).stat().st_mode & 0o644 == 0o644 for rel in first)  # readable by all, like any file
    again = report(raw, out, modules=ONLY)
    assert again.written == [] and _snapshot(out) == first

    (out / "leaderboard.md").unlink()
    (out / "plots" / "latency_resnet50.png").unlink()
    res = report(raw, out, modules=ONLY)
    assert sorted(res.written) == ["leaderboard.md", "plots/latency_resnet50.png"]
    assert _snapshot(out) == first

    # a second output folder from the same rows gives the same bytes (no times, paths or randomness leak in)
    other = raw.parent.parent / "elsewhere"
    report(raw, other, modules=ONLY)
    snap = _snapshot(other)
    links = ("README.md", "index.html")  # these link the raw folder by its path relative to the output folder
    assert {k: v for k, v in snap.items() if k not in links} == {k: v for k, v in first.items() if k not in links}


def test_every_generated_file_carries_the_marker(raw):
    out = raw.parent
    res = report(raw, out, modules=ONLY)
    for rel in res.generated:
        p = out / rel
        if p.suffix == ".png":
            from PIL import Image

            with Image.open(p) as im:
                assert im.format == "PNG" and im.info["Comment"] == GENERATED and im.info["Title"]
        elif p.suffix == ".csv":  # plain data (issue 14 item 8): header first, no marker; listed in the manifest
            assert not p.read_text(encoding="utf-8").startswith("#"), rel
            assert rel in (out / MANIFEST).read_text(), rel
        else:
            first = p.read_text(encoding="utf-8").splitlines()[0]
            assert GENERATED in first, rel
            start = {"": "# ", ".html": "<!DOCTYPE html><!--"}.get(p.suffix, "<!--")
            assert first.startswith(start), rel
    idx = (out / "README.md").read_text()
    for rel in res.generated:  # the index names every table and plot
        if rel.endswith((".md", ".png")) and rel != "README.md":
            assert f"]({rel})" in idx, rel


def test_corrupt_raw_file_names_the_line_and_writes_nothing(raw, capsys):
    out = raw.parent
    report(raw, out, modules=ONLY)
    before = _snapshot(out)
    with open(raw / "eval.jsonl", "a") as f:
        f.write('{"model": "x", oops}\n')
    n = (raw / "eval.jsonl").read_text().count("\n")
    assert main(["report", "--raw", str(raw), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and f"eval.jsonl:{n}" in err and "Traceback" not in err
    assert _snapshot(out) == before


def test_missing_raw_folder_is_a_user_error(tmp_path, capsys):
    assert main(["report", "--raw", str(tmp_path / "nope")]) == 2
    assert "no raw results folder" in capsys.readouterr().err


def test_foreign_files_are_never_overwritten_or_removed(raw):
    out = raw.parent
    (out / "notes.md").write_text("my notes\n")
    (out / "leaderboard.csv").write_text("hand made\n")
    with pytest.raises(Exception, match="not generated by zoo report"):
        report(raw, out, modules=ONLY)
    assert not (out / "leaderboard.md").exists()  # refused before writing anything
    (out / "leaderboard.csv").unlink()
    report(raw, out, modules=ONLY)
    assert (out / "notes.md").read_text() == "my notes\n"

    # stale generated files (listed in the manifest) are removed; foreign ones stay
    (raw / "speed.jsonl").unlink()
    res = report(raw, out, modules=ONLY)
    assert "plots/latency_resnet50.png" in res.removed and not (out / "plots" / "latency_resnet50.png").exists()
    assert (out / "notes.md").exists() and (out / "leaderboard.md").exists()


def test_check_mode_reports_differences_without_writing(raw, capsys, monkeypatch):
    import zoo.report

    monkeypatch.setattr(zoo.report, "topic_modules", lambda: ONLY)
    out = raw.parent
    assert main(["report", "--raw", str(raw), "--out", str(out), "--check"]) == 1  # nothing generated yet
    assert not (out / "leaderboard.md").exists()
    assert main(["report", "--raw", str(raw), "--out", str(out)]) == 0
    capsys.readouterr()
    assert main(["report", "--raw", str(raw), "--out", str(out), "--check"]) == 0

    md = out / "leaderboard.md"
    md.write_text(md.read_text().replace("62.00", "99.00"))
    append_row(raw / "eval.jsonl", _acc("vgg16", 71.0, SHA_B))
    capsys.readouterr()
    assert main(["report", "--raw", str(raw), "--out", str(out), "--check"]) == 1
    err = capsys.readouterr().err
    assert "leaderboard.md: differs" in err and "leaderboard.csv: differs" in err and "first difference at line" in err
    assert "99.00" in md.read_text()  # check wrote nothing


def test_leaderboard_join_ranking_and_devices(raw):
    from zoo.results import read_all

    ents, counts = entries(read_all(raw))
    assert counts == {"speed_rows": 6, "accuracy_rows": 4, "error_rows": 1}
    by = {(e["model"], e["device"].split(":")[0], e["batch_size"]): e for e in ents}
    # latest of the two bs-8 rows, counted as 2 runs
    r8 = by[("resnet50", "cpu", 8)]
    assert r8["items_per_s"] == 62.0 and r8["runs"] == 2
    # random-init speed row joined to a pretrained score: said so
    assert r8["score"] == 80.1 and r8["speed_weights"] == "random-init" and r8["score_weights"] == f"sha256 {SHA_B[:12]}… (differs)"
    # same-weights accuracy row preferred over a later row from other weights
    lite = by[("efficientnet_lite0", "cpu", 1)]
    assert lite["score"] == 74.5 and lite["score_weights"] == "same"
    # ranks restart per (device, task); a CPU row is never ranked against a GPU row
    for dev in ("cpu", "cuda"):
        group = [e for e in ents if e["device"].startswith(dev) and e["task"] == "image-classification"]
        assert sorted(e["rank"] for e in group) == list(range(1, len(group) + 1))
        assert len({e["device"] for e in group}) == 1
    cpu = sorted((e for e in ents if e["device"].startswith("cpu")), key=lambda e: e["rank"])
    assert [e["model"] for e in cpu][:1] == ["resnet50"]  # 80.1 > 74.5
    # scored but never timed: listed, not ranked
    bilstm = [e for e in ents if e["model"] == "bilstm"]
    assert bilstm and bilstm[0]["rank"] is None and bilstm[0]["score"] == 0.81 and bilstm[0]["p50"] is None


def test_leaderboard_keeps_the_latest_run_of_a_request_whatever_auto_picked(tmp_path):
    """Two `--backend auto` runs of one request (same row key) that picked different configurations: the
    rerun supersedes (both were listed: their settings differ by the pick and its setup record)."""
    from zoo.results import read_all

    raw = tmp_path / "raw"
    first = _speed("yolov5n", "cpu", 1, 40.0, 25.0, backend="auto", task="object-detection")
    rerun = _speed("yolov5n", "cpu", 1, 50.0, 20.0, backend="auto", task="object-detection",
                   time="2026-11-25T12:00:00+00:00")
    first["settings"]["backend_config"] = {"label": "compile+bf16"}
    rerun["settings"]["backend_config"] = {"label": "openvino+int8"}
    for r in (first, rerun):
        append_row(raw / "speed.jsonl", r)
    (e,) = entries(read_all(raw))[0]
    assert e["items_per_s"] == 50.0 and e["runs"] == 2


def test_leaderboard_table_shows_device_and_dashes(raw):
    out = raw.parent
    report(raw, out, modules=ONLY)
    text = (out / "leaderboard.csv").read_text()
    body = [r for r in csv.reader(io.StringIO(text)) if r and not r[0].startswith("#")]
    header, rows = body[0], body[1:]
    assert header[:4] == ["device", "task", "rank", "model"]
    assert all(r[0] for r in rows)  # every ranked row names its device
    gpu = [r for r in rows if r[0].startswith("cuda: NVIDIA H100")]
    assert {r[3] for r in gpu} == {"resnet50", "efficientnet_lite0"}
    bilstm = next(r for r in rows if r[3] == "bilstm")
    assert bilstm[header.index("items/s")] == "" and bilstm[header.index("score")] == "0.81"
    md = (out / "leaderboard.md").read_text()
    assert "— (not timed)" in md and "| —" in md
    assert "machines:" in md and "2026-11-25 to 2026-11-25" in md and "random-init" in md


def test_plots_have_labelled_axes_units_and_device(raw):
    import matplotlib.figure

    from zoo.report.leaderboard import plots
    from zoo.results import read_all

    made = []
    real_save = matplotlib.figure.Figure.savefig

    def spy(fig, *a, **k):
        made.append([(ax.get_xlabel(), ax.get_ylabel(), ax.get_title()) for ax in fig.axes])
        return real_save(fig, *a, **k)

    matplotlib.figure.Figure.savefig = spy
    try:
        paths = plots(read_all(raw), raw.parent / "p")
    finally:
        matplotlib.figure.Figure.savefig = real_save
    names = sorted(p.name for p in paths)
    # like with like: the CPU chart compares both models at bs1 eager fp32; on the GPU they were timed in different
    # settings (bf16 vs fp32), so there is no chart to draw there
    assert [n for n in names if n.startswith("pareto_")] == [
        "pareto_image-classification_imagenet_sample_dev_cpu-test-cpu-2c-isa-unknown.png"]
    assert "latency_efficientnet_lite0.png" in names
    for axes in made:
        for x, y, title in axes:
            assert x and y and title
    pareto = [a[0] for a in made if "throughput" in a[0][0]]
    assert pareto and all("items/s" in x and ("cpu:" in t or "cuda:" in t) and "every model in bs1 eager fp32" in t
                          for x, _, t in pareto)
    latency = [a for a in made if "latency" in a[0][0]]
    assert all("ms" in x and t.startswith(("cpu:", "cuda:")) for a in latency for x, _, t in a)
    from PIL import Image

    for p in paths:
        with Image.open(p) as im:
            assert im.format == "PNG" and im.size[0] > 300


def test_render_formats_and_escapes():
    t = Table(slug="demo", title="Demo", columns=["name", "value", "n"],
              rows=[["a|b", 1.23456, 3], ["c", None, None]], notes=["from test"], references=["[1] a paper"],
              digits=3)
    md = to_markdown(t)
    assert md.startswith(f"<!-- {GENERATED} -->\n# Demo\n") and md.endswith("\n") and "\r" not in md
    assert "a\\|b" in md and "1.235" in md and "—" in md and "- from test" in md and "- [1] a paper" in md
    c = to_csv(t)
    assert c.startswith("name,value,n\n") and "#" not in c and "from test" not in c  # plain; notes: the markdown
    assert "c,," in c and '"a|b",1.235,3' in c.replace("a|b,", '"a|b",')
    with pytest.raises(ValueError, match="slug"):
        to_markdown(Table(slug="Bad Slug", title="x", columns=[], rows=[]))
    with pytest.raises(ValueError, match="cells"):
        to_markdown(Table(slug="x", title="x", columns=["a"], rows=[[1, 2]]))


def test_provenance_is_order_independent_and_says_weights():
    rows = [_acc("m", 70.0, SHA_A, time="2026-11-20T00:00:00+00:00"), _acc("m", 71.0, "random-init")]
    p = provenance(rows)
    assert p == provenance(rows[::-1])
    text = "\n".join(p)
    assert "2026-11-20 to 2026-11-25" in text and "random-init" in text and SHA_A[:12] in text


def test_pareto_front():
    pts = [(10.0, 70.0), (20.0, 60.0), (5.0, 80.0), (8.0, 65.0), (20.0, 50.0)]
    assert pareto_front(pts) == [2, 0, 1]


def test_empty_raw_folder_gives_an_index_and_empty_leaderboard(tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    res = report(raw, tmp_path, modules=ONLY)
    assert "README.md" in res.generated and (tmp_path / "leaderboard.md").exists()
    assert "_No rows yet._" in (tmp_path / "leaderboard.md").read_text()
    assert json.loads(json.dumps(res.generated))  # plain strings


@pytest.mark.parametrize("with_rows", [False, True], ids=["empty", "foreign-rows"])
def test_every_topic_module_is_deterministic_and_marks_its_files(tmp_path, with_rows):
    """Contract for every zoo/report/<topic>.py: any rows (none, or rows of other topics' shapes) render
    without error, twice to the same bytes, every file carrying the generated marker."""
    raw = tmp_path / "raw"
    raw.mkdir()
    if with_rows:
        write_rows(raw)
    mods = topic_modules()
    assert mods[0] is leaderboard
    a, b = report(raw, tmp_path / "a"), report(raw, tmp_path / "b")
    assert a.generated == b.generated
    assert _snapshot(tmp_path / "a") == _snapshot(tmp_path / "b")
    for rel in a.generated:
        p = tmp_path / "a" / rel
        if p.suffix == ".png":
            from PIL import Image

            with Image.open(p) as im:
                assert im.info.get("Comment") == GENERATED, rel
        elif p.suffix == ".md":
            text = p.read_text(encoding="utf-8")
            assert GENERATED in text.splitlines()[0], rel
            if p.suffix == ".md" and rel != "README.md":  # every table says where its numbers come from
                assert "\nNotes:\n" in text, f"{rel} has no notes (provenance: machine, dates, commit, weights)"


def test_accuracy_row_choice_prefers_full_test_evaluations(tmp_path):
    from zoo.results import read_all

    raw = tmp_path / "raw"
    append_row(raw / "speed.jsonl", _speed("bilstm", "cpu", 1, 100.0, 10.0, weights=SHA_A,
                                                    task="text-classification"))
    full = _acc("bilstm", None, SHA_A, task="text-classification", accuracy=80.0)
    full["settings"] = {"data": "sst2", "split": "test", "limit": None}
    limited = _acc("bilstm", None, SHA_A, time="2026-11-25T12:30:00+00:00", task="text-classification", accuracy=95.0)
    limited["settings"] = {"data": "sst2", "split": "test", "limit": 20}
    dev = _acc("bilstm", None, SHA_A, time="2026-11-25T12:40:00+00:00", task="text-classification", accuracy=85.0)
    dev["settings"] = {"data": "sst2", "split": "dev", "limit": None}
    other = _acc("bilstm", None, SHA_B, time="2026-11-25T12:50:00+00:00", task="text-classification", accuracy=99.0)
    for r in (full, limited, dev, other):
        append_row(raw / "eval.jsonl", r)
    (e,), _ = entries(read_all(raw))
    assert e["score"] == 80.0 and e["score_weights"] == "same" and e["task"] == "text-classification"

    # a random-init speed row is joined to the trained score (and says so), not to a random model's score
    append_row(raw / "speed.jsonl", _speed("vgg16", "cpu", 1, 5.0, 200.0))
    append_row(raw / "eval.jsonl", _acc("vgg16", 0.1, "random-init", time="2026-11-25T13:00:00+00:00"))
    append_row(raw / "eval.jsonl", _acc("vgg16", 71.6, SHA_B))
    vgg = next(e for e in entries(read_all(raw))[0] if e["model"] == "vgg16")
    assert vgg["score"] == 71.6 and vgg["speed_weights"] == "random-init" and "(differs)" in vgg["score_weights"]


def test_sig_and_numeric_string_alignment():
    assert [sig(x) for x in (0.00401886, 0.011011, 364.98, 19000.4, 0, None)] == [
        "0.00402", "0.0110", "365", "19000", "0", None]
    md = to_markdown(Table(slug="s", title="s", columns=["x"], rows=[[sig(0.5)], [sig(123.4)], [None]]))
    assert "| ----: |" in md and "| 0.500 |" in md and "|   123 |" in md


@pytest.mark.slow
def test_regeneration_is_identical_across_processes_and_hash_seeds(raw, tmp_path):
    """Set/dict iteration order depends on PYTHONHASHSEED: two fresh processes must still agree byte for byte."""
    import os
    import subprocess
    import sys

    code = "import sys; from zoo.report import report; report(sys.argv[1], sys.argv[2])"
    procs = [subprocess.Popen([sys.executable, "-c", code, str(raw), str(tmp_path / f"out{seed}")],
                              env={**os.environ, "PYTHONHASHSEED": seed}) for seed in ("1", "2")]  # side by side
    assert [p.wait(timeout=600) for p in procs] == [0, 0]
    assert _snapshot(tmp_path / "out1") == _snapshot(tmp_path / "out2")


@pytest.mark.slow
def test_readme_leaderboard_excerpt_is_generated_and_checked(raw, tmp_path):
    from zoo.report.readme_excerpt import END, START

    out = raw.parent
    readme = tmp_path / "README.md"
    readme.write_text(f"# project\n\ntour:\n\n{START}\nstale numbers typed by hand\n{END}\n\nmore prose\n")
    plain = tmp_path / "PLAIN.md"
    plain.write_text("no markers here\n")
    check = report(raw, out, check=True, readme=readme)
    assert any("leaderboard excerpt differs" in p for p in check.problems)
    assert "stale numbers" in readme.read_text()  # check mode writes nothing
    report(raw, out, readme=readme)
    text = readme.read_text()
    assert "stale numbers" not in text and text.startswith("# project\n") and text.endswith(f"{END}\n\nmore prose\n")
    board = next(t for t in leaderboard.tables(_rows(raw)))
    scored = [r for r in board.rows if isinstance(r[board.columns.index("rank")], int)]
    assert scored and all(f"| {r[board.columns.index('model')]} |" in text for r in scored
                          if r[board.columns.index("rank")] <= 2)
    assert not report(raw, out, check=True, readme=readme).problems  # now equal to the rows
    report(raw, out, readme=plain)
    assert plain.read_text() == "no markers here\n"


def _rows(raw: Path) -> dict:
    from zoo.results import read_all

    return read_all(raw)


def _all_files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def _changed_rows(raw: Path) -> None:
    """Rows that change the leaderboard table, CSV, index and plots at once."""
    append_row(raw / "speed.jsonl", _speed("vgg16", "cpu", 1, 5.0, 200.0, time="2026-11-26T10:00:00+00:00"))
    append_row(raw / "eval.jsonl", _acc("vgg16", 71.6, SHA_B, time="2026-11-26T11:00:00+00:00"))


def test_report_is_all_or_nothing_when_a_target_cannot_be_written(raw, capsys):
    """Issue 13 (3): one target that cannot be written -> results/ (README included) byte-identical."""
    out = raw.parent
    readme = out.parent / "README.md"
    from zoo.report.readme_excerpt import END, START

    readme.write_text(f"# p\n\n{START}\nold\n{END}\n")
    report(raw, out, modules=ONLY, readme=readme)
    _changed_rows(raw)
    (out / "leaderboard.csv").unlink()  # a folder where a generated file (listed in .generated) must go:
    (out / "leaderboard.csv").mkdir()  # it cannot be replaced, even by root; files before it in order can
    before, readme_before = _all_files(out), readme.read_bytes()
    before_dirs = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_dir())
    assert main(["report", "--raw", str(raw), "--out", str(out)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "nothing was written" in err
    assert _all_files(out) == before and readme.read_bytes() == readme_before
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_dir()) == before_dirs


def test_report_rolls_back_when_a_replace_fails_half_way(raw, monkeypatch):
    """A failure after some files were already swapped in puts every one of them back."""
    import os as os_module

    import zoo.report.commit as commit

    out = raw.parent
    report(raw, out, modules=ONLY)
    (out / "leaderboard.md").write_text((out / "leaderboard.md").read_text() + "stale\n")  # one more to restore
    _changed_rows(raw)
    before = _all_files(out)
    calls = {"n": 0}
    real_replace = os_module.replace

    def flaky_replace(src, dst):
        calls["n"] += 1
        if calls["n"] == 4:
            raise PermissionError(13, "Permission denied", str(dst))
        return real_replace(src, dst)

    monkeypatch.setattr(commit.os, "replace", flaky_replace)
    from zoo.errors import UserError

    with pytest.raises(UserError, match="nothing was changed"):
        report(raw, out, modules=ONLY)
    assert calls["n"] > 4  # the rollback ran (it uses os.replace too)
    monkeypatch.undo()
    assert _all_files(out) == before
    assert not [p for p in out.rglob(".*") if p.suffix in (".tmp", ".bak")]


@pytest.mark.skipif(__import__("os").geteuid() == 0, reason="root writes into read-only folders")
def test_report_with_a_read_only_folder_changes_nothing(raw):
    out = raw.parent
    report(raw, out, modules=ONLY)
    _changed_rows(raw)
    before = _all_files(out)
    (out / "plots").chmod(0o555)
    try:
        with pytest.raises(Exception, match="nothing was changed"):
            report(raw, out, modules=ONLY)
    finally:
        (out / "plots").chmod(0o755)
    assert _all_files(out) == before


def test_peak_share_table_names_the_precision_and_the_fastest_third():
    from zoo.harness.speed.runner import fastest_round_ms
    from zoo.report.speed import tables

    assert fastest_round_ms([10.0, 12, 11, 20, 22, 21, 15, 14, 16]) == 11  # the medians of 3 slices: 11, 21, 15
    assert fastest_round_ms([1.0, 2]) is None
    int8 = _speed("resnet50", "cpu", 1, 80.0, 12.5, dtype="int8", backend="auto", peak_dtype="int8",
                  peak_tflops=0.83, share_of_peak=0.78, share_of_peak_fastest_round=0.86)
    int8["backend_used"] = "openvino+int8"  # what auto picked
    int8["machine"] = {**CPU, "isa": ["avx2", "avx512f", "avx512_vnni"]}
    (table,) = [t for t in tables({"speed": [int8, _speed("resnet50", "cuda", 1, 900.0, 1.1, backend="auto"),
                                             _speed("resnet50", "cpu", 1, 20.0, 50.0)]})
                if t.slug == "speed_peak_share"]
    (row,) = table.rows  # CPU rows of --backend auto only
    assert row[2:7] == ["openvino+int8", 78.0, 86.0, None, "int8"] and row[8] == 0.83
    int8["metrics"]["share_of_peak_paired"] = 0.742  # zoo bench --paired-peak
    (table,) = [t for t in tables({"speed": [int8]}) if t.slug == "speed_peak_share"]
    assert table.rows[0][5] == pytest.approx(74.2) and table.columns[5] == "beside the probe"
