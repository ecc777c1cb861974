"""Image-classification data sets on disk: ImageNet-style folders, label files, the devkit, ImageFolder.

Classification layouts (``load_classification``), tried in this order:

1. a label file in the folder, ``labels.tsv`` (or ``.csv``): a header with a file column
   (``filename`` | ``path`` | ``file``) and ``class_index`` (and optionally ``wnid``); images are found at
   the path given, relative to the folder or to ``images/`` under it. This is the layout of
   ../shared/data/imagenet_sample_dev and cifar10_test_subset.
2. flat files plus a ground-truth list (the ImageNet val layout): images in the folder (or ``images/``) and
   ``val.txt`` / ``ground_truth.txt`` with ``<file name> <class index>`` per line (0-based, classes in
   sorted-wnid order: the caffe / timm convention), or Kaggle's ``LOC_val_solution.csv``
   (``ImageId,PredictionString`` whose first token is the wnid), or the official devkit's
   ``ILSVRC2012_validation_ground_truth.txt`` + ``meta.mat`` (devkit IDs mapped to wnids).
3. synset folders (``n01440764/…``): each folder name is an ImageNet wnid, index = its position in the
   sorted list of the 1,000 ILSVRC-2012 wnids (timm's ImageNetInfo), whether all 1,000 folders are present
   or not.
4. any ImageFolder (``<class name>/<image>``): folders named by integers ("0", "7", ...) are that class
   index; otherwise classes are the folder names in sorted order (torchvision's ImageFolder convention)
   unless a ``classes.txt`` (one name per line, line number = index) says otherwise.
"""

from __future__ import annotations

import csv
import functools
import sys
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from .loader import IMAGE_EXTENSIONS, is_image, printable

LABEL_FILES = ("labels.tsv", "labels.csv")
GROUND_TRUTH_FILES = ("val.txt", "ground_truth.txt", "val_labels.txt")
KAGGLE_SOLUTION = "LOC_val_solution.csv"


@functools.cache
def imagenet_wnids() -> tuple[str, ...]:
    """The 1,000 ILSVRC-2012 wnids in sorted order (index = class index), from timm's bundled list."""
    from timm.data import ImageNetInfo  # deferred: timm is heavy

    info = ImageNetInfo()
    return tuple(info.index_to_label_name(i) for i in range(info.num_classes()))


def _is_wnid(name: str) -> bool:
    return len(name) == 9 and name[0] == "n" and name[1:].isdigit()


@dataclass
class ClassificationData:
    """Labelled images: ``samples`` is a list of (path, class index), in a fixed order (sorted by path)."""

    root: Path
    name: str
    layout: str  # "label-file" | "ground-truth-list" | "synset-folders" | "image-folder"
    samples: list[tuple[Path, int]]
    num_classes: int  # classes the labels are drawn from (1000 for ImageNet layouts)
    class_names: list[str] | None = None  # index -> name, when the layout names the classes
    mapping: str = ""  # how file -> index was decided, for the result row
    numeric: bool = False  # class folders named by their index ("0", "1", ...): a subset of classes is fine
    warnings: dict[str, int] = field(default_factory=dict)  # what was skipped, by reason (_class_folders)

    def sample_id(self, path: Path) -> str:
        try:
            return printable(path.relative_to(self.root).as_posix())
        except ValueError:
            return printable(str(path))


def _check_dir(root: Path) -> Path:
    root = Path(root).expanduser()
    if not root.exists():
        raise UserError(f"data folder {root} does not exist")
    if not root.is_dir():
        raise UserError(f"--data {root} is a file; give a folder of images (ImageNet layout or ImageFolder)")
    return root


def _resolve_image(root: Path, rel: str) -> Path:
    for base in (root, root / "images"):
        p = base / rel
        if p.is_file():
            return p
    raise UserError(f"{root}: the label file names {rel!r}, which is not in {root} or {root / 'images'}")


