"""A restricted unpickler for torch zip checkpoints that name classes zoo must never import.

Some published checkpoints (the YOLOv5 release files) are full pickles of a model object: they name the
authors' own classes (``models.yolo.Model``, ``models.common.Conv``, ...), so ``torch.load(weights_only=True)``
refuses them and ``weights_only=False`` would import and run those classes. ``load_restricted`` reads such a
file without running anything from it:

- Globals: ``find_class`` answers only from an explicit table. Tensor rebuilding (``torch._utils.
  _rebuild_tensor_v2`` / ``_rebuild_parameter`` and the ``torch.<Dtype>Storage`` types) maps to zoo's own
  functions here, which only view the bytes read from the archive; ``collections.OrderedDict`` and ``set``
  are containers; each name in ``stand_ins`` becomes an inert ``Stub`` class that records the pickled state
  and has no behaviour. Any other global is a one-line ``UnsafeCheckpoint`` (a UserError), raised before
  anything named by it is imported or called.
- Opcodes: the pure-Python unpickler with only data opcodes; BUILD applies state to a ``Stub`` only (never
  to a tensor, dict or list, so no ``__setstate__`` of any real class runs); the extension-registry opcodes
  are gone.
- Storages: each ``archive/data/<key>`` record is read from the zip (stored, not compressed, as torch writes
  it) into a tensor of the storage's dtype; sizes are checked.

``module_state_dict(stub)`` then lists a pickled ``nn.Module`` tree's parameters and persistent buffers by
their ``state_dict`` names, as torch would, from the recorded ``_parameters``/``_buffers``/``_modules``.
"""

from __future__ import annotations

import collections
import io
import pickle
import zipfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from .zipcheck import UnsafeCheckpoint, check_entries, check_zip_bounds  # noqa: F401  (re-exported)

# Opcodes a torch checkpoint pickle is made of (protocol 2; torch.save's default). Anything else is refused.
_DATA_OPCODES = (
    pickle.PROTO, pickle.STOP, pickle.MARK, pickle.POP, pickle.POP_MARK, pickle.DUP,
    pickle.NONE, pickle.NEWTRUE, pickle.NEWFALSE, pickle.INT, pickle.BININT, pickle.BININT1, pickle.BININT2,
    pickle.LONG, pickle.LONG1, pickle.LONG4, pickle.FLOAT, pickle.BINFLOAT,
    pickle.STRING, pickle.BINSTRING, pickle.SHORT_BINSTRING, pickle.BINBYTES, pickle.SHORT_BINBYTES,
    pickle.UNICODE, pickle.BINUNICODE, pickle.SHORT_BINUNICODE,
    pickle.EMPTY_TUPLE, pickle.TUPLE, pickle.TUPLE1, pickle.TUPLE2, pickle.TUPLE3,
    pickle.EMPTY_LIST, pickle.LIST, pickle.APPEND, pickle.APPENDS,
    pickle.EMPTY_DICT, pickle.DICT, pickle.SETITEM, pickle.SETITEMS,
    pickle.GET, pickle.BINGET, pickle.LONG_BINGET, pickle.PUT, pickle.BINPUT, pickle.LONG_BINPUT,
    pickle.GLOBAL, pickle.REDUCE, pickle.NEWOBJ, pickle.BINPERSID,
)


class Stub:
    """An inert stand-in for a pickled class: keeps the state the pickle gives it, does nothing else."""

    qualname = "?"

    def __init__(self):  # NEWOBJ calls __new__ only; a REDUCE with arguments fails here
        self.state: Any = None

    def __repr__(self) -> str:
        return f"<stub {self.qualname}>"


class _StorageType:
    """What ``torch.<Dtype>Storage`` resolves to: only its dtype is used."""

    def __init__(self, qualname: str, dtype: torch.dtype):
        self.qualname, self.dtype = qualname, dtype


_STORAGES = {"HalfStorage": torch.float16, "FloatStorage": torch.float32, "DoubleStorage": torch.float64,
             "LongStorage": torch.int64, "IntStorage": torch.int32, "ShortStorage": torch.int16,
             "CharStorage": torch.int8, "ByteStorage": torch.uint8, "BoolStorage": torch.bool,
             "BFloat16Storage": torch.bfloat16}


