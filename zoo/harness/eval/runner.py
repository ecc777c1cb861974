"""``zoo.evaluate(name, data=...)``: one evaluation loop for every task; one "eval" row; one predictions format.

    zoo.evaluate("resnet50", "/imagenet/val")            # top-1 / top-5 (+ reference check)
    zoo.evaluate("fasterrcnn_resnet50_fpn", "coco.json")   # COCO mAP (pycocotools)
    zoo.evaluate("bilstm", "sst2")                        # accuracy / F1; "multi30k": BLEU; "squad": EM / F1

The model's task (``zoo.tasks.get_task(spec.task)``) loads the data and supplies the metric; this loop is the
same for all: build the model with the weights to score (``loading.load_model``), read items in DataLoader workers
(an unreadable image is skipped and counted, never silently dropped), ``model.preprocess`` -> ``model(...)`` on
the device -> ``model.postprocess``, feed the task's streaming metric (``add_batch`` / ``compute``), and write
one row of kind "eval" to results/raw/eval.jsonl (scores under "metrics", see zoo.results.schema) and, when
asked, a predictions file: one JSON line per item, ``{"index", "id", **task.record(prediction, reference)}``.

``seconds`` covers the loop (reading, decoding, preprocessing, forward, postprocessing), wall clock of the
slowest process; ``items_per_s`` = items / seconds. Under ``torchrun`` the data is sharded with torch's
DistributedSampler and every (index, prediction) is gathered to rank 0, which drops the sampler's padding
repeats, scores in data order (so the scores equal one process's), prints and writes; every rank returns
the row. With ``decode="gpu"`` on CUDA, JPEGs are decoded and resized on the GPU (``gpu_decode``).

A progress bar (tqdm, on stderr) follows the loop when stderr is a terminal (``progress=None``), never under
``--quiet`` / ``progress=False`` or on ranks other than 0. Random weights are scored only when asked for
(``pretrained=False``, ``--random-init``): otherwise a one-line error says what to train or fetch, and when asked
for the output says RANDOM WEIGHTS. A published reference is compared (delta, tolerance, verdict) only when the
data is the reference's data; otherwise both figures are printed and said to be on different data.
"""

from __future__ import annotations

import json
import os
import sys
import time
import warnings
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import torch
from tqdm import tqdm

from ... import console, registry
from ...datasets.labels import name_predictions
from ...datasets.loader import ItemFiles, PreprocessCollate, default_workers, make_loader, read_bytes
from ...errors import UserError
from ...io import atomic_write_lines
from ...models.base import RANDOM_INIT, Batch, check_device, move_to
from ...results import append_row, check_appendable, make_row, raw_path
from ...spec import weights_label
from ...tasks import EvalData, Task, get_task, reference_check, tolerance_pp
from .. import distributed as dist_
from ..backends import get_backend
from .backend import BackendModel, eval_backend_config
from .config import EvalConfig, from_keywords
from ..loading import Loaded, load_checkpoint_into, load_model, resolve_weights
from .gpu_decode import GpuTransform, gpu_batch, preprocess_repr
from ..loading.vision import checkpoint_spec

__all__ = ["EvalConfig", "evaluate", "run_loop", "score", "load_model", "load_checkpoint_into", "reference_check",
           "tolerance_pp"]


@dataclass
class LoopResult:
    metrics: dict[str, Any]  # the task metric's compute(), less "n"
    n: int  # items scored
    seconds: float
    decode: str
    skipped_files: list[str] = field(default_factory=list)  # "id: why", in data order
    records: list[tuple[int, dict]] = field(default_factory=list)  # (index, prediction), rank 0, when kept


def _quiet(*args, **kwargs) -> None:
    pass


# --- the loop -----------------------------------------------------------------------------------------------

