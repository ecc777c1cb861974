"""Provenance of a row: machine, library versions, git commit, and the sha256 of files and folders."""

from __future__ import annotations

import functools
import hashlib
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

_LIBS = ("zoo", "torch", "torchvision", "timm", "transformers", "ultralytics", "onnxruntime", "numpy")


def sha256_file(path: str | os.PathLike, chunk: int = 1 << 20) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while b := f.read(chunk):
            h.update(b)
    return h.hexdigest()


def sha256_tree(root: str | os.PathLike, pattern: str = "*") -> str:
    """sha256 over (relative path, file sha256) of every file under ``root``, sorted: a dataset's identity."""
    root = Path(root)
    if root.is_file():
        return sha256_file(root)
    h = hashlib.sha256()
    for p in sorted(q for q in root.rglob(pattern) if q.is_file()):
        h.update(os.fsencode(p.relative_to(root).as_posix()) + b"\0" + sha256_file(p).encode() + b"\n")  # fsencode: any file name
    return h.hexdigest()


@functools.cache
def machine_info() -> dict[str, Any]:
    """CPU model, cores, memory, GPU and driver (when CUDA is available), OS."""
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info: dict[str, Any] = {
        "hostname_hash": hashlib.sha256(platform.node().encode()).hexdigest()[:8],
        "cpu": cpu,
        "cores": os.cpu_count(),
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "gpu": None,
        "driver": None,
    }
    try:
        info["mem_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        info["mem_gib"] = None
    try:
        import torch  # deferred: heavy, and only needed for the GPU fields

        if torch.cuda.is_available():
            info["gpu"] = torch.cuda.get_device_name(0)
            info["gpu_count"] = torch.cuda.device_count()
            info["cuda"] = torch.version.cuda
            try:
                out = subprocess.run(
                    ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                    capture_output=True, text=True, timeout=10,
                )
                info["driver"] = out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout else None
            except (OSError, subprocess.SubprocessError):
                pass
    except ImportError:
        pass
    return info


def device_label(row: dict[str, Any]) -> str:
    """A short device name for tables: the GPU for cuda rows, else the CPU model and core count."""
    m = row.get("machine", {})
    if str(row.get("device", "cpu")).startswith("cuda") and m.get("gpu"):
        return m["gpu"]
    return f"{m.get('cpu', '?')} ({m.get('cores', '?')} cores)"


@functools.cache
def library_versions() -> dict[str, str | None]:
    out = {}
    for lib in _LIBS:
        try:
            out[lib] = metadata.version(lib)
        except metadata.PackageNotFoundError:
            out[lib] = None
    return out


# Measurements change results/ (raw rows, generated tables) and nothing else: they never make a checkout dirty.
_NOT_CODE = ":(top,exclude)results"


def checkout_commit(folder: str | Path) -> str | None:
    """HEAD of the git checkout holding ``folder``, with "-dirty" when a tracked file outside results/ differs
    from it; None outside a checkout."""
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=folder, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", ":/", _NOT_CODE],
                               cwd=folder, capture_output=True, text=True, timeout=10)
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


@functools.cache
def git_commit() -> str | None:
    """The commit of the zoo checkout this code runs from (see ``checkout_commit``)."""
    return checkout_commit(Path(__file__).resolve().parent)
