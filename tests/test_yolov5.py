"""yolov5n: the release file is hash-checked and read by zoo's restricted unpickler (nothing in it runs),
its tensors map one-to-one onto zoo's own network, and the detector finds what is in the sample photos.

Tests that need the real weights use ../shared/weights/yolov5n/yolov5n.pt and skip when it is absent; they
import it with ``zoo fetch yolov5n --from FILE`` into a per-test cache (``zoo_cache``), never ~/.cache.
"""

from __future__ import annotations

import collections
import dataclasses
import os
import pickle
from pathlib import Path

import pytest
import torch
from helpers import torch_zip
from PIL import Image

import zoo
from zoo.cli import main as zoo_main
from zoo.errors import UserError
from zoo.models import yolov5 as y5
from zoo.models import yolov5_nets as nets
from zoo.models.vision import SAMPLE_IMAGES_DIR
from zoo.models.yolov5_arch import YOLOv5
from zoo.spec import Weights
from zoo.weights import (
    WeightsHashMismatch,
    WeightsUnavailable,
    cached_path,
    sha256_file,
)
from zoo.weights.unpickle import UnsafeCheckpoint, load_restricted

REPO = Path(__file__).resolve().parents[1]
REAL = REPO.parent / "shared" / "weights" / "yolov5n" / "yolov5n.pt"
PERSON, BUS, TIE = 1, 6, 32  # COCO category ids


@pytest.fixture
def real_file() -> Path:
    if not REAL.is_file():
        pytest.skip("../shared/weights/yolov5n/yolov5n.pt is not present")
    return REAL


@pytest.fixture
def imported(real_file, zoo_cache) -> Path:
    """The real file, imported into a fresh per-test zoo cache through the CLI."""
    assert zoo_main(["fetch", "yolov5n", "--from", str(real_file)]) == 0
    path = cached_path(zoo.get_spec("yolov5n").weights)
    assert path.is_relative_to(zoo_cache) and path.is_file()
    return path


class _RunsShell:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def _local_spec(path: Path):
    """yolov5n's spec, pointed at a local file and pinned to that file's sha256."""
    spec = zoo.get_spec("yolov5n")
    return dataclasses.replace(spec, weights=Weights(
        kind="local", url=str(path), file_name=path.name, sha256=sha256_file(path), hash_source="test file",
        license="test", num_classes=80))


# --- the restricted unpickler ------------------------------------------------------------------------


def test_crafted_checkpoint_naming_os_system_is_refused_and_nothing_runs(tmp_path):
    marker = tmp_path / "marker"
    payload = {"model": _RunsShell(marker), "epoch": -1}
    assert "system" in str(pickle.dumps(payload, protocol=2))  # the pickle really names os.system (posix)
    bad = torch_zip(tmp_path / "yolov5n.pt", pickle.dumps(payload, protocol=2))
    spec = _local_spec(bad)  # the hash matches, so only the unpickler stands in the way
    with pytest.raises(UnsafeCheckpoint) as exc:
        spec.builder(spec, pretrained=True)
    msg = str(exc.value)
    assert "\n" not in msg and "system" in msg and "not loaded" in msg
    assert not marker.exists()


@pytest.mark.parametrize("name,pkl,match", [
    # a stand-in class called with arguments (REDUCE) instead of NEWOBJ
    ("stub-called", b"\x80\x02cmodels.common\nConv\nK\x01\x85R.", "could not be read safely"),
    # BUILD (set state) on a dict: only stand-ins accept state
    ("build-on-dict", b"\x80\x02}}b.", "only stand-ins accept"),
    # an extension-registry opcode (EXT1), not in the allowed opcode set
    ("ext-opcode", b"\x80\x02\x82\x01.", "could not be read safely"),
    # a builtin that is not a container
    ("eval", b"\x80\x02c__builtin__\neval\nX\x01\x00\x00\x001\x85R.", "__builtin__.eval"),
    # a tensor view beyond its storage's bytes
    ("out-of-bounds", b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
                      b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x02tQK\x00K\x08\x85K\x01\x85\x89ccollections\n"
                      b"OrderedDict\n)RtR.", "does not fit its storage"),
])
def test_restricted_unpickler_refuses(tmp_path, name, pkl, match):
    path = torch_zip(tmp_path / f"{name}.pt", pkl, {"0": b"\x00" * 8})
    with pytest.raises(UnsafeCheckpoint, match=match) as exc:
        load_restricted(path, nets.STAND_INS)
    assert "\n" not in str(exc.value)


