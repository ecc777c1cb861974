"""What the CLI prints: help with defaults, a closed stdout, plain CSVs, third-party banners silenced, progress
bars and --quiet, bench skips that say so, and a bench table a person can read."""

from __future__ import annotations

import argparse
import csv
import importlib.util
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from zoo import console
from zoo.cli import build_parser, main
from zoo.commands import bench as bench_cmd
from zoo.commands.demo import speed_lines
from zoo.console import fit_widths, print_table
from zoo.results import read_rows

REPO = Path(__file__).resolve().parents[1]
ZOO = [sys.executable, "-m", "zoo"]
QUICK = ["--warmup", "1", "--min-iters", "2", "--min-duration", "0.01"]


class _Tty(io.StringIO):
    def isatty(self) -> bool:
        return True


def _unset(monkeypatch, *names: str) -> None:
    """Remove environment variables so that monkeypatch also removes them again if the test sets them."""
    for name in names:
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)


def tty_stderr(monkeypatch) -> _Tty:
    """stderr is a terminal and nobody asked for quiet (conftest sets TQDM_DISABLE for the suite). Called in
    the test body: pytest's capture puts its own sys.stderr back between a fixture's setup and the test."""
    _unset(monkeypatch, "TQDM_DISABLE", console.QUIET_ENV)
    err = _Tty()
    monkeypatch.setattr(sys, "stderr", err)
    return err


# --- item 12: every option has a help line that gives its default ------------------------------------------

