"""Image-classification accuracy: top-1 / top-5 with their counts, through the model's own preprocessing.

Each image goes through ``model.preprocess`` (the spec's transform: PIL resize -> centre crop -> normalize)
in DataLoader workers, ``model(...)`` on the device, ``model.postprocess`` for the top-5. An image PIL cannot
read (corrupt or truncated file) is skipped and counted: it is left out of the denominator, named in the
result (``skipped_files``) and printed, never silently dropped.

With ``decode="gpu"`` on CUDA, JPEG bytes are decoded on the GPU (``torchvision.io.decode_jpeg``) and resized
there with tensor ops; that path is faster but not bit-identical to PIL's resize (the row says which
ran). Without CUDA it falls back to the PIL path and says so.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import torch

from ..models.base import Batch, move_to
from ..spec import ImagePreprocess
from . import distributed as dist_
from ..datasets.images import ClassificationData, ImageFiles, PreprocessCollate, make_loader


@dataclass
class GpuTransform:
    """The spec's resize -> centre crop -> normalize on uint8 CUDA tensors (antialiased tensor resize)."""

    pre: ImagePreprocess

    def __call__(self, img: torch.Tensor) -> torch.Tensor:
        from torchvision.transforms import InterpolationMode
        from torchvision.transforms.v2 import functional as F

        p = self.pre
        interp = {"bilinear": InterpolationMode.BILINEAR, "bicubic": InterpolationMode.BICUBIC,
                  "nearest": InterpolationMode.NEAREST}[p.interpolation]
        if p.resize_size is not None:
            size = list(p.resize_size) if isinstance(p.resize_size, tuple) else [p.resize_size]
            img = F.resize(img, size, interpolation=interp, antialias=p.antialias)
        img = F.center_crop(img, list(p.crop_size))
        x = img.float().div_(255)
        return F.normalize(x, mean=list(p.mean), std=list(p.std))

    def __repr__(self) -> str:
        p = self.pre
        return (f"decode_jpeg(cuda) -> resize({p.resize_size}, {p.interpolation}, antialias={p.antialias}, tensor) -> "
                f"center_crop({p.crop_size[0]}x{p.crop_size[1]}) -> to_float(/255) -> "
                f"normalize(mean={tuple(round(m, 4) for m in p.mean)}, std={tuple(round(s, 4) for s in p.std)})")


def _decode_on_gpu(raw: list[torch.Tensor], device: str) -> tuple[list[torch.Tensor | None], list[str | None]]:
    """Decode a batch of encoded images on the GPU; one bad file does not sink the batch."""
    from torchvision.io import ImageReadMode, decode_image, decode_jpeg

    def one(data):
        if data[:2].tolist() == [0xFF, 0xD8]:  # JPEG magic
            return decode_jpeg(data, mode=ImageReadMode.RGB, device=device)
        return decode_image(data, mode=ImageReadMode.RGB).to(device)  # PNG etc.: CPU decode

    try:
        if all(d[:2].tolist() == [0xFF, 0xD8] for d in raw):
            return list(decode_jpeg(raw, mode=ImageReadMode.RGB, device=device)), [None] * len(raw)
    except RuntimeError:
        pass
    imgs, errs = [], []
    for d in raw:
        try:
            imgs.append(one(d))
            errs.append(None)
        except RuntimeError as e:
            imgs.append(None)
            errs.append(f"decode error: {str(e).splitlines()[0]}")
    return imgs, errs


@dataclass
class ClassificationResult:
    n: int
    correct1: int
    correct5: int
    skipped: int
    seconds: float
    preprocess: str
    decode: str
    skipped_files: list[str] = field(default_factory=list)
    predictions: list[dict] = field(default_factory=list)  # rank 0 only, in data order

    @property
    def top1(self) -> float:
        return 100.0 * self.correct1 / self.n if self.n else float("nan")

    @property
    def top5(self) -> float:
        return 100.0 * self.correct5 / self.n if self.n else float("nan")

    @property
    def images_per_s(self) -> float:
        return self.n / self.seconds if self.seconds > 0 else float("nan")


def _topk_ids(pred: dict) -> list[int]:
    return [int(c) for c, _ in pred["topk"][:5]]


