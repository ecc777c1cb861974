"""Training data in the ImageFolder layout: ``DIR/<class name>/<image>``, classes in sorted folder order.

    data = load_imagefolder("data/cifar10/train")       # checked: 2+ classes, each with images
    data.class_names, len(data), data.sha256()
    ds = ImageFolderItems(data, transform)               # ds[i] -> (transform(PIL RGB image), class index)

The class index of a folder is its position in the sorted list of folder names (torchvision's ImageFolder
convention), or its line in a ``classes.txt`` when the folder has one: the same rule ``zoo eval`` uses for
an ImageFolder, so a checkpoint trained here is scored with the same indices. Images are decoded once, on
first use, and kept in memory as PIL images (a 4,000-image 32x32 set is 12 MB); training then re-runs only
the (random) transform each time an image is drawn.

Bad data is one ``UserError`` line before any training: a missing folder, a file, no class folders, one
class only, or a class folder without images.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..errors import UserError
from ..results import sha256_tree
from .loader import is_image, read_rgb

CLASSES_FILE = "classes.txt"


@dataclass
class ImageFolderData:
    """Labelled image files: ``samples`` is a list of (path, class index), sorted by path."""

    root: Path
    class_names: list[str]
    samples: list[tuple[Path, int]]
    _sha256: str | None = field(default=None, repr=False)

    def __len__(self) -> int:
        return len(self.samples)

    @property
    def labels(self) -> list[int]:
        return [y for _, y in self.samples]

    def sha256(self) -> str:
        """Identity of the data: sha256 over every file's relative path and sha256 (``zoo.results``)."""
        if self._sha256 is None:
            self._sha256 = sha256_tree(self.root)
        return self._sha256

    def subset(self, indices: list[int]) -> "ImageFolderData":
        """The same classes, only the samples at ``indices`` (in that order)."""
        return ImageFolderData(self.root, self.class_names, [self.samples[i] for i in indices])


def load_imagefolder(root: str | Path) -> ImageFolderData:
    """Read and check an ImageFolder; one-line UserError for every way it can be unusable."""
    root = Path(root).expanduser()
    if not root.exists():
        raise UserError(f"--data {root} does not exist")
    if not root.is_dir():
        raise UserError(f"--data {root} is a file; give a folder with one sub-folder of images per class")
    folders = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")
                     and not _links_inside(p, root))
    if not folders:
        raise UserError(f"--data {root} has no class folders; expected {root}/<class name>/<image files>")
    names = _class_order(root, folders)
    if len(names) < 2:
        raise UserError(f"--data {root} has one class ({names[0]!r}); a classifier needs at least 2 class folders")
    samples = []
    for index, name in enumerate(names):
        files = sorted(p for p in (root / name).iterdir() if is_image(p)) if (root / name).is_dir() else []
        if not files:
            raise UserError(f"--data {root}: class folder {name!r} has no images")
        samples += [(p, index) for p in files]
    return ImageFolderData(root, names, sorted(samples))


def _links_inside(folder: Path, root: Path) -> bool:
    """A class folder that is a link back into the data set (to the root: a loop; to another class: its
    images under a second label) is left out, with one warning line, instead of trained on twice."""
    if not folder.is_symlink():
        return False
    target, real_root = folder.resolve(), root.resolve()
    if target.is_relative_to(real_root) or real_root.is_relative_to(target):
        print(f"zoo: warning: --data {root}: class folder {folder.name!r} links back into the data set; left out",
              file=sys.stderr)
        return True
    return False


def _class_order(root: Path, folders: list[str]) -> list[str]:
    listed = root / CLASSES_FILE
    if not listed.is_file():
        return folders
    names = [ln.strip() for ln in listed.read_text().splitlines() if ln.strip()]
    missing = sorted(set(folders) - set(names))
    if missing:
        raise UserError(f"--data {root}: folders {missing[:3]} are not listed in {CLASSES_FILE}")
    return names


class ImageFolderItems:
    """Map-style dataset over ``ImageFolderData``: ``ds[i] -> (transform(image), label)``; images decoded
    once and cached. ``labels`` may replace the folder labels (e.g. with some flipped, for a noise study)."""

    def __init__(self, data: ImageFolderData, transform: Callable[[Any], Any], labels: list[int] | None = None):
        self.data, self.transform = data, transform
        self.labels = list(labels) if labels is not None else data.labels
        if len(self.labels) != len(data):
            raise ValueError(f"{len(self.labels)} labels for {len(data)} images")
        self._images: dict[int, Any] = {}

    def __len__(self) -> int:
        return len(self.data)

    def image(self, i: int):
        if i not in self._images:
            path = self.data.samples[i][0]
            try:
                self._images[i] = read_rgb(path)
            except OSError as e:
                raise UserError(f"cannot read training image {path}: {e}") from None
        return self._images[i]

    def __getitem__(self, i: int) -> tuple[Any, int]:
        return self.transform(self.image(i)), self.labels[i]
