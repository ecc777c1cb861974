"""``onnx:<file>``: a user's ONNX image classifier, run by onnxruntime behind zoo's ImageClassifier.

What the graph says is taken from the graph: its one input (N, 3, H, W) gives the input size, its first
output (N, classes) the class count. What it cannot say (preprocessing) comes from, in this order:
the command-line flags (``--input-shape``, ``--resize``, ``--interpolation``, ``--mean``, ``--std``; the
commands pass them in ``ZOO_ONNX_OPTIONS`` so sweep workers see them too), then a sidecar JSON beside the
file (``model.onnx.json`` or ``model.json``: ``{"input_size": [3, H, W], "num_classes": N, "preprocess":
{ImagePreprocess fields}}``, e.g. ``zoo info NAME --json`` of the model it was exported from, or the
``zoo_export.json`` a ``zoo export`` folder holds), then zoo's
ImageNet default, which the spec's preprocess ``source`` then says. A graph input with dynamic H or W and
no ``--input-shape`` is refused in one line.

The weights are the file itself: the spec pins its sha256 (computed when the name is resolved) and rows
record it. FLOPs are not measured (FlopCounterMode counts torch ops; the graph runs in onnxruntime);
params are the element count of the graph's initializers.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from ...errors import UserError
from ...registry import get_spec
from ...spec import BuilderRef, ImagePreprocess, ModelSpec, Weights
from ...weights import sha256_file

OPTIONS_ENV = "ZOO_ONNX_OPTIONS"
EXPORT_CONFIG = "zoo_export.json"  # what `zoo export` writes beside its artifact (zoo.harness.export.artifact)
_PRE_KEYS = {f for f in ImagePreprocess.__dataclass_fields__}


def set_options(**options) -> None:
    """Flags for onnx: names (``input_shape=(3, 224, 224)``, ``mean=...``), for this process and its workers."""
    given = {k: v for k, v in options.items() if v is not None}
    if given:  # none given: keep what a parent process set (a sweep worker is started without the flags)
        os.environ[OPTIONS_ENV] = json.dumps(given)
        get_spec.cache_clear()  # an onnx: spec resolved before these flags is stale


def _flags() -> dict:
    raw = os.environ.get(OPTIONS_ENV)
    try:
        return json.loads(raw) if raw else {}
    except ValueError:
        raise UserError(f"{OPTIONS_ENV} is not JSON: {raw[:80]!r}") from None


def _sidecar(path: Path) -> tuple[dict, Path | None]:
    """``model.onnx.json`` / ``model.json`` beside the file, else the ``zoo_export.json`` of the ``zoo export``
    folder the file is in (when its artifact names this file): same keys (task, num_classes, input_size,
    preprocess)."""
    for side in (path.with_name(path.name + ".json"), path.with_suffix(".json"), path.with_name(EXPORT_CONFIG)):
        if side.is_file():
            try:
                data = json.loads(side.read_text())
            except ValueError as e:
                raise UserError(f"sidecar {side} is not valid JSON ({e})") from None
            if side.name != EXPORT_CONFIG or path.name in json.dumps(data.get("artifact", "")):
                return data, side
    return {}, None


def _dims(value_info) -> list[int | None]:
    return [d.dim_value if d.HasField("dim_value") and d.dim_value > 0 else None
            for d in value_info.type.tensor_type.shape.dim]


def _graph(name: str, path: Path):
    import onnx  # deferred: only onnx: names need it

    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # noqa: BLE001  (onnx raises DecodeError and others for a file that is not a model)
        raise UserError(f"{name}: {path} is not an ONNX model ({type(e).__name__})") from None
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1 or len(_dims(inputs[0])) != 4:
        shapes = ", ".join(f"{i.name} {_dims(i)}" for i in inputs)
        raise UserError(f"{name}: zoo runs ONNX image classifiers with one (N, 3, H, W) input; this graph has {shapes}")
    params = sum(int(_numel(i.dims)) for i in model.graph.initializer)
    return inputs[0], model.graph.output[0], params


def _numel(dims) -> int:
    n = 1
    for d in dims:
        n *= int(d)
    return n


def _input_size(name: str, graph_in, flags: dict, side: dict) -> tuple[int, int, int]:
    dims = _dims(graph_in)[1:]
    given = flags.get("input_shape") or side.get("input_size")
    if given is not None:
        given = tuple(int(x) for x in given)
        if len(given) != 3 or any(d is not None and d != g for d, g in zip(dims, given)):
            raise UserError(f"{name}: input shape {'x'.join(map(str, given))} does not fit the graph's input "
                            f"{graph_in.name!r} {['?' if d is None else d for d in dims]}")
        return given
    if None in dims:
        raise UserError(f"{name}: input {graph_in.name!r} has dynamic dimensions "
                        f"{'x'.join('?' if d is None else str(d) for d in dims)}; give --input-shape CxHxW "
                        "(e.g. --input-shape 3x224x224)")
    return tuple(dims)


def _preprocess(input_size: tuple[int, int, int], flags: dict, side: dict, side_path: Path | None) -> ImagePreprocess:
    h, w = input_size[1:]
    pre = {"resize_size": int(h / 0.875), "crop_size": (h, w), "interpolation": "bilinear",
           "mean": (0.485, 0.456, 0.406), "std": (0.229, 0.224, 0.225)}
    sources = ["zoo's ImageNet default (resize to crop/0.875, bilinear, ImageNet mean/std)"]
    if side.get("preprocess"):
        pre.update({k: v for k, v in side["preprocess"].items() if k in _PRE_KEYS and k != "source"})
        pre["crop_size"] = (h, w)
        sources = [f"sidecar {side_path.name}"]
    from_flags = {k: flags[k] for k in ("resize_size", "interpolation", "mean", "std") if k in flags}
    if from_flags:
        pre.update(from_flags)
        sources.append(f"flags {', '.join(sorted(from_flags))}")
    pre = {k: tuple(v) if isinstance(v, list) else v for k, v in pre.items()}
    return ImagePreprocess(**{**pre, "source": " + ".join(sources)})


def resolve(rest: str) -> ModelSpec:
    name = f"onnx:{rest}"
    path = Path(rest).expanduser().resolve()
    if not path.is_file():
        raise UserError(f"{name}: no such file {path}")
    graph_in, graph_out, params = _graph(name, path)
    flags, (side, side_path) = _flags(), _sidecar(path)
    if side.get("task", "image-classification") != "image-classification":
        raise UserError(f"{name}: its sidecar says task {side['task']!r}; zoo runs ONNX image classifiers only")
    input_size = _input_size(name, graph_in, flags, side)
    out_dims = _dims(graph_out)
    num_classes = out_dims[-1] if len(out_dims) == 2 and out_dims[-1] else side.get("num_classes")
    if not num_classes:
        raise UserError(f"{name}: output {graph_out.name!r} has shape {out_dims}, not (N, classes); its class "
                        "count is unknown (a sidecar's num_classes gives it)")
    sha = sha256_file(path)
    return ModelSpec(
        name=name, task="image-classification", source="onnx", architecture=path.name,
        description=f"ONNX graph {path.name} (input {graph_in.name!r}), run by onnxruntime",
        preprocess=_preprocess(input_size, flags, side, side_path), num_classes=int(num_classes),
        input_size=input_size, params=params,
        weights=Weights(kind="local", url=str(path), file_name=path.name, sha256=sha,
                        hash_source="the file's sha256, computed when the name was resolved",
                        license="unknown (a user's file)"),
        notes="params: elements of the graph's initializers; FLOPs not measured (the graph runs in onnxruntime, "
              "which FlopCounterMode does not see)",
        extra={"derived": "onnx", "onnx_input": graph_in.name, "sidecar": str(side_path or "")},
        builder=BuilderRef("zoo.models.derived._onnx_net:build"),
    )
