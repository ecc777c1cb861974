"""Data-parallel fine-tuning of an image classifier: torchrun with 2 CPU processes (gloo) on a tiny ImageFolder
ends with the weights of one process on the same global batches. Head only (the frozen BatchNorm layers use
their running statistics, so per-process batch statistics cannot differ), no augmentation (each process would
draw its own crops); 14 images: batches of 4, 4, 4 and a last one of 2 (one image per process)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file

from zoo.results import read_rows


def _torchrun():
    exe = Path(sys.executable).parent / "torchrun"
    return str(exe) if exe.exists() else shutil.which("torchrun")


def _folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for k, name in enumerate(("a", "b")):
        (root / name).mkdir(parents=True)
        for i in range(7):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3)).astype("uint8") // (k + 1)).save(root / name / f"{i}.jpg")
    return root


@pytest.mark.slow
@pytest.mark.skipif(_torchrun() is None, reason="torchrun not installed")
def test_two_processes_give_the_weights_of_one(tmp_path):
    data = _folder(tmp_path / "data")
    args = ["train", "efficientnet_lite0", "--data", str(data), "--image-size", "32", "--freeze", "head", "--no-augment",
            "--label-smoothing", "0", "--batch-size", "4", "--epochs", "1", "--seed", "3"]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MASTER_ADDR": "127.0.0.1", "ZOO_RESULTS_DIR": str(tmp_path / "raw")}
    one = subprocess.run([sys.executable, "-m", "zoo", *args, "--out", str(tmp_path / "one")], capture_output=True,
                         text=True, env=env, timeout=300)
    assert one.returncode == 0, one.stderr[-2000:]
    two = subprocess.run([_torchrun(), "--standalone", "--nproc_per_node", "2", "-m", "zoo", *args, "--out",
                          str(tmp_path / "two")], capture_output=True, text=True, env=env, timeout=300)
    assert two.returncode == 0, two.stderr[-2000:]
    a, b = load_file(tmp_path / "one" / "model.safetensors"), load_file(tmp_path / "two" / "model.safetensors")
    rows = read_rows(tmp_path / "raw" / "train.jsonl")
    assert [r["settings"]["world_size"] for r in rows] == [1, 2] and rows[1]["metrics"]["steps"] == 4
    assert rows[1]["command"].startswith("torchrun --nproc_per_node 2 -m zoo train efficientnet_lite0")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    from zoo.harness.train.vision_model import prepare_classifier

    fresh = prepare_classifier("efficientnet_lite0", ["a", "b"], pretrained=True, image_size=32, seed=3)
    assert not torch.equal(fresh.net.classifier.weight, a["classifier.weight"])  # training moved the head
    assert torch.equal(fresh.net.conv_head.weight, a["conv_head.weight"])  # and nothing else
