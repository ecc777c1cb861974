"""`zoo eval` on object detection: COCO mAP from zoo equals pycocotools run directly, on data/coco.

A test-only detector registered here recognises each data/coco image by its pixels and returns that
image's ground-truth boxes jittered, some dropped, some mislabelled, plus false positives (a seeded
"noisy oracle"), so mAP is well away from 0 and 100. It runs through the whole harness (DataLoader,
preprocess, forward, postprocess), and the mAP zoo reports must equal pycocotools' on the
``--predictions`` file and the json, computed here without zoo.
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import zoo
from zoo.cli import main as zoo_main
from zoo.datasets.detection import COCO80_TO_91, load_detection
from zoo.models.base import Batch, ZooModel
from zoo.registry import _REGISTRY, list_models, register_model
from zoo.spec import ImagePreprocess, ModelSpec

REPO = Path(__file__).resolve().parents[1]
COCO = REPO / "data" / "coco"
GT_JSON = COCO / "annotations" / "instances.json"
MODEL = "test_eval_noisy_oracle"


def _fingerprint(img) -> tuple:
    a = np.asarray(img.convert("RGB").resize((8, 8)), dtype=np.int64)
    return (img.width, img.height, int(a.sum()))


class NoisyOracle(ZooModel):
    """Ground truth in, noisy detections out (boxes in original pixels, COCO 91-id labels)."""

    def __init__(self, spec, net):
        super().__init__(spec, net)
        gt = json.loads(GT_JSON.read_text())
        from PIL import Image

        self.by_print = {}
        for im in gt["images"]:
            with Image.open(COCO / "images" / im["file_name"]) as pil:
                self.by_print[_fingerprint(pil)] = im["id"]
        self.anns = {}
        for a in gt["annotations"]:
            self.anns.setdefault(a["image_id"], []).append(a)

    def preprocess(self, items):
        from zoo.transforms import load_image

        imgs = [load_image(it) for it in items]
        x = torch.stack([torch.zeros(3, 8, 8) for _ in imgs])
        return Batch(x, [{"image_id": self.by_print[_fingerprint(im)], "size": im.size} for im in imgs])

    def forward(self, x):
        return self.net(x)

    def postprocess(self, out, batch):
        preds = []
        for m in batch.meta:
            rng = np.random.default_rng(m["image_id"])
            w, h = m["size"]
            boxes, scores, labels = [], [], []
            for a in self.anns.get(m["image_id"], []):
                if rng.random() < 0.2:
                    continue  # missed
                x, y, bw, bh = a["bbox"]
                j = rng.normal(0, 0.08, 4) * [bw, bh, bw, bh]
                boxes.append([x + j[0], y + j[1], x + bw + j[2], y + bh + j[3]])
                scores.append(float(rng.uniform(0.3, 1.0)))
                labels.append(a["category_id"] if rng.random() > 0.1 else int(rng.choice(COCO80_TO_91)))
            for _ in range(3):  # false positives
                x1, y1 = rng.uniform(0, w * 0.7), rng.uniform(0, h * 0.7)
                boxes.append([x1, y1, x1 + rng.uniform(10, w * 0.3), y1 + rng.uniform(10, h * 0.3)])
                scores.append(float(rng.uniform(0.0, 0.6)))
                labels.append(int(rng.choice(COCO80_TO_91)))
            preds.append({"boxes": [[float(v) for v in b] for b in boxes], "scores": scores, "labels": labels})
        return preds

    def example_items(self, n=1):
        return sorted((COCO / "images").glob("*.jpg"))[:n]


if MODEL not in _REGISTRY:
    @register_model(MODEL, task="object-detection", source="zoo")
    def _spec() -> ModelSpec:
        return ModelSpec(name=MODEL, task="object-detection", source="zoo", architecture="noisy-oracle",
                         description="test-only detector", num_classes=91, input_size=(3, 8, 8),
                         preprocess=ImagePreprocess(resize_size=None, crop_size=(8, 8), source="test"),
                         builder=lambda spec, pretrained=False, **kw: NoisyOracle(spec, torch.nn.Identity()))


def pycocotools_map(gt_json: Path, preds_jsonl: Path, img_ids=None) -> tuple[float, float]:
    """mAP@[.5:.95], mAP@.5 (percent) straight from pycocotools, with no zoo code involved."""
    from pycocotools.coco import COCO as C
    from pycocotools.cocoeval import COCOeval

    dets = []
    for line in preds_jsonl.read_text().splitlines():
        r = json.loads(line)
        for (x1, y1, x2, y2), s, c in zip(r["boxes"], r["scores"], r["labels"]):
            dets.append({"image_id": r["image_id"], "category_id": c, "bbox": [x1, y1, x2 - x1, y2 - y1], "score": s})
    with contextlib.redirect_stdout(io.StringIO()):
        gt = C(str(gt_json))
        ev = COCOeval(gt, gt.loadRes(dets), "bbox")
        if img_ids is not None:
            ev.params.imgIds = img_ids
        ev.evaluate()
        ev.accumulate()
        ev.summarize()
    return 100 * ev.stats[0], 100 * ev.stats[1]


def test_coco_map_equals_pycocotools(tmp_path, results_dir, capsys):
    preds = tmp_path / "dets.jsonl"
    rc = zoo_main(["eval", MODEL, "--data", str(COCO / "annotations" / "instances.json"), "--predictions",
                   str(preds), "--workers", "0", "--batch-size", "5", "--random-init"])  # the oracle has no weights
    assert rc == 0
    out = capsys.readouterr().out
    row = json.loads((results_dir / "eval.jsonl").read_text())
    m = row["metrics"]
    ref_map, ref_map50 = pycocotools_map(GT_JSON, preds)
    assert 20 < ref_map < 90 and 20 < ref_map50 < 100, "the noisy oracle should be neither useless nor perfect"
    assert m["map"] == pytest.approx(ref_map, abs=1e-9) and m["map50"] == pytest.approx(ref_map50, abs=1e-9)
    assert row["n"] == 24 and row["skipped"] == 0 and row["layout"] == "coco-json"
    assert f"mAP@[.5:.95] {ref_map:.2f}" in out
    assert len(preds.read_text().splitlines()) == 24


def test_folder_layout_and_limit_restrict_images(tmp_path, results_dir):
    preds = tmp_path / "dets.jsonl"
    r = zoo.evaluate(MODEL, COCO / "annotations" / "instances.json", limit=10, workers=0, predictions=preds,
                     write=False, pretrained=False)
    ids = sorted(json.loads(line)["image_id"] for line in preds.read_text().splitlines())
    assert len(ids) == 10 and r["n"] == 10
    ref_map, ref_map50 = pycocotools_map(GT_JSON, preds, ids)
    assert r["metrics"]["map"] == pytest.approx(ref_map, abs=1e-9)
    # a folder with annotations/ + images/ but no labels/ is read as COCO json too (labels/ wins otherwise)
    folder = tmp_path / "cocofolder"
    (folder / "annotations").mkdir(parents=True)
    (folder / "annotations" / "instances_val.json").write_text(GT_JSON.read_text())
    (folder / "images").symlink_to(COCO / "images")
    assert load_detection(folder).layout == "coco-json"


def test_yolo_labels_convert_to_the_same_coco_ground_truth():
    """data/coco's YOLO labels, converted (80 -> 91 ids, normalized cxcywh -> pixel xywh), equal the json's
    non-crowd boxes to the labels' 6-decimal rounding."""
    from ultralytics.data.converter import coco80_to_coco91_class

    assert list(COCO80_TO_91) == coco80_to_coco91_class()
    yolo = load_detection(COCO)
    assert yolo.layout == "yolo"
    ref = json.loads(GT_JSON.read_text())
    name_of = {im["id"]: im["file_name"] for im in ref["images"]}
    want = {}
    for a in ref["annotations"]:
        if not a["iscrowd"]:
            want.setdefault(name_of[a["image_id"]], []).append((a["category_id"], *a["bbox"]))
    y_name = {im["id"]: im["file_name"] for im in yolo.gt["images"]}
    got = {}
    for a in yolo.gt["annotations"]:
        got.setdefault(y_name[a["image_id"]], []).append((a["category_id"], *a["bbox"]))
    assert sorted(got) == sorted(want)
    for name in want:
        w, g = sorted(want[name]), sorted(got[name])
        assert [x[0] for x in w] == [x[0] for x in g], name
        assert np.allclose([x[1:] for x in w], [x[1:] for x in g], atol=1.0), name
    names = {c["id"]: c["name"] for c in yolo.gt["categories"]}
    assert names[1] == "person" and names[90] == "toothbrush" and len(names) == 80


