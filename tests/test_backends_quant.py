"""OpenVINO (fp32 / bf16 hint / NNCF int8) and ONNX Runtime static int8 backends, calibration data, and
``zoo eval --backend``: tiny models, a few calibration items, nothing timed."""

from __future__ import annotations

import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from helpers import MODEL, tiny

from zoo.cli import main
from zoo.harness.backends import BackendConfig, outputs_to_fp32, prepare
from zoo.harness.backends import calibration as cal
from zoo.harness.backends.calibration import Calibration
from zoo.harness.speed import accuracy_budget as ab
from zoo.results import read_rows

TESTS = Path(__file__).resolve().parent


@pytest.fixture
def photos(tmp_path, monkeypatch):
    """A shared-data folder holding 12 small 'ImageNet' photos (the real ones need not be here)."""
    from PIL import Image

    folder = tmp_path / "shared" / "imagenet_sample_dev" / "images"
    folder.mkdir(parents=True)
    g = torch.Generator().manual_seed(0)
    for i in range(12):
        arr = (torch.rand(40, 48, 3, generator=g) * 255).to(torch.uint8).numpy()
        Image.fromarray(arr).save(folder / f"n{i:08d}_photo.JPEG")
    monkeypatch.setenv("ZOO_SHARED_DATA", str(tmp_path / "shared"))
    return folder


def test_calibration_is_deterministic_for_a_seed(photos):
    model = tiny()
    a, b, c = Calibration(model, n=5, seed=0), Calibration(model, n=5, seed=0), Calibration(model, n=5, seed=1)
    assert all(torch.equal(x, y) for x, y in zip(a.batches(), b.batches()))
    assert a.info["items_sha256"] == b.info["items_sha256"] != (c.batches() and c.info["items_sha256"])
    assert a.info["n"] == 5 and a.info["pool_size"] == 12 and "imagenet_sample_dev" in a.info["source"]
    assert a.info["overlaps_eval"]  # the photos eval scores: said so
    assert len(a.batches()) == 5 and a.batches()[0].shape == (1, 3, 32, 32)


def test_calibration_falls_back_to_bundled_photos_and_text_uses_the_train_split(tmp_path, monkeypatch):
    monkeypatch.setenv("ZOO_SHARED_DATA", str(tmp_path / "nothing"))
    items, info = cal.calibration_items(tiny(), n=3)
    assert len(items) == 3 and info["source"].startswith("data/coco/images") and "not ImageNet" in info["note"]
    text = SimpleNamespace(spec=SimpleNamespace(task="text-classification"))
    items, info = cal.calibration_items(text, n=4, seed=0)
    assert "train split" in info["source"] and info["overlaps_eval"] is None and info["pool_size"] > 6000
    test_sentences = set(Path(cal.REPO / "data" / "sst2" / "test.tsv").read_text().splitlines())
    assert all(isinstance(s, str) and s not in test_sentences for s in items)


def _outputs(cfg, model, x, calibration=None):
    prep = prepare(model, cfg, "cpu", x, calibration=calibration)
    return prep, outputs_to_fp32(prep.run(prep.to_inputs(x)))


