"""The PyTorch-family comparison: one architecture from several PyTorch libraries, the SAME weights, the same images.

    python -m zoo.experiments.frameworks_pytorch --arch resnet50 --images 16 --batch-size 8

(The article's table, TensorFlow / Keras 3 / PyTorch, is ``zoo.experiments.frameworks``.)

torchvision's ResNet is the reference. Its state dict is loaded, through explicit and checked key maps
(every name, shape and the count must line up), into timm's ResNet (identical names), Hugging Face
transformers' ``ResNetForImageClassification`` (renamed: embedder / encoder.stages / shortcut /
classifier) and an ONNX export run by ONNX Runtime. Each is fed the same preprocessed tensor (zoo's
``resnet50`` spec transform on real photos from data/coco) and compared on:

- logits agreement with torchvision: max |difference| and max |difference| / max |logit|;
- top-1 agreement: images whose argmax equals torchvision's;
- speed: median ms per batch (fp32, eager / ORT default), measured in alternating rounds in one process so
  machine drift hits every framework alike, and images/s = batch / median.

Weights: zoo's pretrained ``resnet50`` file when it is cached, else torchvision's random init with a fixed
seed (the row says "random-init"; agreement figures are then about the libraries' arithmetic, not accuracy).
Rows go to results/raw/frameworks.jsonl.
"""

from __future__ import annotations

import argparse
import hashlib
import re
import statistics
import tempfile
import time
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

import torch

from ..errors import UserError
from ..models.image import fetch_state_dict
from ..models.base import RANDOM_INIT
from ..registry import get_spec, list_models
from ..results import append_row, check_appendable, make_row, raw_path, sha256_file
from ..transforms import ImageTransform
from ..weights import cached_path

REPO_COCO_IMAGES = Path(__file__).resolve().parents[2] / "data" / "coco" / "images"

# depths, widths (block output channels), block type, per the ResNet paper's tables
RESNETS = {
    "resnet18": ((2, 2, 2, 2), (64, 128, 256, 512), "basic"),
    "resnet34": ((3, 4, 6, 3), (64, 128, 256, 512), "basic"),
    "resnet50": ((3, 4, 6, 3), (256, 512, 1024, 2048), "bottleneck"),
    "resnet101": ((3, 4, 23, 3), (256, 512, 1024, 2048), "bottleneck"),
}


def check_same_layout(src: dict[str, torch.Tensor], dst: dict[str, torch.Tensor], what: str) -> None:
    """Refuse a key map that is not one to one with equal shapes."""
    missing, extra = sorted(set(dst) - set(src)), sorted(set(src) - set(dst))
    if missing or extra:
        raise ValueError(f"{what}: key map does not cover the model (missing {missing[:3]}, unmapped {extra[:3]})")
    bad = [k for k in dst if tuple(src[k].shape) != tuple(dst[k].shape)]
    if bad:
        raise ValueError(f"{what}: shape mismatch at {bad[:3]}")