def test_yolo_folder_eval(tmp_path, results_dir):
    r = zoo.evaluate(MODEL, COCO, workers=0, write=False, limit=6, pretrained=False)
    assert r["layout"] == "yolo" and r["n"] == 6 and r["metrics"]["map"] > 10


def test_bad_detection_input(tmp_path, capsys, results_dir):
    def err(argv):
        assert zoo_main(argv) == 2
        e = capsys.readouterr().err.strip()
        assert e.startswith("zoo: error: ") and "\n" not in e
        return e

    assert "does not exist" in err(["eval", MODEL, "--data", str(tmp_path / "missing.json")])
    (tmp_path / "empty").mkdir()
    assert "holds no images" in err(["eval", MODEL, "--data", str(tmp_path / "empty")])
    (tmp_path / "bad.json").write_text("{not json")
    assert "not valid JSON" in err(["eval", MODEL, "--data", str(tmp_path / "bad.json")])
    (tmp_path / "other.json").write_text(json.dumps({"images": [], "annotations": []}))
    assert "not a COCO instances file" in err(["eval", MODEL, "--data", str(tmp_path / "other.json")])
    yolo = tmp_path / "yolo"
    (yolo / "images").mkdir(parents=True)
    (yolo / "labels").mkdir()
    import shutil

    shutil.copyfile(COCO / "images" / "000000000030.jpg", yolo / "images" / "a.jpg")
    (yolo / "labels" / "a.txt").write_text("85 0.5 0.5 0.1 0.1\n")
    assert "outside COCO-80" in err(["eval", MODEL, "--data", str(yolo)])
    assert not (results_dir / "eval.jsonl").exists()


