"""The raw results store: append-only JSON lines, one row per measurement.

Every table, CSV and plot in results/ is derived from these rows by ``zoo report``; nothing is typed in.

A row is a flat-ish dict. ``make_row`` adds what makes a figure traceable: model, spec hash, weights
(sha256 or "random-init"), dataset and its sha256, settings, machine, library versions, git commit, time.

Writes are atomic per row: the whole line (ending in a newline) goes out in one ``os.write`` on an
``O_APPEND`` descriptor and is fsynced, so a crash or Ctrl-C leaves either the full line or nothing.
A file that does not end in a newline, or a line that is not a JSON object, is reported as corrupt with
its path and line number; zoo never rewrites or truncates a raw file.
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import math
import os
import platform
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any, Iterable, Iterator

SCHEMA_VERSION = 1
DEFAULT_RAW_DIR = Path("results/raw")
_LIBS = ("zoo", "torch", "torchvision", "timm", "transformers", "ultralytics", "onnxruntime", "numpy")


from .errors import UserError


class CorruptResultsError(UserError, ValueError):
    """A raw results file has a line that is not a complete JSON object; names file and line."""


def raw_dir() -> Path:
    """Where rows go: $ZOO_RESULTS_DIR, else results/raw under the current directory."""
    return Path(os.environ.get("ZOO_RESULTS_DIR", DEFAULT_RAW_DIR))


def raw_path(topic: str) -> Path:
    """The raw file of a topic, e.g. raw_path("speed") -> results/raw/speed.jsonl."""
    if not topic.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"bad topic name {topic!r}")
    return raw_dir() / f"{topic}.jsonl"


def _json_default(o: Any) -> Any:
    if hasattr(o, "item"):  # numpy / torch scalars
        return o.item()
    if isinstance(o, (Path, _dt.datetime)):
        return str(o)
    if isinstance(o, (set, tuple)):
        return list(o)
    raise TypeError(f"row value of type {type(o).__name__} is not JSON-serializable")


def _clean(v: Any) -> Any:
    """NaN/inf are not JSON: store them as None (and say so in the row's own fields if it matters)."""
    if isinstance(v, float) and not math.isfinite(v):
        return None
    if isinstance(v, dict):
        return {k: _clean(x) for k, x in v.items()}
    if isinstance(v, (list, tuple)):
        return [_clean(x) for x in v]
    return v


def check_appendable(path: str | os.PathLike) -> None:
    """Raise CorruptResultsError when ``path`` exists and its last line is incomplete. Harnesses call this
    before they measure, so a corrupt raw file is reported before minutes of work, not after."""
    path = Path(path)
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return
    if size:
        with open(path, "rb") as f:
            f.seek(size - 1)
            if f.read(1) != b"\n":
                raise CorruptResultsError(
                    f"{path}: last line is incomplete (no newline at end); fix or move the file aside, "
                    "zoo will not append to it"
                )


def append_row(path: str | os.PathLike, row: dict[str, Any]) -> None:
    """Append one row atomically. Refuses to append to a file that is already corrupt at its end."""
    path = Path(path)
    line = json.dumps(_clean(row), sort_keys=True, default=_json_default, allow_nan=False) + "\n"
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        check_appendable(path)
        data = line.encode()
        written = os.write(fd, data)
        if written != len(data):  # pragma: no cover - regular files write fully or raise
            raise OSError(f"short write to {path}")
        os.fsync(fd)
    finally:
        os.close(fd)


def append_rows(path: str | os.PathLike, rows: Iterable[dict[str, Any]]) -> None:
    for r in rows:
        append_row(path, r)


def iter_rows(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Rows of one file; a corrupt line raises CorruptResultsError naming the file and line number."""
    path = Path(path)
    with open(path, "rb") as f:
        data = f.read()
    if data and not data.endswith(b"\n"):
        n = data.count(b"\n") + 1
        raise CorruptResultsError(f"{path}:{n}: incomplete last line (no newline): a write was cut off")
    for i, raw in enumerate(data.split(b"\n")[:-1] if data else [], start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as e:
            raise CorruptResultsError(f"{path}:{i}: not valid JSON ({e.msg} at column {e.colno})") from None
        if not isinstance(row, dict):
            raise CorruptResultsError(f"{path}:{i}: a row must be a JSON object, got {type(row).__name__}")
        yield row


def read_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    path = Path(path)
    return list(iter_rows(path)) if path.exists() else []


def read_all(raw: str | os.PathLike | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every ``*.jsonl`` under ``raw`` (default: raw_dir()), keyed by topic (the file stem), sorted."""
    raw = Path(raw) if raw is not None else raw_dir()
    return {p.stem: read_rows(p) for p in sorted(raw.glob("*.jsonl"))}


# --- provenance --------------------------------------------------------------------------------------

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
        h.update(p.relative_to(root).as_posix().encode() + b"\0" + sha256_file(p).encode() + b"\n")
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
        import torch

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


@functools.cache
def git_commit() -> str | None:
    """HEAD of the zoo checkout (with "-dirty" when tracked files differ), or None outside a checkout."""
    here = Path(__file__).resolve().parent
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=10)
        if head.returncode != 0:
            return None
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"], cwd=here, capture_output=True, text=True, timeout=10
        )
        return head.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def make_row(
    kind: str,
    *,
    model: str | None = None,
    spec_hash: str | None = None,
    weights: str | None = None,
    dataset: str | None = None,
    dataset_sha256: str | None = None,
    settings: dict[str, Any] | None = None,
    metrics: dict[str, Any] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """A row with provenance. ``kind`` names the measurement ("speed", "eval", "study", "train", ...).

    ``weights`` is the loaded file's sha256 or "random-init"; ``metrics`` holds the measured figures.
    """
    row: dict[str, Any] = {
        "schema": SCHEMA_VERSION,
        "kind": kind,
        "model": model,
        "spec_hash": spec_hash,
        "weights": weights,
        "dataset": dataset,
        "dataset_sha256": dataset_sha256,
        "settings": settings or {},
        "metrics": metrics or {},
        "machine": machine_info(),
        "versions": library_versions(),
        "commit": git_commit(),
        "time": _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds"),
    }
    row.update(extra)
    return row
