"""Image classification: top-1 / top-5 accuracy (percent) with their exact counts, on an image folder.

Data: any layout ``zoo.datasets.classification.load_classification`` reads (labels.tsv, ground-truth lists,
the devkit, synset folders, ImageFolder), checked against the model's classes. Images are decoded with PIL
(or on the GPU with ``--decode gpu``); an unreadable image is skipped and counted by the evaluation loop.
The metric is a count of hits (top-1: argmax equals the label; top-5: the label is among the five best), the
same definition as torchmetrics' ``MulticlassAccuracy(top_k=k, average="micro")``, kept as integers so the
counts sum exactly over torchrun processes and can be checked by hand.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from ..datasets.classification import check_classes, imagenet_labelled, load_classification
from ..datasets.labels import class_synonyms, imagenet_names
from ..datasets.loader import read_rgb
from ..results import sha256_tree
from ._registry import register_task
from .base import EvalData, Metric, Task, reference_check


class TopKAccuracy(Metric):
    def __init__(self):
        self.n = self.correct1 = self.correct5 = 0

    def add_batch(self, *, predictions: Sequence[dict], references: Sequence[int]) -> None:
        for pred, y in zip(predictions, references):
            self.n += 1
            self.correct1 += int(pred["label"]) == int(y)
            self.correct5 += int(y) in [int(c) for c, _ in pred["topk"][:5]]

    def compute(self) -> dict[str, Any]:
        pct = (lambda c: 100.0 * c / self.n) if self.n else (lambda c: float("nan"))
        return {"top1": pct(self.correct1), "top5": pct(self.correct5), "correct1": self.correct1,
                "correct5": self.correct5, "n": self.n}


@register_task
class ImageClassification(Task):
    name = "image-classification"
    score_keys = ("top1", "top5")
    default_batch_size = 32
    throughput_key = "images_per_s"
    data_help = "an image folder: ImageNet layout, labels.tsv or ImageFolder"

    def load(self, data, *, split=None, labels=None, spec=None) -> EvalData:
        self.require_data(data)
        ds = load_classification(data, labels)
        if spec is not None:
            names = spec.extra.get("class_names") or class_synonyms(spec.task, spec.num_classes)
            check_classes(ds, spec.num_classes, names, spec.name, explicit_labels=labels is not None)
        paths = [p for p, _ in ds.samples]
        return EvalData(ds.name, paths, [y for _, y in ds.samples], [ds.sample_id(p) for p in paths],
                        sha256=lambda: sha256_tree(ds.root), read=read_rgb, path=str(Path(data).resolve()),
                        info={"layout": ds.layout, "class_mapping": ds.mapping,
                              **({"data_warnings": ds.warnings} if ds.warnings else {})}, gpu_decodable=True,
                        default_workers=None, detail=ds)

    def metric(self, data: EvalData) -> TopKAccuracy:
        return TopKAccuracy()

    def record(self, prediction: dict, reference: int) -> dict:
        """Indices, top-5 and hits; with the class names where the model's label set is known (ImageNet-1k:
        ``pred_name``, ``label_name``, ``top5_names``; the data's indices are the model's, checked on loading)."""
        top5 = [[int(c), float(p)] for c, p, *_ in prediction["topk"][:5]]
        pred = int(prediction["label"])
        out = {"label": int(reference), "pred": pred, "top5": top5, "correct1": pred == int(reference),
               "correct5": int(reference) in [c for c, _ in top5]}
        if prediction.get("name") is not None:  # zoo names the ImageNet-1k label set only (zoo.datasets.labels)
            out.update(pred_name=prediction["name"], top5_names=prediction.get("topk_names", [])[:5],
                       label_name=imagenet_names()[int(reference)] if 0 <= int(reference) < 1000 else None)
        return out

    def summary(self, name: str, data: EvalData, m: dict) -> str:
        return (f"{name} on {data.name}: top-1 {m['top1']:.2f}% ({m['correct1']}/{m['n']}), "
                f"top-5 {m['top5']:.2f}% ({m['correct5']}/{m['n']})")

    def reference_checks(self, spec, metrics: dict, data: EvalData) -> list[dict]:
        """Beside the spec's ImageNet figures; the same test only on ImageNet-labelled data (wnids: synset folders,
        the val ground truth, a wnid-checked label file) of the reference's size, never on other data of 50,000."""
        if data.detail is not None and data.detail.num_classes != spec.num_classes:
            return []  # another label set (e.g. a `zoo train --data` checkpoint's): the ImageNet figures do not apply
        imagenet = data.detail is not None and imagenet_labelled(data.detail)
        checks = [reference_check(spec, k, metrics.get(k), metrics["n"], data.name, same_data=imagenet)
                  for k in self.score_keys]
        return [c for c in checks if c]
