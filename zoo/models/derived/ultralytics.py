"""``ultralytics:<file.pt|file.yaml>``: an ultralytics YOLO detector from a model yaml or a checkpoint.

A yaml is a path or a name ultralytics ships (``ultralytics:yolov8s.yaml``; its scale comes from the name,
as ultralytics reads it); a ``.pt`` is a checkpoint file, read with ultralytics' restricted loader
(``torch.load(weights_only=True)`` with its allow-list: no pickled code runs), whose sha256 the spec pins
when the name is resolved. The task is ultralytics' own ``guess_model_task``; zoo runs detectors with the
80 COCO classes (its wrapper reports COCO category ids), and says so in one line for anything else.
Preprocessing and NMS are the registered YOLO models' (ultralytics' val defaults, ``zoo.models.ultralytics``).
"""

from __future__ import annotations

from pathlib import Path

from ...errors import UserError
from ...spec import BuilderRef, ImagePreprocess, ModelSpec, Weights
from ...weights import sha256_file
from ..ultralytics import IMGSZ, VAL_NMS
from ..ultralytics_env import import_ultralytics
from ._common import cached_catalog, library_version, measure_cost, not_handled, unknown

_TASKS = {"detect": "object-detection", "segment": "instance-segmentation", "pose": "pose-estimation",
          "classify": "image-classification (ultralytics -cls head)", "obb": "oriented-box detection"}


def _tasks_module():
    import_ultralytics()  # zoo's offline settings first, the caller's thread count kept
    from ultralytics.nn import tasks  # deferred: after configure_ultralytics()

    return tasks


def _yaml_dict(name: str, rest: str, tasks) -> tuple[dict, Weights | None]:
    if rest.endswith(".pt"):
        return _checkpoint_yaml(name, Path(rest).expanduser().resolve(), tasks)
    try:
        return tasks.yaml_model_load(rest), None
    except FileNotFoundError:
        raise unknown("ultralytics", rest, [c["name"].partition(":")[2] for c in catalog()], what="model yaml") from None


def _checkpoint_yaml(name: str, path: Path, tasks) -> tuple[dict, Weights]:
    if not path.is_file():
        raise UserError(f"{name}: no such file {path}")
    try:
        ckpt, _ = tasks.torch_safe_load(str(path), safe_only=True)
    except Exception as e:  # noqa: BLE001  (a file outside the allow-list or not a checkpoint at all)
        raise UserError(f"{name}: {path.name} is not an ultralytics checkpoint its safe loader reads "
                        f"({type(e).__name__})") from None
    model = ckpt.get("ema") or ckpt.get("model")
    if model is None or not isinstance(getattr(model, "yaml", None), dict):
        raise UserError(f"{name}: {path.name} holds no ultralytics model with its yaml")
    w = Weights(kind="local", url=str(path), file_name=path.name, sha256=sha256_file(path),
                hash_source="the file's sha256, computed when the name was resolved",
                license="see the checkpoint's source (ultralytics models are AGPL-3.0)", num_classes=model.yaml.get("nc"))
    return dict(model.yaml), w


def resolve(rest: str) -> ModelSpec:
    name = f"ultralytics:{rest}"
    if not rest.endswith((".pt", ".yaml", ".yml")):
        raise UserError(f"{name}: expected ultralytics:<file.pt> or ultralytics:<model.yaml>")
    tasks = _tasks_module()
    cfg, weights = _yaml_dict(name, rest, tasks)
    task = tasks.guess_model_task(cfg)
    if task != "detect":
        raise not_handled(name, _TASKS.get(task, task))
    nc = int(cfg.get("nc", 80))
    if nc != 80:
        raise UserError(f"{name}: a {nc}-class detector; zoo's YOLO wrapper reports the 80 COCO classes as COCO ids")
    cfg = {k: v for k, v in cfg.items() if k != "yaml_file"}
    params, flops = measure_cost(lambda: tasks.DetectionModel(cfg, ch=3, nc=nc, verbose=False), (3, IMGSZ, IMGSZ))
    return ModelSpec(
        name=name, task="object-detection", source="ultralytics", architecture=Path(rest).name,
        description=f"ultralytics {Path(rest).name} (derived, ultralytics {library_version('ultralytics')})",
        preprocess=ImagePreprocess(resize_size=None, crop_size=(IMGSZ, IMGSZ), mean=(0.0, 0.0, 0.0),
                                   std=(1.0, 1.0, 1.0), letterbox=True,
                                   source="ultralytics val defaults: imgsz 640, letterbox with grey 114, scale 1/255"),
        num_classes=91, input_size=(3, IMGSZ, IMGSZ), weights=weights, params=params, flops=flops,
        notes="derived from the model yaml; no reference figure" + ("" if weights else "; random init only"),
        extra={"derived": "ultralytics", "yaml": cfg, "nc": nc, "postprocess": dict(VAL_NMS)},
        builder=BuilderRef("zoo.models.ultralytics_nets:build"),
    )


def catalog() -> list[dict]:
    return cached_catalog("ultralytics", _build_catalog)


def _build_catalog() -> list[dict]:
    """The model yamls ultralytics ships, read as files (no import of ultralytics), with the scales each names."""
    import importlib.util

    import yaml

    root = Path(importlib.util.find_spec("ultralytics").origin).parent / "cfg" / "models"
    out = []
    for path in sorted(root.rglob("*.y*ml")):
        try:
            cfg = yaml.safe_load(path.read_text()) or {}
        except (OSError, yaml.YAMLError):
            continue
        head = str((cfg.get("head") or [[None, None, ""]])[-1][2])
        task = "object-detection" if head == "Detect" and cfg.get("nc", 80) == 80 else None
        # a yaml with scales is built at its first scale unless the name carries one (yolov8.yaml -> yolov8n.yaml)
        out.append({"name": f"ultralytics:{path.name}", "task": task, "library_task": head, "source": "ultralytics",
                    "input": f"{IMGSZ}x{IMGSZ}",
                    "classes": cfg.get("nc"), "weights": "", "tags": [], "scales": list(cfg.get("scales") or [])})
    return out
