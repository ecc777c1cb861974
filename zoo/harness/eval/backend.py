"""``zoo eval NAME --backend B [--dtype D]``: the ordinary evaluation loop with the forward run by a speed
backend (zoo.harness.backends), so that what a backend does to a model's answers (bf16, int8 quantization)
is measured the same way as its fp32 accuracy.

The backend is prepared once, on an example batch of the eval's batch size (the model's own example items;
calibrating backends draw their calibration items from the task data, zoo.harness.backends.calibration), then each
batch runs ``prep.run(prep.to_inputs(inputs))`` -> ``outputs_to_fp32`` -> the model's ``postprocess``. The
row's ``backend`` field names the configuration (label, numerics) and holds its setup record (export,
compile and quantization seconds, the calibration set), apart from the loop's ``seconds``.
"""

from __future__ import annotations

import copy
import time
from typing import Any

from ...errors import UserError
from ..backends import AUTO, BASELINE, BackendConfig, Prepared, check_backend, explicit_config, outputs_to_fp32, prepare
from ..loading import decoded_items


def eval_backend_config(backend: str | None, dtype: str | None, precision: str | None, device: str,
                        task: str | None) -> BackendConfig | None:
    """The configuration ``zoo eval`` runs, or None for plain fp32 eager (the ordinary eval).

    Settings left unset take the backend's defaults as ``zoo bench --backend B`` does (compile on CPU: bf16
    by autocast; openvino: its precision hint), so an eval row checks the same numerics bench times."""
    if backend is None and dtype is None and precision is None:
        return None
    if backend == AUTO:
        raise UserError("zoo eval runs one backend configuration: give --backend NAME (e.g. openvino), not auto")
    cfg = explicit_config(backend or "eager", dtype, precision, cpu=not str(device).startswith("cuda"))
    check_backend(cfg, device, task)
    return None if cfg == BASELINE else cfg


class BackendModel:
    """A ZooModel whose forward is a prepared backend; everything else (preprocess, postprocess, spec,
    weights) is the model's own."""

    def __init__(self, model: Any, config: BackendConfig, device: str, batch_size: int):
        self.model, self.config = model, config
        example = model.preprocess(decoded_items(model, batch_size)).inputs
        t0 = time.perf_counter()
        self.prep: Prepared = prepare(copy.deepcopy(model), config, device, example)  # the model stays fp32
        self.prep.run(self.prep.to_inputs(example))  # first call (graph capture, lazy compilation) untimed too
        self.setup_s = time.perf_counter() - t0

    def __call__(self, inputs: Any) -> Any:
        return outputs_to_fp32(self.prep.run(self.prep.to_inputs(inputs)))

    def __getattr__(self, name: str) -> Any:
        if name == "model":  # not set yet (copy / pickle probing a bare instance)
            raise AttributeError(name)
        return getattr(self.model, name)

    def record(self) -> dict[str, Any]:
        """The row's ``backend`` field."""
        return {"label": self.config.label, "numerics": self.config.numerics, "config": self.config.as_dict(),
                "setup_s": round(self.setup_s, 3), **self.prep.info}
