"""zoo train yolov5n: fine-tuning the real YOLOv5n in zoo's loop on a few coco128 images. The loss falls, a run
stopped mid-epoch and resumed ends with the very weights of an uninterrupted one, bad label files are counted
(not fatal), and the row reaches the detection training table with its method.

Needs ../shared/weights/yolov5n/yolov5n.pt and ../shared/data/coco128 (skipped when absent)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from zoo.cli import main as zoo_main
from zoo.errors import UserError
from zoo.harness.train import StopTraining
from zoo.harness.train.yolov5 import DetectRun, detection_config, train_yolov5
from zoo.results import read_rows

REAL = Path(__file__).resolve().parents[2] / "shared" / "weights" / "yolov5n" / "yolov5n.pt"


@pytest.fixture
def weights(zoo_cache):
    if not REAL.is_file():
        pytest.skip("../shared/weights/yolov5n/yolov5n.pt is not present")
    assert zoo_main(["fetch", "yolov5n", "--from", str(REAL)]) == 0


@pytest.fixture
def eight(shared_data, tmp_path):
    """The first 8 coco128 images with their labels, plus three bad label files on the last three."""
    src = shared_data / "coco128"
    (tmp_path / "d" / "images").mkdir(parents=True)
    (tmp_path / "d" / "labels").mkdir()
    images = sorted((src / "images" / "train2017").glob("*.jpg"))[:8]
    for im in images:
        shutil.copy(im, tmp_path / "d" / "images" / im.name)
        lab = src / "labels" / "train2017" / f"{im.stem}.txt"
        if lab.is_file():
            shutil.copy(lab, tmp_path / "d" / "labels" / lab.name)
    bad = [tmp_path / "d" / "labels" / f"{im.stem}.txt" for im in images[-3:]]
    bad[0].write_text(bad[0].read_text() + "0 0.5 0.5 0.1\n")  # wrong arity
    bad[1].write_text(bad[1].read_text() + "0 1.2 0.5 0.2 0.2\n")  # outside the image (dropped: nothing inside)
    bad[2].write_text("")  # empty
    return tmp_path / "d"


@pytest.mark.slow
def test_finetune_loss_falls_and_resume_is_bit_for_bit(weights, eight, tmp_path, results_dir):
    cfg = detection_config(epochs=4, batch_size=4, checkpoint_every=1, lr=0.01)  # fitting 8 images: a higher lr
    run = DetectRun(imgsz=128)
    full = train_yolov5("yolov5n", str(eight), cfg, run, out=tmp_path / "full", progress=False)
    losses = [h["train_loss"] for h in full["history"]]
    assert full["steps"] == 8 and losses[-1] < losses[0], losses
    assert {k: v for k, v in full["labels"].items() if k in ("wrong_arity", "outside_image", "empty_file")} == \
        {"wrong_arity": 1, "outside_image": 1, "empty_file": 1}

    def stop_at_3(info):
        if info["step"] == 3:  # mid-epoch 2
            raise StopTraining

    first = train_yolov5("yolov5n", str(eight), cfg, run, out=tmp_path / "cut", progress=False, write=False,
                         callbacks=(stop_at_3,))
    assert first["steps"] == 3 and (tmp_path / "cut.state" / "last.safetensors").is_file()
    with pytest.raises(UserError, match="imgsz=128, this one 160"):
        train_yolov5("yolov5n", str(eight), cfg, DetectRun(imgsz=160), out=tmp_path / "cut", resume=True,
                     progress=False, write=False)
    resumed = train_yolov5("yolov5n", str(eight), cfg, run, out=tmp_path / "cut", resume=True, progress=False,
                           write=False)
    assert resumed["resumed_from_step"] == 3 and resumed["steps"] == 8
    assert resumed["checkpoint_sha256"] == full["checkpoint_sha256"]  # the EMA weights, bit for bit
    assert [h["train_loss"] for h in resumed["history"]] == losses

    row, = read_rows(results_dir / "train.jsonl")
    assert row["settings"]["method"].startswith("fine-tune (zoo loop") and row["metrics"]["bad_labels"]["empty_file"] == 1
    from zoo.report import vision_train

    table, = vision_train.tables({"train": [row]})
    assert table.rows[0][:2] == ["yolov5n", row["settings"]["method"]]


@pytest.mark.parametrize("freeze", ["bn", "backbone"])
def test_freeze_keeps_batchnorm_statistics_and_the_backbone(freeze):
    import torch

    from zoo.models.yolov5_arch import YOLOv5
    from zoo.models.yolov5_train import BACKBONE_LAYERS, WithEMA

    torch.manual_seed(0)
    model = WithEMA(YOLOv5(nc=3), freeze=freeze)
    before = {k: v.clone() for k, v in model.net.state_dict().items()}
    model.train()
    opt = torch.optim.SGD([p for p in model.net.parameters() if p.requires_grad], lr=0.1)
    loss = sum(o.float().square().mean() for o in model(torch.rand(2, 3, 64, 64) * 3, raw=True))
    loss.backward()
    opt.step()
    after = model.net.state_dict()
    stats = [k for k in before if k.endswith(("running_mean", "running_var"))]
    assert stats and all(torch.equal(before[k], after[k]) for k in stats)  # statistics: the pretrained ones
    backbone = [k for k in before if int(k.split(".")[1]) < BACKBONE_LAYERS and k.endswith("conv.weight")]
    head = [k for k in before if int(k.split(".")[1]) >= BACKBONE_LAYERS and k.endswith("conv.weight")]
    changed = lambda keys: sum(not torch.equal(before[k], after[k]) for k in keys)
    assert changed(head) > len(head) // 2  # the neck and head train in both
    assert (changed(backbone) == 0) == (freeze == "backbone"), changed(backbone)


def test_freeze_is_validated():
    with pytest.raises(UserError, match="--freeze for a YOLOv5 fine-tune is one of none, bn, backbone"):
        DetectRun(freeze="last:3")


def test_freeze_default_keeps_statistics_unless_the_head_is_new():
    assert DetectRun().freeze == "bn" and DetectRun(classes=(0, 2)).freeze == "none"
    assert DetectRun(classes=(0, 2), freeze="bn").freeze == "bn"
