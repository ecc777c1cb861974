"""Image pre- and postprocessing in NumPy and Pillow alone, for the export runtime (no torch).

Each function does what its torch counterpart does, step for step, so an exported model sees the same input
as the PyTorch model (tests compare them array for array):
  ``classify_input``  = ``zoo.transforms.ImageTransform`` without letterbox (torchvision's resize rule, PIL
                        resampling, centre crop with round-half-even offsets, /255, normalize); ``resize`` and
                        ``center_crop`` are the PIL steps both use;
  ``letterbox_input`` = ``zoo.transforms.letterbox`` + ``letterbox_params``;
  ``yolov5_nms``      = ``zoo.models.yolov5_nets.nms`` (class-wise greedy NMS as torchvision's batched_nms);
  ``yolov8_nms``      = ultralytics' ``non_max_suppression`` for its (4 + nc, anchors) head output.
"""

from __future__ import annotations

import numpy as np

_RESAMPLE = {"bilinear": 2, "bicubic": 3, "nearest": 0}  # PIL.Image.Resampling values
MAX_NMS = 30000  # both YOLOv5 and ultralytics keep at most this many candidates before NMS
MAX_WH = 7680  # ultralytics' class offset for class-wise NMS


def _resized_size(w: int, h: int, size) -> tuple[int, int]:
    """(new_w, new_h) as torchvision's ``resize`` computes it: an int resizes the shorter side, the longer
    scaled and truncated; a pair (h, w) is the size itself."""
    if isinstance(size, (list, tuple)):
        return int(size[1]), int(size[0])
    short, long = (w, h) if w <= h else (h, w)
    if short == size:
        return w, h
    new_short, new_long = int(size), int(size * long / short)
    return (new_short, new_long) if w <= h else (new_long, new_short)


def resize(img, size, interpolation: str):
    """torchvision's ``resize`` of a PIL image: ``size`` an int resizes the shorter side (the longer scaled and
    truncated), a pair (h, w) is the size itself; PIL resampling (always antialiased); unchanged when equal."""
    new = _resized_size(img.width, img.height, size)
    return img.resize(new, _RESAMPLE[interpolation]) if new != (img.width, img.height) else img