def _read_label_file(root: Path, path: Path) -> ClassificationData:
    delim = "\t" if path.suffix == ".tsv" else ","
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f, delimiter=delim))
    if not rows:
        raise UserError(f"{path} has no rows")
    cols = rows[0].keys()
    file_col = next((c for c in ("filename", "path", "file") if c in cols), None)
    if file_col is None or "class_index" not in cols:
        raise UserError(f"{path}: expected columns 'filename' (or 'path') and 'class_index', found {list(cols)}")
    samples, names = [], {}
    for i, r in enumerate(rows, start=2):
        try:
            idx = int(r["class_index"])
        except (TypeError, ValueError):
            raise UserError(f"{path}:{i}: class_index {r['class_index']!r} is not an integer") from None
        if idx < 0:  # would be scored as a wrong prediction, not refused
            raise UserError(f"{path}:{i}: class_index {idx} is negative; class indices start at 0")
        samples.append((_resolve_image(root, r[file_col]), idx))
        names.setdefault(idx, r.get("wnid") or r.get("label"))
    wnids = {r["wnid"] for r in rows if r.get("wnid")}
    if wnids and all(_is_wnid(w) for w in wnids):
        known = imagenet_wnids()
        bad = [(r["wnid"], r["class_index"]) for r in rows if known.index(r["wnid"]) != int(r["class_index"])] \
            if wnids <= set(known) else [("unknown wnids", sorted(wnids - set(known))[:3])]
        if bad:
            raise UserError(f"{path}: wnid and class_index disagree with the ILSVRC-2012 sorted-wnid order: {bad[:3]}")
        return ClassificationData(root, root.name, "label-file", sorted(samples), 1000, list(known),
                                  f"{path.name} (wnid -> sorted ILSVRC-2012 index, checked)")
    num = max(names) + 1
    class_names = [names.get(i) or str(i) for i in range(num)]
    return ClassificationData(root, root.name, "label-file", sorted(samples), num, class_names, f"{path.name} class_index")


def _read_ground_truth(root: Path, path: Path) -> ClassificationData:
    samples = []
    if path.name == KAGGLE_SOLUTION:
        index = {w: i for i, w in enumerate(imagenet_wnids())}
        with open(path, newline="") as f:
            for i, r in enumerate(csv.DictReader(f), start=2):
                wnid = (r.get("PredictionString") or "").split()[:1]
                if not wnid or wnid[0] not in index:
                    raise UserError(f"{path}:{i}: no ImageNet wnid in PredictionString")
                name = r["ImageId"]
                samples.append((_resolve_image(root, name if Path(name).suffix else name + ".JPEG"), index[wnid[0]]))
        mapping = f"{path.name} (wnid -> sorted ILSVRC-2012 index)"
    else:
        for i, line in enumerate(path.read_text().splitlines(), start=1):
            parts = line.split()
            if not parts:
                continue
            if len(parts) != 2 or not parts[1].lstrip("-").isdigit():
                raise UserError(f"{path}:{i}: expected '<file name> <class index>', got {line!r}")
            if not 0 <= int(parts[1]) < 1000:  # a sorted-wnid index; -1 would be scored as a wrong prediction
                raise UserError(f"{path}:{i}: class index {parts[1]} is outside 0-999 (ImageNet-1k, sorted wnids)")
            samples.append((_resolve_image(root, parts[0]), int(parts[1])))
        mapping = f"{path.name} (0-based class index, sorted-wnid order)"
    if not samples:
        raise UserError(f"{path} lists no images")
    return ClassificationData(root, root.name, "ground-truth-list", sorted(samples), 1000, list(imagenet_wnids()), mapping)


DEVKIT_GT = "ILSVRC2012_validation_ground_truth.txt"


def _devkit_files(root: Path) -> tuple[Path, Path] | None:
    """(ground truth, meta.mat) of the ILSVRC-2012 devkit, beside the images or in a devkit folder."""
    for d in (root, root / "devkit", root.parent / "ILSVRC2012_devkit_t12" / "data", root / "ILSVRC2012_devkit_t12" / "data"):
        if (d / DEVKIT_GT).is_file():
            meta = d / "meta.mat"
            if not meta.is_file():
                raise UserError(f"{d / DEVKIT_GT} uses the devkit's ILSVRC2012_IDs, which need {meta} to map to classes")
            return d / DEVKIT_GT, meta
    return None


def _read_devkit(root: Path, gt: Path, meta: Path) -> ClassificationData:
    """The official devkit layout: line i of the ground truth is ILSVRC2012_val_{i:08d}.JPEG's ILSVRC2012_ID
    (1-based, devkit order); meta.mat maps ID -> wnid, and zoo indexes wnids in sorted order."""
    from scipy.io import loadmat  # deferred: scipy is only needed for the devkit layout

    synsets = loadmat(str(meta), squeeze_me=True)["synsets"]
    id_to_wnid = {int(s["ILSVRC2012_ID"]): str(s["WNID"]) for s in synsets}
    index = {w: i for i, w in enumerate(imagenet_wnids())}
    samples = []
    for i, line in enumerate(gt.read_text().split(), start=1):
        wnid = id_to_wnid.get(int(line))
        if wnid not in index:
            raise UserError(f"{gt}:{i}: ILSVRC2012_ID {line} has no ImageNet-1k wnid in {meta}")
        samples.append((_resolve_image(root, f"ILSVRC2012_val_{i:08d}.JPEG"), index[wnid]))
    return ClassificationData(root, root.name, "ground-truth-list", samples, 1000, list(imagenet_wnids()),
                              f"{gt.name} + meta.mat (ILSVRC2012_ID -> wnid -> sorted index)")


