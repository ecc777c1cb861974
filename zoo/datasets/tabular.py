"""Tabular data for evaluation: scikit-learn's bundled digits (the split the studies use) or a CSV file.

``digits``: the UCI optdigits 8x8 test set shipped in scikit-learn (1,797 rows, 64 pixel counts 0..16,
10 classes), split once, stratified, seed 0, into train 60 % / validation 20 % / test 20 % (1,078 / 359 /
360), the split of ``zoo.studies.common``. Features are raw (the model's preprocess scales them).
A CSV file: a header row, a ``label`` column (integer class) and numeric feature columns.
"""

from __future__ import annotations

import csv
import functools
import hashlib
from dataclasses import dataclass
from pathlib import Path

from ..errors import UserError
from ..results import sha256_file

DIGITS = "sklearn-digits (UCI optdigits 8x8, 1797 images)"
SPLITS = ("train", "validation", "test")
SPLIT_SEED = 0


@dataclass(frozen=True)
class TabularData:
    name: str
    rows: list[list[float]]
    labels: list[int]
    sha256: str


@functools.cache
def _digits():
    from sklearn.datasets import load_digits  # deferred: sklearn is heavy
    from sklearn.model_selection import train_test_split

    d = load_digits()
    sha = hashlib.sha256(d.data.astype("float64").tobytes() + d.target.astype("int64").tobytes()).hexdigest()
    idx = list(range(len(d.target)))
    tr, rest = train_test_split(idx, test_size=0.4, stratify=d.target, random_state=SPLIT_SEED)
    va, te = train_test_split(rest, test_size=0.5, stratify=d.target[rest], random_state=SPLIT_SEED)
    return d, sha, {"train": tr, "validation": va, "test": te}


def load_digits_split(split: str = "test") -> TabularData:
    aliases = {"val": "validation", "dev": "validation", "valid": "validation"}
    split = aliases.get(split, split)
    if split not in SPLITS:
        raise UserError(f"digits has no split {split!r}; expected one of {', '.join(SPLITS)}")
    d, sha, ids = _digits()
    rows = [[float(v) for v in d.data[i]] for i in ids[split]]
    return TabularData(f"{DIGITS} {split}", rows, [int(d.target[i]) for i in ids[split]], sha)


def load_csv(path: str | Path) -> TabularData:
    """A CSV with a header, an integer ``label`` column and numeric feature columns."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise UserError(f"data {path} does not exist (expected digits or a CSV file with a 'label' column)")
    with open(path, newline="") as f:
        reader = csv.DictReader(f)
        if not reader.fieldnames or "label" not in reader.fieldnames:
            raise UserError(f"{path}:1: expected a header with a 'label' column")
        feats = [c for c in reader.fieldnames if c != "label"]
        rows, labels = [], []
        for i, r in enumerate(reader, start=2):
            try:
                labels.append(int(r["label"]))
                rows.append([float(r[c]) for c in feats])
            except (TypeError, ValueError):
                raise UserError(f"{path}:{i}: expected an integer label and numeric features") from None
    if not rows:
        raise UserError(f"{path} has no rows")
    return TabularData(path.name, rows, labels, sha256_file(path))
