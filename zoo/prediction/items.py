"""What ``predict`` accepts, turned into a flat list of items, each with the source it names.

Image models: a path (str or Path) to an image file; a folder (its image files, sorted, not recursive); a glob
(``"photos/*.jpg"``, ``"data/**/*.png"``); a PIL image; a NumPy array (H x W x 3 RGB or H x W grey, uint8, or
floats in [0, 1]); or a list / tuple of any of these. Text models: a string is the text itself; a list of
strings is many. Question answering: ``{"question": ..., "context": ...}`` or a list of them.

``expand(x, kind)`` returns (items, sources, single): ``single`` when one item was given (``predict`` then
returns one result, not a list). Torch-free: the export runtime uses it too.
"""

from __future__ import annotations

import glob
import sys
from pathlib import Path
from typing import Any

from ..errors import UserError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif", ".ppm", ".pgm")
_GLOB_CHARS = "*?["


def input_kind(task: str) -> str:
    """"image", "text", "qa" or "vector": what kind of item a task's model takes."""
    if task in ("image-classification", "object-detection"):
        return "image"
    if task == "question-answering":
        return "qa"
    if task in ("text-classification", "translation"):
        return "text"
    return "vector"


def image_files(folder: Path) -> list[Path]:
    """A folder's image files by suffix, sorted (not recursive: a glob says ``**`` when that is wanted)."""
    return sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)


def _expand_path(x: str | Path) -> list[Path]:
    p = Path(x).expanduser()
    if p.is_dir():
        found = image_files(p)
        if not found:
            raise UserError(f"{p}: a folder with no image files ({', '.join(IMAGE_SUFFIXES[:4])}, ...)")
        return found
    if p.is_file():
        return [p]
    if any(c in str(x) for c in _GLOB_CHARS):
        found = sorted(Path(f) for f in glob.glob(str(p), recursive=True)
                       if Path(f).is_file() and Path(f).suffix.lower() in IMAGE_SUFFIXES)
        if not found:
            raise UserError(f"{x}: no image files match this pattern")
        return found
    raise UserError(f"{x}: no such file or folder")


def _array_to_image(a: Any):
    import numpy as np  # deferred: NumPy and Pillow are needed for array inputs only
    from PIL import Image

    a = np.asarray(a)
    if a.ndim == 3 and a.shape[-1] == 1:
        a = a[..., 0]
    if not (a.ndim == 2 or (a.ndim == 3 and a.shape[-1] in (3, 4))):
        raise UserError(f"an image array must be H x W or H x W x 3 (RGB), got shape {tuple(a.shape)}")
    if a.dtype != np.uint8:
        if not np.issubdtype(a.dtype, np.floating) or a.size and (a.min() < 0 or a.max() > 1):
            raise UserError(f"an image array must be uint8, or floats in [0, 1]; got {a.dtype}")
        a = (a * 255).round().astype(np.uint8)
    return Image.fromarray(a).convert("RGB")


def _one_image(x: Any) -> tuple[list, list]:
    if isinstance(x, (str, Path)):
        paths = _expand_path(x)
        return paths, [str(p) for p in paths]
    if type(x).__module__.startswith("PIL."):
        return [x], [None]
    if type(x).__module__ == "numpy":
        return [_array_to_image(x)], [None]
    raise UserError(f"an image model takes image paths, folders, globs, PIL images or arrays; got {type(x).__name__}")


def _one_text(x: Any, kind: str) -> tuple[list, list]:
    if kind == "qa":
        if not (isinstance(x, dict) and isinstance(x.get("question"), str) and isinstance(x.get("context"), str)):
            raise UserError('a question-answering model takes {"question": str, "context": str} items')
        return [x], [x["question"]]
    if not isinstance(x, str):
        raise UserError(f"a text model takes strings, got {type(x).__name__}")
    return [x], [x]


def _top_level(x: Any, kind: str) -> tuple[list, bool]:
    """(the top-level inputs, whether ``x`` is one item): a list or tuple is many; a folder or glob is many
    items from one input; a 2-D array of tabular rows is many rows."""
    if isinstance(x, (list, tuple)):
        return list(x), False
    if kind == "image" and isinstance(x, (str, Path)):
        return [x], Path(x).expanduser().is_file()
    if kind == "vector" and type(x).__module__ in ("numpy", "torch") and getattr(x, "ndim", 1) > 1:
        return list(x), False
    return [x], True


def expand(x: Any, kind: str) -> tuple[list, list[str | None], bool]:
    """(items, sources, single) for ``predict(x)``; a one-line UserError for anything it cannot take."""
    many, single = _top_level(x, kind)
    items: list = []
    sources: list[str | None] = []
    for one in many:
        if kind == "image":
            its, srcs = _one_image(one)
        elif kind in ("text", "qa"):
            its, srcs = _one_text(one, kind)
        else:
            its, srcs = [one], [None]
        items += its
        sources += srcs
    if not items:
        raise UserError("nothing to predict: no items given")
    return items, sources, single and len(items) == 1


def pil_open(path: str | Path):
    """``PIL.Image.open`` as Pillow ships it. Importing ultralytics replaces ``Image.open`` process-wide with
    one that, on a file Pillow cannot identify, pip-installs and imports pi_heif (ModuleNotFoundError offline,
    a download online) instead of raising UnidentifiedImageError; zoo calls the original it keeps."""
    from PIL import Image  # deferred: only image inputs need Pillow

    patches = sys.modules.get("ultralytics.utils.patches")
    original = getattr(patches, "_image_open", None)
    if original is not None and Image.open is getattr(patches, "image_open", None):
        return original(path)
    return Image.open(path)


def read_image(item: Any):
    """A decoded RGB PIL image from a path or a PIL image; a one-line UserError for a file that is not an
    image Pillow can read."""
    from PIL import (  # deferred: only image models need Pillow
        Image,
        UnidentifiedImageError,
    )

    if isinstance(item, Image.Image):
        return item if item.mode == "RGB" else item.convert("RGB")
    try:
        with pil_open(item) as im:
            return im.convert("RGB")
    except UnidentifiedImageError:
        raise UserError(f"{item}: not an image (Pillow cannot identify the file)") from None
    except (OSError, SyntaxError, ValueError) as e:  # truncated or corrupt image data
        raise UserError(f"{item}: unreadable image ({type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''})") from None


def batches(n: int, size: int):
    """(start, stop) of consecutive batches of at most ``size`` items out of ``n``."""
    size = max(1, int(size))
    return [(i, min(i + size, n)) for i in range(0, n, size)]
