"""The YOLOv5 training pieces: target assignment (wh ratio < 4, neighbouring cells), the loss, the YOLO-format
reader's bad-label report, the letterbox/flip/HSV items and the EMA wrapper. Small random networks; no data."""

from __future__ import annotations

import math

import pytest
import torch

from zoo.datasets.yolo_format import (
    Augment,
    LabelReport,
    LetterboxItems,
    collate_detection,
    letterbox,
    read_labels,
    read_yolo_folder,
)
from zoo.models.yolov5_arch import YOLOv5
from zoo.models.yolov5_loss import YOLOv5Loss, assign
from zoo.models.yolov5_train import WithEMA, set_classes

ANCHORS = torch.tensor([[1.25, 1.625], [2.0, 3.75], [4.125, 2.875]])  # P3 anchors in grid units (10,13 ... / 8)


def _t(*rows):
    return torch.tensor(rows, dtype=torch.float32)


def test_assign_centre_and_nearest_neighbours():
    # one 2x2-cell box centred at (5.3, 6.8) on a 10 x 10 grid: x nearer the left cell, y nearer the lower one
    a = assign(_t([0, 3, 0.53, 0.68, 0.2, 0.2]), ANCHORS, 10, 10)
    cells = {(int(a), int(x), int(y)) for a, x, y in zip(a.anchor, a.gx, a.gy)}
    # anchors 0 (1.25 x 1.625) and 1 (2 x 3.75) fit within a ratio of 4, anchor 2 too (4.125 / 2 = 2.06)
    assert {c[0] for c in cells} == {0, 1, 2}
    assert {(x, y) for _, x, y in cells} == {(5, 6), (4, 6), (5, 7)}
    assert len(a.image) == 9 and set(a.cls.tolist()) == {3}
    # targets are offsets from each assigned cell's corner: within -0.5 .. 1.5 (what 2 sigmoid - 0.5 can reach)
    assert a.box[:, :2].min() >= -0.5 and a.box[:, :2].max() <= 1.5
    assert torch.allclose(a.box[:, 2:], torch.tensor([2.0, 2.0]).expand(9, 2))


def test_assign_wh_ratio_and_grid_edges():
    # a tiny box (0.1 x 0.1 cells) fits no anchor: ratio 12.5 > 4
    assert len(assign(_t([0, 0, 0.5, 0.5, 0.01, 0.01]), ANCHORS, 10, 10).image) == 0
    # a box in the corner cell has no neighbour outside the grid
    a = assign(_t([1, 0, 0.02, 0.02, 0.15, 0.15]), ANCHORS[:1], 10, 10)
    assert (a.gx.tolist(), a.gy.tolist(), a.image.tolist()) == ([0], [0], [1])


def _net(nc=3):
    torch.manual_seed(0)
    return YOLOv5(nc=nc, depth=0.33, width=0.25)


def test_raw_outputs_decode_to_the_eval_outputs():
    net = _net().eval()
    x = torch.rand(1, 3, 64, 64)
    raw = net(x, raw=True)
    assert [tuple(r.shape) for r in raw] == [(1, 3, 8, 8, 8), (1, 3, 4, 4, 8), (1, 3, 2, 2, 8)]
    dec = net(x)
    assert torch.allclose(dec[0, :192, 4:], raw[0].reshape(1, -1, 8)[0, :, 4:].sigmoid(), atol=1e-6)


def test_loss_parts_and_gradient():
    net = _net().train()
    loss_fn = YOLOv5Loss(net.detect, imgsz=64)
    targets = _t([0, 1, 0.5, 0.5, 0.4, 0.3], [1, 2, 0.3, 0.6, 0.2, 0.5])
    loss, parts = loss_fn(net(torch.rand(2, 3, 64, 64), raw=True), targets)
    assert loss.ndim == 0 and all(v > 0 for v in parts.values())
    assert math.isclose(float(loss.detach()), sum(parts.values()), rel_tol=1e-5)
    loss.backward()
    assert net.detect.m[0].weight.grad.abs().sum() > 0
    # no targets: only the objectness term (every prediction is background)
    _, empty = loss_fn(net(torch.rand(1, 3, 64, 64), raw=True), torch.zeros(0, 6))
    assert empty["box"] == 0 and empty["cls"] == 0 and empty["obj"] > 0


def test_loss_falls_when_fitting_one_batch():
    net = _net().train()
    loss_fn = YOLOv5Loss(net.detect, imgsz=64)
    x, targets = torch.rand(2, 3, 64, 64), _t([0, 1, 0.5, 0.5, 0.4, 0.3], [1, 2, 0.3, 0.6, 0.2, 0.5])
    opt = torch.optim.Adam(net.parameters(), lr=0.01)
    losses = []
    for _ in range(10):
        loss, _ = loss_fn(net(x, raw=True), targets)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses.append(float(loss.detach()))
    assert losses[-1] < 0.7 * losses[0]


def _write(tmp_path, files: dict[str, str], images: list[str]):
    from PIL import Image

    (tmp_path / "images").mkdir()
    (tmp_path / "labels").mkdir()
    for name in images:
        Image.new("RGB", (40, 20), (200, 10, 10)).save(tmp_path / "images" / f"{name}.jpg")
    for name, text in files.items():
        (tmp_path / "labels" / f"{name}.txt").write_text(text)
    return tmp_path / "images", tmp_path / "labels"


