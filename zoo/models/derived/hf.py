"""``hf:<repo-id>``: a Hugging Face image classifier, from the local HF cache only (never downloaded here).

The task comes from ``config.json`` (``architectures``: ``*ForImageClassification``), the class count from
its ``id2label``, preprocessing from ``preprocessor_config.json`` where it is one zoo describes (resize to a
fixed size, or the shorter side then a centre crop; mean/std; PIL resample). The weights are the snapshot's
``model.safetensors``, checked as every HF cache file is (its blob name is its sha256). A repo missing from
the cache is one line naming the command to run on a connected machine.
"""

from __future__ import annotations

import json
from pathlib import Path

from ...errors import UserError
from ...spec import BuilderRef, ImagePreprocess, ModelSpec, Weights
from ...weights.sources import hf_hub_cache
from ._common import measure_cost, not_handled

_RESAMPLE = {0: "nearest", 2: "bilinear", 3: "bicubic"}  # PIL.Image.Resampling codes in processor configs
WEIGHTS_FILE = "model.safetensors"


def snapshot(repo: str) -> Path:
    """The cached snapshot folder of ``repo`` (refs/main), or a one-line UserError saying how to get it."""
    folder = hf_hub_cache() / f"models--{repo.replace('/', '--')}"
    ref = folder / "refs" / "main"
    snap = folder / "snapshots" / ref.read_text().strip() if ref.is_file() else None
    if snap is None or not (snap / "config.json").is_file():
        raise UserError(f"hf:{repo} is not in the local Hugging Face cache ({hf_hub_cache()}); on a connected "
                        f"machine run `hf download {repo}` and copy its models--{repo.replace('/', '--')} folder here")
    return snap


def _preprocess(name: str, snap: Path) -> ImagePreprocess:
    path = snap / "preprocessor_config.json"
    if not path.is_file():
        raise UserError(f"{name}: the cached snapshot has no preprocessor_config.json, so its preprocessing is unknown")
    p = json.loads(path.read_text())
    size, crop = p.get("size") or {}, p.get("crop_size") or {}
    if "height" in size and not p.get("do_center_crop"):
        resize, crop_hw = (size["height"], size["width"]), (size["height"], size["width"])
    elif "shortest_edge" in size and p.get("crop_pct"):  # ConvNeXt-style: shorter side to edge/crop_pct, crop edge
        edge = size["shortest_edge"]
        resize, crop_hw = int(edge / p["crop_pct"]), (edge, edge)
    elif "shortest_edge" in size and p.get("do_center_crop") and "height" in crop:
        resize, crop_hw = size["shortest_edge"], (crop["height"], crop["width"])
    else:
        raise UserError(f"{name}: its image processor ({p.get('image_processor_type', '?')}, size {size}) resizes in "
                        "a way zoo's preprocessing does not describe")
    if p.get("do_rescale", True) is False or abs(p.get("rescale_factor", 1 / 255) - 1 / 255) > 1e-9:
        raise UserError(f"{name}: its image processor rescales by {p.get('rescale_factor')}, not 1/255")
    return ImagePreprocess(
        resize_size=resize, crop_size=tuple(crop_hw), interpolation=_RESAMPLE.get(p.get("resample", 2), "bilinear"),
        mean=tuple(p.get("image_mean", (0.5, 0.5, 0.5))) if p.get("do_normalize", True) else (0.0, 0.0, 0.0),
        std=tuple(p.get("image_std", (0.5, 0.5, 0.5))) if p.get("do_normalize", True) else (1.0, 1.0, 1.0),
        source=f"{path.name} of the cached snapshot {snap.name[:12]}")


def resolve(rest: str) -> ModelSpec:
    name = f"hf:{rest}"
    snap = snapshot(rest)
    cfg = json.loads((snap / "config.json").read_text())
    archs = cfg.get("architectures") or []
    if not any(a.endswith("ForImageClassification") for a in archs):
        raise not_handled(name, "/".join(archs) or cfg.get("model_type", "unknown"),
                          " (config.json names no *ForImageClassification architecture)")
    pre = _preprocess(name, snap)
    num_classes = len(cfg.get("id2label") or {}) or 2
    input_size = (3, *pre.crop_size)
    params, flops = measure_cost(lambda: _net_from_config(snap), input_size)
    has_weights = (snap / WEIGHTS_FILE).exists()
    return ModelSpec(
        name=name, task="image-classification", source="transformers", architecture=archs[0],
        description=f"Hugging Face {rest} ({archs[0]}), from the local cache", preprocess=pre,
        num_classes=num_classes, input_size=input_size, params=params, flops=flops,
        weights=Weights(kind="hf-hub", url=rest, file_name=WEIGHTS_FILE, sha256="",
                        hash_source="the HF cache names each file's blob by its sha256", license=cfg.get("license", "see the repo's model card"),
                        revision=snap.name, num_classes=num_classes) if has_weights else None,
        notes="derived from the cached config.json and preprocessor_config.json; no reference figure",
        extra={"derived": "hf", "snapshot": str(snap)},
        builder=BuilderRef("zoo.models.derived._hf_net:build"),
    )


def _net_from_config(snap: Path):
    from transformers import (  # deferred: transformers imports torch
        AutoConfig,
        AutoModelForImageClassification,
    )

    return AutoModelForImageClassification.from_config(AutoConfig.from_pretrained(str(snap)))


def catalog() -> list[dict]:
    """The image classifiers in the local HF cache: read from the cache each time (its content changes as
    repos are fetched), without importing transformers."""
    out = []
    root = hf_hub_cache()
    for folder in sorted(root.glob("models--*")) if root.is_dir() else []:
        repo = folder.name[len("models--"):].replace("--", "/")
        try:
            cfg = json.loads((snapshot(repo) / "config.json").read_text())
        except (UserError, OSError, ValueError):
            continue
        archs = cfg.get("architectures") or []
        task = "image-classification" if any(a.endswith("ForImageClassification") for a in archs) else None
        out.append({"name": f"hf:{repo}", "task": task, "library_task": cfg.get("model_type", ""), "source": "transformers", "input": "",
                    "classes": len(cfg.get("id2label") or {}) or None, "weights": "/".join(archs), "tags": []})
    return out