def _loader(model, data: EvalData, batch_size: int, workers: int, device: str, decode: str, dist):
    """DataLoader over this process's share, the GPU transform (or None) and the decode path's name."""
    on_cuda = str(device).startswith("cuda")
    gpu = decode == "gpu" and data.gpu_decodable and on_cuda and torch.cuda.is_available()
    if decode == "gpu" and data.gpu_decodable and not gpu:
        warnings.warn("decode='gpu' needs CUDA; decoding with PIL on the CPU instead", stacklevel=3)
    files = ItemFiles(data.sources, read_bytes if gpu else data.read)
    collate = PreprocessCollate(None if gpu else model.preprocess)
    loader = make_loader(files, collate, batch_size, workers, pin=on_cuda, sampler=dist_.eval_sampler(files, dist))
    used = "gpu (nvjpeg)" if gpu else ("pil (gpu requested, no CUDA)" if decode == "gpu" else "pil")
    return loader, (GpuTransform(model.spec.preprocess) if gpu else None), used


def _predict(model, loader, gpu_tf: GpuTransform | None, device: str):
    """Per batch: (item indices, predictions, [(index, error) of unreadable items])."""
    for idx, inputs, meta, bad in loader:
        if inputs is not None and gpu_tf is not None:
            idx, inputs, more = gpu_batch(inputs, idx, gpu_tf, device)
            bad, meta = bad + more, [{} for _ in idx]
        if inputs is None:
            yield [], [], bad
            continue
        out = model(move_to(inputs, device))
        preds = model.postprocess(out, Batch(inputs, list(meta or [])))
        yield idx, name_predictions(model.spec.task, model.spec.num_classes, preds), bad


def show_progress(progress: bool | None, dist: dist_.DistInfo = dist_.DistInfo()) -> bool:
    """Whether to draw the progress bar: asked for (True / False), else only when stderr is a terminal and
    nobody asked for quiet (``zoo --quiet`` sets ZOO_QUIET and TQDM_DISABLE); never on ranks other than 0."""
    if not dist.is_main or progress is False:
        return False
    return True if progress else console.show_progress()


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


@torch.inference_mode()
def run_loop(model, task: Task, data: EvalData, *, batch_size: int, workers: int = 0, device: str = "cpu",
             decode: str = "pil", dist: dist_.DistInfo = dist_.DistInfo(), keep: bool = False,
             progress: bool = False) -> LoopResult:
    """Predict every item of ``data`` and score it with ``task.metric``; the same result on every rank.

    One process feeds the metric batch by batch; under torchrun the predictions are gathered to rank 0 first
    (``_finish``). ``keep``: also return the (index, prediction) pairs (for the predictions file). ``progress``:
    draw a tqdm bar on stderr (items done of this process's share)."""
    loader, gpu_tf, decode_used = _loader(model, data, batch_size, workers, device, decode, dist)
    metric = task.metric(data)
    stream = not dist.enabled
    mine: list[tuple[int, dict]] = []
    bad: list[tuple[int, str]] = []
    _sync(device)
    t0 = time.perf_counter()
    bar = tqdm(total=len(loader.sampler), desc=f"eval {model.spec.name}", unit="item", file=sys.stderr,
               disable=not progress, leave=False, dynamic_ncols=True)
    for idx, preds, bad_items in _predict(model, loader, gpu_tf, device):
        bar.update(len(idx) + len(bad_items))
        bad += bad_items
        if stream and idx:
            metric.add_batch(predictions=preds, references=[data.references[i] for i in idx])
        if keep or not stream:
            mine += zip(idx, preds)
    _sync(device)
    bar.close()
    seconds = dist_.max_value(time.perf_counter() - t0, dist)
    return _finish(data, metric, mine, bad, LoopResult({}, 0, seconds, decode_used), dist, stream, batch_size, keep)


