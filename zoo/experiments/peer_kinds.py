"""The peers of ``python -m zoo.experiments.peers``: each way a user would run the model instead of zoo's pick
(torch eager, timm's benchmark.py settings, OpenVINO with its latency hint, OpenVINO's INT8 flow with NNCF
defaults, ONNX Runtime defaults, ultralytics' own formats), built ready to time. The exact settings of each
are in the module docstring of ``zoo.experiments.peers`` and in every row."""

from __future__ import annotations

import contextlib
import copy
import io
import logging
import os
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any, Callable

import torch

from ..harness.backends.calibration import Calibration
from ..harness.backends.export import Flat, calibration_arrays, export_onnx, flatten_io, numpy_leaves
from ..harness.backends.openvino import TEXT_TASKS, layer_profile
from ..harness.speed.measure import one_line
from ..models.ultralytics_nets import import_ultralytics, keep_threads

TIMM_SOURCE = "huggingface/pytorch-image-models benchmark.py (InferenceBenchmarkRunner)"
FORWARD, E2E = "forward", "end to end"
LATENCY = {"PERFORMANCE_HINT": "LATENCY"}  # OpenVINO's peers compile with this only (benchmark_app -hint latency)
ALL_PEERS = ("eager", "timm", "openvino", "openvino_int8", "onnxruntime", "ultralytics", "zoo")


@dataclass
class Peer:
    """One way to run the model, ready to time: ``run()`` is one call (inputs bound)."""

    name: str
    scope: str
    run: Callable[[], Any]
    settings: dict[str, Any]
    library: dict[str, str | None] = field(default_factory=dict)
    precision: str = "fp32"  # what its arithmetic runs in: the peak its share of peak divides by
    profile: Callable[[], dict[str, Any]] | None = None  # per-layer times, where the runtime reports them


@dataclass
class Skipped:
    name: str
    reason: str
    status: str = "skipped"  # or "error": the peer should have run and failed


def version(dist: str) -> str | None:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


# --- the peers ---------------------------------------------------------------------------------------------

def eager_peer(model: Any, x: Any) -> Peer:
    def run():
        with torch.no_grad():
            return model(x)

    return Peer("torch eager fp32", FORWARD, run, {"mode": "model.eval(); torch.no_grad()", "dtype": "fp32",
                                                   "memory_format": "contiguous (NCHW)"}, {"torch": torch.__version__})


def timm_peers(model: Any, x: Any) -> list[Peer]:
    """timm benchmark.py's inference settings on the timm network itself (defaults, and --channels-last)."""
    net = model.net.eval()
    cl_net = copy.deepcopy(net).to(memory_format=torch.channels_last)
    x_cl = x.contiguous(memory_format=torch.channels_last)
    lib = {"timm": version("timm"), "torch": torch.__version__}

    def run(n=net, xi=x):
        with torch.no_grad():
            return n(xi)

    base = {"source": TIMM_SOURCE, "precision": "float32", "torchscript": False, "amp": False, "mode": "eval, no_grad"}
    return [Peer("timm benchmark.py defaults", FORWARD, run, {**base, "channels_last": False}, lib),
            Peer("timm benchmark.py --channels-last", FORWARD, lambda: run(cl_net, x_cl),
                 {**base, "channels_last": True}, lib)]


def _ov_convert(ov: Any, model: Any, x: Any) -> tuple[Any, list]:
    """(``ov.convert_model(model, example_input=x)`` as OpenVINO's guide does it, the input leaves)."""
    leaves, in_spec, _ = flatten_io(model, x, "openvino")
    with torch.no_grad():
        return ov.convert_model(Flat(model, in_spec).eval(), example_input=tuple(t.clone() for t in leaves)), leaves


def _make_static(ov: Any, ov_model: Any, leaves: list) -> None:
    """Fix the model's input shapes to the timed input's (as ``benchmark_app -shape``)."""
    ov_model.reshape({i: ov.PartialShape(list(t.shape)) for i, t in enumerate(leaves)})


