"""zoo train for image classifiers on an ImageFolder: train path and row, resume, eval with --checkpoint, the
linear probe, freezing, and bad --data as one line. Tiny data made here (32x32 JPEGs, 2 classes, red vs blue);
EfficientNet-Lite0 at 32 px with only its last blocks training, so each run takes a few seconds."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from zoo import evaluate
from zoo.cli import build_parser
from zoo.commands.train import run as train_cmd
from zoo.errors import UserError
from zoo.harness.loading.vision import (
    head_of,
    load_trained_classifier,
    prepare_classifier,
)
from zoo.harness.train.vision import (
    VisionRun,
    image_config,
    linear_probe,
    train_image_classifier,
)
from zoo.harness.train.vision_model import freeze
from zoo.results import read_rows

MODEL = "efficientnet_lite0"


def _make_folder(root, per_class=6, classes=(("blue", (40, 40, 210)), ("red", (210, 40, 40))), seed=0):
    rng = np.random.default_rng(seed)
    for name, colour in classes:
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            a = (np.array(colour)[None, None] + rng.integers(-30, 30, (32, 32, 3))).clip(0, 255).astype("uint8")
            Image.fromarray(a).save(root / name / f"{i}.jpg")
    return root


@pytest.fixture
def folders(tmp_path):
    return _make_folder(tmp_path / "train"), _make_folder(tmp_path / "held", per_class=4, seed=1)


def _run(**kw):
    return VisionRun(image_size=32, freeze="last:2", **kw)


def test_train_writes_checkpoint_and_row_then_eval_scores_it(folders, tmp_path, results_dir, zoo_cache):
    train_dir, held_dir = folders
    out = tmp_path / "ck"
    r = train_image_classifier(MODEL, train_dir, image_config(epochs=1, batch_size=4), _run(), out=out, progress=False)
    assert r["steps"] == 3 and (out / "model.safetensors").is_file() and (out / "zoo_vision.json").is_file()
    assert not (tmp_path / "ck.state").exists()  # every epoch ran: nothing left to resume
    cfg = json.loads((out / "zoo_vision.json").read_text())
    assert cfg["class_names"] == ["blue", "red"] and cfg["image_size"] == 32 and cfg["model"] == MODEL
    row, = read_rows(results_dir / "train.jsonl")
    assert row["task"] == "image-classification" and row["metrics"]["steps"] == 3
    assert row["settings"]["freeze"] == "last:2" and row["settings"]["n_train"] == 12
    assert row["checkpoint_sha256"] == r["checkpoint_sha256"] and row["settings"]["method"] == "fine-tune"
    assert row["command"] == (f"zoo train {MODEL} --data {train_dir} --image-size 32 --freeze last:2 --out {out} "
                              "--batch-size 4 --epochs 1")
    ev = evaluate(MODEL, held_dir, checkpoint=out, progress=False)
    assert ev["n"] == 8 and ev["weights"] == r["checkpoint_sha256"] and ev["train"]["steps"] == 3
    assert 0 <= ev["metrics"]["top1"] <= 100 and ev["settings"]["checkpoint"] == str(out)
    assert ev["references"] == []  # Lite0's ImageNet figures are not about a 2-class checkpoint
    from zoo.report import nlp, vision_train

    table, = vision_train.tables({"train": [row], "eval": [ev]})
    assert table.rows[0][:3] == [MODEL, "fine-tune", str(train_dir)] and table.rows[0][7] == 1
    assert table.rows[0][11] == f"top-1 {ev['metrics']['top1']:.2f} % (n 8, held)"
    assert nlp.training_table([row]).rows == []  # not in the NLP table
    model = load_trained_classifier(out, MODEL)  # what `zoo explain` reuses
    assert model.spec.extra["class_names"] == ["blue", "red"] and model.weights_id == r["checkpoint_sha256"]
    with pytest.raises(UserError, match="was trained from 'efficientnet_lite0', not 'efficientnet_lite1'"):
        evaluate("efficientnet_lite1", held_dir, checkpoint=out, write=False, progress=False)


def test_resume_continues_from_the_checkpoint(folders, tmp_path, results_dir, zoo_cache):
    train_dir, _ = folders
    out = tmp_path / "ck"
    cfg = image_config(epochs=2, batch_size=4, checkpoint_every=1)
    first = train_image_classifier(MODEL, train_dir, cfg.replace(max_steps=2), _run(), out=out, progress=False,
                                   write=False)
    assert first["steps"] == 2 and (tmp_path / "ck.state" / "last.safetensors").is_file()
    with pytest.raises(UserError, match="freeze='last:2', this one 'head'"):
        train_image_classifier(MODEL, train_dir, cfg, VisionRun(image_size=32, freeze="head"), out=out,
                               resume=True, progress=False, write=False)
    r = train_image_classifier(MODEL, train_dir, cfg, _run(), out=out, resume=True, progress=False)
    assert r["resumed_from_step"] == 2 and r["steps"] == 6  # the step count goes on: 2 + the 4 left
    assert [h["epoch"] for h in r["history"]] == [1, 2]


def test_linear_probe_is_a_checkpoint_zoo_eval_scores(folders, tmp_path, results_dir, zoo_cache):
    train_dir, held_dir = folders
    r = linear_probe(MODEL, train_dir, VisionRun(image_size=32), out=tmp_path / "probe", progress=False)
    assert r["train_accuracy"] == 100.0  # red vs blue is linearly separable in any decent feature space
    ev = evaluate(MODEL, held_dir, checkpoint=tmp_path / "probe", progress=False)
    assert ev["metrics"]["top1"] == 100.0  # the folded standardisation gives sklearn's predictions
    row = read_rows(results_dir / "train.jsonl")[0]
    assert row["settings"]["method"].startswith("linear-probe") and "--linear-probe" in row["command"]


def test_freeze_modes():
    model = prepare_classifier(MODEL, ["a", "b", "c"], pretrained=False, image_size=32)
    head, _ = head_of(model.net)
    assert head.out_features == 3 and model.spec.num_classes == 3
    counts = freeze(model.net, "head")
    assert counts["trainable_params"] == head.weight.numel() + head.bias.numel()
    model.net.train()
    model.net(torch.randn(2, 3, 32, 32))
    assert not model.net.bn1.training  # a frozen BatchNorm keeps its running statistics
    model2 = prepare_classifier(MODEL, ["a", "b"], pretrained=False, image_size=32)
    assert freeze(model2.net, "last:2")["trainable_params"] > freeze(model2.net, "head")["trainable_params"]
    assert model2.net.conv_head.weight.requires_grad is False  # the second call refroze it
    for bad in ("last:0", "last:x", "tail", "last:999"):
        with pytest.raises(UserError, match="--freeze"):
            freeze(model2.net, bad)


def test_bad_data_is_one_line(tmp_path, results_dir, zoo_cache):
    (tmp_path / "empty").mkdir()
    (tmp_path / "file.txt").write_text("x")
    _make_folder(tmp_path / "one", classes=(("cat", (1, 2, 3)),))
    (tmp_path / "hollow" / "cat").mkdir(parents=True)
    _make_folder(tmp_path / "hollow2", classes=(("cat", (1, 2, 3)),))
    (tmp_path / "hollow2" / "dog").mkdir()
    cases = [(tmp_path / "missing", "does not exist"), (tmp_path / "file.txt", "is a file"),
             (tmp_path / "empty", "has no class folders"), (tmp_path / "one", "has one class"),
             (tmp_path / "hollow2", "class folder 'dog' has no images")]
    for data, msg in cases:
        with pytest.raises(UserError, match=msg):
            train_cmd(build_parser().parse_args(["train", MODEL, "--data", str(data), "--image-size", "32"]))
    for args, msg in [(["--freeze", "last:x"], "--freeze must be"), (["--image-size", "8"], "--image-size"),
                      (["--linear-probe", "--epochs", "2"], "training-loop flags"), ([], "needs --data")]:
        data = [] if msg == "needs --data" else ["--data", str(tmp_path / "one")]
        with pytest.raises(UserError, match=msg):
            train_cmd(build_parser().parse_args(["train", MODEL, *data, *args]))
    assert not results_dir.exists()