def load_classification(root: str | Path, labels: str | Path | None = None) -> ClassificationData:
    """Find the layout of ``root`` and return its labelled images; a clear UserError when it has none.

    ``labels``: an explicit label file (labels.tsv-style or a ground-truth list) overriding the search.
    """
    root = _check_dir(Path(root))
    if labels is not None:
        labels = Path(labels)
        if not labels.is_file():
            raise UserError(f"label file {labels} does not exist")
        if labels.suffix in (".tsv", ".csv") and labels.name != KAGGLE_SOLUTION:
            return _read_label_file(root, labels)
        return _read_ground_truth(root, labels)
    for n in LABEL_FILES:
        if (root / n).is_file():
            return _read_label_file(root, root / n)
    for n in (*GROUND_TRUTH_FILES, KAGGLE_SOLUTION):
        if (root / n).is_file():
            return _read_ground_truth(root, root / n)
    devkit = _devkit_files(root)
    if devkit:
        return _read_devkit(root, *devkit)

    per_class, warnings = _class_folders(root)
    if not per_class:
        loose = [p for p in root.iterdir() if is_image(p)]
        if loose:
            raise UserError(
                f"{root} holds {len(loose)} images but no labels: add labels.tsv (filename, class_index) or a "
                "ground-truth list (val.txt: '<file> <index>'), or sort the images into one folder per class"
            )
        raise UserError(f"{root} holds no images (looked for {', '.join(IMAGE_EXTENSIONS)} in class folders)")

    if all(_is_wnid(n) for n in per_class):
        wnids = imagenet_wnids()
        unknown = sorted(set(per_class) - set(wnids))
        if unknown:
            raise UserError(f"{root}: folders {unknown[:3]} look like wnids but are not ILSVRC-2012 classes")
        samples = sorted((p, wnids.index(n)) for n, ps in per_class.items() for p in ps)
        return ClassificationData(root, root.name, "synset-folders", samples, 1000, list(wnids),
                                  "synset folder -> sorted ILSVRC-2012 wnid index")

    classes_txt = root / "classes.txt"
    if not classes_txt.is_file() and all(_is_index(n) for n in per_class):
        num = max(int(n) for n in per_class) + 1
        if num > MAX_NUMBERED_CLASSES:
            raise UserError(f"{root}: class folder {max(per_class, key=int)!r} would be class index {num - 1}; "
                            f"numbered class folders are indices 0..{MAX_NUMBERED_CLASSES - 1}")
        samples = sorted((p, int(n)) for n, ps in per_class.items() for p in ps)
        return ClassificationData(root, root.name, "image-folder", samples, num, [str(i) for i in range(num)],
                                  "folder name is the class index", numeric=True, warnings=warnings)
    if classes_txt.is_file():
        names = [ln.strip() for ln in classes_txt.read_text().splitlines() if ln.strip()]
        missing = sorted(set(per_class) - set(names))
        if missing:
            raise UserError(f"{root}: folders {missing[:5]} are not in classes.txt")
        mapping = "classes.txt line number"
    else:
        names = sorted(per_class)
        mapping = "sorted folder names (torchvision ImageFolder order)"
    index = {n: i for i, n in enumerate(names)}
    samples = sorted((p, index[n]) for n, ps in per_class.items() for p in ps)
    return ClassificationData(root, root.name, "image-folder", samples, len(names), names, mapping,
                              warnings=warnings)


MAX_NUMBERED_CLASSES = 100_000


def _is_index(name: str) -> bool:
    """ASCII digits only: "²" and "٣" are digits to str.isdigit but not to int()."""
    return name.isascii() and name.isdigit()


