"""Issue 26: a training checkpoint folder is replaced all or nothing, one run per --out, and the folder
that stays is the one the last "train" row names.

Before: the two renames of a checkpoint replacement had no journal: a kill between them left no --out at
all, Ctrl-C there deleted the new checkpoint, the row was written after the swap (so a kill in between
left a checkpoint no row names), and two trainings with one --out were not locked."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

import zoo.io as zio
from zoo.errors import UserError
from zoo.harness.train.out_folder import locked_out
from zoo.io import recover_folder, replace_folder

REPO = Path(__file__).resolve().parents[1]


def fill_with(text: str):
    def fill(folder: Path) -> str:
        (folder / "model.safetensors").write_text(text)
        (folder / "zoo_config.json").write_text("{}")
        return f"sha-{text}"
    return fill


def side_files(parent: Path) -> list[str]:
    return sorted(p.name for p in parent.iterdir() if ".zoo-" in p.name)


@pytest.fixture
def out(tmp_path) -> Path:
    out = tmp_path / "ck"
    replace_folder(out, fill_with("old"))
    return out


def weights(out: Path) -> str:
    return (out / "model.safetensors").read_text()


class Killed(BaseException):
    """SIGKILL in-process: raised from the hook, it skips every cleanup of zoo's (a real kill is below)."""


def _hook(monkeypatch, step, action):
    monkeypatch.setattr(zio, "swap_step_hook", lambda name: action() if name == step else None)


def test_replacement_records_then_swaps_and_leaves_nothing(out):
    rows = []
    assert replace_folder(out, fill_with("new"), rows.append) == "sha-new"
    assert weights(out) == "new" and rows == ["sha-new"] and side_files(out.parent) == []


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("step", ["journal", "between-renames"])
def test_a_signal_inside_the_swap_lands_after_it(out, monkeypatch, sig, step):
    from zoo.signals import Terminated, terminate_as_exception

    rows = []
    _hook(monkeypatch, step, lambda: os.kill(os.getpid(), sig))
    with terminate_as_exception(), pytest.raises((KeyboardInterrupt, Terminated)):
        replace_folder(out, fill_with("new"), rows.append)
    assert weights(out) == "new" and rows == ["sha-new"] and side_files(out.parent) == []


@pytest.mark.parametrize("row_written", [True, False])
def test_a_kill_between_the_renames_is_finished_or_undone_by_the_row(out, monkeypatch, row_written):
    rows = []
    _hook(monkeypatch, "between-renames", lambda: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        replace_folder(out, fill_with("new"), rows.append)
    assert not out.exists()  # what the old code left for good
    monkeypatch.setattr(zio, "swap_step_hook", None)
    note = recover_folder(out, lambda sha: row_written and sha in rows)
    assert note and weights(out) == ("new" if row_written else "old") and side_files(out.parent) == []


def test_a_kill_before_the_row_keeps_the_old_checkpoint(out, monkeypatch):
    _hook(monkeypatch, "journal", lambda: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        replace_folder(out, fill_with("new"), lambda sha: None)
    monkeypatch.setattr(zio, "swap_step_hook", None)
    assert "undone" in recover_folder(out, lambda sha: False)
    assert weights(out) == "old" and side_files(out.parent) == []


def test_a_failed_row_leaves_the_old_checkpoint(out):
    def record(sha):
        raise UserError("disk full")
    with pytest.raises(UserError):
        replace_folder(out, fill_with("new"), record)
    assert weights(out) == "old" and side_files(out.parent) == []


_KILL = """
import os, signal, sys
import zoo.io as zio
from pathlib import Path
def fill(folder):
    (folder / "model.safetensors").write_text("new")
    return "sha-new"
zio.swap_step_hook = lambda name: os.kill(os.getpid(), signal.SIGKILL) if name == "between-renames" else None
zio.replace_folder(Path(sys.argv[1]), fill, lambda sha: open(sys.argv[2], "a").write(sha + "\\n"))
"""


def test_a_real_sigkill_between_the_renames(out, tmp_path):
    rows = tmp_path / "rows.txt"
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    p = subprocess.run([sys.executable, "-c", _KILL, str(out), str(rows)], env=env, timeout=120, check=False)
    assert p.returncode == -signal.SIGKILL and not out.exists()
    recover_folder(out, lambda sha: sha in rows.read_text().split())
    assert weights(out) == "new" and side_files(out.parent) == []


def test_one_training_per_out_folder(tmp_path):
    out = tmp_path / "ck"
    with locked_out(out):
        with pytest.raises(UserError, match="another zoo train is writing"):
            with locked_out(out):
                pass
    with locked_out(out):  # released: the next run goes on
        pass


def test_the_lock_finishes_a_killed_swap_first(out, monkeypatch, tmp_path):
    monkeypatch.setenv("ZOO_RESULTS_DIR", str(tmp_path / "raw"))
    _hook(monkeypatch, "between-renames", lambda: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        replace_folder(out, fill_with("new"), lambda sha: None)
    monkeypatch.setattr(zio, "swap_step_hook", None)
    with locked_out(out):  # no train row names sha-new: the old checkpoint is put back
        assert weights(out) == "old" and side_files(out.parent) == []


# --- zoo export's folder: the same swap ----------------------------------------------------------------------

def test_an_export_killed_between_the_renames_is_completed_by_the_next_export(tmp_path, monkeypatch):
    from zoo.harness.export import writer
    from zoo.io import install_folder

    out = tmp_path / "exp"
    out.mkdir()
    (out / "zoo_export.json").write_text("old")
    ready = tmp_path / ".exp.123.x.partial"
    ready.mkdir()
    (ready / "zoo_export.json").write_text("new")
    _hook(monkeypatch, "between-renames", lambda: (_ for _ in ()).throw(Killed()))
    with pytest.raises(Killed):
        install_folder(ready, out)
    assert not out.exists()  # what the old two renames left for good
    monkeypatch.setattr(zio, "swap_step_hook", None)
    stale = tmp_path / ".exp.999999999.y.partial"  # a partial folder of an export whose process is gone
    stale.mkdir()
    tmp = writer._prepare_target(out, force=True)  # the next `zoo export --force`
    assert (out / "zoo_export.json").read_text() == "new" and not stale.exists()
    tmp.rmdir()
    assert side_files(tmp_path) == []
