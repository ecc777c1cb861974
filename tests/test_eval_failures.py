"""How `zoo eval` and weight loading fail: unpinned hub weights refused unless allowed, one bad image never
aborts an eval, one line instead of a traceback, bad label values refused, a silent network fails fast.

Each test fails on the code before its fix (noted per test)."""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import socket
import threading
import time
import warnings
from pathlib import Path

import pytest
import torch
from PIL import Image

import zoo
from zoo.cli import main as zoo_main
from zoo.datasets.classification import load_classification
from zoo.datasets.detection import load_detection
from zoo.datasets.loader import ItemFiles, read_rgb
from zoo.datasets.text import squad_columns
from zoo.errors import UserError
from zoo.offline import configure_ultralytics
from zoo.results import check_appendable, make_row
from zoo.spec import ImagePreprocess, ModelSpec, Weights, weights_label
from zoo.transforms import load_image
from zoo.weights import (
    WeightsUnavailable,
    WeightsUnpinned,
    allow_unpinned,
    ensure_weights,
    load_state_dict,
    sha256_file,
    verify,
    weights_id,
)

REPO = Path(__file__).resolve().parents[1]
COCO = REPO / "data" / "coco"
REV = "0123456789abcdef0123456789abcdef01234567"


def one_line(e: BaseException) -> str:
    msg = str(e)
    assert msg and "\n" not in msg, msg
    return msg


def run_cli(argv, capsys) -> tuple[int, str]:
    rc = zoo_main(argv)
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return rc, err


# --- item 4: unpinned hub weights are never loaded as pretrained without the opt-in -------------------------


def plain_snapshot_file(repo: str, data: bytes, file_name: str = "model.safetensors") -> Path:
    """A plain file (not a link to blobs/<sha256>) in the HF cache snapshot folder of ``repo``."""
    hub = Path(os.environ["HF_HOME"]) / "hub" / ("models--" + repo.replace("/", "--"))
    f = hub / "snapshots" / REV / file_name
    f.parent.mkdir(parents=True)
    f.write_bytes(data)
    (hub / "refs").mkdir()
    (hub / "refs" / "main").write_text(REV)
    return f


def test_plain_file_in_timm_resnet50_snapshot_is_refused_and_verify_fails(zoo_cache, capsys, connects):
    """Before: it loaded with a warning, and `zoo verify` said "unpinned" and exited 0."""
    w = zoo.get_spec("timm/resnet50").weights
    f = plain_snapshot_file(w.url, b"not the published weights")
    with pytest.raises(WeightsUnpinned) as e:
        zoo.create_model("timm/resnet50", pretrained=True)
    msg = one_line(e.value)
    assert str(f) in msg and "--allow-unpinned" in msg and "not loaded" in msg
    assert [r["status"] for r in verify(["timm/resnet50"])] == ["unpinned"]
    rc, _ = run_cli(["verify", "timm/resnet50"], capsys)
    assert rc == 1
    assert f.read_bytes() == b"not the published weights" and connects == []  # left in place; no network


def test_unpinned_timm_weights_load_only_with_the_opt_in_and_the_row_records_it(zoo_cache, tmp_path):
    """The timm builder, on a small architecture of the same family (fast): with allow_unpinned the file loads
    and the model's weights (what its rows record) are "unpinned:<sha256>", not a checked sha256."""
    from safetensors.torch import save_file

    spec = dataclasses.replace(zoo.get_spec("timm/resnet50"), architecture="resnet10t.c3_in1k", extra={})
    src = spec.builder(spec, pretrained=False)
    save_file({k: v.contiguous() for k, v in src.net.state_dict().items()}, str(tmp_path / "w.safetensors"))
    f = plain_snapshot_file(spec.weights.url, (tmp_path / "w.safetensors").read_bytes())
    with pytest.raises(WeightsUnpinned):
        spec.builder(spec, pretrained=True)
    with allow_unpinned():
        model = spec.builder(spec, pretrained=True)
    digest = sha256_file(f)
    assert model.weights_id == f"unpinned:{digest}" and weights_id(f) == f"unpinned:{digest}"
    assert torch.equal(model.net.state_dict()["fc.bias"], src.net.state_dict()["fc.bias"])
    row = make_row("eval", model=spec.name, task=spec.task, dataset="d", dataset_sha256=None,
                   weights=model.weights_id, settings={}, metrics={"top1": 1.0}, n=1)
    assert row["weights"] == f"unpinned:{digest}" and weights_label(row["weights"]).startswith("UNPINNED")
    with pytest.raises(WeightsUnpinned):  # the opt-in ends with its block
        spec.builder(spec, pretrained=True)


