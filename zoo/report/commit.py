"""Replace and remove a set of files all or nothing, even across a kill: what ``zoo report`` uses.

A journal (``<out>/.zoo-report.journal``) names every file of the change before any is made:
1. ``staging``: each new file is written and fsynced beside its target (``.<name>.zoo-new``; same folder,
   so the rename cannot cross a filesystem) and each file to be replaced or removed is hard-linked to
   ``.<name>.zoo-old``. Anything failing here fails before any target changed.
2. ``swapping``: the new files are renamed over their targets, the removed files unlinked.
3. the backups and the journal are deleted.
SIGINT and SIGTERM are held for the whole commit and delivered after it (zoo.signals.deferred). A failure
in step 2 puts the targets back from their backups. A process killed outright (SIGKILL, power loss) leaves
its journal: the next run (``finish_interrupted``) rolls a ``swapping`` journal forward (the new files are
all on disk by then) and any earlier one back, and removes every side file. No state is ever a mix.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..io import fsync_path
from ..signals import deferred

JOURNAL = ".zoo-report.journal"
STAGING_PREFIX = "zoo-report-"
# Tests set this to stop the process at a named step ("journal", "staged", "swap:<n>", "swapped").
commit_step_hook: Callable[[str], None] | None = None


def _step(name: str) -> None:
    if commit_step_hook is not None:
        commit_step_hook(name)


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _side(target: Path, what: str) -> Path:
    return target.with_name(f".{target.name}.zoo-{what}")


@dataclass
class _Plan:
    journal: Path
    temps: dict[Path, Path] = field(default_factory=dict)  # target -> its new bytes, beside it
    backups: dict[Path, Path] = field(default_factory=dict)  # existing target -> hard link beside it
    removals: list[Path] = field(default_factory=list)
    made_dirs: list[Path] = field(default_factory=list)

    def to_json(self, state: str) -> bytes:
        rel = lambda p: os.path.relpath(p, self.journal.parent)  # relative: paths survive a moved checkout
        return json.dumps({"state": state, "temps": [[rel(t), rel(n)] for t, n in self.temps.items()],
                           "backups": [[rel(t), rel(b)] for t, b in self.backups.items()],
                           "removals": [rel(p) for p in self.removals],
                           "made_dirs": [rel(d) for d in self.made_dirs]}).encode()

    @classmethod
    def from_json(cls, journal: Path, data: bytes) -> tuple[_Plan, str]:
        d = json.loads(data)
        at = lambda r: journal.parent / r
        plan = cls(journal, {at(t): at(n) for t, n in d["temps"]}, {at(t): at(b) for t, b in d["backups"]},
                   [at(p) for p in d["removals"]], [at(p) for p in d["made_dirs"]])
        return plan, d["state"]


def _write_journal(plan: _Plan, state: str) -> None:
    """Atomically (temp name, fsync, rename, fsync of the folder): a journal on disk is always whole."""
    tmp = plan.journal.with_name(plan.journal.name + ".new")
    with open(tmp, "wb") as f:
        f.write(plan.to_json(state))
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, plan.journal)
    fsync_path(plan.journal.parent)


def _plan(writes: dict[Path, bytes], removals: list[Path], journal: Path) -> _Plan:
    plan = _Plan(journal, removals=list(removals))
    for target in writes:
        if target.is_dir():
            raise UserError(f"{target} is a folder where zoo report writes a file; move it aside (nothing was written)")
        plan.temps[target] = _side(target, "new")
        d = target.parent
        while not d.exists() and d not in plan.made_dirs:
            plan.made_dirs.append(d)
            d = d.parent
    plan.made_dirs.sort(key=lambda p: len(p.parts))
    for target in [*writes, *removals]:
        if target.exists():
            plan.backups[target] = _side(target, "old")
    return plan


def _stage(writes: dict[Path, bytes], plan: _Plan) -> None:
    mode = 0o666 & ~_umask()
    for d in plan.made_dirs:
        d.mkdir(exist_ok=True)
    for target, data in writes.items():
        fd = os.open(plan.temps[target], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
    for target, backup in plan.backups.items():
        backup.unlink(missing_ok=True)
        os.link(target, backup)


def _swap(plan: _Plan) -> None:
    for i, (target, tmp) in enumerate(plan.temps.items()):
        os.replace(tmp, target)
        _step(f"swap:{i}")
    for target in plan.removals:
        target.unlink(missing_ok=True)
    for folder in {t.parent for t in plan.temps}:
        fsync_path(folder)


def _roll_forward(plan: _Plan) -> None:
    """Every new file is on disk (the journal said ``swapping``): finish the renames and removals."""
    for target, tmp in plan.temps.items():
        if tmp.exists():
            os.replace(tmp, target)
    for target in plan.removals:
        target.unlink(missing_ok=True)


def _roll_back(plan: _Plan) -> None:
    """Put every target back as it was: from its backup, or (a file that did not exist) removed."""
    for target in [*plan.temps, *plan.removals]:
        backup = plan.backups.get(target)
        if backup is not None and backup.exists():
            os.replace(backup, target)
        elif backup is None and target in plan.temps and not plan.temps[target].exists():
            target.unlink(missing_ok=True)  # created by the swap (its new file was renamed onto it)
    for tmp in plan.temps.values():
        tmp.unlink(missing_ok=True)


def _remove_made_dirs(plan: _Plan) -> None:
    for d in reversed(plan.made_dirs):
        with contextlib.suppress(OSError):
            d.rmdir()


def _clean(plan: _Plan) -> None:
    for name in (*plan.temps.values(), *plan.backups.values()):
        name.unlink(missing_ok=True)
    plan.journal.unlink(missing_ok=True)
    with contextlib.suppress(OSError):
        fsync_path(plan.journal.parent)


def finish_interrupted(journal: Path) -> str | None:
    """Complete (``swapping``) or undo (earlier) a commit whose process was killed; None when there is none,
    else a line saying what was done."""
    journal.with_name(journal.name + ".new").unlink(missing_ok=True)
    if not journal.is_file():
        return None
    try:
        plan, state = _Plan.from_json(journal, journal.read_bytes())
    except (ValueError, KeyError, TypeError) as e:
        raise UserError(f"{journal}: an interrupted zoo report left a journal zoo cannot read ({e}); "
                        "look at the files it names, then delete it") from None
    with deferred():
        if state == "swapping":
            _roll_forward(plan)
            _clean(plan)
        else:
            _roll_back(plan)
            _clean(plan)
            _remove_made_dirs(plan)
    done = "completed" if state == "swapping" else "undone"
    return f"an interrupted zoo report was {done} from {journal} ({len(plan.temps)} files)"


def sweep_stale_staging() -> None:
    """Remove staging folders (``<tmp>/zoo-report-<pid>-*``) of report processes that no longer run."""
    for d in Path(tempfile.gettempdir()).glob(f"{STAGING_PREFIX}*-*"):
        pid = d.name[len(STAGING_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and int(pid) != os.getpid() and not _alive(int(pid)):
            shutil.rmtree(d, ignore_errors=True)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def commit_files(writes: dict[Path, bytes], removals: list[Path], journal: Path) -> None:
    """Write every ``writes`` target and remove every ``removals`` file, or change nothing; ``journal`` is
    where the plan is kept until it is done. An OSError on the way is a one-line UserError."""
    finish_interrupted(journal)
    if not writes and not removals:
        return
    plan = _plan(writes, removals, journal)
    with deferred():
        try:
            journal.parent.mkdir(parents=True, exist_ok=True)
            _write_journal(plan, "staging")
            _step("journal")
            _stage(writes, plan)
            _step("staged")
            _write_journal(plan, "swapping")
            _swap(plan)
            _step("swapped")
        except OSError as e:
            _roll_back(plan)
            _clean(plan)
            _remove_made_dirs(plan)
            where = f" ({e.filename})" if e.filename else ""
            raise UserError(f"zoo report could not update its files: {e.strerror or e}{where}; "
                            "nothing was changed") from None
        _clean(plan)
