"""NLP datasets from the files bundled under ``data/`` (SST-2, Multi30k en-de, SQuAD v1.1 dev), as HF ``datasets``.

    ds = load_split("sst2", "train")          # Dataset: sentence (str), label (int)
    ds = load_split("multi30k", "test")       # Dataset: en (str), de (str)   test = test_2016_flickr
    ds = load_split("squad", "test")          # Dataset: id, title, question, context, answers{text, answer_start}

Every line is checked while reading: a malformed line is a ``UserError`` naming the file and line number.
SQuAD has no training set here, so the v1.1 dev file is split BY ARTICLE: the first 24 articles are
"train", the last 24 "test" (``SQUAD_SPLIT_NOTE``; every SQuAD row and table says so).
``dataset_sha256(task, split)`` is the sha256 of the files a split reads (sha256 over file hashes when two).
The data folder is ``$ZOO_DATA`` when set, else ``data/`` at the repository root.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

from ..errors import UserError
from ..results import sha256_file

TASKS = ("sst2", "multi30k", "squad")
SPLITS = {
    "sst2": {"train": "train", "validation": "dev", "test": "test"},
    "multi30k": {"train": "train", "validation": "val", "test": "test_2016_flickr"},
    "squad": {"train": "train", "test": "test"},
}
DATASET_NAMES = {
    "sst2": "SST-2 (sentence level, Kim 2014 split)",
    "multi30k": "Multi30k en-de",
    "squad": "SQuAD v1.1 dev, 24/24 article split",
}
SQUAD_SPLIT_NOTE = (
    "SQuAD v1.1 dev split by article (first 24 articles train, last 24 test; no official train set used): "
    "not comparable with official SQuAD dev scores"
)
SQUAD_TRAIN_ARTICLES = 24


def data_dir() -> Path:
    return Path(os.environ.get("ZOO_DATA", Path(__file__).resolve().parents[2] / "data"))


def check_task(task: str) -> str:
    if task not in TASKS:
        raise UserError(f"unknown NLP task {task!r}; expected one of {', '.join(TASKS)}")
    return task


def _split_name(task: str, split: str) -> str:
    check_task(task)
    aliases = {"dev": "validation", "val": "validation", "valid": "validation"}
    split = aliases.get(split, split)
    if split not in SPLITS[task]:
        raise UserError(f"{task} has no split {split!r}; expected one of {', '.join(SPLITS[task])}")
    return split


def split_files(task: str, split: str, root: str | os.PathLike | None = None) -> list[Path]:
    """The files a split reads (they must exist)."""
    split = _split_name(task, split)
    root = Path(root) if root is not None else data_dir()
    stem = SPLITS[task][split]
    if task == "sst2":
        files = [root / "sst2" / f"{stem}.tsv"]
    elif task == "multi30k":
        files = [root / "multi30k" / f"{stem}.en", root / "multi30k" / f"{stem}.de"]
    else:
        files = [root / "squad" / "dev-v1.1.json"]
    for f in files:
        if not f.is_file():
            raise UserError(f"dataset file {f} not found (set ZOO_DATA to the folder holding {task}/)")
    return files


def dataset_sha256(task: str, split: str, root: str | os.PathLike | None = None) -> str:
    return files_sha256(split_files(task, split, root))


def files_sha256(files: list[Path]) -> str:
    """sha256 of one file, or sha256 over (name, sha256) of each when several."""
    if len(files) == 1:
        return sha256_file(files[0])
    h = hashlib.sha256()
    for f in files:
        h.update(f.name.encode() + b"\0" + sha256_file(f).encode() + b"\n")
    return h.hexdigest()


def _read_lines(path: Path) -> list[str]:
    try:
        text = path.read_bytes().decode("utf-8")
    except UnicodeDecodeError as e:
        line = path.read_bytes()[: e.start].count(b"\n") + 1
        raise UserError(f"{path}:{line}: not valid UTF-8") from None
    return text.split("\n")[:-1] if text.endswith("\n") else text.split("\n")


def read_sst2(path: Path) -> dict[str, list]:
    lines = _read_lines(path)
    if not lines or lines[0] != "sentence\tlabel":
        raise UserError(f"{path}:1: expected the header 'sentence<TAB>label'")
    sentences, labels = [], []
    for i, line in enumerate(lines[1:], start=2):
        parts = line.split("\t")
        if len(parts) != 2 or parts[1] not in ("0", "1") or not parts[0].strip():
            raise UserError(f"{path}:{i}: malformed line (expected '<sentence><TAB><0|1>'): {line[:60]!r}")
        sentences.append(parts[0])
        labels.append(int(parts[1]))
    return {"sentence": sentences, "label": labels}


def read_parallel(src: Path, tgt: Path) -> dict[str, list]:
    a, b = _read_lines(src), _read_lines(tgt)
    if len(a) != len(b):
        raise UserError(f"{src} has {len(a)} lines but {tgt} has {len(b)}: the files are not line-aligned")
    for path, lines in ((src, a), (tgt, b)):
        for i, line in enumerate(lines, start=1):
            if not line.strip():
                raise UserError(f"{path}:{i}: malformed line (empty: every line must hold one sentence)")
    return {"en": a, "de": b}


def _squad_articles(path: Path) -> list:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))["data"]
    except (json.JSONDecodeError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise UserError(f"{path}: not a SQuAD JSON file ({type(e).__name__}: {e})") from None
    if not isinstance(data, list):
        raise UserError(f"{path}: not a SQuAD JSON file ('data' is not a list of articles)")
    return data


def read_squad(path: Path, split: str) -> dict[str, list]:
    data = _squad_articles(path)
    if len(data) != 2 * SQUAD_TRAIN_ARTICLES:
        raise UserError(f"{path}: expected 48 articles (SQuAD v1.1 dev), found {len(data)}")
    articles = data[:SQUAD_TRAIN_ARTICLES] if split == "train" else data[SQUAD_TRAIN_ARTICLES:]
    return squad_columns(path, articles)


def squad_columns(path: Path, articles: list) -> dict[str, list]:
    """SQuAD articles as columns (id, title, question, context, answers); every answer span is checked."""
    cols: dict[str, list] = {"id": [], "title": [], "question": [], "context": [], "answers": []}
    for a in articles:
        for p in a["paragraphs"]:
            ctx = p["context"]
            for qa in p["qas"]:
                answers = qa.get("answers") or []
                for ans in answers:
                    s = ans.get("answer_start")
                    if not isinstance(s, int) or ctx[s : s + len(ans.get("text", ""))] != ans.get("text"):
                        raise UserError(f"{path}: question {qa.get('id')}: answer span does not match its context")
                cols["id"].append(qa["id"])
                cols["title"].append(a["title"])
                cols["question"].append(qa["question"])
                cols["context"].append(ctx)
                cols["answers"].append(
                    {"text": [x["text"] for x in answers], "answer_start": [x["answer_start"] for x in answers]}
                )
    return cols


def read_split(task: str, split: str, root: str | os.PathLike | None = None) -> dict[str, list]:
    """The split as plain column lists (checked line by line)."""
    split = _split_name(task, split)
    files = split_files(task, split, root)
    if task == "sst2":
        return read_sst2(files[0])
    if task == "multi30k":
        return read_parallel(*files)
    return read_squad(files[0], split)


def path_files(task: str, path: str | os.PathLike) -> list[Path]:
    """The files of a data set given by path, in the format of the bundled ``task``: a TSV with the header
    ``sentence<TAB>label`` (sst2), a pair ``P.en`` / ``P.de`` given as P, P.en or P.de (multi30k), or a SQuAD
    v1.1 JSON file (squad, every article)."""
    check_task(task)
    path = Path(path).expanduser()
    if task == "multi30k":
        stem = path.with_suffix("") if path.suffix in (".en", ".de") else path
        files = [stem.parent / f"{stem.name}.en", stem.parent / f"{stem.name}.de"]
    else:
        files = [path]
    for f in files:
        if not f.is_file():
            want = {"sst2": "a .tsv file (sentence<TAB>label)", "multi30k": "line-aligned FILE.en and FILE.de",
                    "squad": "a SQuAD v1.1 .json file"}[task]
            raise UserError(f"data {f} does not exist (expected {want})")
    return files


def read_path(task: str, path: str | os.PathLike) -> dict[str, list]:
    """A data set given by path (``path_files``), as the columns ``read_split`` gives for ``task``."""
    files = path_files(task, path)
    if task == "sst2":
        return read_sst2(files[0])
    if task == "multi30k":
        return read_parallel(*files)
    return squad_columns(files[0], _squad_articles(files[0]))


def load_split(task: str, split: str, root: str | os.PathLike | None = None, limit: int | None = None):
    """A ``datasets.Dataset`` for the split (first ``limit`` rows when given)."""
    import datasets  # deferred: HF datasets is heavy

    cols = read_split(task, split, root)
    if limit is not None:
        cols = {k: v[:limit] for k, v in cols.items()}
    return datasets.Dataset.from_dict(cols)


def example_texts(task: str, n: int) -> list:
    """``n`` real items from the bundled test split, as raw model inputs (str or {"question", "context"})."""
    cols = read_split(task, "test")
    if task == "sst2":
        return cols["sentence"][:n]
    if task == "multi30k":
        return cols["en"][:n]
    return [{"question": q, "context": c} for q, c in zip(cols["question"][:n], cols["context"][:n])]
