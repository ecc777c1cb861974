"""Report rules for detectors: the leaderboard ranks only real weights (random-init entries are
listed below, unranked, marked "random-init"); the real-time detection table (T10) shows each detector's
best backend end to end, preferring real weights, and says which backend and which weights; the COCO
table marks train2017 data and lists yolov5n until it is scored.

Rows are made with zoo.results.make_row into a tmp raw folder (never results/raw).
"""

from __future__ import annotations

from pathlib import Path

from helpers import eval_row, speed_row

from zoo.report import speed, vision
from zoo.report.leaderboard import entries
from zoo.report.leaderboard import tables as leaderboard_tables
from zoo.results import append_row, read_all

SHA = "5" * 64
CPU = {"cpu": "Test CPU", "cores": 2, "gpu": None, "mem_gib": 23.4}


def _speed(model, e2e, *, weights="random-init", backend="eager", used="eager+fp32", candidates=None,
           task="object-detection", time="2026-11-30T10:00:00+00:00"):
    metrics = {"items_per_s": e2e * 1.5, "p50_ms": 1000 / (e2e * 1.5), "stages": {
        "decode_p50_ms": 4.0, "preprocess_p50_ms": 5.0, "postprocess_p50_ms": 2.0, "e2e_p50_ms": 1000 / e2e,
        "e2e_items_per_s": e2e, "e2e_from": "stored items",
        "names": {"decode": "decode", "preprocess": "letterbox", "forward": "forward", "postprocess": "NMS"}}}
    if candidates:
        metrics["candidates"] = [{"config": c, "p50_ms": 10.0} for c in candidates]
    flags = [] if weights != "random-init" or task != "object-detection" else ["random-weights detection"]
    return speed_row(model, metrics, weights=weights, task=task, time=time, machine=CPU, commit="c0ffee1234567890",
                     settings={"device": "cpu", "batch_size": 1, "requested_batch_size": 1, "backend": backend,
                               "dtype": "fp32" if backend != "auto" else None, "threads": 2},
                     key=f"{model}-{backend}-{weights[:4]}", backend_used=used,
                     command=f"zoo bench {model} --backend {backend}", scenario="SingleStream", flags=flags)


def _eval(model, score, weights, *, task="object-detection", dataset="coco128"):
    metrics = {"map": score, "map50": score * 1.5} if task == "object-detection" else {"top1": score, "top5": 99.0}
    return eval_row(model, metrics, weights=weights, dataset=dataset, task=task, n=128, settings={"device": "cpu"},
                    machine=CPU, time="2026-11-30T11:00:00+00:00", commit="c0ffee1234567890")


def _raw(tmp_path: Path, speed_rows, eval_rows) -> dict:
    raw = tmp_path / "raw"
    for r in speed_rows:
        append_row(raw / "speed.jsonl", r)
    for r in eval_rows:
        append_row(raw / "eval.jsonl", r)
    return read_all(raw)


def test_leaderboard_ranks_only_real_weights(tmp_path):
    rows = _raw(tmp_path, [
        _speed("yolov5n", 10.0, weights=SHA),
        _speed("ssdlite320_mobilenet_v3_large", 30.0),      # random-init timing and score, higher "score"
        _speed("yolov8n", 20.0),                            # random-init timing, real score: detection, unranked
        _speed("resnet50", 50.0, task="image-classification"),  # random-init timing of a dense net, real score
        _speed("vgg16", 40.0, task="image-classification"),  # random-init score
    ], [
        _eval("yolov5n", 35.7, SHA), _eval("ssdlite320_mobilenet_v3_large", 60.0, "random-init"),
        _eval("yolov8n", 40.0, "b" * 64),
        _eval("resnet50", 80.0, "c" * 64, task="image-classification", dataset="imagenet_sample_dev"),
        _eval("vgg16", 90.0, "random-init", task="image-classification", dataset="imagenet_sample_dev"),
    ])
    ents, _ = entries(rows)
    by = {e["model"]: e for e in ents}
    assert by["yolov5n"]["rank"] == 1 and not by["yolov5n"]["random_init"]
    assert by["resnet50"]["rank"] == 1  # a dense network's timing does not depend on its weights
    for name in ("ssdlite320_mobilenet_v3_large", "yolov8n", "vgg16"):
        assert by[name]["rank"] is None and by[name]["random_init"], name
    order = [e["model"] for e in ents if e["task"] == "object-detection" and e["dataset"] == "coco128"]
    assert order[0] == "yolov5n"  # listed below the ranked entry, despite the higher scores
    (table,) = leaderboard_tables(rows)
    rank = table.columns.index("rank")
    cells = {r[table.columns.index("model")]: r[rank] for r in table.rows}
    assert cells == {"yolov5n": 1, "resnet50": 1, "ssdlite320_mobilenet_v3_large": "random-init",
                     "yolov8n": "random-init", "vgg16": "random-init"}
    assert any("Only real weights are ranked" in n for n in table.notes)


