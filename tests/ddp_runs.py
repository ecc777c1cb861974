"""Shared by the data-parallel tests: run one ``zoo`` command in one process and under torchrun with 2 CPU
processes (gloo), each into its own checkpoint folder, and return both trained state dicts."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import torch
from safetensors.torch import load_file


def torchrun() -> str | None:
    exe = Path(sys.executable).parent / "torchrun"
    return str(exe) if exe.exists() else shutil.which("torchrun")


def one_and_two_processes(args: list[str], tmp_path: Path, monkeypatch) -> tuple[dict, dict]:
    """``zoo ARGS --out tmp/one`` and ``torchrun --nproc_per_node 2 -m zoo ARGS --out tmp/two`` (rows in tmp/raw).

    The one process is this one (the CLI's ``main``, one intra-op thread like each torchrun worker): a fresh
    process would only import torch and zoo again, seconds on 2 cores; the two are real processes."""
    from zoo.cli import main

    monkeypatch.setenv("ZOO_RESULTS_DIR", str(tmp_path / "raw"))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        assert main([*args, "--out", str(tmp_path / "one")]) == 0
    finally:
        torch.set_num_threads(threads)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1"}
    two = subprocess.run([torchrun(), "--standalone", "--nproc_per_node", "2", "-m", "zoo", *args, "--out",
                          str(tmp_path / "two")], capture_output=True, text=True, env=env, timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    return load_file(tmp_path / "one" / "model.safetensors"), load_file(tmp_path / "two" / "model.safetensors")
