"""Reading images for evaluation: a map-style dataset that never raises on an unreadable file, a collate that
runs the model's own ``preprocess``, and the DataLoader settings (file order, workers, pinned memory).

``ItemFiles`` also serves items that are already in memory (text, feature vectors): ``read=None``."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, Callable, Sequence

from ..transforms import pil_open

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".ppm", ".tif", ".tiff", ".gif")
UNREADABLE = (OSError, SyntaxError, ValueError)  # PIL: UnidentifiedImageError (an OSError), truncated files


def unreadable_errors() -> tuple[type[BaseException], ...]:
    """What reading one image may raise that means "this file cannot be used" (skip and count it): UNREADABLE,
    plus PIL's refusal of a decompression bomb (a 15000x15000 JPEG): DecompressionBombError, and
    DecompressionBombWarning where warnings are errors (``-W error``)."""
    from PIL import Image  # deferred: PIL is only needed when images are read

    return (*UNREADABLE, Image.DecompressionBombError, Image.DecompressionBombWarning)


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