def _t10(rows) -> tuple[list[str], dict[str, list]]:
    (table,) = [t for t in speed.tables(rows) if t.slug == "speed_detection_realtime"]
    return table.columns, {r[1]: r for r in table.rows}


def test_t10_shows_the_best_backend_end_to_end_and_real_weights_first(tmp_path):
    auto = ["eager+fp32", "compile+fp32+channels_last+default+freezing", "onnxruntime+fp32"]
    rows = _raw(tmp_path, [
        _speed("yolov3", 1.1),
        _speed("yolov3", 2.0, backend="auto", used="onnxruntime+fp32", candidates=auto),
        _speed("yolov5n", 12.0, weights=SHA, backend="auto", used="compile+fp32+channels_last+default+freezing",
               candidates=auto),
        _speed("yolov5n", 30.0, backend="onnxruntime", used="onnxruntime+fp32"),  # faster, but random-init
    ], [])
    cols, by = _t10(rows)
    col = {c: i for i, c in enumerate(cols)}
    y3 = by["yolov3"]
    assert y3[col["best backend"]] == "onnxruntime+fp32" and y3[col["measured FPS end to end"]] == 2.0
    assert y3[col["chosen from"]] == "auto: " + ", ".join(auto)
    assert y3[col["weights"]] == "random-init" and y3[col["measured / claim"]] == 2.0 / 45.0
    y5 = by["yolov5n"]
    assert y5[col["weights"]] == f"real (sha256 {SHA[:12]}…)" and y5[col["measured FPS end to end"]] == 12.0
    assert y5[col["best backend"]].startswith("compile") and y5[col["article claim FPS"]] is None
    assert y5[col["end to end from"]] == "file" and y5[col["preprocess / postprocess are"]] == "letterbox / NMS"
    assert by["ssd300_vgg16"][col["device (ours)"]] == "not timed yet"


def test_t10_lists_yolov5n_before_it_is_timed(tmp_path):
    cols, by = _t10(_raw(tmp_path, [_speed("yolov3", 1.1)], []))
    assert by["yolov5n"][cols.index("device (ours)")] == "not timed yet"
    assert by["yolov3"][cols.index("chosen from")] == "eager+fp32 only"


def test_coco_table_marks_train2017_and_lists_yolov5n_until_scored(tmp_path):
    rows = _raw(tmp_path, [], [_eval("yolov8n", 0.0, "random-init", dataset="coco:instances")])
    table = vision.detection_table(rows)
    by = {r[0]: r for r in table.rows}
    assert by["yolov8n"][table.columns.index("images from")] == "train2017"
    assert by["yolov5n"][1].startswith("not measured yet") and by["yolov5n"][table.columns.index("ref mAP %")] == 28.0
    assert any("not comparable" in n for n in table.notes)
    rows = _raw(tmp_path / "scored", [], [_eval("yolov5n", 35.7, SHA)])
    table = vision.detection_table(rows)
    (y5,) = [r for r in table.rows if r[0] == "yolov5n"]
    assert y5[1] == "coco128" and y5[table.columns.index("mAP %")] == 35.7 and y5[2] == "train2017"