def test_eval_allow_unpinned_flag_opts_in_for_the_whole_run(monkeypatch, capsys):
    """`zoo eval --allow-unpinned` sets ZOO_ALLOW_UNPINNED, which every process of the run inherits."""
    import zoo.commands.eval as eval_cmd

    seen = {}

    def fake_evaluate(*a, **k):
        seen["env"] = os.environ.get("ZOO_ALLOW_UNPINNED")
        raise UserError("stop here")

    monkeypatch.delenv("ZOO_ALLOW_UNPINNED", raising=False)
    monkeypatch.setattr(eval_cmd, "evaluate", fake_evaluate)
    run_cli(["eval", "timm/resnet50", "--data", "x"], capsys)
    assert seen["env"] is None
    run_cli(["eval", "timm/resnet50", "--data", "x", "--allow-unpinned"], capsys)
    assert seen["env"] == "1"


def test_hub_blob_link_is_pinned_by_its_sha256_name(zoo_cache, tmp_path):
    """What can be known is checked: a snapshot file linking to blobs/<sha256> with that content loads
    without any opt-in, and is recorded as its plain sha256."""
    import hashlib

    data = b"tensors"
    hub = Path(os.environ["HF_HOME"]) / "hub" / "models--zoo-test--pinned"
    blob = hub / "blobs" / hashlib.sha256(data).hexdigest()
    blob.parent.mkdir(parents=True)
    blob.write_bytes(data)
    link = hub / "snapshots" / REV / "model.safetensors"
    link.parent.mkdir(parents=True)
    link.symlink_to(os.path.relpath(blob, link.parent))
    w = Weights(kind="hf-hub", url="zoo-test/pinned", file_name="model.safetensors", sha256="", hash_source="t",
                license="t", revision=REV)
    assert ensure_weights(w) == link and weights_id(link) == hashlib.sha256(data).hexdigest()


# --- item 5: one bad image never aborts an eval ---------------------------------------------------------


def jpeg_claiming(tmp: Path, name: str, width: int, height: int) -> Path:
    """A small valid JPEG whose header (SOF0) claims ``width`` x ``height``: PIL's decompression-bomb check
    runs on the header, so a 15000 x 15000 claim costs a few bytes, not 225 megapixels."""
    p = tmp / name
    Image.new("RGB", (16, 16), (200, 10, 10)).save(p, "JPEG")
    data = bytearray(p.read_bytes())
    sof = data.index(b"\xff\xc0")
    data[sof + 5:sof + 9] = height.to_bytes(2, "big") + width.to_bytes(2, "big")
    p.write_bytes(bytes(data))
    return p


def test_bomb_and_bomb_warning_as_error_are_skipped_and_counted(tmp_path):
    """Before: DecompressionBombError (not an OSError) escaped ItemFiles and aborted any eval."""
    bomb = jpeg_claiming(tmp_path, "bomb.jpg", 15000, 15000)
    big = jpeg_claiming(tmp_path, "big.jpg", 10000, 10000)  # over MAX_IMAGE_PIXELS: a warning, not an error
    files = ItemFiles([bomb, big], read_rgb)
    i, item, err = files[0]
    assert item is None and err.startswith("DecompressionBombError")
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        i, item, err = files[1]
    assert item is None and err.startswith("DecompressionBombWarning")


@pytest.fixture
def ultralytics_open(monkeypatch):
    """PIL.Image.open as ultralytics replaces it process-wide (a file PIL cannot identify -> pi_heif import)."""
    configure_ultralytics()
    import ultralytics.utils.patches as up  # deferred: heavy; its import patches PIL.Image.open

    monkeypatch.setattr(Image, "open", up.image_open)
    monkeypatch.setattr(up, "_pil_plugins_registered", False)


