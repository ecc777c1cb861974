"""``zoo export NAME --out DIR``: a folder a user can ship, written whole or not at all.

    export_model("efficientnet_lite0", "exports/lite0")                 # --backend auto
    export_model("yolov5n", "exports/y5", backend="openvino", dtype="fp32")

Steps: load the model (``load_model``: pretrained weights, a checkpoint, or random init when asked); split the
task's local data by a seed into calibration files and scored items (``zoo.harness.eval.holdout``); score the
fp32 PyTorch model on the scored items; for each candidate configuration write the artifact (calibrated on the
calibration files only), load it with the export runtime and score it on the same items; keep the first within
the accuracy budget (``--backend auto`` tries INT8 first, then fp32, which is always kept); time it end to end;
write the model card. Everything goes into a temporary folder beside DIR, renamed to DIR at the end.
"""

from __future__ import annotations

import contextlib
import importlib.util
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ...errors import UserError
from ...io import install_folder, pid_alive, recover_folder
from ...models.vision import sample_image_files
from ...prediction.runtime import ExportedModel
from ..backends import BackendConfig, backend_dtypes, get_backend, list_backends
from ..backends.calibration import Calibration
from ..eval.holdout import (
    Holdout,
    TimeLimit,
    holdout_split,
    loss_points,
    score,
    torch_predict,
)
from ..loading import Loaded, load_model
from .artifact import check_exportable, write_artifact, write_config
from .card import build_card, measure_latency, write_card

AUTO = "auto"
BUDGET_POINTS = 1.0  # points of the headline score an INT8 export may lose (zoo bench's default budget too)
EXPORT_BACKENDS = ("openvino", "onnxruntime")


def candidates(backend: str, dtype: str | None) -> list[BackendConfig]:
    """The configurations to try, in order: ``auto`` = INT8 then fp32 on OpenVINO (ONNX Runtime when OpenVINO is
    not installed); a named backend = the dtype asked for (default fp32)."""
    if backend == AUTO:
        name = "openvino" if importlib.util.find_spec("openvino") else "onnxruntime"
        if dtype not in (None, "fp32", "int8"):
            raise UserError(f"--backend auto exports int8 or fp32, not {dtype}; name the backend for {dtype}")
        return [BackendConfig(name, "int8"), BackendConfig(name, "fp32")] if dtype != "fp32" else [BackendConfig(name, "fp32")]
    if backend not in list_backends():
        raise UserError(f"unknown export format {backend!r}; zoo export writes {', '.join(EXPORT_BACKENDS)} (or auto)")
    if not get_backend(backend).exports:
        raise UserError(f"backend {backend} writes no file a runtime can load; zoo export writes {', '.join(EXPORT_BACKENDS)}")
    if dtype is not None and dtype not in backend_dtypes():
        raise UserError(f"unknown dtype {dtype!r}; expected one of {', '.join(backend_dtypes())}")
    return [BackendConfig(backend, dtype or "fp32")]


def _check_target(out: Path, force: bool) -> None:
    """Before any work: an existing folder needs --force, and only an export folder is ever replaced."""
    if out.exists() and not force:
        raise UserError(f"{out} exists; pass --force to replace it")
    if out.exists() and not (out / "zoo_export.json").is_file():
        raise UserError(f"{out} exists and is not a zoo export folder; refusing to replace it")


def _prepare_target(out: Path, force: bool) -> Path:
    _check_target(out, force)
    out.parent.mkdir(parents=True, exist_ok=True)
    recover_folder(out, lambda sha: True)  # an export killed inside its swap: finish it (the new one was whole)
    for stale in out.parent.glob(f".{out.name}.*.partial"):  # folders of exports killed while writing
        pid = stale.name[len(out.name) + 2:].split(".", 1)[0]
        if pid.isdigit() and not pid_alive(int(pid)):
            shutil.rmtree(stale, ignore_errors=True)
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", suffix=".partial", dir=out.parent))


def _install(tmp: Path, out: Path) -> None:
    """Swap the finished folder in all or nothing (zoo.io.install_folder: journal, SIGINT/SIGTERM held)."""
    mask = os.umask(0o022)
    os.umask(mask)
    os.chmod(tmp, 0o777 & ~mask)  # mkdtemp makes it private; a shipped folder gets a plain mkdir's mode
    install_folder(tmp, out)


