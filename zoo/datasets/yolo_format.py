"""YOLO-format detection folders for training: images + ``class cx cy w h`` label files, bad lines counted.

    samples, report = read_yolo_folder(images_dir, labels_dir, num_classes=80)
    report.summary()     # "929 boxes kept; 1 line of the wrong arity, 2 boxes outside the image (clipped) ..."
    items = LetterboxItems(samples[:96], imgsz=320, augment=Augment())
    images, targets = collate_detection([items[0], items[1]])   # (B, 3, S, S) in [0, 1]; (N, 6) rows

A label file holds one box per line, ``class cx cy w h``, normalised to the image (0-1). Reading never stops
at a bad line: each is counted by kind in a ``LabelReport`` and skipped, so training goes on and the row
reports what was left out. Kinds: a line without exactly 5 fields (``wrong_arity``), a field that is not a
number or a class id that is not an integer in range (``bad_value``), a box reaching outside the image
(``outside_image``: clipped to it, dropped when nothing of it is left), an empty label file
(``empty_file``: the image is kept as a background image, the YOLO convention), an image without a label file
(``no_label_file``: background, as YOLO), and a label file without an image (``orphan_label``).
``class_map`` relabels (e.g. ``{0: 0, 2: 1}`` keeps person and car as classes 0 and 1); boxes of other
classes are dropped and counted as ``unmapped_class`` (on purpose, not as bad input).

Training items (``LetterboxItems``): every image is decoded once and kept resized (longer side = imgsz,
uint8), then per draw: HSV jitter (hue shift, saturation and value gains, as YOLOv5's hsv_h/s/v
0.015/0.7/0.4), a horizontal flip with probability 0.5, and a letterbox to imgsz x imgsz (grey 114, centred).
Random numbers come from torch's global generator, whose state zoo's training checkpoint saves, so a
resumed run draws the same augmentations as an uninterrupted one.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import torch

from ..errors import UserError
from ..transforms import pil_open
from .loader import is_image, unreadable_errors

KINDS = ("wrong_arity", "bad_value", "outside_image", "empty_file", "no_label_file", "orphan_label",
         "unreadable_image", "unmapped_class")
EDGE_TOL = 1e-3  # normalised coordinates this far past the edge are rounding, not a box outside the image
PAD = 114  # YOLOv5's letterbox grey


@dataclass
class LabelReport:
    """What reading a YOLO folder left out or changed, by kind, with the first few places of each."""

    boxes: int = 0
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(KINDS, 0))
    examples: dict[str, list[str]] = field(default_factory=dict)

    def add(self, kind: str, where: str) -> None:
        self.counts[kind] += 1
        shown = self.examples.setdefault(kind, [])
        if len(shown) < 3:
            shown.append(where)

    def bad(self) -> dict[str, int]:
        return {k: v for k, v in self.counts.items() if v}

    def summary(self) -> str:
        parts = [f"{v} {k.replace('_', ' ')}" for k, v in self.bad().items()]
        return f"{self.boxes} boxes kept" + ("; " + ", ".join(parts) if parts else "; no bad labels")

    def as_dict(self) -> dict:
        return {"boxes": self.boxes, **{k: v for k, v in self.counts.items()}, "examples": self.examples}


@dataclass(frozen=True)
class Sample:
    image: Path
    boxes: torch.Tensor  # (n, 5): class, cx, cy, w, h (normalised)


def _parse_line(line: str, num_classes: int) -> tuple[str, list[float] | None]:
    parts = line.split()
    if len(parts) != 5:
        return "wrong_arity", None
    try:
        vals = [float(v) for v in parts]
    except ValueError:
        return "bad_value", None
    if not all(math.isfinite(v) for v in vals) or not vals[0].is_integer() \
            or not 0 <= vals[0] < num_classes or vals[3] <= 0 or vals[4] <= 0:
        return "bad_value", None
    return "", vals


def _clip(cx: float, cy: float, w: float, h: float) -> tuple[bool, list[float] | None]:
    """(was it outside, the box clipped to the image or None when nothing is left)."""
    x1, y1, x2, y2 = cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2
    outside = min(x1, y1) < -EDGE_TOL or max(x2, y2) > 1 + EDGE_TOL
    x1, y1, x2, y2 = max(x1, 0.0), max(y1, 0.0), min(x2, 1.0), min(y2, 1.0)
    if x2 - x1 <= 1e-6 or y2 - y1 <= 1e-6:
        return True, None
    return outside, [(x1 + x2) / 2, (y1 + y2) / 2, x2 - x1, y2 - y1]


def read_labels(path: Path, num_classes: int, report: LabelReport,
                class_map: dict[int, int] | None = None) -> torch.Tensor:
    """The (n, 5) boxes of one label file; bad lines counted in ``report`` and skipped."""
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError):
        report.add("bad_value", str(path))
        return torch.zeros(0, 5)
    rows = []
    lines = [ln for ln in text.splitlines() if ln.strip()]
    if not lines:
        report.add("empty_file", str(path))
    for n, line in enumerate(lines, start=1):
        kind, vals = _parse_line(line, num_classes)
        if vals is None:
            report.add(kind, f"{path}:{n}")
            continue
        cls = int(vals[0])
        if class_map is not None:
            if cls not in class_map:
                report.counts["unmapped_class"] += 1
                continue
            cls = class_map[cls]
        outside, box = _clip(*vals[1:])
        if outside:
            report.add("outside_image", f"{path}:{n}")
        if box is not None:
            rows.append([float(cls), *box])
    report.boxes += len(rows)
    return torch.tensor(rows, dtype=torch.float32).reshape(-1, 5)


def read_yolo_folder(images: Path, labels: Path, num_classes: int = 80,
                     class_map: dict[int, int] | None = None) -> tuple[list[Sample], LabelReport]:
    """Every image of ``images`` (sorted by path) with its boxes from ``labels`` (class ids 0..num_classes-1
    in the files, then ``class_map``); the report of what was skipped."""
    images, labels = Path(images), Path(labels)
    if not images.is_dir():
        raise UserError(f"{images} is not a folder of images")
    paths = sorted(p for p in images.rglob("*") if is_image(p))
    if not paths:
        raise UserError(f"{images} holds no images")
    if class_map is not None and not all(0 <= v < len(set(class_map.values())) for v in class_map.values()):
        raise UserError(f"class_map {class_map} must map onto 0..{len(set(class_map.values())) - 1}")
    report, samples = LabelReport(), []
    for p in paths:
        lab = (labels / p.relative_to(images)).with_suffix(".txt")
        if not lab.is_file():
            report.add("no_label_file", str(p))
            boxes = torch.zeros(0, 5)
        else:
            boxes = read_labels(lab, num_classes, report, class_map)
        samples.append(Sample(p, boxes))
    stems = {p.relative_to(images).with_suffix("").as_posix() for p in paths}
    for lab in sorted(labels.rglob("*.txt")) if labels.is_dir() else ():
        if lab.relative_to(labels).with_suffix("").as_posix() not in stems:
            report.add("orphan_label", str(lab))
    return samples, report


@dataclass(frozen=True)
class Augment:
    """YOLOv5's hsv_h / hsv_s / hsv_v and fliplr (hyp.scratch-low.yaml); all 0: no augmentation."""

    hsv_h: float = 0.015
    hsv_s: float = 0.7
    hsv_v: float = 0.4
    fliplr: float = 0.5


