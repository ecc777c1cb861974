"""`zoo eval` on image classification: a classifier trained here on real images, checked independently.

sklearn's handwritten digits (real scans, 8x8) are rendered as 32x32 PNGs into an ImageFolder; a small
network is trained on a disjoint part of them, saved as safetensors and evaluated through the CLI with
``--checkpoint``. Its top-1/top-5 must equal a computation done here without zoo's loader, and every
``--predictions`` row must hold that image's argmax.

This file is also a torchrun entry point (``python -m torch.distributed.run ... tests/test_eval_classification.py
eval ...``) so the test model is registered in each worker process.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from helpers import MODEL, PRE
from torch import nn

import zoo
from zoo.cli import main as zoo_main
from zoo.errors import UserError
from zoo.results import sha256_file, sha256_tree
from zoo.spec import ImagePreprocess
from zoo.transforms import ImageTransform


def independent_counts(net: nn.Module, data: Path, label_of=lambda f: int(f.parent.name)
                       ) -> tuple[int, int, int, dict[str, int]]:
    """(n, top-1 correct, top-5 correct, file -> argmax), reading the PNGs with numpy only.

    ``label_of(path)`` is the true class index of an image (default: its folder name is the index)."""
    from PIL import Image

    files = sorted(data.rglob("*.png"))
    xs, ys = [], []
    for f in files:
        arr = np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255
        xs.append(torch.from_numpy((arr - 0.5) / 0.5).permute(2, 0, 1))
        ys.append(label_of(f))
    with torch.no_grad():
        logits = net(torch.stack(xs))
    y = torch.tensor(ys)
    top5 = logits.topk(5, dim=-1).indices
    argmax = logits.argmax(-1)
    c1 = int((argmax == y).sum())
    c5 = int((top5 == y[:, None]).any(-1).sum())
    return len(files), c1, c5, {f.relative_to(data).as_posix(): int(a) for f, a in zip(files, argmax)}


def test_eval_matches_independent_computation(digits, results_dir, tmp_path, capsys):
    data, ckpt, net = digits
    preds = tmp_path / "preds.jsonl"
    rc = zoo_main(["eval", MODEL, "--data", str(data), "--checkpoint", str(ckpt), "--predictions", str(preds),
                   "--workers", "0", "--batch-size", "50"])
    assert rc == 0
    out = capsys.readouterr().out
    n, c1, c5, argmax = independent_counts(net, data)
    assert 0.6 * n < c1 < n, "the trained model should be good but not perfect"
    rows = [json.loads(line) for line in (results_dir / "eval.jsonl").read_text().splitlines()]
    assert len(rows) == 1
    m = rows[0]["metrics"]
    assert (rows[0]["n"], m["correct1"], m["correct5"], rows[0]["skipped"]) == (n, c1, c5, 0)
    assert m["top1"] == pytest.approx(100 * c1 / n) and m["top5"] == pytest.approx(100 * c5 / n)
    assert f"({c1}/{n})" in out and f"({c5}/{n})" in out
    row = rows[0]
    assert row["weights"] == sha256_file(ckpt)
    assert row["dataset"] == "images" and row["dataset_sha256"] == sha256_tree(data)
    assert row["settings"]["preprocess"] == repr(ImageTransform(PRE)) and row["settings"]["preprocess"] in out
    assert row["layout"] == "image-folder"
    got = [json.loads(line) for line in preds.read_text().splitlines()]
    assert [g["id"] for g in got] == sorted(argmax)
    assert {g["id"]: g["pred"] for g in got} == argmax
    assert all(g["top5"][0][0] == g["pred"] and len(g["top5"]) == 5 for g in got)
    assert sum(g["correct1"] for g in got) == c1


def test_eval_with_dataloader_workers_same_counts(digits, results_dir):
    data, ckpt, net = digits
    r0 = zoo.evaluate(MODEL, data, checkpoint=ckpt, workers=0, batch_size=64, write=False)
    r2 = zoo.evaluate(MODEL, data, checkpoint=ckpt, workers=2, batch_size=17, write=False)
    assert r0["n"] == r2["n"]
    for k in ("correct1", "correct5"):
        assert r0["metrics"][k] == r2["metrics"][k]
    assert r2["settings"]["workers"] == 2


def test_label_file_layout_and_limit(digits, tmp_path, results_dir):
    """labels.tsv (filename, class_index) with flat files: same labels, same counts; --limit takes the first N."""
    import shutil

    data, ckpt, net = digits
    flat = tmp_path / "flat"
    (flat / "images").mkdir(parents=True)
    lines = ["filename\tclass_index"]
    for f in sorted(data.rglob("*.png")):
        name = f"{f.parent.name}_{f.name}"
        shutil.copyfile(f, flat / "images" / name)
        lines.append(f"{name}\t{f.parent.name}")
    (flat / "labels.tsv").write_text("\n".join(lines) + "\n")
    n, c1, c5, _ = independent_counts(net, data)
    r = zoo.evaluate(MODEL, flat, checkpoint=ckpt, workers=0, write=False)
    assert (r["n"], r["metrics"]["correct1"], r["metrics"]["correct5"]) == (n, c1, c5)
    assert r["layout"] == "label-file"
    r = zoo.evaluate(MODEL, flat, checkpoint=ckpt, workers=0, write=False, limit=7)
    assert r["n"] == 7 and r["settings"]["limit"] == 7


DIGIT_NAMES = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")


@pytest.fixture
def named_digits(digits, tmp_path):
    """The same test images in folders named by word ("three/…"): sorted folder order (eight, five, four, …)
    is not the digit order the network was trained on."""
    import shutil

    data, _, _ = digits
    named = tmp_path / "named"
    for d, word in enumerate(DIGIT_NAMES):
        shutil.copytree(data / str(d), named / word)
    assert sorted(DIGIT_NAMES) != list(DIGIT_NAMES)
    return named


def test_named_class_folders_with_classes_txt(digits, named_digits, results_dir, tmp_path, capsys):
    """`zoo eval` on an ImageFolder with class NAMES: classes.txt (line number = index) maps them to the model's
    indices; counts and per-image predictions equal an independent computation on those files."""
    data, ckpt, net = digits
    (named_digits / "classes.txt").write_text("\n".join(DIGIT_NAMES) + "\n")
    preds = tmp_path / "named_preds.jsonl"
    rc = zoo_main(["eval", MODEL, "--data", str(named_digits), "--checkpoint", str(ckpt), "--workers", "0",
                   "--predictions", str(preds)])
    assert rc == 0
    out = capsys.readouterr().out
    n, c1, c5, argmax = independent_counts(net, named_digits, lambda f: DIGIT_NAMES.index(f.parent.name))
    assert (n, c1, c5) == independent_counts(net, data)[:3]  # same images, same labels as the digit folders
    row = json.loads((results_dir / "eval.jsonl").read_text())
    m = row["metrics"]
    assert (row["n"], m["correct1"], m["correct5"], row["skipped"]) == (n, c1, c5, 0)
    assert f"({c1}/{n})" in out and f"({c5}/{n})" in out
    assert row["layout"] == "image-folder" and row["class_mapping"] == "classes.txt line number"
    got = {g["id"]: g for g in map(json.loads, preds.read_text().splitlines())}
    assert {k: g["pred"] for k, g in got.items()} == argmax
    assert all(g["label"] == DIGIT_NAMES.index(k.split("/")[0]) for k, g in got.items())


def test_named_class_folders_sorted_order_and_labels_option(digits, named_digits, tmp_path, capsys, results_dir):
    """Without classes.txt the index is the folder's place in sorted order (torchvision's ImageFolder): counts
    follow that mapping, which here is wrong for the model. ``--labels FILE`` (outside the folder) overrides
    the folder names and gives the true counts again."""
    _, ckpt, net = digits
    order = sorted(DIGIT_NAMES)
    n, c1_sorted, c5_sorted, _ = independent_counts(net, named_digits, lambda f: order.index(f.parent.name))
    n, c1, c5, _ = independent_counts(net, named_digits, lambda f: DIGIT_NAMES.index(f.parent.name))
    assert c1_sorted < c1  # the two mappings must give different answers, or this test proves nothing
    r = zoo.evaluate(MODEL, named_digits, checkpoint=ckpt, workers=0, write=False)
    assert (r["n"], r["metrics"]["correct1"], r["metrics"]["correct5"]) == (n, c1_sorted, c5_sorted)
    assert r["class_mapping"].startswith("sorted folder names")

    labels = tmp_path / "digit_labels.tsv"
    lines = ["filename\tclass_index"] + [f"{f.relative_to(named_digits).as_posix()}\t{DIGIT_NAMES.index(f.parent.name)}"
                                         for f in sorted(named_digits.rglob("*.png"))]
    labels.write_text("\n".join(lines) + "\n")
    rc = zoo_main(["eval", MODEL, "--data", str(named_digits), "--labels", str(labels), "--checkpoint", str(ckpt),
                   "--workers", "0"])
    assert rc == 0
    assert f"({c1}/{n})" in capsys.readouterr().out
    row = json.loads((results_dir / "eval.jsonl").read_text())
    assert (row["n"], row["metrics"]["correct1"], row["metrics"]["correct5"]) == (n, c1, c5)
    assert row["layout"] == "label-file" and "digit_labels.tsv" in row["class_mapping"]


# --- measured vs published reference --------------------------------------------------------------------

def _binomial_tolerance(ref_pct: float, n: int) -> float:
    """max(0.3 pp, 2 standard errors of a proportion at the reference value), written out here."""
    p = ref_pct / 100
    return max(0.3, 2 * 100 * (p * (1 - p) / n) ** 0.5)


def test_reference_check_delta_and_tolerance():
    import dataclasses

    from zoo.spec import Reference
    from zoo.tasks import reference_check, tolerance_pp

    spec = dataclasses.replace(zoo.get_spec(MODEL), references=(
        Reference("top1", 76.13, "ImageNet-1K val", "test source"), Reference("top5", 99.95, "ImageNet-1K val", "t")))
    # 50,000 images at 76.13 %: 2 SE = 0.381 pp, above the 0.3 pp floor
    assert tolerance_pp(76.13, 50_000) == pytest.approx(_binomial_tolerance(76.13, 50_000))
    assert tolerance_pp(76.13, 50_000) == pytest.approx(0.3813, abs=1e-4)
    assert tolerance_pp(99.95, 50_000) == 0.3  # 2 SE = 0.02 pp: the floor applies
    assert tolerance_pp(76.13, 240) == pytest.approx(5.503, abs=1e-3)

    inside = reference_check(spec, "top1", 76.43, 50_000, "val")
    assert inside["delta_pp"] == pytest.approx(0.30) and inside["tolerance_pp"] == pytest.approx(0.3813, abs=1e-4)
    assert inside["outside_tolerance"] is False
    assert (inside["reference"], inside["measured"], inside["source"]) == (76.13, 76.43, "test source")
    below = reference_check(spec, "top1", 75.70, 50_000, "val")
    assert below["delta_pp"] == pytest.approx(-0.43) and below["outside_tolerance"] is True
    above = reference_check(spec, "top1", 76.53, 50_000, "val")
    assert above["delta_pp"] == pytest.approx(0.40) and above["outside_tolerance"] is True
    # the same 0.4 pp delta is sampling noise on 240 images; and 240 images are not ImageNet val: no verdict at all
    small = reference_check(spec, "top1", 76.53, 240, "sample")
    assert small["tolerance_pp"] > 5 and small["reference_comparable"] is False and small["outside_tolerance"] is None
    floor = reference_check(spec, "top5", 99.60, 50_000, "val")
    assert floor["delta_pp"] == pytest.approx(-0.35) and floor["tolerance_pp"] == 0.3 and floor["outside_tolerance"]
    assert inside["reference_comparable"] is True  # the full 50,000-image ImageNet val: the same test
    assert reference_check(spec, "top1", 76.43, 49_999, "val")["reference_comparable"] is False
    assert reference_check(spec, "map", 50.0, 5000, "val2017") is None  # no such reference
    assert reference_check(spec, "top1", None, 50_000, "val") is None


@pytest.mark.parametrize("same_data", [True, False], ids=["reference-data", "other-data"])
def test_eval_row_flags_reference_outside_tolerance(digits, monkeypatch, results_dir, capsys, same_data):
    """Through zoo.evaluate: references placed just inside and well outside the tolerance of the measured values
    (240 images) come back with the right delta, tolerance and flag, in the row and on stdout, when the data is
    the reference's data (here: declared so). On other data (240 digits are not ImageNet val) both figures are
    printed and said to be on different data: no verdict, in the row (outside_tolerance None) or on stdout."""
    import dataclasses

    import zoo.registry
    import zoo.tasks.base
    from zoo.spec import Reference

    data, ckpt, net = digits
    n, c1, c5, _ = independent_counts(net, data)
    top1, top5 = 100 * c1 / n, 100 * c5 / n
    ref1, ref5 = top1 - 1.0, top5 - 15.0  # 2 SE at 240 images is 1.5-5 pp for references of 60-98.6 %
    assert 1.0 < _binomial_tolerance(ref1, n) < 15.0 and _binomial_tolerance(ref5, n) < 15.0
    real_get_spec = zoo.registry.get_spec
    spec = dataclasses.replace(real_get_spec(MODEL), references=(
        Reference("top1", ref1, "ImageNet-1K val", "ref-a"), Reference("top5", ref5, "ImageNet-1K val", "ref-b")))
    monkeypatch.setattr(zoo.registry, "get_spec", lambda name: spec if name == MODEL else real_get_spec(name))
    if same_data:
        import zoo.tasks.image_classification

        monkeypatch.setattr(zoo.tasks.base, "_is_reference_dataset", lambda ref, name, n: True)
        monkeypatch.setattr(zoo.tasks.image_classification, "imagenet_labelled", lambda data: True)

    rc = zoo_main(["eval", MODEL, "--data", str(data), "--checkpoint", str(ckpt), "--workers", "0"])
    assert rc == 0
    out = capsys.readouterr().out
    refs = {r["metric"]: r for r in json.loads((results_dir / "eval.jsonl").read_text())["references"]}
    assert set(refs) == {"top1", "top5"}
    for metric, measured, ref in (("top1", top1, ref1), ("top5", top5, ref5)):
        r = refs[metric]
        assert r["measured"] == pytest.approx(measured) and r["reference"] == ref
        assert r["delta_pp"] == pytest.approx(measured - ref)
        assert r["tolerance_pp"] == pytest.approx(_binomial_tolerance(ref, n))
        assert r["reference_comparable"] is same_data
    if same_data:
        assert refs["top1"]["outside_tolerance"] is False and refs["top5"]["outside_tolerance"] is True
        assert f"delta {top1 - ref1:+.2f} pp, within tolerance" in out
        assert f"delta {top5 - ref5:+.2f} pp, OUTSIDE tolerance" in out
        return
    assert refs["top1"]["outside_tolerance"] is None and refs["top5"]["outside_tolerance"] is None
    assert "tolerance" not in out and "delta" not in out
    assert f"top5: measured {top5:.2f} on {data.name} ({n} items); published {ref5:.2f} on ImageNet-1K val" in out
    assert out.count("different data, so the two figures are not compared") == 2


# --- bad input ----------------------------------------------------------------------------------------

def _cli_error(argv, capsys) -> str:
    rc = zoo_main(argv)
    err = capsys.readouterr().err.strip()
    assert rc == 2, err
    assert err.startswith("zoo: error: ") and "\n" not in err, err
    return err


def test_missing_and_empty_folder(tmp_path, capsys, results_dir):
    err = _cli_error(["eval", MODEL, "--data", str(tmp_path / "nope")], capsys)
    assert "does not exist" in err
    (tmp_path / "empty").mkdir()
    err = _cli_error(["eval", MODEL, "--data", str(tmp_path / "empty")], capsys)
    assert "holds no images" in err
    (tmp_path / "emptyclasses" / "a").mkdir(parents=True)
    err = _cli_error(["eval", MODEL, "--data", str(tmp_path / "emptyclasses")], capsys)
    assert "holds no images" in err
    assert not (results_dir / "eval.jsonl").exists()


def test_class_mapping_mismatch(digits, tmp_path, capsys, results_dir):
    import shutil

    data, ckpt, _ = digits
    wide = tmp_path / "twelve"
    shutil.copytree(data, wide)
    for extra in ("10", "11"):
        shutil.copytree(data / "3", wide / extra)
    err = _cli_error(["eval", MODEL, "--data", str(wide), "--checkpoint", str(ckpt)], capsys)
    assert "class mapping does not match" in err and "12 classes" in err and "10 outputs" in err
    # a labels.tsv whose class index is outside the model's classes
    flat = tmp_path / "tsv"
    flat.mkdir()
    shutil.copyfile(next(data.rglob("*.png")), flat / "a.png")
    (flat / "labels.tsv").write_text("filename\tclass_index\na.png\t10\n")
    err = _cli_error(["eval", MODEL, "--data", str(flat)], capsys)
    assert "class mapping does not match" in err
    # ImageNet model on a folder whose names are not wnids
    named = tmp_path / "named"
    for c in ("cat", "dog"):
        (named / c).mkdir(parents=True)
        shutil.copyfile(next(data.rglob("*.png")), named / c / "a.png")
    from zoo.datasets.classification import check_classes, load_classification

    with pytest.raises(UserError, match="not ImageNet wnids"):
        check_classes(load_classification(named), 1000, None, "some_imagenet_model")
    # class names that disagree with the model's own names
    with pytest.raises(UserError, match="class 0 is 'cat'"):
        check_classes(load_classification(named), 2, ["dog", "cat"], "pets")
    check_classes(load_classification(named), 2, ["cat", "dog"], "pets")
    assert not (results_dir / "eval.jsonl").exists()


def test_corrupt_images_are_skipped_and_counted(digits, tmp_path, capsys, results_dir):
    """Our call: an unreadable image is skipped, counted (metrics.skipped), named in the row and printed;
    accuracy is over the readable images. A folder with no readable image is an error."""
    import shutil

    data, ckpt, net = digits
    bad = tmp_path / "bad"
    shutil.copytree(data, bad)
    good_jpeg = bad / "4" / "truncated.jpg"
    from PIL import Image

    Image.open(next((data / "4").glob("*.png"))).convert("RGB").save(good_jpeg, quality=95)
    blob = good_jpeg.read_bytes()
    good_jpeg.write_bytes(blob[: len(blob) // 2])  # truncated JPEG
    (bad / "7" / "garbage.jpg").write_bytes(b"this is not an image")
    n, c1, c5, _ = independent_counts(net, data)
    rc = zoo_main(["eval", MODEL, "--data", str(bad), "--checkpoint", str(ckpt), "--workers", "0"])
    assert rc == 0
    out = capsys.readouterr().out
    assert "2 unreadable images skipped" in out and "truncated.jpg" in out and "garbage.jpg" in out
    row = json.loads((results_dir / "eval.jsonl").read_text().splitlines()[-1])
    assert (row["n"], row["skipped"], row["metrics"]["correct1"]) == (n, 2, c1)
    assert [f.split(":")[0] for f in row["skipped_files"]] == ["4/truncated.jpg", "7/garbage.jpg"]

    only_bad = tmp_path / "only_bad" / "0"
    only_bad.mkdir(parents=True)
    (only_bad / "x.jpg").write_bytes(b"\xff\xd8\xff\xe0garbage")
    err = _cli_error(["eval", MODEL, "--data", str(only_bad.parent), "--checkpoint", str(ckpt), "--workers", "0"], capsys)
    assert "no readable images" in err


def test_predictions_file_never_overwritten_and_bad_checkpoint(digits, tmp_path, capsys, results_dir):
    data, ckpt, _ = digits
    existing = tmp_path / "p.jsonl"
    existing.write_text("keep me\n")
    err = _cli_error(["eval", MODEL, "--data", str(data), "--predictions", str(existing)], capsys)
    assert "already exists" in err and existing.read_text() == "keep me\n"
    from safetensors.torch import save_file

    wrong = tmp_path / "wrong.safetensors"
    save_file({"fc.weight": torch.zeros(3, 3)}, str(wrong))
    err = _cli_error(["eval", MODEL, "--data", str(data), "--checkpoint", str(wrong)], capsys)
    assert "does not fit model" in err
    err = _cli_error(["eval", MODEL, "--data", str(data), "--checkpoint", str(tmp_path / "none.pt")], capsys)
    assert "does not exist" in err
    err = _cli_error(["eval", "no_such_model_xyz", "--data", str(data)], capsys)
    assert "unknown model" in err
    assert not (results_dir / "eval.jsonl").exists()


def test_gpu_decode_falls_back_on_cpu(digits, results_dir):
    data, ckpt, _ = digits
    with pytest.warns(UserWarning, match="needs CUDA"):
        r = zoo.evaluate(MODEL, data, checkpoint=ckpt, workers=0, decode="gpu", write=False, limit=20)
    assert r["settings"]["decode"] == "pil (gpu requested, no CUDA)" and r["n"] == 20


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_gpu_decode_close_to_pil(digits, tmp_path):  # pragma: no cover - CPU machines skip
    from PIL import Image

    data, ckpt, _ = digits
    jpg = tmp_path / "jpg"
    for f in sorted(data.rglob("*.png"))[:40]:
        (jpg / f.parent.name).mkdir(parents=True, exist_ok=True)
        Image.open(f).convert("RGB").save(jpg / f.parent.name / (f.stem + ".jpg"), quality=95)
    a = zoo.evaluate(MODEL, jpg, checkpoint=ckpt, device="cuda", workers=0, write=False)
    b = zoo.evaluate(MODEL, jpg, checkpoint=ckpt, device="cuda", workers=0, write=False, decode="gpu")
    assert b["settings"]["decode"] == "gpu (nvjpeg)"
    assert abs(a["metrics"]["correct1"] - b["metrics"]["correct1"]) <= 2  # nvjpeg vs libjpeg IDCT rounding


# --- torchrun -------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_torchrun_two_processes_same_counts_as_one(digits, tmp_path, results_dir):
    data, ckpt, _ = digits
    single = zoo.evaluate(MODEL, data, checkpoint=ckpt, workers=0, write=False)
    preds = tmp_path / "dist_preds.jsonl"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_addr", "127.0.0.1",
           "--master_port", str(_free_port()), __file__, "eval", MODEL, "--data", str(data),
           "--checkpoint", str(ckpt), "--workers", "0", "--batch-size", "16", "--predictions", str(preds)]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=240)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-3000:]
    rows = [json.loads(line) for line in (results_dir / "eval.jsonl").read_text().splitlines()]
    assert len(rows) == 1, "only rank 0 writes the row"
    row = rows[0]
    assert row["settings"]["world_size"] == 2 and row["settings"]["backend"] == "gloo"
    assert (row["n"], row["skipped"]) == (single["n"], single["skipped"])
    for k in ("correct1", "correct5"):
        assert row["metrics"][k] == single["metrics"][k], k
    got = [json.loads(line) for line in preds.read_text().splitlines()]
    assert len(got) == single["n"] and len({g["id"] for g in got}) == len(got)
    assert proc.stdout.count("top-1") == 1, "only rank 0 prints"


if __name__ == "__main__":  # torchrun entry point: importing helpers registered the test model
    sys.exit(zoo_main(sys.argv[1:]))


def test_gpu_decode_helpers_on_cpu(tmp_path):
    """The nvjpeg path's pieces, run on the CPU: batched decode with a bad file and a PNG in the batch, and the
    tensor transform close to the PIL one (antialiased tensor resize differs from PIL's by rounding only)."""
    from PIL import Image
    from torchvision.io import read_file

    from zoo.harness.eval.gpu_decode import GpuTransform, decode_on_gpu

    photo = Path(__file__).resolve().parents[1] / "data" / "coco" / "images" / "000000000030.jpg"
    png = tmp_path / "a.png"
    Image.open(photo).save(png)
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(photo.read_bytes()[:200])
    imgs, errs = decode_on_gpu([read_file(str(photo)), read_file(str(bad)), read_file(str(png))], "cpu")
    assert errs[0] is None and errs[2] is None and errs[1] and imgs[1] is None
    assert torch.equal(imgs[0], imgs[2])  # same pixels through JPEG decode and PNG decode of the decoded image
    pre = ImagePreprocess(resize_size=256, crop_size=(224, 224), interpolation="bilinear")
    a = GpuTransform(pre)(imgs[0])
    b = ImageTransform(pre)(Image.open(photo))
    assert a.shape == b.shape == (3, 224, 224)
    assert (a - b).abs().mean() < 0.02  # normalized units; ~1/255 per pixel on average