@contextlib.contextmanager
def _staged(out: Path, force: bool):
    """The temporary folder beside ``out`` to write into; swapped in for ``out`` when the block ends, removed
    when it raises (``out`` untouched)."""
    tmp = _prepare_target(out, force)
    try:
        yield tmp
        _install(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _weights_record(model, loaded) -> dict[str, Any]:
    w = model.spec.weights
    return {"source": loaded.source, "sha256": model.weights_id, "checkpoint": loaded.checkpoint,
            "file": getattr(w, "file_name", None) if loaded.source == "pretrained" else None,
            "license": getattr(w, "license", None) if loaded.source == "pretrained" else None}


def _try(model, cfg: BackendConfig, tmp: Path, holdout: Holdout | None, weights: dict, ref: dict | None,
         budget: float, time_limit_s: float) -> tuple[dict, dict]:
    """Write ``cfg``'s artifact and config into ``tmp`` and score it; (export config, candidate record)."""
    calib = Calibration(model, pool=holdout.calibration_pool()) if holdout is not None else None
    art = write_artifact(model, cfg, tmp, calib)
    if calib is not None and calib.info:
        art["calibration"] = dict(calib.info)
    exp_cfg = write_config(tmp, model, art, weights)
    rec: dict[str, Any] = {"config": cfg.label}
    if holdout is None or ref is None:
        return exp_cfg, {**rec, "status": "kept (accuracy not measured)"}
    em = ExportedModel(tmp)
    eval_nms = exp_cfg["postprocess"].get("eval_nms")
    try:
        got = score(lambda items: em.predictions(items, nms=eval_nms), holdout, time_limit_s=time_limit_s)
    except TimeLimit as e:
        return exp_cfg, {**rec, "status": f"timed out ({e})", "eligible": False}
    loss = loss_points(model.spec.task, ref, got)
    ok = cfg.dtype == "fp32" or loss <= budget + 1e-9
    return exp_cfg, {**rec, "status": "within budget" if ok else "over budget", "eligible": ok,
                     "loss_points": round(loss, 4), "scores": got}


def _holdout(model, loaded, data: str | None) -> tuple[Holdout | None, str | None]:
    """(the split to calibrate and score on, or None and why not). Data given with --data must fit the model;
    the task's default local data that does not (another label set) only leaves accuracy unmeasured."""
    if loaded.random:
        return None, "random weights (an untrained network has no accuracy to keep)"
    try:
        split = holdout_split(model.spec, data)
    except UserError as e:
        if data is not None:
            raise
        return None, f"the task's local data does not fit this model ({str(e)[:160]}); give --data"
    return split, None if split is not None else f"no local data for {model.spec.task}; give --data"


def _accuracy(model, holdout: Holdout | None, ref: dict | None, chosen: dict, tried: list[dict], budget: float,
              why: str | None) -> dict[str, Any]:
    if holdout is None:
        return {"status": "not measured", "why": why}
    metric = {"image-classification": "top1", "object-detection": "map"}[model.spec.task]
    return {"status": "measured", "metric": metric, "data": holdout.record, "fp32_eager": ref,
            "export": chosen.get("scores"), "loss_points": chosen.get("loss_points"), "budget_points": budget,
            "within_budget": bool(chosen.get("eligible")), "candidates": tried}


def export_model(name: str, out: str | Path, *, backend: str = AUTO, dtype: str | None = None, weights: Any = "auto",
                 random_init: bool = False, accuracy_budget: float | None = None, data: str | None = None,
                 force: bool = False, time_limit_s: float = 600.0, latency_s: float = 3.0,
                 command: str | None = None) -> Path:
    """Write the export folder for ``name`` at ``out`` (see the module docstring); returns ``out``."""
    out = Path(out).expanduser()
    configs = candidates(backend, dtype)
    _check_target(out, force)
    model, loaded = load_model(name, "random" if random_init else weights)
    if loaded.random and not random_init:
        raise UserError(f"{name} has no trained weights here ({loaded.unavailable or 'none published or trained'}): "
                        "give --checkpoint, or --random-init to export random weights on purpose")
    check_exportable(model)
    budget = BUDGET_POINTS if accuracy_budget is None else float(accuracy_budget)
    holdout, why = _holdout(model, loaded, data)
    with _staged(out, force) as tmp:
        ref = score(torch_predict(model), holdout) if holdout is not None else None
        tried: list[dict] = []
        for cfg in configs:
            exp_cfg, rec = _try(model, cfg, tmp, holdout, _weights_record(model, loaded), ref, budget, time_limit_s)
            tried.append({k: v for k, v in rec.items() if k != "scores"})
            if rec.get("eligible", True) or cfg is configs[-1]:
                break
        accuracy = _accuracy(model, holdout, ref, rec, tried, budget, why)
        speed = measure_latency(ExportedModel(tmp), sample_image_files(2), min_s=latency_s)
        cmd = command or f"zoo export {name} --out {out} --backend {backend}" + (f" --dtype {dtype}" if dtype else "")
        write_card(tmp, build_card(exp_cfg, accuracy, speed, cmd))
    return out


def write_warm_copy(model, out: str | Path) -> Path | None:
    """The fp32 ONNX Runtime copy ``zoo predict NAME`` keeps of a model with its published weights
    (``zoo.prediction.warm``): artifact, labels and config, no card, swapped in whole. None when the model has
    other weights, the runtime does not serve it, or ONNX / ONNX Runtime are not installed. A graph the
    exporter cannot write raises UserError (the caller remembers it, so later calls do not try again)."""
    weights = model.spec.weights
    if weights is None or model.weights_id != weights.sha256:
        return None
    if not all(importlib.util.find_spec(m) for m in ("onnx", "onnxruntime")):
        return None
    try:
        check_exportable(model)
    except UserError:
        return None
    out = Path(out)
    with _staged(out, force=True) as tmp:
        art = write_artifact(model, BackendConfig("onnxruntime", "fp32"), tmp)
        record = {**_weights_record(model, Loaded("auto", "pretrained")), "purpose": "zoo predict warm copy"}
        write_config(tmp, model, art, record)
    return out