REAL_DETECTORS = [n for n in ("ssdlite320_mobilenet_v3_large", "yolov8n") if n in list_models()]


@pytest.mark.parametrize("name", REAL_DETECTORS)
def test_real_detector_random_init_runs_through_pycocotools(name, tmp_path, results_dir):
    """torchvision and ultralytics detectors alike: predictions use COCO 91-ids; mAP equals pycocotools'."""
    preds = tmp_path / "p.jsonl"
    r = zoo.evaluate(name, COCO / "annotations" / "instances.json", limit=1, workers=0, pretrained=False,
                     predictions=preds, batch_size=1)
    assert r["weights"] == "random-init" and r["n"] == 1
    rows = [json.loads(line) for line in preds.read_text().splitlines()]
    assert all(set(x["labels"]) <= set(COCO80_TO_91) for x in rows)
    if r["metrics"]["detections"]:
        ids = [x["image_id"] for x in rows]
        assert r["metrics"]["map"] == pytest.approx(pycocotools_map(GT_JSON, preds, ids)[0], abs=1e-9)
    assert json.loads((results_dir / "eval.jsonl").read_text())["weights"] == "random-init"


@pytest.mark.slow
def test_torchrun_detection_same_map_as_one_process(tmp_path, results_dir):
    """2 gloo processes: each runs half the images; rank 0 pools the detections: the same mAP and count."""
    import os
    import socket
    import subprocess
    import sys

    single = zoo.evaluate(MODEL, GT_JSON, workers=0, write=False, pretrained=False)
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    preds = tmp_path / "p.jsonl"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(port), __file__, "eval", MODEL, "--data", str(GT_JSON), "--workers", "0",
           "--predictions", str(preds), "--random-init"]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    row = json.loads((results_dir / "eval.jsonl").read_text())
    assert row["settings"]["world_size"] == 2
    assert row["n"] == single["n"]
    for k in ("detections", "map", "map50"):
        assert row["metrics"][k] == single["metrics"][k], k
    assert [json.loads(line)["image_id"] for line in preds.read_text().splitlines()] == sorted(
        i for i, _ in load_detection(GT_JSON).images)


if __name__ == "__main__":  # torchrun entry point: the test detector is registered above
    import sys

    sys.exit(zoo_main(sys.argv[1:]))