@torch.inference_mode()
def evaluate_classification(
    model,
    data: ClassificationData,
    *,
    batch_size: int = 32,
    workers: int | None = None,
    device: str = "cpu",
    limit: int | None = None,
    decode: str = "pil",
    dist: dist_.DistInfo = dist_.DistInfo(),
    keep_predictions: bool = False,
    log=print,
) -> ClassificationResult:
    """Top-1 / top-5 of ``model`` on ``data``; counts summed exactly over torchrun processes.

    ``decode``: "pil" (the spec's PIL transform, via ``model.preprocess``) or "gpu" (nvjpeg + tensor resize,
    CUDA only; falls back to "pil" without CUDA). Seconds cover the whole loop: reading, decoding,
    preprocessing, forward and postprocessing, wall clock of the slowest process.
    """
    samples = data.samples[:limit] if limit else data.samples
    mine = dist_.shard(list(range(len(samples))), dist)
    paths = [samples[i][0] for i in mine]
    labels = [samples[i][1] for i in mine]

    use_gpu_decode = decode == "gpu" and str(device).startswith("cuda") and torch.cuda.is_available()
    if decode == "gpu" and not use_gpu_decode:
        warnings.warn("decode='gpu' needs CUDA; decoding with PIL on the CPU instead", stacklevel=2)
    gpu_tf = GpuTransform(model.spec.preprocess) if use_gpu_decode else None
    files = ImageFiles(paths, raw=use_gpu_decode)
    collate = PreprocessCollate(None if use_gpu_decode else model.preprocess)
    loader = make_loader(files, collate, batch_size, workers, pin=str(device).startswith("cuda"))
    preprocess_str = repr(gpu_tf) if gpu_tf else _preprocess_repr(model)
    decode_used = "gpu (nvjpeg)" if use_gpu_decode else ("pil (gpu requested, no CUDA)" if decode == "gpu" else "pil")

    correct1 = correct5 = n = 0
    bad: list[tuple[int, str]] = []
    preds_out: list[tuple[int, dict]] = []
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    for idx, inputs, meta, bad_items in loader:
        bad += bad_items
        if inputs is None:
            continue
        if gpu_tf is not None:
            imgs, errs = _decode_on_gpu(inputs, device)
            bad += [(i, e) for i, e in zip(idx, errs) if e is not None]
            keep = [k for k, e in enumerate(errs) if e is None]
            if not keep:
                continue
            idx = [idx[k] for k in keep]
            inputs = torch.stack([gpu_tf(imgs[k]) for k in keep])
            meta = [{} for _ in keep]
        out = model(move_to(inputs, device))
        preds = model.postprocess(out, Batch(inputs, list(meta or [])))
        for k, pred in zip(idx, preds):
            y = labels[k]
            top5 = _topk_ids(pred)
            c1, c5 = int(pred["label"]) == y, y in top5
            correct1 += c1
            correct5 += c5
            n += 1
            if keep_predictions:
                preds_out.append((mine[k], {"id": data.sample_id(paths[k]), "label": y, "pred": int(pred["label"]),
                                            "top5": [[int(c), float(p)] for c, p in pred["topk"][:5]],
                                            "correct1": bool(c1), "correct5": bool(c5)}))
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()
    seconds = dist_.max_value(time.perf_counter() - t0, dist)

    counts = dist_.sum_counts({"n": n, "correct1": correct1, "correct5": correct5, "skipped": len(bad)}, dist)
    bad_named = [f"{data.sample_id(paths[k])}: {e}" for k, e in bad]
    gathered = dist_.gather((bad_named, preds_out), dist)
    res = ClassificationResult(counts["n"], counts["correct1"], counts["correct5"], counts["skipped"], seconds,
                               preprocess_str, decode_used)
    if gathered is not None:
        res.skipped_files = sorted(f for b, _ in gathered for f in b)
        res.predictions = [p for _, p in sorted((x for _, ps in gathered for x in ps), key=lambda t: t[0])]
        for f in res.skipped_files:
            log(f"skipped unreadable image {f}")
    return res


def _preprocess_repr(model) -> str:
    """The exact transform the model's preprocess applies, as text (its ``repr``)."""
    for attr in ("transform", "_transform", "image_transform"):
        t = getattr(model, attr, None)
        if t is not None:
            return repr(t)
    from ..transforms import ImageTransform

    pre = model.spec.preprocess
    return repr(ImageTransform(pre)) if isinstance(pre, ImagePreprocess) else repr(pre)
