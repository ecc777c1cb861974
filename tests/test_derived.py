"""Specs derived from the libraries' own metadata: timm:, torchvision:, onnx:, hf:, ultralytics: names.

The key check is preprocessing: the tensor zoo's ImageTransform makes from a real photo under a derived spec
must equal the one the library's own transform makes (timm's resolve_data_config + create_transform,
torchvision's ``weights.transforms()``). A sample of 50 timm architectures and every torchvision classifier
are checked that way, and built (weights on the meta device: shapes only) and run at their input size.
"""

from __future__ import annotations

import dataclasses
import json
import random
import subprocess
import sys

import pytest
import torch

import zoo
from zoo import registry
from zoo.cli import main
from zoo.errors import UnknownModelError, UserError
from zoo.models.vision import sample_images
from zoo.spec import ModelSpec
from zoo.transforms import ImageTransform

PHOTO = sample_images(1)[0]  # a real 810x1080 photo: resize and crop both act on it


@pytest.fixture(autouse=True)
def no_onnx_flags(monkeypatch):
    """The CLI hands onnx: flags to the source through the environment; each test starts (and ends) without."""
    monkeypatch.setenv("ZOO_ONNX_OPTIONS", "")


def timm_library_tensor(arch: str) -> torch.Tensor:
    from timm.data import create_transform, resolve_data_config
    from timm.models import get_pretrained_cfg

    return create_transform(**resolve_data_config(pretrained_cfg=get_pretrained_cfg(arch).to_dict()))(PHOTO)


def torchvision_library_tensor(arch: str) -> torch.Tensor:
    import torchvision.models as tvm

    return tvm.get_model_weights(arch).DEFAULT.transforms()(PHOTO)


def zoo_tensor(spec: ModelSpec) -> torch.Tensor:
    return ImageTransform(spec.preprocess)(PHOTO)


def assert_same_pixels(ours: torch.Tensor, theirs: torch.Tensor, name: str) -> None:
    assert ours.shape == theirs.shape, name
    assert torch.allclose(ours, theirs, atol=1e-6), f"{name}: max |diff| {(ours - theirs).abs().max():.3g}"


def assert_built(spec: ModelSpec) -> None:
    """The network was built and run at the spec's input size (FlopCounterMode saw its convolutions/matmuls)."""
    assert spec.params and spec.params > 0 and spec.flops and spec.flops > 0, spec.name


# --- timm ------------------------------------------------------------------------------------------------

def timm_classifiers() -> list[str]:
    import timm
    from timm.models import get_pretrained_cfg

    return [a for a in timm.list_models() if get_pretrained_cfg(a) and get_pretrained_cfg(a).num_classes
            and get_pretrained_cfg(a).crop_mode in ("center", "squash")]


@pytest.mark.parametrize("arch", ["mobilenetv3_small_100", "convnext_tiny", "coat_lite_medium_384"])
def test_timm_spec_is_the_library_cfg(arch):
    """coat_lite_medium_384 uses crop_mode "squash" (resize to the square, then a no-op crop)."""
    from timm.models import get_pretrained_cfg

    spec = zoo.get_spec(f"timm:{arch}")
    cfg = get_pretrained_cfg(arch)
    assert isinstance(spec, ModelSpec) and spec.name == f"timm:{arch}" and spec.task == "image-classification"
    assert (spec.architecture, spec.num_classes, spec.input_size) == (f"{arch}.{cfg.tag}", cfg.num_classes,
                                                                       tuple(cfg.input_size))
    assert spec.weights.url == cfg.hf_hub_id and spec.weights.sha256 == ""  # timm pins no hash: unpinned
    assert spec.references == ()  # timm's results tables are not in the package: no figure claimed
    with pytest.raises(dataclasses.FrozenInstanceError):
        spec.num_classes = 3  # the same frozen spec registered models have
    assert_same_pixels(zoo_tensor(spec), timm_library_tensor(arch), spec.name)
    assert_built(spec)


