"""The guards around `zoo eval`: a progress bar on the eval loop, random weights refused unless asked for, a
data set whose label space is not the model's refused, HF hub data sets from the local cache, and class names
in predictions."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest
import torch

import zoo
from zoo.cli import main as zoo_main
from zoo.datasets.labels import (
    COCO80_NAMES,
    coco91_names,
    imagenet_names,
    name_predictions,
)
from zoo.errors import UserError
from zoo.registry import list_models

SAMPLE_JPEG = Path(zoo.__file__).resolve().parent / "data" / "images"
CIFAR10 = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def _one_line_error(argv, capsys) -> str:
    rc = zoo_main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.startswith("zoo: error: ") and "\n" not in err, err
    return err


def _lstm_checkpoint(tmp_path: Path) -> Path:
    from safetensors.torch import save_file

    torch.manual_seed(0)
    ck = tmp_path / "lstm.safetensors"
    save_file({k: v.contiguous() for k, v in zoo.create_model("lstm").net.state_dict().items()}, str(ck))
    return ck


# --- item 2: progress bar -------------------------------------------------------------------------------

def test_eval_progress_bar_on_a_terminal_only_and_not_when_quiet(monkeypatch, capsys):
    monkeypatch.delenv("TQDM_DISABLE", raising=False)
    monkeypatch.delenv("ZOO_QUIET", raising=False)
    zoo.evaluate("mlp", "digits", limit=40, batch_size=8, pretrained=False, write=False)
    assert "eval mlp" not in capsys.readouterr().err  # stderr is not a terminal here: no bar
    monkeypatch.setattr(type(os.sys.stderr), "isatty", lambda self: True, raising=False)
    zoo.evaluate("mlp", "digits", limit=40, batch_size=8, pretrained=False, write=False)
    assert capsys.readouterr() == ("", "")  # the library prints nothing unless asked, even on a terminal
    zoo.evaluate("mlp", "digits", limit=40, batch_size=8, pretrained=False, write=False, verbose=True)
    err = capsys.readouterr().err
    assert "eval mlp:" in err and "/40 [" in err  # verbose on a terminal: the bar, items done of the total
    zoo.evaluate("mlp", "digits", limit=40, batch_size=8, pretrained=False, write=False, progress=False)
    assert "eval mlp" not in capsys.readouterr().err
    monkeypatch.setenv("ZOO_QUIET", "")  # `--quiet` sets ZOO_QUIET / TQDM_DISABLE: monkeypatch restores them after
    monkeypatch.setenv("TQDM_DISABLE", "")
    assert zoo_main(["eval", "mlp", "--limit", "40", "--random-init", "--no-write", "--quiet"]) == 0
    assert "eval mlp" not in capsys.readouterr().err


# --- item 5: random weights -----------------------------------------------------------------------------

def test_random_weights_are_refused_with_what_to_train_unless_random_init(zoo_cache, results_dir, capsys):
    err = _one_line_error(["eval", "minilm_sst2", "--data", "sst2", "--limit", "4"], capsys)
    assert "minilm_sst2 has no trained weights here" in err and "zoo train minilm_sst2 --task sst2 --pretrained" in err
    assert "--checkpoint" in err and "--random-init" in err
    err = _one_line_error(["eval", "mlp", "--limit", "4"], capsys)
    assert "--checkpoint" in err and "--random-init" in err
    with pytest.raises(UserError, match="no trained weights here"):
        zoo.evaluate("lstm", "sst2", limit=4, write=False)
    assert not (results_dir / "eval.jsonl").exists()
    assert zoo_main(["eval", "lstm", "--data", "sst2", "--limit", "8", "--random-init"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("RANDOM WEIGHTS: lstm") and "weights RANDOM WEIGHTS (random-init)" in out
    row = json.loads((results_dir / "eval.jsonl").read_text())
    assert row["weights"] == "random-init" and row["n"] == 8


def test_trained_weights_are_not_refused(tmp_path):
    row = zoo.evaluate("lstm", "sst2", limit=4, checkpoint=_lstm_checkpoint(tmp_path), write=False)
    assert row["weights"] != "random-init"


def test_imagenet_reference_is_the_same_test_only_on_imagenet_labelled_data(tmp_path):
    """50,000 images are not enough: CIFAR-10's train set has 50,000 too. Only wnid-labelled data of the
    reference's size is compared with a verdict."""
    import dataclasses

    from zoo.datasets.classification import ClassificationData
    from zoo.spec import Reference
    from zoo.tasks import EvalData, get_task

    spec = dataclasses.replace(zoo.get_spec("mlp"), num_classes=1000,  # an ImageNet classifier
                               references=(Reference("top1", 76.0, "ImageNet-1K val", "s"),))
    task, metrics = get_task("image-classification"), {"top1": 70.0, "top5": None, "n": 50_000}

    def checks(layout, mapping):
        detail = ClassificationData(tmp_path, "val", layout, [], 1000, None, mapping)
        data = EvalData("val", [], [], [], sha256=lambda: "", detail=detail)
        [check] = task.reference_checks(spec, metrics, data)
        return check["reference_comparable"], check["outside_tolerance"]

    assert checks("synset-folders", "synset folder -> sorted ILSVRC-2012 wnid index") == (True, True)
    assert checks("label-file", "labels.tsv (wnid -> sorted ILSVRC-2012 index, checked)") == (True, True)
    assert checks("image-folder", "sorted folder names (torchvision ImageFolder order)") == (False, None)
    assert checks("label-file", "to_imagenet.tsv class_index") == (False, None)