def _class_folders(root: Path) -> tuple[dict[str, list[Path]], dict[str, int]]:
    """Class folder name -> its images (sorted), and what was left out, counted. A class folder that is a
    link into this data set (to the root: a loop; to another class: its images twice) is skipped; an image
    reached under two classes keeps the first. Links out of the data set (data kept elsewhere) are followed."""
    real_root = root.resolve()
    per_class: dict[str, list[Path]] = {}
    seen: set[Path] = set()
    warnings = {"linked_class_folders": 0, "duplicate_images": 0}
    for d in sorted(root.iterdir()):
        if d.name.startswith(".") or not d.is_dir():
            continue
        target = d.resolve()
        if d.is_symlink() and (target.is_relative_to(real_root) or real_root.is_relative_to(target)):
            warnings["linked_class_folders"] += 1
            continue
        files = []
        for p in sorted(d.rglob("*")):
            if is_image(p):
                real = p.resolve()
                if real in seen:
                    warnings["duplicate_images"] += 1
                    continue
                seen.add(real)
                files.append(p)
        if files:
            per_class[d.name] = files
    warnings = {k: v for k, v in warnings.items() if v}
    if warnings:
        said = ", ".join(f"{v} {k.replace('_', ' ')}" for k, v in warnings.items())
        print(f"zoo: warning: {root}: {said} skipped (links back into the data set); the row counts them",
              file=sys.stderr)
    return per_class, warnings


def imagenet_labelled(data: ClassificationData) -> bool:
    """The labels are ImageNet-1k's by their wnids (synset folders, the val ground truth or devkit, a label file
    whose wnids were checked), not only indices below 1000."""
    checked_wnids = "ILSVRC-2012" in data.mapping and "checked" in data.mapping
    return data.layout in ("synset-folders", "ground-truth-list") or checked_wnids


MAP_HINT = ("; map the data's classes to the model's with --labels FILE.tsv (columns filename, class_index in "
            "the model's classes)")


def _norm(name: str) -> str:
    return " ".join(name.lower().replace("_", " ").replace("-", " ").split())


def _same_class(data_name: str, model_name: str) -> bool:
    """The data's class name is the model's: equal, or one of its comma-separated synonyms (ImageNet's
    "tench, Tinca tinca"), ignoring case, '_' and '-'."""
    return _norm(data_name) in {_norm(n) for n in model_name.split(",")}


def _named_classes(data: ClassificationData) -> dict[int, str]:
    """index -> name for the classes the data names by a word (not wnids, which are checked on reading, and
    not bare numbers)."""
    if data.numeric or data.layout in ("synset-folders", "ground-truth-list") or not data.class_names:
        return {}
    return {i: n for i, n in enumerate(data.class_names) if n and not n.isdigit() and not _is_wnid(n)}


def check_classes(data: ClassificationData, num_classes: int, model_class_names, model: str, *,
                  explicit_labels: bool = False) -> None:
    """Refuse data whose label space is not the model's: more classes than the model's outputs, or class names
    that disagree with the model's (``model_class_names``: index -> name, synonyms comma-separated, when known).

    ``explicit_labels``: the user gave --labels, the mapping to the model's indices: only the count is checked."""
    top = max(i for _, i in data.samples)
    if data.num_classes > num_classes or top >= num_classes:
        raise UserError(f"class mapping does not match: {data.root} has {data.num_classes} classes ({data.mapping}) "
                        f"but model {model!r} has {num_classes} outputs" + MAP_HINT)
    if explicit_labels:
        return
    folder = data.layout == "image-folder" and not data.numeric
    if folder and num_classes == 1000 and data.num_classes != 1000 and not model_class_names:
        raise UserError(f"class mapping does not match: {data.root} has {data.num_classes} class folders that are not "
                        f"ImageNet wnids, and model {model!r} predicts the 1000 ImageNet classes" + MAP_HINT)
    if folder and data.num_classes != num_classes and not model_class_names:
        raise UserError(f"class mapping does not match: {data.root} has {data.num_classes} classes but model {model!r} "
                        f"has {num_classes}; add a classes.txt listing the model's classes in index order" + MAP_HINT)
    named = _named_classes(data)
    if not model_class_names or not named:
        return
    wrong = [(i, n) for i, n in named.items() if not _same_class(n, model_class_names[i])]
    if wrong:
        i, got = wrong[0]
        want = model_class_names[i].split(",")[0]
        label_set = "the 1000 ImageNet-1k classes" if num_classes == 1000 else f"{num_classes} classes"
        raise UserError(f"class mapping does not match: class {i} is {got!r} in {data.root} but {want!r} for model "
                        f"{model!r}, which predicts {label_set} ({len(wrong)} of {len(named)} named classes differ)"
                        + MAP_HINT)
