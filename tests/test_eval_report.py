"""zoo/report/vision.py: the ImageNet table shows measured beside reference, 'not measured' otherwise."""

from __future__ import annotations

from helpers import eval_row

from zoo.report import vision
from zoo.report.render import to_csv, to_markdown


def _lite0_row(correct1=180, correct5=197, n=200):
    ref = {"metric": "top1", "reference": 74.83, "reference_dataset": "ImageNet-1K val", "source": "timm results",
           "measured": 100 * correct1 / n, "delta_pp": 100 * correct1 / n - 74.83, "tolerance_pp": 6.14,
           "outside_tolerance": True, "reference_comparable": False}
    return eval_row("efficientnet_lite0", {"correct1": correct1, "correct5": correct5, "top1": 100 * correct1 / n,
                                           "top5": 100 * correct5 / n, "items_per_s": 12.5},
                    weights="5793" + "0" * 60, dataset_sha256="ab" * 32, n=n, references=[ref],
                    settings={"preprocess": "resize(256, bicubic) -> ...", "limit": None, "checkpoint": None})


def test_imagenet_table_measured_and_not_measured():
    t = vision.imagenet_table({"eval": [_lite0_row()]})
    by = {r[0]: r for r in t.rows}
    assert set(by) == {"vgg16", "resnet50", "inception_v3", "efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"}
    assert by["efficientnet_lite0"][1] == "imagenet_sample_dev"
    assert by["efficientnet_lite0"][3] == "90.00 (180/200)" and by["efficientnet_lite0"][4] == "98.50 (197/200)"
    assert by["efficientnet_lite0"][8] == "+15.17 ! ±6.14 (other data)"
    for name in ("vgg16", "resnet50", "inception_v3", "efficientnet_lite1"):
        assert by[name][1] == vision.NOT_MEASURED
    # reference values come from the specs for unmeasured models (when the family registered them)
    if by["resnet50"][5] is not None:
        assert 70 < by["resnet50"][5] < 90


def test_tables_are_deterministic_and_render():
    rows = {"eval": [_lite0_row(), _lite0_row(170, 190)], "frameworks": []}
    a = [to_markdown(t) + to_csv(t) for t in vision.tables(rows)]
    md, csv = to_markdown(vision.tables(rows)[0]), to_csv(vision.tables(rows)[0])
    b = [to_markdown(t) + to_csv(t) for t in vision.tables({"eval": list(reversed(rows["eval"])), "frameworks": []})]
    assert len(a) == 4 and a == b  # same rows in any order -> same bytes
    assert csv.count("/200)") == 2  # one row (top-1 and top-5 cells) per model and data set
    assert md.count("/200)") == 1  # the markdown shows top-1 (top-5 is in the CSV: 120 columns)


def test_a_model_timed_with_its_real_weights_is_not_called_uncached():
    """make demo times Lite0 with its pretrained weights but scores no eval row: its accuracy cell must not claim
    the weights were not cached (the rows show they were loaded)."""
    speed = {"kind": "speed", "model": "efficientnet_lite0", "weights": "ab" * 32, "status": "ok", "metrics": {}}
    random = {**speed, "model": "resnet50", "weights": "random-init"}
    t = vision.imagenet_table({"eval": [], "speed": [speed, random]})
    by = {r[0]: r for r in t.rows}
    assert by["efficientnet_lite0"][1] == vision.NOT_SCORED
    assert by["resnet50"][1] == vision.NOT_MEASURED
    assert not any("not cached" in str(c) for r in t.rows for c in r)