def _uniform(lo: float, hi: float) -> float:
    return lo + (hi - lo) * float(torch.rand(()))


def hsv_jitter(img: torch.Tensor, aug: Augment) -> torch.Tensor:
    """uint8 (3, h, w): hue shifted by up to +-hsv_h of the colour circle, saturation and value scaled by
    1 +- hsv_s and 1 +- hsv_v; as YOLOv5, through lookup tables on the image in HSV (here Pillow's, which
    is about 20x faster than converting the tensor with torchvision)."""
    import numpy as np  # deferred: heavy third-party import
    from PIL import Image

    if not (aug.hsv_h or aug.hsv_s or aug.hsv_v):
        return img
    dh, gs, gv = (_uniform(-1, 1) * g for g in (aug.hsv_h, aug.hsv_s, aug.hsv_v))
    x = np.arange(256)
    luts = ((x + round(dh * 256)) % 256, np.clip(x * (1 + gs), 0, 255), np.clip(x * (1 + gv), 0, 255))
    hsv = Image.fromarray(img.permute(1, 2, 0).numpy()).convert("HSV")
    bands = [b.point(lut.round().astype(int).tolist()) for b, lut in zip(hsv.split(), luts)]
    rgb = Image.merge("HSV", bands).convert("RGB")
    return torch.from_numpy(np.asarray(rgb).copy()).permute(2, 0, 1).contiguous()


