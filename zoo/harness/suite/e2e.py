"""A detector end to end on the GPU, for the GPU suite: JPEG bytes -> nvjpeg decode (``gpu_decode``) ->
preprocessing on the device -> network -> NMS on the device -> boxes in original-image pixels; the network
alone (zoo's preprocess on the CPU, inputs moved to the device) is timed beside it. One speed row.

    python -m zoo.harness.suite.e2e '{"name": "yolov5n", "device": "cuda", "batch_size": 1}'

Preprocessing on the device: YOLO-style models (``LetterboxDetector``) are letterboxed with a bilinear tensor
resize and grey-114 padding (not bit-identical to PIL's resize); torchvision detectors get a list of [0, 1]
images and run their own ``GeneralizedRCNNTransform`` and postprocess (NMS) on the device. Everything here
runs on the CPU too (``device: "cpu"``), which is how it is tested.
"""

from __future__ import annotations

import hashlib
import importlib
import json
import sys
from pathlib import Path
from typing import Any, Callable

import torch
import torch.nn.functional as F  # noqa: N812

from ...datasets.detection import COCO80_TO_91
from ...models.image import LetterboxDetector
from ...models.yolov5_nets import YOLOv5Detector
from ...models.yolov5_nets import nms as yolov5_nms
from ...models.base import Batch, move_to
from ...results import append_row, machine_info, make_row, raw_path
from ...transforms import letterbox_params
from ..eval.gpu_decode import decode_on_gpu
from ..speed.runner import build_model
from ..speed.measure import decoded_items, stored_items
from ..speed.timing import TimingPolicy, summarize, timer_for


def letterbox_on_device(img: torch.Tensor, size: tuple[int, int]) -> tuple[torch.Tensor, dict[str, Any]]:
    """uint8 (3, h, w) on any device -> [0, 1] float (3, H, W) letterboxed into ``size`` (aspect kept, grey
    114 padding, centred), and the meta ``LetterboxDetector.to_original`` reads."""
    h, w = int(img.shape[-2]), int(img.shape[-1])
    r, (top, left), (nh, nw) = letterbox_params(h, w, size)
    resized = F.interpolate(img[None].float(), size=(nh, nw), mode="bilinear", align_corners=False)[0]
    canvas = torch.full((3, *size), 114.0, device=img.device)
    canvas[:, top : top + nh, left : left + nw] = resized
    return canvas.div_(255), {"orig_size": (h, w), "scale": r, "pad": (top, left)}


def device_pipeline(model: Any, device: str) -> Callable[[list[torch.Tensor]], list[dict]]:
    """encoded images (uint8 byte tensors) -> predictions, every stage after reading the bytes on ``device``."""
    if isinstance(model, LetterboxDetector):
        size = tuple(model.spec.preprocess.crop_size)

        def run(raw: list[torch.Tensor]) -> list[dict]:
            imgs, _ = decode_on_gpu(raw, device)
            boxed = [letterbox_on_device(i, size) for i in imgs]
            x = torch.stack([b for b, _ in boxed])
            out = model(x)
            if isinstance(model, YOLOv5Detector):  # its postprocess moves to the CPU first; NMS here stays on the device
                return [yolov5_device_postprocess(model, o, m) for o, (_, m) in zip(out.float(), boxed)]
            return model.postprocess(out, Batch(x, [m for _, m in boxed]))  # e.g. ultralytics' NMS, on out's device

        return run
    if hasattr(model.net, "transform"):  # a torchvision detector: its own transform and postprocess
        net = model.net

        def run_tv(raw: list[torch.Tensor]) -> list[dict]:
            imgs, _ = decode_on_gpu(raw, device)
            dets = net([i.float().div_(255) for i in imgs])  # torchvision: transform, network, NMS, rescale
            return [{k: v.tolist() for k, v in d.items()} for d in dets]

        return run_tv
    raise ValueError(f"{model.spec.name}: no device pipeline for {type(model).__name__}")


