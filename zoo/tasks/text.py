"""What the three text tasks share: ``--data`` is a bundled set (sst2, multi30k, squad), a path in that set's
format (``zoo.datasets.text.read_path``) or a Hugging Face hub set in it (``hf:glue/sst2``, ``hf:ID[:CONFIG]``,
``zoo.datasets.text.read_hf``), and a model ``zoo train`` trained has a default checkpoint."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..datasets.text import (DATASET_NAMES, SQUAD_SPLIT_NOTE, TASKS, dataset_sha256, files_sha256, is_hf,
                             path_files, read_hf, read_path, read_split)
from ..errors import UserError
from ..models.text.checkpoint import CONFIG, default_checkpoint_dir
from .base import EvalData, Task


class TextTask(Task):
    """A text task reads the bundled set ``dataset`` by default. Subclasses turn the columns into items and
    references (``columns_to_items``)."""

    dataset: str = ""  # the bundled data set: sst2 | multi30k | squad
    folder_checkpoints = True

    def pretrained_by_default(self, spec) -> bool:
        """Only published checkpoints zoo does not train (distilbert_*): MiniLM's weights are an encoder whose
        task head is new until fine-tuned, so its default is the ``zoo train`` checkpoint or random init."""
        return not spec.trainable and spec.weights is not None

    def load(self, data, *, split=None, labels=None, spec=None) -> EvalData:
        split = split or "test"
        if data is None or data == self.dataset:
            cols = read_split(self.dataset, split)
            return self.from_columns(cols, f"{DATASET_NAMES[self.dataset]} {split}",
                                     lambda: dataset_sha256(self.dataset, split), split=split,
                                     info={"note": SQUAD_SPLIT_NOTE} if self.dataset == "squad" else {})
        if is_hf(data):
            cols, hf, hub_split, files = read_hf(str(data), self.dataset, split)
            name = f"hf:{hf.repo}{':' + hf.config if hf.config else ''} {hub_split}"
            return self.from_columns(cols, name, lambda: files_sha256(files), split=hub_split)
        if str(data) in TASKS:
            who = f"{spec.name} is a {self.name} model" if spec is not None else f"{self.name} models take"
            raise UserError(f"{who}: it takes --data {self.dataset} (or a path in that format), not {data}")
        files = path_files(self.dataset, data)
        return self.from_columns(read_path(self.dataset, data), Path(data).name, lambda: files_sha256(files),
                                 path=str(Path(data).resolve()))

    def from_columns(self, cols: dict[str, list], name: str = "", sha256=None, *, path: str | None = None,
                     info: dict | None = None, split: str | None = None) -> EvalData:
        """Columns as ``read_split`` gives them -> EvalData (items are the model's raw text inputs)."""
        items, refs = self.columns_to_items(cols)
        if not items:  # e.g. a TSV with only its header: no metric is defined over nothing
            raise UserError(f"{path or name or self.dataset}: no items to score (the file has a header and no rows?)")
        ids = [str(x) for x in cols["id"]] if "id" in cols else [str(i) for i in range(len(items))]
        return EvalData(name, items, refs, ids, sha256=sha256 or (lambda: None), path=path,
                        info={"n_split": len(items), **(info or {})}, split=split)

    def columns_to_items(self, cols: dict[str, list]) -> tuple[list[Any], list[Any]]:
        raise NotImplementedError

    def default_checkpoint(self, spec) -> Path | None:
        folder = default_checkpoint_dir(spec.name, self.dataset)
        return folder if (folder / CONFIG).is_file() else None

    def summary(self, name: str, data: EvalData, metrics: dict) -> str:
        shown = ", ".join(f"{k} {metrics[k]:.2f}" for k in self.score_keys if metrics.get(k) is not None)
        return f"{name} on {data.name} ({metrics['n']} of {data.info.get('n_split', metrics['n'])} items): {shown}"
