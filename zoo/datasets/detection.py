"""Object-detection data sets on disk: a COCO instances json (the file, or a folder holding
``annotations/*.json`` with ``images/``), or a YOLO folder (``images/`` + ``labels/`` with
``class cx cy w h`` lines, normalized, COCO-80 class order) which is converted to a COCO ground truth in
the 91-id category space that every zoo detector predicts in.
"""

from __future__ import annotations

import hashlib
import json
import math
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..results import sha256_tree
from ..transforms import pil_open
from .labels import COCO80_TO_91
from .loader import is_image, read_bounded, unreadable_errors

# COCO80_TO_91 lives with the label sets (labels imports no torch); importing it from here still works
COCO91_TO_80 = {c: i for i, c in enumerate(COCO80_TO_91)}


@dataclass
class DetectionData:
    """Images with COCO ground truth (``gt``: a COCO instances dict, categories in the 91-id space)."""

    root: Path
    name: str
    layout: str  # "coco-json" | "yolo"
    images: list[tuple[int, Path]]  # (image_id, path), sorted by image_id
    gt: dict
    hashed: list[Path] = field(default_factory=list)  # the files / folders that make up the data set
    warnings: dict[str, int] = field(default_factory=dict)  # entries dropped, by reason (_drop_invalid)

    def sha256(self) -> str:
        """sha256 over the sha256_tree of each part (annotations, images, labels), in order."""
        h = hashlib.sha256()
        for part in self.hashed:
            h.update(part.name.encode() + b"\0" + sha256_tree(part).encode() + b"\n")
        return h.hexdigest()


def _find_coco_json(root: Path) -> Path | None:
    cands = sorted((root / "annotations").glob("*.json")) if (root / "annotations").is_dir() else []
    cands += sorted(root.glob("*.json"))
    inst = [c for c in cands if "instances" in c.name] or cands
    return inst[0] if inst else None


def _coco_image_dir(json_path: Path, root: Path, gt: dict) -> Path:
    first = gt["images"][0]["file_name"] if gt["images"] else ""
    for d in (root / "images", root, json_path.parent.parent / "images", json_path.parent):
        if (d / first).is_file():
            return d
        sub = [s for s in d.glob("*") if s.is_dir() and (s / first).is_file()] if d.is_dir() else []
        if sub:
            return sub[0]
    raise UserError(f"{json_path}: cannot find its images (looked for {first!r} under {root}/images and {root})")


def load_detection(path: str | Path) -> DetectionData:
    """A COCO instances json (file or folder with annotations/) or a YOLO folder, as COCO ground truth."""
    path = Path(path).expanduser()
    if not path.exists():
        raise UserError(f"data {path} does not exist")
    if not path.is_dir():
        if not path.is_file():
            raise UserError(f"data {path} is not a regular file or a folder (a pipe or device?); give a COCO .json "
                            "file or a folder")
        if path.suffix != ".json":
            raise UserError(f"{path}: expected a COCO instances .json file or a folder")
        return _load_coco(path, path.parent)
    if (path / "labels").is_dir():
        return _load_yolo(path)
    js = _find_coco_json(path)
    if js is not None:
        return _load_coco(js, path)
    if not any(is_image(p) for p in path.rglob("*")):
        raise UserError(f"{path} holds no images")
    raise UserError(f"{path}: no COCO annotations (annotations/*.json) and no YOLO labels/ folder")


