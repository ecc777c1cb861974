"""NLP datasets from the files bundled under ``data/`` (SST-2, Multi30k en-de, SQuAD v1.1 dev), as HF ``datasets``.

    ds = load_split("sst2", "train")          # Dataset: sentence (str), label (int)
    ds = load_split("multi30k", "test")       # Dataset: en (str), de (str)   test = test_2016_flickr
    ds = load_split("squad", "test")          # Dataset: id, title, question, context, answers{text, answer_start}

Every line is checked while reading: a malformed line is a ``UserError`` naming the file and line number.
SQuAD has no training set here, so the v1.1 dev file is split BY ARTICLE: the first 24 articles are
"train", the last 24 "test" (``SQUAD_SPLIT_NOTE``; every SQuAD row and table says so).
``dataset_sha256(task, split)`` is the sha256 of the files a split reads (sha256 over file hashes when two).
The data folder is ``$ZOO_DATA`` when set, else ``data/`` at the repository root.

``--data hf:ID[:CONFIG]`` reads a Hugging Face hub data set in a bundled set's format through
``datasets.load_dataset`` (``read_hf``): the HF copies of the bundled sets have short names (``hf:glue/sst2``,
``hf:stanfordnlp/sst2``, ``hf:bentrevett/multi30k``, ``hf:rajpurkar/squad``; ``HF_SETS``). Offline
(ZOO_OFFLINE / HF_HUB_OFFLINE / HF_DATASETS_OFFLINE) only the local HF datasets cache is read; a set not in it
is a one-line error with the command to run on a connected machine.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import UserError
from ..offline import is_offline
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


def _squad_field(path: Path, obj, key: str, kind: type, where: str):
    """``obj[key]`` when obj is a dict holding a ``kind`` there, else a one-line UserError naming the entry."""
    if not isinstance(obj, dict) or not isinstance(obj.get(key), kind):
        raise UserError(f"{path}: {where} has no {key!r} ({kind.__name__}); not a SQuAD JSON file")
    return obj[key]


def squad_columns(path: Path, articles: list) -> dict[str, list]:
    """SQuAD articles as columns (id, title, question, context, answers); every answer span is checked."""
    cols: dict[str, list] = {"id": [], "title": [], "question": [], "context": [], "answers": []}
    for ai, a in enumerate(articles):
        for pi, p in enumerate(_squad_field(path, a, "paragraphs", list, f"article {ai}")):
            ctx = _squad_field(path, p, "context", str, f"article {ai} paragraph {pi}")
            for qi, qa in enumerate(_squad_field(path, p, "qas", list, f"article {ai} paragraph {pi}")):
                for key in ("id", "question"):
                    _squad_field(path, qa, key, str, f"article {ai} paragraph {pi} question {qi}")
                answers = qa.get("answers") or []
                for ans in answers:
                    s = ans.get("answer_start") if isinstance(ans, dict) else None
                    if not isinstance(s, int) or ctx[s : s + len(ans.get("text", ""))] != ans.get("text"):
                        raise UserError(f"{path}: question {qa.get('id')}: answer span does not match its context")
                cols["id"].append(qa["id"])
                cols["title"].append(a.get("title", ""))
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


# --- Hugging Face hub data sets ----------------------------------------------------------------------------

HF_PREFIX = "hf:"


@dataclass(frozen=True)
class HFSet:
    """A hub data set in the format of a bundled one: its id, config, the bundled format it has (sst2 |
    multi30k | squad), zoo split -> hub split (the GLUE / SQuAD test splits carry no labels: "test" reads the
    validation split), and the short names ``--data hf:NAME`` accepts for it."""

    repo: str
    config: str | None
    task: str
    splits: dict = field(default_factory=dict)
    aliases: tuple[str, ...] = ()
    cached_as: tuple[str, ...] = ()  # older names a cache may hold it under (the hub renamed "glue")


HF_SETS = (
    HFSet("nyu-mll/glue", "sst2", "sst2", {"test": "validation"}, ("glue/sst2", "glue:sst2"), ("glue",)),
    HFSet("stanfordnlp/sst2", None, "sst2", {"test": "validation"}),
    HFSet("bentrevett/multi30k", None, "multi30k"),
    HFSet("rajpurkar/squad", None, "squad", {"test": "validation"}, (), ("squad",)),
)


def is_hf(data) -> bool:
    return isinstance(data, str) and data.startswith(HF_PREFIX)


def resolve_hf(data: str, task: str) -> HFSet:
    """``hf:ID[:CONFIG]`` -> the HFSet to read for a model of the bundled format ``task``."""
    ref = data[len(HF_PREFIX):].strip()
    for known in HF_SETS:
        if ref in (known.repo, *known.aliases) or (known.config and ref == f"{known.repo}:{known.config}"):
            if known.task != task:
                raise UserError(f"{data} is {known.task} data; this model takes {task} data")
            return known
    repo, _, config = ref.partition(":")
    if not repo or repo.count("/") > 1:
        raise UserError(f"--data {data}: expected hf:ID or hf:ID:CONFIG (e.g. hf:glue/sst2, hf:rajpurkar/squad)")
    return HFSet(repo, config or None, task)


def _hf_cache_dir() -> str:
    """HF_DATASETS_CACHE, else $HF_HOME/datasets, read now (not when ``datasets`` was imported)."""
    if os.environ.get("HF_DATASETS_CACHE"):
        return os.environ["HF_DATASETS_CACHE"]
    if os.environ.get("HF_HOME"):
        return str(Path(os.environ["HF_HOME"]) / "datasets")
    return str(Path.home() / ".cache" / "huggingface" / "datasets")


def _hf_offline() -> bool:
    return is_offline() or os.environ.get("HF_DATASETS_OFFLINE", "").lower() in ("1", "true", "yes")


@contextlib.contextmanager
def _hf_quiet(offline: bool):
    """datasets' cache-hit warnings off; its offline switch on for the call when zoo is offline (the switch is
    read from the environment once, when datasets is imported)."""
    import datasets  # deferred: HF datasets is heavy

    level, was = datasets.logging.get_verbosity(), datasets.config.HF_HUB_OFFLINE
    datasets.logging.set_verbosity_error()
    datasets.config.HF_HUB_OFFLINE = was or offline
    try:
        yield datasets
    finally:
        datasets.logging.set_verbosity(level)
        datasets.config.HF_HUB_OFFLINE = was


def load_hf(hf: HFSet, split: str):
    """The hub split as a ``datasets.Dataset``, from the local cache when offline; a one-line UserError when it
    cannot be had (not cached offline, no such split, the hub unreachable)."""
    hub_split = hf.splits.get(split, {"dev": "validation", "val": "validation"}.get(split, split))
    args = f"{hf.repo!r}" + (f", {hf.config!r}" if hf.config else "")
    fetch = f"python -c \"import datasets; datasets.load_dataset({args})\""
    offline, cache, last = _hf_offline(), _hf_cache_dir(), None
    with _hf_quiet(offline) as datasets:
        for name in (hf.repo, *hf.cached_as):
            try:
                return datasets.load_dataset(name, hf.config, split=hub_split, cache_dir=cache), hub_split
            except ValueError as e:  # datasets' "Unknown split" (the set is there, the split is not)
                if "split" in str(e).lower():
                    raise UserError(f"hf:{hf.repo} has no split {hub_split!r} ({str(e).splitlines()[0]})") from None
                last = e
            except Exception as e:  # noqa: BLE001 - any failure to get the set is the same one line below
                last = e
    why = "not in the HF datasets cache" if offline else f"could not be loaded ({type(last).__name__})"
    raise UserError(f"hf:{hf.repo}{':' + hf.config if hf.config else ''} is {why} ({cache}); run on a connected "
                    f"machine: {fetch} (then copy its cache folder here or set HF_DATASETS_CACHE)")


def _labelled(repo: str, cols: dict[str, list], key: str) -> None:
    if key in cols and any(v is None or v == -1 for v in cols[key]):
        raise UserError(f"hf:{repo}: this split has no labels ({key} -1: a hidden test set); use --split validation")


def read_hf(data: str, task: str, split: str) -> tuple[dict[str, list], HFSet, str, list[Path]]:
    """``hf:ID[:CONFIG]`` as the columns ``read_split`` gives for ``task``, the set, the hub split read and its
    cache files (for the data hash). Columns are checked against the format."""
    hf = resolve_hf(data, task)
    ds, hub_split = load_hf(hf, split)
    need = {"sst2": ("sentence", "label"), "multi30k": ("en", "de"),
            "squad": ("id", "title", "question", "context", "answers")}[task]
    missing = [c for c in need if c not in ds.column_names]
    if missing:
        raise UserError(f"hf:{hf.repo} split {hub_split} has columns {ds.column_names}, not the {task} format "
                        f"(missing {missing})")
    cols = {c: ds[c] for c in need}
    _labelled(hf.repo, cols, "label")
    if task == "squad":
        cols["answers"] = [{"text": list(a["text"]), "answer_start": list(a["answer_start"])} for a in cols["answers"]]
    return cols, hf, hub_split, [Path(f["filename"]) for f in ds.cache_files]
