"""Every registered model builds without weights and runs one tiny forward through its own input builder,
and its predictions have the task's format (zoo/models/base.py). Plus the vision wrappers' own
promises: staged detection equals the library's one-call path, YOLO boxes map back to image pixels,
ultralytics does not change the thread count, and pretrained loading goes through verified files only.
"""

from __future__ import annotations

import dataclasses
import json
import math

import pytest
import torch

import zoo
from zoo.errors import UserError
from zoo.models.base import RANDOM_INIT, Batch, ZooModel
from zoo.registry import builtin_models
from zoo.spec import Weights

# Smaller inputs for the slowest networks, so the whole file stays within its CI budget; every other
# model runs at its spec's own size. The overrides go through the builders' public options.
FAST = {
    "yolov3": {"imgsz": 256},
    "fasterrcnn_resnet50_fpn": {"min_size": 256, "max_size": 352},
    "retinanet_resnet50_fpn": {"min_size": 256, "max_size": 352},
    # random-init SSD scores sit just above the score threshold for every class: cap the per-class
    # candidates so NMS does not dominate the test
    "ssd300_vgg16": {"topk_candidates": 20},
    "ssdlite320_mobilenet_v3_large": {"topk_candidates": 20},
    # random-init decoders never emit EOS, so generation runs to max_new_tokens with beam search
    "transformer_mt": {"num_beams": 1, "max_new_tokens": 8},
    "rnn_attention": {"num_beams": 1, "max_new_tokens": 8},
}


def _check_probs(probs, n):
    assert len(probs) == n and all(isinstance(p, float) and 0 <= p <= 1 for p in probs)
    assert math.isclose(sum(probs), 1.0, abs_tol=1e-3)


def check_prediction(task: str, pred: dict, item, spec) -> None:
    """Assert ``pred`` has the format base.py's docstring gives for ``task``."""
    assert isinstance(pred, dict)
    json.dumps(pred)  # plain Python
    if task == "image-classification":
        assert set(pred) >= {"label", "topk"}
        topk = pred["topk"]
        assert 1 <= len(topk) <= 5 and pred["label"] == topk[0][0]
        assert all(isinstance(c, int) and 0 <= c < spec.num_classes and 0 <= p <= 1 for c, p in topk)
        assert [p for _, p in topk] == sorted((p for _, p in topk), reverse=True)
    elif task == "object-detection":
        assert set(pred) >= {"boxes", "scores", "labels"}
        n = len(pred["boxes"])
        assert len(pred["scores"]) == len(pred["labels"]) == n
        w, h = item.size
        for (x1, y1, x2, y2), s, c in zip(pred["boxes"], pred["scores"], pred["labels"]):
            assert 0 <= x1 <= x2 <= w + 1e-3 and 0 <= y1 <= y2 <= h + 1e-3
            assert 0 <= s <= 1 and isinstance(c, int) and 1 <= c <= 90  # COCO category ids
    elif task in ("text-classification", "tabular-classification"):
        assert set(pred) >= {"label", "probs"}
        _check_probs(pred["probs"], spec.num_classes)
        assert pred["label"] == max(range(len(pred["probs"])), key=pred["probs"].__getitem__)
    elif task == "translation":
        assert isinstance(pred["text"], str)
    elif task == "question-answering":
        assert isinstance(pred["text"], str) and isinstance(pred["start"], int) and isinstance(pred["end"], int)
        assert 0 <= pred["start"] <= pred["end"] <= len(item["context"])
        assert pred["text"] == item["context"][pred["start"] : pred["end"]]
    else:
        raise AssertionError(f"no prediction format known for task {task!r}")


SLOW_TO_BUILD = {"timm/vgg16", "ssd300_vgg16"}  # 4-7 s each on 2 cores: in make test, not make test-fast


@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n in SLOW_TO_BUILD else n
                                  for n in builtin_models()])
def test_builds_and_runs_one_forward(name):
    torch.manual_seed(0)
    threads = torch.get_num_threads()
    model = zoo.create_model(name, pretrained=False, **FAST.get(name, {}))
    assert torch.get_num_threads() == threads, "building the model changed torch's thread count"
    assert isinstance(model, ZooModel) and not model.training
    assert model.weights_id == RANDOM_INIT and not model.pretrained
    assert model.spec.name == name and model.spec.task == zoo.get_spec(name).task
    items = model.example_items(1)
    batch = model.example_batch(1)
    assert isinstance(batch, Batch) and len(batch) == 1
    with torch.inference_mode():
        out = model(batch.inputs)
        preds = model.postprocess(out, batch)
    assert len(preds) == 1
    check_prediction(model.spec.task, preds[0], items[0], model.spec)


# --- torchvision detectors -------------------------------------------------------------------------------


