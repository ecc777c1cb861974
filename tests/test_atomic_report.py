"""Issue 26: `zoo report` is all or nothing under SIGINT, SIGTERM and SIGKILL; no side files are left.

Before: SIGTERM during the swap left new and old files mixed plus staging and .tmp/.bak files; SIGINT right
after a rename left that file new and the rest old. A hook at the commit step sends the signal there."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from test_report import ONLY, _all_files, _changed_rows, write_rows

import zoo.report.commit as commit
from zoo.report import report
from zoo.signals import Terminated, terminate_as_exception

REPO = Path(__file__).resolve().parents[1]
STEPS = ["journal", "staged", "swap:1", "swapped"]


def leftovers(root: Path) -> list[str]:
    """Side files of a commit: journals, .zoo-new/.zoo-old, .tmp/.bak of the older scheme."""
    return sorted(str(p) for p in root.rglob(".*")
                  if p.name.startswith(".zoo-report") or p.suffix in (".tmp", ".bak", ".zoo-new", ".zoo-old")
                  or ".zoo-" in p.name)


def generated(out: Path) -> dict[str, bytes]:
    return {k: v for k, v in _all_files(out).items() if not k.startswith("raw/")}


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The report of the rows before (a folder to copy) and the files of the report after the changed rows."""
    base = tmp_path_factory.mktemp("atomic")
    before = base / "before" / "results"
    write_rows(before / "raw")
    report(before / "raw", before, modules=ONLY)
    after = base / "after" / "results"
    write_rows(after / "raw")
    _changed_rows(after / "raw")
    report(after / "raw", after, modules=ONLY)
    return before, after


@pytest.fixture
def states(built, tmp_path):
    """(raw, out, old files, new files): a copy of the old report whose raw rows now give the new one."""
    before, after = built
    out = tmp_path / "results"
    shutil.copytree(before, out)
    shutil.rmtree(out / "raw")
    shutil.copytree(after / "raw", out / "raw")
    old, new = generated(out), generated(after)
    assert new != old
    return out / "raw", out, old, new


def _hook_at(monkeypatch, step: str, action) -> None:
    def hook(name: str) -> None:
        if name == step:
            action()
    monkeypatch.setattr(commit, "commit_step_hook", hook)


@pytest.mark.parametrize("step", STEPS)
def test_sigint_inside_the_commit_lands_after_it(states, monkeypatch, step):
    raw, out, _old, new = states
    _hook_at(monkeypatch, step, lambda: os.kill(os.getpid(), signal.SIGINT))
    with pytest.raises(KeyboardInterrupt):
        report(raw, out, modules=ONLY)
    assert generated(out) == new and leftovers(out.parent) == []


@pytest.mark.parametrize("step", ["staged", "swap:1"])
def test_sigterm_inside_the_commit_lands_after_it(states, monkeypatch, step):
    raw, out, _old, new = states
    _hook_at(monkeypatch, step, lambda: os.kill(os.getpid(), signal.SIGTERM))
    with terminate_as_exception(), pytest.raises(Terminated):
        report(raw, out, modules=ONLY)
    assert generated(out) == new and leftovers(out.parent) == []


class Killed(BaseException):
    """Stands for SIGKILL in-process: nothing of zoo's cleanup runs (the real kill is tested below)."""


@pytest.mark.parametrize("step", STEPS)
def test_a_kill_inside_the_commit_is_finished_or_undone_by_the_next_run(states, monkeypatch, step):
    raw, out, _old, new = states

    def die():
        raise Killed
    _hook_at(monkeypatch, step, die)
    with pytest.raises(Killed):
        report(raw, out, modules=ONLY)
    assert (out / commit.JOURNAL).exists()
    monkeypatch.setattr(commit, "commit_step_hook", None)
    assert report(raw, out, modules=ONLY, check=True).problems  # --check says something is pending
    res = report(raw, out, modules=ONLY)
    assert any("interrupted zoo report" in w for w in res.warnings)
    assert generated(out) == new and leftovers(out.parent) == []


_KILL_SCRIPT = """
import os, signal, sys
sys.path.insert(0, {tests!r})
import zoo.report.commit as commit
from zoo.report import report
from test_report import ONLY
def hook(name):
    if name == {step!r}:
        os.kill(os.getpid(), signal.SIGKILL)
commit.commit_step_hook = hook
report({raw!r}, {out!r}, modules=ONLY)
"""


@pytest.mark.slow
@pytest.mark.parametrize("step", ["swap:1"])
def test_a_real_sigkill_leaves_a_state_the_next_run_completes(states, step):
    raw, out, _old, new = states
    script = _KILL_SCRIPT.format(tests=str(REPO / "tests"), step=step, raw=str(raw), out=str(out))
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, timeout=300, check=False)
    assert p.returncode == -signal.SIGKILL, p.stderr.decode()[-2000:]
    report(raw, out, modules=ONLY)
    assert generated(out) == new and leftovers(out.parent) == []


def test_a_failed_commit_leaves_no_side_files(states, monkeypatch):
    raw, out, old, _new = states
    _hook_at(monkeypatch, "swap:1", lambda: (_ for _ in ()).throw(PermissionError(13, "Permission denied", "x")))
    with pytest.raises(Exception, match="nothing was changed"):
        report(raw, out, modules=ONLY)
    assert generated(out) == old and leftovers(out.parent) == []