def in_fresh_process(fn: str, *args: str) -> None:
    """Run ``fn(*args)`` of this module in a child Python: a pytest process that had loaded OpenVINO crashed
    (SIGSEGV) in a later test's fixture, so OpenVINO never loads in the test process itself."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(TESTS), os.environ.get("PYTHONPATH", "")])}
    code = f"import test_backends_quant as t; t.{fn}(*{list(args)!r})"
    r = subprocess.run([sys.executable, "-c", code], env=env, cwd=TESTS.parent, capture_output=True, text=True,
                       timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_int8_is_calibrated_and_the_same_seed_gives_the_same_model(backend, photos):
    pytest.importorskip("openvino" if backend == "openvino" else "onnxruntime")
    if backend == "openvino":
        pytest.importorskip("nncf")
        return in_fresh_process("int8_checks", backend)
    int8_checks(backend)


def int8_checks(backend: str) -> None:
    model = tiny()
    x = model.preprocess(model.example_items(2)).inputs
    ref = model(x)
    cfg = BackendConfig(backend, "int8")
    p1, y1 = _outputs(cfg, tiny(), x, Calibration(model, n=4, seed=0))
    _, y2 = _outputs(cfg, tiny(), x, Calibration(model, n=4, seed=0))
    assert torch.equal(y1, y2)
    assert (y1 - ref).abs().max() < 0.5 * ref.abs().max() and not torch.equal(y1, ref)  # quantized, still close
    assert p1.info["calibration"]["n"] == 4 and p1.info["calibration"]["seed"] == 0
    assert p1.info["quantized"]["quantize_s"] >= 0 and "calibration_data_s" in p1.info["quantized"]
    assert outputs_to_fp32(p1.run(p1.to_inputs(torch.cat([x, x[:1]])))).shape == (3, 10)  # another batch size
    assert cfg.label == f"{backend}+int8"


@pytest.mark.slow
def test_openvino_fp32_and_bf16_hint_and_dynamic_shapes():
    pytest.importorskip("openvino")
    in_fresh_process("openvino_checks")


def openvino_checks() -> None:
    model = tiny()
    x = model.preprocess(model.example_items(1)).inputs
    ref = model(x)
    prep, y = _outputs(BackendConfig("openvino", "fp32"), tiny(), x)
    assert torch.allclose(y, ref, atol=1e-4)
    ov = prep.info["openvino"]
    assert ov["performance_hint"] == "LATENCY" and ov["inference_precision_hint"] == "f32"
    assert ov["inference_num_threads"] == torch.get_num_threads() and ov["static_shapes"] == [(1, 3, 32, 32)]
    assert ov["convert_s"] >= 0 and ov["compile_s"] >= 0
    first, x_before = prep.run(x), x.clone()
    kept = first.clone()
    prep.run(x * 0.5)  # OpenVINO reuses its output buffers (and reads the inputs in place): nothing aliases them
    assert torch.equal(first, kept) and torch.equal(x, x_before)
    x4 = model.preprocess(model.example_items(4)).inputs
    assert torch.allclose(outputs_to_fp32(prep.run(x4)), model(x4), atol=1e-4)  # the dynamic-shape path
    prep, y = _outputs(BackendConfig("openvino", "bf16", precision="hint"), tiny(), x)
    assert prep.info["openvino"]["inference_precision_hint"] == "bf16" and torch.allclose(y, ref, atol=0.1)


def test_openvino_int8_with_its_float_layers_in_bf16_is_a_candidate_of_its_own(monkeypatch):
    from zoo.errors import UserError
    from zoo.harness.backends import openvino
    from zoo.harness.speed.config import BenchConfig

    cfg = BackendConfig("openvino", "int8", precision="bf16")
    assert cfg.label == "openvino+int8+bf16" and cfg.numerics != BackendConfig("openvino", "int8").numerics
    assert openvino.precision_hint(cfg) == "bf16"
    assert openvino.precision_hint(BackendConfig("openvino", "int8")) == "f32"
    for bf16 in (True, False):
        monkeypatch.setattr(openvino, "cpu_bf16", lambda b=bf16: b)
        labels = [c.label for c in openvino.OpenVino().auto_configs(None)]
        assert ("openvino+int8+bf16" in labels) == bf16 and "openvino+int8" in labels
    assert BenchConfig(backend="openvino", dtype="int8", precision="bf16").precision == "bf16"
    with pytest.raises(UserError, match="--precision bf16 is for --backend openvino --dtype int8"):
        BenchConfig(backend="onnxruntime", dtype="int8", precision="bf16")


def test_zoo_eval_through_a_backend_writes_a_findable_row(digits, photos, results_dir, capsys):  # noqa: F811
    pytest.importorskip("onnxruntime")
    data, ckpt, _ = digits
    base = ["eval", MODEL, "--data", str(data), "--checkpoint", str(ckpt), "--limit", "40", "--batch-size", "16",
            "--workers", "1"]  # eval reads in-process for onnxruntime (fork_safe False): workers 0 in its row
    assert main(base) == 0
    capsys.readouterr()
    assert main(base + ["--backend", "onnxruntime", "--dtype", "int8", "--json"]) == 0
    row = json.loads(capsys.readouterr().out)
    fp32, again = read_rows(results_dir / "eval.jsonl")
    assert "backend" not in fp32 and again["backend"]["label"] == row["backend"]["label"] == "onnxruntime+int8"
    assert row["settings"]["backend_config"] == "onnxruntime+int8" and row["settings"]["dtype"] == "int8"
    b = row["backend"]
    assert b["numerics"] == "onnxruntime+int8" and b["calibration"]["n"] == 64 and b["setup_s"] > 0
    assert b["quantized"]["quantize_s"] >= 0 and b["onnx"]["export_s"] >= 0
    assert row["n"] == fp32["n"] == 40 and row["weights"] == fp32["weights"] and row["settings"]["workers"] == 0
    # calibrated on photos, not digits: the activation ranges miss, and the eval row shows what that costs
    loss = fp32["metrics"]["top1"] - row["metrics"]["top1"]
    c = ab.check(MODEL, "image-classification", fp32["weights"], BackendConfig("onnxruntime", "int8"), budget=100)
    assert c["status"] == "within budget" and c["loss_points"] == pytest.approx(loss)
    assert c["eval_row"]["backend"] == "onnxruntime+int8" and c["fp32_eval_row"]["backend"] == "eager+fp32"
    assert ab.check(MODEL, "image-classification", fp32["weights"], BackendConfig("onnxruntime", "int8"))["eligible"] \
        is (loss <= 1.0)


@pytest.mark.slow
def test_zoo_eval_openvino_reads_images_without_forking(digits, results_dir, capsys):  # noqa: F811
    """A process holding an OpenVINO model can crash when the DataLoader forks its workers: eval reads the
    images in the process itself for that backend (and says so in the row's settings)."""
    pytest.importorskip("openvino")
    data, ckpt, _ = digits
    in_fresh_process("openvino_eval_checks", str(data), str(ckpt))


def openvino_eval_checks(data: str, ckpt: str) -> None:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["eval", MODEL, "--data", data, "--checkpoint", ckpt, "--limit", "20", "--workers", "2",
                     "--backend", "openvino", "--json"]) == 0
    row = json.loads(out.getvalue())
    assert row["settings"]["workers"] == 0 and row["backend"]["label"] == "openvino+fp32"
    assert row["backend"]["openvino"]["inference_precision_hint"] == "f32"