def openvino_peer(model: Any, x: Any) -> Peer:
    import openvino as ov  # deferred: optional, heavy

    ov_model, leaves = _ov_convert(ov, model, x)
    _make_static(ov, ov_model, leaves)
    core = ov.Core()
    compiled = core.compile_model(ov_model, "CPU", LATENCY)
    request = compiled.create_infer_request()
    arrays = numpy_leaves(x)
    chosen = {}
    for prop in ("INFERENCE_PRECISION_HINT", "NUM_STREAMS", "INFERENCE_NUM_THREADS"):
        with contextlib.suppress(Exception):  # a property an older OpenVINO does not report
            chosen[prop.lower()] = str(compiled.get_property(prop))
    settings = {"convert": "ov.convert_model(model, example_input=x); reshape to the timed input (static)",
                "compile": {"device": "CPU", **LATENCY}, "as_chosen_by_openvino": chosen,
                "infer": "synchronous InferRequest.infer"}
    return Peer("OpenVINO latency hint", FORWARD, lambda: request.infer(arrays), settings,
                {"openvino": version("openvino")}, _ov_precision(chosen), _ov_profiler(core, ov_model, arrays))


def _ov_precision(chosen: dict[str, str]) -> str:
    """fp32 or bf16: the floating precision OpenVINO chose (its CPU plugin picks bf16 on processors with native
    bf16); the property reads e.g. "<Type: 'bfloat16'>" or "bf16"."""
    hint = chosen.get("inference_precision_hint", "").lower()
    return "bf16" if "bf16" in hint or "bfloat16" in hint else "fp32"


def openvino_int8_peer(model: Any, x: Any) -> Peer:
    """OpenVINO's documented INT8 flow with its defaults: ``nncf.quantize`` of the converted model on a
    calibration ``nncf.Dataset`` (NNCF's default preset and options; ``model_type=TRANSFORMER`` for text
    models, as NNCF's guide asks), compiled with the latency hint only. Calibrated on the same items zoo's
    own INT8 uses, so only the quantization and runtime settings differ."""
    import nncf  # deferred: optional, heavy
    import openvino as ov

    nncf.set_log_level(logging.ERROR)
    ov_model, leaves = _ov_convert(ov, model, x)
    calibration = Calibration(model)  # its items keep their own shapes (a text item: its own length)
    arrays = [tuple(a) for a in calibration_arrays(calibration.batches())]
    text = model.spec.task in TEXT_TASKS
    kw = {"model_type": nncf.ModelType.TRANSFORMER} if text else {}
    with contextlib.redirect_stdout(io.StringIO()):  # NNCF's progress bars
        quantized = nncf.quantize(ov_model, nncf.Dataset(arrays), subset_size=len(arrays), **kw)
    _make_static(ov, quantized, leaves)  # after calibrating on items of their own shapes
    core = ov.Core()
    request = core.compile_model(quantized, "CPU", LATENCY).create_infer_request()
    arrays_x = numpy_leaves(x)
    settings = {"convert": "ov.convert_model(model, example_input=x); quantized, then reshaped to the timed input "
                           "(static)",
                "quantize": "nncf.quantize(model, nncf.Dataset(items), subset_size=len(items)"
                            + (", model_type=TRANSFORMER)" if text else ")") + ": NNCF's defaults otherwise",
                "calibration": {k: calibration.info.get(k) for k in ("source", "n", "seed", "items_sha256")},
                "compile": {"device": "CPU", **LATENCY}, "infer": "synchronous InferRequest.infer"}
    return Peer("OpenVINO INT8, NNCF defaults", FORWARD, lambda: request.infer(arrays_x), settings,
                {"openvino": version("openvino"), "nncf": version("nncf")}, "int8",
                _ov_profiler(core, quantized, arrays_x))