def letterbox(img: torch.Tensor, boxes: torch.Tensor, imgsz: int) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (3, h, w) with max(h, w) == imgsz -> float (3, imgsz, imgsz) in [0, 1], grey-padded and centred;
    ``boxes`` (n, 5) normalised to the image -> normalised to the square."""
    _, h, w = img.shape
    top, left = (imgsz - h) // 2, (imgsz - w) // 2
    out = torch.full((3, imgsz, imgsz), PAD, dtype=torch.uint8)
    out[:, top:top + h, left:left + w] = img
    b = boxes.clone()
    if len(b):
        b[:, 1] = (b[:, 1] * w + left) / imgsz
        b[:, 2] = (b[:, 2] * h + top) / imgsz
        b[:, 3] = b[:, 3] * w / imgsz
        b[:, 4] = b[:, 4] * h / imgsz
    return out.float() / 255, b


def load_resized(path: Path, imgsz: int) -> torch.Tensor | None:
    """The image as uint8 (3, h, w), its longer side resized to ``imgsz``; None when it cannot be read."""
    import numpy as np  # deferred: heavy third-party import
    from PIL import Image

    try:
        with pil_open(path) as im:
            im = im.convert("RGB")
            scale = imgsz / max(im.size)
            size = (max(1, round(im.size[0] * scale)), max(1, round(im.size[1] * scale)))
            im = im.resize(size, Image.Resampling.BILINEAR)
            return torch.from_numpy(np.asarray(im).copy()).permute(2, 0, 1).contiguous()
    except unreadable_errors():
        return None


class LetterboxItems:
    """Training items: ``items[i] -> (image (3, S, S) float in [0, 1], boxes (n, 5))``, augmented when
    ``augment`` is given. Images are decoded once (at the first draw) and kept resized; an unreadable image is
    counted in ``report`` and served as a grey background image, so an epoch never stops on it."""

    def __init__(self, samples: list[Sample], imgsz: int, augment: Augment | None = None,
                 report: LabelReport | None = None):
        if not samples:
            raise UserError("no training images")
        self.samples, self.imgsz, self.augment = samples, imgsz, augment
        self.report = report if report is not None else LabelReport()
        self.cache: dict[int, tuple[torch.Tensor, torch.Tensor]] = {}

    def __len__(self) -> int:
        return len(self.samples)

    def _decoded(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        if i not in self.cache:
            img = load_resized(self.samples[i].image, self.imgsz)
            boxes = self.samples[i].boxes
            if img is None:
                self.report.add("unreadable_image", str(self.samples[i].image))
                img, boxes = torch.full((3, self.imgsz, self.imgsz), PAD, dtype=torch.uint8), torch.zeros(0, 5)
            self.cache[i] = (img, boxes)
        return self.cache[i]

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        img, boxes = self._decoded(i)
        if self.augment is not None:
            img = hsv_jitter(img, self.augment)
            if float(torch.rand(())) < self.augment.fliplr:
                img = img.flip(-1)
                boxes = boxes.clone()
                boxes[:, 1] = 1 - boxes[:, 1]
        return letterbox(img, boxes, self.imgsz)


def collate_detection(items: list[tuple[torch.Tensor, torch.Tensor]]) -> tuple[torch.Tensor, torch.Tensor]:
    """(images (B, 3, S, S), targets (N, 6): image index in the batch, class, cx, cy, w, h)."""
    images = torch.stack([im for im, _ in items])
    rows = [torch.cat((torch.full((len(b), 1), float(i)), b), 1) for i, (_, b) in enumerate(items)]
    return images, torch.cat(rows) if rows else torch.zeros(0, 6)
