"""Sweeps: many models, each measured in a fresh subprocess, resumable, failures kept as rows.

A fresh process per model keeps one model's threads, allocator, dynamo caches and ultralytics' global
settings from leaking into the next one's timing. The parent decides what is left to do from the row keys
already in the raw file (so an interrupted sweep resumes without duplicate rows); when a worker dies
(crash, kill, out of memory), the parent appends an error row for every batch size it left unmeasured.

Worker protocol: ``python -m zoo.harness.speed_sweep '<json>'`` with {"name", "kwargs"[, "factory"]};
``factory`` ("module:function") builds the model instead of the registry (tests, custom models).
"""

from __future__ import annotations

import importlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Sequence

from ..errors import UserError
from ..results import append_row, make_row, raw_path, read_rows
from .speed import TOPIC, bench, bench_settings, command_for, existing_keys, row_key


def _settings_for_key(kwargs: dict[str, Any]) -> dict[str, Any]:
    """The settings ``bench`` records, from its keyword arguments (the parent computes keys without a model)."""
    names = ("channels_last", "precision", "compile_mode", "freezing", "cuda_graphs", "threads", "pretrained", "compare", "seq_len")
    return bench_settings(kwargs.get("backend", "eager"), str(kwargs.get("device", "cpu")), kwargs.get("dtype"),
                          **{k: kwargs[k] for k in names if k in kwargs})


def sweep(
    names: Sequence[str],
    *,
    factories: dict[str, str] | None = None,
    resume: bool = True,
    retry_errors: bool = False,
    timeout_s: float | None = None,
    progress: bool = True,
    **kwargs: Any,
) -> list[dict[str, Any]]:
    """Run ``bench(name, **kwargs)`` for each name in its own subprocess; returns the rows written.

    kwargs are bench()'s (device, batch_sizes, dtype, backend, ...), JSON-serializable. A worker that
    exits non-zero or times out leaves an error row per unmeasured batch size, naming the exit code and the
    last line it printed to stderr.
    """
    from tqdm import tqdm

    factories = factories or {}
    path = Path(kwargs.pop("raw_file", None) or raw_path(TOPIC)).resolve()
    device = str(kwargs.get("device", "cpu"))
    batch_sizes = [int(b) for b in kwargs.get("batch_sizes", (1,))]
    kwargs["batch_sizes"] = batch_sizes
    settings = _settings_for_key(kwargs)
    timing = {k: kwargs[k] for k in ("warmup", "min_iters", "min_duration_s", "rounds") if k in kwargs}
    command = command_for(list(names), settings, batch_sizes, device, timing)
    env = {**os.environ, "ZOO_RESULTS_DIR": str(path.parent)}
    written: list[dict[str, Any]] = []
    bar = tqdm(list(names), desc="zoo bench", unit="model", disable=not progress or None, file=sys.stderr)
    for name in bar:
        keys = {bs: row_key(name, bs, settings, device) for bs in batch_sizes}
        done = existing_keys(path, include_errors=not retry_errors) if resume else set()
        if all(k in done for k in keys.values()):
            bar.set_postfix_str(f"{name}: done before (resume)")
            continue
        bar.set_postfix_str(f"{name}: running")
        n_before = len(read_rows(path))
        payload = {"name": name, "kwargs": {**kwargs, "raw_file": str(path), "command": command,
                                            "resume": resume, "retry_errors": retry_errors}}
        if name in factories:
            payload["factory"] = factories[name]
        with tempfile.TemporaryFile(mode="w+") as err:
            t0 = time.perf_counter()
            try:
                proc = subprocess.run([sys.executable, "-m", "zoo.harness.speed_sweep", json.dumps(payload)],
                                      env=env, stdout=subprocess.DEVNULL, stderr=err, timeout=timeout_s)
                rc: int | str = proc.returncode
            except subprocess.TimeoutExpired:
                rc = f"timeout after {timeout_s:.0f} s"
            err.seek(0)
            lines = [ln.strip() for ln in err.read().splitlines() if ln.strip()]
        rows = read_rows(path)[n_before:]
        written += rows
        if rc != 0:
            now = {r.get("key") for r in rows}
            last = lines[-1][:300] if lines else "no output"
            for bs, key in keys.items():
                if key in now:
                    continue
                row = make_row(
                    "speed", model=name, settings={**settings, "device": device, "requested_batch_size": bs,
                                                   "batch_size": bs},
                    key=key, status="error", device=device, command=command, flags=[],
                    error=f"worker process failed ({'exit code ' + str(rc) if isinstance(rc, int) else rc}): {last}",
                    metrics={"wall_s": round(time.perf_counter() - t0, 1)},
                )
                append_row(path, row)
                written.append(row)
        bar.set_postfix_str(f"{name}: {'ok' if rc == 0 else 'failed'}")
    return written


def _worker(payload: dict[str, Any]) -> int:
    kwargs = dict(payload["kwargs"])
    model = None
    if payload.get("factory"):
        mod, fn = payload["factory"].split(":")
        model = getattr(importlib.import_module(mod), fn)()
    try:
        bench(payload["name"], model=model, log=lambda s: print(s, file=sys.stderr, flush=True), **kwargs)
    except UserError as e:
        print(f"zoo: error: {e}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(_worker(json.loads(sys.argv[1])))