@pytest.mark.slow
def test_timm_sample_of_50_builds_with_the_library_preprocessing():
    sample = random.Random(24).sample(timm_classifiers(), 50)
    for arch in sample:
        spec = zoo.get_spec(f"timm:{arch}")
        assert_same_pixels(zoo_tensor(spec), timm_library_tensor(arch), spec.name)
        assert_built(spec)


def test_timm_model_runs_and_matches_timm_forward():
    import timm

    model = zoo.create_model("timm:mobilenetv3_small_100")
    torch.manual_seed(0)
    ref = timm.create_model("mobilenetv3_small_100", pretrained=False)
    ref.load_state_dict(model.net.state_dict())
    batch = model.example_batch(2)
    with torch.inference_mode():
        assert torch.allclose(model(batch.inputs), ref.eval()(batch.inputs))
    assert model.weights_id == "random-init" and len(model.postprocess(model(batch.inputs), batch)) == 2


def test_meta_build_runs_no_initializer_on_the_meta_weights():
    """weights_on_meta skips weight initialization of the moved tensors (seconds per large network), and only
    that: constructor arithmetic on the CPU runs, and nothing is skipped once the block ends."""
    from torch import nn
    from torch.utils._python_dispatch import TorchDispatchMode

    from zoo.models.derived._common import weights_on_meta

    class MetaOps(TorchDispatchMode):
        def __torch_dispatch__(self, func, types, args=(), kwargs=None):
            if any(isinstance(a, torch.Tensor) and a.is_meta for a in args):
                seen.append(func.__name__)
            return func(*args, **(kwargs or {}))

    class Net(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc = nn.Linear(4, 3)  # kaiming_uniform_ in reset_parameters
            nn.init.trunc_normal_(self.fc.weight, std=0.02)
            self.fc.bias.data.normal_().clamp_(-1, 1)
            self.register_buffer("scale", torch.ones(3).mul_(2))  # computed on the CPU, then moved
            self.widths = torch.arange(3).mul_(2).tolist()  # CPU arithmetic the constructor reads back

    seen: list[str] = []
    with MetaOps(), weights_on_meta():
        net = Net()
    assert net.fc.weight.is_meta and net.fc.weight.shape == (3, 4) and net.scale.is_meta and net.widths == [0, 2, 4]
    assert not [op for op in seen if op.split(".")[0].endswith("_")], seen  # no in-place op ran on a meta tensor
    assert nn.Linear(4, 3).weight.abs().sum() > 0  # after the block: initialized as usual


# --- torchvision -----------------------------------------------------------------------------------------

def torchvision_classifiers() -> list[str]:
    import torchvision.models as tvm

    return tvm.list_models(module=tvm)


@pytest.mark.parametrize("arch", ["mobilenet_v3_large", "regnet_y_400mf", "inception_v3"])
def test_torchvision_spec_is_the_weight_enum(arch):
    import torchvision.models as tvm

    w = tvm.get_model_weights(arch).DEFAULT
    spec = zoo.get_spec(f"torchvision:{arch}")
    assert spec.num_classes == len(w.meta["categories"]) and spec.weights.url == w.url
    assert spec.weights.sha256 in w.url  # the hash prefix torchvision puts in its file names
    top1 = spec.reference("top1")
    assert top1.value == w.meta["_metrics"]["ImageNet-1K"]["acc@1"] and "meta['_metrics']" in top1.source
    assert spec.params == w.meta["num_params"]  # measured, and equal to torchvision's own count
    assert_same_pixels(zoo_tensor(spec), torchvision_library_tensor(arch), spec.name)


@pytest.mark.slow
def test_every_torchvision_classifier_builds_with_the_library_preprocessing():
    import torchvision.models as tvm

    names = torchvision_classifiers()
    assert len(names) >= 80
    for arch in names:
        spec = zoo.get_spec(f"torchvision:{arch}")
        assert_same_pixels(zoo_tensor(spec), torchvision_library_tensor(arch), spec.name)
        assert_built(spec)
        if not spec.extra["builder_kwargs"].get("aux_logits"):  # built with the auxiliary heads the weights hold;
            assert spec.params == tvm.get_model_weights(arch).DEFAULT.meta["num_params"], arch  # googlenet's
            # meta counts without them (torchvision drops them after loading), inception_v3's with them


def test_torchvision_tagged_weights_and_a_real_forward():
    spec = zoo.get_spec("torchvision:resnet50.IMAGENET1K_V1")
    assert spec.weights.tag == "IMAGENET1K_V1" and spec.preprocess.resize_size == 256  # V2 resizes to 232
    model = zoo.create_model("torchvision:regnet_y_400mf")
    preds = model.predict(model.example_items(2))
    assert len(preds) == 2 and len(preds[0]["topk"]) == 5


@pytest.mark.slow
def test_torchvision_detectors_read_as_the_registered_ones():
    derived, registered = zoo.get_spec("torchvision:fasterrcnn_resnet50_fpn"), zoo.get_spec("fasterrcnn_resnet50_fpn")
    assert (derived.preprocess, derived.weights, derived.input_size, derived.references) == (
        registered.preprocess, registered.weights, registered.input_size, registered.references)
    assert derived.extra["bn_eps"] == registered.extra["bn_eps"] == 0.0
    assert (derived.params, derived.flops) == (registered.params, registered.flops)  # measured as cost.json's
    model = zoo.create_model("torchvision:fasterrcnn_mobilenet_v3_large_320_fpn")
    assert model.spec.extra["bn_eps"] is None  # torchvision overwrites eps only for the ResNet-50 V1 weights
    pred = model.predict(model.example_items(1))[0]
    assert len(pred["boxes"]) == len(pred["scores"]) == len(pred["labels"])


# --- bad input: one line each ----------------------------------------------------------------------------

@pytest.mark.parametrize("name, words", [
    ("timm:convnxt_tiny", ["timm has no architecture 'convnxt_tiny'", "timm:convnext_tiny"]),
    ("timm:convnext_tiny.bogus", ["no pretrained tag", "timm:convnext_tiny.fb_in1k"]),
    ("torchvision:resnet5", ["torchvision has no architecture", "torchvision:resnet50"]),
    ("torchvision:resnet50.V9", ["weights tag", "torchvision:resnet50.IMAGENET1K_V2"]),
    ("nosuch:thing", ["unknown model source 'nosuch'", "timm:"]),
    ("timm:", ["names no model"]),
])
def test_unknown_names_give_close_matches(name, words):
    with pytest.raises(UnknownModelError) as e:
        zoo.get_spec(name)
    assert all(w in str(e.value) for w in words), str(e.value)
    assert "\n" not in str(e.value)


@pytest.mark.parametrize("name, words", [
    ("torchvision:fcn_resnet50", "is a semantic-segmentation model"),
    ("torchvision:quantized_resnet50", "quantized-classification model"),
    ("torchvision:fcos_resnet50_fpn", "detector wrapper runs fasterrcnn_*"),
    ("timm:convnext_tiny.dinov3_lvd1689m", "feature-extraction model"),
])
def test_tasks_zoo_does_not_run_are_one_line(name, words, capsys):
    assert main(["info", name]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1, err


def test_registered_models_stay_as_they_are():
    assert not [n for n in zoo.list_models() if ":" in n]
    assert zoo.get_spec("resnet50").name == "resnet50" and zoo.get_spec("timm/resnet50").references


# --- onnx ------------------------------------------------------------------------------------------------

class TinyNet(torch.nn.Module):
    def __init__(self):
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 8, 3, stride=2)
        self.fc = torch.nn.Linear(8, 10)

    def forward(self, x):
        return self.fc(self.conv(x).mean((2, 3)))


def export(net, path, size=64, dynamic_hw=False):
    axes = {0: "n", 2: "h", 3: "w"} if dynamic_hw else {0: "n"}
    torch.onnx.export(net.eval(), (torch.zeros(1, 3, size, size),), str(path), input_names=["image"],
                      output_names=["logits"], dynamic_axes={"image": axes}, dynamo=False)
    return path


def test_onnx_spec_from_graph_and_sidecar_runs_like_torch(tmp_path):
    torch.manual_seed(0)
    net = TinyNet()
    path = export(net, tmp_path / "tiny.onnx")
    pre = {"resize_size": 72, "interpolation": "bicubic", "mean": [0.5, 0.5, 0.5], "std": [0.25, 0.25, 0.25]}
    (tmp_path / "tiny.onnx.json").write_text(json.dumps({"preprocess": pre}))
    spec = zoo.get_spec(f"onnx:{path}")
    assert (spec.input_size, spec.num_classes, spec.task) == ((3, 64, 64), 10, "image-classification")
    assert (spec.preprocess.resize_size, spec.preprocess.interpolation, spec.preprocess.std) == (72, "bicubic",
                                                                                                (0.25,) * 3)
    assert spec.params == sum(p.numel() for p in net.parameters()) and spec.flops is None  # not measured
    model = zoo.create_model(spec.name)
    batch = model.example_batch(3)
    with torch.inference_mode():
        assert torch.allclose(model(batch.inputs), net(batch.inputs), atol=1e-5)
    assert model.weights_id == spec.weights.sha256 and len(spec.weights.sha256) == 64


def test_onnx_dynamic_input_asks_for_input_shape(tmp_path, capsys):
    path = export(TinyNet(), tmp_path / "dyn.onnx", dynamic_hw=True)
    assert main(["info", f"onnx:{path}"]) == 2
    err = capsys.readouterr().err
    assert "dynamic dimensions 3x?x?" in err and "--input-shape" in err and err.count("\n") == 1
    assert main(["info", f"onnx:{path}", "--input-shape", "3x96x96", "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["input_size"] == [3, 96, 96] and d["preprocess"]["crop_size"] == [96, 96]
    assert "ImageNet default" in d["preprocess"]["source"]  # said, not hidden
    assert main(["info", f"onnx:{path}", "--input-shape", "3x96"]) == 2
    assert "CxHxW" in capsys.readouterr().err


def test_onnx_bad_files_are_one_line(tmp_path, capsys):
    (tmp_path / "junk.onnx").write_bytes(b"not a model")
    for name, words in ((f"onnx:{tmp_path}/missing.onnx", "no such file"), (f"onnx:{tmp_path}/junk.onnx",
                                                                            "is not an ONNX model")):
        assert main(["info", name]) == 2
        err = capsys.readouterr().err
        assert words in err and err.count("\n") == 1, err


@pytest.mark.slow
def test_onnx_export_of_efficientnet_lite0_scores_as_the_pytorch_model(shared_data, tmp_path, results_dir,
                                                                        monkeypatch):
    """zoo eval onnx:<file> on the file `zoo export` writes (its zoo_export.json read as the sidecar) gives the
    PyTorch model's top-1 on 80 of the ImageNet photos, prediction by prediction (the export is scored and
    both models evaluated: four passes; the 200 photos are test_export's)."""
    from zoo.harness.export import writer

    if not (shared_data / "imagenet_sample_dev").is_dir():
        pytest.skip("imagenet_sample_dev is not present")
    data = _photo_subset(shared_data / "imagenet_sample_dev", tmp_path / "photos", 80)
    try:
        zoo.create_model("efficientnet_lite0", pretrained=True)
    except UserError as e:
        pytest.skip(f"weights not available: {e}")
    # the card's latency is still measured (its 20 calls at least), for 0.2 s rather than the CLI's 3 s: no
    # figure of it is checked here
    measure = writer.measure_latency
    monkeypatch.setattr(writer, "measure_latency", lambda *a, **k: measure(*a, **{**k, "min_s": 0.2}))
    out = tmp_path / "exp"
    assert main(["export", "efficientnet_lite0", "--out", str(out), "--backend", "onnxruntime", "--dtype", "fp32",
                 "--data", str(data)]) == 0
    onnx_name = f"onnx:{next(out.glob('*.onnx'))}"
    assert zoo.get_spec(onnx_name).preprocess.source == "sidecar zoo_export.json"
    rows = {}
    for name in ("efficientnet_lite0", onnx_name):
        preds = tmp_path / f"{len(rows)}.jsonl"
        rows[name] = zoo.evaluate(name, data, predictions=preds, workers=1, batch_size=50, write=False)
        rows[name]["preds"] = [json.loads(line)["pred"] for line in preds.read_text().splitlines()]
    torch_row, onnx_row = rows.values()
    assert onnx_row["metrics"]["correct1"] == torch_row["metrics"]["correct1"] and onnx_row["n"] == 80
    assert json.loads((out / "model_card.json").read_text())["speed"]["calls"] >= 20
    assert sum(a != b for a, b in zip(torch_row["preds"], onnx_row["preds"])) == 0


def _photo_subset(src, dst, n: int):
    """The first ``n`` photos of an images/ + labels.tsv folder, linked into ``dst`` in the same layout."""
    lines = (src / "labels.tsv").read_text().splitlines()
    (dst / "images").mkdir(parents=True)
    for line in lines[1:n + 1]:
        name = line.split("\t")[0]
        (dst / "images" / name).symlink_to(src / "images" / name)
    (dst / "labels.tsv").write_text("\n".join(lines[:n + 1]) + "\n")
    return dst


# --- hf: the local cache only ----------------------------------------------------------------------------

def fake_hf_cache(root, repo="acme/tiny-vit"):
    from transformers import ViTConfig, ViTForImageClassification

    snap = root / f"models--{repo.replace('/', '--')}" / "snapshots" / ("a" * 40)
    cfg = ViTConfig(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64, image_size=32,
                    patch_size=8, num_labels=3, id2label={0: "a", 1: "b", 2: "c"}, label2id={"a": 0, "b": 1, "c": 2})
    ViTForImageClassification(cfg).save_pretrained(snap)
    (snap / "preprocessor_config.json").write_text(json.dumps({
        "image_processor_type": "ViTImageProcessor", "do_resize": True, "size": {"height": 32, "width": 32},
        "resample": 2, "do_rescale": True, "rescale_factor": 1 / 255, "do_normalize": True,
        "image_mean": [0.5, 0.5, 0.5], "image_std": [0.5, 0.5, 0.5]}))
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("a" * 40)
    return repo


def test_hf_uncached_repo_names_what_to_run(zoo_cache, capsys):
    assert main(["info", "hf:google/vit-base-patch16-224"]) == 2
    err = capsys.readouterr().err
    assert "not in the local Hugging Face cache" in err and "hf download google/vit-base-patch16-224" in err
    assert err.count("\n") == 1


def test_hf_cached_image_classifier(zoo_cache, capsys):
    from transformers import ViTImageProcessor

    hub = zoo_cache.parent / "hf" / "hub"
    repo = fake_hf_cache(hub)
    spec = zoo.get_spec(f"hf:{repo}")
    assert (spec.task, spec.num_classes, spec.input_size, spec.source) == ("image-classification", 3, (3, 32, 32),
                                                                           "transformers")
    theirs = ViTImageProcessor.from_pretrained(str(next(hub.glob("*/snapshots/*"))))(PHOTO, return_tensors="pt")
    # the same PIL resize and normalization; transformers' round trip through numpy rounds some pixels to the
    # next 8-bit level, so equal within one level (1/255, divided by the std 0.5)
    assert (zoo_tensor(spec) - theirs["pixel_values"][0]).abs().max() <= 1 / 255 / 0.5 + 1e-6
    model = zoo.create_model(spec.name)
    assert model.predict(model.example_items(1))[0]["topk"][0][0] in (0, 1, 2)
    assert main(["list", "--source", "hf", "--json"]) == 0
    assert [r["name"] for r in json.loads(capsys.readouterr().out)] == [f"hf:{repo}"]


# --- ultralytics -----------------------------------------------------------------------------------------

def test_ultralytics_yaml_is_a_detector_and_other_heads_are_one_line(capsys):
    spec = zoo.get_spec("ultralytics:yolov8s.yaml")
    assert (spec.task, spec.input_size, spec.weights) == ("object-detection", (3, 640, 640), None)
    assert_built(spec)
    assert spec.params > zoo.get_spec("yolov8n").params  # the s scale, from the name as ultralytics reads it
    assert main(["info", "ultralytics:yolov8n-seg.yaml"]) == 2
    assert "instance-segmentation model" in capsys.readouterr().err


def test_ultralytics_checkpoint_is_pinned_when_resolved_and_loads_safely(tmp_path, capsys):
    from zoo.models.ultralytics_nets import import_ultralytics

    torch.manual_seed(0)
    net = import_ultralytics()("yolov8n.yaml", ch=3, nc=80, verbose=False).eval()
    torch.save({"model": net}, tmp_path / "mine.pt")
    spec = zoo.get_spec(f"ultralytics:{tmp_path / 'mine.pt'}")
    assert spec.weights.kind == "local" and len(spec.weights.sha256) == 64 and spec.params == zoo.get_spec("yolov8n").params
    model = zoo.create_model(spec.name, pretrained=True)  # the checkpoint's tensors, read by the restricted loader
    x = torch.rand(1, 3, 640, 640)
    with torch.inference_mode():
        assert torch.allclose(model(x), net(x)[0]) and model.weights_id == spec.weights.sha256
    (tmp_path / "bad.pt").write_bytes(b"not a checkpoint")
    assert main(["info", f"ultralytics:{tmp_path / 'bad.pt'}"]) == 2
    assert "not an ultralytics checkpoint" in capsys.readouterr().err


# --- zoo list --------------------------------------------------------------------------------------------

def test_list_all_shows_the_libraries_and_filters(capsys):
    assert main(["list", "--all", "--json"]) == 0
    names = {r["name"] for r in json.loads(capsys.readouterr().out)}
    assert {"resnet50", "timm:convnext_tiny", "torchvision:regnet_y_400mf", "ultralytics:yolov8.yaml"} <= names
    assert main(["list", "--source", "timm", "convnext_t", "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)
    assert {r["name"] for r in rows} >= {"timm:convnext_tiny", "timm:convnext_tiny_hnf"}
    assert all("convnext_t" in r["name"] for r in rows)
    assert main(["list", "--all", "--task", "object-detection", "--json"]) == 0
    det = {r["name"] for r in json.loads(capsys.readouterr().out)}
    assert "torchvision:fasterrcnn_resnet50_fpn_v2" in det and "torchvision:fcos_resnet50_fpn" not in det
    assert main(["list"]) == 0
    assert ":" not in "".join(line.split()[0] for line in capsys.readouterr().out.splitlines()[2:])


def test_list_all_reads_catalogs_without_importing_the_libraries():
    code = ("import sys, contextlib, io\nfrom zoo.cli import main\n"
            "with contextlib.redirect_stdout(io.StringIO()):\n    main(['list', '--all'])\n"
            "bad = [m for m in ('torch', 'timm', 'torchvision', 'ultralytics', 'transformers') if m in sys.modules]\n"
            "assert not bad, bad\n")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=False)
    assert r.returncode == 0, r.stderr[-2000:]


@pytest.mark.slow
def test_shipped_catalogs_equal_the_installed_libraries():
    from zoo.models.derived import timm as dtimm
    from zoo.models.derived import torchvision as dtv
    from zoo.models.derived import ultralytics as dul
    from zoo.models.derived._common import SHIPPED, catalog_file

    for dist, module in (("timm", dtimm), ("torchvision", dtv), ("ultralytics", dul)):
        path = catalog_file(dist, SHIPPED)
        if not path.exists():
            pytest.skip(f"no catalog shipped for this {dist} version ({path.name}): python -m zoo.models.derived")
        assert json.loads(path.read_text())["models"] == json.loads(json.dumps(module._build_catalog())), dist


def test_derived_names_resolve_through_the_registry_hook():
    src, rest = registry.split_source("timm:convnext_tiny")
    assert (src.prefix, rest) == ("timm", "convnext_tiny")
    assert registry.split_source("resnet50") is None
    assert registry.model_task("torchvision:regnet_y_400mf") == "image-classification"


# --- every command: train, eval of the checkpoint, explain (image classifiers) -----------------------------

def test_derived_classifier_trains_evaluates_and_explains(tmp_path, results_dir, zoo_cache):
    import numpy as np
    from PIL import Image

    from zoo.harness.explain import explain
    from zoo.harness.train.vision import VisionRun, image_config, train_image_classifier

    folder = tmp_path / "train"
    for cls, colour in (("blue", (40, 40, 210)), ("red", (210, 40, 40))):
        (folder / cls).mkdir(parents=True)
        for i in range(4):
            Image.fromarray(np.full((32, 32, 3), colour, dtype="uint8")).save(folder / cls / f"{i}.jpg")
    name = "timm:mobilenetv3_small_100"
    run = VisionRun(image_size=32, freeze="last:2", pretrained=False)
    r = train_image_classifier(name, folder, image_config(epochs=1, batch_size=4), run, out=tmp_path / "ck",
                               progress=False)
    assert r["steps"] == 2
    ev = zoo.evaluate(name, folder, checkpoint=tmp_path / "ck", progress=False)
    assert ev["model"] == name and ev["n"] == 8 and ev["weights"] == r["checkpoint_sha256"]
    expl = explain(name, str(folder / "red" / "0.jpg"), checkpoint=str(tmp_path / "ck"))
    assert expl.real_weights and set(expl.maps) == {"gradcam", "saliency"}


def test_onnx_explain_is_refused_in_one_line(tmp_path, capsys):
    path = export(TinyNet(), tmp_path / "t.onnx")
    assert main(["explain", f"onnx:{path}", str(tmp_path / "x.jpg")]) == 2
    assert "computes no gradients" in capsys.readouterr().err


def test_eval_without_weights_here_is_refused_as_for_registered_models(shared_data, zoo_cache, results_dir, capsys):
    """Offline, the timm hub file is not cached: one line naming it (never a score of random weights)."""
    data = shared_data / "imagenet_sample_dev"
    if not data.is_dir():
        pytest.skip("imagenet_sample_dev is not present")
    assert main(["eval", "timm:mobilenetv3_small_100", "--data", str(data), "--limit", "2", "--no-write"]) == 2
    err = capsys.readouterr().err
    assert "zoo fetch timm:mobilenetv3_small_100" in err and err.count("\n") == 1, err
    assert not (results_dir / "eval.jsonl").exists()


def test_info_shows_the_derived_spec_and_the_other_weights(capsys):
    assert main(["info", "torchvision:resnet50"]) == 0
    out = capsys.readouterr().out
    assert "ResNet50_Weights.IMAGENET1K_V2.transforms()" in out and "reference top1 = " in out
    assert "other weights: torchvision:resnet50.IMAGENET1K_V1" in out


def test_onnx_bench_runs_eager_only(tmp_path, capsys, results_dir):
    """The graph runs in onnxruntime as it is: --backend auto has one candidate, a converting backend is one line
    (a tracer would have recorded onnxruntime's output as a constant)."""
    name = f"onnx:{export(TinyNet(), tmp_path / 't.onnx')}"
    quick = ["--no-write", "--batch-size", "1", "--warmup", "1", "--min-iters", "2", "--min-duration", "0",
             "--rounds", "1", "--no-stages"]
    assert main(["bench", name, "--backend", "auto", "--json", *quick]) == 0
    row, = json.loads(capsys.readouterr().out)
    assert row["backend_used"] == "eager+fp32" and len(row["metrics"].get("candidates", [None])) == 1
    assert row["weights"] == zoo.get_spec(name).weights.sha256
    assert main(["bench", name, "--backend", "openvino", *quick]) == 2
    assert "only --backend eager (fp32) runs it" in capsys.readouterr().err
