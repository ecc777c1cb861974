"""Issue 26: the restricted unpickler and the weights loader refuse hostile archives with one line.

Before: a stand-in never given its state gave AttributeError, a zip whose local and central names differ
gave BadZipFile, a module cycle gave RecursionError, an overlapping-entry zip was expanded record by record
before any refusal, a cut-off torch zip gave torch's RuntimeError, and zoo's own refusal quoted torch's
advice to re-run with weights_only=False."""

from __future__ import annotations

import os
import pickle
import struct
import zipfile
import zlib
from pathlib import Path

import pytest
import torch
from helpers import torch_zip

import zoo.models.yolov5_nets as nets
from zoo.errors import UserError
from zoo.weights import load_state_dict
from zoo.weights.unpickle import UnsafeCheckpoint, load_restricted, module_state_dict


def one_line_refusal(excinfo) -> str:
    msg = str(excinfo.value)
    assert "\n" not in msg and "weights_only" not in msg and "Re-running" not in msg, msg
    return msg


def _u(s: str) -> bytes:  # BINUNICODE
    return b"X" + struct.pack("<I", len(s)) + s.encode()


MODEL = b"cmodels.yolo\nModel\n"


def test_a_stand_in_never_built_is_refused(tmp_path):
    """{'model': models.yolo.Model.__new__()} with no BUILD: before, read_checkpoint raised AttributeError."""
    pkl = b"\x80\x02}" + _u("model") + MODEL + b")\x81s."
    path = torch_zip(tmp_path / "nobuild.pt", pkl)
    with pytest.raises(UnsafeCheckpoint, match="no state") as e:
        nets.read_checkpoint(path)
    one_line_refusal(e)


def test_a_module_cycle_is_refused(tmp_path):
    """A Model whose _modules holds itself: before, module_state_dict recursed until RecursionError."""
    pkl = (b"\x80\x02" + MODEL + b")\x81q\x00}" + _u("_modules") + b"}" + _u("m") + b"h\x00ssb.")
    path = torch_zip(tmp_path / "cycle.pt", pkl)
    with pytest.raises(UnsafeCheckpoint, match="refers back") as e:
        module_state_dict(load_restricted(path, nets.STAND_INS))
    one_line_refusal(e)


def test_local_and_central_names_that_differ_are_refused(tmp_path):
    path = torch_zip(tmp_path / "names.pt", b"\x80\x02}.")
    data = path.read_bytes()
    i = data.index(b"archive/data.pkl")  # the first: the local header's copy
    path.write_bytes(data[:i] + b"archive/dat4.pkl" + data[i + 16:])
    with pytest.raises(UserError, match="cannot be read") as e:
        load_restricted(path, ())
    one_line_refusal(e)


def _overlapping_zip(path: Path, names: list[str], tail: bytes) -> Path:
    """Stored records laid inside one another: record i's bytes are every later local header and record.
    Each is a valid record (name, CRC), so a reader expands the file's bytes once per record."""
    blobs: list[tuple[str, bytes, bytes]] = []  # name, local header, data
    data = tail
    for name in reversed(names):
        crc = zlib.crc32(data)
        lh = struct.pack("<IHHHHHIIIHH", 0x04034B50, 20, 0, 0, 0, 0, crc, len(data), len(data), len(name), 0)
        blobs.append((name, lh + name.encode(), data))
        data = lh + name.encode() + data
    blobs.reverse()
    body, offset, central = data, 0, b""
    for name, lh, d in blobs:
        crc = zlib.crc32(d)
        central += struct.pack("<IHHHHHHIIIHHHHHII", 0x02014B50, 20, 20, 0, 0, 0, 0, crc, len(d), len(d),
                               len(name), 0, 0, 0, 0, 0, offset) + name.encode()
        offset += len(lh)
    end = struct.pack("<IHHHHIIH", 0x06054B50, 0, 0, len(blobs), len(blobs), len(central), len(body), 0)
    path.write_bytes(body + central + end)
    return path


def test_an_overlapping_entry_zip_is_refused_before_anything_is_expanded(tmp_path, monkeypatch):
    n = 40
    names = [f"archive/data/{k}" for k in range(n)] + ["archive/data.pkl"]

    class Key:
        def __init__(self, k):
            self.k = k

    class P(pickle.Pickler):
        def persistent_id(self, obj):
            return ("storage", torch.ByteStorage, str(obj.k), "cpu", 0) if isinstance(obj, Key) else None

    import io
    buf = io.BytesIO()
    P(buf, protocol=2).dump([Key(k) for k in range(n)])
    path = _overlapping_zip(tmp_path / "bomb.pt", names, buf.getvalue() + b"\x00" * 200_000)
    expanded = []
    real_read = zipfile.ZipFile.read
    monkeypatch.setattr(zipfile.ZipFile, "read", lambda self, name, pwd=None: expanded.append(
        len(r := real_read(self, name, pwd))) or r)
    with pytest.raises(UnsafeCheckpoint, match="overlap") as e:
        load_restricted(path, ())
    one_line_refusal(e)
    assert sum(expanded) == 0  # refused from the directory alone
    with pytest.raises(UnsafeCheckpoint, match="overlap"):
        load_state_dict(path)  # the plain loader checks the same before torch reads it


def test_a_cut_off_torch_zip_is_one_line(tmp_path):
    ok = tmp_path / "ok.pt"
    torch.save({"w": torch.zeros(4)}, ok)
    cut = tmp_path / "cut.pt"
    cut.write_bytes(ok.read_bytes()[: ok.stat().st_size // 2])
    with pytest.raises(UserError, match="cut off or damaged") as e:
        load_state_dict(cut)
    one_line_refusal(e)


class _Runs:
    def __reduce__(self):
        return os.getcwd, ()


def test_zoo_never_quotes_torchs_weights_only_false_advice(tmp_path):
    path = tmp_path / "code.pt"
    with zipfile.ZipFile(path, "w") as z:
        z.writestr("archive/data.pkl", pickle.dumps({"a": _Runs()}, protocol=2))
        z.writestr("archive/version", "3\n")
    with pytest.raises(UserError, match="zoo runs no pickled code") as e:
        load_state_dict(path)
    msg = one_line_refusal(e)
    assert "getcwd" in msg  # what the file asked for is still said