def test_restricted_unpickler_rebuilds_tensors_and_containers(tmp_path):
    """What it allows works: a float tensor from its storage bytes, OrderedDict and set."""
    storage = torch.arange(4, dtype=torch.float32)
    pkl = (b"\x80\x02ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\n"
           b"X\x01\x00\x00\x000X\x03\x00\x00\x00cpuK\x04tQK\x01K\x03\x85K\x01\x85\x89ccollections\n"
           b"OrderedDict\n)RtR" b"c__builtin__\nset\n]K\x07a\x85R\x86.")
    path = torch_zip(tmp_path / "ok.pt", pkl, {"0": storage.numpy().tobytes()})
    t, s = load_restricted(path, ())
    assert torch.equal(t, torch.tensor([1.0, 2.0, 3.0])) and s == {7}


# --- hashes and fetch --from -------------------------------------------------------------------------


def test_fetch_from_refuses_wrong_hash_and_copies_nothing(tmp_path, zoo_cache, capsys):
    fake = tmp_path / "yolov5n.pt"
    fake.write_bytes(b"not the release file")
    assert zoo_main(["fetch", "yolov5n", "--from", str(fake)]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "not imported, nothing copied" in err and y5.SHA256 in err
    assert not zoo_cache.exists() or not any(p.is_file() for p in zoo_cache.rglob("*"))


def test_tampered_cached_file_is_refused_before_unpickling(real_file, zoo_cache, monkeypatch):
    dest = cached_path(zoo.get_spec("yolov5n").weights)
    dest.parent.mkdir(parents=True)
    data = bytearray(real_file.read_bytes())
    data[len(data) // 2] ^= 0xFF
    dest.write_bytes(bytes(data))
    monkeypatch.setattr(nets, "load_restricted", lambda *a, **k: pytest.fail("unpickled a file whose hash is wrong"))
    with pytest.raises(WeightsHashMismatch, match="not loaded"):
        zoo.create_model("yolov5n", pretrained=True)
    assert not dest.exists() and len(list(dest.parent.glob("yolov5n.pt.corrupt-*"))) == 1


def test_offline_missing_weights_name_fetch_from(zoo_cache):
    with pytest.raises(WeightsUnavailable) as exc:
        zoo.create_model("yolov5n", pretrained=True)
    msg = str(exc.value)
    assert "\n" not in msg and "zoo fetch yolov5n --from FILE" in msg and y5.URL in msg


def test_fetch_from_needs_one_name_and_a_pinned_hash(real_file, zoo_cache, capsys):
    assert zoo_main(["fetch", "yolov5n", "yolov8n", "--from", str(real_file)]) == 2
    assert "imports one model" in capsys.readouterr().err
    assert zoo_main(["fetch", "yolov8n", "--from", str(real_file)]) == 2  # yolov8n pins no sha256
    assert "no sha256 is pinned" in capsys.readouterr().err
    assert not any(p.is_file() for p in zoo_cache.rglob("*.pt"))


# --- mapping onto zoo's network ------------------------------------------------------------------------


def test_real_file_maps_every_tensor_one_to_one(imported):
    state, stride = nets.read_checkpoint(imported)
    net = YOLOv5()
    own = net.state_dict()
    assert list(state) == list(own) and len(state) == 349
    assert all(state[k].shape == own[k].shape for k in own)
    assert stride.tolist() == [8.0, 16.0, 32.0]
    model = zoo.create_model("yolov5n", pretrained=True)
    assert model.weights_id == y5.SHA256 and sum(p.numel() for p in model.parameters()) == 1_872_157
    loaded = model.net.state_dict()
    for k, v in state.items():
        assert loaded[k].dtype == (torch.float32 if v.is_floating_point() else v.dtype)
        assert torch.equal(loaded[k], v.float() if v.is_floating_point() else v), k
    # the checkpoint's anchors (grid units), first level: (10, 13) px / stride 8
    assert loaded["model.24.anchors"][0, 0].tolist() == [1.25, 1.625]


@pytest.mark.parametrize("change,match", [("drop", "missing 1"), ("add", "unexpected 1"), ("reshape", "mis-shaped 1")])
def test_state_that_does_not_fit_is_one_line_error(change, match):
    state = dict(YOLOv5().state_dict())
    if change == "drop":
        del state["model.24.m.0.bias"]
    elif change == "add":
        state["model.25.weight"] = torch.zeros(1)
    else:
        state["model.0.conv.weight"] = torch.zeros(16, 3, 3, 3)
    with pytest.raises(UserError, match=match) as exc:
        nets.map_state(YOLOv5(), state, "test state")
    assert "\n" not in str(exc.value)


def test_backbone_and_neck_equal_ultralytics_yolov5n_yaml():
    """Layers 0-23 (backbone + PAN neck) are the same as ultralytics' build of yolov5n.yaml (whose head is
    the anchor-free 'u' one): same names and shapes, and, with the same random weights and BN statistics,
    the same P3/P4/P5 features. The anchor head is checked by the real-weight tests."""
    nets_u = pytest.importorskip("zoo.models.ultralytics_nets")
    DetectionModel = nets_u.import_ultralytics()
    torch.manual_seed(0)
    ref = DetectionModel("yolov5n.yaml", ch=3, nc=80, verbose=False).eval()
    ours = YOLOv5().eval()
    shared = {k: v for k, v in ref.state_dict().items() if not k.startswith("model.24.")}
    assert list(shared) == [k for k in ours.state_dict() if not k.startswith("model.24.")]
    for k, v in shared.items():
        if k.endswith("running_var"):
            shared[k] = torch.rand_like(v) + 0.5
        elif v.is_floating_point():
            shared[k] = torch.randn_like(v) * 0.1
    ref.load_state_dict(shared, strict=False)
    ours.load_state_dict(shared, strict=False)
    feats = {}
    for name, net in (("ref", ref), ("ours", ours)):
        for i in (17, 20, 23):
            net.model[i].register_forward_hook(lambda mod, inp, out, key=(name, i): feats.__setitem__(key, out))
    x = torch.rand(1, 3, 128, 160)
    with torch.inference_mode():
        ref(x)
        ours(x)
    for i in (17, 20, 23):
        torch.testing.assert_close(feats["ours", i], feats["ref", i], atol=1e-5, rtol=1e-4)


def _yolov5_decode(det, logits: list[torch.Tensor]) -> torch.Tensor:
    """YOLOv5's Detect decoding as its models/yolo.py writes it (split of the last axis into xy, wh, rest)."""
    z = []
    for i, x in enumerate(logits):
        bs, _, ny, nx = x.shape
        y = x.view(bs, det.na, det.no, ny, nx).permute(0, 1, 3, 4, 2).sigmoid()
        gy, gx = torch.meshgrid(torch.arange(ny, dtype=y.dtype), torch.arange(nx, dtype=y.dtype), indexing="ij")
        grid = torch.stack((gx, gy), 2).view(1, 1, ny, nx, 2)
        xy, wh, conf = y.split((2, 2, det.no - 4), 4)
        xy = (xy * 2 - 0.5 + grid) * det.stride[i]
        wh = (wh * 2) ** 2 * (det.anchors[i] * det.stride[i]).view(1, det.na, 1, 1, 2)
        z.append(torch.cat((xy, wh, conf), 4).view(bs, -1, det.no))
    return torch.cat(z, 1)


@pytest.mark.parametrize("nc, size", [(80, (640, 640)), (2, (320, 416))])
def test_detect_decodes_as_yolov5_in_eager_and_in_traced_graphs(nc, size):
    """Detect gives YOLOv5's numbers in YOLOv5's row order (level, anchor, y, x), for another class count and a
    non-square input: eager exactly (YOLOv5's own formula), a traced graph (what OpenVINO and ONNX export
    convert: the one-expression decoding) to float rounding."""
    torch.manual_seed(0)
    det = YOLOv5(nc=nc).eval().detect
    h, w = size
    feats = [torch.randn(2, c, h // s, w // s) for c, s in ((64, 8), (128, 16), (256, 32))]
    with torch.no_grad():
        logits = [det.m[i](f) * 3 for i, f in enumerate(feats)]
        for i in range(det.nl):
            det.m[i] = torch.nn.Identity()  # feed the scaled logits straight in
        ref = _yolov5_decode(det, logits)
        assert torch.equal(det(logits), ref)
        traced = torch.jit.trace(lambda *xs: det(list(xs)), tuple(logits), check_trace=False)
        torch.testing.assert_close(traced(*logits), ref, atol=1e-4, rtol=1e-6)


def test_openvino_runs_the_head_without_splitting_a_tensor():
    """OpenVINO's CPU plugin runs a split along the innermost axis with its reference kernel (YOLOv5's own
    decoding compiled to three VariadicSplit of (B, 3, ny, nx, 85)); the compiled network splits no tensor
    (the decoding is one element-wise expression) and computes what torch does."""
    ov = pytest.importorskip("openvino")
    net = YOLOv5().eval()
    x = torch.rand(1, 3, 320, 320)
    with torch.no_grad():
        ref = net(x)
        compiled = ov.Core().compile_model(ov.convert_model(net, example_input=x), "CPU",
                                           {"INFERENCE_PRECISION_HINT": "f32"})
    splits = [op.get_friendly_name() for op in compiled.get_runtime_model().get_ops()
              if "Split" in op.get_rt_info()["layerType"].astype(str)]
    assert splits == []
    torch.testing.assert_close(torch.from_numpy(compiled(x.numpy())[0]), ref, atol=1e-3, rtol=1e-4)


def test_int8_quantizes_the_head_convolutions_and_leaves_the_box_decoding_in_float():
    """NNCF quantized the decoding's arithmetic too (one int8 scale per tensor for pixels beside
    probabilities: openvino+int8 lost 9.3 mAP points on coco128); the model names Detect as float under int8,
    and the quantized graph feeds no decoding operation from a FakeQuantize while the head's 1x1
    convolutions stay int8."""
    ov = pytest.importorskip("openvino")
    pytest.importorskip("nncf")
    import re

    from zoo.harness.backends import BackendConfig, Calibration
    from zoo.harness.backends import openvino as ovb

    model = zoo.create_model("yolov5n", imgsz=320).eval()
    assert model.float_under_int8 == ("net.model.24",)
    x = model.preprocess(model.example_items(1)).inputs
    q, _, _, info = ovb._convert(ov, model, BackendConfig("openvino", "int8"), x, Calibration(model, n=2))
    assert info["quantized"]["float_modules"] == ["net.model.24"]

    def fed_by_fq(op):
        return any(i.get_source_output().get_node().get_type_name() == "FakeQuantize" for i in op.inputs())

    own = re.compile(ovb.float_scope_pattern("net.model.24"))
    decoding = [op for op in q.get_ops() if own.match(op.get_friendly_name()) and op.get_type_name() != "Constant"]
    head_convs = [op for op in q.get_ops() if op.get_type_name() == "Convolution" and ".model.24.m." in op.get_friendly_name()]
    assert decoding and not [op.get_friendly_name() for op in decoding if fed_by_fq(op)]
    assert len(head_convs) == 3 and all(fed_by_fq(op) for op in head_convs)


# --- predictions ----------------------------------------------------------------------------------------


def test_predict_settings_find_bus_persons_and_tie(imported):
    model = zoo.create_model("yolov5n", pretrained=True, nms="predict")
    assert model.nms == y5.PREDICT_NMS
    bus, zidane = model.predict([SAMPLE_IMAGES_DIR / "bus.jpg", SAMPLE_IMAGES_DIR / "zidane.jpg"])
    assert collections.Counter(zidane["labels"]) == {PERSON: 2, TIE: 1}
    counts = collections.Counter(bus["labels"])
    assert counts[BUS] == 1 and counts[PERSON] >= 3 and set(counts) == {BUS, PERSON}
    x1, y1, x2, y2 = bus["boxes"][bus["labels"].index(BUS)]
    assert x2 - x1 > 0.8 * 810 and y1 > 150 and y2 < 900  # the bus spans the 810 px wide photo
    assert all(0.25 < s <= 1 for s in bus["scores"] + zidane["scores"])


def test_eval_settings_are_val_py():
    model = zoo.create_model("yolov5n")
    assert model.nms == {"conf": 0.001, "iou": 0.6, "max_det": 300, "multi_label": True}
    with pytest.raises(UserError, match="nms must be"):
        zoo.create_model("yolov5n", nms="fast")
    with pytest.raises(UserError, match="multiple of 32"):
        zoo.create_model("yolov5n", imgsz=600)


def test_nms_scores_classes_and_caps():
    """score = obj x cls; overlapping boxes of different classes both survive (batched NMS), the same
    class is suppressed; best-class mode keeps one class per box; max_det caps the output."""
    def row(cx, obj, cls_probs):
        r = torch.zeros(85)
        r[:4] = torch.tensor([cx, 50.0, 20.0, 20.0])
        r[4] = obj
        for c, p in cls_probs.items():
            r[5 + c] = p
        return r

    pred = torch.stack([row(50, 0.9, {0: 0.9, 27: 0.5}), row(51, 0.8, {0: 0.9}), row(200, 0.5, {5: 0.4}),
                        row(300, 0.001, {0: 1.0})])
    boxes, scores, cls = nets.nms(pred, conf=0.1, iou=0.45, max_det=300, multi_label=True)
    assert cls.tolist() == [0, 27, 5]
    torch.testing.assert_close(scores, torch.tensor([0.81, 0.45, 0.2]))
    assert boxes[0].tolist() == [40.0, 40.0, 60.0, 60.0]
    _, _, cls = nets.nms(pred, conf=0.1, iou=0.45, max_det=300, multi_label=False)
    assert cls.tolist() == [0, 5]
    _, _, cls = nets.nms(pred, conf=0.1, iou=0.45, max_det=1, multi_label=True)
    assert cls.tolist() == [0]


def test_labels_are_coco_category_ids_from_the_datasets_table():
    """Class index -> COCO category id through zoo.datasets.detection's one table (no copy in the model):
    person 0 -> 1, stop sign 11 -> 13 (id 12 is unused), toothbrush 79 -> 90."""
    from zoo.datasets import detection

    assert nets.COCO80_TO_91 is detection.COCO80_TO_91
    model = zoo.create_model("yolov5n", imgsz=64)
    out = torch.zeros(1, 3, 85)
    for i, (cx, c) in enumerate(((10.0, 0), (30.0, 11), (50.0, 79))):
        out[0, i, :5] = torch.tensor([cx, 32.0, 8.0, 8.0, 0.9])
        out[0, i, 5 + c] = 0.9
    batch = model.preprocess([Image.new("RGB", (64, 64))])
    (pred,) = model.postprocess(out, batch)
    assert sorted(pred["labels"]) == [1, 13, 90]


# --- speed: stages and backends (plumbing only: tiny timing budgets, rows in a tmp folder) ---------------

_FAST = dict(warmup=1, min_iters=2, min_duration_s=0.01, rounds=1, error_items=2, peak=False, write=False)


@pytest.mark.slow
@pytest.mark.parametrize("backend", ["eager", "onnxruntime"])
def test_bench_stages_decode_letterbox_forward_nms(backend):
    """zoo bench on yolov5n times decode (JPEG file -> PIL), letterbox, forward, NMS and end to end from the
    file; a backend other than fp32 eager is compared with it on the real sample photos (box agreement)."""
    from zoo.harness.speed.runner import bench

    model = zoo.create_model("yolov5n", imgsz=320)
    (row,) = bench(model=model, backend=backend, compare=True, stages=True, **_FAST)
    assert row["status"] == "ok", row.get("error")
    st = row["metrics"]["stages"]
    assert st["names"] == {"decode": "decode", "preprocess": "letterbox", "forward": "forward", "postprocess": "NMS"}
    assert st["e2e_from"] == "stored items"
    assert all(st[k] > 0 for k in ("decode_p50_ms", "preprocess_p50_ms", "postprocess_p50_ms", "e2e_p50_ms"))
    if backend != "eager":
        dev = row["metrics"]["output_deviation"]
        assert dev["error_items"] == 2 and dev["ref_boxes"] > 0 and dev["box_agreement"] is not None


@pytest.mark.slow
def test_bench_compile_runs_yolov5n():
    from zoo.harness.speed.runner import bench

    (row,) = bench(model=zoo.create_model("yolov5n", imgsz=256), backend="compile", compare=True, stages=False,
                   **_FAST)
    assert row["status"] == "ok", row.get("error")
    assert row["backend_used"].startswith("compile") and "box_agreement" in row["metrics"]["output_deviation"]


@pytest.mark.slow
def test_bench_pretrained_auto_boxes_agree_on_real_photos(imported, tmp_path, monkeypatch):
    """`zoo bench yolov5n --pretrained --backend auto` (compile left out: it is timed in the slow test) with
    the real weights: the row says real weights, and ONNX Runtime's boxes on bus.jpg / zidane.jpg match
    fp32 eager's."""
    from zoo.harness.backends import BackendConfig
    from zoo.harness.speed.runner import bench

    monkeypatch.setattr("zoo.harness.speed.measure.auto_candidates",
                        lambda *a, **k: [BackendConfig("eager", "fp32"), BackendConfig("onnxruntime", "fp32")])
    raw = tmp_path / "speed.jsonl"
    (row,) = bench("yolov5n", backend="auto", pretrained=True, stages=True, raw_file=raw, **{**_FAST, "write": True})
    # real weights: no random-weights flag (a "noisy:" flag says only how busy the machine was while timing)
    assert row["status"] == "ok" and row["weights"] == y5.SHA256
    assert not [f for f in row["flags"] if not f.startswith("noisy:")]
    (cand,) = [c for c in row["metrics"]["candidates"] if c["config"] == "onnxruntime+fp32"]
    assert cand["output_deviation"]["box_agreement"] >= 0.95 and cand["output_deviation"]["ref_boxes"] >= 5
    assert "--pretrained" in row["command"] and "--backend auto" in row["command"] and raw.is_file()