def bad_detection_set(tmp_path: Path, layout: str) -> tuple[Path, list[str]]:
    """6 data/coco images in ``layout``, of which 2 are replaced by a corrupt JPEG and a 15000x15000 one."""
    root = tmp_path / "set"
    names = sorted(p.name for p in (COCO / "images").glob("*.jpg"))[:6]
    (root / "images").mkdir(parents=True)
    for n in names:
        shutil.copy(COCO / "images" / n, root / "images" / n)
    (root / "images" / names[1]).write_bytes(b"\xff\xd8 not really a jpeg" * 20)
    jpeg_claiming(root / "images", names[3], 15000, 15000)
    if layout == "yolo":
        (root / "labels").mkdir()
        for n in names:
            shutil.copy(COCO / "labels" / n.replace(".jpg", ".txt"), root / "labels" / n.replace(".jpg", ".txt"))
        return root, [names[1], names[3]]
    gt = json.loads((COCO / "annotations" / "instances.json").read_text())
    keep = {im["id"] for im in gt["images"] if im["file_name"] in names}
    gt["images"] = [im for im in gt["images"] if im["id"] in keep]
    gt["annotations"] = [a for a in gt["annotations"] if a["image_id"] in keep]
    (root / "annotations").mkdir()
    (root / "annotations" / "instances.json").write_text(json.dumps(gt))
    return root, [names[1], names[3]]


@pytest.mark.parametrize("layout", ["coco-json", "yolo"])
def test_yolov8n_eval_skips_and_counts_unreadable_images(layout, tmp_path, results_dir, ultralytics_open):
    """Before: coco-json ended in ModuleNotFoundError pi_heif (ultralytics' Image.open), yolo in
    UnidentifiedImageError while reading sizes, and the 15000x15000 JPEG in DecompressionBombError."""
    root, bad = bad_detection_set(tmp_path, layout)
    r = zoo.evaluate("yolov8n", root, workers=0, batch_size=2, pretrained=False, overrides={"imgsz": 64})
    assert r["n"] == 4 and r["skipped"] == 2
    assert sorted(f.split(":")[0] for f in r["skipped_files"]) == sorted(bad)
    assert not any("pi_heif" in f for f in r["skipped_files"])
    stored = json.loads((results_dir / "eval.jsonl").read_text())
    assert stored["skipped"] == 2 and len(stored["skipped_files"]) == 2


def test_load_image_on_a_non_image_says_so_after_ultralytics_patched_pil(tmp_path, ultralytics_open):
    """Before: zoo.transforms.load_image (zoo explain, bench's example items) went through ultralytics'
    Image.open and ended in ModuleNotFoundError pi_heif instead of PIL's UnidentifiedImageError."""
    from PIL import UnidentifiedImageError

    bad = tmp_path / "notimg.jpg"
    bad.write_bytes(b"this is not an image")
    with pytest.raises(UnidentifiedImageError):
        load_image(bad)


# --- item 6: one line, before the work -----------------------------------------------------------------------


def coco_json(tmp_path: Path, content) -> Path:
    (tmp_path / "images").mkdir(exist_ok=True)
    shutil.copy(next((COCO / "images").glob("*.jpg")), tmp_path / "images" / "a.jpg")
    p = tmp_path / "instances.json"
    p.write_text(json.dumps(content))
    return p


@pytest.mark.parametrize("content,expected", [
    (42, "holds a JSON int"),
    ({"images": [{"id": 1}], "annotations": [], "categories": [{"id": 1}]}, "images[0] has no valid 'file_name'"),
    ({"images": [{"id": 1, "file_name": "a.jpg"}], "annotations": [{"image_id": 1}], "categories": [{"id": 1}]},
     "annotations[0] has no valid 'id'"),
])
def test_malformed_coco_json_is_one_line(tmp_path, content, expected, capsys, results_dir):
    """Before: TypeError (`'images' in 42`) and KeyError 'file_name' tracebacks."""
    p = coco_json(tmp_path, content)
    with pytest.raises(UserError, match=re.escape(expected)) as e:
        load_detection(p)
    one_line(e.value)
    rc, err = run_cli(["eval", "ssdlite320_mobilenet_v3_large", "--data", str(p), "--random-init"], capsys)
    assert rc == 2 and expected in err