@pytest.mark.parametrize("extra, match", [
    (["--backend", "auto"], "runs one backend configuration"),
    (["--backend", "eager", "--dtype", "int8"], "backend eager runs fp32, bf16, fp16 only"),
    (["--backend", "openvno"], "unknown backend 'openvno'; did you mean openvino"),
])
def test_eval_backend_errors_are_one_line(digits, results_dir, capsys, extra, match):  # noqa: F811
    data, ckpt, _ = digits
    assert main(["eval", MODEL, "--data", str(data), "--checkpoint", str(ckpt), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert match in err and err.count("\n") == 0
    assert not (results_dir / "eval.jsonl").exists()


def test_onnxruntime_int8_leaves_no_scratch_files_in_the_working_directory(tmp_path, monkeypatch, photos):
    """onnxruntime's shape inference saves sym_shape_infer_temp.onnx (+ <uuid>.data) into the current
    directory when it cannot infer every shape (yolov5n): they used to land in the user's checkout."""
    pytest.importorskip("onnxruntime")
    import onnxruntime.quantization.shape_inference as shape_inference

    def incomplete(src, dst, **kwargs):  # what it does on a model whose shapes it cannot all infer
        Path("sym_shape_infer_temp.onnx").write_bytes(b"scratch")
        raise Exception("Incomplete symbolic shape inference")

    monkeypatch.setattr(shape_inference, "quant_pre_process", incomplete)
    work = tmp_path / "cwd"
    work.mkdir()
    monkeypatch.chdir(work)
    model = tiny()
    x = model.preprocess(model.example_items(2)).inputs
    prep, _ = _outputs(BackendConfig("onnxruntime", "int8"), tiny(), x, Calibration(model, n=4, seed=0))
    assert prep.info["quantized"]["pre_processed"] is False
    assert list(work.iterdir()) == [] and Path.cwd() == work
