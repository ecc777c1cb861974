"""Hashes, the two weight errors, and moving a bad file aside (never overwriting or deleting it)."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

from ..errors import UserError
from ..results.provenance import sha256_file as file_sha256

CHUNK = 1 << 20  # bytes read per hash update

# path -> (size, mtime_ns, sha256) of the last full hash, so a model can name its weights without
# hashing the file twice. Verification itself always re-hashes (see store.ensure_weights).
_LAST_HASH: dict[str, tuple[int, int, str]] = {}


class WeightsUnavailable(UserError):
    """The weight file is not cached and cannot be downloaded now (offline, or the network failed)."""


class WeightsHashMismatch(UserError):
    """A weight file's sha256 is not the one the spec pins; the file was not loaded."""


class WeightsUnpinned(UserError):
    """A weight file zoo has no hash to check against; not loaded as pretrained without the opt-in."""


def sha256_file(path: str | Path) -> str:
    """Full sha256 hex digest of a file (zoo.results' hashing), remembered by size and mtime for known_sha256."""
    path = Path(path)
    digest = file_sha256(path, CHUNK)
    st = path.stat()
    _LAST_HASH[str(path)] = (st.st_size, st.st_mtime_ns, digest)
    return digest


def git_blob_sha1(path: str | Path) -> str:
    """The git object id of a file (sha1 of ``b"blob <size>\\0" + bytes``): the name the HF cache gives a
    small, non-LFS hub file (config, tokenizer) in ``blobs/``, i.e. the id the hub itself publishes."""
    path = Path(path)
    h = hashlib.sha1(f"blob {path.stat().st_size}\0".encode(), usedforsecurity=False)
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return h.hexdigest()


def known_sha256(path: str | Path) -> str:
    """sha256 of ``path``: reuses the last full hash when size and mtime are unchanged, else hashes."""
    path = Path(path)
    st = path.stat()
    hit = _LAST_HASH.get(str(path))
    if hit and hit[:2] == (st.st_size, st.st_mtime_ns):
        return hit[2]
    return sha256_file(path)


def hash_matches(digest: str, expected: str) -> bool:
    """Full-digest equality, or a prefix match when only a prefix is published (torchvision puts the
    first 8+ hex digits of the sha256 in its file names). Shorter than 8 hex digits never matches."""
    expected = expected.lower().strip()
    if len(expected) < 8 or any(c not in "0123456789abcdef" for c in expected):
        return False
    return digest.lower().startswith(expected) if len(expected) < 64 else digest.lower() == expected


def aside_name(path: Path) -> Path:
    """``<file>.corrupt-<UTC time>`` beside ``path``, numbered if that name is taken."""
    stamp = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    cand = path.with_name(f"{path.name}.corrupt-{stamp}")
    n = 1
    while cand.exists() or cand.is_symlink():
        cand = path.with_name(f"{path.name}.corrupt-{stamp}-{n}")
        n += 1
    return cand


def move_aside(path: Path) -> Path:
    """Rename a bad file to ``<file>.corrupt-<time>`` and return the new path; nothing is deleted.

    A symlink (the HF cache links snapshots/<rev>/<file> -> blobs/<hash>) has its target moved aside
    and the now-dangling link removed (a link holds no data), so the library re-downloads cleanly.
    """
    if path.is_symlink():
        target = path.resolve()
        dest = aside_name(target)
        os.rename(target, dest)
        path.unlink()
        return dest
    dest = aside_name(path)
    os.rename(path, dest)
    return dest