# --- item 6: label space ----------------------------------------------------------------------------------

def _cifar_like(root: Path, labels_tsv: bool) -> Path:
    """A tiny CIFAR-10-like set: one sample photo per class, as class folders (or a labels.tsv like
    ../shared/data/cifar10_test_subset: path, label, class_index)."""
    photo = sorted(SAMPLE_JPEG.glob("*.jpg"))[0]
    rows = ["path\tlabel\tclass_index"]
    for i, name in enumerate(CIFAR10[:3]):
        (root / "test" / name).mkdir(parents=True)
        shutil.copyfile(photo, root / "test" / name / "0000.jpg")
        rows.append(f"test/{name}/0000.jpg\t{name}\t{i}")
    if labels_tsv:
        (root / "labels.tsv").write_text("\n".join(rows) + "\n")
    return root if labels_tsv else root / "test"


@pytest.mark.skipif("resnet50" not in list_models(), reason="resnet50 is not registered")
@pytest.mark.parametrize("layout", ["class-folders", "labels.tsv"])
def test_cifar_names_against_an_imagenet_classifier_are_refused(layout, tmp_path, results_dir, capsys):
    data = _cifar_like(tmp_path / "cifar", labels_tsv=layout == "labels.tsv")
    err = _one_line_error(["eval", "resnet50", "--data", str(data), "--random-init"], capsys)
    assert "class mapping does not match" in err and "class 0 is 'airplane'" in err and "'tench'" in err
    assert "ImageNet-1k" in err and "--labels" in err
    assert not (results_dir / "eval.jsonl").exists()


@pytest.mark.skipif("resnet50" not in list_models(), reason="resnet50 is not registered")
def test_labels_maps_a_data_set_onto_the_model_classes_and_predictions_carry_names(tmp_path, results_dir, capsys):
    """--labels FILE maps CIFAR's classes to ImageNet indices (airplane -> 404 airliner, ...): accepted; the
    predictions file names the predicted class, the top 5 and the true class (item 11)."""
    data = _cifar_like(tmp_path / "cifar", labels_tsv=False)
    mapping = tmp_path / "to_imagenet.tsv"
    mapping.write_text("filename\tclass_index\nairplane/0000.jpg\t404\nautomobile/0000.jpg\t817\nbird/0000.jpg\t10\n")
    preds = tmp_path / "p.jsonl"
    assert zoo_main(["eval", "resnet50", "--data", str(data), "--labels", str(mapping), "--random-init",
                     "--predictions", str(preds), "--workers", "0"]) == 0
    lines = [json.loads(x) for x in preds.read_text().splitlines()]
    assert [x["label_name"] for x in lines] == ["airliner", "sports car", "brambling"]
    for x in lines:
        assert x["pred_name"] == imagenet_names()[x["pred"]]
        assert x["top5_names"] == [imagenet_names()[c] for c, _ in x["top5"]]


