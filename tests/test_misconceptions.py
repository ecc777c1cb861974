"""Misconceptions 3 and 5: the study functions on tiny data, and zoo/report/misconceptions.py on rows built here."""

from __future__ import annotations

import os

import pytest
import torch
from PIL import Image
from torch import nn

from zoo.errors import UserError
from zoo.models.base import Batch, ZooModel
from zoo.report import misconceptions as rep
from zoo.results import make_row
from zoo.spec import ImagePreprocess, ModelSpec
from zoo.studies import bigger_better, faithfulness, run_study, study_module
from zoo.transforms import ImageTransform

SIZE = 16
PRE = ImagePreprocess(resize_size=SIZE, crop_size=(SIZE, SIZE), interpolation="nearest", mean=(0.5, 0.5, 0.5),
                      std=(0.5, 0.5, 0.5), source="test")
SHARED = os.path.join(os.path.dirname(__file__), "..", "..", "shared", "data", "imagenet_sample_dev")


class LeftHalfNet(nn.Module):
    """Class 1's logit: 8 x the mean of relu(red) over the image's left half (a conv layer first); class 0: 1."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1, bias=False)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1))

    def forward(self, x):
        left = torch.relu(self.conv(x))[..., : x.shape[-1] // 2].mean((1, 2, 3))
        return torch.stack([torch.ones_like(left), 8 * left], 1)


class Wrapper(ZooModel):
    def __init__(self):
        spec = ModelSpec(name="left_half", task="image-classification", source="zoo", architecture="LeftHalfNet",
                         description="test", preprocess=PRE, num_classes=2, input_size=(3, SIZE, SIZE))
        super().__init__(spec, LeftHalfNet())
        self.transform = ImageTransform(PRE)

    def preprocess(self, items):
        return Batch(torch.stack([self.transform(it) for it in items]), [{} for _ in items])


def noise_images(n: int) -> list[Image.Image]:
    g = torch.Generator().manual_seed(0)
    return [Image.fromarray((torch.rand(SIZE, SIZE, 3, generator=g) * 255).to(torch.uint8).numpy()) for _ in range(n)]


def test_top_mask_takes_the_top_pixels_and_breaks_ties():
    amap = torch.zeros(1, 4, 4)
    amap[0, 0, :2] = torch.tensor([2.0, 1.0])
    ties = torch.rand(16, generator=torch.Generator().manual_seed(0))
    m = faithfulness.top_mask(amap, 25, ties)  # 4 of 16 pixels: the 2 ranked ones, then 2 of the tied zeros
    assert m.sum() == 4 and m[0, 0, 0] and m[0, 0, 1]
    assert faithfulness.random_mask((3, 4, 4), 50, torch.Generator().manual_seed(0)).sum((1, 2)).tolist() == [8, 8, 8]


def test_deletion_by_the_maps_hurts_more_than_random():
    """The model reads only the left half: Grad-CAM and saliency point there, so deleting their top pixels
    lowers the true-class score more than deleting as many random pixels (half of which land on the right)."""
    pytest.importorskip("captum")
    model = Wrapper().eval()
    merged = faithfulness.deletion_study(model, noise_images(6), [1] * 6, ks=(25,), seeds=(0, 1), batch=4)
    recs = {(r["config"]["method"], r["seed"]): r["metrics"] for r in faithfulness.summarize(merged, (25,), (0, 1))}
    assert set(recs) == {("gradcam", None), ("saliency", None), ("random", 0), ("random", 1)}
    rand = max(recs[("random", s)]["mean_drop"] for s in (0, 1))
    assert recs[("gradcam", None)]["mean_drop"] > rand and recs[("saliency", None)]["mean_drop"] > rand
    assert all(m["n_images"] == 6 for m in recs.values())


def test_faithfulness_needs_its_photos(monkeypatch, tmp_path):
    monkeypatch.setenv(faithfulness.DATA_ENV, str(tmp_path))
    with pytest.raises(UserError, match="labels.tsv"):
        faithfulness.data_dir()


@pytest.mark.skipif(not os.path.isfile(os.path.join(SHARED, "labels.tsv")), reason="imagenet_sample_dev absent")
def test_faithfulness_rows_name_the_real_weights(monkeypatch):
    pytest.importorskip("captum")
    monkeypatch.setenv(faithfulness.DATA_ENV, SHARED)
    monkeypatch.setitem(faithfulness.SCALES, "tiny", dict(model="efficientnet_lite0", images=2, ks=(50,), batch=2))
    rows = run_study("faithfulness", seeds=[0], scale="tiny", write=False)
    assert len(rows) == 3 and {r["settings"]["method"] for r in rows} == {"gradcam", "saliency", "random"}
    assert all(r["weights"].startswith("57934424") and r["dataset"] == "imagenet_sample_dev" for r in rows)


def test_bigger_better_tiny_run():
    assert study_module("bigger_better") is bigger_better
    rows = run_study("bigger_better", seeds=[0, 1], scale="tiny", write=False)
    assert [r["settings"]["width"] for r in rows] == [4, 4, 64, 64]
    assert rows[0]["metrics"]["params"] < rows[2]["metrics"]["params"]
    assert all(0 <= r["metrics"]["test_accuracy"] <= 1 and r["weights"] == "random-init" for r in rows)


# --- the report, on rows built here -------------------------------------------------------------------------

def _eval(model, top1, weights, n=200, **settings):
    return make_row("eval", model=model, task="image-classification", dataset="imagenet_sample_dev", n=n,
                    weights=weights, metrics={"top1": top1, "top5": 99.0},
                    settings={"backend": None, "dtype": "float32", **settings})


def _speed(model, p50, params, gflops, backend="eager+fp32"):
    return make_row("speed", model=model, status="ok", key=model, command="zoo bench", device="cpu",
                    backend_used=backend, settings={"batch_size": 1},
                    metrics={"p50_ms": p50, "params": params, "gflops_per_item": gflops})


def _study(name, records):
    return [make_row("study", model=r.get("model", "m"), weights=r.get("weights", "random-init"),
                     settings={**r["config"], "seed": r["seed"]}, metrics=r["metrics"], study=name, title=name,
                     run_id="r1", seeds=[0, 1], curves=r.get("curves", {}), study_wall_s=1.0, command="zoo study",
                     device="cpu") for r in records]


def _faith_records():
    merged = {"intact": ([0.9, 0.8], [True, True]), ("gradcam", 10, None): ([0.2, 0.3], [False, True]),
              ("saliency", 10, None): ([0.85, 0.8], [True, True]), ("random", 10, 0): ([0.7, 0.7], [True, True]),
              ("random", 10, 1): ([0.6, 0.8], [True, True])}
    return faithfulness.summarize(merged, (10,), (0, 1))


def test_report_tables_from_rows():
    rows = {"eval": [_eval("efficientnet_lite0", 90.0, "a" * 64), _eval("efficientnet_lite2", 92.0, "b" * 64),
                     _eval("resnet50", 10.0, "random-init"), _eval("efficientnet_lite2", 50.0, "b" * 64, dtype="int8")],
            "speed": [_speed("efficientnet_lite0", 20.0, 4_652_008, 0.77), _speed("efficientnet_lite2", 30.0, 6_092_072, 1.72),
                      _speed("efficientnet_lite2", 5.0, 6_092_072, 1.72, backend="onnxruntime+fp32")],
            "studies": _study("faithfulness", _faith_records())
            + _study("bigger_better", [{"config": {"width": w, "train_items": 100}, "seed": s,
                                        "metrics": {"params": w * 74, "train_accuracy": 1.0, "test_accuracy": 0.9,
                                                    "gap": 0.1, "test_loss": 0.3, "best_test_accuracy": 0.92,
                                                    "train_s": 1.0}} for w in (4, 8) for s in (0, 1)])}
    t = {x.slug: x for x in rep.tables(rows)}
    size = t["misconception3_size_vs_accuracy"]
    assert [r[0] for r in size.rows] == ["efficientnet_lite0", "efficientnet_lite2"]  # random-init left out
    assert size.rows[1][size.columns.index("top-1 (%)")] == 92.0  # the later int8 row is not the model's score
    col = size.columns.index
    lite2 = size.rows[1]
    assert lite2[col("latency p50 (ms, batch 1)")] == 30.0  # eager, not the faster onnxruntime row
    assert lite2[col("latency vs smallest")] == "1.50x" and lite2[col("top-1 vs smallest (points)")] == 2.0
    assert lite2[col("top-1 95 % interval")] == "87.4–95.0"
    faith = {(r[0], r[1]): r for r in t["misconception5_faithfulness"].rows}
    assert faith[(10, "Grad-CAM")][-1] == "yes" and faith[(10, "saliency")][-1] == "no"
    assert faith[(10, "Grad-CAM")][-3] == "100.0"  # both photos dropped more than under the mean random draw
    assert faith[(10, "Grad-CAM")][-2] == "0.5"  # 2 of 2: the exact two-sided sign test

    width = t["misconception3_width"].rows
    assert [r[1] for r in width] == [4, 8] and width[0][4] == "90.0 ± 0.0"


def test_sign_test_matches_the_binomial():
    assert rep.sign_test(0, 0) == 1.0 and rep.sign_test(5, 5) == 1.0
    assert abs(rep.sign_test(9, 1) - 22 / 1024) < 1e-12  # 2 x P(X >= 9), X ~ Bin(10, 1/2)


def test_report_plots(tmp_path):
    rows = {"eval": [_eval("efficientnet_lite0", 90.0, "a" * 64)],
            "speed": [_speed("efficientnet_lite0", 20.0, 4_652_008, 0.77)],
            "studies": _study("faithfulness", _faith_records())}
    made = rep.plots(rows, tmp_path)
    assert sorted(p.name for p in made) == ["misconceptions_faithfulness.png", "misconceptions_size_vs_accuracy.png"]
    assert all(p.stat().st_size > 1000 for p in made)
