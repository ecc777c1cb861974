"""A folder written by ``zoo export``, served by its own runtime (OpenVINO or ONNX Runtime) without torch.

    model = zoo.load("exports/efficientnet_lite0")     # what `zoo predict EXPORT_DIR ...` uses
    model.predict("bus.jpg")                           # the same results as the PyTorch model's predict

The folder holds ``zoo_export.json`` (what this module reads: format version, task, artifact, exact
preprocessing and postprocessing), ``labels.json``, the artifact (``model.xml`` + ``model.bin`` or
``model.onnx``) and the model card. A folder of another export format is refused with one line.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from . import image_ops
from .items import batches, expand, input_kind, read_image
from .results import Result, to_result

EXPORT_FORMAT = 1  # bump when zoo_export.json or the artifact layout changes incompatibly
CONFIG = "zoo_export.json"
LABELS = "labels.json"
TASKS = ("image-classification", "object-detection")  # what the runtime serves


@dataclass(frozen=True)
class ExportSpec:
    """The parts of a model's spec an export carries (``model.spec.task`` etc., as on a ZooModel)."""

    name: str
    task: str
    num_classes: int


def read_config(folder: str | Path) -> dict:
    """The export's ``zoo_export.json``; one-line UserErrors for a folder that is not an export or is one of
    another format version."""
    folder = Path(folder).expanduser()
    path = folder / CONFIG
    if not path.is_file():
        raise UserError(f"{folder} is not a zoo export folder (no {CONFIG}); make one with `zoo export NAME --out DIR`")
    try:
        cfg = json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not valid JSON ({e})") from None
    fmt = cfg.get("format") if isinstance(cfg, dict) else None
    if fmt != EXPORT_FORMAT:
        raise UserError(f"{folder} is export format {fmt!r} (zoo {cfg.get('zoo_version', '?') if isinstance(cfg, dict) else '?'}); "
                        f"this zoo reads format {EXPORT_FORMAT}: export it again with this zoo")
    if cfg.get("task") not in TASKS:
        raise UserError(f"{folder}: task {cfg.get('task')!r} is not one the export runtime serves ({', '.join(TASKS)})")
    return cfg


def _labels(folder: Path, task: str):
    path = folder / LABELS
    if not path.is_file():
        return None
    names = json.loads(path.read_text())
    return {int(k): v for k, v in names.items()} if isinstance(names, dict) else list(names)


def _openvino_runner(folder: Path, art: dict) -> Callable[[np.ndarray], list[np.ndarray]]:
    try:
        import openvino as ov  # deferred: the runtime an OpenVINO export needs, and only that
    except ImportError:
        raise UserError("this export runs on OpenVINO: pip install openvino") from None
    core = ov.Core()
    props = {"PERFORMANCE_HINT": "LATENCY", "INFERENCE_PRECISION_HINT": art.get("precision_hint", "f32")}
    compiled = core.compile_model(core.read_model(str(folder / art["file"])), "CPU", props)
    request = compiled.create_infer_request()

    def run(x: np.ndarray) -> list[np.ndarray]:
        request.infer([x])
        return [np.array(t.data) for t in request.output_tensors]

    return run


def _onnxruntime_runner(folder: Path, art: dict) -> Callable[[np.ndarray], list[np.ndarray]]:
    try:
        import onnxruntime as ort  # deferred: the runtime an ONNX export needs, and only that
    except ImportError:
        raise UserError("this export runs on ONNX Runtime: pip install onnxruntime") from None
    opts = ort.SessionOptions()
    opts.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    sess = ort.InferenceSession(str(folder / art["file"]), opts, providers=["CPUExecutionProvider"])
    name = sess.get_inputs()[0].name
    return lambda x: sess.run(None, {name: x})


RUNNERS = {"openvino": _openvino_runner, "onnxruntime": _onnxruntime_runner}


class ExportedModel:
    """An export folder loaded for prediction: ``predict`` takes and returns what ``ZooModel.predict`` does."""

    def __init__(self, folder: str | Path):
        self.folder = Path(folder).expanduser()
        self.config = cfg = read_config(self.folder)
        self.spec = ExportSpec(cfg["model"], cfg["task"], int(cfg["num_classes"]))
        art = cfg["artifact"]
        if art.get("runtime") not in RUNNERS:
            raise UserError(f"{self.folder}: unknown runtime {art.get('runtime')!r} (known: {', '.join(RUNNERS)})")
        if not (self.folder / art["file"]).is_file():
            raise UserError(f"{self.folder}: the artifact {art['file']} is missing")
        self.runtime = art["runtime"]
        self._run = RUNNERS[self.runtime](self.folder, art)
        self.names = _labels(self.folder, cfg["task"])

    def __repr__(self) -> str:
        return f"ExportedModel({self.spec.name}, {self.runtime} {self.config['artifact'].get('dtype')}, {self.folder})"

    def class_names(self):
        return self.names

    def _inputs(self, images: list) -> tuple[np.ndarray, list[dict]]:
        pre = self.config["preprocess"]
        if pre.get("letterbox"):
            pairs = [image_ops.letterbox_input(im, pre["crop_size"]) for im in images]
            return np.stack([x for x, _ in pairs]), [m for _, m in pairs]
        return np.stack([image_ops.classify_input(im, pre) for im in images]), [{} for _ in images]

    def predictions(self, images: list, *, top_k: int = 5, nms: dict | None = None) -> list[dict]:
        """Decoded RGB images -> prediction dicts as the model's postprocess gives them (``zoo.models.base``);
        ``nms``: detection settings other than the export's (e.g. ``config["postprocess"]["eval_nms"]``)."""
        arrays, meta = self._inputs(images)
        return self._postprocess(self._run(np.ascontiguousarray(arrays)), meta, top_k, nms)

    def _postprocess(self, outputs: list[np.ndarray], meta: list[dict], top_k: int, nms_settings=None) -> list[dict]:
        post = self.config["postprocess"]
        if self.spec.task == "image-classification":
            return image_ops.softmax_topk(outputs[0], max(top_k, 1))
        nms = image_ops.yolov5_nms if post["head"] == "yolov5" else image_ops.yolov8_nms
        ids = post["class_ids"]
        preds = []
        for out, m in zip(outputs[0].astype(np.float32), meta):
            boxes, scores, cls = nms(out, **(nms_settings or post["nms"]))
            preds.append({"boxes": image_ops.to_original(boxes, m).tolist(), "scores": scores.tolist(),
                          "labels": [ids[int(c)] for c in cls]})
        return preds

    def predict(self, x: Any, *, top_k: int | None = None, conf: float | None = None, batch_size: int = 16,
                progress: Callable[[int], Any] | None = None) -> Result | list[Result]:
        """Raw input in, results out (see ``zoo.models.base.ZooModel.predict``): one result for one item."""
        items, sources, single = expand(x, input_kind(self.spec.task))
        out: list[Result] = []
        for lo, hi in batches(len(items), batch_size):
            preds = self.predictions([read_image(it) for it in items[lo:hi]], top_k=top_k or 5)
            out += [to_result(self.spec.task, p, self.names, s, top_k, conf) for p, s in zip(preds, sources[lo:hi])]
            if progress is not None:
                progress(hi - lo)
        return out[0] if single else out


def load(folder: str | Path) -> ExportedModel:
    """The predictor an export folder holds (``zoo.load``)."""
    return ExportedModel(folder)