def torchvision_to_timm(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """timm's ResNet uses torchvision's parameter names (conv1, bn1, layerN.M.convK, downsample, fc)."""
    return dict(sd)


_TV_BLOCK = re.compile(r"layer(\d)\.(\d+)\.(conv|bn)(\d)\.(.+)")
_TV_DOWN = re.compile(r"layer(\d)\.(\d+)\.downsample\.([01])\.(.+)")


def torchvision_to_hf(sd: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """torchvision ResNet names -> transformers ResNetForImageClassification names."""
    out = {}
    for k, v in sd.items():
        if k.startswith(("conv1.", "bn1.")):
            part = "convolution" if k.startswith("conv1.") else "normalization"
            nk = f"resnet.embedder.embedder.{part}.{k.split('.', 1)[1]}"
        elif m := _TV_BLOCK.fullmatch(k):
            stage, block, kind, idx, rest = m.groups()
            part = "convolution" if kind == "conv" else "normalization"
            nk = f"resnet.encoder.stages.{int(stage) - 1}.layers.{block}.layer.{int(idx) - 1}.{part}.{rest}"
        elif m := _TV_DOWN.fullmatch(k):
            stage, block, idx, rest = m.groups()
            part = "convolution" if idx == "0" else "normalization"
            nk = f"resnet.encoder.stages.{int(stage) - 1}.layers.{block}.shortcut.{part}.{rest}"
        elif k.startswith("fc."):
            nk = f"classifier.1.{k[3:]}"
        else:
            raise ValueError(f"no HF name for torchvision key {k!r}")
        out[nk] = v
    return out


@dataclass
class Runner:
    framework: str
    version: str
    run: object  # callable: tensor (B, 3, H, W) -> logits tensor (B, 1000)
    note: str = ""


def _version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "?"


def build_runners(arch: str, sd: dict[str, torch.Tensor], example: torch.Tensor, tmpdir: Path,
                  frameworks: tuple[str, ...]) -> list[Runner]:
    import torchvision

    tv = getattr(torchvision.models, arch)().eval()
    tv.load_state_dict(sd)
    runners = [Runner("torchvision", _version("torchvision"), tv, "reference")]
    if "timm" in frameworks:
        import timm

        tm = timm.create_model(arch, pretrained=False).eval()
        mapped = torchvision_to_timm(sd)
        check_same_layout(mapped, tm.state_dict(), "torchvision -> timm")
        tm.load_state_dict(mapped)
        runners.append(Runner("timm", _version("timm"), tm))
    if "transformers" in frameworks:
        from transformers import ResNetConfig, ResNetForImageClassification

        depths, widths, kind = RESNETS[arch]
        cfg = ResNetConfig(depths=list(depths), hidden_sizes=list(widths), layer_type=kind, num_labels=1000)
        hf = ResNetForImageClassification(cfg).eval()
        mapped = torchvision_to_hf(sd)
        check_same_layout(mapped, hf.state_dict(), "torchvision -> transformers")
        hf.load_state_dict(mapped)
        runners.append(Runner("transformers", _version("transformers"), lambda x: hf(pixel_values=x).logits))
    if "onnxruntime" in frameworks:
        import onnxruntime as ort

        path = tmpdir / f"{arch}.onnx"
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)  # the TorchScript exporter: no onnxscript needed
            torch.onnx.export(tv, (example,), str(path), input_names=["x"], output_names=["logits"],
                              dynamic_axes={"x": {0: "b"}, "logits": {0: "b"}}, dynamo=False)
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = torch.get_num_threads()
        sess = ort.InferenceSession(str(path), opts, providers=["CPUExecutionProvider"])
        runners.append(Runner("onnxruntime", _version("onnxruntime"),
                              lambda x: torch.from_numpy(sess.run(None, {"x": x.numpy()})[0]),
                              "exported from the torchvision module (torch.onnx, opset default)"))
    return runners


def _weights(arch: str, seed: int) -> tuple[dict[str, torch.Tensor], str]:
    """zoo's pretrained torchvision weights for ``arch`` when cached, else seeded random init."""
    try:
        if arch in list_models() and get_spec(arch).weights is not None:
            if cached_path(get_spec(arch).weights).is_file():  # never download for a comparison
                return fetch_state_dict(get_spec(arch))
    except (UserError, ImportError, KeyError):
        pass
    import torchvision

    torch.manual_seed(seed)
    return getattr(torchvision.models, arch)().state_dict(), RANDOM_INIT


def compare(arch: str = "resnet50", *, n_images: int = 16, batch_size: int = 8, rounds: int = 5,
            frameworks: tuple[str, ...] = ("timm", "transformers", "onnxruntime"), seed: int = 0,
            images: list[Path] | None = None, write: bool = True, log=print) -> list[dict]:
    """One row per framework (torchvision first); see the module docstring for what is measured."""

    if arch not in RESNETS:
        raise UserError(f"frameworks comparison supports {sorted(RESNETS)}, not {arch!r}")
    if write:
        check_appendable(raw_path("frameworks"))
    images = images or sorted(REPO_COCO_IMAGES.glob("*.jpg"))[:n_images]
    if not images:
        raise UserError("no images for the frameworks comparison")
    spec = get_spec("resnet50")  # the ImageNet ResNet transform (224 crop) for every depth
    tf = ImageTransform(spec.preprocess)
    x_all = torch.stack([tf(p) for p in images])
    sd, weights_id = _weights(arch, seed)
    with tempfile.TemporaryDirectory() as tmp, torch.inference_mode():
        runners = build_runners(arch, sd, x_all[:batch_size], Path(tmp), frameworks)
        logits = {r.framework: torch.cat([r.run(x_all[i:i + batch_size]) for i in range(0, len(x_all), batch_size)])
                  for r in runners}
        xb = x_all[:batch_size]
        times: dict[str, list[float]] = {r.framework: [] for r in runners}
        for r in runners:  # warm-up, not timed
            r.run(xb)
        for _ in range(rounds):
            for r in runners:
                t0 = time.perf_counter()
                r.run(xb)
                times[r.framework].append(1e3 * (time.perf_counter() - t0))
    ref = logits["torchvision"].float()
    ref_top1 = ref.argmax(-1)
    data_hash = hashlib.sha256("".join(sha256_file(p) for p in images).encode()).hexdigest()
    rows = []
    for r in runners:
        lg = logits[r.framework].float()
        diff = (lg - ref).abs().max().item()
        ms = statistics.median(times[r.framework])
        metrics = {
            "max_abs_logit_diff": diff,
            "max_rel_logit_diff": diff / ref.abs().max().item(),
            "top1_agree": int((lg.argmax(-1) == ref_top1).sum()),
            "n": len(images),
            "ms_per_batch_median": ms,
            "ms_per_batch_min": min(times[r.framework]),
            "images_per_s": batch_size / (ms / 1e3),
        }
        row = make_row("frameworks", model=arch, weights=weights_id, dataset=f"data/coco images[:{len(images)}]",
                       dataset_sha256=data_hash, framework=r.framework, framework_version=r.version, note=r.note,
                       settings={"batch_size": batch_size, "rounds": rounds, "threads": torch.get_num_threads(),
                                 "dtype": "float32", "preprocess": repr(tf), "seed": seed,
                                 "same_weights_as": "torchvision"},
                       metrics=metrics)
        rows.append(row)
        log(f"{r.framework:13s} {r.version:12s} max|dlogit| {diff:.2e}  top-1 agree {metrics['top1_agree']}/"
            f"{len(images)}  {ms:8.1f} ms/batch  {metrics['images_per_s']:7.1f} img/s")
        if write:
            append_row(raw_path("frameworks"), row)
    return rows


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m zoo.experiments.frameworks_pytorch", description=__doc__.split("\n")[0])
    p.add_argument("--arch", default="resnet50", choices=sorted(RESNETS))
    p.add_argument("--images", type=int, default=16)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--no-write", action="store_true")
    a = p.parse_args(argv)
    compare(a.arch, n_images=a.images, batch_size=a.batch_size, rounds=a.rounds, write=not a.no_write)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