def _finish(data: EvalData, metric, mine, bad, res: LoopResult, dist, stream: bool, batch_size: int,
            keep: bool) -> LoopResult:
    """Rank 0: pool the processes' predictions by index (dropping DistributedSampler's repeats), feed the
    metric in data order when it was not fed while streaming, compute; then share the result with every rank."""
    gathered = dist_.gather((mine, bad), dist)
    out = None
    if gathered is not None:
        preds = {i: p for m, _ in gathered for i, p in m}
        failed = {i: e for _, b in gathered for i, e in b}
        order = sorted(preds)
        if not stream:
            for k in range(0, len(order), batch_size):
                chunk = order[k:k + batch_size]
                metric.add_batch(predictions=[preds[i] for i in chunk], references=[data.references[i] for i in chunk])
        metrics = metric.compute()
        n = int(metrics.pop("n", len(order)))
        out = replace(res, metrics=metrics, n=n, skipped_files=[f"{data.ids[i]}: {e}" for i, e in sorted(failed.items())],
                      records=[(i, preds[i]) for i in order] if keep else [])
    shared = dist_.broadcast(None if out is None else replace(out, records=[]), dist)
    return out if out is not None else shared


def score(model, task: Task, data: EvalData, *, batch_size: int = 64, device: str | None = None) -> dict[str, Any]:
    """The task's metrics of ``model`` on ``data`` in this process alone (no row, no printing): what training
    uses to validate. ``device``: default the model's."""
    device = device or str(next(model.parameters()).device)
    res = run_loop(model, task, data, batch_size=batch_size, workers=0, device=device)
    return {**res.metrics, "n": res.n}


# --- the entry point -----------------------------------------------------------------------------------------

def _check_predictions(predictions) -> Path | None:
    if predictions is None:
        return None
    path = Path(predictions).expanduser()
    if path.exists():
        raise UserError(f"{path} already exists; zoo does not overwrite it (remove it or pick another name)")
    if not path.parent.is_dir():
        raise UserError(f"folder {path.parent} for the predictions file does not exist or is not a folder")
    if not os.access(path.parent, os.W_OK):  # checked now: the file is written only after the whole loop
        raise UserError(f"folder {path.parent} is not writable: zoo cannot write the predictions file {path.name}")
    return path


def evaluate(name: str, data: str | Path | None = None, config: EvalConfig | None = None, *,
             predictions: str | Path | None = None, write: bool = True, log=None, progress: bool | None = None,
             verbose: bool = False, **settings: Any) -> dict[str, Any]:
    """Evaluate model ``name`` and return the "eval" row (metrics under "metrics").

    ``config``: an ``EvalConfig`` (zoo.harness.eval.config: data, split, checkpoint, weights, limit, device,
    batch size, workers, decode, labels, backend / dtype / precision, overrides); or give its fields as
    keywords (``settings``) with ``data`` positional and ``pretrained`` True / False (``--pretrained`` /
    ``--random-init``; default auto: the task's default checkpoint or whole-model pretrained weights; random
    weights are scored only when asked for). ``predictions``: a JSON-lines file to write (refused if it
    exists). ``write``: append the row to eval.jsonl. ``verbose``: say what happens (the settings, the scores) on
    stdout and draw a progress bar on a terminal; the default prints nothing, the row is the answer.
    ``progress``: the progress bar (None: when verbose and stderr is a terminal). ``log``: where messages go
    (given: used whatever ``verbose`` says).
    """
    if config is None:
        config = from_keywords(data, **settings)
    elif data is not None or settings:
        raise UserError("give evaluate() either config= or data and keyword settings, not both")
    spec = registry.get_spec(name)
    task = get_task(spec.task)
    pred_path = _check_predictions(predictions)
    config = config.replace(device=check_device(config.device))
    bcfg = eval_backend_config(config.backend, config.dtype, config.precision, config.device, spec.task)
    if write:
        check_appendable(raw_path("eval"))
    dist = dist_.init(config.device)
    try:
        log = log or (print if verbose and dist.is_main else _quiet)
        progress = show_progress(progress if progress is not None or verbose else False, dist)
        return _evaluate(spec, task, config, dist, pred_path=pred_path, write=write, log=log, progress=progress,
                         bcfg=bcfg)
    finally:
        dist_.shutdown(dist)


