"""zoo train for ultralytics detectors: ultralytics' own trainer, offline, on the bundled 24 COCO images; a
tiny run (1 epoch, 4 images, imgsz 64, ~15 s) writes a train row with mAP from ultralytics' validator and
says it is from scratch; the torch thread count ultralytics lowers is restored."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from zoo.cli import build_parser
from zoo.commands.train import run as train_cmd
from zoo.errors import UserError
from zoo.harness.train.detection import train_detector
from zoo.results import read_rows

REPO = Path(__file__).resolve().parents[1]

pytest.importorskip("ultralytics")


def test_tiny_detection_run_writes_a_row(tmp_path, results_dir, zoo_cache):
    threads = torch.get_num_threads()
    r = train_detector("yolov8n", "coco", epochs=1, batch=4, imgsz=64, limit=4, out=tmp_path / "run")
    assert torch.get_num_threads() == threads  # ultralytics set cores - 1; restored
    assert (tmp_path / "run" / "weights").is_dir() and r["checkpoint"].endswith(".pt")
    row, = read_rows(results_dir / "train.jsonl")
    assert row["task"] == "object-detection" and row["settings"]["trainer"] == "ultralytics"
    assert 0 <= row["metrics"]["map"] <= row["metrics"]["map50"] <= 100
    assert "from scratch" in row["note"] and "from scratch" in r["summary"]
    assert row["history"][0]["epoch"] == 1 and row["settings"]["fraction"] == pytest.approx(4 / 24)
    assert row["command"] == "zoo train yolov8n --data coco --epochs 1 --image-size 64 --batch-size 4 --limit 4"
    assert not list((REPO / "data" / "coco").glob("*.cache"))  # ultralytics' label cache: in zoo's cache
    assert list((zoo_cache / "ultralytics_data").glob("coco-*/labels/train.cache"))


def test_detection_bad_input_is_one_line(results_dir, zoo_cache, tmp_path):
    for args, msg in [(["--data", str(tmp_path / "nope")], "not coco128, coco, a YOLO folder"),
                      (["--data", "coco", "--image-size", "100"], "multiple of 32"),
                      (["--data", "coco", "--lr", "0.1"], "ultralytics' trainer"),
                      (["--data", "coco", "--pretrained"], "no ultralytics training weights"),
                      ([], "needs --data")]:
        with pytest.raises(UserError, match=msg):
            train_cmd(build_parser().parse_args(["train", "yolov8n", *args]))
    assert not results_dir.exists()