def _rebuild_tensor_v2(storage, offset, size, stride, requires_grad=False, hooks=None, metadata=None):
    """``torch._utils._rebuild_tensor_v2`` for plain CPU tensors: a strided view of the storage's bytes."""
    if not isinstance(storage, torch.Tensor) or hooks or metadata:
        raise UnsafeCheckpoint("a tensor in the checkpoint has backward hooks, metadata or no storage; not loaded")
    try:
        return storage.as_strided(tuple(size), tuple(stride), int(offset))
    except (RuntimeError, TypeError, ValueError) as e:
        first = str(e).splitlines()[0] if str(e) else type(e).__name__
        raise UnsafeCheckpoint(f"a tensor in the checkpoint does not fit its storage ({first})") from None


def _rebuild_parameter(data, requires_grad=False, hooks=None):
    if not isinstance(data, torch.Tensor) or hooks:
        raise UnsafeCheckpoint("a parameter in the checkpoint is not a plain tensor; not loaded")
    return data


def _set(items=()):
    return set(items)


def _globals(stand_ins: Iterable[str]) -> dict[str, Any]:
    table: dict[str, Any] = {
        "collections.OrderedDict": collections.OrderedDict,
        "__builtin__.set": _set, "builtins.set": _set,
        "torch._utils._rebuild_tensor_v2": _rebuild_tensor_v2,
        "torch._utils._rebuild_parameter": _rebuild_parameter,
    }
    table.update({f"torch.{n}": _StorageType(f"torch.{n}", dt) for n, dt in _STORAGES.items()})
    for q in stand_ins:
        table[q] = type(q.rsplit(".", 1)[-1], (Stub,), {"qualname": q})
    return table


def _load_build(self):
    state = self.stack.pop()
    inst = self.stack[-1]
    if not isinstance(inst, Stub):
        raise UnsafeCheckpoint(f"the pickle sets state on a {type(inst).__name__}, which only stand-ins accept")
    inst.state = state


class _Unpickler(pickle._Unpickler):  # the pure-Python unpickler: its opcode table can be narrowed
    dispatch = {op[0]: pickle._Unpickler.dispatch[op[0]] for op in _DATA_OPCODES}
    dispatch[pickle.BUILD[0]] = _load_build

    def __init__(self, data: bytes, table: dict[str, Any], read_record, where: str):
        super().__init__(io.BytesIO(data))
        self.table, self.read_record, self.where = table, read_record, where
        self.storages: dict[str, torch.Tensor] = {}

    def find_class(self, module: str, name: str):
        found = self.table.get(f"{module}.{name}")
        if found is None:
            raise UnsafeCheckpoint(f"{self.where}: its pickle names {module}.{name}, which zoo does not allow; "
                                   "not loaded")
        return found

    def persistent_load(self, pid):
        if not (isinstance(pid, tuple) and len(pid) == 5 and pid[0] == "storage" and isinstance(pid[1], _StorageType)):
            raise UnsafeCheckpoint(f"{self.where}: unexpected persistent id {str(pid)[:60]}; not loaded")
        _, stype, key, _location, numel = pid
        key = str(key)
        if key not in self.storages:
            raw = self.read_record(key)
            itemsize = torch.empty((), dtype=stype.dtype).element_size()
            if len(raw) != int(numel) * itemsize:
                raise UnsafeCheckpoint(f"{self.where}: storage {key} holds {len(raw)} bytes, not {numel} x {itemsize}")
            empty = torch.empty(0, dtype=stype.dtype)
            self.storages[key] = torch.frombuffer(bytearray(raw), dtype=stype.dtype) if raw else empty
        return self.storages[key]


MAX_PICKLE_BYTES = 64 << 20  # a model's pickle (structure, no tensor bytes) is kilobytes; torch's own are < 1 MB
MAX_DEPTH = 200  # nesting of containers and modules; YOLOv5's is about 10


def _read(zf: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path) -> bytes:
    """One record's bytes; every way the zip module can fail is one line."""
    try:
        return zf.read(info)
    except (zipfile.BadZipFile, zipfile.LargeZipFile, OSError, EOFError, ValueError, NotImplementedError) as e:
        raise UnsafeCheckpoint(f"{path}: record {info.filename} cannot be read ({' '.join(str(e).split())[:100]}); "
                               "not loaded") from None


def _check_graph(obj: Any, where: str) -> None:
    """Every stand-in got its state (a pickle can create one and never BUILD it), nothing refers back to
    itself (a module cycle would recurse forever downstream) and nothing nests deeper than MAX_DEPTH.
    Iterative: a hostile pickle cannot make this walk itself recurse."""
    done: set[int] = set()
    stack: list[tuple[Any, int, bool]] = [(obj, 0, False)]
    open_: set[int] = set()
    while stack:
        node, depth, leaving = stack.pop()
        if leaving:
            open_.discard(id(node))
            done.add(id(node))
            continue
        if id(node) in open_:
            raise UnsafeCheckpoint(f"{where}: its pickle refers back to itself (a cycle through "
                                   f"{getattr(node, 'qualname', type(node).__name__)}); not loaded")
        if id(node) in done:
            continue
        if depth > MAX_DEPTH:
            raise UnsafeCheckpoint(f"{where}: its pickle nests deeper than {MAX_DEPTH} levels; not loaded")
        children = _children(node, where)
        if children is None:
            continue
        open_.add(id(node))
        stack.append((node, depth, True))
        stack.extend((c, depth + 1, False) for c in children)


