"""Data-parallel fine-tuning of an image classifier: torchrun with 2 CPU processes (gloo) on a tiny ImageFolder
ends with the weights of one process on the same global batches. Head only (the frozen BatchNorm layers use
their running statistics, so per-process batch statistics cannot differ), no augmentation (each process would
draw its own crops); 14 images: batches of 4, 4, 4 and a last one of 2 (one image per process)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from ddp_runs import one_and_two_processes, torchrun
from PIL import Image

from zoo.results import read_rows


def _folder(root: Path) -> Path:
    rng = np.random.default_rng(0)
    for k, name in enumerate(("a", "b")):
        (root / name).mkdir(parents=True)
        for i in range(7):
            Image.fromarray(rng.integers(0, 255, (32, 32, 3)).astype("uint8") // (k + 1)).save(root / name / f"{i}.jpg")
    return root


@pytest.mark.slow
@pytest.mark.skipif(torchrun() is None, reason="torchrun not installed")
def test_two_processes_give_the_weights_of_one(tmp_path, monkeypatch):
    data = _folder(tmp_path / "data")
    args = ["train", "efficientnet_lite0", "--data", str(data), "--image-size", "32", "--freeze", "head", "--no-augment",
            "--label-smoothing", "0", "--batch-size", "4", "--epochs", "1", "--seed", "3"]
    a, b = one_and_two_processes(args, tmp_path, monkeypatch)
    rows = read_rows(tmp_path / "raw" / "train.jsonl")
    assert [r["settings"]["world_size"] for r in rows] == [1, 2] and rows[1]["metrics"]["steps"] == 4
    assert rows[1]["command"].startswith("torchrun --nproc_per_node 2 -m zoo train efficientnet_lite0")
    for k in a:
        torch.testing.assert_close(a[k], b[k], rtol=1e-4, atol=1e-5)
    from zoo.harness.loading.vision import prepare_classifier

    fresh = prepare_classifier("efficientnet_lite0", ["a", "b"], pretrained=True, image_size=32, seed=3)
    assert not torch.equal(fresh.net.classifier.weight, a["classifier.weight"])  # training moved the head
    assert torch.equal(fresh.net.conv_head.weight, a["conv_head.weight"])  # and nothing else
