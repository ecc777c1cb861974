"""The raw results store: append-only JSON lines, one row per measurement, one file per topic.

Guarantees, and how they are kept:
- A row on disk is whole or absent: the line (ending in a newline) goes out in one ``os.write`` on an
  ``O_APPEND`` descriptor, then fsync. Free space is checked first; a failed or short write (full disk) is
  truncated back to the old size before the error. A line cut anyway (SIGKILL inside the write, power
  loss) is a torn tail: the next append, under the lock, moves its bytes to a dated quarantine file beside
  the raw file with one warning, and appends go on; readers skip it with a warning (recovery.py).
- Concurrent writers never lose rows: check-and-append runs under a file lock (``<file>.lock`` beside the
  raw file, via ``filelock``; the kernel releases it when its holder dies); the check that the file is
  whole happens under that lock. fsync runs after the lock is released, so writers' fsyncs overlap.
- A damaged file is never appended to and never rewritten: before the first append of a process the
  whole file is read and checked (JSON, checksum, schema); later appends check only what other writers
  added since (keyed by size and mtime, with the bytes before the verified end compared). A bad line is
  refused with ``file:line``.
- Every row carries ``checksum`` (16 hex digits of the sha256 of the row's canonical JSON without it), so
  a changed byte inside a value is found on read, not only broken JSON.
- Rows are validated against their kind's schema (zoo.results.schema) when written and when read.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import hashlib
import json
import math
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import filelock

from ..errors import UserError
from . import recovery
from .location import default_raw_dir
from .provenance import git_commit, library_versions, machine_info
from .schema import SCHEMA_VERSION, RowSchemaError, validate
from .upgrade import needs_machine_upgrade, upgrade_machine, upgrade_row

DEFAULT_RAW_DIR = Path("results/raw")
CHECKSUM = "checksum"
LOCK_TIMEOUT_S = 120
_TAIL = 256  # bytes before the verified end compared on an incremental check


class CorruptResultsError(UserError, ValueError):
    """A raw results file has a line that is not a whole, valid row; the message names file and line."""


def raw_dir() -> Path:
    """Where rows go: $ZOO_RESULTS_DIR, else the zoo checkout's results/raw, else the user's results folder
    (zoo.results.location)."""
    return default_raw_dir()


def raw_path(topic: str) -> Path:
    """The raw file of a topic, e.g. raw_path("speed") -> results/raw/speed.jsonl."""
    if not topic.replace("_", "").replace("-", "").isalnum():
        raise ValueError(f"bad topic name {topic!r}")
    return raw_dir() / f"{topic}.jsonl"


# --- encoding -------------------------------------------------------------------------------------------

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


def _canonical(row: dict[str, Any]) -> str:
    return json.dumps(row, sort_keys=True, allow_nan=False)


def _checksum(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()[:16]


_MARK = f', "{CHECKSUM}": "'.encode()
_TAIL_LEN = len(_MARK) + 16 + 2  # , "checksum": "<16 hex>"}


def to_plain(row: dict[str, Any]) -> dict[str, Any]:
    """The row as plain JSON values (what reading it back gives): NaN -> None, tuples -> lists, ..."""
    return json.loads(json.dumps(_clean(row), default=_json_default, allow_nan=False))


def encode_row(row: dict[str, Any]) -> bytes:
    """One raw-file line for a validated row: its canonical JSON (sorted keys) with ``"checksum"`` added as
    the last key, over the bytes of the row without it; ends in a newline."""
    plain = to_plain(row)
    plain.pop(CHECKSUM, None)
    validate(plain)
    body = _canonical(plain).encode()
    return body[:-1] + _MARK + _checksum(body).encode() + b'"}\n'


def _checked_body(raw: bytes) -> bool | None:
    """True: the line ends in a checksum that matches its bytes; None: it has no checksum; raises ValueError
    when the checksum does not match."""
    if len(raw) <= _TAIL_LEN or raw[-_TAIL_LEN:-18] != _MARK or not raw.endswith(b'"}'):
        return None
    if _checksum(raw[:-_TAIL_LEN] + b"}").encode() != raw[-18:-2]:
        raise ValueError("checksum mismatch: the line was changed after zoo wrote it")
    return True


def _reject_constant(name: str) -> None:
    raise ValueError(f"{name} is not JSON")


def _parse(raw: bytes) -> dict[str, Any]:
    try:
        row = json.loads(raw.decode("utf-8"), parse_constant=_reject_constant)
    except UnicodeDecodeError as e:
        raise ValueError(f"not UTF-8 ({e.reason} at byte {e.start})") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"not valid JSON ({e.msg} at column {e.colno})") from None
    except RecursionError:
        raise ValueError("not valid JSON (nested too deep)") from None
    if not isinstance(row, dict):
        raise ValueError(f"a row must be a JSON object, got {type(row).__name__}")
    return row


def decode_line(raw: bytes) -> dict[str, Any]:
    """A raw-file line -> the row (schema 2, checksum checked and removed). Raises ValueError (one line)."""
    checked = _checked_body(raw)
    row = _parse(raw)
    stored = row.pop(CHECKSUM, None)
    if checked is None and (stored is not None or row.get("schema") != 1):
        raise ValueError(f"field {CHECKSUM!r}: missing or not at the end of the line (every row since schema 2 "
                         "ends with it)")
    if row.get("schema") == 1:
        row = upgrade_row(row)
    elif needs_machine_upgrade(row):
        row = upgrade_machine(row)
    validate(row)
    return row


def _check_line(raw: bytes) -> None:
    """The cheap check before an append: a matching checksum says the line is what zoo wrote (validated
    then); a line without one must decode (a schema-1 row)."""
    if _checked_body(raw) is None:
        decode_line(raw)


# --- reading --------------------------------------------------------------------------------------------

def _torn_tail(data: bytes) -> int:
    """Offset where an incomplete last line (no newline) starts in ``data``; len(data) when there is none."""
    if not data or data.endswith(b"\n"):
        return len(data)
    return data.rfind(b"\n") + 1


def _is_whole_row(raw: bytes) -> bool:
    """A torn tail that is a row zoo wrote, whole but for its newline (its checksum matches)."""
    try:
        return bool(_checked_body(raw)) and isinstance(decode_line(raw), dict)
    except (ValueError, RowSchemaError):
        return False


def _rows_in(path: Path, data: bytes, first_line: int = 1, decode=decode_line) -> Iterator[Any]:
    """Rows of ``data`` (bytes of ``path`` from a line start, whole lines); CorruptResultsError names file:line."""
    for i, raw in enumerate(data.split(b"\n")[:-1] if data else [], start=first_line):
        if not raw.strip():
            continue
        try:
            yield decode(raw)
        except (ValueError, RowSchemaError) as e:
            raise CorruptResultsError(f"{path}:{i}: {e}") from None


def iter_rows(path: str | os.PathLike) -> Iterator[dict[str, Any]]:
    """Rows of one file; a bad line raises CorruptResultsError naming the file, line and field."""
    path = Path(path)
    with open(path, "rb") as f:
        data = f.read()
    cut = _torn_tail(data)
    if cut < len(data):  # a writer died mid-line (or is writing now): not a row yet; reading changes nothing
        n = 1 + data.count(b"\n")
        recovery.warn(f"{path}:{n}: incomplete last line ({len(data) - cut} bytes, no newline) skipped: a write "
                      "was cut off; the next append moves it to a quarantine file")
    yield from _rows_in(path, data[:cut])


def read_rows(path: str | os.PathLike) -> list[dict[str, Any]]:
    path = Path(path)
    return list(iter_rows(path)) if path.exists() else []


def read_all(raw: str | os.PathLike | None = None) -> dict[str, list[dict[str, Any]]]:
    """Every ``*.jsonl`` under ``raw`` (default: raw_dir()), keyed by topic (the file stem), sorted."""
    raw = Path(raw) if raw is not None else raw_dir()
    return {p.stem: read_rows(p) for p in sorted(raw.glob("*.jsonl"))}


def results_health(raw: str | os.PathLike | None = None) -> list[dict[str, Any]]:
    """What ``zoo verify --results`` lists: each raw file (ok | corrupt | torn) and each quarantine file."""
    raw = Path(raw) if raw is not None else raw_dir()
    return recovery.results_health(raw, lambda p: list(_rows_in(p, p.read_bytes()))) if raw.is_dir() else []


# --- checking and appending -------------------------------------------------------------------------------

@dataclass(frozen=True)
class _Verified:
    ident: tuple[int, int]  # st_dev, st_ino
    size: int
    mtime_ns: int
    lines: int
    tail: bytes


_VERIFIED: dict[str, _Verified] = {}


@contextlib.contextmanager
def _lock(path: Path) -> Iterator[None]:
    """Hold ``<path>.lock`` (an flock, released by the kernel if the holder dies)."""
    lock = filelock.FileLock(str(path.with_name(path.name + ".lock")), timeout=LOCK_TIMEOUT_S)
    try:
        lock.acquire(poll_interval=0.002)  # the default 50 ms poll would serialize writers at 20 rows/s
    except filelock.Timeout:
        raise UserError(f"{path}: another process has held its lock for {LOCK_TIMEOUT_S} s; try again") from None
    try:
        yield
    finally:
        lock.release()


def _tail(f, end: int) -> bytes:
    f.seek(max(0, end - _TAIL))
    return f.read(min(end, _TAIL))


def _check_locked(path: Path) -> None:
    """Check the whole file (or what was appended since the last check in this process); hold the lock."""
    key = os.path.realpath(path)
    try:
        st = os.stat(path)
    except FileNotFoundError:
        _VERIFIED.pop(key, None)
        return
    seen = _VERIFIED.get(key)
    ident = (st.st_dev, st.st_ino)
    if seen and seen.ident == ident and (seen.size, seen.mtime_ns) == (st.st_size, st.st_mtime_ns):
        return
    with open(path, "rb") as f:
        start, lines = 0, 0
        if seen and seen.ident == ident and st.st_size > seen.size and _tail(f, seen.size) == seen.tail:
            start, lines = seen.size, seen.lines
        f.seek(start)
        data = f.read(st.st_size - start)
    cut = _torn_tail(data)
    for _ in _rows_in(path, data[:cut], first_line=lines + 1, decode=_check_line):
        pass
    if cut < len(data):  # under the lock, so its writer is gone: complete it or move it aside, check again
        recovery.repair_torn_tail(path, start + cut, data[cut:], _is_whole_row)
        _VERIFIED.pop(key, None)
        return _check_locked(path)
    with open(path, "rb") as f:
        _remember(key, f, ident, start + cut, lines + data.count(b"\n"), st.st_mtime_ns)


def _remember(key: str, f, ident: tuple[int, int], size: int, lines: int, mtime_ns: int) -> None:
    _VERIFIED[key] = _Verified(ident, size, mtime_ns, lines, _tail(f, size))


def _check_writable(path: Path) -> None:
    if path.exists() and not path.is_file():
        raise UserError(f"{path} is not a file: zoo cannot record rows in it")
    target = path if path.exists() else path.parent
    while not target.exists():
        target = target.parent
    if target != path and not target.is_dir():
        raise UserError(f"{target} is not a folder: zoo cannot record rows in {path}")
    if not os.access(target, os.W_OK):
        raise UserError(f"{target} is not writable: zoo cannot record rows in {path}")


def check_appendable(path: str | os.PathLike) -> None:
    """Raise before any work when ``path`` cannot take a row: a damaged line anywhere (CorruptResultsError
    with file:line), or no write permission (UserError). Harnesses call this before they measure."""
    path = Path(path)
    _check_writable(path)
    recovery.check_space(path, recovery.MIN_FREE_BYTES)
    if not path.exists():
        return
    with _lock(path):
        _check_locked(path)


def append_row(path: str | os.PathLike, row: dict[str, Any]) -> None:
    """Validate ``row`` and append it as one line, under the file's lock, after checking the file is whole."""
    path = Path(path)
    line = encode_row(row)
    _check_writable(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = -1
    try:
        with _lock(path):
            _check_locked(path)
            recovery.check_space(path, len(line))
            fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            recovery.append_or_roll_back(fd, path, line)
            _remember_append(path, os.fstat(fd))
        try:  # outside the lock: durability does not need it, and writers' fsyncs then overlap
            os.fsync(fd)
        except OSError as e:
            raise UserError(f"{path}: the row was appended but could not be flushed to disk ({e.strerror or e}); "
                            "check the disk") from None
    finally:
        if fd >= 0:
            os.close(fd)


def _remember_append(path: Path, st: os.stat_result) -> None:
    """After our own append (checked file + one valid row), the file up to st.st_size is verified."""
    key = os.path.realpath(path)
    seen = _VERIFIED.get(key)
    with open(path, "rb") as f:
        _remember(key, f, (st.st_dev, st.st_ino), st.st_size, (seen.lines if seen else 0) + 1, st.st_mtime_ns)


# --- making rows --------------------------------------------------------------------------------------------

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
    """A validated row with provenance. ``kind`` is a row kind of zoo.results.schema ("speed", "eval", ...);
    ``weights`` is the loaded file's sha256 or "random-init"; ``metrics`` holds the measured figures; the
    other fields of the kind go in ``extra``. Rows built with schema-1 field names are upgraded first."""
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
    row = upgrade_row(row)
    validate(to_plain(row))
    return row
