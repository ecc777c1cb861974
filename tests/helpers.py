"""Shared test doubles: the tiny convnet the speed tests time, the digits classifier the eval tests train,
and builders of rows shaped like the harnesses'. Imported as ``helpers`` (tests/ is on sys.path); sweep
workers build the tiny model from the factory string "helpers:tiny"."""

from __future__ import annotations

import os
import zipfile
from pathlib import Path

import numpy as np
import torch
from torch import nn

from zoo.models.base import Batch, ZooModel
from zoo.models.image import ImageClassifier
from zoo.registry import _REGISTRY, register_model
from zoo.results import make_row
from zoo.spec import ImagePreprocess, ModelSpec
from zoo.transforms import ImageTransform

# --- a tiny convnet (speed, backends, peers, peak probe) ---------------------------------------------------

FAST = dict(warmup=1, min_iters=3, min_duration_s=0.02, rounds=2)


def _photos():
    from PIL import Image
    from sklearn.datasets import load_sample_image

    return [Image.fromarray(load_sample_image(n)) for n in ("china.jpg", "flower.jpg")]


class TinyNet(nn.Module):
    def __init__(self):
        super().__init__()
        self.features = nn.Sequential(nn.Conv2d(3, 16, 3, stride=2, padding=1), nn.ReLU(),
                                      nn.Conv2d(16, 32, 3, stride=2, padding=1), nn.ReLU(),
                                      nn.AdaptiveAvgPool2d(1), nn.Flatten())
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        return self.head(self.features(x))


class TinyClassifier(ZooModel):
    def __init__(self, spec):
        torch.manual_seed(0)
        super().__init__(spec, TinyNet())
        self.transform = ImageTransform(spec.preprocess)

    def preprocess(self, items):
        return Batch(torch.stack([self.transform(i) for i in items]), [{} for _ in items])

    def postprocess(self, out, batch):
        p = out.float().softmax(-1)
        return [{"label": int(r.argmax()), "topk": [[int(i), float(v)] for v, i in zip(*r.topk(5))]} for r in p]

    def example_items(self, n=1):
        photos = _photos()
        return [photos[i % len(photos)] for i in range(n)]


class OOMAbove2(TinyClassifier):
    """Raises the out-of-memory error torch raises, for batches larger than 2."""

    def forward(self, x):
        if x.shape[0] > 2:
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        return super().forward(x)


class Crashes(TinyClassifier):
    def forward(self, x):
        os._exit(3)  # the process dies without a Python exception, like a segfault or the OOM killer


def tiny_spec(name="speedtest_tiny", cls=TinyClassifier):
    return ModelSpec(name=name, task="image-classification", source="zoo", architecture="tinynet",
                     description="tiny test convnet", preprocess=ImagePreprocess(resize_size=40, crop_size=(32, 32)),
                     num_classes=10, input_size=(3, 32, 32), builder=lambda spec, pretrained=False, **kw: cls(spec))


def tiny():
    return TinyClassifier(tiny_spec()).eval()


def tiny_crash():
    return Crashes(tiny_spec("speedtest_crash", Crashes)).eval()



# --- the digits classifier (eval on image folders, INT8 eval) ----------------------------------------------

MODEL = "test_eval_digits_cnn"
SIZE = 32
PRE = ImagePreprocess(resize_size=SIZE, crop_size=(SIZE, SIZE), interpolation="bilinear",
                      mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), source="test")


class DigitsNet(nn.Module):
    def __init__(self, num_classes: int = 10):
        super().__init__()
        # pool back to the digits' native 8x8, then a small MLP: cheap to train on 2 CPU cores
        self.features = nn.Sequential(nn.AvgPool2d(4), nn.Flatten(), nn.Linear(3 * 8 * 8, 32), nn.ReLU())
        self.fc = nn.Linear(32, num_classes)

    def forward(self, x):
        return self.fc(self.features(x))


class DigitsClassifier(ImageClassifier):
    """zoo's own ImageNet-style classifier stages (transform, softmax top-5) around the digits network."""

    def example_items(self, n=1):
        from PIL import Image

        return [Image.new("RGB", (SIZE, SIZE))] * n


def _build(spec, pretrained=False, **kw):
    torch.manual_seed(0)
    return DigitsClassifier(spec, DigitsNet(spec.num_classes))


