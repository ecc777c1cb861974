"""ONNX Runtime static INT8, the quantization step of ``--backend onnxruntime --dtype int8``: the exported
fp32 graph is pre-processed (shape inference, graph optimization), calibrated on real items of the model's
task data (``zoo.harness.backends.calibration``; min-max ranges of every activation) and rewritten with QDQ pairs
(``onnxruntime.quantization.quantize_static``, QuantFormat.QDQ, per-channel int8 weights, int8
activations), which ONNX Runtime's CPU provider fuses into integer kernels (VNNI where the CPU has it).

This module registers no backend of its own: ``onnxruntime`` (onnxruntime_cpu.py) calls it for dtype int8.
"""

from __future__ import annotations

import contextlib
import logging
import os
import time
import warnings
from pathlib import Path
from typing import Any

from .export import calibration_arrays


@contextlib.contextmanager
def _quiet(workdir: Path):
    """onnxruntime.quantization logs its advice through the root logger and NumPy warns on constant
    activations: noise beside zoo's own output (the record keeps what was done). Its shape inference and
    calibration also write scratch files (sym_shape_infer_temp.onnx, <uuid>.data) into the current
    directory: run them in ``workdir`` (the export's temporary folder), not the user's."""
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    cwd = os.getcwd()
    try:
        os.chdir(workdir)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        os.chdir(cwd)
        root.setLevel(level)


def _reader(input_names: list[str], arrays: list[list[Any]]):
    from onnxruntime.quantization import CalibrationDataReader  # deferred: optional heavy dependency

    class Reader(CalibrationDataReader):
        """Feeds the calibration batches once each, by input name."""

        def __init__(self):
            self.feeds = iter([dict(zip(input_names, a)) for a in arrays])

        def get_next(self):
            return next(self.feeds, None)

    return Reader()


def quantize_onnx(path: Path, calibration: Any) -> tuple[Path, dict[str, Any]]:
    """Quantize the ONNX file at ``path`` (written beside it); returns (new path, what the row records)."""
    import onnxruntime as ort  # deferred: optional heavy dependency
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    t0 = time.perf_counter()
    batches = calibration.batches()
    t_data = time.perf_counter() - t0
    src = path
    pre = path.with_name("model.pre.onnx")
    try:  # shape inference + optimization first, as onnxruntime recommends; optional when it fails
        from onnxruntime.quantization.shape_inference import quant_pre_process

        with _quiet(path.parent):
            quant_pre_process(str(path), str(pre))
        src = pre
    except Exception:  # noqa: BLE001  (a model the pre-processing cannot handle is quantized as exported)
        pass
    names = [i.name for i in ort.InferenceSession(str(src), providers=["CPUExecutionProvider"]).get_inputs()]
    out = path.with_name("model.int8.onnx")
    t1 = time.perf_counter()
    with _quiet(path.parent):
        quantize_static(str(src), str(out), _reader(names, calibration_arrays(batches)),
                        quant_format=QuantFormat.QDQ, per_channel=True, weight_type=QuantType.QInt8,
                        activation_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax)
    record = {"method": "onnxruntime.quantization.quantize_static (QDQ, per-channel QInt8 weights, QInt8 "
                        "activations, MinMax calibration)", "pre_processed": src == pre,
              "calibration_data_s": round(t_data, 2), "quantize_s": round(time.perf_counter() - t1, 2)}
    return out, record
