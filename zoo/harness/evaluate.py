"""``zoo.evaluate(name, data=PATH)``: does this checkpoint reach its published accuracy on this machine?

Dispatches on the model's task: image classification (top-1 / top-5 on an ImageNet-style folder, see
zoo.datasets.images), object detection (COCO mAP with pycocotools on a COCO json or YOLO folder), and the
text tasks, which go to ``zoo.nlp.evaluate.evaluate_text``. Returns a flat dict (the result row) and, with
``write=True``, appends it to results/raw/eval.jsonl through the raw results store.

Weights: ``checkpoint=FILE`` loads a state dict (safetensors or ``torch.load(weights_only=True)``) into the
model built with random init; otherwise the spec's pretrained weights (``zoo fetch NAME``) when the spec
has some; otherwise random init, which the row says (weights="random-init").

Reference check: the spec's published top-1/top-5 (or mAP) is put beside the measured value with its
delta, flagged when |delta| exceeds the tolerance ``max(0.3, 2 x standard error)`` percentage points — the
standard error of a proportion at the reference value over the n images evaluated (sampling noise), plus
0.3 pp for library / resize differences (timm's and torchvision's own validation scripts differ by up to
~0.2 pp on the same weights). A data set that is not the reference's data set is marked
``reference_comparable=False``: its delta is shown, but it is not the same test. Detection mAP (not a
proportion) uses a fixed tolerance, ``DETECTION_TOLERANCE_PP``.
"""

from __future__ import annotations

import json
import math
import os
import sys
from pathlib import Path
from typing import Any

import torch

from ..errors import UserError
from ..models.base import RANDOM_INIT, check_device
from . import distributed as dist_

VISION_TASKS = ("image-classification", "object-detection")
TOLERANCE_FLOOR_PP = 0.3
# mAP is not a proportion, so no binomial error: a fixed allowance for library / resize differences
# (torchvision's detection references reproduce to about 0.1-0.3 pp on COCO val2017).
DETECTION_TOLERANCE_PP = 1.0
# Names a spec may use for its COCO box mAP reference (metric -> our stat name).
DETECTION_REFERENCE_METRICS = {"map": "map", "box_map": "map", "mAP": "map", "map50-95": "map", "map50": "map50",
                               "mAP50": "map50"}


def tolerance_pp(reference_pct: float, n: int) -> float:
    """Allowed |measured - reference| in percentage points for n samples (see module docstring)."""
    p = min(max(reference_pct / 100.0, 0.0), 1.0)
    se = 100.0 * math.sqrt(p * (1 - p) / n) if n else float("inf")
    return max(TOLERANCE_FLOOR_PP, 2.0 * se)


def _is_reference_dataset(ref_dataset: str, data_name: str, n: int) -> bool:
    """The reference is on ImageNet-1K val (50,000 images) / COCO val2017 (5,000): only a full run of that
    set is the same test."""
    r = ref_dataset.lower()
    if "imagenet" in r:
        return n == 50_000
    if "coco" in r:
        return n == 5_000 and "val2017" in data_name.lower()
    return False


def reference_check(spec, metric: str, measured: float | None, n: int, data_name: str,
                    tol: float | None = None) -> dict[str, Any] | None:
    """Measured beside the spec's reference for ``metric`` (percent), with delta and tolerance (pp)."""
    ref = spec.reference(metric)
    if ref is None or measured is None or (isinstance(measured, float) and math.isnan(measured)):
        return None
    tol = tolerance_pp(ref.value, n) if tol is None else tol
    delta = measured - ref.value
    return {"metric": metric, "reference": ref.value, "reference_dataset": ref.dataset, "source": ref.source,
            "measured": measured, "delta_pp": delta, "tolerance_pp": tol, "outside_tolerance": abs(delta) > tol,
            "reference_comparable": _is_reference_dataset(ref.dataset, data_name, n)}


# --- weights ---------------------------------------------------------------------------------------------

