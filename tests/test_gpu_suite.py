"""The GPU suite, tested without a GPU: the plan covers every GPU row, the
dry run prints it and runs nothing, and the plan runs end to end on CPU stand-ins (tiny model, batch 2,
no CUDA graphs, no compile) with steps isolated in subprocesses, rows written as they come, and skips said."""

from __future__ import annotations

import os
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from zoo.harness.speed.config import BenchConfig
from zoo.harness.suite import gpu as gs
from zoo.results import read_rows

TESTS = Path(__file__).resolve().parent
REPO = TESTS.parent


def test_the_plan_covers_every_gpu_row_of_the_issue():
    steps = gs.plan("cuda")
    bench = [s for s in steps if s.kind == "bench"]
    for name in ("resnet50", "vgg16", "inception_v3", "efficientnet_lite0"):
        cfgs = [BenchConfig(**s.config) for s in bench if s.model == name]  # valid settings, one-line errors else
        b1 = [c for c in cfgs if c.batch_sizes == (1,)]
        b256 = [c for c in cfgs if c.batch_sizes == (256,)]
        assert len(b1) == 1 and b1[0].cuda_graphs and b1[0].compare and b1[0].device == "cuda"
        assert len(b256) == 1 and b256[0].backend == "compile" and b256[0].dtype == "bf16" and b256[0].channels_last
    bert = [BenchConfig(**s.config) for s in bench if s.model == "bert_base"]
    assert {c.seq_len for c in bert} == {128} and {c.batch_sizes for c in bert} == {(1,), (256,)}
    assert {s.model for s in steps if s.kind == "e2e"} == set(gs.DETECTORS) and "yolov5n" in gs.DETECTORS
    assert [s.model for s in steps if s.kind == "eval"] == ["yolov5n"]
    assert [s.model for s in gs.plan("cuda", "/data/imagenet") if s.kind == "eval"] == ["yolov5n", "resnet50"]
    kinds = [s.kind for s in steps]
    assert kinds.index("e2e") < len(kinds) - 1 - kinds[::-1].index("bench")  # compiled b256 rows come last
    assert all("ultralytics" not in s.needs for s in steps)  # yolov5n is zoo's own code: no ultralytics


def test_dry_run_prints_the_plan_and_runs_nothing(results_dir, capsys):
    from zoo.cli import main

    assert main(["bench", "--suite", "gpu", "--dry-run"]) == 0
    out = capsys.readouterr().out
    assert "GPU suite: 16 steps" in out and "bert_base" in out and "CUDA graphs" in out and "nvjpeg" in out
    assert not (results_dir / "speed.jsonl").exists()
    assert main(["bench", "--suite", "cpu"]) == 2
    assert "unknown suite" in capsys.readouterr().err
    if not torch.cuda.is_available():
        assert main(["bench", "--suite", "gpu"]) == 2
        assert "needs a CUDA device" in capsys.readouterr().err


@pytest.mark.slow  # two sweep workers (each imports torch and zoo): ~15 s on the 2-core machine
def test_the_plan_runs_on_cpu_stand_ins_and_writes_rows_as_it_goes(tmp_path, monkeypatch):
    # the tiny convnet of helpers.py, its photos read without importing scikit-learn (test_speed.tiny_worker);
    # no device peak probe in the workers (up to 2 s of matmuls per dtype; not in a row's key, not checked here)
    steps = gs.cpu_substitute([s for s in gs.plan("cpu") if s.model == "resnet50"], factory="test_speed:tiny_worker")
    steps = [replace(s, config={**s.config, "peak": False}) for s in steps]
    missing = replace(steps[0], model="needs_a_package", needs=("no_such_package_zoo",))
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(TESTS), str(REPO), os.environ.get("PYTHONPATH", "")]))
    seen = []
    outcomes = gs.run_suite(steps + [missing], tmp_path, budget_s=300, log=seen.append)
    assert [o.status for o in outcomes] == ["ok", "ok", "skipped"], [o.reason for o in outcomes]
    assert "no_such_package_zoo" in outcomes[2].reason
    rows = read_rows(tmp_path / "speed.jsonl")
    assert [r["settings"]["batch_size"] for r in rows] == [1, 2] and all(r["device"] == "cpu" for r in rows)
    assert rows[1]["metrics"].get("speedup_vs_fp32_eager")  # the bf16 stand-in: fp32 eager timed beside it
    assert any("needs_a_package: skipped" in s for s in seen)
    text = gs.summary(outcomes)
    assert "2 of 3 steps ok" in text and "items/s" in text