@pytest.mark.parametrize("name,overrides,n", [
    ("ssdlite320_mobilenet_v3_large", {"topk_candidates": 20}, 1),
    ("fasterrcnn_resnet50_fpn", {"min_size": 192, "max_size": 256}, 2),  # 2 sizes: padded batch
    ("retinanet_resnet50_fpn", {"min_size": 192, "max_size": 256, "score_thresh": 0.0}, 1),
])
def test_detector_stages_equal_torchvision_call(name, overrides, n):
    """preprocess -> forward -> postprocess == torchvision's own net(images) in eval mode, box for box."""
    from torchvision.transforms.functional import pil_to_tensor

    torch.manual_seed(0)
    model = zoo.create_model(name, **overrides)
    items = model.example_items(n)
    with torch.inference_mode():
        ours = model.predict(items)
        ref = model.net([pil_to_tensor(im).float() / 255 for im in items])
    assert model.spec.preprocess.resize_size == overrides.get("min_size", model.spec.preprocess.resize_size)
    assert model.spec.extra["postprocess"].items() >= {k: v for k, v in overrides.items() if "size" not in k}.items()
    for p, r in zip(ours, ref):
        assert len(p["boxes"]) == len(r["boxes"]) > 0
        torch.testing.assert_close(torch.tensor(p["boxes"]), r["boxes"], atol=1e-4, rtol=0)
        torch.testing.assert_close(torch.tensor(p["scores"]), r["scores"], atol=1e-6, rtol=0)
        assert p["labels"] == r["labels"].tolist()


def test_detector_rejects_unknown_override():
    with pytest.raises(UserError, match="unknown overrides"):
        zoo.create_model("ssdlite320_mobilenet_v3_large", imgsz=320)


def _fake_local_weights(spec, path, sha256):
    return dataclasses.replace(spec, weights=Weights(
        kind="local", url=str(path), file_name=path.name, sha256=sha256, hash_source="test file",
        license="test", tag="test", num_classes=spec.num_classes))


def test_torchvision_pretrained_loads_verified_file(tmp_path):
    """The pretrained path: file verified by sha256, tensors-only load, FrozenBatchNorm-style state
    (no num_batches_tracked) accepted; a file that does not fit the network is refused."""
    from safetensors.torch import save_file

    from zoo.weights import WeightsHashMismatch, sha256_file

    spec = zoo.get_spec("ssdlite320_mobilenet_v3_large")
    torch.manual_seed(1)
    src = zoo.create_model(spec.name, topk_candidates=20)
    state = {k: v.contiguous() for k, v in src.net.state_dict().items() if not k.endswith("num_batches_tracked")}
    path = tmp_path / "ssdlite.safetensors"
    save_file(state, str(path))
    digest = sha256_file(path)
    model = spec.builder(_fake_local_weights(spec, path, digest), pretrained=True, topk_candidates=20).eval()
    assert model.weights_id == digest and model.pretrained
    items = model.example_items(1)
    with torch.inference_mode():
        assert model.predict(items) == src.predict(items)

    with pytest.raises(WeightsHashMismatch):
        spec.builder(_fake_local_weights(spec, path, "0" * 64), pretrained=True)
    save_file({"not.a.key": torch.zeros(1)}, str(tmp_path / "bad.safetensors"))
    bad = tmp_path / "bad.safetensors"
    with pytest.raises(UserError, match="does not fit"):
        spec.builder(_fake_local_weights(spec, bad, sha256_file(bad)), pretrained=True)


@pytest.mark.parametrize("name,small_arch", [("resnet50", "mobilenet_v3_small"), ("timm/resnet50", "resnet10t.c3_in1k")])
def test_classifier_pretrained_loads_verified_file(tmp_path, name, small_arch):
    """The classifiers' pretrained path (verified file -> tensors-only load -> the same predictions), run on a
    small architecture of the same family so the test stays fast; weights_id is the file's sha256."""
    from safetensors.torch import save_file

    from zoo.weights import sha256_file

    spec = dataclasses.replace(zoo.get_spec(name), architecture=small_arch, extra={})
    torch.manual_seed(2)
    src = spec.builder(spec, pretrained=False).eval()
    path = tmp_path / "w.safetensors"
    save_file({k: v.contiguous() for k, v in src.net.state_dict().items()}, str(path))
    model = spec.builder(_fake_local_weights(spec, path, sha256_file(path)), pretrained=True).eval()
    assert model.weights_id == sha256_file(path)
    items = model.example_items(1)
    with torch.inference_mode():
        assert model.predict(items) == src.predict(items)
    with pytest.raises(UserError, match="1000 classes"):
        spec.builder(_fake_local_weights(spec, path, sha256_file(path)), pretrained=True, num_classes=10)


