"""Drawing an ``Explanation`` (zoo.harness.explain.attribution) as a PNG, with PIL only (no figure library: exact sizes).

Image: panels side by side, each at the input image's resolution: the input, then one heat-map overlay per
method (jet colour map, alpha 0.5, the map scaled to its 99th percentile); pixels outside the model's crop
darkened. Size: (panels x image width, image height). Each panel's caption is drawn inside it, top left:
the prediction and its score on the input, the method's name on the others, and the random-weights warning.

Text: a title (model, explained class, score, method) and the tokens as boxes coloured by attribution (red:
for the explained class, blue: against; intensity relative to the largest |attribution|), wrapped to
TEXT_WIDTH pixels; one block per method.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from ...errors import UserError
from .attribution import METHOD_TITLES, TEXT_WIDTH, Explanation

ALPHA = 0.5
CLIP_PERCENTILE = 99.0
PAD = 6
LINE = 22  # px per text line


def _font(size: int = 14):
    return ImageFont.load_default(size=size)


def normalize(amap: np.ndarray) -> np.ndarray:
    """Map -> [0, 1]: divided by its 99th percentile over the finite values (then clipped); NaN stays NaN."""
    finite = amap[np.isfinite(amap)]
    top = float(np.percentile(finite, CLIP_PERCENTILE)) if finite.size else 0.0
    if top <= 0:
        top = float(finite.max()) if finite.size and finite.max() > 0 else 1.0
    return np.clip(amap / top, 0.0, 1.0)


def overlay(image: Image.Image, amap: np.ndarray) -> Image.Image:
    """``image`` with ``amap`` (same height x width, NaN outside the crop) blended in as a jet heat map."""
    from matplotlib import colormaps  # deferred: matplotlib is heavy

    base = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    m = normalize(amap)
    inside = np.isfinite(m)
    heat = colormaps["jet"](np.nan_to_num(m))[..., :3]
    out = np.where(inside[..., None], (1 - ALPHA) * base + ALPHA * heat, base * 0.35)
    return Image.fromarray((out * 255).round().astype(np.uint8))


def _caption(panel: Image.Image, lines: list[str]) -> None:
    draw = ImageDraw.Draw(panel)
    size = max(9, min(16, panel.width // 28))
    font = _font(size)
    y = 2
    for text in lines:
        box = draw.textbbox((3, y), text, font=font)
        draw.rectangle((box[0] - 2, box[1] - 1, box[2] + 2, box[3] + 1), fill=(0, 0, 0))
        draw.text((3, y), text, fill=(255, 255, 255), font=font)
        y = box[3] + 3


def render_image(expl: Explanation) -> Image.Image:
    """The panels side by side: (1 + len(maps)) x image width by image height pixels."""
    img = expl.image.convert("RGB")
    w, h = img.size
    panels = [img.copy()] + [overlay(img, expl.maps[m]) for m in expl.maps]
    _caption(panels[0], [f"{expl.model}: {_prediction_line(expl)}", *expl.notes])
    for panel, m in zip(panels[1:], expl.maps):
        title = METHOD_TITLES.get(m, m) + (f" ({expl.layer})" if m == "gradcam" and expl.layer else "")
        _caption(panel, [title, f"class: {expl.target_name or expl.target}"])
    out = Image.new("RGB", (w * len(panels), h))
    for i, p in enumerate(panels):
        out.paste(p, (i * w, 0))
    return out


def _prediction_line(expl: Explanation) -> str:
    pred = f"predicted {expl.predicted_name or expl.predicted}"
    if expl.target == expl.predicted:
        return f"{pred} ({expl.score:.2f})"
    return f"{pred}; explained: {expl.target_name or expl.target} ({expl.score:.2f})"


def _token_colour(v: float, scale: float) -> tuple[int, int, int]:
    a = 0.0 if scale <= 0 else max(-1.0, min(1.0, v / scale))
    if a >= 0:
        return 255, round(255 * (1 - a)), round(255 * (1 - a))
    return round(255 * (1 + a)), round(255 * (1 + a)), 255


def _layout(tokens: list[str], draw: ImageDraw.ImageDraw, font) -> list[tuple[int, int, str, int]]:
    """(x, line, token, index) for each shown token, wrapped at TEXT_WIDTH."""
    x, line, out = PAD, 0, []
    for i, tok in enumerate(tokens):
        if tok in ("[PAD]", "<pad>"):
            continue
        tw = draw.textlength(tok, font=font) + 6
        if x + tw > TEXT_WIDTH - PAD and x > PAD:
            x, line = PAD, line + 1
        out.append((x, line, tok, i))
        x += int(tw) + 4
    return out


def render_text(expl: Explanation) -> Image.Image:
    """TEXT_WIDTH pixels wide; one title line and the wrapped coloured tokens per method."""
    font = _font(15)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    layout = _layout(expl.tokens, probe, font)
    n_lines = (max(l for _, l, _, _ in layout) + 1) if layout else 1
    block = LINE * (n_lines + 1) + PAD
    head = LINE * (1 + len(expl.notes))
    img = Image.new("RGB", (TEXT_WIDTH, head + block * len(expl.maps) + PAD), (255, 255, 255))
    draw = ImageDraw.Draw(img)
    for i, text in enumerate([f"{expl.model}: {_prediction_line(expl)}", *expl.notes]):
        draw.text((PAD, PAD + i * LINE), text, fill=(0, 0, 0), font=font)
    for b, (method, scores) in enumerate(expl.maps.items()):
        y0 = head + b * block
        legend = ("red: attention weight" if method == "attention"
                  else f"red: for {expl.target_name or expl.target}, blue: against")
        draw.text((PAD, y0 + 2), f"{METHOD_TITLES.get(method, method)} ({legend})", fill=(60, 60, 60), font=_font(12))
        scale = float(np.max(np.abs(scores))) if len(scores) else 0.0
        for x, line, tok, i in layout:
            y = y0 + LINE * (line + 1)
            box = draw.textbbox((x + 3, y + 2), tok, font=font)
            draw.rectangle((x, y, box[2] + 3, y + LINE - 2), fill=_token_colour(float(scores[i]), scale))
            draw.text((x + 3, y + 2), tok, fill=(0, 0, 0), font=font)
    return img


def render(expl: Explanation) -> Image.Image:
    return render_image(expl) if expl.image is not None else render_text(expl)


def check_out(out: str | Path) -> Path:
    """``out`` if its folder exists (checked before any work), else one line."""
    out = Path(out)
    if not out.parent.is_dir():
        raise UserError(f"--out {out}: folder {out.parent} does not exist")
    if out.is_dir():
        raise UserError(f"--out {out} is a folder; give a .png file name")
    return out


def write_png(expl: Explanation, out: str | Path) -> tuple[Path, tuple[int, int]]:
    """Render and save; (the path, (width, height) in px). The folder must exist (one line otherwise); the file
    is written whole or not at all."""
    out = check_out(out)
    img = render(expl)
    tmp = out.with_name(f".{out.name}.tmp")
    try:
        img.save(tmp, format="PNG")
        tmp.replace(out)
    except OSError as e:
        tmp.unlink(missing_ok=True)
        raise UserError(f"cannot write {out}: {e.strerror or e}") from None
    return out, img.size