# --- item 7: HF data sets ----------------------------------------------------------------------------------

def _put_in_hf_cache(cache: Path, repo: str, config: str | None, split: str, cols: dict) -> None:
    """Lay a data set out in an HF datasets cache the way ``load_dataset`` leaves it (arrow file + info), so that
    ``load_dataset(repo, config)`` finds it offline."""
    import datasets
    from datasets.arrow_writer import ArrowWriter

    ns = repo.split("/")
    folder = cache / "___".join(ns) / (config or "default") / "0.0.0" / "0123abcd"
    folder.mkdir(parents=True)
    ds = datasets.Dataset.from_dict(cols)
    with ArrowWriter(path=str(folder / f"{ns[-1]}-{split}.arrow")) as w:
        w.write_table(ds.data.table)
        n, nbytes = w.finalize()
    splits = datasets.SplitDict(dataset_name=ns[-1])
    splits.add(datasets.SplitInfo(name=split, num_examples=n, num_bytes=nbytes, dataset_name=ns[-1]))
    datasets.DatasetInfo(features=ds.features, splits=splits, config_name=config or "default",
                         dataset_name=ns[-1]).write_to_directory(str(folder))


def test_hf_dataset_from_the_local_cache_offline(tmp_path, monkeypatch, connects):
    from zoo.datasets.text import read_split

    cols = read_split("sst2", "test")
    sentences, labels = cols["sentence"][:12], cols["label"][:12]
    cache = tmp_path / "hf-datasets"
    _put_in_hf_cache(cache, "nyu-mll/glue", "sst2", "validation",
                     {"sentence": sentences, "label": labels, "idx": list(range(12))})
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    ck = _lstm_checkpoint(tmp_path)
    tsv = tmp_path / "same.tsv"
    tsv.write_text("sentence\tlabel\n" + "".join(f"{s}\t{y}\n" for s, y in zip(sentences, labels)))
    row = zoo.evaluate("lstm", "hf:glue/sst2", checkpoint=ck, write=False)
    by_file = zoo.evaluate("lstm", tsv, checkpoint=ck, write=False)
    assert row["n"] == 12 and row["dataset"] == "hf:nyu-mll/glue:sst2 validation"
    assert row["settings"]["split"] == "validation" and row["settings"]["data"] == "hf:glue/sst2"
    assert row["metrics"]["accuracy"] == by_file["metrics"]["accuracy"]
    assert len(row["dataset_sha256"]) == 64
    assert zoo.evaluate("lstm", "hf:nyu-mll/glue:sst2", checkpoint=ck, write=False)["n"] == 12
    old = tmp_path / "cached-as-glue"  # a cache written before the hub renamed "glue" to "nyu-mll/glue"
    _put_in_hf_cache(old, "glue", "sst2", "validation", {"sentence": sentences[:5], "label": labels[:5]})
    monkeypatch.setenv("HF_DATASETS_CACHE", str(old))
    assert zoo.evaluate("lstm", "hf:glue/sst2", checkpoint=ck, write=False)["n"] == 5
    assert connects == []