def _children(node: Any, where: str) -> list | None:
    if isinstance(node, Stub):
        state = getattr(node, "state", None)
        if not isinstance(state, dict):
            raise UnsafeCheckpoint(f"{where}: a {node.qualname} in its pickle has no state (never built); not loaded")
        return [state]
    if isinstance(node, dict):
        return list(node.values())
    if isinstance(node, (list, tuple, set, frozenset)):
        return list(node)
    return None


def load_restricted(path: str | Path, stand_ins: Iterable[str]) -> Any:
    """Unpickle a torch zip checkpoint with only tensors, containers and the named ``stand_ins`` allowed.

    ``stand_ins``: fully qualified class names ("models.common.Conv", "torch.nn.modules.conv.Conv2d") that
    become ``Stub`` subclasses. Raises ``UnsafeCheckpoint`` for any other global or opcode, UserError for a
    file that is not a torch zip checkpoint.
    """
    path = Path(path)
    try:
        zf = zipfile.ZipFile(path)
    except (zipfile.BadZipFile, OSError, EOFError, ValueError) as e:
        raise UserError(f"{path} is not a torch zip checkpoint ({e})") from None
    with zf:
        listed = sorted(zf.infolist(), key=lambda i: i.header_offset)
        infos = {i.filename: i for i in listed}
        if len(infos) != len(listed):
            raise UnsafeCheckpoint(f"{path}: a record name is listed twice; not loaded")
        pkl = [n for n in infos if n.endswith("/data.pkl") and n.count("/") == 1]
        if len(pkl) != 1:
            raise UserError(f"{path} is not a torch zip checkpoint (no single <archive>/data.pkl)")
        prefix = pkl[0][: -len("data.pkl")]
        if any(i.compress_type != zipfile.ZIP_STORED for i in infos.values()):
            raise UnsafeCheckpoint(f"{path}: compressed records (torch never writes them); not loaded")
        check_entries(path, listed)
        if infos[pkl[0]].file_size > MAX_PICKLE_BYTES:
            raise UnsafeCheckpoint(f"{path}: its pickle is {infos[pkl[0]].file_size} bytes, more than a model's "
                                   f"structure needs ({MAX_PICKLE_BYTES}); not loaded")

        def read_record(key: str) -> bytes:
            name = f"{prefix}data/{key}"
            if name not in infos:
                raise UnsafeCheckpoint(f"{path}: storage record {name} is missing")
            return _read(zf, infos[name], path)

        u = _Unpickler(_read(zf, infos[pkl[0]], path), _globals(stand_ins), read_record, str(path))
        try:
            obj = u.load()
        except UserError:
            raise
        except (pickle.UnpicklingError, EOFError, KeyError, IndexError, TypeError, ValueError, AttributeError,
                RecursionError, MemoryError, OverflowError) as e:
            why = f"{type(e).__name__}: {' '.join(str(e).split())[:80]}"
            raise UnsafeCheckpoint(f"{path}: its pickle could not be read safely ({why}); not loaded") from None
    _check_graph(obj, str(path))
    return obj


def module_state_dict(stub: Stub, prefix: str = "") -> dict[str, torch.Tensor]:
    """The ``state_dict`` of a pickled ``nn.Module`` tree (as stubs): parameters, then persistent buffers,
    then submodules, each named as ``nn.Module.state_dict`` names them."""
    if not isinstance(stub, Stub) or not isinstance(stub.state, dict):
        raise UserError(f"{prefix or 'the checkpoint model'} is not a pickled module")
    st = stub.state
    out: dict[str, torch.Tensor] = {}
    skip = st.get("_non_persistent_buffers_set") or set()
    for group in ("_parameters", "_buffers"):
        for k, v in (st.get(group) or {}).items():
            if v is not None and k not in skip:
                if not isinstance(v, torch.Tensor):
                    raise UserError(f"{prefix}{k} in the checkpoint is not a tensor")
                out[prefix + k] = v
    for k, m in (st.get("_modules") or {}).items():
        if m is not None:
            out.update(module_state_dict(m, f"{prefix}{k}."))
    return out
