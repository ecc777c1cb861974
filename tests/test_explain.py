"""zoo explain: the PNG exists with its documented size (image: panels x image width by image height; text:
TEXT_WIDTH wide), the maps are faithful to a known model, and bad input is one line (nothing written)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

pytest.importorskip("captum")  # zoo[explain]

from zoo.cli import main  # noqa: E402
from zoo.harness.explain.attribution import (
    RANDOM_NOTE,
    TEXT_WIDTH,
    conv_layer,
    crop_box,
    explain,
    to_original,
)
from zoo.harness.explain.render import write_png
from zoo.models.image import ImageClassifier
from zoo.registry import _REGISTRY, register_model
from zoo.spec import ImagePreprocess, ModelSpec

MODEL = "test_explain_tiny_cnn"
SIZE = 16
PRE = ImagePreprocess(resize_size=SIZE, crop_size=(SIZE, SIZE), interpolation="bilinear",
                      mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5), source="test")


class TinyCNN(nn.Module):
    """Class 1's logit is the mean red of the image's left half (through a conv layer); class 0's is constant."""

    def __init__(self):
        super().__init__()
        self.conv = nn.Conv2d(3, 1, 1, bias=False)
        self.act = nn.ReLU(inplace=True)
        with torch.no_grad():
            self.conv.weight.copy_(torch.tensor([1.0, 0.0, 0.0]).view(1, 3, 1, 1))

    def forward(self, x):
        f = self.act(self.conv(x) + 1.0)  # red in [-1, 1] -> [0, 2]
        left = f[..., : x.shape[-1] // 2].mean((1, 2, 3))
        return torch.stack([torch.full_like(left, 0.5), left], 1)


class TinyClassifier(ImageClassifier):
    """zoo's own classifier stages (transform, softmax top-k) around the tiny network."""

    def example_items(self, n=1):
        return [Image.new("RGB", (SIZE, SIZE))] * n


if MODEL not in _REGISTRY:
    @register_model(MODEL, task="image-classification", source="zoo")
    def _spec() -> ModelSpec:
        return ModelSpec(name=MODEL, task="image-classification", source="zoo", architecture="TinyCNN",
                         description="test-only conv net", preprocess=PRE, num_classes=2, input_size=(3, SIZE, SIZE),
                         builder=lambda spec, pretrained=False, **kw: TinyClassifier(spec, TinyCNN()))


@pytest.fixture
def photo(tmp_path):
    """A 48x32 image, red on the left half, black on the right. The model resizes it to 24x16 and crops the
    central 16x16: original columns 8-40."""
    arr = np.zeros((32, 48, 3), dtype=np.uint8)
    arr[:, :24, 0] = 255
    path = tmp_path / "photo.png"
    Image.fromarray(arr).save(path)
    return path


def test_image_png_has_the_documented_size(photo, tmp_path, capsys):
    out = tmp_path / "x.png"
    assert main(["explain", MODEL, str(photo), "--out", str(out)]) == 0
    with Image.open(out) as im:
        assert im.size == (3 * 48, 32)  # input + Grad-CAM + saliency, each at the input's resolution
    text = capsys.readouterr().out
    assert RANDOM_NOTE in text and "predicted 1" in text and "Grad-CAM on conv" in text


def test_maps_point_at_what_the_model_uses(photo):
    expl = explain(MODEL, str(photo), methods=["gradcam", "saliency", "ig"])
    assert expl.predicted == 1 and expl.layer == "conv"
    for name, m in expl.maps.items():
        assert m.shape == (32, 48)
        assert np.isnan(m[:, :8]).all() and np.isnan(m[:, 40:]).all(), name  # outside the centre crop
        left, right = np.nanmean(m[:, 8:24]), np.nanmean(m[:, 24:40])
        assert left > right, name  # only the left half feeds class 1


def test_crop_box_maps_the_centre_crop_back():
    assert crop_box(PRE, 48, 32) == (8.0, 0.0, 40.0, 32.0)
    m = to_original(np.ones((16, 16)), crop_box(PRE, 48, 32), 48, 32)
    assert np.isfinite(m[:, 8:40]).all() and np.isnan(m[:, :8]).all()


def test_conv_layer_rule_and_override():
    net = TinyCNN()
    assert conv_layer(net, torch.zeros(1, 3, SIZE, SIZE))[0] == "conv"
    assert conv_layer(net, torch.zeros(1, 3, SIZE, SIZE), "act")[0] == "act"


@pytest.mark.parametrize("args, message", [
    (["yolov5n", "IMG"], "detection model"),
    (["no_such_model", "IMG"], "unknown model"),
    ([MODEL, "MISSING"], "does not exist"),
    ([MODEL, "NOTIMG"], "not a readable image"),
    ([MODEL, "IMG", "--method", "cam"], "unknown method 'cam'"),
    ([MODEL, "IMG", "--target", "7"], "outside 0-1"),
    ([MODEL, "IMG", "--layer", "nope"], "not a module"),
    ([MODEL, "IMG", "--out", "NODIR/x.png"], "does not exist"),
])
def test_bad_input_is_one_line(args, message, photo, tmp_path, capsys):
    (tmp_path / "notimg.jpg").write_text("not an image")
    subs = {"IMG": str(photo), "MISSING": str(tmp_path / "missing.jpg"), "NOTIMG": str(tmp_path / "notimg.jpg"),
            "NODIR/x.png": str(tmp_path / "nodir" / "x.png")}
    before = set(tmp_path.iterdir())
    assert main(["explain", *[subs.get(a, a) for a in args], "--out", str(tmp_path / "o.png")]
                if "--out" not in args else ["explain", *[subs.get(a, a) for a in args]]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert set(tmp_path.iterdir()) - before <= {tmp_path / "notimg.jpg"}  # nothing written


def test_text_png_and_token_scores(tmp_path):
    expl = explain("bilstm", "a gorgeous , witty movie .", methods=["ig", "gradxinput"])
    assert expl.tokens and set(expl.maps) == {"ig", "gradxinput"}
    assert all(len(v) == len(expl.tokens) and np.isfinite(v).all() for v in expl.maps.values())
    path, size = write_png(expl, tmp_path / "t.png")
    with Image.open(path) as im:
        assert im.size == size and im.width == TEXT_WIDTH


def test_explains_a_fine_tuned_checkpoint_with_its_class_names(tmp_path, results_dir, zoo_cache, capsys):
    """A `zoo train` image-classifier folder: its classes are named, its weights are real (not the random note)."""
    from zoo.harness.train.vision import VisionRun, image_config, train_image_classifier

    for name, colour in (("blue", (40, 40, 210)), ("red", (210, 40, 40))):
        (tmp_path / "data" / name).mkdir(parents=True)
        for i in range(4):
            Image.new("RGB", (32, 32), colour).save(tmp_path / "data" / name / f"{i}.jpg")
    ck = tmp_path / "ck"
    train_image_classifier("efficientnet_lite0", tmp_path / "data", image_config(epochs=1, batch_size=4),
                           VisionRun(image_size=32, freeze="last:1"), out=ck, progress=False)
    out = tmp_path / "x.png"
    assert main(["explain", "efficientnet_lite0", str(tmp_path / "data" / "red" / "0.jpg"), "--checkpoint", str(ck),
                 "--target", "red", "--method", "saliency", "--out", str(out)]) == 0
    text = capsys.readouterr().out
    assert RANDOM_NOTE not in text and ("predicted red" in text or "explained red" in text)
    with Image.open(out) as im:
        assert im.size == (2 * 32, 32)
