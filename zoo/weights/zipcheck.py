"""Zip checks of a torch checkpoint before anything reads its records (torch-free, so the weight store can run
them before it imports torch): records that overlap (the overlapping-entry bomb), records larger unpacked than
stored, records adding up to more than the file. Each refusal is one line (``UnsafeCheckpoint``)."""

from __future__ import annotations

import itertools
import zipfile
from pathlib import Path

from ..errors import UserError


class UnsafeCheckpoint(UserError):
    """The checkpoint's pickle asks for something the restricted unpickler does not allow."""


def check_entries(path: Path, infos: list[zipfile.ZipInfo]) -> None:
    """Refuse before reading anything: records that overlap (one byte range listed as several records, the
    "overlapping-entry" bomb) or that add up to more bytes than the file has. Stored records are their own
    size, so no honest archive exceeds its file."""
    size = path.stat().st_size
    total = 0
    for a, b in itertools.pairwise(infos):
        if a.header_offset + a.compress_size > b.header_offset:
            raise UnsafeCheckpoint(f"{path}: records {a.filename} and {b.filename} overlap in the file (a zip bomb "
                                   "or a damaged archive); not loaded")
    for i in infos:
        if i.compress_type == zipfile.ZIP_STORED and i.file_size != i.compress_size:
            raise UnsafeCheckpoint(f"{path}: record {i.filename} is larger unpacked than stored; not loaded")
        total += i.compress_size
    if total > size:
        raise UnsafeCheckpoint(f"{path}: its records add up to {total} bytes, more than the file's {size}; not loaded")


def check_zip_bounds(path: str | Path) -> None:
    """For any torch zip checkpoint, before torch reads it: the central directory can be read and the records
    fit the file (no overlapping-entry bomb, no stored record larger than stored). One line otherwise."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as zf:
            listed = sorted(zf.infolist(), key=lambda i: i.header_offset)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise UserError(f"{path} is not a readable torch zip checkpoint ({e}); it may be cut off or damaged") from None
    check_entries(path, listed)
