"""Annotated copies of detection inputs (``zoo predict --save DIR``): each box drawn with its class and score."""

from __future__ import annotations

from pathlib import Path

from ..errors import UserError
from .items import read_image
from .results import Detection

_COLOURS = ((230, 25, 75), (60, 180, 75), (0, 130, 200), (245, 130, 48), (145, 30, 180), (70, 240, 240),
            (240, 50, 230), (210, 245, 60), (0, 128, 128), (170, 110, 40))


def annotate(image, det: Detection):
    """A copy of ``image`` (PIL RGB) with ``det``'s boxes and labels drawn on it."""
    from PIL import ImageDraw  # deferred: Pillow, only --save needs drawing

    out = image.copy()
    draw = ImageDraw.Draw(out)
    width = max(2, round(max(out.size) / 400))
    for b in det.boxes:
        colour = _COLOURS[b.label % len(_COLOURS)]
        draw.rectangle(b.xyxy, outline=colour, width=width)
        text = f"{b.name if b.name is not None else b.label} {b.score:.2f}"
        x1, y1 = b.xyxy[0], b.xyxy[1]
        left, top, right, bottom = draw.textbbox((x1, y1), text)
        lift = bottom - top + 2
        draw.rectangle((left, top - lift, right + 2, bottom - lift), fill=colour)
        draw.text((x1 + 1, y1 - lift), text, fill=(255, 255, 255))
    return out


def save_annotated(results: list[Detection], images: list, out_dir: str | Path) -> list[Path]:
    """Write ``out_dir/<stem>.jpg`` for each result (its source image, or ``images[i]`` when it has none);
    each file is written to a temporary name and renamed, so none is left half-written."""
    import os
    import tempfile

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    used: set[str] = set()
    for i, (det, image) in enumerate(zip(results, images)):
        if not isinstance(det, Detection):
            raise UserError("--save draws boxes: it is for object-detection models only")
        stem = Path(det.source).stem if det.source else f"image_{i:04d}"
        name = stem if stem not in used else f"{stem}_{i}"
        used.add(name)
        target = out / f"{name}.jpg"
        fd, tmp = tempfile.mkstemp(dir=out, prefix=f".{name}.", suffix=".jpg")
        os.close(fd)
        try:
            annotate(read_image(image), det).save(tmp, format="JPEG", quality=90)
            os.replace(tmp, target)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        written.append(target)
    return written