if MODEL not in _REGISTRY:
    @register_model(MODEL, task="image-classification", source="zoo")
    def _spec() -> ModelSpec:
        return ModelSpec(name=MODEL, task="image-classification", source="zoo", architecture="DigitsNet",
                         description="test-only digits CNN", preprocess=PRE, num_classes=10,
                         input_size=(3, SIZE, SIZE), builder=_build)


def render_digits(root: Path, images: np.ndarray, labels: np.ndarray) -> None:
    """sklearn 8x8 digits (0..16) -> 32x32 RGB PNGs in root/<digit>/<i>.png (nearest upscaling)."""
    from PIL import Image

    for i, (img, y) in enumerate(zip(images, labels)):
        arr = (img * (255 / 16)).round().astype(np.uint8)
        pil = Image.fromarray(arr).resize((SIZE, SIZE), Image.NEAREST).convert("RGB")
        (root / str(y)).mkdir(parents=True, exist_ok=True)
        pil.save(root / str(y) / f"{i:04d}.png")


def to_tensor(img8: np.ndarray) -> torch.Tensor:
    """The same input as the PNG path, computed without PIL transforms: nearest x4, /255, (x-0.5)/0.5."""
    arr = (img8 * (255 / 16)).round().astype(np.uint8).repeat(4, 0).repeat(4, 1)
    x = torch.from_numpy(arr).float().div(255).sub(0.5).div(0.5)
    return x.expand(3, SIZE, SIZE)


def train_digits(root: Path):
    """(data folder, checkpoint path, trained net): trained on 1,200 digits, evaluated on 240 others."""
    from safetensors.torch import save_file
    from sklearn.datasets import load_digits

    d = load_digits()
    rng = np.random.default_rng(0)
    order = rng.permutation(len(d.target))
    train, test = order[:1200], order[1200:1440]
    data = root / "images"
    render_digits(data, d.images[test], d.target[test])

    torch.manual_seed(0)
    net = DigitsNet()
    x = torch.stack([to_tensor(im) for im in d.images[train]])
    y = torch.as_tensor(d.target[train])
    opt = torch.optim.Adam(net.parameters(), lr=3e-3)
    for _ in range(3):  # a few epochs: good, not perfect, so wrong predictions exist
        for i in range(0, len(x), 64):
            loss = nn.functional.cross_entropy(net(x[i:i + 64]), y[i:i + 64])
            opt.zero_grad()
            loss.backward()
            opt.step()
    net.eval()
    ckpt = root / "digits.safetensors"
    save_file({k: v.contiguous() for k, v in net.state_dict().items()}, str(ckpt))
    return data, ckpt, net




# --- rows shaped like the harnesses' ------------------------------------------------------------------------

def eval_row(model: str, metrics: dict, *, task: str = "image-classification", dataset: str = "imagenet_sample_dev",
             weights: str = "a" * 64, n: int = 200, time: str | None = None, **fields) -> dict:
    """An "eval" row as ``zoo eval`` writes it (schema-checked by make_row)."""
    fields.setdefault("settings", {"split": None, "limit": None})
    after = {k: fields.pop(k) for k in ("machine", "commit") if k in fields}
    row = make_row("eval", model=model, weights=weights, dataset=dataset, metrics=metrics, task=task, n=n, **fields)
    row.update(after, **({"time": time} if time is not None else {}))
    return row


def speed_row(model: str, metrics: dict, *, weights: str = "random-init", status: str = "ok", time: str | None = None,
              **fields) -> dict:
    """A "speed" row as ``zoo bench`` writes it (schema-checked by make_row)."""
    fields.setdefault("settings", {"device": "cpu", "batch_size": 1})
    for k, v in (("key", "k"), ("command", "zoo bench " + model), ("device", "cpu"), ("dataset", "example_items")):
        fields.setdefault(k, v)
    after = {k: fields.pop(k) for k in ("machine", "commit") if k in fields}
    row = make_row("speed", model=model, weights=weights, status=status, metrics=metrics, **fields)
    row.update(after, **({"time": time} if time is not None else {}))
    return row


def torch_zip(path: Path, pkl: bytes, records: dict[str, bytes] | None = None) -> Path:
    """A file laid out as torch.save writes it: archive/data.pkl + archive/data/<key>, stored (hostile-pickle tests)."""
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as z:
        z.writestr("archive/data.pkl", pkl)
        for key, raw in (records or {}).items():
            z.writestr(f"archive/data/{key}", raw)
    return path