def _ov_profiler(core: Any, ov_model: Any, arrays: list) -> Callable[[], dict[str, Any]]:
    """The peer's layer profile: the same model compiled again with the same hint and PERF_COUNT on (the
    counters cost time, so the timed request has them off)."""
    def profile() -> dict[str, Any]:
        counted = core.compile_model(ov_model, "CPU", {**LATENCY, "PERF_COUNT": True}).create_infer_request()
        return layer_profile(counted, arrays)

    return profile


def onnxruntime_peer(model: Any, x: Any, folder: Path) -> Peer:
    import onnxruntime as ort  # deferred: optional, heavy

    path = folder / f"{model.spec.name.replace('/', '_')}.onnx"
    exporter, _ = export_onnx(model, x, path)
    sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: a for i, a in zip(sess.get_inputs(), numpy_leaves(x))}
    so = ort.SessionOptions()
    settings = {"export": f"torch.onnx.export ({exporter} exporter, zoo's backends/_export.py)",
                "session": "InferenceSession(path, providers=['CPUExecutionProvider']), default SessionOptions",
                "graph_optimization_level": str(so.graph_optimization_level),
                "intra_op_num_threads": so.intra_op_num_threads}
    return Peer("ONNX Runtime defaults", FORWARD, lambda: sess.run(None, feed), settings,
                {"onnxruntime": version("onnxruntime"), "onnx": version("onnx")})


def ultralytics_peers(model: Any, image: Path, folder: Path) -> list[Peer | Skipped]:
    """ultralytics' own formats (PyTorch, ONNX, OpenVINO), exported offline, each timed by ``predict``."""
    import_ultralytics()
    YOLO = _yolo_class()

    imgsz = int(model.spec.extra.get("imgsz", 640)) if getattr(model.spec, "extra", None) else 640
    with keep_threads():
        yolo = YOLO(str(model.spec.architecture))  # built from its yaml, offline
    yolo.model.load_state_dict(model.net.state_dict())  # zoo's weights (real or random-init)
    lib = {"ultralytics": version("ultralytics"), "torch": torch.__version__}
    out: list[Peer | Skipped] = []
    for fmt, label in (("pytorch", "PyTorch"), ("onnx", "ONNX"), ("openvino", "OpenVINO")):
        try:
            runner = _ultralytics_runner(yolo, fmt, folder, imgsz)
            settings = {"source": "ultralytics YOLO(...).export(format=...) then predict(image file), as its "
                                  "benchmark() times each format (offline: no coco8 val)",
                        "format": fmt, "imgsz": imgsz, "device": "cpu", "half": False}
            out.append(Peer(f"ultralytics {label}", E2E, _predict(runner, image, imgsz), settings, lib))
        except Exception as e:  # one format failing must not hide the others
            out.append(Skipped(f"ultralytics {label}", one_line(e), "error"))
    return out


def _ultralytics_runner(yolo: Any, fmt: str, folder: Path, imgsz: int) -> Any:
    """``yolo`` itself for "pytorch", else the model it exports to ``fmt`` in ``folder``, loaded back."""
    if fmt == "pytorch":
        return yolo
    with keep_threads(), _cwd(folder):  # ultralytics sets cores - 1 on export and on YOLO(...)
        extra = {"simplify": False} if fmt == "onnx" else {}  # onnxslim is not installed offline
        exported = Path(yolo.export(format=fmt, imgsz=imgsz, device="cpu", **extra))
        return _yolo_class()(str(exported if exported.is_absolute() else folder / exported), task="detect")


def _yolo_class() -> Any:
    from ultralytics import YOLO  # deferred: imported after zoo's offline settings (import_ultralytics)
    return YOLO


def _predict(runner: Any, image: Path, imgsz: int) -> Callable[[], Any]:
    def run():
        with keep_threads():  # predict lowers the thread count too
            return runner.predict(str(image), imgsz=imgsz, device="cpu", verbose=False)

    return run


@contextlib.contextmanager
def _cwd(folder: Path):
    """ultralytics writes exports next to the model's yaml name, in the working directory."""
    old = os.getcwd()
    os.chdir(folder)
    try:
        yield
    finally:
        os.chdir(old)
