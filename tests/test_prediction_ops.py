"""The export runtime's NumPy pre/postprocessing equals the torch pipeline's, array for array: an exported
model must see the input the PyTorch model sees and turn its outputs into the same boxes and classes."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image

import zoo
from zoo.models.vision import SAMPLE_IMAGES_DIR
from zoo.models.yolov5_nets import nms as torch_yolov5_nms
from zoo.prediction import image_ops
from zoo.spec import ImagePreprocess
from zoo.transforms import ImageTransform, letterbox, letterbox_params

BUS = Image.open(SAMPLE_IMAGES_DIR / "bus.jpg").convert("RGB")  # 810 x 1080, portrait
ZIDANE = Image.open(SAMPLE_IMAGES_DIR / "zidane.jpg").convert("RGB")  # 1280 x 720, landscape


def _pre_dict(pre: ImagePreprocess) -> dict:
    return {k: v for k, v in dataclasses.asdict(pre).items() if k != "source"}


@pytest.mark.parametrize("name", ["efficientnet_lite0", "resnet50", "timm/inception_v3"])
@pytest.mark.parametrize("img", [BUS, ZIDANE, BUS.resize((200, 150))])
def test_classify_input_equals_image_transform(name, img):
    if name not in zoo.list_models():
        pytest.skip(f"{name} not registered")
    pre = zoo.get_spec(name).preprocess
    ours = image_ops.classify_input(img, _pre_dict(pre))
    ref = ImageTransform(pre)(img).numpy()
    assert ours.shape == ref.shape and np.abs(ours - ref).max() < 1e-5


@pytest.mark.parametrize("resize, interpolation", [((300, 200), "bicubic"), (224, "nearest"), (None, "bilinear")])
def test_classify_input_other_resize_rules(resize, interpolation):
    pre = ImagePreprocess(resize_size=resize, crop_size=(224, 224), interpolation=interpolation)
    ours = image_ops.classify_input(ZIDANE, _pre_dict(pre))
    assert np.abs(ours - ImageTransform(pre)(ZIDANE).numpy()).max() < 1e-5


@pytest.mark.parametrize("img", [BUS, ZIDANE, ZIDANE.resize((640, 360))])
def test_letterbox_input_equals_torch_letterbox(img):
    x, meta = image_ops.letterbox_input(img, (640, 640))
    assert np.array_equal(x, letterbox(img, (640, 640)).numpy())
    r, pad, _ = letterbox_params(img.height, img.width, (640, 640))
    assert meta == {"orig_size": (img.height, img.width), "scale": r, "pad": pad}


def _fake_yolov5_rows(n=3000, nc=80, seed=0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    xy = torch.rand(n, 2, generator=g) * 640
    wh = torch.rand(n, 2, generator=g) * 120 + 4
    obj = torch.rand(n, 1, generator=g) ** 3
    cls = torch.rand(n, nc, generator=g) ** 4
    return torch.cat([xy, wh, obj, cls], 1)


@pytest.mark.parametrize("settings", [{"conf": 0.001, "iou": 0.6, "max_det": 300, "multi_label": True},
                                      {"conf": 0.25, "iou": 0.45, "max_det": 1000, "multi_label": False}])
@pytest.mark.slow
def test_yolov5_nms_equals_torch(settings):
    rows = _fake_yolov5_rows()
    b, s, c = torch_yolov5_nms(rows, **settings)
    nb, ns, nc = image_ops.yolov5_nms(rows.numpy(), **settings)
    assert len(ns) == len(s) > 0
    order_t, order_n = np.lexsort((c.numpy(), -s.numpy())), np.lexsort((nc, -ns))
    assert np.array_equal(c.numpy()[order_t], nc[order_n])
    assert np.allclose(b.numpy()[order_t], nb[order_n], atol=1e-4) and np.allclose(s.numpy()[order_t], ns[order_n])


@pytest.mark.slow
def test_yolov8_nms_equals_ultralytics():
    pytest.importorskip("ultralytics")
    from zoo.models.ultralytics_nets import import_ultralytics

    import_ultralytics()
    from ultralytics.utils.nms import non_max_suppression

    rows = _fake_yolov5_rows(seed=1)
    head = torch.cat([rows[:, :4], rows[:, 5:]], 1).T[None]  # (1, 4 + 80, anchors): no objectness
    for multi in (True, False):
        [d] = non_max_suppression(head, 0.25, 0.45, multi_label=multi, max_det=300)
        _, ns, _ = image_ops.yolov8_nms(head[0].numpy(), conf=0.25, iou=0.45, max_det=300, multi_label=multi)
        assert len(ns) == len(d) > 0
        assert np.allclose(np.sort(ns), np.sort(d[:, 4].numpy()), atol=1e-6)


def test_softmax_topk_equals_classifier_postprocess():
    logits = torch.randn(3, 1000, generator=torch.Generator().manual_seed(0))
    ref = zoo.create_model("efficientnet_lite0").postprocess(logits, zoo.models.base.Batch(logits, [{}] * 3))
    ours = image_ops.softmax_topk(logits.numpy(), 5)
    for a, b in zip(ours, ref):
        assert a["label"] == b["label"] and [c for c, _ in a["topk"]] == [c for c, _ in b["topk"]]
        assert np.allclose([p for _, p in a["topk"]], [p for _, p in b["topk"]], atol=1e-6)


def _torchvision_transform(pre: ImagePreprocess, img: Image.Image) -> torch.Tensor:
    """What ImageTransform computed when it called torchvision (before it stopped importing it)."""
    from torchvision.transforms import InterpolationMode
    from torchvision.transforms import functional as F

    if pre.resize_size is not None:
        size = list(pre.resize_size) if isinstance(pre.resize_size, tuple) else [pre.resize_size]
        img = F.resize(img, size, interpolation=InterpolationMode(pre.interpolation), antialias=True)
    x = F.pil_to_tensor(F.center_crop(img, list(pre.crop_size))).float().div_(255)
    return F.normalize(x, mean=list(pre.mean), std=list(pre.std))


@pytest.mark.parametrize("pre", [
    zoo.get_spec("efficientnet_lite0").preprocess,                                            # 256 bicubic, 224 crop
    ImagePreprocess(resize_size=232, crop_size=(224, 224), interpolation="bilinear"),
    ImagePreprocess(resize_size=(300, 200), crop_size=(180, 190), interpolation="bicubic"),
    ImagePreprocess(resize_size=None, crop_size=(224, 224), interpolation="nearest"),         # crop > image: padded
    ImagePreprocess(resize_size=150, crop_size=(151, 149), interpolation="bilinear"),         # odd offsets
], ids=["lite0", "bilinear", "pair", "pad", "odd"])
@pytest.mark.parametrize("img", [BUS, ZIDANE, BUS.resize((200, 150)), ZIDANE.resize((150, 150))],
                         ids=["bus", "zidane", "small", "square"])
def test_image_transform_equals_torchvision_exactly(pre, img):
    ours = ImageTransform(pre)(img)
    ref = _torchvision_transform(pre, img)
    assert ours.shape == ref.shape and ours.dtype == ref.dtype and torch.equal(ours, ref)


@pytest.mark.parametrize("img", [BUS, ZIDANE.resize((333, 201))])
def test_letterbox_equals_torchvision_pil_to_tensor(img):
    from torchvision.transforms import functional as F

    h, w = 640, 640
    _, (top, left), (nh, nw) = letterbox_params(img.height, img.width, (h, w))
    ref = torch.full((3, h, w), 114, dtype=torch.uint8)
    ref[:, top:top + nh, left:left + nw] = F.pil_to_tensor(img.resize((nw, nh), Image.BILINEAR))
    assert torch.equal(letterbox(img, (h, w)), ref.float().div_(255))