def center_crop(img, crop_size):
    """torchvision's ``center_crop`` of a PIL image: zero-padded first when smaller than ``crop_size`` (h, w)
    (rare for photos), offsets rounded half to even."""
    ch, cw = crop_size
    if img.width < cw or img.height < ch:
        from PIL import (
            Image,  # deferred: Pillow, already loaded by whoever read the image
        )

        canvas = Image.new(img.mode, (max(cw, img.width), max(ch, img.height)))
        canvas.paste(img, ((canvas.width - img.width) // 2, (canvas.height - img.height) // 2))
        img = canvas
    top, left = round((img.height - ch) / 2.0), round((img.width - cw) / 2.0)  # torchvision: int(round(...))
    return img.crop((left, top, left + cw, top + ch))


def classify_input(img, pre: dict) -> np.ndarray:
    """PIL RGB image -> float32 (3, H, W): resize, centre crop, /255, normalize (``pre``: the export's
    preprocessing record: resize_size, crop_size, interpolation, mean, std)."""
    if pre.get("resize_size") is not None:
        img = resize(img, pre["resize_size"], pre["interpolation"])
    img = center_crop(img, pre["crop_size"])
    x = np.asarray(img, dtype=np.uint8).transpose(2, 0, 1).astype(np.float32) / 255
    mean = np.asarray(pre["mean"], np.float32)[:, None, None]
    std = np.asarray(pre["std"], np.float32)[:, None, None]
    return (x - mean) / std


def letterbox_input(img, size) -> tuple[np.ndarray, dict]:
    """PIL RGB image -> (float32 (3, h, w) in [0, 1], meta with scale, padding and original size)."""
    h, w = size
    r = min(h / img.height, w / img.width)
    nh, nw = round(img.height * r), round(img.width * r)
    top, left = (h - nh) // 2, (w - nw) // 2
    meta = {"orig_size": (img.height, img.width), "scale": r, "pad": (top, left)}
    if (nw, nh) != (img.width, img.height):
        img = img.resize((nw, nh), _RESAMPLE["bilinear"])
    x = np.full((3, h, w), 114, dtype=np.uint8)
    x[:, top:top + nh, left:left + nw] = np.asarray(img, dtype=np.uint8).transpose(2, 0, 1)
    return x.astype(np.float32) / 255, meta


def to_original(boxes: np.ndarray, meta: dict) -> np.ndarray:
    """xyxy boxes in letterboxed-input pixels -> original-image pixels, clamped to the image."""
    (top, left), (h, w), scale = meta["pad"], meta["orig_size"], meta["scale"]
    out = boxes.astype(np.float32).copy()
    out[:, [0, 2]] = np.clip((boxes[:, [0, 2]] - left) / scale, 0, w)
    out[:, [1, 3]] = np.clip((boxes[:, [1, 3]] - top) / scale, 0, h)
    return out


def softmax_topk(logits: np.ndarray, k: int) -> list[dict]:
    """(B, classes) logits -> ``{"label", "topk": [[class, prob], ...]}`` per row, as the torch classifiers."""
    z = logits.astype(np.float32)
    z = np.exp(z - z.max(axis=1, keepdims=True))
    probs = z / z.sum(axis=1, keepdims=True)
    out = []
    for p in probs:
        idx = np.argsort(-p, kind="stable")[:k]
        out.append({"label": int(idx[0]), "topk": [[int(c), float(p[c])] for c in idx]})
    return out


def _xywh_to_xyxy(b: np.ndarray) -> np.ndarray:
    return np.stack([b[:, 0] - b[:, 2] / 2, b[:, 1] - b[:, 3] / 2, b[:, 0] + b[:, 2] / 2, b[:, 1] + b[:, 3] / 2], 1)


def greedy_nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Indices kept by greedy NMS (highest score first; a box overlapping a kept one by IoU > ``iou`` goes)."""
    order = np.argsort(-scores, kind="stable")
    area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1])
    keep = []
    while order.size:
        i, rest = order[0], order[1:]
        keep.append(i)
        xx1 = np.maximum(boxes[i, 0], boxes[rest, 0])
        yy1 = np.maximum(boxes[i, 1], boxes[rest, 1])
        xx2 = np.minimum(boxes[i, 2], boxes[rest, 2])
        yy2 = np.minimum(boxes[i, 3], boxes[rest, 3])
        inter = np.clip(xx2 - xx1, 0, None) * np.clip(yy2 - yy1, 0, None)
        order = rest[inter / (area[i] + area[rest] - inter) <= iou]
    return np.asarray(keep, dtype=np.int64)


def _select(box, cls_scores, conf: float, multi_label: bool):
    if multi_label:
        i, j = np.nonzero(cls_scores > conf)
        return box[i], cls_scores[i, j], j
    cls = cls_scores.argmax(1)
    score = cls_scores[np.arange(len(cls)), cls]
    keep = score > conf
    return box[keep], score[keep], cls[keep]


def _classwise(box, score, cls, iou: float, max_det: int, offset: float):
    if len(score) > MAX_NMS:
        top = np.argsort(-score, kind="stable")[:MAX_NMS]
        box, score, cls = box[top], score[top], cls[top]
    if not len(score):
        return box.reshape(0, 4), score, cls
    shift = cls[:, None].astype(np.float32) * (offset if offset else float(box.max()) + 1)
    keep = greedy_nms(box + shift, score, iou)[:max_det]
    return box[keep], score[keep], cls[keep]


def yolov5_nms(pred: np.ndarray, conf: float, iou: float, max_det: int, multi_label: bool):
    """One image's (anchors, 5 + nc) YOLOv5 rows -> (xyxy boxes, scores, class indices)."""
    x = pred[pred[:, 4] > conf]
    box, score, cls = _select(_xywh_to_xyxy(x[:, :4]), x[:, 5:] * x[:, 4:5], conf, multi_label)
    return _classwise(box, score, cls, iou, max_det, offset=0)


def yolov8_nms(pred: np.ndarray, conf: float, iou: float, max_det: int, multi_label: bool):
    """One image's (4 + nc, anchors) ultralytics head output -> (xyxy boxes, scores, class indices)."""
    x = pred.T
    x = x[x[:, 4:].max(1) > conf]
    box, score, cls = _select(_xywh_to_xyxy(x[:, :4]), x[:, 4:], conf, multi_label)
    return _classwise(box, score, cls, iou, max_det, offset=MAX_WH)