def _subparsers(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    (sub,) = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
    return dict(sub.choices)


def test_every_option_of_every_command_has_help_with_its_default():
    commands = _subparsers(build_parser(None))
    assert {"bench", "eval", "fetch", "info", "list", "report", "study", "train", "verify", "demo"} <= set(commands)
    missing = []
    for name, parser in commands.items():
        for action in parser._actions:
            if isinstance(action, argparse._HelpAction):
                continue
            text = (action.help or "") % {**vars(action), "prog": parser.prog}
            label = f"zoo {name} {'/'.join(action.option_strings) or action.dest}"
            if not text.strip():
                missing.append(f"{label}: no help")
            elif action.default not in (None, False, argparse.SUPPRESS) and "default" not in text:
                missing.append(f"{label}: default {action.default!r} not in its help {text!r}")
    assert not missing, "\n".join(missing)


def test_help_text_shows_defaults(capsys):
    with pytest.raises(SystemExit):
        main(["study", "--help"])
    out = " ".join(capsys.readouterr().out.split())
    assert "(default: full)" in out and "--quiet" in out and "--verbose" in out


# --- item 9: a reader that leaves early ----------------------------------------------------------------

@pytest.mark.parametrize("args", [["list", "--json"], ["list"], ["info", "resnet50"], ["info", "resnet50", "--json"],
                                  ["--help"], ["report", "--raw", "{raw}", "--out", "{out}"]])
def test_a_closed_stdout_ends_quietly(args, tmp_path):
    raw = tmp_path / "raw"
    raw.mkdir()
    args = [a.format(raw=raw, out=tmp_path / "out") for a in args]
    p = subprocess.Popen(ZOO + args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=REPO)
    p.stdout.close()  # like `| head -c 0`: the reader is gone before zoo writes
    err = p.stderr.read().decode()
    assert p.wait() == 0 and err == "", err


def test_head_of_a_long_listing():
    out = subprocess.run(f"{sys.executable} -m zoo list --json | head -c 600", shell=True, cwd=REPO,
                         capture_output=True, text=True)
    assert len(out.stdout) == 600 and out.stderr == "", out.stderr


# --- item 8: CSVs that pandas and the csv module read as they are -----------------------------------------

COMMITTED_CSVS = sorted((REPO / "results").glob("*.csv"))


@pytest.mark.parametrize("path", COMMITTED_CSVS, ids=[p.name for p in COMMITTED_CSVS])
def test_committed_csv_is_plain(path):
    import pandas as pd  # a dependency of datasets (so of zoo): never skipped
    text = path.read_text(encoding="utf-8")
    assert not any(line.startswith("#") for line in text.splitlines()), f"{path.name}: comment line"
    rows = list(csv.reader(io.StringIO(text)))
    header, body = rows[0], rows[1:]
    assert header and all(len(r) == len(header) for r in body), path.name
    frame = pd.read_csv(path, keep_default_na=False, dtype=str)
    assert list(frame.columns) == header and len(frame) == len(body)


def test_provenance_of_a_csv_is_in_its_markdown_twin():
    assert COMMITTED_CSVS
    for path in COMMITTED_CSVS:
        md = path.with_suffix(".md").read_text(encoding="utf-8")
        assert f"[{path.name}]({path.name})" in md and "Notes:" in md, path.name


# --- item 10: third-party banners only with --verbose ----------------------------------------------------

_ULTRALYTICS = ("import sys; from zoo.console import quiet_libraries; quiet_libraries(verbose=sys.argv[1] == 'v'); "
                "from ultralytics.utils import SETTINGS")


@pytest.mark.parametrize("verbose", [False, True])
def test_ultralytics_settings_banner_only_when_verbose(verbose, tmp_path):
    pytest.importorskip("ultralytics")
    env = {k: v for k, v in os.environ.items() if k != "YOLO_VERBOSE"}
    env["YOLO_CONFIG_DIR"] = str(tmp_path / "fresh")  # a first run: ultralytics creates its settings file
    out = subprocess.run([sys.executable, "-c", _ULTRALYTICS, "v" if verbose else "q"], cwd=REPO, env=env,
                         capture_output=True, text=True, check=True)
    assert ("Creating new Ultralytics Settings" in out.stdout + out.stderr) == verbose


def test_cli_quiets_libraries_unless_verbose(monkeypatch):
    _unset(monkeypatch, *console.LIBRARY_ENV)
    assert main(["--verbose", "list", "--json"]) == 0
    assert "YOLO_VERBOSE" not in os.environ and "TRANSFORMERS_VERBOSITY" not in os.environ
    assert main(["list", "--json"]) == 0
    assert os.environ["YOLO_VERBOSE"] == "False" and os.environ["TRANSFORMERS_VERBOSITY"] == "error"
    assert os.environ["HF_HUB_DISABLE_PROGRESS_BARS"] == "1"


# --- item 2: progress bars on a terminal, never with --quiet ---------------------------------------------

@pytest.mark.parametrize("argv", [["--quiet", "list"], ["list", "--quiet"], ["-q", "list"]])
def test_quiet_before_or_after_the_command(argv, monkeypatch):
    tty_stderr(monkeypatch)
    assert console.show_progress()
    assert main(argv) == 0
    assert os.environ[console.QUIET_ENV] == "1" and os.environ["TQDM_DISABLE"] == "1"  # inherited by workers
    assert not console.show_progress()


def test_quiet_silences_the_fetch_download_bar(monkeypatch):
    from zoo.weights import download

    tty_stderr(monkeypatch)
    bar = download._progress(10, "weights.pt")
    assert hasattr(bar, "n")  # a tqdm bar on a terminal
    bar.close()
    assert main(["--quiet", "list"]) == 0
    assert not hasattr(download._progress(10, "weights.pt"), "n")


def test_no_bar_when_stderr_is_not_a_terminal(monkeypatch):
    _unset(monkeypatch, "TQDM_DISABLE", console.QUIET_ENV)
    monkeypatch.setattr(sys, "stderr", io.StringIO())
    assert list(console.progress(range(3), desc="x")) == [0, 1, 2]
    assert sys.stderr.getvalue() == ""


def test_study_runs_tick_a_bar(monkeypatch):
    err = tty_stderr(monkeypatch)
    from zoo.studies.common import build, run_progress

    with run_progress("metrics") as bar:
        build("mlp", 0)
        build("mlp", 1)
        assert bar.n == 2
    assert "study metrics" in err.getvalue()


def test_report_shows_a_bar_per_topic(monkeypatch, tmp_path):
    err = tty_stderr(monkeypatch)
    from zoo.report import report

    (tmp_path / "raw").mkdir()
    report(tmp_path / "raw", tmp_path / "out")
    assert "zoo report" in err.getvalue() and "topic" in err.getvalue()


def test_bench_settings_tick_a_bar(registered_tiny, results_dir, monkeypatch):
    err = tty_stderr(monkeypatch)
    assert main(["bench", registered_tiny, "--batch-size", "1,2", *QUICK, "--json"]) == 0
    assert "/2 [" in err.getvalue() and "setting" in err.getvalue()


def test_a_sweep_counts_settings_and_reports_skipped_ones(registered_tiny, results_dir, monkeypatch, capsys):
    from zoo.harness.speed.sweep import sweep

    assert main(["bench", registered_tiny, "--batch-size", "1,2", *QUICK, "--json"]) == 0
    capsys.readouterr()
    err = tty_stderr(monkeypatch)
    said: list[str] = []
    rows = sweep([registered_tiny], batch_sizes=(1, 2), warmup=1, min_iters=2, min_duration_s=0.01,
                 log=said.append, include_existing=True)  # every setting exists: no worker starts
    assert [r["existing"] for r in rows] == [True, True] and len(said) == 2 and "--force" in said[0]
    assert "0/2 [" in err.getvalue() and "setting/s" in err.getvalue()  # one bar over model x batch size


# --- item 3: skipped settings say so; --no-write measures; --json and the demo show the existing rows --------

def test_skipped_settings_are_one_line_each_and_shown(registered_tiny, results_dir, capsys):
    args = ["bench", registered_tiny, "--batch-size", "1,2", *QUICK]
    assert main(args + ["--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert [r.get("existing") for r in first] == [None, None]
    assert main(args + ["--json"]) == 0
    captured = capsys.readouterr()
    again = json.loads(captured.out)
    assert [r["existing"] for r in again] == [True, True]
    assert [r["metrics"]["p50_ms"] for r in again] == [r["metrics"]["p50_ms"] for r in first]
    skips = [ln for ln in captured.err.splitlines() if "skipped" in ln]
    date = first[0]["time"][:10]
    assert len(skips) == 2 and all(date in ln and "--force" in ln for ln in skips), captured.err
    assert main(args) == 0  # the table shows them too, dated
    out = capsys.readouterr().out
    (header,) = [ln for ln in out.splitlines() if ln.startswith("model ")]
    assert header.split()[-1] == "measured" and date in out
    assert len(read_rows(results_dir / "speed.jsonl")) == 2


def test_no_write_always_measures(registered_tiny, results_dir, capsys):
    args = ["bench", registered_tiny, *QUICK, "--json"]
    assert main(args) == 0
    capsys.readouterr()
    assert main(args + ["--no-write"]) == 0
    (row,) = json.loads(capsys.readouterr().out)
    assert "existing" not in row and len(read_rows(results_dir / "speed.jsonl")) == 1


def test_a_second_demo_still_shows_its_speed_figures(registered_tiny, results_dir):
    first = speed_lines([registered_tiny], 0.01)
    second = speed_lines([registered_tiny], 0.01)
    assert len(first) == len(second) == 1 and "p50" in second[0] and "img/s" in second[0]
    assert "measured earlier" in second[0] and "measured earlier" not in first[0]
    assert len(read_rows(results_dir / "speed.jsonl")) == 1


# --- item 4: the columns a person reads, --wide for all, fitted to the terminal ------------------------------

def _row(**over):
    row = {"model": "efficientnet_lite0", "status": "ok", "scenario": "SingleStream", "backend_used": "eager",
           "weights": "a" * 64, "settings": {"device": "cpu", "batch_size": 1},
           "metrics": {"p50_ms": 10.0, "p90_ms": 11.0, "p99_ms": 12.0, "items_per_s": 100.0, "share_of_peak": 0.1}}
    return {**row, **over}


def test_bench_table_default_and_wide_columns(capsys):
    bench_cmd.print_rows([_row()])
    header = capsys.readouterr().out.splitlines()[1].split()
    assert header == ["model", "batch", "backend", "p50", "ms", "p99", "ms", "items/s", "x", "fp32", "weights"]
    bench_cmd.print_rows([_row()], wide=True)
    header = capsys.readouterr().out.splitlines()[1]
    assert "% peak" in header and "p90 ms" in header and "GFLOPs/item" in header


def test_bench_table_fits_the_terminal(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "80")
    err = _row(status="error", error="worker process failed (exit code -9): " + "a very long message " * 10)
    bench_cmd.print_rows([_row(model="timm/a_model_with_a_long_name.in1k"), err])
    lines = capsys.readouterr().out.splitlines()[2:]  # after the two weights lines
    assert len(lines) == 4 and max(map(len, lines)) <= 80 and "…" in lines[-1]
    assert "timm/a_model" in lines[2] and "10.000" in lines[2]  # the figures are whole: text columns are cut


def test_bench_says_whether_the_weights_are_real(capsys):
    bench_cmd.print_rows([_row(), _row(model="resnet50", weights="random-init")])
    out = capsys.readouterr().out.splitlines()
    assert out[0] == "efficientnet_lite0: pretrained weights, sha256 aaaaaaaaaaaa…"
    assert out[1].startswith("resnet50: RANDOM WEIGHTS") and "zoo fetch resnet50" in out[1]


def test_fit_widths_cuts_the_widest_first():
    assert fit_widths([10, 40, 5], [6, 6, 5], 40) == [10, 21, 5]
    assert fit_widths([10, 40], [10, 30], 20) == [10, 30]  # floors hold
    assert fit_widths([10, 40], [6, 6], 0) == [10, 40]  # unknown width: unchanged


def test_print_table_unfitted_by_default(monkeypatch, capsys):
    monkeypatch.setenv("COLUMNS", "20")
    print_table(["name"], [["x" * 50]])
    assert "x" * 50 in capsys.readouterr().out


def test_torch_cpu_compile_warning_is_library_noise():
    """`zoo bench --backend auto` printed torch's 'No CUDA runtime is found' warning (a compile candidate on a
    CPU-only machine): it is third-party noise, silenced like the others unless --verbose."""
    import logging

    from zoo.console import quiet_libraries

    log = logging.getLogger("torch.utils.cpp_extension")
    level = log.level
    try:
        log.setLevel(logging.NOTSET)
        quiet_libraries(verbose=True)
        assert log.level == logging.NOTSET  # --verbose leaves it alone
        quiet_libraries()
        assert not log.isEnabledFor(logging.WARNING)
    finally:
        log.setLevel(level)


# --- stdout is the result: library chatter goes to stderr ----------------------------------------------------

def test_stdout_to_stderr_moves_prints_fd_writes_and_subprocesses(capfd):
    with console.stdout_to_stderr():
        print("python print")
        os.write(1, b"fd 1 write\n")
        subprocess.run([sys.executable, "-c", "print('child print')"], check=True)
    print("the result")
    out, err = capfd.readouterr()
    assert out == "the result\n"
    assert "python print" in err and "fd 1 write" in err and "child print" in err


def test_stdout_to_stderr_with_a_replaced_stdout(capsys):
    """Under pytest's capsys (no file descriptor behind sys.stdout) prints still move, nothing breaks."""
    with console.stdout_to_stderr():
        print("chatter")
    print("result")
    out, err = capsys.readouterr()
    assert out == "result\n" and err == "chatter\n"


@pytest.mark.skipif(importlib.util.find_spec("onnxruntime") is None, reason="onnxruntime not installed")
def test_bench_json_stdout_is_json_only_with_the_onnx_export(results_dir, monkeypatch):
    """`zoo bench NAME --backend onnxruntime --json`: torch.onnx prints its export steps on stdout; stdout must
    hold the JSON rows alone (a library print during the measurement is sent to stderr)."""
    from zoo.harness.backends import export as onnx_export

    real = onnx_export.torch.onnx.export

    def chatty_export(*a, **kw):  # torch.onnx's dynamo exporter prints "[torch.onnx] ..." lines like these
        print("[torch.onnx] Obtain model graph for `Flat([...]` with `torch.export.export(..., strict=False)`...")
        return real(*a, **kw)

    monkeypatch.setattr(onnx_export.torch.onnx, "export", chatty_export)
    out = io.StringIO()
    monkeypatch.setattr(sys, "stdout", out)
    assert main(["bench", "mlp", "--batch-size", "1", "--backend", "onnxruntime", "--json", "--no-write", *QUICK]) == 0
    (row,) = json.loads(out.getvalue())
    assert row["status"] == "ok" and row["model"] == "mlp"


@pytest.mark.slow
def test_bench_json_subprocess_stdout_parses(results_dir):
    """The real command in a fresh process, onnxruntime when installed: stdout is one JSON document."""
    backend = "onnxruntime" if importlib.util.find_spec("onnxruntime") else "eager"
    run = subprocess.run(ZOO + ["bench", "mlp", "--batch-size", "1", "--backend", backend, "--json", "--no-write", *QUICK],
                         capture_output=True, text=True, cwd=REPO, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    (row,) = json.loads(run.stdout)
    assert row["status"] == "ok"