def test_hf_dataset_not_cached_offline_is_the_connected_machine_line(tmp_path, monkeypatch, capsys, connects):
    monkeypatch.setenv("HF_DATASETS_CACHE", str(tmp_path / "empty-cache"))
    err = _one_line_error(["eval", "transformer_qa", "--data", "hf:rajpurkar/squad", "--random-init"], capsys)
    assert "hf:rajpurkar/squad is not in the HF datasets cache" in err and "run on a connected machine" in err
    assert "datasets.load_dataset('rajpurkar/squad')" in err
    err = _one_line_error(["eval", "lstm", "--data", "hf:bentrevett/multi30k", "--random-init"], capsys)
    assert "is multi30k data; this model takes sst2 data" in err
    cache = tmp_path / "hf-datasets"
    _put_in_hf_cache(cache, "someone/sst5", None, "validation", {"sentence": ["a", "b", "c"], "label": [0, 4, 2]})
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    err = _one_line_error(["eval", "lstm", "--data", "hf:someone/sst5", "--split", "validation", "--random-init"],
                          capsys)
    assert "has labels [2, 4] but model 'lstm' predicts classes 0..1" in err
    assert connects == []


def test_hf_split_without_labels_and_unknown_split_are_refused(tmp_path, monkeypatch):
    """Any hub id in a bundled set's columns is read; a split whose labels are hidden (-1, GLUE's test) and a
    split the set lacks are one-line errors."""
    cache = tmp_path / "hf-datasets"
    _put_in_hf_cache(cache, "someone/sentiment", None, "test", {"sentence": ["a", "b"], "label": [-1, -1]})
    monkeypatch.setenv("HF_DATASETS_CACHE", str(cache))
    with pytest.raises(UserError, match="this split has no labels"):
        zoo.evaluate("lstm", "hf:someone/sentiment", split="test", pretrained=False, write=False)
    with pytest.raises(UserError, match="has no split 'hidden'"):
        zoo.evaluate("lstm", "hf:someone/sentiment", split="hidden", pretrained=False, write=False)


# --- item 11: class names ------------------------------------------------------------------------------

def test_label_sets_are_named_offline():
    assert imagenet_names()[654] == "minibus" and imagenet_names()[0] == "tench" and len(imagenet_names()) == 1000
    assert coco91_names()[1] == "person" and coco91_names()[90] == "toothbrush" and len(coco91_names()) == 80
    import importlib.util

    import yaml

    # located, not imported: importing ultralytics replaces PIL.Image.open for the whole process
    found = importlib.util.find_spec("ultralytics")
    coco_yaml = Path(found.submodule_search_locations[0]) / "cfg" / "datasets" / "coco.yaml" if found else Path("-")
    if coco_yaml.is_file():
        assert tuple(yaml.safe_load(coco_yaml.read_text())["names"].values()) == COCO80_NAMES
    det = name_predictions("object-detection", 91, [{"boxes": [], "scores": [], "labels": [1, 3]}])
    assert det[0]["names"] == ["person", "car"]
    assert name_predictions("tabular-classification", 10, [{"label": 3}]) == [{"label": 3}]
    from zoo.tasks import get_task

    rec = get_task("object-detection").record(det[0], 7)
    assert rec["names"] == ["person", "car"] and rec["image_id"] == 7


@pytest.mark.skipif("resnet50" not in list_models(), reason="resnet50 is not registered")
def test_predict_returns_class_names():
    model = zoo.create_model("resnet50", pretrained=False).eval()
    [pred] = model.predict([str(sorted(SAMPLE_JPEG.glob("*.jpg"))[0])])
    assert pred["name"] == imagenet_names()[pred["label"]]
    assert pred["topk_names"] == [imagenet_names()[c] for c, _ in pred["topk"]]
    [text] = zoo.create_model("lstm").predict(["a gorgeous , witty , seductive movie ."])
    assert text["name"] in ("negative", "positive") and text["name"] == ("negative", "positive")[text["label"]]


def test_text_predictions_file_names_the_classes(tmp_path):
    preds = tmp_path / "p.jsonl"
    zoo.evaluate("lstm", "sst2", limit=6, checkpoint=_lstm_checkpoint(tmp_path), write=False, predictions=preds)
    for x in map(json.loads, preds.read_text().splitlines()):
        assert x["pred_name"] == ("negative", "positive")[x["pred"]]
        assert x["label_name"] == ("negative", "positive")[x["label"]]