def test_squad_question_without_id_is_one_line(tmp_path):
    """Before: KeyError 'id'."""
    articles = [{"title": "t", "paragraphs": [{"context": "abc", "qas": [
        {"id": "q1", "question": "?", "answers": [{"text": "a", "answer_start": 0}]},
        {"question": "no id", "answers": []}]}]}]
    with pytest.raises(UserError, match="article 0 paragraph 0 question 1 has no 'id'") as e:
        squad_columns(tmp_path / "s.json", articles)
    one_line(e.value)


def test_text_checkpoint_that_is_no_checkpoint_is_one_line(tmp_path):
    """Before: torch's paragraph advising weights_only=False (a text file), a raw SafetensorError traceback."""
    txt = tmp_path / "notes.txt"
    txt.write_text("not a checkpoint\n")
    with pytest.raises(UserError, match="is not a checkpoint") as e:
        load_state_dict(txt)
    assert "weights_only" not in one_line(e.value)
    fake = tmp_path / "w.safetensors"
    fake.write_text("not a checkpoint\n")
    with pytest.raises(UserError, match="is not a safetensors file") as e:
        load_state_dict(fake)
    one_line(e.value)


@pytest.fixture
def no_work(monkeypatch):
    """Fail the test if the evaluation loop or the model build starts."""
    import zoo.harness.eval.runner as ev

    def refuse(*a, **k):
        raise AssertionError("the work started before the output was checked")

    monkeypatch.setattr(ev, "run_loop", refuse)
    monkeypatch.setattr(ev, "load_model", refuse)


def test_raw_file_that_cannot_take_rows_is_refused_before_the_work(results_dir, no_work, monkeypatch):
    """Before: a folder where the raw file should be gave IsADirectoryError (a traceback)."""
    (results_dir / "eval.jsonl").mkdir(parents=True)
    with pytest.raises(UserError, match="is not a file") as e:
        zoo.evaluate("bilstm", "sst2")
    one_line(e.value)
    (results_dir / "eval.jsonl").rmdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if Path(p) == results_dir else real_access(p, mode, **k))
    results_dir.mkdir(exist_ok=True)
    with pytest.raises(UserError, match="not writable"):
        check_appendable(results_dir / "eval.jsonl")


def test_predictions_folder_is_checked_before_the_work(tmp_path, results_dir, no_work, monkeypatch):
    """Before: a file where the folder should be passed the check (it "exists") and failed after the loop;
    an unwritable folder was found only when the file was written."""
    afile = tmp_path / "afile"
    afile.write_text("x")
    with pytest.raises(UserError, match="is not a folder") as e:
        zoo.evaluate("bilstm", "sst2", predictions=afile / "p.jsonl")
    one_line(e.value)
    ro = tmp_path / "readonly"
    ro.mkdir()
    real_access = os.access  # root ignores permission bits, so the check is shown an unwritable folder
    monkeypatch.setattr(os, "access", lambda p, mode, **k: False if Path(p) == ro else real_access(p, mode, **k))
    with pytest.raises(UserError, match="not writable"):
        zoo.evaluate("bilstm", "sst2", predictions=ro / "p.jsonl")


def test_unknown_or_missing_device_is_one_line(tmp_path, capsys, results_dir):
    rc, err = run_cli(["eval", "efficientnet_lite0", "--data", str(COCO / "images"), "--device", "tpu"], capsys)
    assert rc == 2 and "unknown device 'tpu'" in err
    if not torch.cuda.is_available():
        rc, err = run_cli(["eval", "bilstm", "--data", "sst2", "--device", "cuda", "--random-init"], capsys)
        assert rc == 2 and "no CUDA device" in err


# --- item 7: a label of -1 is refused with its line ------------------------------------------------------


