"""Reading images for evaluation: a map-style dataset that never raises on an unreadable file, a collate that
runs the model's own ``preprocess``, and the DataLoader settings (file order, workers, pinned memory).

``ItemFiles`` also serves items that are already in memory (text, feature vectors): ``read=None``."""

from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import UserError
from ..transforms import pil_open

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".tif", ".tiff", ".gif")
UNREADABLE = (OSError, SyntaxError, ValueError)  # PIL: UnidentifiedImageError (an OSError), truncated files


def unreadable_errors() -> tuple[type[BaseException], ...]:
    """What reading one image may raise that means "this file cannot be used" (skip and count it): UNREADABLE,
    plus PIL's refusal of a decompression bomb (a 15000x15000 JPEG): DecompressionBombError, and
    DecompressionBombWarning where warnings are errors (``-W error``)."""
    from PIL import Image  # deferred: PIL is only needed when images are read

    return (*UNREADABLE, Image.DecompressionBombError, Image.DecompressionBombWarning)


def printable(name: str) -> str:
    """A file name as text that can be printed and written as UTF-8: bytes that are not UTF-8 (kept by
    Python as surrogate escapes) become ``\\xNN``, so an id or a message never fails to encode."""
    return name.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


def is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS


def read_rgb(path: Path):
    """The image at ``path`` decoded with PIL, as RGB (the reference decode path)."""
    with pil_open(path) as im:
        return im.convert("RGB")


def read_bytes(path: Path):
    """The encoded file as a uint8 tensor, for decoding on the GPU."""
    from torchvision.io import read_file  # deferred: torchvision is heavy

    return read_file(str(path))


class ItemFiles:
    """A map-style dataset: ``ds[i] -> (i, item | None, error | None)``.

    ``read(source)`` turns ``sources[i]`` into the model's raw item (``read_rgb``: a PIL image; ``read_bytes``:
    the file's bytes for GPU decoding; None: the source is the item). A file ``read`` cannot decode gives
    ``(i, None, "why")`` instead of raising, so the harness can skip it and count it.
    """

    def __init__(self, sources: Sequence[Any], read: Callable[[Any], Any] | None = None):
        self.sources = sources
        self.read = read

    def __len__(self) -> int:
        return len(self.sources)

    def __getitem__(self, i: int):
        src = self.sources[i]
        if self.read is None:
            return i, src, None
        try:
            return i, self.read(src), None
        except unreadable_errors() as e:  # evaluated only when reading raised
            return i, None, f"{type(e).__name__}: {e}"


class ImageFiles(ItemFiles):
    """Image paths decoded with PIL (``raw=False``) or returned as encoded bytes (``raw=True``)."""

    def __init__(self, paths: list[Path], raw: bool = False):
        super().__init__(list(paths), read_bytes if raw else read_rgb)
        self.raw = raw


class PreprocessCollate:
    """DataLoader collate: drop unreadable items (reported), run the model's own ``preprocess`` on the rest.

    Returns ``(indices, inputs, meta, bad)`` where ``bad`` is a list of (index, error); with ``preprocess``
    None, ``inputs`` is the list of raw items (bytes tensors) and ``meta`` is None.
    """

    def __init__(self, preprocess=None):
        self.preprocess = preprocess

    def __call__(self, samples):
        idx = [i for i, x, e in samples if e is None]
        items = [x for i, x, e in samples if e is None]
        bad = [(i, e) for i, x, e in samples if e is not None]
        if self.preprocess is None or not items:
            return idx, items or None, None, bad
        b = self.preprocess(items)
        return idx, b.inputs, b.meta, bad


def default_workers() -> int:
    """DataLoader worker processes: one fewer than the cores (the main process runs the model), at most 8."""
    return max(0, min(8, (os.cpu_count() or 1) - 1))


def make_loader(files: ItemFiles, collate: PreprocessCollate, batch_size: int, workers: int | None, pin: bool,
                sampler=None):
    """A DataLoader in file order (no shuffling; ``sampler`` picks this process's share) with ``workers``
    processes and pinned memory for CUDA."""
    from torch.utils.data import DataLoader  # deferred: torch is heavy

    workers = default_workers() if workers is None else workers
    return DataLoader(files, batch_size=batch_size, shuffle=False, sampler=sampler, num_workers=workers, collate_fn=collate,
                      pin_memory=pin, persistent_workers=False, prefetch_factor=4 if workers else None)


MAX_TEXT_BYTES = 1 << 30  # a data or annotation file zoo reads whole (COCO val2017 instances: ~450 MB)


def read_bounded(path: str | os.PathLike, limit: int = MAX_TEXT_BYTES, what: str = "file") -> bytes:
    """The bytes of a regular file of at most ``limit`` bytes. A FIFO, device (/dev/zero) or folder is
    refused before it is opened (opening a FIFO would block, reading /dev/zero would never end), and at most
    ``limit`` + 1 bytes are read whatever the file claims. Raises UserError (one line)."""
    path = Path(path)
    try:
        st = os.stat(path)
    except OSError as e:
        raise UserError(f"{what} {path} cannot be read ({e.strerror})") from None
    if not stat.S_ISREG(st.st_mode):
        raise UserError(f"{what} {path} is not a regular file (a pipe, device or folder); give a file")
    if st.st_size > limit:
        raise UserError(f"{what} {path} is {st.st_size} bytes, more than zoo reads ({limit}); not read")
    try:
        with open(path, "rb") as f:
            data = f.read(limit + 1)
    except OSError as e:
        raise UserError(f"{what} {path} cannot be read ({e.strerror})") from None
    if len(data) > limit:
        raise UserError(f"{what} {path} grew past {limit} bytes while read; not read")
    return data
