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


# The instruction-set extensions that change which kernels a CPU runs (oneDNN, OpenVINO and ONNX Runtime pick
# int8/bf16 paths by them): the same CPU model name has come with AVX2 only or with AVX-512 VNNI + bf16.
ISA_FLAGS = ("avx2", "fma", "avx512f", "avx512_vnni", "avx_vnni", "avx512_bf16", "avx512_fp16",
             "amx_tile", "amx_bf16", "amx_int8")
ISA_UNKNOWN = "isa unknown"


def cpu_details(cpuinfo: str) -> dict[str, Any]:
    """CPU model name, the ISA_FLAGS it has (sorted) and its physical core count, from /proc/cpuinfo text;
    a field the text does not give is None (never guessed)."""
    cpu, flags, cores = None, None, set()
    physical = None
    for line in cpuinfo.splitlines():
        key, _, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if key == "model name" and cpu is None:
            cpu = value
        elif key == "flags" and flags is None:
            have = set(value.split())
            flags = sorted(f for f in ISA_FLAGS if f in have)
        elif key == "physical id":
            physical = value
        elif key == "core id":
            cores.add((physical, value))
    return {"cpu": cpu, "isa": flags, "physical_cores": len(cores) or None}


def _read_cpuinfo() -> str:
    try:
        return Path("/proc/cpuinfo").read_text()
    except OSError:  # not Linux: model from platform, flags and physical cores unknown
        return ""


@functools.cache
def machine_info() -> dict[str, Any]:
    """CPU model, its ISA flags that matter (ISA_FLAGS; None when unknown), physical cores and threads, memory,
    GPU and driver (when CUDA is available), OS. ``cores`` stays the logical CPU count (``os.cpu_count()``), as
    in every row so far: speed row keys are made from it."""
    details = cpu_details(_read_cpuinfo())
    info: dict[str, Any] = {
        "hostname_hash": hashlib.sha256(platform.node().encode()).hexdigest()[:8],
        "cpu": details["cpu"] or platform.processor() or platform.machine(),
        "cores": os.cpu_count(),
        "physical_cores": details["physical_cores"],
        "threads": os.cpu_count(),
        "isa": details["isa"],
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "gpu": None,
        "driver": None,
    }
    try:
        info["mem_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError, AttributeError):
        info["mem_gib"] = None
    info.update(_gpu_info())
    return info


def _gpu_info() -> dict[str, Any]:
    try:
        import torch  # deferred: heavy, and only needed for the GPU fields
    except ImportError:
        return {}
    if not torch.cuda.is_available():
        return {}
    info: dict[str, Any] = {"gpu": torch.cuda.get_device_name(0), "gpu_count": torch.cuda.device_count(),
                            "cuda": torch.version.cuda}
    try:
        out = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=10, check=False)
        info["driver"] = out.stdout.strip().splitlines()[0] if out.returncode == 0 and out.stdout else None
    except (OSError, subprocess.SubprocessError):
        pass
    return info


def isa_label(isa: list[str] | None) -> str:
    """The ISA tier that decides which fast kernels run: "amx-bf16-int8", "avx512-vnni-bf16", "avx512-vnni",
    "avx512", "avx2-vnni", "avx2", "no-avx2"; ISA_UNKNOWN when the row did not record its flags."""
    if isa is None:
        return ISA_UNKNOWN
    have = set(isa)
    if "amx_tile" in have:
        return "amx" + "".join(f"-{t}" for t in ("bf16", "int8") if f"amx_{t}" in have)
    if "avx512f" in have:
        return "avx512" + "".join(f"-{t}" for t in ("vnni", "bf16", "fp16") if f"avx512_{t}" in have)
    if "avx2" in have:
        return "avx2-vnni" if "avx_vnni" in have else "avx2"
    return "no-avx2"


def machine_identity(m: dict[str, Any] | None) -> str:
    """A machine's name in tables: CPU model, cores ("2c", or "8c/16t" when threads differ) and ISA tier,
    e.g. "AMD EPYC 2c avx512-vnni-bf16"; rows recorded before the ISA flags read "... isa unknown"."""
    m = m or {}
    threads = m.get("threads") or m.get("cores")
    cores = m.get("physical_cores") or m.get("cores")
    count = f"{cores}c" if cores == threads or not threads else f"{cores}c/{threads}t"
    return f"{m.get('cpu') or 'unknown CPU'} {count if cores else '?c'} {isa_label(m.get('isa'))}"


def device_label(row: dict[str, Any]) -> str:
    """A short device name for tables: the GPU for cuda rows, else the machine identity (machine_identity)."""
    m = row.get("machine", {})
    if str(row.get("device", "cpu")).startswith("cuda") and m.get("gpu"):
        return m["gpu"]
    return machine_identity(m)


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
