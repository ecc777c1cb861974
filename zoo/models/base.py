"""The one interface every zoo model presents to the harness, whatever library is underneath.

    model = zoo.create_model("resnet50")
    batch = model.preprocess([pil_image, ...])     # raw items -> Batch (CPU tensors + per-item meta)
    out = model(move_to(batch.inputs, device))     # the network alone: what speed benchmarks time
    preds = model.postprocess(out, batch)          # -> one prediction dict per item
    model.predict("bus.jpg")                       # all three on raw input -> a result object (zoo.prediction)

Raw items, per task:
  image-classification, object-detection: PIL.Image (RGB) or a path
  text-classification, translation: str
  question-answering: {"question": str, "context": str}
  tabular-classification: a 1-D float array / tensor

Predictions, per task (plain Python, JSON-serializable):
  image-classification: {"label": int, "topk": [[class, prob], ...]}   (top-5, descending)
  object-detection: {"boxes": [[x1, y1, x2, y2], ...] in original-image pixels, "scores": [...],
                     "labels": [...]}  labels are COCO category ids (1..90, the 91-id space) for every
                     COCO detector, torchvision and ultralytics alike
  text-classification: {"label": int, "probs": [...]}
  translation: {"text": str}
  question-answering: {"text": str, "start": int, "end": int}  (character offsets into the context)
  tabular-classification: {"label": int, "probs": [...]}
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

import torch
from torch import nn

from ..datasets.labels import label_names, name_predictions
from ..errors import UserError
from ..prediction.items import batches, expand, input_kind, read_image
from ..prediction.results import to_result
from ..spec import RANDOM_INIT, ModelSpec


@dataclass
class Batch:
    """What preprocess returns: ``inputs`` go to ``model(...)``; ``meta`` is per-item info for postprocess."""

    inputs: Any  # a tensor, a dict of tensors, or a list of tensors
    meta: list[dict] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.meta) if self.meta else batch_size_of(self.inputs)


def check_device(device: str | torch.device, *, cpu_or_cuda_only: bool = True) -> str:
    """``device`` as a string, or a one-line UserError: CUDA asked for where torch sees none, or (with
    ``cpu_or_cuda_only``) anything but cpu / cuda[:index]."""
    dev = str(device)
    if dev.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device {dev!r} asked for, but torch sees no CUDA device here (torch {torch.__version__})")
    if cpu_or_cuda_only and dev != "cpu" and not dev.startswith("cuda"):
        raise UserError(f"unknown device {dev!r}; expected cpu or cuda[:index]")
    return dev


def move_to(x: Any, device: torch.device | str, dtype: torch.dtype | None = None) -> Any:
    """Move a tensor / dict / list / tuple of tensors to ``device``; ``dtype`` applies to floating tensors only."""
    if isinstance(x, torch.Tensor):
        if dtype is not None and x.is_floating_point():
            return x.to(device=device, dtype=dtype, non_blocking=True)
        return x.to(device=device, non_blocking=True)
    if isinstance(x, dict):
        return {k: move_to(v, device, dtype) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return type(x)(move_to(v, device, dtype) for v in x)
    return x


def batch_size_of(x: Any) -> int:
    if isinstance(x, torch.Tensor):
        return x.shape[0]
    if isinstance(x, dict):
        return batch_size_of(next(iter(x.values())))
    if isinstance(x, (list, tuple)):
        return len(x)
    raise TypeError(f"cannot tell the batch size of {type(x).__name__}")


def requested_topk(batch: Batch, default: int = 5) -> int:
    """How many classes a classifier's postprocess keeps: ``predict(top_k=K)`` puts K in each item's meta."""
    return max([m.get("topk", default) for m in batch.meta] or [default])


class ZooModel(nn.Module):
    """Base class: wraps a library model (``self.net``) with the spec's pre- and postprocessing.

    Subclasses implement ``preprocess``, ``forward``, ``postprocess`` and ``example_items``.
    ``weights_id`` is the sha256 of the loaded weight file, or "random-init".
    """

    def __init__(self, spec: ModelSpec, net: nn.Module, weights_id: str = RANDOM_INIT):
        super().__init__()
        self.spec = spec
        self.net = net
        self.weights_id = weights_id

    @property
    def pretrained(self) -> bool:
        return self.weights_id != RANDOM_INIT

    def preprocess(self, items: Sequence[Any]) -> Batch:
        raise NotImplementedError

    def forward(self, inputs: Any) -> Any:
        return self.net(inputs)

    def postprocess(self, outputs: Any, batch: Batch) -> list[dict]:
        raise NotImplementedError

    def example_items(self, n: int = 1) -> list[Any]:
        """``n`` raw items of the right kind (real sample data where zoo ships some) for smoke tests and timing."""
        raise NotImplementedError

    # The stages ``zoo bench`` times, by fixed slot: decode (items as stored -> what preprocess takes),
    # preprocess, forward, postprocess. A model names what its slots do here, e.g. a YOLO detector
    # {"preprocess": "letterbox", "postprocess": "NMS"}; the speed rows and tables show these names.
    stage_names: dict[str, str] = {}

    # Submodules (paths from this model, e.g. "net.model.24") whose own operations post-training int8
    # quantization leaves in float; their child modules (e.g. the head's convolutions) are quantized as usual.
    # For arithmetic whose channels differ in range by orders of magnitude, such as a detector's box decoding
    # (pixels beside probabilities), which one int8 scale per tensor cannot carry.
    float_under_int8: tuple[str, ...] = ()

    def example_files(self, n: int = 1) -> list[Any]:
        """``n`` items as stored, before ``decode`` (image files for image models): where end-to-end timing
        starts. Default: ``example_items`` (then ``decode`` is the identity)."""
        return self.example_items(n)

    def decode(self, items: Sequence[Any]) -> list[Any]:
        """Items as stored -> the decoded items ``preprocess`` takes (an image file -> PIL RGB). Identity by default."""
        return list(items)

    def example_batch(self, batch_size: int = 1) -> Batch:
        return self.preprocess(self.example_items(batch_size))

    def class_names(self):
        """index -> class name for this model's labels (a trained checkpoint's own classes, else the known
        label set: ImageNet-1k, COCO ids, SST-2), or None when zoo does not know them."""
        return self.spec.extra.get("class_names") or label_names(self.spec.task, self.spec.num_classes)

    def _decode_for_predict(self, items: list) -> list:
        """Image files read here, so a file that is not an image is one line naming it (not a PIL traceback)."""
        if input_kind(self.spec.task) != "image":
            return items
        return [read_image(it) for it in items]

    @torch.inference_mode()
    def predict(self, x: Any, device: str | torch.device | None = None, *, top_k: int | None = None,
                conf: float | None = None, batch_size: int = 16, progress: Callable[[int], Any] | None = None):
        """Raw input in, results out: one result for one item, a list for many.

        ``x``: an image path, ``Path``, folder, glob, PIL image or array (image models); a string or
        ``{"question", "context"}`` (text models); or a list of these (``zoo.prediction.items``). Each result has
        named fields (``zoo.prediction.results``: ``Classification``, ``Detection``, ``Text``, ``Answer``) and
        still reads like the prediction dict (``r["label"]``). ``top_k``: how many classes a classification
        keeps (default 5); ``conf``: detection keeps only boxes scoring at least this (default: the model's own
        postprocess settings, which for COCO evaluation keep low scores); ``progress(n)`` is called after each
        batch of ``n`` items.
        """
        items, sources, single = expand(x, input_kind(self.spec.task))
        device = device or next(self.parameters()).device
        names = self.class_names()
        out = []
        for lo, hi in batches(len(items), batch_size):
            batch = self.preprocess(self._decode_for_predict(items[lo:hi]))
            if top_k:
                for m in batch.meta:
                    m["topk"] = int(top_k)  # read by ImageClassifier.postprocess
            preds = name_predictions(self.spec.task, self.spec.num_classes,
                                     self.postprocess(self(move_to(batch.inputs, device)), batch))
            out += [to_result(self.spec.task, p, names, s, top_k, conf) for p, s in zip(preds, sources[lo:hi])]
            if progress is not None:
                progress(hi - lo)
        return out[0] if single else out
