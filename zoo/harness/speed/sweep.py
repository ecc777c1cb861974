"""Sweeps: many models, each measured in a fresh subprocess, resumable, failures kept as rows.

A fresh process per model keeps one model's threads, allocator, dynamo caches and ultralytics' global
settings from leaking into the next one's timing. The parent decides what is left to do from the row keys
already in the raw file (so an interrupted sweep resumes without duplicate rows); when a worker dies
(crash, kill, out of memory), the parent appends an error row for every batch size it left unmeasured.
A worker whose parent dies exits too (it watches its parent process id): an orphan would go on appending
rows while a rerun measures the same settings again.

Worker protocol: ``python -m zoo.harness.speed.sweep '<json>'`` with {"name", "config" (BenchConfig's
fields), "run" (bench()'s run options)[, "factory"]}; ``factory`` ("module:function") builds the model
instead of the registry (tests, custom models).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import replace
from pathlib import Path
from typing import Any, Callable, Sequence

from ...console import progress as progress_bar
from ...errors import UserError
from ...results import raw_path, read_rows
from .runner import TOPIC, RowWriter, as_existing, existing_rows, run_bench, skip_line
from .config import BenchConfig


def sweep(names: Sequence[str], config: BenchConfig | None = None, *, factories: dict[str, str] | None = None,
          resume: bool = True, retry_errors: bool = False, timeout_s: float | None = None, progress: bool = True,
          raw_file: str | Path | None = None, log: Callable[[str], None] | None = None,
          include_existing: bool = False, batch_sizes_of: dict[str, tuple[int, ...]] | None = None,
          **settings: Any) -> list[dict[str, Any]]:
    """Bench each name in its own subprocess; returns the rows written (and, with ``include_existing``, the
    rows of the settings skipped because they exist, marked ``"existing": True``).

    Settings: a BenchConfig and/or its fields as keywords, as for ``bench``. A worker that exits non-zero
    or times out leaves an error row per unmeasured batch size, naming the exit code and the last line it
    printed to stderr. ``progress``: a bar over the settings (model x batch size) on a terminal; ``log``
    gets one line per skipped setting (``skip_line``). ``batch_sizes_of``: a model's own batch sizes (a
    shard's part of the sweep, zoo.harness.shards), instead of the config's.
    """
    if timeout_s is not None and not timeout_s > 0:
        raise UserError(f"--timeout must be a positive number of seconds, got {timeout_s!r}")
    cfg = replace(config, **settings) if config is not None else BenchConfig(**settings)
    factories = factories or {}
    path = Path(raw_file or raw_path(TOPIC)).resolve()
    command = cfg.command(list(names))
    env = {**os.environ, "ZOO_RESULTS_DIR": str(path.parent)}
    say = log or (lambda s: None)
    written: list[dict[str, Any]] = []
    sizes = {name: tuple((batch_sizes_of or {}).get(name, cfg.batch_sizes)) for name in names}
    bar = progress_bar(desc="zoo bench", total=sum(len(set(s)) for s in sizes.values()), unit="setting",
                       disable=not progress)
    base = cfg
    for name in names:
        cfg = replace(base, batch_sizes=sizes[name])
        keys = {bs: cfg.row_key(name, bs) for bs in cfg.batch_sizes}
        done = existing_rows(path, include_errors=not retry_errors) if resume else {}
        for key in (k for k in keys.values() if k in done):
            say(skip_line(done[key]))
            written += [as_existing(done[key])] if include_existing else []
        bar.update(sum(k in done for k in keys.values()))
        if all(k in done for k in keys.values()):
            continue
        bar.set_postfix_str(f"{name}: running")
        payload = {"name": name, "config": cfg.to_dict(), "parent": os.getpid(),
                   "run": {"raw_file": str(path), "command": command, "resume": resume, "retry_errors": retry_errors}}
        if name in factories:
            payload["factory"] = factories[name]
        rows, rc, last, wall_s = _run_worker(payload, path, env, timeout_s)
        written += rows
        if rc != 0:
            now = {r.get("key") for r in rows}
            why = f"worker process failed ({'exit code ' + str(rc) if isinstance(rc, int) else rc}): {last}"
            writer = RowWriter(name, cfg, command, path, threads_used=None)
            written += [writer.row(bs, "error", {"wall_s": wall_s}, error=why)
                        for bs, key in keys.items() if key not in now]
        bar.set_postfix_str(f"{name}: {'ok' if rc == 0 else 'failed'}")
        bar.update(sum(k not in done for k in keys.values()))
    bar.close()
    return written


def _run_worker(payload: dict[str, Any], path: Path, env: dict[str, str],
                timeout_s: float | None) -> tuple[list[dict], int | str, str, float]:
    """Run one worker; (rows it appended, exit code or "timeout ...", last stderr line, wall seconds)."""
    n_before = len(read_rows(path))
    with tempfile.TemporaryFile(mode="w+") as err:
        t0 = time.perf_counter()
        try:
            proc = subprocess.run([sys.executable, "-m", "zoo.harness.speed.sweep", json.dumps(payload)],
                                  env=env, stdout=subprocess.DEVNULL, stderr=err, timeout=timeout_s)
            rc: int | str = proc.returncode
        except subprocess.TimeoutExpired:
            rc = f"timeout after {timeout_s:.0f} s"
        wall_s = round(time.perf_counter() - t0, 1)
        err.seek(0)
        lines = [ln.strip() for ln in err.read().splitlines() if ln.strip()]
    return read_rows(path)[n_before:], rc, (lines[-1][:300] if lines else "no output"), wall_s


def _die_with_parent(parent_pid: int, every_s: float = 0.2) -> None:
    """Exit this process as soon as ``parent_pid`` is no longer its parent (the parent was killed)."""
    def watch() -> None:
        while os.getppid() == parent_pid:
            time.sleep(every_s)
        os._exit(1)  # noqa: SLF001  (no cleanup: the rows appended so far are complete lines)

    threading.Thread(target=watch, name="zoo-sweep-parent-watch", daemon=True).start()


def _worker(payload: dict[str, Any]) -> int:
    if payload.get("parent"):
        _die_with_parent(int(payload["parent"]))
    model = None
    if payload.get("factory"):
        mod, fn = payload["factory"].split(":")
        model = getattr(importlib.import_module(mod), fn)()
    try:
        run_bench(payload["name"], BenchConfig(**payload["config"]), model=model,
                  log=lambda s: print(s, file=sys.stderr, flush=True), **payload["run"])
    except UserError as e:
        print(f"zoo: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_worker(json.loads(sys.argv[1])))