def yolov5_device_postprocess(model: Any, out: torch.Tensor, meta: dict) -> dict:
    """YOLOv5Detector.postprocess for one image with the outputs left on their device: zoo's YOLOv5 NMS
    (``_yolov5_nets.nms``: torchvision batched_nms) runs there; only the final boxes come back as lists."""
    boxes, scores, cls = yolov5_nms(out, **model.nms)
    return {"boxes": model.to_original(boxes, meta).tolist(), "scores": scores.tolist(),
            "labels": [COCO80_TO_91[int(c)] for c in cls.tolist()]}


def measure(name: str, device: str = "cuda", batch_size: int = 1, factory: str | None = None,
            warmup: int = 3, min_iters: int = 10, min_duration_s: float = 1.0, rounds: int = 1) -> dict[str, Any]:
    """Time the device pipeline and the network alone; the speed row (appended to $ZOO_RESULTS_DIR)."""
    from torchvision.io import read_file  # deferred: torchvision is heavy

    model = (getattr(importlib.import_module(factory.split(":")[0]), factory.split(":")[1])() if factory
             else build_model(name)).eval().to(device)
    files = [Path(p) for p in stored_items(model, batch_size)]
    raw = [read_file(str(p)) for p in files]
    policy = TimingPolicy(warmup=warmup, min_iters=min_iters, min_duration_s=min_duration_s)
    timer = timer_for(device)
    with torch.inference_mode():
        pipeline = device_pipeline(model, device)
        x = move_to(model.preprocess(decoded_items(model, batch_size)).inputs, device)
        e2e = summarize(timer.run(lambda: pipeline(raw), policy), batch_size)
        net = summarize(timer.run(lambda: model(x), policy), batch_size)
    return _row(model, name, device, batch_size, policy, e2e, net)


def _row(model: Any, name: str, device: str, bs: int, policy: TimingPolicy, e2e: dict, net: dict) -> dict[str, Any]:
    pre = "letterbox on the device (bilinear tensor resize)" if isinstance(model, LetterboxDetector) else \
        "torchvision GeneralizedRCNNTransform on the device"
    settings = {"device": device, "batch_size": bs, "requested_batch_size": bs, "backend": "eager", "dtype": "fp32",
                "pipeline": "gpu_e2e", **policy.as_dict()}
    m = machine_info()
    key = hashlib.sha256(json.dumps({"model": name, "bs": bs, "device": device.split(":")[0], "pipeline": "gpu_e2e",
                                     "hw": m.get("gpu") if device.startswith("cuda") else m.get("cpu")},
                                    sort_keys=True).encode()).hexdigest()[:16]
    flags = [] if model.pretrained else ["random-weights detection: postprocessing (NMS over near-uniform scores) "
                                         "is not representative"]
    metrics = {**{k: net[k] for k in ("p50_ms", "p90_ms", "p99_ms", "items_per_s", "iterations")},
               "stages": {"names": {"decode": "nvjpeg (torchvision.io.decode_jpeg)", "preprocess": pre,
                                    "forward": "forward", "postprocess": "NMS on the device"},
                          "e2e_from": "stored items", "e2e_p50_ms": e2e["p50_ms"], "e2e_p90_ms": e2e["p90_ms"],
                          "e2e_p99_ms": e2e["p99_ms"], "e2e_items_per_s": e2e["items_per_s"],
                          "e2e_iterations": e2e["iterations"]}}
    row = make_row("speed", model=name, spec_hash=model.spec.spec_hash, weights=model.weights_id,
                   dataset="example_items", settings=settings, metrics=metrics, key=key, status="ok",
                   task=model.spec.task, device=device, backend_used="eager+fp32", scenario="SingleStream",
                   flags=flags, command=f"python -m zoo.harness.suite.e2e '{json.dumps({'name': name, 'device': device})}'")
    append_row(raw_path("speed"), row)
    return row


if __name__ == "__main__":
    measure(**json.loads(sys.argv[1]))