def test_the_budget_skips_steps_that_cannot_start_and_failures_are_reported(tmp_path):
    steps = gs.cpu_substitute([s for s in gs.plan("cpu") if s.kind == "eval"])
    bad = replace(steps[0], config={"args": ["--data", str(tmp_path / "missing"), "--device", "cpu"]})
    (failed,) = gs.run_suite([bad], tmp_path, budget_s=120, log=lambda s: None)
    assert failed.status == "failed" and failed.reason.startswith("exit")
    (late,) = gs.run_suite([bad], tmp_path, budget_s=gs.MIN_STEP_S - 1, log=lambda s: None)
    assert late.status == "skipped" and "time budget" in late.reason


def test_letterbox_on_the_device_matches_the_cpu_geometry():
    from zoo.harness.suite.e2e import letterbox_on_device
    from zoo.models.image import LetterboxDetector

    img = torch.randint(0, 255, (3, 100, 200), dtype=torch.uint8)
    x, meta = letterbox_on_device(img, (64, 64))
    assert x.shape == (3, 64, 64) and meta == {"orig_size": (100, 200), "scale": 0.32, "pad": (16, 0)}
    assert torch.allclose(x[:, :16], torch.full_like(x[:, :16], 114 / 255))  # grey padding above
    box = torch.tensor([[0.0, 16.0, 64.0, 48.0]])  # the whole picture in letterboxed pixels
    assert LetterboxDetector.to_original(box, meta).tolist() == [[0.0, 0.0, 200.0, 100.0]]


def test_yolov5n_end_to_end_pipeline_runs_on_cpu(results_dir):
    from zoo.harness.suite.e2e import measure

    row = measure("yolov5n", device="cpu", batch_size=1, warmup=0, min_iters=1, min_duration_s=0)
    st = row["metrics"]["stages"]
    assert st["e2e_items_per_s"] > 0 and row["metrics"]["items_per_s"] > 0 and st["e2e_from"] == "stored items"
    assert "NMS" in st["names"]["postprocess"] and row["settings"]["pipeline"] == "gpu_e2e"
    assert read_rows(results_dir / "speed.jsonl")[-1]["key"] == row["key"]


def test_the_one_command_exists():
    assert "gpu-suite:" in (REPO / "Makefile").read_text()
    script = REPO / "scripts" / "gpu_suite.sh"
    assert os.access(script, os.X_OK) and "--suite gpu" in script.read_text()


def test_yolov5n_device_postprocess_matches_the_models_own(results_dir):
    """The e2e path's NMS on the outputs' device gives the predictions of the model's CPU postprocess."""
    from zoo.harness.speed import build_model
    from zoo.harness.suite.e2e import yolov5_device_postprocess

    model = build_model("yolov5n", pretrained=False).eval()
    batch = model.preprocess(model.example_items(1))
    with torch.inference_mode():
        out = model(batch.inputs)
        own = model.postprocess(out, batch)
        mine = [yolov5_device_postprocess(model, o, m) for o, m in zip(out.float(), batch.meta)]
    assert mine == own


def test_the_summary_sets_the_eval_pipeline_against_the_model_alone():
    e2e, ev = [s for s in gs.plan("cuda") if s.model == "yolov5n"]
    speed_row = {"kind": "speed", "model": "yolov5n", "metrics": {"items_per_s": 100.0}, "settings": {"batch_size": 1},
                 "backend_used": "eager+fp32"}
    eval_row = {"kind": "eval", "model": "yolov5n", "metrics": {"items_per_s": 25.0}}
    text = gs.summary([gs.Outcome(e2e, "ok", rows=[speed_row]), gs.Outcome(ev, "ok", rows=[eval_row])])
    assert "eval pipeline 25.0 images/s vs the network alone 100.0 items/s" in text and "25%" in text