def refuse_random_init(spec, task, weights: Any) -> None:
    """A one-line UserError when these settings would score random weights without ``--random-init``: a task
    metric of an untrained network is noise, not a result."""
    source, _ = resolve_weights(spec, task, weights)
    if source != "random" or weights == "random":
        return
    ways = []
    if spec.trainable and getattr(task, "dataset", ""):
        # published weights that are not a whole task model (MiniLM's encoder) are where training starts
        start = " --pretrained" if spec.weights is not None else ""
        ways.append(f"train it (`zoo train {spec.name} --task {task.dataset}{start}`)")
    ways.append("give --checkpoint FILE")
    raise UserError(f"{spec.name} has no trained weights here: {', or '.join(ways)}; or pass --random-init to "
                    "score random weights on purpose")


def _evaluate(spec, task: Task, cfg: EvalConfig, dist, *, pred_path, write, log, progress, bcfg=None) -> dict[str, Any]:
    batch_size, workers = cfg.batch_size or task.default_batch_size, cfg.workers
    device = dist_.local_device(cfg.device, dist)
    log = log or _quiet
    ds = task.load(cfg.data, split=cfg.split, labels=cfg.labels, spec=checkpoint_spec(spec, cfg.checkpoint)).take(cfg.limit)
    weights = cfg.model_weights
    refuse_random_init(spec, task, weights)
    model, loaded = load_model(spec, weights, task=task, device=device, overrides=cfg.overrides)
    if loaded.unavailable and weights != "random":  # auto's pretrained weights could not be had here
        raise UserError(loaded.unavailable)
    if model.weights_id == RANDOM_INIT:
        log(f"RANDOM WEIGHTS: {spec.name} is scored with random-init weights (--random-init); its scores measure "
            "an untrained network, not the model")
        if dist.enabled:  # every process must score the same network: rank 0's random draw
            model.load_state_dict(dist_.broadcast({k: v.cpu() for k, v in model.state_dict().items()}, dist))
    pre = preprocess_repr(model)
    if pre:
        log(f"preprocessing: {pre}")
    if bcfg is not None:
        log(f"backend: {bcfg.label} (prepared once on an example batch of {batch_size}; not in the loop's seconds)")
        model = BackendModel(model, bcfg, device, batch_size)
    if workers is None:
        workers = default_workers() if ds.default_workers is None else ds.default_workers
    if bcfg is not None and workers and not get_backend(bcfg.backend).fork_safe:
        log(f"workers: 0 (backend {bcfg.backend}: a process holding its model must not fork DataLoader workers)")
        workers = 0
    settings = {"batch_size": batch_size, "workers": workers, "device": device, "limit": cfg.limit,
                "split": ds.split or cfg.split, "data": cfg.data if cfg.data is not None else getattr(task, "dataset", None),
                "world_size": dist.world_size, "backend": dist.backend, "weights": cfg.weights,
                "checkpoint": loaded.checkpoint, "dtype": bcfg.dtype if bcfg else "float32",
                "threads": torch.get_num_threads()}
    if bcfg is not None:
        settings["backend_config"] = bcfg.label
    if getattr(model, "num_beams", None) is not None:
        settings["num_beams"] = model.num_beams
    res = run_loop(model, task, ds, batch_size=batch_size, workers=workers, device=device, decode=cfg.decode,
                   dist=dist, keep=pred_path is not None, progress=progress)
    if res.n == 0:
        noun = "images" if ds.read is not None else "items"
        raise UserError(f"no readable {noun} in {ds.path or ds.name} ({len(res.skipped_files)} unreadable)")
    if ds.read is not None:  # image tasks: how the pixels were read
        settings.update(decode=res.decode if ds.gpu_decodable else "pil", preprocess=pre)
    row = _row(spec, task, ds, model, loaded, settings, res, dist, cfg.command(spec.name))
    if dist.is_main:  # everything is written before anything is printed: a reader that leaves loses no result
        if pred_path is not None:
            atomic_write_lines(pred_path, _prediction_lines(task, ds, res.records))
        if write:
            append_row(raw_path("eval"), row)
        _report(spec, task, ds, row, res, log)
        if pred_path is not None:
            log(f"predictions: {pred_path} ({len(res.records)} rows)")
    dist_.barrier(dist)
    return row