def _load_coco(json_path: Path, root: Path) -> DetectionData:
    try:
        gt = json.loads(read_bounded(json_path, what="COCO annotations").decode("utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError) as e:
        why = f"{type(e).__name__}: {e}" if isinstance(e, RecursionError) else str(e)
        raise UserError(f"{json_path} is not valid JSON ({' '.join(why.split())[:120]})") from None
    _check_coco(json_path, gt)
    warnings = _drop_invalid(json_path, gt)
    img_dir = _coco_image_dir(json_path, root, gt)
    images = sorted((im["id"], img_dir / im["file_name"]) for im in gt["images"])
    missing = [str(p) for _, p in images if not p.is_file()]
    if missing:
        raise UserError(f"{json_path}: {len(missing)} listed images are missing, e.g. {missing[0]}")
    bad = sorted({c["id"] for c in gt["categories"]} - set(COCO80_TO_91))
    if bad:
        raise UserError(f"{json_path}: category ids {bad[:5]} are not COCO categories; zoo's detectors predict COCO")
    base = img_dir.parent if img_dir.name == "images" else img_dir
    return DetectionData(base, f"{base.name}:{json_path.stem}", "coco-json", images, gt, [json_path, img_dir],
                         warnings)


def _check_coco(json_path: Path, gt) -> None:
    """The COCO instances fields zoo reads, with their types; a one-line UserError naming the first bad entry."""
    if not isinstance(gt, dict):
        raise UserError(f"{json_path} is not a COCO instances file: it holds a JSON {type(gt).__name__}, not an object")
    for key in ("images", "annotations", "categories"):
        if not isinstance(gt.get(key), list):
            raise UserError(f"{json_path} is not a COCO instances file: no {key!r} list")
    if not gt["images"]:
        raise UserError(f"{json_path} lists no images")
    num = (int, float)
    needs = {"images": {"id": int, "file_name": str}, "categories": {"id": int},
             "annotations": {"id": int, "image_id": int, "category_id": int, "bbox": list, "area": num}}
    for key, fields in needs.items():
        for i, entry in enumerate(gt[key]):
            bad = [f for f, t in fields.items() if not isinstance(entry, dict) or not isinstance(entry.get(f), t)]
            if bad:
                kind = "a number" if fields[bad[0]] is num else fields[bad[0]].__name__
                raise UserError(f"{json_path}: {key}[{i}] has no valid {bad[0]!r} ({kind}); not a COCO instances file")
    for i, a in enumerate(gt["annotations"]):
        box = a["bbox"]
        if len(box) != 4 or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in box):
            raise UserError(f"{json_path}: annotations[{i}] bbox {str(box)[:60]} is not 4 numbers [x, y, width, "
                            "height]; not a COCO instances file")


def _drop_invalid(json_path: Path, gt: dict) -> dict[str, int]:
    """Entries a COCO evaluation would take silently but that change mAP: boxes with a negative, zero-sized
    or non-finite size, and images listed twice under one id (their boxes would merge). They are dropped,
    counted (the counts go into the row as ``data_warnings``) and said on stderr."""
    seen: set[int] = set()
    images = []
    for im in gt["images"]:
        if im["id"] not in seen:
            seen.add(im["id"])
            images.append(im)
    boxes = [a for a in gt["annotations"]
             if all(math.isfinite(v) for v in a["bbox"]) and a["bbox"][2] > 0 and a["bbox"][3] > 0]
    counts = {"duplicate_image_ids": len(gt["images"]) - len(images),
              "invalid_boxes": len(gt["annotations"]) - len(boxes)}
    gt["images"], gt["annotations"] = images, boxes
    counts = {k: v for k, v in counts.items() if v}
    if counts:
        said = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in counts.items())
        print(f"zoo: warning: {json_path}: {said} dropped (negative, empty or NaN box sizes; an image id listed "
              "again); the row counts them", file=sys.stderr)
    return counts


def _coco_categories() -> list[dict]:
    """The 80 COCO categories (id, name) in the 91-id space, names from data/coco's json."""
    here = Path(__file__).resolve().parents[2] / "data" / "coco" / "annotations" / "instances.json"
    if here.is_file():
        return json.loads(here.read_text())["categories"]
    return [{"id": c, "name": str(c), "supercategory": ""} for c in COCO80_TO_91]


def _image_size(p: Path) -> tuple[int, int] | None:
    """(width, height) from the file's header, or None when PIL cannot read it (the eval loop then skips and
    counts the image, as for any unreadable file)."""
    try:
        with pil_open(p) as im:
            return im.size
    except unreadable_errors():
        return None


def _load_yolo(root: Path) -> DetectionData:
    img_dir = root / "images"
    if not img_dir.is_dir():
        raise UserError(f"{root}: YOLO layout needs images/ beside labels/")
    paths = sorted(p for p in img_dir.rglob("*") if is_image(p))
    if not paths:
        raise UserError(f"{img_dir} holds no images")
    label_dir = root / "labels"
    images, anns = [], []
    for image_id, p in enumerate(paths, start=1):
        size = _image_size(p)
        w, h = size or (0, 0)
        rel = p.relative_to(img_dir)
        images.append({"id": image_id, "file_name": rel.as_posix(), "width": w, "height": h})
        lab = (label_dir / rel).with_suffix(".txt")
        if size is None or not lab.is_file():
            continue  # unreadable: no boxes (never scored); no label file: no objects (YOLO convention)
        for ln, line in enumerate(lab.read_text().splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            try:
                cls, cx, cy, bw, bh = int(parts[0]), *map(float, parts[1:5])
            except (ValueError, TypeError):
                raise UserError(f"{lab}:{ln}: expected 'class cx cy w h', got {line!r}") from None
            if not 0 <= cls < 80:
                raise UserError(f"{lab}:{ln}: class {cls} is outside COCO-80 (0-79); zoo's detectors predict COCO")
            bw, bh = bw * w, bh * h
            x, y = cx * w - bw / 2, cy * h - bh / 2
            anns.append({"id": len(anns) + 1, "image_id": image_id, "category_id": COCO80_TO_91[cls],
                         "bbox": [x, y, bw, bh], "area": bw * bh, "iscrowd": 0})
    gt = {"info": {"description": f"converted from YOLO labels in {root}"}, "licenses": [], "images": images,
          "annotations": anns, "categories": _coco_categories()}
    return DetectionData(root, root.name, "yolo", [(im["id"], img_dir / im["file_name"]) for im in images], gt,
                         [img_dir, label_dir])

