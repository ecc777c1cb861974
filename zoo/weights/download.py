"""Streamed, verified writes: a file appears under its final name only once its sha256 matches.

The bytes go to a temporary file in the destination folder (so the final rename is atomic, same
file system), hashed while written. On a hash mismatch the temporary file is kept aside as
``<file>.corrupt-<time>`` for inspection; on any other failure (network error, Ctrl-C) the partial
file is removed. Either way the destination is never half-written.
"""

from __future__ import annotations

import hashlib
import os
import sys
import urllib.request
from importlib.metadata import version
from pathlib import Path
from typing import BinaryIO

from ..io import atomic_open, atomic_write_text
from .integrity import CHUNK, WeightsHashMismatch, aside_name, hash_matches

SIDECAR_SUFFIX = ".sha256"  # written beside a file whose spec pins no hash (trust on first download)
NETWORK_TIMEOUT_S = 10.0  # seconds of silence (connecting, or between two reads) before a download gives up


def _progress(total: int | None, desc: str):
    """A tqdm bar on a terminal, else a no-op object with update()/close()."""
    if sys.stderr.isatty() and not os.environ.get("TQDM_DISABLE"):
        from tqdm import tqdm  # deferred: only a terminal download shows a bar

        return tqdm(total=total, unit="B", unit_scale=True, unit_divisor=1024, desc=desc, leave=False)

    class _Null:
        def update(self, n):
            pass

        def close(self):
            pass

    return _Null()


def write_verified(stream: BinaryIO, dest: Path, expected: str, *, what: str, total: int | None = None) -> str:
    """Copy ``stream`` to ``dest`` through a same-folder temp file (zoo.io), hashing as it goes; returns the sha256.

    ``expected``: full sha256 or a published prefix; "" pins nothing (the digest is then written to
    ``<dest>.sha256`` so later checks have something to compare against).
    Raises WeightsHashMismatch (temp file kept aside, ``dest`` untouched) when the hash differs.
    """
    h = hashlib.sha256()
    bar = _progress(total, dest.name)
    size = 0
    try:
        with atomic_open(dest, "wb") as f:
            while chunk := stream.read(CHUNK):
                f.write(chunk)
                h.update(chunk)
                size += len(chunk)
                bar.update(len(chunk))
            if total is not None and size != total:  # a cut connection: not a bad file, just an unfinished one
                raise ConnectionError(f"connection closed after {size} of {total} bytes")
            digest = h.hexdigest()
            if expected and not hash_matches(digest, expected):
                f.flush()
                kept = aside_name(dest)
                os.replace(f.name, kept)  # atomic_open then finds no temp file to remove; dest untouched
                raise WeightsHashMismatch(
                    f"{what}: sha256 {digest} does not match the pinned {expected}; not installed, kept aside as {kept}"
                )
            if not expected:
                atomic_write_text(dest.with_name(dest.name + SIDECAR_SUFFIX), digest + "\n")
    finally:
        bar.close()
    return digest


def download_url(url: str, dest: Path, expected: str, *, timeout: float = NETWORK_TIMEOUT_S) -> str:
    """Download ``url`` to ``dest`` (see ``write_verified``); returns the sha256. Network errors propagate
    as OSError (urllib.error.URLError is one; a silent network: TimeoutError after ``timeout`` seconds, which
    urllib applies to the connect and to each read)."""
    req = urllib.request.Request(url, headers={"User-Agent": f"zoo/{version('zoo')}"})
    with urllib.request.urlopen(req, timeout=timeout) as resp:
        length = resp.headers.get("Content-Length")
        return write_verified(resp, dest, expected, what=url, total=int(length) if length else None)


def copy_verified(src: Path, dest: Path, expected: str, *, what: str) -> str:
    """Copy a local file into a cache with the same guarantees as a download."""
    with open(src, "rb") as f:
        return write_verified(f, dest, expected, what=what, total=src.stat().st_size)


__all__ = ["download_url", "write_verified", "copy_verified", "SIDECAR_SUFFIX", "NETWORK_TIMEOUT_S"]
