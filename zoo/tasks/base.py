"""The task contract: what one task module declares so that ``zoo.evaluate`` can score any model of that task.

A task module (``zoo/tasks/<task>.py``) defines a ``Task`` subclass and registers it with ``@register_task``;
``zoo.tasks`` imports every module in the package, so adding a task is one new file. A task declares:

- ``name``: the task string of the model specs it scores (``spec.task``, e.g. "image-classification");
- ``score_keys``: the metric keys it reports, headline first (the leaderboard score: top1, map, accuracy, ...);
- ``load(data, split=..., labels=..., spec=...) -> EvalData``: how its data loads (through ``zoo.datasets``);
- ``metric(data) -> Metric``: a streaming metric in the shape of HF evaluate, ``add_batch(predictions=...,
  references=...)`` then ``compute() -> dict`` (scores in percent), backed by a well-kept library;
- ``record(prediction, reference) -> dict``: the task's fields of one line of the predictions file;
- ``summary(name, data, metrics) -> str``: the one line the CLI prints;
- optionally ``reference_checks`` (measured vs the spec's published figures) and ``default_checkpoint``.

Predictions are the model's ``postprocess`` dicts (zoo.models.base documents them per task).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Sequence

from ..errors import UserError

TOLERANCE_FLOOR_PP = 0.3


@dataclass
class EvalData:
    """A data set read for evaluation: item i is ``read(sources[i])`` (or ``sources[i]`` itself when ``read`` is
    None), scored against ``references[i]`` and named ``ids[i]`` in the predictions file."""

    name: str  # the row's "dataset"
    sources: Sequence[Any]
    references: Sequence[Any]
    ids: Sequence[str]
    sha256: Callable[[], str]  # the data set's hash, computed once, on rank 0
    read: Callable[[Any], Any] | None = None  # e.g. an image decoder; may raise on an unreadable file
    path: str | None = None  # the data path the user gave (None for a bundled set)
    info: dict[str, Any] = field(default_factory=dict)  # extra row fields (layout, class_mapping, note, ...)
    gpu_decodable: bool = False  # sources are image files that ``--decode gpu`` may decode on CUDA
    default_workers: int | None = 0  # DataLoader workers unless the user says (None: the loader's default)
    detail: Any = None  # the dataset object the task's metric needs (e.g. the COCO ground truth)
    split: str | None = None  # the split read, when the data has splits (the row's settings["split"])

    def __len__(self) -> int:
        return len(self.sources)

    def take(self, limit: int | None) -> "EvalData":
        """The first ``limit`` items (all when None)."""
        if limit is None:
            return self
        return replace(self, sources=self.sources[:limit], references=self.references[:limit], ids=self.ids[:limit])


class Metric:
    """Streaming metric (HF evaluate's shape): ``add_batch(predictions=..., references=...)``, ``compute()``."""

    def add_batch(self, *, predictions: Sequence[dict], references: Sequence[Any]) -> None:
        raise NotImplementedError

    def compute(self) -> dict[str, Any]:
        raise NotImplementedError


class Task:
    """One task: data loading, prediction record, metric and score keys (see the module docstring)."""

    name: str = ""
    score_keys: tuple[str, ...] = ()
    default_batch_size: int = 64
    throughput_key: str = "items_per_s"  # the metric key for items per second in the row
    data_help: str = ""  # what --data takes, for error messages
    folder_checkpoints: bool = False  # --checkpoint may be a `zoo train` folder (zoo_config.json), not only a file

    def load(self, data: str | Path | None, *, split: str | None = None, labels: str | Path | None = None,
             spec=None) -> EvalData:
        raise NotImplementedError

    def metric(self, data: EvalData) -> Metric:
        raise NotImplementedError

    def record(self, prediction: dict, reference: Any) -> dict:
        return dict(prediction)

    def summary(self, name: str, data: EvalData, metrics: dict) -> str:
        shown = ", ".join(f"{k} {metrics[k]:.2f}" for k in self.score_keys if metrics.get(k) is not None)
        return f"{name} on {data.name} ({metrics.get('n')} items): {shown}"

    def reference_checks(self, spec, metrics: dict, data: EvalData) -> list[dict]:
        """Measured beside the spec's published figures (none by default)."""
        return []

    def pretrained_by_default(self, spec) -> bool:
        """Score the spec's pretrained weights when no checkpoint is given (they are a whole trained model)."""
        return spec.weights is not None

    def default_checkpoint(self, spec) -> Path | None:
        """A checkpoint used when none is given (text: the folder ``zoo train`` writes), else None."""
        return None

    def require_data(self, data) -> None:
        if data is None:
            raise UserError(f"{self.name} models need --data ({self.data_help})")


# --- published references ------------------------------------------------------------------------------

def tolerance_pp(reference_pct: float, n: int) -> float:
    """Allowed |measured - reference| in percentage points for n samples: ``max(0.3, 2 x standard error)``, the
    standard error of a proportion at the reference value over n samples (sampling noise), with 0.3 pp for
    library / resize differences (timm's and torchvision's validation scripts differ by up to ~0.2 pp)."""
    p = min(max(reference_pct / 100.0, 0.0), 1.0)
    se = 100.0 * math.sqrt(p * (1 - p) / n) if n else float("inf")
    return max(TOLERANCE_FLOOR_PP, 2.0 * se)


def _is_reference_dataset(ref_dataset: str, data_name: str, n: int) -> bool:
    """The reference is on ImageNet-1K val (50,000 images) / COCO val2017 (5,000): only a full run of that
    set is the same test."""
    r = ref_dataset.lower()
    if "imagenet" in r:
        return n == 50_000
    if "coco" in r:
        return n == 5_000 and "val2017" in data_name.lower()
    return False


def reference_check(spec, metric: str, measured: float | None, n: int, data_name: str,
                    tol: float | None = None, same_data: bool = True) -> dict[str, Any] | None:
    """Measured beside the spec's reference for ``metric`` (percent), with delta and tolerance (pp). A data set
    that is not the reference's is marked ``reference_comparable=False`` and gets no verdict
    (``outside_tolerance`` None): the two figures are on different data, so they are not the same test.
    ``same_data=False``: the caller knows the data is not the reference's (e.g. not ImageNet-labelled)."""
    ref = spec.reference(metric)
    if ref is None or measured is None or (isinstance(measured, float) and math.isnan(measured)):
        return None
    tol = tolerance_pp(ref.value, n) if tol is None else tol
    delta = measured - ref.value
    same = same_data and _is_reference_dataset(ref.dataset, data_name, n)
    return {"metric": metric, "reference": ref.value, "reference_dataset": ref.dataset, "source": ref.source,
            "measured": measured, "delta_pp": delta, "tolerance_pp": tol,
            "outside_tolerance": abs(delta) > tol if same else None, "reference_comparable": same}
