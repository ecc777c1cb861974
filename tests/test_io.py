"""zoo.io: the one atomic-write helper. A failed write leaves the old file whole and no temp file behind."""

from __future__ import annotations

import os
import stat

import pytest

from zoo.io import (
    atomic_open,
    atomic_write_bytes,
    atomic_write_lines,
    atomic_write_text,
)


def test_writes_and_replaces(tmp_path):
    p = tmp_path / "sub" / "a.txt"
    atomic_write_text(p, "one\n")
    assert p.read_text() == "one\n"
    atomic_write_bytes(p, b"two")
    assert p.read_bytes() == b"two"
    atomic_write_lines(p, ['{"a": 1}', '{"b": 2}'])
    assert p.read_text() == '{"a": 1}\n{"b": 2}\n'
    assert sorted(os.listdir(p.parent)) == ["a.txt"]


def test_failure_keeps_the_old_file_and_leaves_no_temp(tmp_path):
    p = tmp_path / "table.md"
    p.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(p, "w") as f:
            f.write("half of the new")
            raise RuntimeError("crash mid-write")
    assert p.read_text() == "old\n"
    assert os.listdir(tmp_path) == ["table.md"]


def test_mode_is_a_plain_files_not_mkstemps(tmp_path):
    p = tmp_path / "x.csv"
    atomic_write_text(p, "a,b\n")
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(p.stat().st_mode) == 0o666 & ~mask


def test_only_whole_file_modes(tmp_path):
    with pytest.raises(ValueError, match="whole files"):
        with atomic_open(tmp_path / "x", "a"):
            pass


def test_temp_file_name_is_its_path(tmp_path):
    """A caller may move a rejected temp file aside (zoo.weights keeps a mismatched download for inspection)."""
    p = tmp_path / "w.bin"
    with pytest.raises(ValueError):
        with atomic_open(p) as f:
            f.write(b"bad")
            f.flush()
            os.replace(f.name, tmp_path / "kept.bin")
            raise ValueError("hash mismatch")
    assert (tmp_path / "kept.bin").read_bytes() == b"bad" and not p.exists()