def test_negative_class_index_is_refused_with_its_line(tmp_path):
    """Before: -1 was accepted and scored as a wrong prediction."""
    shutil.copy(next((COCO / "images").glob("*.jpg")), tmp_path / "a.jpg")
    shutil.copy(next((COCO / "images").glob("*.jpg")), tmp_path / "b.jpg")
    (tmp_path / "labels.tsv").write_text("filename\tclass_index\na.jpg\t3\nb.jpg\t-1\n")
    with pytest.raises(UserError, match=r"labels.tsv:3: class_index -1 is negative"):
        load_classification(tmp_path)
    gt = tmp_path / "val.txt"
    gt.write_text("a.jpg 3\nb.jpg -1\n")
    with pytest.raises(UserError, match=r"val.txt:2: class index -1 is outside 0-999"):
        load_classification(tmp_path, labels=gt)


# --- item 9: a silent network fails within 10 s of silence -----------------------------------------------


@pytest.fixture
def silent_server():
    """127.0.0.1:PORT accepts connections and never answers; it closes everything by itself after 60 s."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(16)
    srv.settimeout(0.2)
    held, stop = [], threading.Event()

    def serve():
        deadline = time.monotonic() + 60
        while not stop.is_set() and time.monotonic() < deadline:
            try:
                held.append(srv.accept()[0])
            except OSError:
                pass
        for c in held:
            c.close()
        srv.close()

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield f"http://127.0.0.1:{srv.getsockname()[1]}"
    stop.set()
    t.join(5)


@pytest.fixture
def network_on(monkeypatch, zoo_cache):
    """No offline switch (zoo reads the environment; the hub client read it once, at import)."""
    import huggingface_hub.constants as hc

    for var in ("ZOO_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE", "TRANSFORMERS_OFFLINE"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setattr(hc, "HF_HUB_OFFLINE", False)


def tiny_spec(weights: Weights) -> ModelSpec:
    return ModelSpec(name="zoo_test_silent", task="tabular-classification", source="zoo", architecture="linear",
                     description="test", preprocess=ImagePreprocess(resize_size=None, crop_size=(3, 3)),
                     num_classes=2, input_size=(3,), weights=weights)


@pytest.mark.parametrize("kind", ["url", "hf-hub"])
def test_silent_network_fails_after_the_timeout(kind, silent_server, network_on, monkeypatch):
    """Before: the URL download waited 60 s; the hub client retried for minutes (a 60 s HEAD, 5 retries).
    zoo gives up after NETWORK_TIMEOUT_S (10 s) of silence; here after 2 s, the same path in less time."""
    from zoo.weights import sources

    assert sources.NETWORK_TIMEOUT_S == 10.0
    monkeypatch.setattr(sources, "NETWORK_TIMEOUT_S", 2.0)
    if kind == "url":
        w = Weights(kind="url", url=f"{silent_server}/w.pth", file_name="w.pth", sha256="ab" * 32,
                    hash_source="t", license="t")
    else:
        monkeypatch.setenv("HF_ENDPOINT", silent_server)
        w = Weights(kind="hf-hub", url="zoo-test/silent", file_name="model.safetensors", sha256="",
                    hash_source="t", license="t", revision=REV)
    t0 = time.monotonic()
    with pytest.raises(WeightsUnavailable) as e:
        ensure_weights(tiny_spec(w))
    elapsed = time.monotonic() - t0
    msg = one_line(e.value)
    assert "could not download" in msg and "zoo fetch zoo_test_silent" in msg and "connected machine" in msg
    assert 1.9 <= elapsed < 12, elapsed  # 2 s of silence, plus a busy machine's slack


def test_report_out_that_is_a_file_is_one_line(tmp_path, capsys):
    """`zoo report --out FILE` where FILE is a file: one line, exit 2, the file untouched."""
    from zoo.cli import main

    target = tmp_path / "results.txt"
    target.write_text("mine\n")
    raw = tmp_path / "raw"
    raw.mkdir()
    assert main(["report", "--raw", str(raw), "--out", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "Traceback" not in err and str(target) in err
    assert target.read_text() == "mine\n"