def test_bad_labels_are_counted_not_fatal(tmp_path):
    good = "0 0.5 0.5 0.2 0.2\n"
    files = {"a": good + "1 0.5 0.5 0.2\n" + "2 0.5 0.5 0.2 0.2 7\n",  # two lines of the wrong arity
             "b": "x 0.5 0.5 0.2 0.2\n3 0.5 nan 0.1 0.1\n99 0.5 0.5 0.1 0.1\n",  # three bad values
             "c": "4 0.95 0.5 0.3 0.2\n5 1.5 0.5 0.2 0.2\n",  # outside: one clipped, one dropped
             "d": "\n", "orphan": good}
    samples, report = read_yolo_folder(*_write(tmp_path, files, ["a", "b", "c", "d", "e"]), num_classes=80)
    assert [s.image.stem for s in samples] == ["a", "b", "c", "d", "e"]
    assert report.bad() == {"wrong_arity": 2, "bad_value": 3, "outside_image": 2, "empty_file": 1,
                            "no_label_file": 1, "orphan_label": 1}
    assert report.boxes == 2 and [len(s.boxes) for s in samples] == [1, 0, 1, 0, 0]
    x1, x2 = samples[2].boxes[0, 1] - samples[2].boxes[0, 3] / 2, samples[2].boxes[0, 1] + samples[2].boxes[0, 3] / 2
    assert math.isclose(float(x1), 0.8, abs_tol=1e-6) and math.isclose(float(x2), 1.0, abs_tol=1e-6)
    assert "2 wrong arity" in report.summary() and report.examples["wrong_arity"][0].endswith("a.txt:2")
    # every image still makes a training item: no crash mid-epoch
    items = LetterboxItems(samples, 32, Augment(), report)
    images, targets = collate_detection([items[i] for i in range(len(items))])
    assert images.shape == (5, 3, 32, 32) and targets.shape == (2, 6) and targets[:, 0].tolist() == [0, 2]


def test_class_map_relabels_and_counts_the_rest(tmp_path):
    report = LabelReport()
    p = tmp_path / "x.txt"
    p.write_text("0 0.5 0.5 0.2 0.2\n2 0.5 0.5 0.2 0.2\n7 0.5 0.5 0.2 0.2\n")
    boxes = read_labels(p, 80, report, {0: 0, 2: 1})
    assert boxes[:, 0].tolist() == [0, 1] and report.counts["unmapped_class"] == 1 and not report.examples


def test_letterbox_maps_boxes_and_flip_mirrors_them(tmp_path):
    img = torch.zeros(3, 10, 20, dtype=torch.uint8)
    out, b = letterbox(img, _t([0, 0.25, 0.5, 0.5, 1.0]), 20)
    assert out.shape == (3, 20, 20) and math.isclose(float(out[0, 0, 0]), 114 / 255, rel_tol=1e-6)
    assert torch.allclose(b, _t([0, 0.25, 0.5, 0.5, 0.5]))
    samples, _ = read_yolo_folder(*_write(tmp_path, {"a": "0 0.25 0.5 0.5 1.0\n"}, ["a"]))
    items = LetterboxItems(samples, 40, Augment(hsv_h=0, hsv_s=0, hsv_v=0, fliplr=1.0))
    _, flipped = items[0]
    assert torch.allclose(flipped, _t([0, 0.75, 0.5, 0.5, 0.5]))


def test_set_classes_keeps_box_and_objectness_rows():
    net = _net(nc=80)
    before = net.detect.m[1].weight.detach().view(3, 85, -1)[:, :5].clone()
    set_classes(net, 2)
    assert net.detect.no == 7 and net.detect.m[1].out_channels == 21
    assert torch.equal(net.detect.m[1].weight.detach().view(3, 7, -1)[:, :5], before)
    assert net(torch.rand(1, 3, 64, 64)).shape[-1] == 7


def test_ema_follows_with_the_ramp_and_is_in_the_state_dict():
    net = _net()
    model = WithEMA(net, decay=0.9999, tau=2000)
    assert {"updates", "ema.model.0.conv.weight", "net.model.0.conv.weight"} <= set(model.state_dict())
    assert not any(p.requires_grad for p in model.ema.parameters())
    w0 = net.model[0].conv.weight.detach().clone()
    with torch.no_grad():
        net.model[0].conv.weight.add_(1.0)
    model.update()
    d = 0.9999 * (1 - math.exp(-1 / 2000))
    assert torch.allclose(model.ema.model[0].conv.weight, d * w0 + (1 - d) * (w0 + 1), atol=1e-6)
    model.train()
    assert model.net.training and not model.ema.training


@pytest.mark.parametrize("bad", ["", "0 0.5 0.5 0.2 0.2 extra"])
def test_letterbox_items_never_fail_on_bad_files(tmp_path, bad):
    samples, report = read_yolo_folder(*_write(tmp_path, {"a": bad}, ["a"]))
    assert len(LetterboxItems(samples, 32, Augment())[0][1]) == 0 and report.bad()