def test_pretrained_offline_missing_file_is_one_line_error(zoo_cache):
    from zoo.weights import WeightsUnavailable

    with pytest.raises(WeightsUnavailable) as e:
        zoo.create_model("resnet50", pretrained=True)
    msg = str(e.value)
    assert "\n" not in msg and "resnet50-11ad3fa6.pth" in msg and "zoo fetch resnet50" in msg


# --- ultralytics -----------------------------------------------------------------------------------------


def test_yolo_postprocess_maps_boxes_to_original_pixels():
    """A box placed by hand in letterboxed input coordinates comes back in original-image pixels,
    with ultralytics' class index mapped to the COCO category id."""
    model = zoo.create_model("yolov8n", imgsz=320)
    img = model.example_items(1)[0]  # bus.jpg, 810 x 1080 (w x h)
    batch = model.preprocess([img])
    m = batch.meta[0]
    r, (top, left) = m["scale"], m["pad"]
    assert batch.inputs.shape == (1, 3, 320, 320) and r == pytest.approx(320 / 1080)
    out = torch.zeros(1, 84, 10)
    x1, y1, x2, y2 = 100.0, 200.0, 500.0, 900.0  # in original pixels
    cx, cy = (x1 + x2) / 2 * r + left, (y1 + y2) / 2 * r + top
    out[0, :4, 0] = torch.tensor([cx, cy, (x2 - x1) * r, (y2 - y1) * r])
    out[0, 4 + 5, 0] = 0.9  # class index 5 = "bus" -> COCO id 6
    pred = model.postprocess(out, batch)[0]
    assert pred["labels"] == [6] and pred["scores"] == [pytest.approx(0.9)]
    assert pred["boxes"][0] == pytest.approx([x1, y1, x2, y2], abs=1e-3)


def test_yolo_predictions_within_image_and_coco_ids():
    torch.manual_seed(0)
    model = zoo.create_model("yolo11n", imgsz=256, conf=0.0, max_det=20)
    items = model.example_items(1)
    preds = model.predict(items)
    for p, im in zip(preds, items):
        assert len(p["boxes"]) == 20
        check_prediction("object-detection", p, im, model.spec)
    assert model.spec.extra["postprocess"]["conf"] == 0.0 and model.spec.input_size == (3, 256, 256)
    with pytest.raises(UserError, match="multiple of 32"):
        zoo.create_model("yolo11n", imgsz=300)


def test_yolo_restores_thread_count():
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        zoo.create_model("yolov8n")
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_yolo_pretrained_needs_a_hash_then_loads_tensors_only(zoo_cache):
    """No pinned sha256: refused unless the caller gives one; with it, the checkpoint is verified and
    loaded with weights_only=True (ultralytics' allow-list), and its tensors land in the yaml-built net."""
    from zoo.models.ultralytics_nets import import_ultralytics
    from zoo.weights import WeightsHashMismatch, cached_path, sha256_file

    spec = zoo.get_spec("yolov8n")
    with pytest.raises(UserError, match="sha256="):
        zoo.create_model("yolov8n", pretrained=True)

    DetectionModel = import_ultralytics()
    torch.manual_seed(3)
    src = DetectionModel("yolov8n.yaml", nc=80, verbose=False).eval()
    path = cached_path(spec.weights)
    path.parent.mkdir(parents=True, exist_ok=True)
    torch.save({"model": src, "train_args": {}}, path)
    blob, digest = path.read_bytes(), sha256_file(path)

    with pytest.raises(WeightsHashMismatch):
        zoo.create_model("yolov8n", pretrained=True, sha256="f" * 64)
    assert not path.exists()  # the mismatched file was moved aside, not loaded
    path.write_bytes(blob)

    model = zoo.create_model("yolov8n", pretrained=True, sha256=digest, imgsz=320)
    assert model.weights_id == digest
    x = model.example_batch(1).inputs
    with torch.inference_mode():
        torch.testing.assert_close(model(x), src(x)[0])


def test_letterbox_boxes_map_back_to_the_original_image():
    """A 640x480 photo letterboxed to 640x640 (scale 1, 80 px of padding on top): a box in input pixels maps
    back by removing the padding, and is clamped to the image."""
    from zoo.models.image import LetterboxDetector

    meta = {"pad": (80, 0), "orig_size": (480, 640), "scale": 1.0}
    boxes = torch.tensor([[10.0, 90.0, 110.0, 190.0], [-5.0, 70.0, 700.0, 600.0]])
    got = LetterboxDetector.to_original(boxes, meta)
    assert got.tolist() == [[10.0, 10.0, 110.0, 110.0], [0.0, 0.0, 640.0, 480.0]]
    half = LetterboxDetector.to_original(torch.tensor([[0.0, 80.0, 320.0, 320.0]]), {**meta, "scale": 0.5})
    assert half.tolist() == [[0.0, 0.0, 640.0, 480.0]]
    assert boxes[0, 1] == 90.0  # the input is not changed in place