def _row(spec, task: Task, ds: EvalData, model, loaded: Loaded, settings: dict, res: LoopResult, dist,
         command: str) -> dict[str, Any]:
    metrics = {**res.metrics, "seconds": res.seconds,
               "items_per_s": res.n / res.seconds if res.seconds > 0 else None}
    signatures = {k: metrics.pop(k) for k in list(metrics) if k.endswith("_signature")}
    refs = [] if model.weights_id == RANDOM_INIT else task.reference_checks(spec, {**metrics, "n": res.n}, ds)
    extra: dict[str, Any] = dict(ds.info)
    if ds.read is not None:
        extra.update(skipped=len(res.skipped_files), skipped_files=res.skipped_files)
    if signatures:
        extra["signatures"] = signatures
    if ds.path is not None:
        extra["data_path"] = ds.path
    if loaded.checkpoint is not None:
        extra.update(checkpoint_sha256=loaded.checkpoint_sha256, train=loaded.train)
    if isinstance(model, BackendModel):
        extra["backend"] = model.record()
    return make_row(
        "eval", model=spec.name, spec_hash=spec.spec_hash, weights=model.weights_id, dataset=ds.name,
        dataset_sha256=ds.sha256() if dist.is_main else None, settings=settings, metrics=metrics, task=spec.task,
        n=res.n, source=spec.source, architecture=spec.architecture, device=settings["device"],
        params=sum(p.numel() for p in model.parameters()), references=refs, command=command, **extra,
    )


def _report(spec, task: Task, ds: EvalData, row: dict, res: LoopResult, log) -> None:
    """The CLI's summary: the task's line, skipped files, throughput, signatures, references."""
    for f in res.skipped_files:
        log(f"skipped unreadable image {f}")
    noun = "images" if ds.read is not None else "items"
    m = row["metrics"]
    line = task.summary(spec.name, ds, {**m, "n": res.n})
    if res.skipped_files:
        line += f", {len(res.skipped_files)} unreadable {noun} skipped"
    rate = m["items_per_s"] or float("nan")
    weights = "RANDOM WEIGHTS (random-init)" if row["weights"] == RANDOM_INIT else weights_label(row["weights"])
    log(line + f"; {rate:.1f} {noun}/s over {res.seconds:.1f} s; weights {weights}")
    for v in (row.get("signatures") or {}).values():
        log(f"  sacrebleu {v}")
    for r in row["references"]:
        log("  " + _reference_line(r, ds.name, res.n))


def _reference_line(r: dict, data_name: str, n: int) -> str:
    """One reference, measured beside published: a verdict only when the data is the reference's data."""
    if not r["reference_comparable"]:
        return (f"{r['metric']}: measured {r['measured']:.2f} on {data_name} ({n} items); published "
                f"{r['reference']:.2f} on {r['reference_dataset']} [{r['source']}]: different data, so the two "
                "figures are not compared")
    flag = "OUTSIDE tolerance" if r["outside_tolerance"] else "within tolerance"
    return (f"{r['metric']}: measured {r['measured']:.2f} vs reference {r['reference']:.2f} on "
            f"{r['reference_dataset']} [{r['source']}]: delta {r['delta_pp']:+.2f} pp, {flag} ±{r['tolerance_pp']:.2f}")


def _prediction_lines(task: Task, ds: EvalData, records: list[tuple[int, dict]]):
    """The one predictions format: ``{"index", "id", **task.record(prediction, reference)}`` per item."""
    for i, pred in records:
        yield json.dumps({"index": i, "id": ds.ids[i], **task.record(pred, ds.references[i])}, ensure_ascii=False)


if __name__ == "__main__":  # pragma: no cover
    sys.exit("use `zoo eval` or `python -m zoo eval`")