def load_checkpoint_into(model, path: str | Path) -> str:
    """Load a state dict file into ``model`` (ZooModel or its ``net``), strictly; return the file's sha256.

    Accepts the ZooModel's own keys (``net.…``), the library network's keys, and zoo training checkpoints
    (``model.…`` keys). Any missing, unexpected or mis-shaped tensor is a one-line UserError.
    """
    from ..results import sha256_file
    from ..weights import load_state_dict

    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"checkpoint {path} does not exist")
    try:
        sd = load_state_dict(path)
    except UserError:
        raise
    except Exception as e:  # safetensors raises its own types for truncated or foreign files
        raise UserError(f"{path}: not a readable checkpoint ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None
    if sd and all(k.startswith("model.") for k in sd if not k.startswith(("optim.", "rng.", "best."))):
        sd = {k[len("model."):]: v for k, v in sd.items() if k.startswith("model.")}
    targets = [(model, model.state_dict()), (model.net, model.net.state_dict())]
    target, own = max(targets, key=lambda t: len(set(t[1]) & set(sd)))
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    bad = [f"{k} {tuple(sd[k].shape)} vs {tuple(own[k].shape)}" for k in own if k in sd and sd[k].shape != own[k].shape]
    if missing or unexpected or bad:
        what = (f"shape mismatch: {bad[0]}" if bad else f"missing {missing[:3]}" if missing
                else f"unexpected {unexpected[:3]}")
        raise UserError(f"checkpoint {path} does not fit model {model.spec.name!r} ({what})")
    target.load_state_dict(sd)
    return sha256_file(path)


def build_model(name: str, *, checkpoint=None, pretrained: bool | None = None, device: str = "cpu"):
    """The ZooModel to evaluate and a description of its weights."""
    from ..registry import UnknownModelError, create_model, get_spec

    try:
        spec = get_spec(name)
    except UnknownModelError as e:
        raise UserError(str(e)) from None
    if pretrained is None:
        pretrained = checkpoint is None and spec.weights is not None
    threads = torch.get_num_threads()
    model = create_model(name, pretrained=bool(pretrained) and checkpoint is None)
    torch.set_num_threads(threads)  # ultralytics lowers the process's thread count when it builds a model
    if checkpoint is not None:
        model.weights_id = load_checkpoint_into(model, checkpoint)
    return model.to(device).eval()


# --- the entry point -------------------------------------------------------------------------------------

def _check_output(path: str | Path | None) -> Path | None:
    if path is None:
        return None
    path = Path(path).expanduser()
    if path.exists():
        raise UserError(f"{path} already exists; zoo does not overwrite it (remove it or pick another name)")
    if not path.parent.exists():
        raise UserError(f"folder {path.parent} for the predictions file does not exist")
    return path


def write_jsonl(path: Path, rows: list[dict]) -> None:
    """Write all rows to a temporary file beside ``path`` and rename: the file is whole or absent."""
    tmp = path.with_name(f".{path.name}.tmp{os.getpid()}")
    try:
        with open(tmp, "w") as f:
            for r in rows:
                f.write(json.dumps(r, sort_keys=True) + "\n")
        if path.exists():  # appeared while we ran
            raise UserError(f"{path} appeared during the run; results kept in {tmp}")
        os.replace(tmp, path)
    except BaseException:
        if tmp.exists() and not path.exists():
            tmp.unlink()
        raise


def evaluate(
    name: str,
    data: str | Path | None = None,
    task: str | None = None,
    *,
    checkpoint: str | Path | None = None,
    split: str = "test",
    limit: int | None = None,
    device: str = "cpu",
    batch_size: int | None = None,
    workers: int | None = None,
    predictions: str | Path | None = None,
    write: bool = True,
    labels: str | Path | None = None,
    decode: str = "pil",
    pretrained: bool | None = None,
    log=None,
) -> dict[str, Any]:
    """Evaluate model ``name`` and return the result row (a flat dict; metrics under "metrics").

    Vision: ``data`` is the folder / json (required). Text tasks: forwarded to ``zoo.nlp.evaluate``
    (``task``, ``split``, ``checkpoint``, ``limit``, ``predictions``). Under torchrun, every process
    evaluates its shard; only rank 0 writes the row and the predictions file; every rank returns the row.
    """
    from ..registry import UnknownModelError, get_spec

    try:
        spec = get_spec(name)
    except UnknownModelError as e:
        raise UserError(str(e)) from None
    if limit is not None and limit < 1:
        raise UserError(f"--limit must be at least 1, got {limit}")
    if spec.task not in VISION_TASKS:
        if data is not None:
            raise UserError(f"{name} is a {spec.task} model: it reads its task's data set (--task), not --data")
        from ..nlp.evaluate import evaluate_text

        kw = {} if pretrained is None else {"pretrained": pretrained}
        return evaluate_text(name, task, checkpoint=checkpoint, split=split, limit=limit, device=device,
                             batch_size=batch_size or 64, predictions=predictions, write=write, **kw)
    if task is not None and task != spec.task:
        raise UserError(f"model {name!r} is an {spec.task} model; --task {task} does not apply")
    if write:
        from ..results import check_appendable, raw_path

        check_appendable(raw_path("eval"))
    if data is None:
        raise UserError(f"{name} is an {spec.task} model: give --data PATH (an image folder or a COCO json)")
    if decode not in ("pil", "gpu"):
        raise UserError(f"decode must be 'pil' or 'gpu', got {decode!r}")
    check_device(device, cpu_or_cuda_only=False)

    dist = dist_.init(device)
    try:
        return _evaluate_vision(spec, name, data, dist, checkpoint=checkpoint, limit=limit, device=device,
                                batch_size=batch_size, workers=workers, predictions=predictions, write=write,
                                labels=labels, decode=decode, pretrained=pretrained, log=log)
    finally:
        dist_.shutdown(dist)


def _evaluate_vision(spec, name, data, dist, *, checkpoint, limit, device, batch_size, workers, predictions,
                     write, labels, decode, pretrained, log) -> dict[str, Any]:
    device = dist_.local_device(device, dist)
    log = log or (print if dist.is_main else (lambda *a, **k: None))
    pred_path = _check_output(predictions)
    from ..datasets import images as datasets
    from ..results import sha256_tree

    if spec.task == "image-classification":
        ds = datasets.load_classification(data, labels)
        datasets.check_classes(ds, spec.num_classes, spec.extra.get("class_names"), name)
        model = build_model(name, checkpoint=checkpoint, pretrained=pretrained, device=device)
    else:
        ds = datasets.load_detection(data)
        model = build_model(name, checkpoint=checkpoint, pretrained=pretrained, device=device)
    if model.weights_id == RANDOM_INIT:
        log(f"note: {name} runs with random-init weights (no checkpoint given and no pretrained weights used)")

    from .classification import _preprocess_repr

    log(f"preprocessing: {_preprocess_repr(model)}")
    settings = {"batch_size": batch_size or (32 if spec.task == "image-classification" else 8),
                "workers": datasets.default_workers() if workers is None else workers, "device": device,
                "limit": limit, "world_size": dist.world_size, "backend": dist.backend,
                "checkpoint": str(checkpoint) if checkpoint else None, "dtype": "float32"}

    if spec.task == "image-classification":
        from .classification import evaluate_classification

        res = evaluate_classification(model, ds, batch_size=settings["batch_size"], workers=settings["workers"],
                                      device=device, limit=limit, decode=decode, dist=dist,
                                      keep_predictions=predictions is not None,
                                      log=log)
        if res.n == 0:
            raise UserError(f"no readable images in {ds.root} ({res.skipped} unreadable)")
        metrics = {"top1": res.top1, "top5": res.top5, "correct1": res.correct1, "correct5": res.correct5,
                   "n": res.n, "skipped": res.skipped, "seconds": res.seconds, "images_per_s": res.images_per_s}
        refs = [reference_check(spec, m, getattr(res, m), res.n, ds.name) for m in ("top1", "top5")]
        settings.update(decode=res.decode, preprocess=res.preprocess)
        extra = {"layout": ds.layout, "class_mapping": ds.mapping, "skipped_files": res.skipped_files}
        summary = (f"{name} on {ds.name}: top-1 {res.top1:.2f}% ({res.correct1}/{res.n}), "
                   f"top-5 {res.top5:.2f}% ({res.correct5}/{res.n})"
                   + (f", {res.skipped} unreadable images skipped" if res.skipped else "")
                   + f"; {res.images_per_s:.1f} images/s over {res.seconds:.1f} s")
    else:
        from .detection import evaluate_detection

        res = evaluate_detection(model, ds, batch_size=settings["batch_size"], workers=settings["workers"],
                                 device=device, limit=limit, dist=dist,
                                 keep_predictions=predictions is not None,
                                 log=log)
        if res.n == 0:
            raise UserError(f"no readable images in {ds.root} ({res.skipped} unreadable)")
        metrics = {**res.stats, "n": res.n, "skipped": res.skipped, "detections": res.num_detections,
                   "seconds": res.seconds, "images_per_s": res.images_per_s}
        refs = []
        for ref in spec.references:
            stat = DETECTION_REFERENCE_METRICS.get(ref.metric)
            if stat and res.stats.get(stat) is not None:
                refs.append(reference_check(spec, ref.metric, res.stats[stat], res.n, ds.name,
                                            tol=DETECTION_TOLERANCE_PP))
        settings.update(preprocess=res.preprocess)
        extra = {"layout": ds.layout, "skipped_files": res.skipped_files}
        fmt = lambda v: "n/a" if v is None else f"{v:.2f}"  # noqa: E731
        summary = (f"{name} on {ds.name}: mAP@[.5:.95] {fmt(res.stats.get('map'))}, mAP@.5 "
                   f"{fmt(res.stats.get('map50'))} over {res.n} images ({res.num_detections} detections)"
                   + (f", {res.skipped} unreadable images skipped" if res.skipped else "")
                   + f"; {res.images_per_s:.1f} images/s over {res.seconds:.1f} s")

    from ..results import append_row, make_row, raw_path

    if model.weights_id == RANDOM_INIT:
        refs = []  # published figures are for trained weights: no delta to show for random init
    dataset_sha = None
    if dist.is_main:
        dataset_sha = sha256_tree(ds.root) if spec.task == "image-classification" else ds.sha256()
    row = make_row(
        "eval", model=name, spec_hash=spec.spec_hash, weights=model.weights_id, dataset=ds.name,
        dataset_sha256=dataset_sha, settings=settings, metrics=metrics, task=spec.task, source=spec.source,
        architecture=spec.architecture, data_path=str(Path(data).resolve()),
        references=[r for r in refs if r], **extra,
    )
    if dist.is_main:
        log(summary)
        for r in row["references"]:
            flag = "OUTSIDE tolerance" if r["outside_tolerance"] else "within tolerance"
            same = "" if r["reference_comparable"] else f" (reference is on {r['reference_dataset']}, not this data)"
            log(f"  {r['metric']}: measured {r['measured']:.2f} vs reference {r['reference']:.2f} [{r['source']}]: "
                f"delta {r['delta_pp']:+.2f} pp, {flag} ±{r['tolerance_pp']:.2f}{same}")
        if pred_path is not None:
            write_jsonl(pred_path, res.predictions)
            log(f"predictions: {pred_path} ({len(res.predictions)} rows)")
        if write:
            append_row(raw_path("eval"), row)
    dist_.barrier(dist)
    return row


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `zoo eval` or `python -m zoo eval`")
