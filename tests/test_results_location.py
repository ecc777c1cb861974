"""Where rows go: the zoo checkout's results/raw, else the user's own folder (never another project's tracked
files), $ZOO_RESULTS_DIR over both; every command that writes says where in one line; write=False measures."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from zoo.results import raw_dir, read_rows
from zoo.results.location import (
    default_raw_dir,
    names_zoo,
    user_results_dir,
    zoo_checkout,
)

ROOT = Path(__file__).resolve().parents[1]
QUICK = {"warmup": 1, "min_iters": 2, "min_duration_s": 0.01, "peak": False}


def _checkout(path: Path, project: str) -> Path:
    path.mkdir(parents=True)
    (path / ".git").mkdir()
    (path / "pyproject.toml").write_text(f'[build-system]\nrequires = []\n\n[project]\nname = "{project}"\n')
    return path


@pytest.fixture
def no_env(monkeypatch, tmp_path):
    monkeypatch.delenv("ZOO_RESULTS_DIR", raising=False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "xdg"))
    return tmp_path / "xdg" / "zoo" / "results" / "raw"


def test_outside_a_zoo_checkout_rows_go_to_the_user_folder(tmp_path, no_env, monkeypatch):
    other = _checkout(tmp_path / "their_project", "their-app")
    (other / "sub").mkdir()
    monkeypatch.chdir(other / "sub")
    assert zoo_checkout() is None and raw_dir() == no_env == user_results_dir()
    monkeypatch.chdir(tmp_path)  # no checkout at all
    assert raw_dir() == no_env
    monkeypatch.setenv("ZOO_RESULTS_DIR", str(tmp_path / "mine"))
    assert raw_dir() == tmp_path / "mine"


def test_inside_a_zoo_checkout_rows_go_to_its_results_raw(tmp_path, no_env, monkeypatch):
    repo = _checkout(tmp_path / "zoo_clone", "zoo")
    (repo / "docs" / "deep").mkdir(parents=True)
    monkeypatch.chdir(repo)
    assert raw_dir() == Path("results/raw")  # as before at the top: README and `zoo report --check` rely on it
    monkeypatch.chdir(repo / "docs" / "deep")
    assert raw_dir() == repo.resolve() / "results" / "raw"
    assert names_zoo(ROOT / "pyproject.toml")
    if (ROOT / ".git").exists():  # run from this checkout (not an unpacked sdist): its own results/raw
        assert default_raw_dir(ROOT) == Path("results/raw")


def test_a_worktree_git_file_counts_as_a_checkout(tmp_path, no_env):
    repo = tmp_path / "wt"
    repo.mkdir()
    (repo / ".git").write_text("gitdir: /somewhere/.git/worktrees/wt\n")
    (repo / "pyproject.toml").write_text('[tool.other]\nname = "zoo"\n[project]\nname = "zoo"  # us\n')
    assert zoo_checkout(repo) == repo.resolve()
    (repo / "pyproject.toml").write_text('[tool.other]\nname = "zoo"\n[project]\nname = "zoo-fork"\n')
    assert zoo_checkout(repo) is None  # a [tool] table's name is not the project's


def test_an_installed_zoo_run_elsewhere_writes_to_the_user_folder_and_says_so(tmp_path, no_env):
    """A real process in another project's checkout: the row lands in the user folder, nothing in that checkout,
    and one stderr line names the file."""
    other = _checkout(tmp_path / "proj", "proj")
    env = {"PATH": "/usr/bin:/bin", "PYTHONPATH": str(ROOT), "XDG_DATA_HOME": str(tmp_path / "xdg"),
           "ZOO_OFFLINE": "1", "HF_HUB_OFFLINE": "1", "HOME": str(tmp_path)}
    code = ("import sys; from zoo.cli import main; from zoo.results import make_row, append_row, raw_path\n"
            "from zoo.console import say_written\n"
            "p = raw_path('speed'); append_row(p, make_row('speed', model='m', status='ok', key='k', command='c', "
            "device='cpu')); say_written(p)\n")
    r = subprocess.run([sys.executable, "-c", code], cwd=other, env=env, capture_output=True, text=True, timeout=300, check=False)
    assert r.returncode == 0, r.stderr[-2000:]
    assert r.stderr.strip().splitlines()[-1] == f"1 row appended to {(no_env / 'speed.jsonl').resolve()}"
    assert len(read_rows(no_env / "speed.jsonl")) == 1
    assert sorted(p.name for p in other.iterdir()) == [".git", "pyproject.toml"]


@pytest.mark.slow
def test_bench_says_where_its_rows_went(registered_tiny, results_dir, capsys):
    from zoo.cli import main

    args = ["bench", registered_tiny, "--batch-size", "1,2", "--warmup", "1", "--min-iters", "2",
            "--min-duration", "0.02"]
    assert main(args) == 0
    lines = [line for line in capsys.readouterr().err.splitlines() if "appended to" in line]
    assert lines == [f"2 rows appended to {(results_dir / 'speed.jsonl').resolve()}"]
    assert main(args + ["--no-write"]) == 0
    assert "appended" not in capsys.readouterr().err


def test_api_write_false_measures_every_batch_size_and_prints_nothing(registered_tiny, results_dir, capsys):
    """An existing row does not make ``zoo.bench(..., write=False)`` skip a batch size (it did: fewer rows)."""
    import zoo

    first = zoo.bench(registered_tiny, batch_sizes=(1,), **QUICK)
    assert len(first) == 1 and len(read_rows(results_dir / "speed.jsonl")) == 1
    rows = zoo.bench(registered_tiny, batch_sizes=(1, 2), write=False, **QUICK)
    assert [r["settings"]["batch_size"] for r in rows] == [1, 2] and not any(r.get("existing") for r in rows)
    assert len(read_rows(results_dir / "speed.jsonl")) == 1  # nothing appended
    assert capsys.readouterr() == ("", "")  # library code prints nothing unless verbose
    zoo.bench(registered_tiny, batch_sizes=(1,), write=False, verbose=True, **QUICK)
    assert f"{registered_tiny}: building" in capsys.readouterr().err
    json.dumps(rows, default=str)
